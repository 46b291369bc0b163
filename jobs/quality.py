"""The quality job: boxes -> box_metrics, track_summary and review_queue.

    run(spark, QualityJobConfig(lake=..., quality=QualityConfig()))

The detector (`udfs.detect.detect_boxes`) compares the tracks of a sequence with each other, so a sequence is
its unit; it scores many whole sequences per call, as numpy over Arrow tables. Ingest writes `boxes` clustered
(each file whole sequences, sorted by sequence, object and frame; its ledger says so), and the job scores each such
file whole in a Spark task that reads it and writes its box_metrics rows and its tracks' statistics
(`udfs.tracks`) with pyarrow (`score_file`, `jobs.filepass`): no shuffle, and no row crossing between the JVM and
Python. Other boxes are copied into that order first. `box_metrics` is the same detector as a DataFrame transform
(`mapInArrow`), and `box_metrics_per_sequence` (one pandas group per sequence) the reference both are tested
equal to. Tracks are then compared with the other tracks of their class in the job
(track_outlier), and all reasons for one (frame, object) are merged into one ranked review-queue entry, with the
appearance_change flags of `gtlake embed` (`embedding_metrics`) and a model's findings (`gtlake predictions`,
`prediction_findings`: overlooked objects get entries of their own) when they were made from the job's current boxes:
both in one task per job (`finish_job`, `udfs.queue`) from the tracks' statistics and the suspect rows the scoring
tasks wrote; `peer_scored` and `review_queue`, the same as Spark transforms, are the references it is tested equal to.
Audit jobs (`jobs.role`) are scored the same way, as a post-audit check of the corrected labels, but are kept out
of the review queue, which is the labelers'. Only jobs whose boxes, thresholds or appearance flags changed since
the last quality run are redone.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Any, Callable, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs as pafs
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from gtlake import integrity
from gtlake.jobs.common import read_partitions, sequence_refs
from gtlake.jobs.filepass import FileWork, TaskWriters, Verdicts, numbered, run_files
from gtlake.jobs.files import (Footers, clustered_partition, data_files, files_under, non_null_rows, one_file_each,
                               unique_in_files, unique_rows)
from gtlake.jobs.embed import current_runs
from gtlake.jobs.runner import Outcome, Run, Step
from gtlake.lake import Lake
from gtlake.records import Counts
from gtlake.schemas import (BOX_METRICS, BOXES, EMBEDDING_METRICS, FRAMES, PREDICTION_FINDINGS, REVIEW_QUEUE,
                            SEQUENCES, SHAPES, TRACK_SUMMARY)
from gtlake.udfs.config import QualityConfig
from gtlake.udfs.batches import whole_sequences
from gtlake.udfs.detect import SEQUENCE_KEYS, detect_sequence, detect_table
from gtlake.udfs.queue import peer_scores, queue_entries
from gtlake.udfs.tracks import STATS_SCHEMA, track_stats
from gtlake.validation import ENTRY_KEY, broken_rules, merge_broken
from gtlake.vocabulary import PREDICTION_REASONS, REASON_WEIGHTS

TRACK_OUTLIER_SCORE = 1.0
BOX_COLS = ["job_name", "sequence_id", "frame_no", "frame_file", "object_id", "object_name", "class_id", "label",
            "left", "top", "width", "height", "attributes"]  # what the detector reads of each box
UDF_SCHEMA = BOX_METRICS.spark_schema()


@dataclass(frozen=True)
class QualityJobConfig:
    """The lake, and the thresholds of the checks."""

    lake: str
    quality: QualityConfig = field(default_factory=QualityConfig)
    run_id: str | None = None
    on_failure: str = "fail"  # data-quality gate on what is read and staged: fail (commit nothing) or warn


@dataclass
class QualityResult:
    """What a run did."""

    run_id: str
    status: str
    counts: Counts
    jobs_processed: list[str]
    queued: int = 0
    seconds: float = 0.0
    checks: str = ""  # what its data-quality gate checked and found (Gate.summary)
    check_seconds: float = 0.0  # of `seconds`, the time spent in those checks


CHUNK_ROWS = 100_000  # boxes the detector scores in one call (whole sequences): per-call costs are paid rarely


def _sequence_udf(cfg: QualityConfig) -> Callable[[pd.DataFrame], pd.DataFrame]:
    cols = [f.name for f in UDF_SCHEMA.fields]

    def apply(pdf: pd.DataFrame) -> pd.DataFrame:
        out, _ = detect_sequence(pdf, cfg)  # missing boxes travel as missing_before on the next box
        return out.reindex(columns=cols)

    return apply


def _batch_udf(cfg: QualityConfig, chunk_rows: int = CHUNK_ROWS) -> Callable[[Iterator[pa.RecordBatch]],
                                                                            Iterator[pa.RecordBatch]]:
    schema = BOX_METRICS.arrow_schema()

    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for table in whole_sequences(batches, SEQUENCE_KEYS, chunk_rows):
            yield from detect_table(table, cfg, schema).to_batches()  # missing boxes travel as missing_before

    return apply


def attributes_text(attributes: Column) -> Column:
    """A box's label-category attributes as one JSON text, keys sorted (equal attributes, equal text), for the
    detector's attribute and occlusion checks."""
    return F.to_json(F.map_from_entries(F.array_sort(F.map_entries(attributes))))


def _tracked(boxes: DataFrame, text: bool = True) -> DataFrame:
    """The tracked boxes, the columns the detector reads; attributes as JSON text (`text`, for pandas) or as
    they are (a map, decoded in Arrow by the batch path)."""
    rows = boxes.where(F.col("object_id").isNotNull())
    return (rows.withColumn("attributes", attributes_text(F.col("attributes"))) if text else rows).select(*BOX_COLS)


def box_metrics(cfg: QualityConfig, clustered: bool = True) -> Callable[[DataFrame], DataFrame]:
    """Metrics and flags per tracked box: `boxes.transform(box_metrics(cfg))`. The detector scores whole
    sequences, many at a time, over Arrow batches (`mapInArrow`): straight over the scan of clustered boxes read
    within `whole_files` (each task a file of whole, sorted sequences: no shuffle), or, with `clustered=False`,
    after shuffling the boxes into that order."""
    def transform(boxes: DataFrame) -> DataFrame:
        rows = _tracked(boxes, text=False)
        if not clustered:
            rows = rows.repartition(*SEQUENCE_KEYS).sortWithinPartitions(*SEQUENCE_KEYS, "object_id", "frame_no")
        return rows.mapInArrow(_batch_udf(cfg), UDF_SCHEMA)

    return transform


def box_metrics_per_sequence(cfg: QualityConfig) -> Callable[[DataFrame], DataFrame]:
    """`box_metrics` one pandas group per sequence (`applyInPandas`): the reference the batch path is tested
    equal to."""
    return lambda boxes: (_tracked(boxes).groupBy(*SEQUENCE_KEYS)
                          .applyInPandas(_sequence_udf(cfg), UDF_SCHEMA))


METRICS_FILE_KEY = ("sequence_id", "object_id", "frame_no")  # box_metrics' key within a job's files, in their order
QUEUE_FILE = REVIEW_QUEUE.file_schema()
QUEUE_FILE_KEY = tuple(c for c in ENTRY_KEY if c != "job_name")  # an entry's key within its job's file
FILE_COLS = [c for c in BOX_COLS if c != "job_name"]  # what the detector reads of a boxes file (job: its folder)
READ_ROWS = 65_536  # rows read from a file at a time


def _tracked_tables(file: pq.ParquetFile, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    for batch in file.iter_batches(batch_size=READ_ROWS, columns=schema.names):
        rows = pa.Table.from_batches([batch]).filter(pc.is_valid(batch.column("object_id")))
        yield from rows.cast(schema).to_batches()


def score_file(fs: Any, file: FileWork, cfg: QualityConfig, metrics_root: str, tracks_root: str,
               suspects_root: str | None = None) -> dict:
    """Score one clustered boxes file (whole sequences, sorted by sequence, object and frame) in a task: its
    box_metrics rows, its tracks' statistics (`udfs.tracks.track_stats`) and, with `suspects_root`, its suspect
    rows (box_metrics rows flagged or with missing boxes before them: what the review queue reads) written under
    the roots, in the file's partition folder (`jobs.filepass`). {"rows": box_metrics rows written, "broken": the
    box_metrics suite's rules broken on them (`validation.broken_rules`), "unique": whether their keys are
    unique}: the gate's verdicts on what the task wrote, made on the rows before they were written."""
    metrics_schema = BOX_METRICS.file_schema()
    writers = TaskWriters(fs, file)
    rows, broken, unique = 0, [], True
    partition = dict([file.folder.split("=", 1)])  # the file's job_name, a constant of its rows
    with fs.open_input_file(file.path) as f:
        batches = _tracked_tables(pq.ParquetFile(f), pa.schema([BOXES.file_schema().field(c) for c in FILE_COLS]))
        for table in whole_sequences(batches, ("sequence_id",), CHUNK_ROWS):
            scored = detect_table(table, cfg, metrics_schema, keys=("sequence_id",))
            writers.write(metrics_root, scored)
            writers.write(tracks_root, track_stats(scored))
            if suspects_root:
                writers.write(suspects_root, scored.filter(pc.or_(
                    pc.greater(pc.list_value_length(scored["flags"]), 0), pc.greater(scored["missing_before"], 0))))
            rows += scored.num_rows
            broken.append(broken_rules("box_metrics", scored, partition))
            unique = unique and unique_rows(scored, METRICS_FILE_KEY)  # (a sequence lies in one table only)
    writers.close()
    return {"rows": rows, "broken": merge_broken(broken), "unique": unique}


@dataclass(frozen=True)
class JobFiles:
    """What a job's finishing task reads besides its scoring tasks' outputs: its committed files of frames and
    sequences, of embedding_metrics and prediction_findings when they apply (None: not read), and whether it is
    queued (an audit job is not)."""

    frames: tuple[str, ...]
    sequences: tuple[str, ...]
    appearance: tuple[str, ...] | None = None
    findings: tuple[str, ...] | None = None
    queued: bool = True


JOB_COLUMNS = {  # what finish_job reads of each of a job's files
    "frames": (FRAMES, ["sequence_id", "frame_no", "frame_file"]),
    "sequences": (SEQUENCES, ["sequence_id", "source_ref", "labels_ref", "labels_read"]),
    "appearance": (EMBEDDING_METRICS, ["sequence_id", "frame_no", "object_id", "object_name", "label", "flags", "score"]),
    "findings": (PREDICTION_FINDINGS, [f.name for f in PREDICTION_FINDINGS.file_schema()])}


def _read_files(fs: Any, paths: list[str] | tuple[str, ...], schema: pa.Schema) -> pa.Table:
    """The rows of the Parquet `paths` (none: no rows), the columns of `schema`, cast to it."""
    tables = [pq.read_table(p, columns=schema.names, filesystem=fs).cast(schema) for p in paths]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _staged(fs: Any, root: str, file: FileWork) -> list[str]:
    """The files a pass staged under `root` in `file`'s partition folder (none when it wrote none)."""
    return [f.path for f in files_under(fs, posixpath.join(root, file.folder))]


def finish_job(fs: Any, file: FileWork, cfg: QualityConfig, inputs: dict[str, JobFiles], tracks_root: str,
               suspects_root: str, summary_root: str, queue_root: str) -> dict:
    """One job's track_summary and review queue in a task, from what its scoring tasks wrote (`score_file`: the
    tracks' statistics and the suspect rows, under the staged roots, in the job's folder `file.folder`) and the
    job's files named in `inputs` (`udfs.queue`), written under `summary_root` and `queue_root` (one file each).
    {"tracks": rows written, "queued": entries written, "broken": the review_queue suite's rules broken on them,
    "unique": whether their entries and ranks are unique}."""
    job = file.folder.split("=", 1)[1]
    given = inputs[job]
    stats = _read_files(fs, _staged(fs, tracks_root, file), STATS_SCHEMA)
    tracks = peer_scores(stats, cfg, TRACK_SUMMARY.file_schema())
    writers = TaskWriters(fs, file)
    writers.write(summary_root, tracks)
    out = {"tracks": tracks.num_rows, "queued": 0, "broken": {}, "unique": True}
    if given.queued:
        def read(name: str, paths: tuple[str, ...]) -> pa.Table:
            table, columns = JOB_COLUMNS[name]
            return _read_files(fs, paths, pa.schema([table.file_schema().field(c) for c in columns]))

        suspects = _read_files(fs, _staged(fs, suspects_root, file), BOX_METRICS.file_schema())
        queue = queue_entries(QUEUE_FILE, suspects, tracks, stats, read("frames", given.frames),
                              read("sequences", given.sequences),
                              None if given.appearance is None else read("appearance", given.appearance),
                              None if given.findings is None else read("findings", given.findings))
        writers.write(queue_root, queue)
        out |= {"queued": queue.num_rows, "broken": broken_rules("review_queue", queue, {"job_name": job}),
                "unique": unique_rows(queue, QUEUE_FILE_KEY) and unique_rows(queue, ("rank",))}
    writers.close()
    return out


def cluster_tracked(boxes: DataFrame) -> DataFrame:
    """Tracked boxes (the detector's columns) in the clustered order: range-partitioned by sequence (a sequence
    in one task) and sorted by sequence, object and frame, for boxes not stored that way (a lake of an older
    gtlake, or one written by another tool): written out, each file holds whole sequences."""
    return (_tracked(boxes, text=False).repartitionByRange(*SEQUENCE_KEYS)
            .sortWithinPartitions(*SEQUENCE_KEYS, "object_id", "frame_no"))


def track_summary(cfg: QualityConfig) -> Callable[[DataFrame], DataFrame]:
    """One row per track (its IoU distribution, compared with the tracks of its class in the job) of box_metrics
    rows: `metrics.transform(track_summary(cfg))`. The quality job computes the same statistics in its scoring
    tasks (`udfs.tracks.track_stats`) and compares them here (`peer_scored`)."""
    return lambda metrics: peer_scored(track_stats_reference(metrics), cfg)


def track_stats_reference(metrics: DataFrame) -> DataFrame:
    """Per track of box_metrics rows, the statistics of `udfs.tracks.track_stats`, as one Spark aggregation: the
    reference the kernel is tested equal to (where Spark's `mode` finds no tie: it picks any of those tied)."""
    return metrics.groupBy("job_name", "sequence_id", "object_id").agg(
        F.first("object_name").alias("object_name"), F.mode("label").alias("label"),
        F.count(F.lit(1)).cast("int").alias("n_boxes"),
        F.min("frame_no").alias("first_frame"), F.max("frame_no").alias("last_frame"),
        F.avg("iou_prev").alias("iou_mean"), F.percentile_approx("iou_prev", 0.5).alias("iou_median"),
        F.mode(F.round("iou_prev", 2)).alias("iou_mode"), F.min("iou_prev").alias("iou_min"),
        F.percentile_approx("iou_prev", 0.1).alias("iou_p10"),
        F.percentile_approx("iou_pred", 0.1).alias("iou_pred_p10"),
        F.sum((F.size("flags") > 0).cast("int")).cast("int").alias("flagged_boxes"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_list(F.when(F.size("flags") > 0, F.col("flags"))))))
        .alias("box_flags"),  # (only the flagged boxes' lists are collected: most are empty)
        F.min_by(F.struct("frame_no", "object_name", "label"),
                 F.struct(F.coalesce("iou_pred", F.lit(float("inf"))), "frame_no")).alias("_worst"),
    ).withColumn("missing_frames", (F.col("last_frame") - F.col("first_frame") + 1 - F.col("n_boxes")).cast("int")
                 ).select("*", *[F.col(f"_worst.{c}").alias(f"worst_{w}")
                                 for c, w in (("frame_no", "frame"), ("object_name", "name"), ("label", "label"))]
                          ).drop("_worst")


def _with_outliers(scored: DataFrame, cfg: QualityConfig) -> DataFrame:
    """track_summary rows of tracks with their peer_z: track_outlier added to the flags of those far below."""
    outlier = (F.col("peer_z") < -cfg.track_outlier_z) & (F.col("n_boxes") >= 10)
    return scored.withColumn("flags", F.when(outlier, F.array_union("box_flags", F.array(F.lit("track_outlier"))))
                             .otherwise(F.col("box_flags"))).select(*TRACK_SUMMARY.names)


def _spread(cfg: QualityConfig) -> Column:
    """The peers' robust deviation (1.4826 MAD, the MAD at least `track_outlier_min_spread`)."""
    return 1.4826 * F.greatest(F.col("_mad"), F.lit(cfg.track_outlier_min_spread))


def peer_scored(tracks: DataFrame, cfg: QualityConfig) -> DataFrame:
    """track_summary rows of per-track statistics (`track_stats_reference`'s columns): each track's iou_pred_p10
    compared with its peers' (robust z-score), track_outlier far below them. The peers' median and MAD as window
    aggregates over the tracks of each (job, label): one shuffle, no join (`peer_scored_joined`, the reference
    it is tested equal to, joins the per-class aggregates back)."""
    classes = Window.partitionBy("job_name", "label")
    peer = (F.col("n_boxes") >= 10) & F.col("iou_pred_p10").isNotNull() & F.col("label").isNotNull()
    x = F.col("iou_pred_p10")
    scored = (tracks.withColumn("_med", F.percentile_approx(F.when(peer, x), 0.5).over(classes))
              .withColumn("_n", F.count(F.when(peer, F.lit(1))).over(classes))
              .withColumn("_mad", F.percentile_approx(F.when(peer, F.abs(x - F.col("_med"))), 0.5).over(classes))
              .withColumn("peer_z", F.when(F.col("_n") >= cfg.min_peers, (x - F.col("_med")) / _spread(cfg))))
    return _with_outliers(scored, cfg)


def peer_scored_joined(tracks: DataFrame, cfg: QualityConfig) -> DataFrame:
    """`peer_scored` as per-class aggregates joined back to the tracks (a track of no label has no peers): the
    reference the window form is tested equal to."""
    tracks = tracks.persist()  # small (one row per track), used three times below
    # Peers: tracks of the same class in the same job, long enough to have a distribution. A track is compared on how
    # well its boxes follow its own motion (iou_pred), not on frame-to-frame IoU, which is low for fast objects.
    peers = tracks.where((F.col("n_boxes") >= 10) & F.col("iou_pred_p10").isNotNull())
    med = peers.groupBy("job_name", "label").agg(F.percentile_approx("iou_pred_p10", 0.5).alias("_med"),
                                                 F.count(F.lit(1)).alias("_n"))
    mad = (peers.join(med, ["job_name", "label"], how="inner")
           .groupBy("job_name", "label").agg(F.percentile_approx(F.abs(F.col("iou_pred_p10") - F.col("_med")), 0.5)
                                             .alias("_mad")))
    scored = (tracks.join(med, ["job_name", "label"], how="left").join(mad, ["job_name", "label"], how="left")
              .withColumn("peer_z", F.when(F.col("_n") >= cfg.min_peers,
                                           (F.col("iou_pred_p10") - F.col("_med")) / _spread(cfg))))
    return _with_outliers(scored, cfg)


MODEL_COLS = ["model", "model_left", "model_top", "model_width", "model_height"]  # the model's box of an entry


def _model_findings(findings: DataFrame, tracks: DataFrame) -> tuple[DataFrame, DataFrame]:
    """`prediction_findings` rows as queue reasons: those about a labeled object (badly_located, class_disagrees;
    its object_name from its track) and the overlooked objects (no object: one entry per model box)."""
    weight = F.coalesce(*[F.when(F.col("reason") == r, F.lit(REASON_WEIGHTS[r])) for r in PREDICTION_REASONS])
    rows = findings.select("job_name", "sequence_id", "frame_no", "object_id", "label", F.array("reason").alias("flags"),
                           weight.alias("score"), "model", *[F.col(c[6:]).alias(c) for c in MODEL_COLS[1:]])
    names = tracks.select("job_name", "sequence_id", "object_id", "object_name")
    about = (rows.where(F.col("object_id").isNotNull()).join(names, ["job_name", "sequence_id", "object_id"], how="left"))
    overlooked = (rows.where(F.col("object_id").isNull()).withColumn("object_name", F.lit(None).cast("string"))
                  .dropDuplicates(["job_name", "sequence_id", "frame_no", *MODEL_COLS[1:]]))
    return about, overlooked


def review_queue(boxes: DataFrame, tracks: DataFrame, frames: DataFrame, sequences: DataFrame,
                 appearance: DataFrame | None = None, findings: DataFrame | None = None,
                 worst: DataFrame | None = None) -> DataFrame:
    """Every suspect (frame, object) of `box_metrics` rows (and of `embedding_metrics` and `prediction_findings`
    rows, when given), all its reasons merged, ranked by score within the job. An overlooked object (a model's
    finding with no label) is an entry of its own, object_id null, with the model's box. A track_outlier is
    queued on the track's box least like its own motion: found in `boxes`, or, when given, in `worst` (per
    track: worst_frame, worst_name, worst_label, as `udfs.tracks.track_stats` gives them), so that `boxes` may
    be only the suspect rows (flagged, or with missing boxes before them)."""
    cols = ["job_name", "sequence_id", "frame_no", "object_id", "object_name", "label", "flags", "score"]
    no_model = [F.lit(None).cast("string").alias("model"), *[F.lit(None).cast("double").alias(c) for c in MODEL_COLS[1:]]]
    flagged = boxes.where(F.size("flags") > 0).select(*cols, *no_model)
    if appearance is not None:
        flagged = flagged.unionByName(appearance.where(F.size("flags") > 0).select(*cols, *no_model))
    overlooked = None
    if findings is not None:
        about, overlooked = _model_findings(findings, tracks)
        flagged = flagged.unionByName(about.select(*cols, *MODEL_COLS))
    labels = tracks.select("job_name", "sequence_id", "object_id", F.col("label").alias("_track_label"))
    missing = (boxes.where(F.col("missing_before") > 0)
               .select("job_name", "sequence_id", "object_id", "object_name",
                       F.explode(F.sequence(F.col("frame_no") - F.col("missing_before"), F.col("frame_no") - 1))
                       .alias("frame_no"))
               .join(labels, ["job_name", "sequence_id", "object_id"], how="left")
               .select("job_name", "sequence_id", "frame_no", "object_id", "object_name",
                       F.col("_track_label").alias("label"), F.array(F.lit("missing_box")).alias("flags"),
                       F.lit(REASON_WEIGHTS["missing_box"]).alias("score"), *no_model))
    track = ["job_name", "sequence_id", "object_id"]
    outlying = tracks.where(F.array_contains("flags", "track_outlier")).select(*track)
    if worst is None:
        by_fit = Window.partitionBy(*track).orderBy(F.col("iou_pred").asc_nulls_last(), "frame_no")
        at = (boxes.join(outlying, track, how="inner").withColumn("_r", F.row_number().over(by_fit))
              .where(F.col("_r") == 1))
    else:
        at = outlying.join(worst.select(*track, F.col("worst_frame").alias("frame_no"),
                                        F.col("worst_name").alias("object_name"), F.col("worst_label").alias("label")),
                           track, how="inner")
    outliers = at.select("job_name", "sequence_id", "frame_no", "object_id", "object_name", "label",
                         F.array(F.lit("track_outlier")).alias("flags"), F.lit(TRACK_OUTLIER_SCORE).alias("score"),
                         *no_model)
    model_box = F.when(F.col("model").isNotNull(), F.struct(*MODEL_COLS))
    merged = (flagged.unionByName(missing).unionByName(outliers)
              .groupBy("job_name", "sequence_id", "frame_no", "object_id")
              .agg(F.first("object_name", ignorenulls=True).alias("object_name"),
                   F.first("label", ignorenulls=True).alias("label"),
                   F.array_sort(F.array_distinct(F.flatten(F.collect_list("flags")))).alias("reasons"),
                   F.max("score").alias("_top"), F.min(model_box).alias("_model"))
              .select("*", *[F.col(f"_model.{c}").alias(c) for c in MODEL_COLS]).drop("_model"))
    if overlooked is not None:
        merged = merged.unionByName(overlooked.select(
            "job_name", "sequence_id", "frame_no", "object_id", "object_name", "label", F.col("flags").alias("reasons"),
            F.col("score").alias("_top"), *MODEL_COLS))
    ranked = merged.withColumn("score", F.col("_top") + 0.25 * (F.size("reasons") - 1)).withColumn(
        "rank", F.row_number().over(Window.partitionBy("job_name").orderBy(
            F.col("score").desc(), "sequence_id", "frame_no", F.col("object_id").asc_nulls_last(),
            *MODEL_COLS[1:])).cast("int"))
    refs = sequence_refs(sequences)
    files = frames.select("job_name", "sequence_id", "frame_no", "frame_file")  # unique: ingest refuses duplicates
    return (ranked.join(files, ["job_name", "sequence_id", "frame_no"], how="left")
            .join(refs, ["job_name", "sequence_id"], how="left").select(*REVIEW_QUEUE.names))


def audit_jobs(jobs: DataFrame | None) -> list[str]:
    """The names of the audit jobs among the `jobs` rows (none in a lake ingested before the table existed)."""
    if jobs is None:
        return []
    return sorted(r["job_name"] for r in jobs.where(F.col("role") == "audit").select("job_name").collect())


QUEUE_FORMAT = 2  # 2: overlooked objects (object_id null) and the model's box; a lake scored before is scored again


def current_predictions(predicted: dict[str, dict], ingested: dict[str, dict]) -> dict[str, str]:
    """job -> the predictions run whose prediction_findings apply to the job now (made from its current boxes);
    `predicted` and `ingested` are the predictions and ingest ledgers."""
    return {j: e["run_id"] for j, e in predicted.items()
            if e.get("ingest_run") and e.get("ingest_run") == ingested.get(j, {}).get("run_id")}


def _fingerprint(ingest_entry: dict, cfg: QualityConfig, embed_run: str | None = None,
                 predictions_run: str | None = None) -> str:
    text = json.dumps({"ingest_run": ingest_entry.get("run_id"), "config": asdict(cfg), "queue": QUEUE_FORMAT,
                       **({"embed_run": embed_run} if embed_run else {}),
                       **({"predictions_run": predictions_run} if predictions_run else {})}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _table(spark: SparkSession, lake: Lake, name: str, jobs: list[str]) -> DataFrame:
    df = read_partitions(spark, lake, name, jobs)
    if df is None:
        raise FileNotFoundError(f"{lake.display(lake.table_path(name))}: no partition of {', '.join(jobs)}")
    return df


STATS_SPARK_SCHEMA = from_arrow_schema(STATS_SCHEMA.append(pa.field("job_name", pa.string())))


def _score(run: Run, cfg: QualityConfig, files: list[FileWork], roots: dict[str, str]) -> Verdicts:
    """Score the clustered boxes `files` in tasks (`score_file`): box_metrics staged (`run.staged`), the tracks'
    statistics and the suspect rows under `roots`."""
    t0 = time.monotonic()
    done = run_files(run.spark, run.lake, files, partial(score_file, cfg=cfg, metrics_root=run.staged_root(
        "box_metrics"), tracks_root=roots["tracks_root"], suspects_root=roots["suspects_root"]))
    run.log(f"  staged box_metrics ({sum(d['rows'] for d in done)} rows from {len(files)} files) in "
            f"{time.monotonic() - t0:.1f}s")
    return Verdicts.of(done)


def _finish(run: Run, cfg: QualityConfig, inputs: dict[str, JobFiles], roots: dict[str, str],
            boxes: dict[str, int]) -> Verdicts:
    """Each job's track_summary and review queue in a task of its own (`finish_job`), staged (`run.staged`); the
    verdicts on the queue's rows. A job is the unit of work (`jobs.filepass`, its path unused), the tasks balanced
    by the jobs' tracked `boxes`."""
    t0 = time.monotonic()
    jobs = numbered([(f"job_name={j}", pafs.FileInfo(j, size=1 + boxes.get(j, 0))) for j in sorted(inputs)])
    done = run_files(run.spark, run.lake, jobs, partial(finish_job, cfg=cfg, inputs=inputs, **roots,
                                                         summary_root=run.staged_root("track_summary"),
                                                         queue_root=run.staged_root("review_queue")))
    run.log(f"  staged track_summary ({sum(d['tracks'] for d in done)} tracks) and review_queue "
            f"({sum(d['queued'] for d in done)} entries) in {time.monotonic() - t0:.1f}s")
    return Verdicts.of([d for j, d in zip(sorted(inputs), done) if inputs[j].queued])  # (audit jobs write none)


INPUTS = ("sequences", "boxes", "frames", "shapes", "jobs", "embedding_metrics", "prediction_findings")
OUTPUTS = ("box_metrics", "track_summary", "review_queue")


def _work(run: Run, config: QualityJobConfig) -> Outcome:
    """Score every track of the jobs whose boxes changed since the last quality run."""
    spark, lake, gate, cfg = run.spark, run.lake, run.gate, config.quality
    ingested = lake.ledger("ingest")
    done = lake.ledger("quality")
    embedded = current_runs(lake.ledger("embed"), ingested)
    predicted = current_predictions(lake.ledger("predictions"), ingested)

    def fingerprint(j: str) -> str:
        return _fingerprint(ingested[j], cfg, embedded.get(j), predicted.get(j))

    jobs = sorted(j for j in ingested if not j.startswith("_") and done.get(j, {}).get("fingerprint") != fingerprint(j))
    # Scored jobs whose output partitions are not as committed are scored again; a job whose input partitions
    # are not as committed stops the run (scoring nothing would delete its output).
    damaged = integrity.damaged_jobs(lake, integrity.job_scope(OUTPUTS, [j for j in done if j in ingested
                                                                         and j not in jobs]))
    for j, found in sorted(damaged.items()):
        run.say(f"{j}: scored again, {found[0].message()}")
    jobs = sorted(set(jobs) | set(damaged))
    integrity.require(lake, INPUTS, jobs, run.name)
    # A job re-ingested without boxes keeps no quality rows: its partitions are replaced by nothing.
    scored = [j for j in jobs if lake.isdir(lake.path("boxes", f"job_name={j}"))]
    run.say(f"{len(jobs)} jobs to score ({len(ingested)} ingested)")
    if not jobs:
        return run.unchanged()

    queued = 0
    if scored:
        sequences = gate.read("sequences", lambda: _table(spark, lake, "sequences", scored), jobs=scored)
        boxes = gate.read("boxes", lambda: _table(spark, lake, "boxes", scored), refs={"sequences": sequences},
                          jobs=scored)
        shapes = read_partitions(spark, lake, "shapes", scored, schema=SHAPES.spark_schema()) or \
            spark.createDataFrame([], SHAPES.spark_schema())  # no suite: read for the frames' counts
        gate.read("frames", lambda: _table(spark, lake, "frames", scored),
                  refs={"sequences": sequences, "boxes": boxes, "shapes": shapes}, jobs=scored)
        audits = audit_jobs(gate.read("jobs", lambda: read_partitions(spark, lake, "jobs", scored), jobs=scored))
        gate.enforce()
        # Boxes ingest wrote clustered (its ledger says so, integrity.require found the files as committed, and
        # their footers show no sequence in two files) are scored straight from their files; others (a lake of an
        # older gtlake) are copied into that order first.
        files = {j: data_files(lake, lake.path("boxes", f"job_name={j}")) for j in scored}
        footers = Footers(lake)  # each file's footer read once for both questions below
        clustered = [j for j in scored if clustered_partition(lake, ingested[j], BOXES, files[j], footers)]
        others = sorted(set(scored) - set(clustered))
        if others:
            run.say(f"{len(others)} jobs' boxes not clustered: copied in sequence order first")
            copy = lake.staging(run.run_id, "_work", "boxes")
            (cluster_tracked(boxes.where(F.col("job_name").isin(others))).write.partitionBy("job_name")
             .parquet(lake.uri(copy)))
            files.update({j: data_files(lake, posixpath.join(copy, f"job_name={j}")) for j in others})
        # Tracked boxes per file, from its footer (None: it cannot tell). A file with none (a detection job's) has
        # nothing to score: left out, so that the tasks, balanced by the bytes they read, are balanced by the work.
        tracked = {f.path: non_null_rows(lake, [f], "object_id", footers) for j in scored for f in files[j]}
        roots = {"tracks_root": run.lake.staging(run.run_id, "_work", "track_stats"),
                 "suspects_root": run.lake.staging(run.run_id, "_work", "suspects")}
        scoring = _score(run, cfg, numbered([(f"job_name={j}", f) for j in scored for f in files[j]
                                             if tracked[f.path] != 0]), roots)
        with_flags = [j for j in scored if j in embedded]
        if with_flags:
            gate.read("embedding_metrics", lambda: read_partitions(spark, lake, "embedding_metrics", with_flags))
        with_findings = [j for j in scored if j in predicted]
        if with_findings:
            gate.read("prediction_findings", lambda: read_partitions(spark, lake, "prediction_findings", with_findings),
                      refs={"sequences": sequences}, jobs=with_findings)
        gate.enforce()

        def committed(table: str, j: str) -> tuple[str, ...]:
            return tuple(f.path for f in data_files(lake, lake.path(table, f"job_name={j}")))

        # An audit job's labels are scored as a post-audit check (box_metrics, track_summary), not queued:
        # the review queue is the labelers'.
        inputs = {j: JobFiles(committed("frames", j), committed("sequences", j),
                              committed("embedding_metrics", j) if j in embedded else None,
                              committed("prediction_findings", j) if j in predicted else None,
                              queued=j not in audits) for j in scored}
        queueing = _finish(run, cfg, inputs, roots, {j: sum(tracked[f.path] or 0 for f in files[j]) for j in scored})
        # Tracked boxes read: from the footers of the files scored (their null counts), else counted by Spark.
        known = [tracked[f.path] for j in clustered for f in files[j]]
        from_footers = None if None in known else sum(known)
        counted = others if from_footers is not None else scored
        n_in = (from_footers or 0) + (boxes.where(F.col("object_id").isNotNull() & F.col("job_name").isin(counted))
                                 .count() if counted else 0)
        n_out = sum(run.staged_rows("box_metrics").values())
        run.counts.add("tracked_box", seen=n_in, out=n_out)
        run.balance(f"{n_in} tracked boxes read but {n_out} scored")
        queued = sum(run.staged_rows("review_queue").values())
        # The row-level rules and each file's keys were checked by the tasks on the rows they wrote: only the
        # rules they could not settle (and the schema) are checked on the staged files.
        gate.check_staged("box_metrics", run.staged["box_metrics"], unique=lambda: unique_in_files(
            spark, lake, run.staged["box_metrics"], ("sequence_id", "frame_no", "object_id"), checked=scoring.unique),
            held=scoring.held)
        # Each job's queue is one file (`finish_job`), its entries and ranks found unique by the task that wrote it.
        gate.check_staged("review_queue", run.staged["review_queue"], held=queueing.held, unique=lambda: frozenset(
            {tuple(ENTRY_KEY), ("job_name", "rank")}) if queueing.unique and one_file_each(
            lake, run.staged["review_queue"]) else frozenset())
    for table in OUTPUTS:
        run.replace(table, jobs)
    now = datetime.now(timezone.utc).isoformat()
    gate.enforce()  # before sealing output that a broken rule keeps out
    sealed = gate.seals_for(run.staged, ("box_metrics", "review_queue"), jobs)
    ledger = {j: {"fingerprint": fingerprint(j), "run_id": run.run_id,
                  "scored_at": now, "config": asdict(cfg), **({"embed_run": embedded[j]} if j in embedded else {}),
                  **({"predictions_run": predicted[j]} if j in predicted else {}), "seals": sealed[j]}
              for j in jobs}
    return Outcome(jobs, ledger, result={"queued": queued})


STEP = Step("quality", reads=INPUTS, writes=OUTPUTS, work=_work, result=QualityResult)


def run(spark: SparkSession, config: QualityJobConfig, log: Callable[[str], None] = print) -> QualityResult:
    """Score every track of the jobs whose boxes changed since the last quality run (`STEP`, `jobs.runner`)."""
    return STEP.run(spark, config, log)
