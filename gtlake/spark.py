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


def get_spark(app: str = "gtlake", shuffle_partitions: int = 8) -> SparkSession:
    """A SparkSession with UTC time, microsecond Parquet timestamps and quiet logs.

    Under spark-submit or Glue the master comes from there; otherwise it is local[*]. Spark's
    Python workers use this interpreter (set PYSPARK_PYTHON yourself to override).
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
    if not SparkConf().contains("spark.master"):
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
    spark.sparkContext.setLogLevel("ERROR")
    return spark
