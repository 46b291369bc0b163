"""The SparkSession every gtlake job uses: local[*] on one machine, whatever Glue gives on AWS."""
from __future__ import annotations

import os
import sys

from pyspark import SparkConf
from pyspark.sql import SparkSession

LOG4J = os.path.join(os.path.dirname(__file__), "log4j2.properties")


def s3a_jars() -> list[str]:
    """hadoop-aws and the AWS SDK bundle for s3a:// (installed by `make` into $GTLAKE_JARS)."""
    folder = os.environ.get("GTLAKE_JARS", "")
    if not folder or not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".jar"))


LOG_LEVELS = ("ERROR", "WARN", "INFO", "DEBUG")


def _log_level(default: str) -> str:
    level = os.environ.get("GTLAKE_SPARK_LOG_LEVEL", default).upper()
    return level if level in LOG_LEVELS else default


def submitted_master() -> str | None:
    """The master spark-submit (or Glue) gave, or None when gtlake starts Spark itself. SparkConf() reads the
    JVM's settings only once the JVM gateway is up: under spark-submit it is there but not yet connected, so it is
    connected first (before that, SparkConf() says nothing and a local[*] master would replace the cluster's)."""
    from pyspark import SparkContext

    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        SparkContext._ensure_initialized()
    conf = SparkConf()
    return conf.get("spark.master") if conf.contains("spark.master") else None


def quiet_submitted_jvm(level: str) -> bool:
    """Under spark-submit (and Glue) the JVM is started before gtlake runs, with Spark's own log4j profile (INFO
    on stderr: some 45 lines before gtlake's first). Set its root logger to `level` through the gateway before
    the SparkContext starts, so its start-up says nothing below it. False when there is no such JVM."""
    from pyspark import SparkContext

    if not os.environ.get("PYSPARK_GATEWAY_PORT"):
        return False
    SparkContext._ensure_initialized()
    jvm = SparkContext._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setRootLevel(jvm.org.apache.logging.log4j.Level.toLevel(level))
    return True


def get_spark(app: str = "gtlake", shuffle_partitions: int = 8) -> SparkSession:
    """A SparkSession with UTC time, microsecond Parquet timestamps and quiet logs.

    Under spark-submit or Glue the master comes from there; otherwise it is local[*]. Spark's
    Python workers use this interpreter (set PYSPARK_PYTHON yourself to override). Spark's own logging is at
    ERROR under `gtlake` and WARN under spark-submit and Glue (where its warnings go to the job's log);
    GTLAKE_SPARK_LOG_LEVEL (ERROR, WARN, INFO, DEBUG) overrides both.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName(app)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
    )
    submitted = submitted_master() is not None
    level = _log_level("WARN" if submitted else "ERROR")
    if submitted:
        quiet_submitted_jvm(level)
    else:
        builder = (
            builder.master(os.environ.get("GTLAKE_SPARK_MASTER", "local[*]"))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", os.environ.get("GTLAKE_DRIVER_MEMORY", "3g"))
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{LOG4J}")
        )
        jars = s3a_jars()
        if jars:
            builder = builder.config("spark.jars", ",".join(jars))
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            builder = (
                builder.config("spark.hadoop.fs.s3a.endpoint", endpoint)
                .config("spark.hadoop.fs.s3a.path.style.access", "true")
                .config("spark.hadoop.fs.s3a.connection.ssl.enabled", str(endpoint.startswith("https")).lower())
                .config("spark.hadoop.fs.s3a.aws.credentials.provider",
                        "com.amazonaws.auth.EnvironmentVariableCredentialsProvider")
            )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(level)
    if submitted:
        print(f"spark: master {spark.sparkContext.master} (as submitted), Spark {spark.version}", flush=True)
    return spark
