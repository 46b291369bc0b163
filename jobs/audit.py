"""The audit job: adjustment (audit) jobs compared with the jobs they audited -> audit_changes, worker_quality.

    run(spark, AuditJobConfig(lake=...))

An audit job is recognized by its chained label attribute: its manifest line carries the audited
job's attribute (whose metadata `job-name` is that job's, pointing at that job's SeqLabel.json) besides its
own (the one whose labels ingest read, `labels_read`).
Each audit sequence is paired with the source job's sequence whose labels file that is, and the two
sets of boxes go through `udfs.matching.compare_sequence` as one pandas group per sequence. The
labeling worker of a sequence (and its auditor) come from `worker_responses`.

`worker_quality` has a row per worker and labeling job for every tracking job with boxes, audited
or not: the share of the worker's boxes the quality job flagged needs no audit; the adjustment
rate, CLEAR MOT and IDF1 need one (null otherwise). Jobs are redone only when their inputs changed.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from gtlake import integrity, seals
from gtlake.jobs.common import read_folder, read_partitions
from gtlake.jobs.runner import Outcome, Run, Step
from gtlake.lake import Lake
from gtlake.records import Counts, Reject
from gtlake.schemas import AUDIT_CHANGES, REJECTED, WORKER_QUALITY
from gtlake.udfs.matching import AuditConfig, compare_sequence

NAME = "audit"
TRACKING = "groundtruth/video-object-tracking"
_SIDE_COLS = ["frame_no", "object_id", "label", "left", "top", "width", "height", "attributes"]


@dataclass(frozen=True)
class AuditJobConfig:
    """The lake and the comparison's tolerances."""

    lake: str
    audit: AuditConfig = field(default_factory=AuditConfig)
    run_id: str | None = None
    on_failure: str = "fail"  # data-quality gate on what is read and staged: fail (commit nothing) or warn


@dataclass
class AuditResult:
    """What a run did."""

    run_id: str
    status: str
    counts: Counts
    audit_jobs: list[str] = field(default_factory=list)
    quality_jobs: list[str] = field(default_factory=list)
    changes: int = 0
    seconds: float = 0.0
    checks: str = ""  # what its data-quality gate checked and found (Gate.summary)
    check_seconds: float = 0.0  # of `seconds`, the time spent in those checks


def _pandas(lake: Lake, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    path = lake.table_path(table)
    if not lake.isdir(path):
        return pd.DataFrame(columns=columns or [])
    return ds.dataset(path, format="parquet", partitioning="hive", filesystem=lake.fs).to_table(
        columns=columns).to_pandas()


def audit_pairs(sequences: pd.DataFrame) -> tuple[pd.DataFrame, list[Reject]]:
    """(audit sequence, audited sequence) pairs from the `sequences` table, and audit sequences with no source.

    Columns: audit_job, audit_sequence_id, adjustment_status, source_job, sequence_id.
    """
    seq = sequences[(sequences["task_type"] == TRACKING) & sequences["labels_ref"].notna()]
    chained = seq[seq["label_job_name"].str.lower() != seq["job_name"].str.lower()]  # job names: case-insensitive
    own = seq[seq["labels_read"].fillna(False).astype(bool)]
    audits = chained.merge(own[["job_name", "sequence_id", "adjustment_status", "labels_ref"]]
                           .rename(columns={"labels_ref": "own_ref"}), on=["job_name", "sequence_id"],
                           suffixes=("_chained", ""))
    audits = audits[audits["own_ref"] != audits["labels_ref"]].assign(_source=lambda d: d["label_job_name"].str.lower())
    sources = own[["job_name", "sequence_id", "labels_ref"]].rename(
        columns={"job_name": "source_job", "sequence_id": "source_sequence_id"}).assign(
        _source=lambda d: d["source_job"].str.lower())
    merged = audits.merge(sources, on=["_source", "labels_ref"], how="left")
    rejects = [Reject(r.job_name, r.source_uri, f"line {r.manifest_line}", "audit_sequence", "source_not_in_lake",
                      f"the audited labels {r.labels_ref} (job {r.label_job_name}) are not in the lake; ingest that "
                      f"job's output to compare", None)
               for r in merged[merged["source_sequence_id"].isna()].itertuples()]
    ok = merged[merged["source_sequence_id"].notna()]
    pairs = pd.DataFrame({"audit_job": ok["job_name"], "audit_sequence_id": ok["sequence_id"],
                          "adjustment_status": ok["adjustment_status"], "source_job": ok["source_job"],
                          "sequence_id": ok["source_sequence_id"]}).drop_duplicates(["audit_job", "audit_sequence_id"])
    return pairs.reset_index(drop=True), rejects


def _labelers(responses: DataFrame) -> DataFrame:
    """The worker whose answer became the labels of each data object: the last submitted, latest iteration."""
    w = Window.partitionBy("job_name", "sequence_id").orderBy(F.col("iteration").desc(), F.col("submitted_at").desc_nulls_last())
    return (responses.withColumn("_r", F.row_number().over(w)).where(F.col("_r") == 1)
            .select("job_name", "sequence_id", "worker_id"))


def _compare_udf(cfg: AuditConfig) -> Callable[[pd.DataFrame], pd.DataFrame]:
    cols = [c for c in AUDIT_CHANGES.names if c not in ("flagged", "labeler_id", "auditor_id", "adjustment_status")]

    def apply(pdf: pd.DataFrame) -> pd.DataFrame:
        side = pdf["_side"].to_numpy()
        rows = compare_sequence(pdf.loc[side == "w", _SIDE_COLS], pdf.loc[side == "a", _SIDE_COLS], cfg)
        first = pdf.iloc[0]
        for c in ("source_job", "sequence_id", "audit_sequence_id", "audit_job"):
            rows[c] = first[c]
        return rows.reindex(columns=cols)

    return apply


def audit_changes(boxes: DataFrame, pairs: DataFrame, queue: DataFrame, labelers: DataFrame,
                  cfg: AuditConfig) -> DataFrame:
    """Every box of the worker and of the auditor in the paired sequences, compared (AUDIT_CHANGES rows)."""
    tracked = boxes.where(F.col("object_id").isNotNull()).select("job_name", "sequence_id", *_SIDE_COLS)
    p = pairs.select("audit_job", "audit_sequence_id", "source_job", "sequence_id")
    worker = (tracked.join(p.withColumnRenamed("source_job", "job_name"), ["job_name", "sequence_id"])
              .withColumn("source_job", F.col("job_name")).withColumn("_side", F.lit("w")))
    auditor = (tracked.withColumnRenamed("sequence_id", "audit_sequence_id")
               .join(p.withColumnRenamed("audit_job", "job_name"), ["job_name", "audit_sequence_id"])
               .withColumn("audit_job", F.col("job_name")).withColumn("_side", F.lit("a")))
    cols = ["audit_job", "audit_sequence_id", "source_job", "sequence_id", "_side", *_SIDE_COLS]
    schema = AUDIT_CHANGES.spark_schema()
    udf_schema = schema.__class__([f for f in schema.fields
                                   if f.name not in ("flagged", "labeler_id", "auditor_id", "adjustment_status")])
    compared = (worker.select(*cols).unionByName(auditor.select(*cols))
                .groupBy("audit_job", "audit_sequence_id").applyInPandas(_compare_udf(cfg), udf_schema))
    flags = (queue.select(F.col("job_name").alias("source_job"), "sequence_id", "frame_no",
                          F.col("object_id").alias("_oid")).distinct().withColumn("flagged", F.lit(True)))
    return (compared.withColumn("_oid", F.coalesce("object_id", "audit_object_id"))
            .join(flags, ["source_job", "sequence_id", "frame_no", "_oid"], "left")
            .withColumn("flagged", F.coalesce("flagged", F.lit(False)))
            .join(labelers.select(F.col("job_name").alias("source_job"), "sequence_id",
                                  F.col("worker_id").alias("labeler_id")), ["source_job", "sequence_id"], "left")
            .join(labelers.select(F.col("job_name").alias("audit_job"), F.col("sequence_id").alias("audit_sequence_id"),
                                  F.col("worker_id").alias("auditor_id")), ["audit_job", "audit_sequence_id"], "left")
            .join(pairs.select("audit_job", "audit_sequence_id", "adjustment_status"),
                  ["audit_job", "audit_sequence_id"], "left")
            .select(*AUDIT_CHANGES.names))


def worker_quality(seq_boxes: DataFrame, labelers: DataFrame, changes: DataFrame) -> DataFrame:
    """Per worker and labeling job: flagged share of their boxes, and what audits found (WORKER_QUALITY rows).

    `seq_boxes` has job_name, sequence_id, boxes and flagged_boxes (null where the quality job has not run).
    """
    own = (seq_boxes.join(labelers, ["job_name", "sequence_id"], "left")
           .groupBy("job_name", "worker_id").agg(
               F.countDistinct("sequence_id").cast("int").alias("sequences"), F.sum("boxes").cast("long").alias("boxes"),
               F.sum("flagged_boxes").cast("long").alias("flagged_boxes")))
    c = changes
    is_w, is_a = F.col("object_id").isNotNull(), F.col("audit_object_id").isNotNull()
    matched = F.col("mot_gt").isin("match", "switch")

    def n(cond):  # noqa: ANN001, ANN202
        return F.sum(F.when(cond, 1).otherwise(0)).cast("long")

    audited = c.groupBy(F.col("source_job").alias("job_name"), F.col("labeler_id").alias("worker_id")).agg(
        F.countDistinct("sequence_id").cast("int").alias("audited_sequences"),
        n(is_w).alias("audited_boxes"), n(is_w & (F.col("change") != "unchanged")).alias("adjusted_boxes"),
        n(F.col("change") == "added").alias("added"), n(F.col("change") == "deleted").alias("deleted"),
        n(is_a).alias("gt_boxes"), n(matched).alias("matches"), n(F.col("mot_gt") == "miss").alias("misses"),
        n(F.col("mot_fp")).alias("false_positives"), n(F.col("mot_gt") == "switch").alias("id_switches"),
        n(F.col("mot_fragment")).alias("fragmentations"), F.avg(F.when(matched, F.col("mot_iou"))).alias("motp_iou"),
        n(F.col("id_tp")).alias("idtp"))
    q = own.join(audited, ["job_name", "worker_id"], "full")
    safe = F.when(F.col("audited_sequences") > 0, F.lit(1))
    return (q.withColumn("flagged_rate", F.col("flagged_boxes") / F.col("boxes"))
            .withColumn("adjustment_rate", safe * (F.col("adjusted_boxes") + F.col("added"))
                        / F.greatest(F.col("audited_boxes") + F.col("added"), F.lit(1)))
            .withColumn("mota", safe * (1 - (F.col("misses") + F.col("false_positives") + F.col("id_switches"))
                                        / F.col("gt_boxes")))
            .withColumn("idf1", safe * 2 * F.col("idtp") / (F.col("gt_boxes") + F.col("audited_boxes")))
            .select(*WORKER_QUALITY.names))


def _fingerprint(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _work(run: Run, config: AuditJobConfig) -> Outcome:
    """Compare every changed audit job with its source, and rebuild worker_quality of the jobs it touches."""
    spark, lake, gate, run_id, staged, counts = run.spark, run.lake, run.gate, run.run_id, run.staged, run.counts
    ingested = {j: e.get("run_id") for j, e in lake.ledger("ingest").items() if not j.startswith("_")}
    scored = {j: e.get("run_id") for j, e in lake.ledger("quality").items()}
    done = lake.ledger(NAME)
    try:
        sequences = _pandas(lake, "sequences")
    except (OSError, pa.ArrowException) as e:  # a damaged file: the gate's finding, not a traceback
        gate.unreadable("input", "sequences", e)
        gate.enforce()
    pairs, rejects = (audit_pairs(sequences) if len(sequences) else (pd.DataFrame(), []))
    cfg = asdict(config.audit)
    tracking = sorted(set(sequences.loc[sequences["task_type"] == TRACKING, "job_name"])) if len(sequences) else []
    audit_jobs_all = sorted(set(pairs["audit_job"]) | {r.job_name for r in rejects}) if len(pairs) or rejects else []
    fp: dict[str, str] = {}
    for a in audit_jobs_all:
        srcs = sorted(set(pairs.loc[pairs["audit_job"] == a, "source_job"])) if len(pairs) else []
        fp[a] = _fingerprint({"kind": "audit", "job": ingested.get(a), "config": cfg,
                              "sources": {s: [ingested.get(s), scored.get(s)] for s in srcs}})
    for j in tracking:
        if j in audit_jobs_all:
            continue
        audits = sorted(set(pairs.loc[pairs["source_job"] == j, "audit_job"])) if len(pairs) else []
        fp[j] = _fingerprint({"kind": "quality", "job": [ingested.get(j), scored.get(j)], "config": cfg,
                              "audits": {a: fp[a] for a in audits}})
    stale = sorted(j for j in fp if done.get(j, {}).get("fingerprint") != fp[j])
    # Jobs no longer in the lake (or no longer audits / tracking jobs): their rows go too.
    gone = sorted(j for j in done if j not in fp and not done[j].get("removed"))
    todo_audits = [j for j in stale if j in audit_jobs_all]
    todo_quality = [j for j in stale if j not in audit_jobs_all]
    run.say(f"{len(audit_jobs_all)} audit jobs ({len(todo_audits)} to compare), "
            f"{len(fp) - len(audit_jobs_all)} labeling jobs ({len(todo_quality)} to score)")
    ledger = {j: {"fingerprint": fp[j], "run_id": run_id} for j in stale}
    if not stale and not gone:
        return run.unchanged()

    # the jobs' rows it reads (every job's sequences, the boxes of the jobs it compares) as committed
    integrity.require(lake, ("sequences",), sorted(ingested), run.name)
    integrity.require(lake, ("boxes",), [j for j in sorted(set(stale) | set(pairs["source_job"] if len(pairs)
                                                                              else [])) if j in ingested],
                      run.name)
    sequences_df = gate.read("sequences", lambda: read_folder(spark, lake, lake.table_path("sequences")),
                             jobs=seals.table_jobs(lake, "sequences"))
    box_jobs = sorted(set(stale) | set(pairs["source_job"] if len(pairs) else []))
    boxes = gate.read("boxes", lambda: spark.read.parquet(lake.uri(lake.table_path("boxes"))).where(
        F.col("job_name").isin(box_jobs)), refs={"sequences": sequences_df}, jobs=box_jobs)
    responses = gate.read("worker_responses", lambda: read_partitions(spark, lake, "worker_responses",
                                                                      sorted(ingested)))
    gate.enforce()
    labelers = (_labelers(responses) if responses is not None
                else spark.createDataFrame([], "job_name string, sequence_id string, worker_id string"))
    my_pairs = pairs[pairs["audit_job"].isin(todo_audits)] if len(pairs) else pairs
    my_rejects = [r for r in rejects if r.job_name in todo_audits]
    n_changes = 0
    if len(my_pairs):
        pairs_df = spark.createDataFrame(my_pairs.astype(object).where(my_pairs.notna(), None),
                                         "audit_job string, audit_sequence_id string, adjustment_status string, "
                                         "source_job string, sequence_id string")
        queue_jobs = sorted(set(my_pairs["source_job"]))
        queue = gate.read("review_queue", lambda: read_partitions(spark, lake, "review_queue", queue_jobs),
                          jobs=queue_jobs)
        gate.enforce()
        if queue is None:
            queue = spark.createDataFrame([], "job_name string, sequence_id string, frame_no int, object_id string")
        changes = audit_changes(boxes, pairs_df, queue, labelers, config.audit)
        run.stage(changes, AUDIT_CHANGES)
        # Balance: every worker and auditor box of a compared sequence is in exactly one row.
        keys = [tuple(x) for x in my_pairs[["source_job", "sequence_id"]].to_numpy()] + \
               [tuple(x) for x in my_pairs[["audit_job", "audit_sequence_id"]].to_numpy()]
        n_in = (boxes.where(F.col("object_id").isNotNull())
                .join(spark.createDataFrame(keys, "job_name string, sequence_id string"), ["job_name", "sequence_id"])
                .count())
        staged_tab = ds.dataset(staged["audit_changes"], format="parquet", filesystem=lake.fs).to_table(
            columns=["object_id", "audit_object_id"])
        n_out = staged_tab.num_rows * 2 - staged_tab["object_id"].null_count - staged_tab["audit_object_id"].null_count
        n_changes = staged_tab.num_rows
        counts.add("audit_box", seen=n_in, out=n_out)
    counts.add("audit_sequence", seen=len(my_pairs) + len(my_rejects), out=len(my_pairs), rejected=len(my_rejects))
    if my_rejects:
        run.stage(spark.createDataFrame([r.row(run_id, NAME) for r in my_rejects], REJECTED.spark_schema()), REJECTED)
    run.balance()

    # worker_quality of every labeling job whose own inputs or audits changed.
    q_jobs = sorted(set(todo_quality) | set(my_pairs["source_job"] if len(my_pairs) else []))
    q_jobs = [j for j in q_jobs if j in fp]
    if q_jobs:
        per_seq = (boxes.where(F.col("job_name").isin(q_jobs) & F.col("object_id").isNotNull())
                   .groupBy("job_name", "sequence_id").agg(F.count(F.lit(1)).alias("boxes")))
        metrics = gate.read("box_metrics", lambda: read_partitions(spark, lake, "box_metrics", q_jobs), jobs=q_jobs)
        if metrics is not None:
            flagged = metrics.groupBy("job_name", "sequence_id").agg(
                F.sum((F.size("flags") > 0).cast("long")).alias("flagged_boxes"))
            per_seq = per_seq.join(flagged, ["job_name", "sequence_id"], "left")
        else:
            per_seq = per_seq.withColumn("flagged_boxes", F.lit(None).cast("long"))
        audits_of = sorted(set(pairs.loc[pairs["source_job"].isin(q_jobs), "audit_job"])) if len(pairs) else []
        kept = [a for a in audits_of if a not in todo_audits]
        gate.read("audit_changes", lambda: read_partitions(spark, lake, "audit_changes", kept, "audit_job"),
                  refs={"sequences": sequences_df})
        gate.enforce()
        parts = [d for d in (read_partitions(spark, lake, "audit_changes", kept, "audit_job", AUDIT_CHANGES.spark_schema()),
                             read_folder(spark, lake, staged["audit_changes"], AUDIT_CHANGES.spark_schema())
                             if "audit_changes" in staged else None) if d is not None]
        changes_all = parts[0] if parts else spark.createDataFrame([], AUDIT_CHANGES.spark_schema())
        for d in parts[1:]:
            changes_all = changes_all.unionByName(d)
        wq = worker_quality(per_seq, labelers, changes_all.where(F.col("source_job").isin(q_jobs)))
        run.stage(wq, WORKER_QUALITY)

    gate.check_staged("audit_changes", staged.get("audit_changes"), refs={"sequences": sequences_df})
    run.replace("audit_changes", todo_audits + gone, part="audit_job")
    run.replace("rejected", todo_audits + gone, sub=(f"step={NAME}",))
    run.replace("worker_quality", sorted(set(q_jobs) | set(gone)))
    for j in gone:
        ledger[j] = {"fingerprint": None, "run_id": run_id, "removed": True}
    return Outcome(todo_audits + q_jobs, ledger, result={"audit_jobs": todo_audits, "quality_jobs": q_jobs,
                                                         "changes": n_changes})


STEP = Step(NAME, reads=("sequences", "boxes", "worker_responses", "review_queue", "box_metrics", "audit_changes"),
            writes=("audit_changes", "worker_quality", "rejected"), work=_work, result=AuditResult)


def run(spark: SparkSession, config: AuditJobConfig, log: Callable[[str], None] = print) -> AuditResult:
    """Compare every changed audit job with its source, and rebuild worker_quality of the jobs it touches
    (`STEP`, `jobs.runner`)."""
    return STEP.run(spark, config, log)
