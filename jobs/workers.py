"""The workers job: the WorkerActivity log -> worker_events and, with worker_responses, worker_tasks.

    run(spark, WorkersConfig(lake=..., activity="export folder or s3://...")        # an export
    run(spark, WorkersConfig(lake=..., log_group="/aws/sagemaker/groundtruth/WorkerActivity"))

Incremental both ways: export files already read (same path, same size and stamp) are skipped,
and CloudWatch Logs is read from a stored watermark (minus a look-back for late deliveries).
An event read twice is stored once (`event_key`, a hash of its message), so overlaps are harmless.
The job partitions an event touches are rebuilt (old events + new) and swapped in by one commit;
refused records go to `rejected` under `step=workers`. `worker_tasks` is rebuilt for every job
whose events or worker responses changed since the last run.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Callable, Iterable

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from gtlake import integrity, storage
from gtlake.jobs.activity import UNKNOWN_JOB, parse_cloudwatch_event, parse_export
from gtlake.jobs.common import read_folder, read_partitions
from gtlake.jobs.runner import Outcome, Run, Step
from gtlake.jobs.worker_tasks import TASK_COLUMNS, build_tasks
from gtlake.lake import Lake
from gtlake.records import Counts, Reject, UnbalancedRun
from gtlake.schemas import REJECTED, WORKER_EVENTS, WORKER_RESPONSES, WORKER_TASKS

NAME = "workers"
DEFAULT_LOOKBACK_MINUTES = 60


@dataclass(frozen=True)
class WorkersConfig:
    """Where the activity log is (an export, or a CloudWatch log group) and where the lake is."""

    lake: str
    activity: str | None = None
    log_group: str | None = None
    lookback_minutes: int = DEFAULT_LOOKBACK_MINUTES
    run_id: str | None = None
    on_failure: str = "fail"  # data-quality gate on the staged worker_tasks: fail (commit nothing) or warn


@dataclass
class WorkersResult:
    """What a run did."""

    run_id: str
    status: str
    counts: Counts
    jobs_processed: list[str] = field(default_factory=list)
    new_events: int = 0
    tasks: int = 0
    seconds: float = 0.0
    checks: str = ""  # what its data-quality gate checked and found (Gate.summary)
    check_seconds: float = 0.0  # of `seconds`, the time spent in those checks


def _key(kind: str, name: str) -> str:
    return f"{kind}-{hashlib.sha1(name.encode()).hexdigest()[:12]}"


def source_name(lake: Lake, root: str) -> str:
    """How the ledger names an activity export folder: an S3 URI as it is; a local folder relative to a local
    lake's folder, so a lake copied or moved together with its inputs knows what it has read (like ingest, whose
    ledger keeps paths relative to each job's folder)."""
    if storage.is_s3(root) or lake.remote:
        return root
    return os.path.relpath(root, lake.root)


def _rel(path: str, root: str) -> str:
    return path[len(root):].lstrip("/") if path.startswith(root) else path


def _done_files(ledger: dict[str, dict], key: str, root: str) -> dict[str, str]:
    """The export files already read from `root` (relative path -> size:stamp); a ledger written before names
    were relative (keyed by the absolute root, absolute paths) is read the same way."""
    entry = ledger.get(key) or ledger.get(_key("files", root)) or {}
    return {_rel(p, root): v for p, v in entry.get("files", {}).items()}


def _parse_files(items: Iterable[str]) -> list[tuple]:
    """Read and parse export files on an executor: ('row', dict) / ('reject', Reject) / ('seen', kind, n)."""
    out: list[tuple] = []
    for path in items:
        try:
            data = storage.read_bytes(path)
        except OSError as e:
            out += [("seen", "activity_file", 1),
                    ("reject", Reject(UNKNOWN_JOB, path, "file", "activity_file", "unreadable", str(e)))]
            continue
        rows, rejects, seen = parse_export(data, path)
        if "activity_file" not in seen:
            out.append(("seen", "activity_file", 1))
            out.append(("seen", "activity_file_ok", 1))
        out += [("seen", k, n) for k, n in seen.items()]
        out += [("row", r) for r in rows] + [("reject", r) for r in rejects]
    return out


def fetch_log_events(log_group: str, start_ms: int | None, client=None,  # noqa: ANN001
                     page_size: int | None = None) -> list[dict]:
    """Every event of `log_group` from `start_ms` on (all pages of filter_log_events)."""
    import boto3

    client = client or boto3.client("logs")
    kwargs: dict = {"logGroupName": log_group}
    if start_ms is not None:
        kwargs["startTime"] = int(start_ms)
    if page_size is not None:
        kwargs["PaginationConfig"] = {"PageSize": page_size}
    events: list[dict] = []
    for page in client.get_paginator("filter_log_events").paginate(**kwargs):
        events += page.get("events", [])
    return events


def _event_frame(spark: SparkSession, rows: list[dict] | object) -> DataFrame:
    cols = WORKER_EVENTS.names
    if isinstance(rows, list):
        return spark.createDataFrame([tuple(r.get(c) for c in cols) for r in rows], WORKER_EVENTS.spark_schema())
    return spark.createDataFrame(rows.map(lambda r: tuple(r.get(c) for c in cols)), WORKER_EVENTS.spark_schema())


def _partition(spark: SparkSession, lake: Lake, table: str, jobs: list[str], schema: StructType,
               sub: tuple[str, ...] = ()) -> DataFrame:
    """Committed rows of `table` for `jobs` (an empty frame when none)."""
    df = read_partitions(spark, lake, table, jobs, schema=schema, sub=sub)
    return df if df is not None else spark.createDataFrame([], schema)


def _spellings(lake: Lake) -> dict[str, str]:
    """Lowercased job name -> the job's name as the lake spells it (its output folder's), for ingested jobs."""
    return {j.lower(): j for j in lake.ledger("ingest") if not j.startswith("_")}


def _as_spelled(events: DataFrame, spelling: dict[str, str]) -> DataFrame:
    """`events` with each job_name as the lake spells that job (job names are case-insensitive)."""
    if not spelling:
        return events
    names = F.create_map(*[F.lit(x) for pair in spelling.items() for x in pair])
    return events.withColumn("job_name", F.coalesce(names[F.lower(F.col("job_name"))], F.col("job_name")))


def _aliases(lake: Lake, table: str, jobs: set[str]) -> dict[str, list[str]]:
    """job -> the other `table` partitions whose job name differs from it only in case."""
    root = lake.table_path(table)
    stored = [n[len("job_name="):] for n in lake.listdir(root) if n.startswith("job_name=")] if lake.isdir(root) else []
    return {j: sorted(s for s in stored if s != j and s.lower() == j.lower()) for j in jobs}


def _directory(spark: SparkSession, lake: Lake) -> DataFrame:
    """cognito_sub -> the worker_id worker responses use (the latest seen, if a sub ever had two)."""
    path = lake.table_path("worker_responses")
    if not lake.isdir(path):
        return spark.createDataFrame([], "cognito_sub string, _wid string")
    wr = spark.read.parquet(lake.uri(path)).where(F.col("cognito_sub").isNotNull())
    return wr.groupBy("cognito_sub").agg(F.max_by("worker_id", "submitted_at").alias("_wid"))


def _tasks_udf(events: pd.DataFrame, responses: pd.DataFrame) -> pd.DataFrame:
    if events.empty and responses.empty:
        return pd.DataFrame(columns=TASK_COLUMNS)
    # A job with rows on one side only gets an empty frame for the other, possibly without columns.
    events = events if len(events.columns) else pd.DataFrame(columns=WORKER_EVENTS.names)
    responses = responses if len(responses.columns) else pd.DataFrame(columns=WORKER_RESPONSES.names)
    return build_tasks(events, responses)


def _work(run: Run, config: WorkersConfig) -> Outcome:
    """Read what is new in the activity log into worker_events, and rebuild worker_tasks where needed."""
    spark, lake, gate, run_id, staged, counts = run.spark, run.lake, run.gate, run.run_id, run.staged, run.counts
    ledger = lake.ledger(NAME)
    read_before = any(k != "tasks" for k in ledger)  # events of this lake were read from some source already
    new_ledger: dict[str, dict] = {}
    rejects: list[Reject] = []
    if config.activity is not None:
        root = config.activity.rstrip("/") if storage.is_s3(config.activity) else os.path.abspath(config.activity)
        name = source_name(lake, root)
        key = _key("files", name)
        done = _done_files(ledger, key, root)
        files = storage.list_files(root)
        todo = [f for f in files if done.get(_rel(f.path, root)) != f"{f.size}:{f.stamp}"]
        run.say(f"{len(files)} export files under {root}, {len(todo)} new or changed")
        sc = spark.sparkContext
        tagged = sc.parallelize([f.path for f in todo], max(1, min(len(todo), sc.defaultParallelism * 4))) \
            .mapPartitions(lambda it: _parse_files(list(it))).persist()
        seen = dict(tagged.filter(lambda t: t[0] == "seen").map(lambda t: (t[1], t[2]))
                    .reduceByKey(lambda a, b: a + b).collect()) if todo else {}
        new_rows = _event_frame(spark, tagged.filter(lambda t: t[0] == "row").map(lambda t: t[1]))
        rejects = tagged.filter(lambda t: t[0] == "reject").map(lambda t: t[1]).collect() if todo else []
        counts.add("activity_file", seen=seen.get("activity_file", 0), out=seen.get("activity_file_ok", 0))
        counts.add("worker_event", seen=seen.get("worker_event", 0))
        new_ledger[key] = {"root": name, "files": {**done, **{_rel(f.path, root): f"{f.size}:{f.stamp}" for f in todo}},
                           "run_id": run_id}
    else:
        key = _key("logs", config.log_group)
        watermark = ledger.get(key, {}).get("watermark_ms")
        start = None if watermark is None else max(0, watermark - config.lookback_minutes * 60_000)
        events = fetch_log_events(config.log_group, start)
        run.say(f"{len(events)} events from {config.log_group} since "
                f"{'the beginning' if start is None else datetime.fromtimestamp(start / 1000, timezone.utc).isoformat()}")
        rows = []
        for e in events:
            row, reject = parse_cloudwatch_event(e, config.log_group)
            (rows.append(row) if row is not None else rejects.append(reject))
        new_rows = _event_frame(spark, rows)
        counts.add("worker_event", seen=len(events))
        stamps = [e["timestamp"] for e in events if isinstance(e.get("timestamp"), int)]
        new_ledger[key] = {"log_group": config.log_group, "watermark_ms": max(stamps + [watermark or 0]) or None,
                           "run_id": run_id}
    # The log names jobs from their ARN, lowercased by SageMaker; the lake by their folder's spelling.
    spelling = _spellings(lake)
    new_rows = _as_spelled(new_rows, spelling).persist()
    rejects = [replace(r, job_name=spelling.get(r.job_name.lower(), r.job_name)) for r in rejects]
    counts.add("activity_file", rejected=sum(r.record_kind == "activity_file" for r in rejects))
    counts.add("worker_event", rejected=sum(r.record_kind == "worker_event" for r in rejects))

    per_job = {r["job_name"]: r["n"] for r in new_rows.groupBy("job_name").agg(F.count(F.lit(1)).alias("n")).collect()}
    counts.add("worker_event", out=sum(per_job.values()))
    event_jobs = sorted(per_job)
    reject_jobs = sorted({r.job_name for r in rejects})

    # worker_tasks: jobs with new events, and jobs whose worker responses were re-ingested.
    ingested = {j: e.get("run_id") for j, e in lake.ledger("ingest").items() if not j.startswith("_")}
    had = ledger.get("tasks", {}).get("responses", {})
    task_jobs = sorted(set(event_jobs) | {j for j, r in ingested.items() if had.get(j) != r}
                       | {j for j in had if j not in ingested})
    new_ledger["tasks"] = {"responses": ingested, "run_id": run_id}
    run.balance()
    if not event_jobs and not reject_jobs and not task_jobs:
        return run.unchanged(new_ledger)

    directory = _directory(spark, lake)
    # Events stored under another spelling of a job (before its folder was ingested) move to the lake's.
    aliases = _aliases(lake, "worker_events", set(event_jobs) | set(task_jobs))
    event_jobs = sorted(set(event_jobs) | {j for j, other in aliases.items() if other})
    # The committed events are merged with the new ones, and the tasks read the ingested worker responses: a
    # partition of either gone by hand stops the run (merging with nothing would delete the events read before).
    # With an empty workers ledger (a first read, or the step reset by hand) every event is read again: nothing
    # to lose.
    if read_before:
        integrity.require(lake, ("worker_events",), event_jobs, f"workers {run_id}")
    integrity.require(lake, ("worker_responses",), [j for j in task_jobs if j in ingested], f"workers {run_id}")
    old = _as_spelled(_partition(spark, lake, "worker_events", event_jobs + [a for j in event_jobs
                                                                           for a in aliases.get(j, [])],
                                 WORKER_EVENTS.spark_schema()), spelling)
    merged = (old.unionByName(new_rows).dropDuplicates(["job_name", "event_key"])
              .join(directory, "cognito_sub", "left")
              .withColumn("worker_id", F.coalesce("_wid", "log_worker_id", "cognito_sub")).drop("_wid"))
    n_old = old.count()
    n_fresh = new_rows.select("job_name", "event_key").distinct().join(
        old.select("job_name", "event_key"), ["job_name", "event_key"], "left_anti").count()
    run.stage(merged, WORKER_EVENTS)
    n_staged = sum(run.staged_rows("worker_events").values())
    if n_staged != n_old + n_fresh:
        raise UnbalancedRun(f"{run.name}: staged {n_staged} events != {n_old} kept + {n_fresh} new; "
                            f"not committed")

    if reject_jobs:
        old_rej = _partition(spark, lake, "rejected", reject_jobs, REJECTED.spark_schema(), sub=(f"step={NAME}",))
        new_rej = spark.createDataFrame([r.row(run_id, NAME) for r in rejects], REJECTED.spark_schema())
        run.stage(old_rej.unionByName(new_rej).dropDuplicates(["job_name", "source_uri", "locator", "reason_code"]),
                  REJECTED)

    n_tasks = 0
    if task_jobs:
        ev_path = staged["worker_events"]
        kept = [j for j in task_jobs if j not in event_jobs]
        events = _partition(spark, lake, "worker_events", kept, WORKER_EVENTS.spark_schema())
        if event_jobs:
            events = events.unionByName(read_folder(spark, lake, ev_path))
        events = (events.drop("worker_id").join(directory, "cognito_sub", "left")
                  .withColumn("worker_id", F.coalesce("_wid", "log_worker_id", "cognito_sub")).drop("_wid"))
        responses = _partition(spark, lake, "worker_responses", task_jobs, WORKER_RESPONSES.spark_schema())
        tasks = (events.groupBy("job_name").cogroup(responses.groupBy("job_name"))
                 .applyInPandas(_tasks_udf, WORKER_TASKS.spark_schema()))
        run.stage(tasks, WORKER_TASKS)
        n_tasks = sum(run.staged_rows("worker_tasks").values())

    gate.check_staged("worker_tasks", staged.get("worker_tasks"))
    jobs_done = sorted(set(event_jobs) | set(task_jobs))
    for table, jobs in (("worker_events", event_jobs), ("worker_tasks", task_jobs)):
        run.replace(table, jobs)
    for table, jobs in (("worker_events", event_jobs), ("worker_tasks", task_jobs)):
        run.clear(table, [alias for job in jobs for alias in _aliases(lake, table, {job})[job]])
    run.replace("rejected", reject_jobs, sub=(f"step={NAME}",))
    return Outcome(jobs_done, new_ledger, result={"new_events": n_fresh, "tasks": n_tasks})


def _check_source(config: WorkersConfig) -> dict:
    if (config.activity is None) == (config.log_group is None):
        raise ValueError("give exactly one of activity (an export) or log_group (CloudWatch Logs)")
    return {}


STEP = Step(NAME, reads=("worker_events", "worker_responses"), writes=("worker_events", "worker_tasks", "rejected"),
            work=_work, result=WorkersResult, prepare=_check_source,
            source=lambda config: config.activity or f"cloudwatch://{config.log_group}")


def run(spark: SparkSession, config: WorkersConfig, log: Callable[[str], None] = print) -> WorkersResult:
    """Read what is new in the activity log into worker_events, and rebuild worker_tasks where needed (`STEP`)."""
    return STEP.run(spark, config, log)
