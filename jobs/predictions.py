"""The predictions job: a model's predictions for a job's sequences -> `predictions`, and what they say of the
labels -> `prediction_findings` (overlooked, badly_located, class_disagrees; `gtlake.udfs.predictions`).

    run(spark, PredictionsConfig(lake="lake", job="street-tracking-b2", input="preds.jsonl", model="yolo-v9"))

Three input formats, each a file or a folder, local or `s3://`, everything in them untrusted:

* `jsonl`: one JSON object per line: `sequence_id` (the lake's, `<job>:<index>`) or `source_ref` (the sequence
  file's URI), `frame_no`, `box` `[left, top, width, height]` (or `left`, `top`, `width`, `height`), `label` (a
  class name of the job), `score` (0 to 1), optionally `track_id`.
* `mot`: MOTChallenge files in the folders `gtlake export --format mot` writes (`<job>_<index>`):
  `<folder>/det/det.txt`, `<folder>/gt/gt.txt` or `<folder>.txt`, lines `frame, id, left, top, width, height,
  score, class, ...`; frames 1-based from the sequence's first frame and pixels 1-based (MOTChallenge's), `id` -1
  for a detector, `class` the export's category number (its `gtlake-export.json`, else the job's classes sorted)
  or -1 with `--label`.
* `coco`: a COCO file whose `images` are those of `gtlake export --format coco` (`videos[].gtlake_sequence_id`
  and `images[].gtlake_frame_no`, or `file_name` `<folder>/<frame file>`) and whose `annotations` carry a
  `score` (and optionally `track_id`); or a COCO results list (`image_id`, `category_id`, `bbox`, `score`) with
  the export's `annotations.json` beside it.

A file that cannot be read as its format is refused whole (`predictions_file`), a prediction that is not a valid
one alone (`prediction`), each into `rejected` with its reason (step `predictions`), and the counts balance. The
job's predictions of that model are replaced by what the input holds (other models' stay); the same input, model,
settings and labels again is a run with nothing new to do. The ledger records the ingest run whose labels the
findings were made from: the quality job queues them only while that is the job's current one
(`jobs.quality.current_predictions`), and `gtlake predictions` runs the quality job after.
"""
from __future__ import annotations

import hashlib
import json
import math
import posixpath
from dataclasses import asdict, dataclass, field
from typing import Callable

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gtlake import integrity, safejson, storage
from gtlake.export import folder_names
from gtlake.jobs.common import partitions_or_empty
from gtlake.jobs.runner import Outcome, Run, Step
from gtlake.records import Counts, Reject, guarded
from gtlake.schemas import BOXES, FRAMES, PREDICTION_FINDINGS, PREDICTIONS, REJECTED, SEQUENCES
from gtlake.udfs.predictions import PredictionConfig, calibrate, match_sequence, pair_offsets, second_opinion
from gtlake.vocabulary import PREDICTION_FORMATS

NAME = "predictions"
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_TRACK_CHARS = 128


@dataclass
class PredictionsConfig:
    """What to import: predictions for `job` from `input` (a file or folder, local or s3://) in `format`, made by
    `model`; `label`: the class of MOT rows that name none (class -1); `settings`: how they are read."""

    lake: str
    job: str
    input: str
    format: str = "jsonl"
    model: str = "model"
    label: str | None = None
    settings: PredictionConfig = field(default_factory=PredictionConfig)
    run_id: str | None = None
    on_failure: str = "fail"


@dataclass
class PredictionsResult:
    """What a run did."""

    run_id: str
    status: str
    counts: Counts
    jobs_processed: list[str] = field(default_factory=list)
    stored: int = 0
    findings: dict[str, int] = field(default_factory=dict)  # reason -> findings
    thresholds: dict[str, float] = field(default_factory=dict)  # class -> calibrated confidence threshold
    seconds: float = 0.0
    checks: str = ""
    check_seconds: float = 0.0


@dataclass
class JobContext:
    """What a prediction is checked against: the job's sequences, frames and classes."""

    job: str
    sequences: dict[str, str]  # sequence_id -> source_ref
    by_source: dict[str, str]  # source_ref -> sequence_id
    frames: set[tuple[str, int]]
    frame_files: dict[tuple[str, str], int]  # (sequence_id, frame_file) -> frame_no
    first_frame: dict[str, int]
    folders: dict[str, str]  # export folder name -> sequence_id
    classes: list[str]  # sorted, as the export numbers them (1..)


def _finite(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def check(ctx: JobContext, seq: object, frame: object, label: object, score: object, box: object,
          track: object = None) -> tuple[dict | None, tuple[str, str] | None]:
    """(the prediction's row fields, None) or (None, (reason, detail)): one prediction checked against the job."""
    if not isinstance(seq, str) or seq not in ctx.sequences:
        return None, ("unknown_sequence", f"{safejson.escape(str(seq))[:100]!r} is not a sequence of job {ctx.job}")
    if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
        return None, ("invalid_frame_no", f"frame_no must be a whole number >= 0, not {str(frame)[:40]!r}")
    if (seq, frame) not in ctx.frames:
        return None, ("unknown_frame", f"sequence {seq} has no frame {frame}")
    if not isinstance(label, str) or label not in ctx.classes:
        return None, ("unknown_class", f"{safejson.escape(str(label))[:60]!r} is not a class of job {ctx.job} "
                                       f"({', '.join(ctx.classes)[:200]})")
    s = _finite(score)
    if s is None or not 0 <= s <= 1:
        return None, ("invalid_score", f"score must be a number from 0 to 1, not {str(score)[:40]!r}")
    edges = [_finite(v) for v in box] if isinstance(box, (list, tuple)) and len(box) == 4 else [None]
    if any(v is None for v in edges) or edges[2] <= 0 or edges[3] <= 0:
        return None, ("invalid_box", f"box must be 4 finite numbers, left, top, width > 0, height > 0: {str(box)[:80]}")
    if track is not None and not (isinstance(track, str) and 0 < len(track) <= MAX_TRACK_CHARS
                                  and not safejson.problem(track)) and not (isinstance(track, int)
                                                                          and not isinstance(track, bool)):
        return None, ("invalid_track_id", f"track_id must be a short string or a whole number: {str(track)[:40]!r}")
    return {"sequence_id": seq, "frame_no": frame, "label": label, "score": s, "left": edges[0], "top": edges[1],
            "width": edges[2], "height": edges[3], "track_id": None if track is None else str(track)}, None


@dataclass
class Parsed:
    """One input file read: the rows it gives, its refusals, how many predictions it listed, and whether the
    file itself was refused."""

    rows: list[dict]
    rejects: list[Reject]
    listed: int
    refused: bool = False


def _whole(job: str, uri: str, reason: str, detail: str, data: bytes = b"") -> Parsed:
    return Parsed([], [Reject(job, uri, "file", "predictions_file", reason, detail, data[:2000])], 0, True)


def _records(job: str, uri: str, items: list[tuple[str, object, Callable[[], tuple]]]) -> Parsed:
    """Check each (locator, raw record, parse) of a file: parse() gives check()'s answer; an exception costs the
    record (`parse_error`), never the file."""
    rows, rejects = [], []
    for locator, raw, parse in items:
        def one(parse: Callable[[], tuple] = parse, locator: str = locator, raw: object = raw) -> tuple:
            row, why = parse()
            if why is not None:
                return None, Reject(job, uri, locator, "prediction", *why, raw)
            return row, None

        row, reject = guarded(one, lambda detail, raw=raw, locator=locator: Reject(
            job, uri, locator, "prediction", "parse_error", detail, raw))
        (rows.append({**row, "source_uri": safejson.escape(uri)}) if reject is None else rejects.append(reject))
    return Parsed(rows, rejects, len(items))


def _line_records(data: bytes, uri: str, ctx: JobContext, parse_line: Callable[[str], tuple]) -> Parsed:
    """A file of one prediction per line (blank lines skipped), each line checked by `parse_line`."""
    lines = [(n, line) for n, line in enumerate(safejson.decode(data).splitlines(), 1) if line.strip()]
    return _records(ctx.job, uri, [(f"line {n}", line[:2000], lambda line=line: parse_line(line)) for n, line in lines])


def parse_jsonl(data: bytes, uri: str, ctx: JobContext) -> Parsed:
    """A JSON-lines predictions file (see the module's docstring)."""
    def parse(line: str) -> tuple:
        try:
            d = safejson.loads(line)
        except safejson.BadDocument as e:
            return None, (e.reason, e.detail)
        if not isinstance(d, dict):
            return None, ("not_an_object", f"a prediction is a JSON object, not {type(d).__name__}")
        bad = safejson.problem(d)
        if bad:
            return None, bad
        seq = d.get("sequence_id")
        if seq is None and isinstance(d.get("source_ref"), str):
            seq = ctx.by_source.get(d["source_ref"], d["source_ref"])
        box = d.get("box", [d.get("left"), d.get("top"), d.get("width"), d.get("height")])
        return check(ctx, seq, d.get("frame_no"), d.get("label"), d.get("score"), box, d.get("track_id"))
    return _line_records(data, uri, ctx, parse)


def parse_mot(data: bytes, uri: str, ctx: JobContext, seq: str, categories: dict[int, str], label: str | None
              ) -> Parsed:
    """One MOTChallenge file of sequence `seq` (frames and pixels 1-based; see the module's docstring)."""
    def parse(line: str) -> tuple:
        cells = [c.strip() for c in line.replace(" ", ",").split(",") if c.strip()]
        try:
            nums = [float(c) for c in cells[:8]]
        except ValueError:
            nums = []
        if len(nums) < 7 or not nums[0].is_integer():
            return None, ("invalid_line", "frame, id, left, top, width, height, score[, class] as numbers")
        klass = int(nums[7]) if len(nums) > 7 and nums[7].is_integer() else -1
        name = categories.get(klass) if klass > 0 else label
        track = int(nums[1]) if nums[1].is_integer() and nums[1] >= 0 else None
        frame = int(nums[0]) - 1 + ctx.first_frame.get(seq, 0)
        return check(ctx, seq, frame, name if name is not None else f"class {klass}", nums[6],
                     [nums[2] - 1, nums[3] - 1, nums[4], nums[5]], track)
    return _line_records(data, uri, ctx, parse)


def parse_coco(data: bytes, uri: str, ctx: JobContext, images_doc: dict | None = None) -> Parsed:
    """A COCO file with scored annotations, or a results list with the export's `images_doc` (see above)."""
    try:
        doc = safejson.loads(safejson.decode(data))
    except safejson.BadDocument as e:
        return _whole(ctx.job, uri, e.reason, e.detail, data)
    if isinstance(doc, list):
        if images_doc is None:
            return _whole(ctx.job, uri, "unknown_images", "a COCO results list needs the COCO file of its images "
                                                          "(the export's annotations.json beside it)")
        anns, ref = doc, images_doc
    elif isinstance(doc, dict) and isinstance(doc.get("annotations"), list):
        anns, ref = doc["annotations"], doc
    else:
        return _whole(ctx.job, uri, "unexpected_structure", "a COCO file (images, annotations) or a results list")
    if not isinstance(ref.get("images"), list):
        return _whole(ctx.job, uri, "unknown_images", "no images list to say which frame each prediction is on")
    videos = {v.get("id"): v.get("gtlake_sequence_id") for v in ref.get("videos") or [] if isinstance(v, dict)}
    cats = {c.get("id"): c.get("name") for c in ref.get("categories") or [] if isinstance(c, dict)}
    images: dict[object, tuple[object, object]] = {}
    for img in ref["images"]:
        if not isinstance(img, dict):
            continue
        seq, frame = videos.get(img.get("video_id")), img.get("gtlake_frame_no")
        if (seq is None or frame is None) and isinstance(img.get("file_name"), str) and "/" in img["file_name"]:
            folder, name = img["file_name"].split("/", 1)
            seq = ctx.folders.get(folder)
            frame = ctx.frame_files.get((seq, name)) if seq is not None else None
        images[img.get("id")] = (seq, frame)
    items = []
    for i, a in enumerate(anns):
        def parse(a: object = a) -> tuple:
            if not isinstance(a, dict):
                return None, ("not_an_object", f"an annotation is a JSON object, not {type(a).__name__}")
            bad = safejson.problem(a)
            if bad:
                return None, bad
            if a.get("image_id") not in images:
                return None, ("unknown_image", f"image_id {str(a.get('image_id'))[:40]!r} is not an image of the file")
            seq, frame = images[a["image_id"]]
            return check(ctx, seq, frame, cats.get(a.get("category_id"), f"category {a.get('category_id')}"),
                         a.get("score"), a.get("bbox"), a.get("track_id"))
        items.append((f"annotations[{i}]", a, parse))
    return _records(ctx.job, uri, items)


def _files(root: str) -> list[str]:
    """The files of an input: the file itself, or every file under the folder (local or s3://)."""
    import os

    if not storage.is_s3(root) and os.path.isfile(root):
        return [root]
    base = root.rstrip("/")
    return [f.path for f in storage.list_files(root) if f.path == base or f.path.startswith(base + "/")]


def _context(spark: SparkSession, run: Run, job: str) -> tuple[JobContext, pd.DataFrame, DataFrame]:
    """The job's sequences, frames and classes, its labels (boxes) as pandas, and its sequences (Spark)."""
    seqs = partitions_or_empty(spark, run.lake, SEQUENCES, [job])
    s = seqs.select("sequence_id", "data_object_index", "source_ref").dropDuplicates(["sequence_id"]).toPandas()
    f = partitions_or_empty(spark, run.lake, FRAMES, [job]).select("sequence_id", "frame_no", "frame_file").toPandas()
    b = partitions_or_empty(spark, run.lake, BOXES, [job]).select(
        "sequence_id", "frame_no", "object_id", "label", "left", "top", "width", "height").toPandas()
    folders = {v: k for k, v in folder_names(s, job).items()}
    ctx = JobContext(job, dict(zip(s["sequence_id"], s["source_ref"])),
                     {r: q for q, r in zip(s["sequence_id"], s["source_ref"]) if isinstance(r, str)},
                     {(q, int(n)) for q, n in zip(f["sequence_id"], f["frame_no"])},
                     {(q, n): int(k) for q, n, k in zip(f["sequence_id"], f["frame_file"], f["frame_no"])
                      if isinstance(n, str)},
                     {k: int(v) for k, v in f.groupby("sequence_id")["frame_no"].min().items()},
                     folders, sorted({str(x) for x in b["label"].dropna()}))
    return ctx, b, seqs


def _read(uri: str) -> tuple[bytes | None, str | None]:
    try:
        data = storage.read_bytes(uri)
    except Exception as e:  # noqa: BLE001 - missing, unreadable, S3 errors: the file is refused, the run goes on
        return None, f"{type(e).__name__}: {str(e)[:200]}"
    return (None, f"{len(data):,} bytes (at most {MAX_FILE_BYTES:,})") if len(data) > MAX_FILE_BYTES else (data, None)


def parse_input(config: PredictionsConfig, ctx: JobContext, files: list[str],
                read: Callable[[str], tuple[bytes | None, str | None]] = _read) -> tuple[list[Parsed], str]:
    """Every file of the input parsed in its format, and a fingerprint of what was read (format, files' sha256s)."""
    out, digest = [], hashlib.sha256(config.format.encode())
    blobs = {}
    for uri in files:
        data, why = read(uri)
        blobs[uri] = data
        digest.update(f"{uri.rsplit('/', 1)[-1]}\0{hashlib.sha256(data or b'').hexdigest()}\n".encode())
        if data is None:
            out.append(_whole(ctx.job, uri, "unreadable", why or ""))
    if config.format == "jsonl":
        out += [parse_jsonl(d, u, ctx) for u, d in blobs.items() if d is not None]
    elif config.format == "coco":
        names = {posixpath.basename(u): u for u in blobs}
        beside = blobs.get(names.get("annotations.json", ""))
        images_doc = None
        if beside is not None:
            try:
                images_doc = safejson.loads(safejson.decode(beside))
            except safejson.BadDocument:
                images_doc = None
        for u, d in blobs.items():
            if d is None or (u == names.get("annotations.json") and len(blobs) > 1):
                continue  # the images file of a results list is not itself predictions
            out.append(parse_coco(d, u, ctx, images_doc if isinstance(images_doc, dict) else None))
    else:
        mapping = next((d for u, d in blobs.items() if u.endswith("/gtlake-export.json") and d is not None), None)
        categories = {k + 1: c for k, c in enumerate(ctx.classes)}
        folders = dict(ctx.folders)
        if mapping is not None:
            try:
                m = json.loads(mapping)
                categories = {int(c["id"]): str(c["name"]) for c in m.get("categories", [])}
                folders.update({str(s["folder"]): str(s["sequence_id"]) for s in m.get("sequences", [])})
            except (ValueError, TypeError, KeyError):
                pass
        root = config.input.rstrip("/")
        for u, d in blobs.items():
            if d is None or u.endswith("/gtlake-export.json") or not u.endswith(".txt"):
                continue
            rel = u[len(root) + 1:] if u.startswith(root + "/") else posixpath.basename(u)
            parts = rel.split("/")
            folder = parts[0][:-4] if len(parts) == 1 else parts[0]
            if len(parts) not in (1, 3) or (len(parts) == 3 and parts[1:] not in (["det", "det.txt"], ["gt", "gt.txt"])):
                continue  # seqinfo.ini and the like: not predictions
            seq = folders.get(folder)
            if seq is None:
                out.append(_whole(ctx.job, u, "unknown_sequence", f"folder {safejson.escape(folder)[:80]!r} is not "
                                                                   f"a sequence folder of job {ctx.job}"))
                continue
            out.append(parse_mot(d, u, ctx, seq, categories, config.label))
    return out, digest.hexdigest()


def findings(labels: pd.DataFrame, predictions: pd.DataFrame, cfg: PredictionConfig) -> tuple[pd.DataFrame, dict]:
    """Every sequence's findings (with its sequence_id) and the calibrated thresholds, from the job's labels and
    one model's predictions (pandas; both with sequence_id)."""
    groups = {s: g.reset_index(drop=True) for s, g in predictions.groupby("sequence_id")}
    lab = {s: g.reset_index(drop=True) for s, g in labels.groupby("sequence_id")}
    empty = labels.iloc[:0]
    matches = {s: match_sequence(lab.get(s, empty), p, cfg) for s, p in groups.items()}
    if not matches:
        return pd.DataFrame(), {}
    offsets = [pair_offsets(lab.get(s, empty), groups[s], m, cfg) for s, m in matches.items()]
    cal = calibrate(pd.concat(matches.values()), pd.concat(offsets), cfg)
    out = [second_opinion(lab.get(s, empty), groups[s], m, cal, cfg).assign(sequence_id=s) for s, m in matches.items()]
    out = [o for o in out if len(o)]
    return (pd.concat(out, ignore_index=True) if out else pd.DataFrame()), cal.thresholds


def _work(run: Run, config: PredictionsConfig) -> Outcome:
    """Read the input, refuse what is not a prediction, replace the job's predictions of the model, find."""
    spark, lake, counts, job = run.spark, run.lake, run.counts, config.job
    ledger = lake.ledger(NAME)
    ctx, labels, sequences = _context(spark, run, job)
    files = _files(config.input)
    run.say(f"{len(files)} files under {config.input}; {len(ctx.sequences)} sequences, {len(ctx.classes)} classes "
            f"of {job}")
    parsed, fingerprint = parse_input(config, ctx, files)
    ingest_run = lake.ledger("ingest").get(job, {}).get("run_id")  # findings are of these labels: a re-ingest redoes
    fingerprint = hashlib.sha256(f"{fingerprint}\0{json.dumps(asdict(config.settings), sort_keys=True)}\0"
                                 f"{config.label}\0{ingest_run}".encode()).hexdigest()
    for p in parsed:
        counts.add("predictions_file", seen=1, out=int(not p.refused), rejected=int(p.refused))
        if not p.refused:
            counts.add("prediction", seen=p.listed, out=len(p.rows), rejected=len(p.rejects))
    run.balance()
    if ledger.get(job, {}).get("models", {}).get(config.model) == fingerprint:
        return run.unchanged()
    rows = [{**r, "model": config.model, "job_name": job} for p in parsed for r in p.rows]
    rejects = [r for p in parsed for r in p.rejects]
    if job in ledger:
        integrity.require(lake, ("predictions", "prediction_findings"), [job], run.name)
    new = pd.DataFrame(rows, columns=PREDICTIONS.names)
    old = partitions_or_empty(spark, lake, PREDICTIONS, [job]).where(F.col("model") != config.model)
    run.stage(old.unionByName(spark.createDataFrame(new, PREDICTIONS.spark_schema())).select(*PREDICTIONS.names),
              PREDICTIONS)
    refs = {"sequences": sequences}
    run.gate.check_staged("predictions", run.staged["predictions"], refs=refs)
    found, thresholds = findings(labels, new, config.settings) if len(new) else (pd.DataFrame(), {})
    found_rows = found.assign(model=config.model, job_name=job) if len(found) else pd.DataFrame(
        columns=PREDICTION_FINDINGS.names)
    # Other models' findings were made from the labels of the ingest run the ledger names: after a re-ingest they
    # are dropped (their predictions stay), and running gtlake predictions for them again finds anew.
    stale = job in ledger and ledger[job].get("ingest_run") != ingest_run
    if stale:
        run.say(f"{job} was ingested again since its last predictions run: other models' findings are dropped")
    old_f = partitions_or_empty(spark, lake, PREDICTION_FINDINGS, [job]).where(
        F.lit(False) if stale else F.col("model") != config.model)
    new_f = spark.createDataFrame(found_rows[PREDICTION_FINDINGS.names].astype(object).where(
        found_rows[PREDICTION_FINDINGS.names].notna(), None), PREDICTION_FINDINGS.spark_schema())
    run.stage(old_f.unionByName(new_f).select(*PREDICTION_FINDINGS.names), PREDICTION_FINDINGS)
    run.gate.check_staged("prediction_findings", run.staged["prediction_findings"], refs=refs)
    run.replace("predictions", [job])
    run.replace("prediction_findings", [job])
    if rejects:
        old_rej = partitions_or_empty(spark, lake, REJECTED, [job], sub=(f"step={NAME}",))
        new_rej = spark.createDataFrame([r.row(run.run_id, NAME) for r in rejects], REJECTED.spark_schema())
        run.stage(old_rej.unionByName(new_rej).dropDuplicates(["job_name", "source_uri", "locator", "reason_code"]),
                  REJECTED)
        run.replace("rejected", [job], sub=(f"step={NAME}",))
    by_reason = found["reason"].value_counts().to_dict() if len(found) else {}
    entry = {"models": {**({} if stale else ledger.get(job, {}).get("models", {})), config.model: fingerprint},
             "run_id": run.run_id,
             "ingest_run": ingest_run}
    return Outcome([job], {job: entry}, result={"stored": len(new), "findings": {str(k): int(v) for k, v in
                                                                                 by_reason.items()},
                                                "thresholds": thresholds})


def _prepare(config: PredictionsConfig) -> dict:
    if config.format not in PREDICTION_FORMATS:
        raise ValueError(f"format {config.format!r}: one of {', '.join(PREDICTION_FORMATS)}")
    if not isinstance(config.model, str) or not 0 < len(config.model) <= 128 or safejson.problem(config.model):
        raise ValueError("model: a name of 1-128 characters")
    return {}


STEP = Step(NAME, reads=("sequences", "frames", "boxes", "predictions", "prediction_findings"),
            writes=("predictions", "prediction_findings", "rejected"), work=_work, result=PredictionsResult,
            source=lambda config: config.input, prepare=_prepare)


def run(spark: SparkSession, config: PredictionsConfig, log: Callable[[str], None] = print) -> PredictionsResult:
    """Store `config.input`'s predictions of `config.model` for `config.job` and what they say (`STEP`)."""
    return STEP.run(spark, config, log)
