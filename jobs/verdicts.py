"""The verdicts job: reviewers' verdict files (saved from `gtlake review`) -> the `review_verdicts` table.

    run(spark, VerdictsConfig(lake="lake", files=["verdicts-vehicles-day-2026-10-20261201.json"]))

A verdicts file is the review page's JSON (`gtlake.review.VERDICTS_FORMAT`): the job, the quality run whose
queue was shown, the reviewer's name and one verdict (mistake / fine / unsure, with when) per judged entry.
Everything in it is untrusted: a file that is not such a document is refused whole (`verdicts_file`), a verdict
that is not a valid one is refused alone (`verdict`), each into `rejected` with its reason (step `verdicts`),
and the counts balance.

Stored verdicts merge with the job's earlier ones: per (sequence, frame, object, reviewer) the verdict given
last (`decided_at`) is kept, so a reviewer who changes their mind and saves again replaces their verdict, and
two reviewers' verdicts stand side by side. A file already imported (its sha256 is in the ledger) is not read
again: importing twice is importing once.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from gtlake import integrity, safejson, storage
from gtlake.jobs.common import partitions_or_empty
from gtlake.jobs.runner import Outcome, Run, Step
from gtlake.records import Counts, Reject, guarded
from gtlake.review import VERDICTS_FORMAT as FORMAT
from gtlake.schemas import REJECTED, REVIEW_VERDICTS, SEQUENCES
from gtlake.vocabulary import QUEUE_REASONS, VERDICTS

NAME = "verdicts"
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_NAME_CHARS = 128
NO_JOB = "_input"  # rejected.job_name of a file that names no job of the lake
KEY = ["job_name", "sequence_id", "frame_no", "object_id", "model_left", "model_top", "model_width", "model_height",
       "reviewer"]


@dataclass
class VerdictsConfig:
    """What to import: verdicts files (local paths or s3:// URIs) into the lake at `lake`."""

    lake: str
    files: list[str] = field(default_factory=list)
    run_id: str | None = None
    on_failure: str = "fail"


@dataclass
class VerdictsResult:
    """What a run did."""

    run_id: str
    status: str
    counts: Counts
    jobs_processed: list[str] = field(default_factory=list)
    stored: int = 0  # verdicts of the jobs written, after the merge
    already: int = 0  # files already imported by an earlier run
    seconds: float = 0.0
    checks: str = ""
    check_seconds: float = 0.0


def _text(v: object, limit: int = MAX_NAME_CHARS) -> str | None:
    """`v` if it is a non-empty single-line string of at most `limit` characters, else None."""
    if not isinstance(v, str) or not v.strip() or len(v) > limit:
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in v):
        return None
    return v.strip()


def _time(v: object) -> datetime | None:
    if not isinstance(v, str) or len(v) > 40:
        return None
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        return None
    t = t.astimezone(timezone.utc)
    return t if safejson.in_time_range(t) else None


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= safejson.INT32_MAX else None


def _model_box(v: object) -> tuple[float, float, float, float] | None:
    """An overlooked entry's model box: [left, top, width, height], finite, width and height > 0."""
    if not isinstance(v, list) or len(v) != 4 or any(isinstance(x, bool) or not isinstance(x, (int, float))
                                                     or not math.isfinite(x) for x in v):
        return None
    return tuple(float(x) for x in v) if v[2] > 0 and v[3] > 0 else None


def entry(row: dict) -> tuple:
    """What tells a verdict's queue entry apart: its sequence, frame, object (or model box, when overlooked)."""
    return (row["sequence_id"], row["frame_no"], row["object_id"], row["model_left"], row["model_top"],
            row["model_width"], row["model_height"])


def parse_verdict(v: object, job: str, sequences: set[str]) -> tuple[dict | None, tuple[str, str] | None]:
    """(the verdict's row fields, None) or (None, (reason, detail)) for one entry of a file's `verdicts`."""
    if not isinstance(v, dict):
        return None, ("not_an_object", f"a verdict must be an object, not {type(v).__name__}")
    bad = safejson.problem(v)
    if bad:
        return None, bad
    seq = v.get("sequence_id")
    if not isinstance(seq, str) or seq not in sequences:
        return None, ("unknown_sequence", f"sequence_id {str(seq)[:100]!r} is not a sequence of job {job}")
    frame = _int(v.get("frame_no"))
    if frame is None:
        return None, ("invalid_frame_no", f"frame_no must be a whole number >= 0, not {str(v.get('frame_no'))[:50]!r}")
    obj = _text(v.get("object_id"), 256)
    reasons = v.get("reasons", [])
    box = _model_box(v.get("model_box"))
    if obj is None and not (v.get("object_id") is None and isinstance(reasons, list) and "overlooked" in reasons
                            and box is not None):
        return None, ("missing_object_id", "object_id must be a non-empty string (null only for an overlooked "
                                           "entry, with its model_box [left, top, width, height])")
    if v.get("verdict") not in VERDICTS:
        return None, ("invalid_verdict", f"verdict must be one of {', '.join(VERDICTS)}, not "
                                         f"{str(v.get('verdict'))[:50]!r}")
    decided = _time(v.get("decided_at"))
    if decided is None:
        return None, ("invalid_timestamp", f"decided_at must be an ISO 8601 time with its zone, not "
                                           f"{str(v.get('decided_at'))[:50]!r}")
    if not isinstance(reasons, list) or any(r not in QUEUE_REASONS for r in reasons):
        return None, ("invalid_reasons", f"reasons must be a list of queue reasons ({', '.join(QUEUE_REASONS)})")
    score = v.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))
                              or not math.isfinite(score)):
        return None, ("invalid_score", "score must be a number or null")
    rank = v.get("rank")
    if rank is not None and _int(rank) is None:
        return None, ("invalid_rank", "rank must be a whole number >= 0 or null")
    edges = box if obj is None else (None,) * 4
    return {"sequence_id": seq, "frame_no": frame, "object_id": obj,
            **dict(zip(("model_left", "model_top", "model_width", "model_height"), edges)), "reasons": list(reasons),
            "score": None if score is None else float(score), "queue_rank": rank, "verdict": v["verdict"],
            "decided_at": decided}, None


@dataclass
class Parsed:
    """One verdicts file read: its job (None when the file was refused whole), the rows it gives, its refusals
    and how many verdicts it listed."""

    job: str | None
    rows: list[dict]
    rejects: list[Reject]
    listed: int


def parse_file(data: bytes, source_uri: str, jobs: dict[str, set[str]]) -> Parsed:
    """One verdicts file's bytes, read (`Parsed`); `jobs` maps each job of the lake to its sequence ids. A file
    refused whole is one `verdicts_file` refusal and lists no verdicts."""
    digest = hashlib.sha256(data).hexdigest()[:16]

    def whole(reason: str, detail: str, job: str = NO_JOB) -> Parsed:
        return Parsed(None, [], [Reject(job, source_uri, "file", "verdicts_file", reason, detail, data[:2000])], 0)

    if not data.strip():
        return whole("empty_file", "the file is empty")
    if len(data) > MAX_FILE_BYTES:
        return whole("oversized_value", f"{len(data):,} bytes (at most {MAX_FILE_BYTES:,})")
    try:
        doc = safejson.loads(safejson.decode(data))
    except safejson.BadDocument as e:
        return whole(e.reason, e.detail)
    if not isinstance(doc, dict):
        return whole("not_an_object", f"a verdicts file is a JSON object, not {type(doc).__name__}")
    if doc.get("format") != FORMAT:
        return whole("unsupported_format", f"format must be {FORMAT!r} (a file saved from gtlake review), not "
                                           f"{safejson.escape(str(doc.get('format')))[:60]!r}")
    job = doc.get("job_name")
    if not isinstance(job, str) or job not in jobs:
        return whole("unknown_job", f"job_name {safejson.escape(str(job))[:100]!r} is not a job of this lake")
    reviewer, run = _text(doc.get("reviewer")), doc.get("queue_run_id")
    if reviewer is None or safejson.problem(reviewer):
        return whole("invalid_reviewer", f"reviewer must be a name of 1-{MAX_NAME_CHARS} characters on one line", job)
    if run is not None and (_text(run, 64) is None or safejson.problem(run)):
        return whole("invalid_queue_run_id", "queue_run_id must be a run id or null", job)
    listed = doc.get("verdicts")
    if not isinstance(listed, list):
        return whole("invalid_verdict_list", "verdicts must be a list", job)
    rows, rejects, seen = [], [], set()
    for i, v in enumerate(listed):
        def parse(v: object = v) -> tuple[dict | None, Reject | None]:
            row, why = parse_verdict(v, job, jobs[job])
            if why is None and entry(row) in seen:
                why = ("duplicate_verdict", "the file judges this (sequence, frame, object) twice; the first is kept")
            if why is not None:
                return None, Reject(job, source_uri, f"verdicts[{i}]", "verdict", *why, v)
            return row, None

        row, reject = guarded(parse, lambda detail, v=v, i=i: Reject(job, source_uri, f"verdicts[{i}]", "verdict",
                                                                     "parse_error", detail, v))
        if reject is not None:
            rejects.append(reject)
            continue
        seen.add(entry(row))
        rows.append({**row, "reviewer": reviewer, "queue_run_id": run, "verdicts_file": digest,
                     "source_uri": safejson.escape(source_uri), "job_name": job})
    return Parsed(job, rows, rejects, len(listed))


def _read(uri: str) -> tuple[bytes | None, str | None]:
    try:
        return storage.read_bytes(uri), None
    except Exception as e:  # noqa: BLE001 - missing, unreadable, S3 errors: the file is refused, the run goes on
        return None, f"{type(e).__name__}: {str(e)[:200]}"


def _work(run: Run, config: VerdictsConfig) -> Outcome:
    """Read each file, refuse what is not a verdict, merge the rest with each job's stored verdicts."""
    spark, lake, counts = run.spark, run.lake, run.counts
    ledger = lake.ledger(NAME)
    imported = {d for e in ledger.values() for d in e.get("files", {})}
    ingested = sorted(j for j in lake.ledger("ingest") if not j.startswith("_"))
    sequences = partitions_or_empty(spark, lake, SEQUENCES, ingested)
    jobs: dict[str, set[str]] = {}
    for r in sequences.select("job_name", "sequence_id").distinct().collect():
        jobs.setdefault(r["job_name"], set()).add(r["sequence_id"])
    rows, rejects, already = [], [], 0
    new_files: dict[str, dict[str, str]] = {}  # job -> sha256 -> the file's uri
    for uri in config.files:
        counts.add("verdicts_file", seen=1)
        data, why = _read(uri)
        if data is None:
            rejects.append(Reject(NO_JOB, uri, "file", "verdicts_file", "unreadable", why or ""))
            counts.add("verdicts_file", rejected=1)
            continue
        digest = hashlib.sha256(data).hexdigest()[:16]
        if digest in imported:
            run.say(f"{uri}: imported before (sha256 {digest}); skipped")
            counts.add("verdicts_file", out=1)
            already += 1
            continue
        got = parse_file(data, uri, jobs)
        counts.add("verdicts_file", out=int(got.job is not None), rejected=int(got.job is None))
        counts.add("verdict", seen=got.listed, out=len(got.rows), rejected=len(got.rejects) if got.job else 0)
        rows += got.rows
        rejects += got.rejects
        if got.job is not None:
            new_files.setdefault(got.job, {})[digest] = uri
            imported.add(digest)
    run.balance()
    if not rows and not rejects and not new_files:
        return run.unchanged(already=already)
    verdict_jobs = sorted({r["job_name"] for r in rows})
    reject_jobs = sorted({r.job_name for r in rejects})
    stored = 0
    if verdict_jobs:
        # Merged with what is stored: a partition of a job with verdicts gone by hand stops the run (merging
        # with nothing would lose every verdict imported before).
        integrity.require(lake, ("review_verdicts",), [j for j in verdict_jobs if j in ledger], run.name)
        new = spark.createDataFrame([{**r, "imported_run_id": run.run_id} for r in rows],
                                    REVIEW_VERDICTS.spark_schema())
        old = partitions_or_empty(spark, lake, REVIEW_VERDICTS, verdict_jobs)
        latest = Window.partitionBy(*KEY).orderBy(F.col("decided_at").desc(), F.col("imported_run_id").desc(),
                                                  F.col("verdicts_file").desc())
        merged = old.unionByName(new).withColumn("_n", F.row_number().over(latest)).where("_n = 1").drop("_n")
        run.stage(merged.select(*REVIEW_VERDICTS.names), REVIEW_VERDICTS)
        stored = sum(run.staged_rows("review_verdicts").values())
        run.gate.check_staged("review_verdicts", run.staged["review_verdicts"], refs={"sequences": sequences})
        run.replace("review_verdicts", verdict_jobs)
    if reject_jobs:
        old_rej = partitions_or_empty(spark, lake, REJECTED, reject_jobs, sub=(f"step={NAME}",))
        new_rej = spark.createDataFrame([r.row(run.run_id, NAME) for r in rejects], REJECTED.spark_schema())
        run.stage(old_rej.unionByName(new_rej).dropDuplicates(["job_name", "source_uri", "locator", "reason_code"]),
                  REJECTED)
        run.replace("rejected", reject_jobs, sub=(f"step={NAME}",))
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    entries = {j: {"files": {**ledger.get(j, {}).get("files", {}), **{d: run.run_id for d in files}},
                   "run_id": run.run_id, "at": at} for j, files in new_files.items()}
    return Outcome(sorted(set(verdict_jobs) | set(new_files)), entries, result={"stored": stored, "already": already})


def _source(config: VerdictsConfig) -> str:
    return ",".join(config.files)[:2000]


def _prepare(config: VerdictsConfig) -> dict:
    if not config.files:
        raise ValueError("give at least one verdicts file")
    return {}


STEP = Step(NAME, reads=("sequences", "review_verdicts"), writes=("review_verdicts", "rejected"), work=_work,
            result=VerdictsResult, source=_source, prepare=_prepare)


def run(spark: SparkSession, config: VerdictsConfig, log: Callable[[str], None] = print) -> VerdictsResult:
    """Store the verdicts of `config.files` in `review_verdicts` (`STEP`); what the run did."""
    return STEP.run(spark, config, log)


