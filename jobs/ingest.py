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
import posixpath
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import partial
from datetime import datetime, timezone
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gtlake import integrity, storage
from gtlake.jobs import seqlabel
from gtlake.jobs import seqlabel_arrow as arrow
from gtlake.jobs import seqlabel_repair as repair
from gtlake.jobs.common import has_rows, read_folder, read_table_or_empty, stage, staged_counts
from gtlake.jobs.filepass import FileWork, TaskWriters, Verdicts, numbered, read_work_file, run_files
from gtlake.jobs.files import data_files, unique_in_files, unique_rows
from gtlake.jobs.layout import INPUT_PARTITION, JobFolder, discover_jobs, resolve_ref
from gtlake.jobs.manifest import IMAGE_BOX_TYPES, SequenceRow, parse_manifest, same_job
from gtlake.jobs.responses import parse_file_batch
from gtlake.jobs.roles import job_rows
from gtlake.jobs.runner import Outcome, Run, Step
from gtlake.lake import Lake
from gtlake.records import Counts, Reject, UnbalancedRun
from gtlake.schemas import BOXES, FRAMES, JOBS, REJECTED, SEQUENCES, SHAPES, TABLES, WORKER_RESPONSES, Table
from gtlake.validation import SHAPE_COUNT_RULE, broken_rules, merge_broken

WRITTEN_TABLES = (SEQUENCES, FRAMES, BOXES, SHAPES, WORKER_RESPONSES, JOBS, REJECTED)
# What ingest writes for the same input: raised whenever that changes (a column, a reason, a rule of identity),
# so that the first run after an upgrade reads every job again and the lake is one format throughout.
INGEST_FORMAT = 2


@dataclass(frozen=True)
class IngestConfig:
    """Where to read Ground Truth output from and where the lake is."""

    input: str
    lake: str
    run_id: str | None = None
    on_failure: str = "fail"  # data-quality gate on the staged sequences and boxes: fail (commit nothing) or warn
    arrow_labels: bool = True  # clean labels files by the Arrow path (`jobs.seqlabel_arrow`); False: all by Spark's


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
def read_manifests(jobs: list[JobFolder], known: set[str], counts: Counts) -> tuple[list[SequenceRow], list[Reject]]:
    """Sequences of every job's output manifest, and the refused lines (and manifests). `known`: the lowercased
    names of the jobs in the lake or the input (a chained attribute of one of those is inherited)."""
    rows: list[SequenceRow] = []
    rejects: list[Reject] = []
    for job in jobs:
        try:
            data = storage.read_bytes(job.manifest.path)
        except Exception as e:  # noqa: BLE001 - a manifest that cannot be read costs its job folder, not the run
            data, problem = None, ("unreadable", f"the output manifest cannot be read: {type(e).__name__}: {e}")
        else:
            problem = None if data.strip() else ("empty_manifest", "the output manifest is empty: the job has no "
                                                                   "output yet")
        if problem:
            rejects.append(Reject(job.name, job.manifest.path, "file", "job_folder", *problem))
            counts.add("job_folder", seen=1, rejected=1)
            continue
        counts.add("job_folder", seen=1, out=1)
        r, rej, seen = parse_manifest(data, job.name, job.manifest.path, known)
        rows += r
        rejects += rej
        counts.add("sequence", seen=seen, rejected=len(rej))
    return rows, rejects


# -- stage 2: which labels to read (driver) -------------------------------------------------------
@dataclass(frozen=True)
class LabelsRef:
    """Labels to read for a sequence: a labels file, or an image job's inline labels as a document."""

    path: str  # storage path of the labels file; for inline labels, '<manifest>#line=<n>,attribute=<name>'
    sequence: SequenceRow
    document: str | None = None  # inline labels in the SeqLabel shape (seqlabel_repair.image_document)


def carries_labels(s: SequenceRow) -> bool:
    """Whether a sequences row holds a reference to labels gtlake reads: a labels file, or inline boxes. Each
    such row is one `labels_file` record: read here, inherited from its own job, or refused."""
    return s.labels_ref is not None or (s.task_type in IMAGE_BOX_TYPES and s.labels_inline is not None)


def plan_labels(sequences: list[SequenceRow], jobs: dict[str, JobFolder], files: list[storage.FileInfo],
                input_root: str, counts: Counts) -> tuple[list[LabelsRef], list[Reject], list[SequenceRow]]:
    """Every labels reference of the sequences: resolved to a file of the input (or an inline document) to read,
    left to the chained job it comes from (`inherited`: that job is in the lake), or refused. A sequence reads
    at most one labels file: its job's own attribute's, else the first. Returns the refs to read, the refusals,
    and the sequences with `labels_read` set."""
    listed = {f.path: f for f in files}
    names = set(listed)
    owners = {path: job for job in jobs.values() for path in job.labels}
    refs: list[LabelsRef] = []
    rejects: list[Reject] = []
    read_for: dict[str, str] = {}  # sequence_id -> attribute whose labels it reads
    used: dict[str, str] = {}  # labels file -> sequence_id
    inherited = 0
    carrying = [s for s in sequences if carries_labels(s)]
    own_first = sorted(carrying, key=lambda s: (not same_job(s.label_job_name, s.job_name), s.manifest_line))
    for s in own_first:
        if s.inherited:
            inherited += 1
            continue
        loc = f"line {s.manifest_line}, attribute {s.label_attribute!r}"
        reason, path = None, None
        if s.sequence_id in read_for:
            other = read_for[s.sequence_id]
            reason = (("chained_source_missing", f"labels of job {s.label_job_name}, chained into this job beside its "
                                                 f"own attribute {other!r}, and that job is not in the lake: ingest "
                                                 "its output folder to keep them")
                      if not same_job(s.label_job_name, s.job_name)
                      else ("duplicate_labels_ref", f"the data object already reads the labels of {other!r}"))
        elif s.labels_ref is None:  # inline boxes of an image job
            path = f"{s.source_uri}#line={s.manifest_line},attribute={s.label_attribute}"
        else:
            path = resolve_ref(s.labels_ref, jobs, input_root, names)
            holder = owners.get(path) if path else None
            if path is None:
                reason = ("missing_ref", f"labels file {s.labels_ref} is not in the input "
                                         f"(looked for '<job>/annotations/...' under {input_root})")
            elif listed[path].error:
                reason = ("unreadable", f"labels file {path}: {listed[path].error}")
            elif holder is not None and not same_job(holder.name, s.job_name):
                reason = ("foreign_labels_ref", f"labels file {path} is in the folder of job {holder.name}, which "
                                                "reads it; a job reads only the labels in its own folder")
            elif listed[path].size == 0:
                reason = ("empty_file", f"labels file {path} is empty")
            elif ":" in path.split("://", 1)[-1]:
                reason = ("unreadable_path", f"Spark cannot read a path containing ':': {path}")
            elif path in used:
                reason = ("duplicate_labels_ref", f"labels file {path} is also the labels of {used[path]}")
        if reason:
            rejects.append(Reject(s.job_name, s.source_uri, loc, "labels_file", *reason, s.labels_ref))
            continue
        read_for[s.sequence_id] = s.label_attribute
        if s.labels_ref is None:
            refs.append(LabelsRef(path, s, repair.image_document(
                json.loads(s.labels_inline), json.loads(s.metadata or "{}"), s.source_ref, path)))
        else:
            used[path] = s.sequence_id
            refs.append(LabelsRef(path, s))
    counts.add("labels_file", seen=len(carrying), out=inherited, rejected=len(rejects))
    read = {id(r.sequence) for r in refs}
    marked = [replace(s, labels_read=id(s) in read) if carries_labels(s) else s for s in sequences]
    return refs, rejects, marked


# -- stage 3: labels files (Arrow in tasks for clean files, Spark for the rest) ----------------------
@dataclass(frozen=True)
class Piece:
    """One sequence's rows of `boxes` (and, from the Arrow path, of `frames`) in work files of their own, in the
    tables' order; `rows`: its boxes."""

    job_name: str
    sequence_id: str
    boxes: str | None
    frames: str | None
    rows: int


@dataclass(frozen=True)
class FastLabels:
    """What the Arrow path read (`jobs.seqlabel_arrow`): the clean files, read whole; their rows (`Piece`s);
    and what those files list."""

    paths: frozenset[str]
    pieces: tuple[Piece, ...]
    listed_frames: int
    listed_boxes: int


@dataclass
class ParsedLabels:
    """Frame-level rows of the labels Spark reads: typed fast path and repaired slow path; the files that parsed
    to nothing; and the clean files the Arrow path read."""

    parts: list[tuple[DataFrame, bool]]  # (frame rows, typed)
    missing: DataFrame  # files that parsed to nothing (whitespace only)
    fast: FastLabels

    def union(self, fn: Callable[[DataFrame, bool], DataFrame]) -> DataFrame | None:
        """fn applied to each part, unioned (None when every file went the Arrow way)."""
        out = None
        for fr, typed in self.parts:
            df = fn(fr, typed)
            out = df if out is None else out.unionByName(df)
        return out


def fast_file(fs, file: FileWork, metas: dict[int, arrow.LabelsMeta], root: str) -> dict:  # noqa: ANN001
    """In a task: one labels file through `seqlabel_arrow.flatten`; when it is clean, its frames and boxes written
    as work files under `root` (`frames/`, `boxes/`: one sequence each, in the tables' order); else nothing
    written, and why (the file goes the Spark way)."""
    from gtlake.storage import read_bytes

    try:
        flat = arrow.flatten(read_bytes(file.path), metas[file.index])
    except Exception as e:  # noqa: BLE001 - a file the Arrow path cannot take is the Spark path's
        flat = f"{type(e).__name__}: {str(e)[:120]}"
    if isinstance(flat, str):
        return {"fast": False, "why": flat}
    writers = TaskWriters(fs, file, ipc=True)
    out = {}
    for name, table in (("frames", flat.frames), ("boxes", flat.boxes)):
        writers.write(f"{root}/{name}", table.drop_columns(["job_name"]))
        out[name] = writers.path(f"{root}/{name}") if table.num_rows else None
    writers.close()
    return {"fast": True, "frames": flat.listed_frames, "boxes": flat.listed_boxes, "files": out}


def fast_labels(run: Run, refs: list[LabelsRef], sizes: dict[str, int]) -> FastLabels:
    """The labels files that are clean, read by the Arrow path in Spark tasks (`fast_file`)."""
    files = [r for r in refs if r.document is None]
    work = [FileWork(i, f"job_name={r.sequence.job_name}", r.path, sizes.get(r.path, 1))
            for i, r in enumerate(files)]
    metas = {i: arrow.LabelsMeta(r.sequence.job_name, r.sequence.sequence_id, r.sequence.task_type,
                                 r.sequence.class_map, r.path) for i, r in enumerate(files)}
    root = run.lake.staging(run.run_id, "_work", "arrow")
    done = run_files(run.spark, run.lake, work, partial(fast_file, metas=metas, root=root))
    why = Counter(d["why"].split(":")[0] for d in done if not d["fast"])
    if why:
        run.say(f"{sum(why.values())} labels files left to Spark's reader: "
                + ", ".join(f"{n} {k}" for k, n in why.most_common(5)))
    fast = [(f, d) for f, d in zip(files, done) if d["fast"]]
    pieces = tuple(Piece(f.sequence.job_name, f.sequence.sequence_id, d["files"]["boxes"], d["files"]["frames"],
                         d["boxes"]) for f, d in fast)
    return FastLabels(frozenset(f.path for f, _ in fast), pieces, sum(d["frames"] for _, d in fast),
                      sum(d["boxes"] for _, d in fast))


def split_file(fs, file: FileWork, root: str) -> list[tuple[str, str, int]]:  # noqa: ANN001 - a pyarrow FileSystem
    """In a task: a Parquet file of boxes sorted by sequence (`common.stage`'s clustered write) cut into one work
    file per sequence under `root`; (sequence_id, file, rows) of each."""
    import pyarrow.parquet as pq

    table = pq.ParquetFile(file.path, filesystem=fs).read()
    n = table.num_rows
    seq = table["sequence_id"].combine_chunks()
    changes = pc.not_equal(seq.slice(1), seq.slice(0, n - 1)).to_numpy(zero_copy_only=False) if n > 1 else []
    starts = [0, *(np.flatnonzero(changes) + 1)] if n else []
    out = []
    for k, (a, b) in enumerate(zip(starts, [*starts[1:], n])):
        piece = FileWork(k, file.folder, file.path, 0)
        writers = TaskWriters(fs, piece, name=f"spark-{file.index:05d}", ipc=True)
        writers.write(root, table.slice(a, b - a))
        writers.close()
        out.append((seq[int(a)].as_py(), writers.path(root), int(b - a)))
    return out


def spark_pieces(run: Run, rows: DataFrame) -> list[Piece]:
    """The boxes Spark read as `Piece`s: written clustered into a work folder (`common.stage`), then each file
    cut by sequence in tasks (`split_file`)."""
    lake = run.lake
    work = stage(rows, BOXES, lake, run.run_id, path=lake.staging(run.run_id, "_work", "spark-boxes"))
    found = [(part, f) for part in lake.listdir(work) if part.startswith("job_name=")
             for f in data_files(lake, posixpath.join(work, part))]
    done = run_files(run.spark, lake, numbered(found),
                     partial(split_file, root=lake.staging(run.run_id, "_work", "spark-pieces")))
    return [Piece(part[len("job_name="):], seq, path, None, rows)
            for (part, _), cut in zip(found, done) for seq, path, rows in cut]


PACK_ROWS = (200_000, 4_000_000)  # rows of boxes a staged file holds, at least (unless its job has fewer) and at most


def packs(pieces: list[Piece], cores: int) -> list[list[Piece]]:
    """The pieces of each job in ascending sequence order, cut into runs of about equal rows (at least one per
    core while a run keeps PACK_ROWS[0], at most PACK_ROWS[1] rows): each run one file of the staged tables, the
    files of a job holding disjoint ranges of sequences."""
    out: list[list[Piece]] = []
    by_job: dict[str, list[Piece]] = {}
    for p in pieces:
        by_job.setdefault(p.job_name, []).append(p)
    for job in sorted(by_job):
        ordered = sorted(by_job[job], key=lambda p: p.sequence_id.encode())  # Spark's order: UTF-8 bytes
        total = sum(p.rows for p in ordered)
        target = min(PACK_ROWS[1], max(PACK_ROWS[0], -(-total // max(1, cores))))
        run: list[Piece] = []
        rows = 0
        for p in ordered:
            if run and rows + p.rows > target:
                out.append(run)
                run, rows = [], 0
            run.append(p)
            rows += p.rows
        if run:
            out.append(run)
    return out


PACK_KEYS = {"boxes": ("sequence_id", "frame_no", "box_index"), "frames": ("sequence_id", "frame_no")}


def counts_agree(frames: pa.Table, boxes: pa.Table) -> bool:
    """Whether each frame's shape_count is its rows in `boxes` (one sequence's frames and boxes; no shapes)."""
    listed, n = np.unique(boxes["frame_no"].to_numpy(zero_copy_only=False), return_counts=True)
    fno = frames["frame_no"].to_numpy(zero_copy_only=False)
    found = np.zeros(len(fno), np.int64)
    if len(listed):
        at = np.minimum(np.searchsorted(listed, fno), len(listed) - 1)
        found = np.where(listed[at] == fno, n[at], 0)
    return frames["shape_count"].null_count == 0 and bool(
        (found == frames["shape_count"].to_numpy(zero_copy_only=False)).all())


def pack_file(fs, file: FileWork, runs: list[list[Piece]], roots: dict[str, str]) -> dict:  # noqa: ANN001
    """In a task: one run of pieces (`packs`) as one file of each staged table, the pieces in order; per table,
    the suite's rules broken on the rows written (`validation.broken_rules`; for frames also each frame's
    shape_count against its boxes, which the task holds, `SHAPE_COUNT_RULE`) and whether their keys are unique:
    the gate's verdicts on them (`filepass.Verdicts`)."""
    writers = TaskWriters(fs, file)
    partition = dict([file.folder.split("=", 1)])
    found = {t: {"broken": [], "unique": True} for t in roots}
    pending: dict[str, list[pa.Table]] = {t: [] for t in roots}
    held = dict.fromkeys(roots, 0)  # rows pending per table
    counted = True

    def flush(table: str) -> None:
        if pending[table]:
            rows = pa.concat_tables(pending[table])
            writers.write(roots[table], rows)
            found[table]["broken"].append(broken_rules(table, rows, partition))
            found[table]["unique"] &= unique_rows(rows, PACK_KEYS[table])  # (a sequence lies in one batch only)
            pending[table], held[table] = [], 0

    for piece in runs[file.index]:
        read = {t: read_work_file(fs, getattr(piece, t)) if getattr(piece, t) else None for t in roots}
        if read["frames"] is not None:
            counted = counted and counts_agree(read["frames"], read["boxes"] if read["boxes"] is not None
                                               else BOXES.file_schema().empty_table())
        for t, rows in read.items():
            if rows is not None:
                pending[t].append(rows)
                held[t] += rows.num_rows
                if held[t] >= 1_000_000:
                    flush(t)
    for t in roots:
        flush(t)
    writers.close()
    out = {t: {"broken": merge_broken(v["broken"]), "unique": v["unique"]} for t, v in found.items()}
    out["frames"]["broken"][SHAPE_COUNT_RULE] = not counted
    return out


@dataclass(frozen=True)
class Packed:
    """The gate's verdicts on the staged boxes and the Arrow path's frames (`pack_file`)."""

    boxes: Verdicts
    frames: Verdicts


def stage_pieces(run: Run, pieces: list[Piece]) -> Packed:
    """The staged `boxes` (and the Arrow path's `frames`) from the pieces: each job's sequences in ascending
    order, one file per run of them (`packs`, `pack_file`), so that every file of the staged boxes holds whole
    sequences, sorted, and the files of a job disjoint ranges of them (README *Lake layout*)."""
    t0 = time.monotonic()
    runs = packs(pieces, run.spark.sparkContext.defaultParallelism)
    work = [FileWork(i, f"job_name={r[0].job_name}", "", sum(p.rows for p in r)) for i, r in enumerate(runs)]
    done = run_files(run.spark, run.lake, work, partial(pack_file, runs=runs, roots={
        "boxes": run.staged_root("boxes"), "frames": run.staged_root("frames")}))
    run.say(f"  staged boxes in {time.monotonic() - t0:.1f}s ({len(runs)} files, {len(pieces)} sequences)")
    return Packed(*(Verdicts.of([d[t] for d in done]) for t in ("boxes", "frames")))


def labels_frames(run: Run, refs: list[LabelsRef], sizes: dict[str, int], work: str,
                  use_arrow: bool = True) -> ParsedLabels:
    """Parse the labels once: clean files by the Arrow path (`fast_labels`), the others into frame rows in a work
    Parquet folder (`work`, a Spark URI), which their tables are then derived from: files typed by Spark's
    reader first; the files it refuses, and inline labels, through `seqlabel_repair` (Python on the executors),
    so that one bad value costs only its record. `use_arrow` False: every file by Spark's reader."""
    spark, run_id = run.spark, run.run_id
    fast = fast_labels(run, refs, sizes) if use_arrow else FastLabels(frozenset(), (), 0, 0)
    refs = [r for r in refs if r.path not in fast.paths]
    parts: list[tuple[DataFrame, bool]] = []
    ref_df = F.broadcast(spark.createDataFrame(
        [(r.path, r.sequence.job_name, r.sequence.sequence_id, r.sequence.task_type, r.sequence.class_map,
          r.path if r.document is None else r.sequence.source_uri) for r in refs],
        "_path string, job_name string, sequence_id string, task_type string, "
        "class_map map<string,string>, source_uri string"))

    def frames_of(raw: DataFrame, typed: bool) -> DataFrame:
        out = f"{work}/{'typed' if typed else 'raw'}"
        seqlabel.with_frames(raw.join(ref_df, on="_path", how="inner"), typed=typed).write.parquet(out)
        return spark.read.parquet(out)

    files = [r.path for r in refs if r.document is None]
    corrupt: list[str] = []
    if files:
        typed = seqlabel.read_labels(spark, [storage.spark_path(p) for p in files])
        typed_rows = frames_of(typed.withColumn("_path", seqlabel.storage_path(F.col("_path"))), True)
        corrupt = [r["_path"] for r in typed_rows.where(F.col("file_reason") == "malformed_labels_file")
                   .select("_path").distinct().collect()]
        parts.append((typed_rows.where(F.col("file_reason").isNull()
                                       | (F.col("file_reason") != "malformed_labels_file")), True))
    inline = [r.document for r in refs if r.document is not None]
    if corrupt or inline:
        sc = spark.sparkContext
        docs = sc.parallelize(corrupt, max(1, min(len(corrupt), sc.defaultParallelism * 4))) \
            .mapPartitions(lambda it: repair.repair_files(list(it)))
        if inline:
            docs = docs.union(sc.parallelize(inline, max(1, min(len(inline) // 1000 + 1, sc.defaultParallelism))))
        parts.append((frames_of(seqlabel.read_repaired(spark, docs), False), False))
    seen = None
    for fr, _ in parts:
        seen = fr.select("_path") if seen is None else seen.unionByName(fr.select("_path"))
    unseen = ref_df if seen is None else ref_df.join(seen.distinct(), on="_path", how="left_anti")
    missing = seqlabel.refused(unseen.select(
        "source_uri", "job_name", F.lit("file").alias("locator"), F.lit("empty_file").alias("reason"),
        F.lit("the labels file holds no JSON document").alias("detail"), F.lit(None).cast("string").alias("record")),
        "labels_file", run_id)
    return ParsedLabels(parts, missing, fast)


# -- stage 4: worker responses (Spark, Python parsing on executors) ------------------------------
def worker_responses(spark: SparkSession, jobs: list[JobFolder],
                     run_id: str) -> tuple[DataFrame, DataFrame, dict[str, int]]:
    """(rows, refused, records seen per kind) of every worker-response file of the jobs."""
    items = [(f.path, j.name, f.error) for j in jobs for f in j.responses]
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


def checked_once(run: Run, parsed: ParsedLabels, rows: Callable[[DataFrame, bool], DataFrame], table: Table,
                 path: str) -> DataFrame | None:
    """Every listed record of one kind that Spark read (`rows`: `seqlabel.with_boxes` or `with_shapes`), exploded
    and checked once and written to the work folder `path` (`seqlabel.checked`: the table's columns and the
    verdict); read back, the table's rows and its refusals are both split from these files, so no record is
    exploded or checked twice (and the clustered write's range sampling reads flat files, not the labels). None
    when Spark read no labels (every file went the Arrow way)."""
    checked = parsed.union(lambda fr, typed: seqlabel.checked(rows(fr, typed), table.names))
    if checked is None:
        return None
    t0 = time.monotonic()
    checked.write.parquet(run.lake.uri(path))
    run.say(f"checked every listed {table.name} row Spark read in {time.monotonic() - t0:.1f}s")
    return run.spark.read.parquet(run.lake.uri(path))


def _stored_shapes(spark: SparkSession, lake: Lake, staged: dict[str, str]) -> DataFrame:
    """(job_name, sequence_id, frame_no, shape_count): each frame's rows in the staged boxes and shapes."""
    key = ["job_name", "sequence_id", "frame_no"]
    parts = [read_folder(spark, lake, staged[t]).select(*key) for t in ("boxes", "shapes")
             if t in staged and has_rows(lake, staged[t], ["job_name"])]
    if not parts:
        return spark.createDataFrame([], "job_name string, sequence_id string, frame_no int, shape_count bigint")
    rows = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    return rows.groupBy(*key).agg(F.count(F.lit(1)).alias("shape_count"))


def _labels_refs_staged(lake: Lake, path: str) -> int:
    """How many staged sequences rows carry labels (`carries_labels`), counted from the written files."""
    if not has_rows(lake, path, ["job_name"]):
        return 0
    t = ds.dataset(path, format="parquet", filesystem=lake.fs).to_table(
        columns=["labels_ref", "labels_inline", "task_type"])
    inline = pc.and_(pc.is_in(t["task_type"], pa.array(IMAGE_BOX_TYPES)), pc.is_valid(t["labels_inline"]))
    return int(pc.sum(pc.or_(pc.is_valid(t["labels_ref"]), pc.fill_null(inline, False))).as_py() or 0)


def _known_jobs(all_jobs: list[JobFolder], ledger: dict[str, dict]) -> set[str]:
    """Lowercased names of the jobs in the input or already in the lake."""
    return {j.name.lower() for j in all_jobs} | {name.lower() for name in ledger if not name.startswith("_")}


def _chained_elsewhere(sequences: list[SequenceRow], job: str) -> list[str]:
    """The jobs a job's chained attributes name that were not known (their labels refused or read here)."""
    return sorted({s.label_job_name.lower() for s in sequences if s.job_name == job and s.label_job_name
                   and not s.inherited and not same_job(s.label_job_name, s.job_name)})


def _work(run: Run, config: IngestConfig) -> Outcome:
    """Ingest every new or changed job folder under config.input into the lake at config.lake."""
    spark, lake, gate, run_id, staged, counts = run.spark, run.lake, run.gate, run.run_id, run.staged, run.counts
    input_root = _normalize_root(config.input)
    files = storage.list_files(input_root)
    all_jobs, folder_rejects = discover_jobs(files)
    ledger = lake.ledger("ingest")
    known = _known_jobs(all_jobs, ledger)
    input_state = json.dumps(sorted((r.source_uri, r.reason_code) for r in folder_rejects))
    # A job is read again when its files changed, when this version writes it differently, or when a job its
    # labels were chained from (refused for want of it) has since come into the lake.
    todo = [j for j in all_jobs if ledger.get(j.name, {}).get("fingerprint") != j.fingerprint
            or ledger[j.name].get("format") != INGEST_FORMAT
            or set(ledger[j.name].get("chained_elsewhere", [])) & known]
    # A job whose committed partitions are not as committed (deleted or changed by hand) is read again: its
    # input is the source of truth, and nothing downstream runs on the damaged rows meanwhile.
    kept = [j.name for j in all_jobs if j not in todo]
    damaged = integrity.damaged_jobs(lake, integrity.job_scope([t.name for t in WRITTEN_TABLES if t is not REJECTED],
                                                               kept)
                                     + [("rejected", f"job_name={j}/step=ingest") for j in kept])
    for j in all_jobs:
        if j.name in damaged:
            run.say(f"{j.name}: read again, its lake partitions differ from what was committed "
                    f"({damaged[j.name][0].message()}{', ...' if len(damaged[j.name]) > 1 else ''})")
            todo.append(j)
    unchanged = [j.name for j in all_jobs if j not in todo]
    input_changed = (ledger.get(INPUT_PARTITION, {}).get("fingerprint") != input_state
                     or ledger[INPUT_PARTITION].get("format") != INGEST_FORMAT)
    run.say(f"{len(files)} files, {len(all_jobs)} job folders under {input_root} "
            f"({len(todo)} new or changed, {len(unchanged)} unchanged)")
    if not todo and not input_changed:
        return run.unchanged(jobs_unchanged=unchanged)

    counts.add("job_folder", seen=len(folder_rejects), rejected=len(folder_rejects))
    sequences, rejects = read_manifests(todo, known, counts)
    rejects = folder_rejects + rejects
    refs, ref_rejects, sequences = plan_labels(sequences, {j.name: j for j in all_jobs}, files, input_root,
                                               counts)
    rejects += ref_rejects
    run.say(f"{len(sequences)} sequences from {len(todo)} manifests; reading {len(refs)} labels "
            f"and {sum(len(j.responses) for j in todo)} worker-response files")

    run.stage(spark.createDataFrame([s.row() for s in sequences], SEQUENCES.spark_schema()), SEQUENCES)
    refused_parts: list[DataFrame] = []
    packed = Packed(Verdicts(frozenset(), False), Verdicts(frozenset(), False))
    if refs:
        t_parse = time.monotonic()
        parsed = labels_frames(run, refs, {f.path: f.size for f in files},
                               lake.uri(lake.staging(run_id, "_work", "labels")), config.arrow_labels)
        run.say(f"parsed {len(refs)} labels in {time.monotonic() - t_parse:.1f}s "
                f"({len(parsed.fast.paths)} by the Arrow path)")
        work = lake.staging(run_id, "_work")
        boxes = checked_once(run, parsed, seqlabel.with_boxes, BOXES, f"{work}/boxes")
        shapes = checked_once(run, parsed, seqlabel.with_shapes, SHAPES, f"{work}/shapes")
        packed = stage_pieces(run, [*parsed.fast.pieces, *(spark_pieces(run, seqlabel.accepted(boxes, BOXES.names))
                                                            if boxes is not None else [])])
        if shapes is not None:  # (the Arrow path reads no file with shapes)
            run.stage(seqlabel.accepted(shapes, SHAPES.names), SHAPES)
        stored = _stored_shapes(spark, lake, staged)
        spark_frames = parsed.union(lambda fr, t: seqlabel.frames_table(fr, stored))
        if spark_frames is not None:  # beside the Arrow path's: the tasks' verdicts are not on every row
            run.stage(spark_frames, FRAMES, append=True)
            packed = replace(packed, frames=Verdicts(frozenset(), False))
        refused_parts.append(parsed.missing)
        counts.add("frame", seen=parsed.fast.listed_frames)
        counts.add("box", seen=parsed.fast.listed_boxes)
        counts.add("shape", seen=0)
        if parsed.parts:
            refused_parts += [parsed.union(lambda fr, t: seqlabel.refused_files(fr, run_id)),
                              parsed.union(lambda fr, t: seqlabel.refused_frames(fr, run_id, t)),
                              seqlabel.refused(boxes, "box", run_id), seqlabel.refused(shapes, "shape", run_id)]
            listed = parsed.union(lambda fr, t: seqlabel.listed_frames(fr).select(
                seqlabel.listed_count(F.col("f"), ["annotations"]).alias("boxes"),
                seqlabel.listed_count(F.col("f"), [k for k, _ in seqlabel.SHAPE_LISTS]).alias("shapes")))
            agg = listed.agg(F.count(F.lit(1)).alias("frames"), F.sum("boxes").alias("boxes"),
                             F.sum("shapes").alias("shapes")).first()
            counts.add("frame", seen=agg["frames"])
            counts.add("box", seen=agg["boxes"] or 0)
            counts.add("shape", seen=agg["shapes"] or 0)
    wr_rows, wr_refused, wr_seen = worker_responses(spark, todo, run_id)
    run.stage(wr_rows, WORKER_RESPONSES)
    for kind, n in wr_seen.items():
        counts.add(kind, seen=n)
    refused_parts.append(wr_refused)
    refused = spark.createDataFrame([r.row(run_id) for r in rejects], REJECTED.spark_schema())
    for part in refused_parts:
        refused = refused.unionByName(part)
    run.stage(refused, REJECTED)

    # Count what was actually written, and check it against what was read.
    written = {t: sum(staged_counts(lake, p, ["job_name"]).values()) for t, p in staged.items()}
    refused_by_kind = {k[0]: n for k, n in run.staged_rows("rejected", ("record_kind",)).items()}
    for kind, table in (("sequence", "sequences"), ("frame", "frames"), ("box", "boxes"), ("shape", "shapes"),
                        ("worker_answer", "worker_responses")):
        counts.add(kind, out=written.get(table, 0))
    # Labels: every labels reference of a staged sequences row is one record (counted from the written files,
    # so a reference no step looked at cannot balance); each planned one is parsed or refused by Spark
    # (malformed, holding no document), the others were inherited or refused while planning.
    carried = _labels_refs_staged(lake, staged["sequences"])
    if carried != counts.seen["labels_file"]:
        raise UnbalancedRun(f"{run.name}: {carried} labels references in the staged sequences, "
                            f"{counts.seen['labels_file']} accounted for")
    refused_by_spark = refused_by_kind.get("labels_file", 0) - counts.rejected["labels_file"]
    counts.add("labels_file", out=len(refs) - refused_by_spark, rejected=refused_by_spark)
    for kind in ("frame", "box", "shape", "worker_answer", "worker_response_file"):
        counts.add(kind, rejected=refused_by_kind.get(kind, 0))
    for kind in ("job_folder", "sequence"):
        if refused_by_kind.get(kind, 0) != counts.rejected[kind]:
            raise UnbalancedRun(f"{run.name}: {kind} rejections staged {refused_by_kind.get(kind, 0)} "
                                f"!= refused {counts.rejected[kind]}")
    run.balance()
    jobs_done = [j.name for j in todo]

    per_job = {t: run.staged_rows(t) for t in ("frames", "boxes") if t in staged}
    written_by_job = {j.name: {t: n.get((j.name,), 0) for t, n in per_job.items()} for j in todo}
    run.stage(spark.createDataFrame(job_rows(sequences, todo, written_by_job, run_id), JOBS.spark_schema()), JOBS)
    staged_sequences = read_folder(spark, lake, staged["sequences"], SEQUENCES.spark_schema())
    gate.check_staged("sequences", staged["sequences"])
    # boxes are written clustered (whole sequences per file): their key is proved unique from the files (their
    # footers' sequence ranges, each file's keys grouped in a task) instead of a shuffle; else checked as any other.
    # boxes are written clustered (whole sequences per file) by tasks that checked the row-level rules and each
    # file's keys on the rows they wrote: the key is proved unique from the files' footers' sequence ranges.
    gate.check_staged("boxes", staged.get("boxes"), refs={"sequences": staged_sequences}, unique=lambda: (
        unique_in_files(spark, lake, staged["boxes"], PACK_KEYS["boxes"], checked=packed.boxes.unique)),
        held=packed.boxes.held)
    if staged.get("frames"):
        gate.check_staged("frames", staged["frames"], held=packed.frames.held, unique=lambda: unique_in_files(
            spark, lake, staged["frames"], PACK_KEYS["frames"], checked=packed.frames.unique), refs={
            "sequences": staged_sequences,
            **{t: read_table_or_empty(spark, lake, staged.get(t), TABLES[t]) for t in ("boxes", "shapes")}})
    gate.check_staged("jobs", staged["jobs"])
    gate.enforce()
    for table in WRITTEN_TABLES:  # each step owns its sub-partition of rejected; the input's refusals are rejected's
        if table is REJECTED:
            run.replace(table.name, jobs_done + [INPUT_PARTITION], sub=("step=ingest",))
        else:
            run.replace(table.name, jobs_done)
    now = datetime.now(timezone.utc).isoformat()
    sealed = gate.seals_for(staged, ("sequences", "boxes", "frames", "jobs"), jobs_done)
    new_ledger = {j.name: {"fingerprint": j.fingerprint, "format": INGEST_FORMAT, "run_id": run_id,
                           "ingested_at": now, "seals": sealed[j.name], "layout": layout(),
                           "chained_elsewhere": _chained_elsewhere(sequences, j.name)} for j in todo}
    new_ledger[INPUT_PARTITION] = {"fingerprint": input_state, "format": INGEST_FORMAT, "run_id": run_id,
                                   "ingested_at": now}
    return Outcome(jobs_done, new_ledger, result={"jobs_unchanged": unchanged})


def layout() -> dict[str, list[str]]:
    """What the ledger records of how a job's partitions are laid out: per clustered table, its clustering
    columns (`Table.cluster_by`). A reader relies on a layout only where the ledger records it for the files that
    are there (`gtlake.integrity` tells when they were changed since)."""
    return {t.name: list(t.cluster_by) for t in WRITTEN_TABLES if t.cluster_by}


STEP = Step("ingest", reads=(), writes=tuple(t.name for t in WRITTEN_TABLES), work=_work, result=IngestResult,
            source=lambda config: config.input)


def run(spark: SparkSession, config: IngestConfig, log: Callable[[str], None] = print) -> IngestResult:
    """Ingest every new or changed job folder under config.input into the lake at config.lake (`STEP`).

    A failure that is not about one record (a bug, a lost executor, a lake that cannot be written) stops the
    run; its `failed` runs row names the cause, and the lake is otherwise as it was (`jobs.runner`)."""
    return STEP.run(spark, config, log)
