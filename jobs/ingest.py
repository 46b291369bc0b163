"""The ingest job: a Ground Truth output tree -> sequences, frames, boxes, shapes, worker_responses,
rejected and runs in the Parquet lake.

    run(spark, IngestConfig(input=..., lake=...))

Only job folders whose inputs changed since the last run (the ledger's fingerprints) are read.
Their partitions (job_name=<job>) are rebuilt in staging and swapped in by one atomic commit,
after checking that every record read is either in a table or in `rejected`.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gtlake import storage
from gtlake.jobs import seqlabel
from gtlake.jobs.common import new_run_id, partition_move, read_folder, run_move, run_row, stage, staged_counts
from gtlake.jobs.gate import Gate, check_on_failure
from gtlake.jobs.layout import INPUT_PARTITION, JobFolder, discover_jobs, resolve_ref
from gtlake.jobs.manifest import VIDEO_TYPES, SequenceRow, parse_manifest
from gtlake.jobs.responses import parse_file_batch
from gtlake.lake import Lake
from gtlake.records import Counts, Reject, UnbalancedRun
from gtlake.schemas import BOXES, FRAMES, REJECTED, SEQUENCES, SHAPES, WORKER_RESPONSES

WRITTEN_TABLES = (SEQUENCES, FRAMES, BOXES, SHAPES, WORKER_RESPONSES, REJECTED)


@dataclass(frozen=True)
class IngestConfig:
    """Where to read Ground Truth output from and where the lake is."""

    input: str
    lake: str
    run_id: str | None = None
    on_failure: str = "fail"  # data-quality gate on the staged sequences and boxes: fail (commit nothing) or warn


@dataclass
class IngestResult:
    """What a run did."""

    run_id: str
    status: str
    counts: Counts
    jobs_processed: list[str] = field(default_factory=list)
    jobs_unchanged: list[str] = field(default_factory=list)
    seconds: float = 0.0
    checks: str = ""  # what its data-quality gate checked and found (Gate.summary)
    check_seconds: float = 0.0  # of `seconds`, the time spent in those checks


def _normalize_root(path: str) -> str:
    return path.rstrip("/") if storage.is_s3(path) else os.path.abspath(path)


# -- stage 1: manifests (driver) ------------------------------------------------------------------
def read_manifests(jobs: list[JobFolder], counts: Counts) -> tuple[list[SequenceRow], list[Reject]]:
    """Sequences of every job's output manifest, and the refused lines."""
    rows: list[SequenceRow] = []
    rejects: list[Reject] = []
    for job in jobs:
        data = storage.read_bytes(job.manifest.path)
        if not data.strip():
            rejects.append(Reject(job.name, job.manifest.path, "file", "job_folder", "empty_manifest",
                                  "the output manifest is empty: the job has no output yet"))
            counts.add("job_folder", seen=1, rejected=1)
            continue
        counts.add("job_folder", seen=1, out=1)
        r, rej, seen = parse_manifest(data, job.name, job.manifest.path)
        rows += r
        rejects += rej
        counts.add("sequence", seen=seen, rejected=len(rej))
    return rows, rejects


# -- stage 2: which labels files to read (driver) -------------------------------------------------
@dataclass(frozen=True)
class LabelsRef:
    """A labels file to read for a sequence."""

    path: str  # storage path
    sequence: SequenceRow


def plan_labels(sequences: list[SequenceRow], jobs: dict[str, JobFolder], files: list[storage.FileInfo],
                input_root: str, counts: Counts) -> tuple[list[LabelsRef], list[Reject]]:
    """Resolve each own video sequence's labels_ref in the input; refuse missing, empty or repeated files."""
    listed = {f.path: f for f in files}
    refs: list[LabelsRef] = []
    rejects: list[Reject] = []
    seen_paths: dict[str, str] = {}
    names = set(listed)
    for s in sequences:
        if s.task_type not in VIDEO_TYPES or s.inherited or s.labels_ref is None:
            continue
        loc = f"line {s.manifest_line}, attribute {s.label_attribute!r}"
        path = resolve_ref(s.labels_ref, jobs, input_root, names)
        reason = None
        if path is None:
            reason = ("missing_ref", f"labels file {s.labels_ref} is not in the input "
                                     f"(looked for '<job>/annotations/...' under {input_root})")
        elif listed[path].size == 0:
            reason = ("empty_file", f"labels file {path} is empty")
        elif ":" in path.split("://", 1)[-1]:
            reason = ("unreadable_path", f"Spark cannot read a path containing ':': {path}")
        elif path in seen_paths:
            reason = ("duplicate_labels_ref", f"labels file {path} is also the labels of {seen_paths[path]}")
        if reason:
            rejects.append(Reject(s.job_name, s.source_uri, loc, "labels_file", *reason, s.labels_ref))
            continue
        seen_paths[path] = s.sequence_id
        refs.append(LabelsRef(path, s))
    counts.add("labels_file", seen=len(refs) + len(rejects), rejected=len(rejects))
    return refs, rejects


# -- stage 3: labels files (Spark) ----------------------------------------------------------------
@dataclass
class ParsedLabels:
    """Frame-level rows of the labels files, typed fast path and raw slow path, and the files' refusals."""

    parts: list[tuple[DataFrame, bool]]  # (frame rows, typed)
    missing: DataFrame  # files that parsed to nothing (whitespace only)

    def union(self, fn: Callable[[DataFrame, bool], DataFrame]) -> DataFrame:
        """fn applied to each part, unioned."""
        out = None
        for fr, typed in self.parts:
            df = fn(fr, typed)
            out = df if out is None else out.unionByName(df)
        return out

def labels_frames(spark: SparkSession, refs: list[LabelsRef], run_id: str, work: str) -> ParsedLabels:
    """Parse the labels files once into frame rows in a work Parquet folder (`work`, a Spark URI), which every table is
    then derived from: typed first; files that come out corrupt are parsed again with the raw schema."""
    ref_df = F.broadcast(spark.createDataFrame(
        [(r.path, r.sequence.job_name, r.sequence.sequence_id, r.sequence.task_type, r.sequence.class_map, r.path)
         for r in refs],
        "_path string, job_name string, sequence_id string, task_type string, "
        "class_map map<string,string>, source_uri string"))

    def frames_of(paths: list[str], typed: bool) -> DataFrame:
        raw = seqlabel.read_labels(spark, [storage.spark_path(p) for p in paths], typed=typed)
        raw = raw.withColumn("_path", seqlabel.storage_path(F.col("_path")))
        out = f"{work}/{'typed' if typed else 'raw'}"
        seqlabel.with_frames(raw.join(ref_df, on="_path", how="inner"), typed=typed).write.parquet(out)
        return spark.read.parquet(out)

    fast = frames_of([r.path for r in refs], typed=True)
    corrupt = [r["_path"] for r in fast.where(F.col("file_reason") == "malformed_labels_file")
               .select("_path").distinct().collect()]
    parts = [(fast.where(F.col("file_reason").isNull() | (F.col("file_reason") != "malformed_labels_file")), True)]
    if corrupt:
        parts.append((frames_of(corrupt, typed=False), False))
    seen = parts[0][0].select("_path")
    for fr, _ in parts[1:]:
        seen = seen.unionByName(fr.select("_path"))
    missing = ref_df.join(seen.distinct(), on="_path", how="left_anti").select(
        F.lit(run_id).alias("run_id"), "source_uri", F.lit("file").alias("locator"),
        F.lit("labels_file").alias("record_kind"), F.lit("empty_file").alias("reason_code"),
        F.lit("the labels file holds no JSON document").alias("detail"), F.lit(None).cast("string").alias("record"),
        "job_name", F.lit("ingest").alias("step"))
    return ParsedLabels(parts, missing)


# -- stage 4: worker responses (Spark, Python parsing on executors) ------------------------------
def worker_responses(spark: SparkSession, jobs: list[JobFolder],
                     run_id: str) -> tuple[DataFrame, DataFrame, dict[str, int]]:
    """(rows, refused, records seen per kind) of every worker-response file of the jobs."""
    items = [(f.path, j.name) for j in jobs for f in j.responses]
    sc = spark.sparkContext
    n_slices = max(1, min(len(items) // 200 + 1, sc.defaultParallelism * 4))
    tagged = sc.parallelize(items, n_slices).mapPartitions(lambda it: parse_file_batch(list(it))).persist()
    seen = tagged.filter(lambda t: t[0] == "seen").map(lambda t: (t[1], t[2])).reduceByKey(lambda a, b: a + b)
    seen = dict(seen.collect()) if items else {}
    rows = spark.createDataFrame(tagged.filter(lambda t: t[0] == "row").map(lambda t: t[1]),
                                 WORKER_RESPONSES.spark_schema())
    refused = spark.createDataFrame(tagged.filter(lambda t: t[0] == "reject").map(lambda t: t[1].row(run_id)),
                                    REJECTED.spark_schema())
    return rows, refused, seen


def run(spark: SparkSession, config: IngestConfig, log: Callable[[str], None] = print) -> IngestResult:
    """Ingest every new or changed job folder under config.input into the lake at config.lake."""
    check_on_failure(config.on_failure)  # a bad setting fails now, not after the work
    t0 = time.monotonic()
    started = datetime.now(timezone.utc)
    run_id = config.run_id or new_run_id()
    lake = Lake(config.lake)
    input_root = _normalize_root(config.input)
    counts = Counts()
    with lake.lock():
        files = storage.list_files(input_root)
        all_jobs, folder_rejects = discover_jobs(files)
        ledger = lake.ledger()
        input_state = json.dumps(sorted((r.source_uri, r.reason_code) for r in folder_rejects))
        todo = [j for j in all_jobs if ledger.get(j.name, {}).get("fingerprint") != j.fingerprint]
        unchanged = [j.name for j in all_jobs if j not in todo]
        input_changed = ledger.get(INPUT_PARTITION, {}).get("fingerprint") != input_state
        log(f"ingest {run_id}: {len(files)} files, {len(all_jobs)} job folders under {input_root} "
            f"({len(todo)} new or changed, {len(unchanged)} unchanged)")
        if not todo and not input_changed:
            row = run_row("ingest", run_id, started, "no_new_input", config.input, counts, [])
            lake.commit(run_id, [run_move(lake, run_id, row)], {})
            return IngestResult(run_id, "no_new_input", counts, [], unchanged, time.monotonic() - t0)

        counts.add("job_folder", seen=len(folder_rejects), rejected=len(folder_rejects))
        sequences, rejects = read_manifests(todo, counts)
        rejects = folder_rejects + rejects
        refs, ref_rejects = plan_labels(sequences, {j.name: j for j in all_jobs}, files, input_root, counts)
        rejects += ref_rejects
        log(f"ingest {run_id}: {len(sequences)} sequences from {len(todo)} manifests; reading {len(refs)} labels files "
            f"and {sum(len(j.responses) for j in todo)} worker-response files")

        staged: dict[str, str] = {}
        staged["sequences"] = stage(spark.createDataFrame([s.row() for s in sequences], SEQUENCES.spark_schema()),
                                     SEQUENCES, lake, run_id, log)
        refused_parts: list[DataFrame] = []
        parsed = None
        if refs:
            t_parse = time.monotonic()
            parsed = labels_frames(spark, refs, run_id, lake.uri(lake.staging(run_id, "_work", "labels")))
            log(f"ingest {run_id}: parsed {len(refs)} labels files in {time.monotonic() - t_parse:.1f}s")
            staged["frames"] = stage(parsed.union(lambda fr, t: seqlabel.frames_table(fr)), FRAMES, lake, run_id, log)
            staged["boxes"] = stage(parsed.union(lambda fr, t: seqlabel.accepted(seqlabel.with_boxes(fr, t), BOXES.names)),
                                     BOXES, lake, run_id, log)
            staged["shapes"] = stage(parsed.union(
                lambda fr, t: seqlabel.accepted(seqlabel.with_shapes(fr, t), SHAPES.names)), SHAPES, lake, run_id, log)
            refused_parts += [
                parsed.missing,
                parsed.union(lambda fr, t: seqlabel.refused_files(fr, run_id)),
                parsed.union(lambda fr, t: seqlabel.refused_frames(fr, run_id)),
                parsed.union(lambda fr, t: seqlabel.refused(seqlabel.with_boxes(fr, t), "box", run_id)),
                parsed.union(lambda fr, t: seqlabel.refused(seqlabel.with_shapes(fr, t), "shape", run_id)),
            ]
            listed = parsed.union(lambda fr, t: seqlabel.listed_frames(fr).select(
                F.greatest(F.size(F.col("f")["annotations"]), F.lit(0)).alias("boxes"),
                *[F.greatest(F.size(F.col("f")[k]), F.lit(0)).alias(k) for k, _ in seqlabel.SHAPE_LISTS]))
            agg = listed.agg(F.count(F.lit(1)).alias("frames"), F.sum("boxes").alias("boxes"),
                             *[F.sum(k).alias(k) for k, _ in seqlabel.SHAPE_LISTS]).first()
            counts.add("frame", seen=agg["frames"])
            counts.add("box", seen=agg["boxes"] or 0)
            counts.add("shape", seen=sum(agg[k] or 0 for k, _ in seqlabel.SHAPE_LISTS))
        wr_rows, wr_refused, wr_seen = worker_responses(spark, todo, run_id)
        staged["worker_responses"] = stage(wr_rows, WORKER_RESPONSES, lake, run_id, log)
        for kind, n in wr_seen.items():
            counts.add(kind, seen=n)
        refused_parts.append(wr_refused)
        py_refused = spark.createDataFrame([r.row(run_id) for r in rejects], REJECTED.spark_schema())
        refused = py_refused
        for part in refused_parts:
            refused = refused.unionByName(part)
        staged["rejected"] = stage(refused, REJECTED, lake, run_id, log)

        # Count what was actually written, and check it against what was read.
        written = {t: sum(staged_counts(lake, p, ["job_name"]).values()) for t, p in staged.items()}
        refused_by_kind = {k[0]: n for k, n in staged_counts(lake, staged["rejected"], ["record_kind"]).items()}
        for kind, table in (("sequence", "sequences"), ("frame", "frames"), ("box", "boxes"), ("shape", "shapes"),
                            ("worker_answer", "worker_responses")):
            counts.add(kind, out=written.get(table, 0))
        # Labels files: each one planned is parsed or refused by Spark (malformed, holding no document);
        # those refused while planning (missing, empty, ...) were counted then.
        refused_by_spark = refused_by_kind.get("labels_file", 0) - counts.rejected["labels_file"]
        counts.add("labels_file", out=len(refs) - refused_by_spark, rejected=refused_by_spark)
        for kind in ("frame", "box", "shape", "worker_answer", "worker_response_file"):
            counts.add(kind, rejected=refused_by_kind.get(kind, 0))
        for kind in ("job_folder", "sequence"):
            if refused_by_kind.get(kind, 0) != counts.rejected[kind]:
                raise UnbalancedRun(f"ingest {run_id}: {kind} rejections staged {refused_by_kind.get(kind, 0)} "
                                    f"!= refused {counts.rejected[kind]}")
        bad = counts.unbalanced()
        jobs_done = [j.name for j in todo]
        if bad:
            detail = "; ".join(f"{k}: in {i} != out {o} + rejected {r}" for k, (i, o, r) in bad.items())
            row = run_row("ingest", run_id, started, "failed", config.input, counts, [], f"unbalanced counts: {detail}")
            lake.commit(run_id, [run_move(lake, run_id, row)], {})
            raise UnbalancedRun(f"ingest {run_id} not committed: {detail}")

        gate = Gate(spark, lake, run_id, "ingest", config.on_failure, log, started, config.input, counts)
        staged_sequences = read_folder(spark, lake, staged["sequences"], SEQUENCES.spark_schema())
        gate.check_staged("sequences", staged["sequences"])
        gate.check_staged("boxes", staged.get("boxes"), refs={"sequences": staged_sequences})
        gate.enforce()
        moves = gate.moves()
        moves.append(run_move(lake, run_id, run_row("ingest", run_id, started, "succeeded", config.input, counts,
                                                    jobs_done, gate.note())))
        partitions = jobs_done + [INPUT_PARTITION]
        for table in WRITTEN_TABLES:
            for job in partitions:
                if job == INPUT_PARTITION and table is not REJECTED:
                    continue
                step = ("step=ingest",) if table is REJECTED else ()  # each step owns its sub-partition of rejected
                moves.append(partition_move(lake, staged.get(table.name), table.name, f"job_name={job}", *step))
        now = datetime.now(timezone.utc).isoformat()
        sealed = gate.seals_for(staged, ("sequences", "boxes"), jobs_done)
        new_ledger = {j.name: {"fingerprint": j.fingerprint, "run_id": run_id, "ingested_at": now,
                               "seals": sealed[j.name]} for j in todo}
        new_ledger[INPUT_PARTITION] = {"fingerprint": input_state, "run_id": run_id, "ingested_at": now}
        lake.commit(run_id, moves, new_ledger)
    return IngestResult(run_id, "succeeded", counts, jobs_done, unchanged, time.monotonic() - t0,
                       gate.summary(), gate.seconds)
