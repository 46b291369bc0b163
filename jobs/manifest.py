"""Parse a Ground Truth output manifest into `sequences` rows and rejections (pure Python).

One record per (line, label attribute), or one per line without any label attribute (a data
object not labeled yet, which is not an error). Label attributes are found through their
`<name>-metadata` object, never by a fixed name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable
from datetime import datetime, timezone

from gtlake import safejson
from gtlake.records import Reject, unforeseen
from gtlake.schemas import SEQUENCES

VIDEO_TYPES = ("groundtruth/video-object-tracking", "groundtruth/video-object-detection")  # labels in SeqLabel.json
IMAGE_BOX_TYPES = ("groundtruth/object-detection",)  # boxes inline in the manifest, flattened into `boxes`
INLINE_TYPES = ("groundtruth/image-classification", "groundtruth/image-classification-multilabel",
                "groundtruth/label-verification")  # kept as they are in `sequences.labels_inline`
READ_TYPES = VIDEO_TYPES + IMAGE_BOX_TYPES + INLINE_TYPES
LABELING_JOB_PREFIX = "labeling-job/"
SOURCE_KEYS = ("source-ref", "source")  # the data object, never a label attribute (nor its -metadata)
_INDEX_IN_REF = re.compile(r"/output/(\d+)/[^/]+$")
# Metadata fields gtlake reads, and the JSON type each must have when present.
_METADATA_TYPES = {"type": str, "job-name": str, "human-annotated": str, "adjustment-status": str,
                   "creation-date": str, "class-map": dict}


@dataclass(frozen=True)
class SequenceRow:
    """A `sequences` row (see schemas.SEQUENCES)."""

    sequence_id: str
    data_object_index: int
    label_attribute: str | None
    label_job_name: str | None
    inherited: bool | None
    source_ref: str
    labels_ref: str | None
    labels_inline: str | None
    task_type: str | None
    class_map: dict[str, str] | None
    adjustment_status: str | None
    human_annotated: str | None
    creation_time: datetime | None
    metadata: str | None
    manifest_line: int
    source_uri: str
    job_name: str
    labels_read: bool | None = None  # set by ingest's plan: whether these labels are the ones read into boxes

    def row(self) -> tuple:
        """The row tuple in schema column order."""
        return tuple(getattr(self, c) for c in SEQUENCES.names)


def same_job(a: str | None, b: str | None) -> bool:
    """Whether two labeling job names are the same job: SageMaker job names are case-insensitive (it lowercases
    them in ARNs and in the manifest's job-name, while the output folder keeps the name as it was given)."""
    return a is not None and b is not None and a.lower() == b.lower()


def metadata_job(meta: dict) -> str | None:
    """The job named by a label attribute's metadata (`labeling-job/<name>`), without the prefix."""
    name = meta.get("job-name")
    return name.removeprefix(LABELING_JOB_PREFIX) if isinstance(name, str) and name else None


def parse_creation_date(text: str) -> datetime:
    """A Ground Truth time: no zone (UTC), 'Z', '+0000' or '+00:00'; fractions optional. ValueError when it is
    not one, or lies outside safejson.TIME_MIN..TIME_MAX."""
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    t = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", t)
    try:
        dt = datetime.fromisoformat(t)
        dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{text[:60]!r} is outside the times a task can have") from None
    if not safejson.in_time_range(dt):
        raise ValueError(f"{text[:60]!r} is outside {safejson.TIME_MIN:%Y}-{safejson.TIME_MAX:%Y}")
    return dt


def _dump(value: object) -> str:
    return safejson.dumps(safejson.clean(value))


def _attributes(obj: dict) -> tuple[list[str], dict[str, object]]:
    """(label attributes, other -metadata entries) of a manifest line. An attribute is a key with a value whose
    `<key>-metadata` companion is there too; a -metadata key without its attribute (a source's own metadata, a
    data object that failed with a `failure-reason`) is not one."""
    attrs, orphans = [], {}
    for k, v in obj.items():
        if not k.endswith("-metadata"):
            continue
        base = k[: -len("-metadata")]
        if base not in SOURCE_KEYS and obj.get(base) is not None:
            attrs.append(base)
        else:
            orphans[k] = v
    return attrs, orphans


def _check_metadata(meta: dict) -> str | None:
    """Why a label attribute's metadata is unusable, or None."""
    for key, kind in _METADATA_TYPES.items():
        if meta.get(key) is not None and not isinstance(meta[key], kind):
            return f"{key} must be a JSON {'object' if kind is dict else 'string'}, found {_dump(meta[key])[:200]}"
    cmap = meta.get("class-map")
    if cmap is not None and not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                    for v in cmap.values()):
        return f"class-map must be an object of class-id -> name, found {_dump(cmap)[:200]}"
    if meta.get("creation-date") is not None:
        try:
            parse_creation_date(meta["creation-date"])
        except ValueError as e:
            return f"creation-date is not an ISO-8601 time: {e}"
    return None


def _check_labels(task_type: str, value: object) -> str | None:
    """Why an attribute's labels value cannot be read for its task type, or None."""
    if task_type in VIDEO_TYPES and not isinstance(value, str):
        return f"expected the URI of a labels file, found {_dump(value)[:200]}"
    if task_type in IMAGE_BOX_TYPES:
        boxes = value.get("annotations") if isinstance(value, dict) else None
        size = value.get("image_size", []) if isinstance(value, dict) else None
        if not isinstance(boxes, list) or not isinstance(size, list) or not all(isinstance(s, dict) for s in size):
            return ("expected an object with an 'annotations' list (and an 'image_size' list of objects), found "
                    f"{_dump(value)[:200]}")
    return None


def _task_type(obj: dict, attr: str | None) -> str | None:
    meta = obj.get(f"{attr}-metadata") if attr else None
    return meta.get("type") if isinstance(meta, dict) and isinstance(meta.get("type"), str) else None


def _data_object_index(obj: dict, attrs: list[str], job_name: str, line_no: int) -> int:
    """The data object's index in the job: from its own attribute's labels ref (output/<i>/), else the line's."""
    for attr in attrs:
        m = _INDEX_IN_REF.search(obj[attr]) if isinstance(obj[attr], str) else None
        meta = obj[attr + "-metadata"]
        if m and isinstance(meta, dict) and same_job(metadata_job(meta) or job_name, job_name):
            return int(m.group(1))
    return line_no - 1


def parse_manifest(data: bytes, job_name: str, source_uri: str,
                   known_jobs: set[str] | frozenset[str] = frozenset()) -> tuple[list[SequenceRow], list[Reject], int]:
    """All sequences of one output manifest (JSON Lines, UTF-8); returns (rows, rejects, records seen).

    `known_jobs`: the (lowercased) names of the jobs in the lake or in this run's input. A label attribute
    chained from another job is `inherited` (its labels read from that job's own folder) only when that job is
    known; otherwise its labels are this job's to read. No line, whatever it holds, raises: each record is
    a row or a Reject with its reason.
    """
    rows: list[SequenceRow] = []
    rejects: list[Reject] = []
    seen = 0
    used: dict[tuple, int] = {}  # a labels ref, or a (sequence_id, attribute) -> the line that has it
    for line_no, raw in enumerate(safejson.strip_bom(data).split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            n, r, rej = _parse_line(raw, line_no, job_name, source_uri, known_jobs, used)
        except Exception as e:  # noqa: BLE001 - a gap in the checks above costs the line, never the run
            n, r, rej = 1, [], [Reject(job_name, source_uri, f"line {line_no}", "sequence", "parse_error",
                                       unforeseen(e), safejson.record_text(raw, 2000))]
        seen += n
        rows += r
        rejects += rej
    return rows, rejects, seen


def _parse_line(raw: bytes, line_no: int, job_name: str, source_uri: str, known_jobs: set[str] | frozenset[str],
                used: dict[tuple, int]) -> tuple[int, list[SequenceRow], list[Reject]]:
    """(records seen, rows, rejects) of one manifest line."""
    loc = f"line {line_no}"
    try:
        line = raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as e:
        return 1, [], [Reject(job_name, source_uri, loc, "sequence", "invalid_utf8",
                              f"not UTF-8 text: {e.reason} at byte {e.start} (record: invalid bytes as \\xNN)",
                              safejson.record_text(raw, 2000))]

    def reject(reason: str, detail: str, attr: str | None = None) -> Reject:
        return Reject(job_name, source_uri, loc + (f", attribute {attr!r}" if attr else ""), "sequence", reason,
                      detail, line)

    try:
        obj = safejson.loads(line)
    except safejson.BadDocument as e:
        return 1, [], [reject(e.reason, e.detail)]
    if not isinstance(obj, dict):
        return 1, [], [reject("not_an_object", f"expected a JSON object, found {type(obj).__name__}")]
    bad = safejson.problem(obj)
    if bad:
        return 1, [], [reject(*bad)]
    attrs, orphans = _attributes(obj)
    n = max(1, len(attrs))
    source_ref = obj.get("source-ref")
    if not isinstance(source_ref, str) or not source_ref:
        if "source" in obj and "source-ref" not in obj:  # a text data object
            what = "a text data object ('source'), which gtlake does not read"
            return n, [], [reject("unsupported_task_type", f"task type {_task_type(obj, a)!r}: {what}"
                                  if _task_type(obj, a) else what, a) for a in attrs or [None]]
        return n, [], [reject("missing_source_ref", "a manifest line needs a 'source-ref' string", a)
                       for a in attrs or [None]]
    index = _data_object_index(obj, attrs, job_name, line_no)
    if index > safejson.INT32_MAX:
        return n, [], [reject("invalid_labels_ref", f"data object index {index} (output/<i>/) is out of range", a)
                       for a in attrs]
    seq_id = f"{job_name}:{index}"
    if not attrs:
        key = ("data object", seq_id, None)
        if key in used:
            return 1, [], [reject("duplicate_data_object", f"line {used[key]} is the same data object; only that line "
                                  "is read")]
        used[key] = line_no
        return 1, [SequenceRow(seq_id, index, None, None, None, source_ref, None, None, None, None, None, None, None,
                               _dump(orphans) if orphans else None, line_no, source_uri, job_name)], []
    rows, rejects = [], []
    for attr in attrs:
        meta = obj[attr + "-metadata"]
        if not isinstance(meta, dict):
            rejects.append(reject("invalid_metadata", f"{attr}-metadata must be a JSON object, found "
                                  f"{_dump(meta)[:200]}", attr))
            continue
        task_type = meta.get("type")
        if not isinstance(task_type, str) or not task_type:
            rejects.append(reject("missing_task_type", "the -metadata object has no 'type' string", attr))
            continue
        if task_type not in READ_TYPES:
            hint = " (3D point cloud jobs are not supported yet)" if "point" in task_type.lower() else ""
            rejects.append(reject("unsupported_task_type", f"task type {task_type!r} is not read by gtlake{hint}",
                                  attr))
            continue
        problem = _check_metadata(meta)
        if problem:
            rejects.append(reject("invalid_metadata", problem, attr))
            continue
        problem = _check_labels(task_type, obj[attr])
        if problem:
            rejects.append(reject("invalid_labels_ref" if task_type in VIDEO_TYPES else "invalid_labels", problem,
                                  attr))
            continue
        value = obj[attr]
        label_job = metadata_job(meta) or job_name
        inherited = not same_job(label_job, job_name) and label_job.lower() in known_jobs
        cmap = meta.get("class-map")
        rows.append(SequenceRow(
            sequence_id=seq_id, data_object_index=index, label_attribute=attr, label_job_name=label_job,
            inherited=inherited, source_ref=source_ref, labels_ref=value if task_type in VIDEO_TYPES else None,
            labels_inline=None if task_type in VIDEO_TYPES else _dump(value), task_type=task_type,
            class_map={str(k): str(v) for k, v in cmap.items()} if isinstance(cmap, dict) else None,
            adjustment_status=meta.get("adjustment-status"), human_annotated=meta.get("human-annotated"),
            creation_time=parse_creation_date(meta["creation-date"]) if meta.get("creation-date") else None,
            metadata=_dump(meta), manifest_line=line_no, source_uri=source_uri, job_name=job_name))
    return n, *_unique_lines(rows, rejects, used, reject)


def _unique_lines(rows: list[SequenceRow], rejects: list[Reject], used: dict[tuple, int],
                  reject: Callable[..., Reject]) -> tuple[list[SequenceRow], list[Reject]]:
    """A line's readable rows, unless one of them repeats a labels reference or a data object of an earlier
    line: then all of them are refused (a duplicated line), and only the first line is read."""
    keys = {("labels ref", r.labels_ref): r for r in rows if r.labels_ref is not None}
    keys.update({("data object", r.sequence_id, r.label_attribute): r for r in rows})
    for key in keys:  # against earlier lines only: two attributes of one line may share a labels ref
        if key in used:
            code = "duplicate_labels_ref" if key[0] == "labels ref" else "duplicate_data_object"
            return [], rejects + [reject(code, f"line {used[key]} has the same {key[0]} ({_dump(key[1])[:200]}); "
                                         "only that line is read", r.label_attribute) for r in rows]
    used.update((key, rows[0].manifest_line) for key in keys)
    return rows, rejects
