"""Parse a Ground Truth output manifest into `sequences` rows and rejections (pure Python).

One record per (line, label attribute), or one per line without any label attribute (a data
object not labeled yet, which is not an error). Label attributes are found through their
`<name>-metadata` object, never by a fixed name.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from gtlake.records import Reject

VIDEO_TYPES = ("groundtruth/video-object-tracking", "groundtruth/video-object-detection")
UNSUPPORTED_HINTS = ("point_cloud", "point-cloud", "3d")
LABELING_JOB_PREFIX = "labeling-job/"
_INDEX_IN_REF = re.compile(r"/output/(\d+)/[^/]+$")


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

    def row(self) -> tuple:
        """The row tuple in schema column order."""
        return tuple(self.__dict__.values())


def parse_creation_date(text: str) -> datetime:
    """Ground Truth creation-date: no zone (UTC), 'Z', '+0000' or '+00:00'; fractions optional."""
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    t = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", t)
    dt = datetime.fromisoformat(t)
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _attributes(obj: dict) -> list[str]:
    """Label attribute names of a manifest line: keys whose '-metadata' companion is an object."""
    return [k[: -len("-metadata")] for k, v in obj.items() if k.endswith("-metadata") and isinstance(v, dict)]


def _check_metadata(meta: dict) -> str | None:
    """Why a label attribute's metadata is unusable, or None."""
    cmap = meta.get("class-map")
    if cmap is not None and not (isinstance(cmap, dict) and all(isinstance(v, (str, int, float)) for v in cmap.values())):
        return f"class-map must be an object of class-id -> name, found {_dump(cmap)[:200]}"
    if "creation-date" in meta:
        try:
            parse_creation_date(str(meta["creation-date"]))
        except ValueError:
            return f"creation-date {meta['creation-date']!r} is not an ISO-8601 time"
    return None


def parse_manifest(data: bytes, job_name: str, source_uri: str) -> tuple[list[SequenceRow], list[Reject], int]:
    """All sequences of one output manifest (JSON Lines, UTF-8); returns (rows, rejects, records seen)."""
    rows: list[SequenceRow] = []
    rejects: list[Reject] = []
    seen = 0
    for line_no, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        loc = f"line {line_no}"
        try:
            line = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as e:
            seen += 1
            rejects.append(Reject(job_name, source_uri, loc, "sequence", "invalid_utf8",
                                  f"not UTF-8 text: {e.reason} at byte {e.start}", raw.decode("utf-8", "replace")))
            continue

        def reject(reason: str, detail: str, attr: str | None = None) -> None:
            rejects.append(Reject(job_name, source_uri, loc + (f", attribute {attr!r}" if attr else ""),
                                  "sequence", reason, detail, line))

        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            seen += 1
            reject("invalid_json", f"not valid JSON: {e.msg} at column {e.colno}")
            continue
        if not isinstance(obj, dict):
            seen += 1
            reject("not_an_object", f"expected a JSON object, found {type(obj).__name__}")
            continue
        source_ref = obj.get("source-ref")
        attrs = _attributes(obj)
        if not isinstance(source_ref, str) or not source_ref:
            seen += max(1, len(attrs))
            for attr in attrs or [None]:
                reject("missing_source_ref", "a manifest line needs a 'source-ref' string", attr)
            continue
        index = line_no - 1
        for attr in attrs:
            m = _INDEX_IN_REF.search(str(obj.get(attr, "")))
            meta_job = str(obj[attr + "-metadata"].get("job-name", job_name)).removeprefix(LABELING_JOB_PREFIX)
            if m and meta_job == job_name:
                index = int(m.group(1))
        seq_id = f"{job_name}:{index}"
        if not attrs:
            seen += 1
            rows.append(SequenceRow(seq_id, index, None, None, None, source_ref, None, None, None, None, None, None,
                                    None, None, line_no, source_uri, job_name))
            continue
        for attr in attrs:
            seen += 1
            meta = obj[attr + "-metadata"]
            task_type = meta.get("type")
            if not isinstance(task_type, str) or not task_type:
                reject("missing_task_type", "the -metadata object has no 'type'", attr)
                continue
            if not task_type.startswith("groundtruth/") or any(h in task_type.lower() for h in UNSUPPORTED_HINTS):
                hint = " (3D point cloud jobs are not supported yet)" if any(
                    h in task_type.lower() for h in UNSUPPORTED_HINTS) else ""
                reject("unsupported_task_type", f"task type {task_type!r} is not supported{hint}", attr)
                continue
            problem = _check_metadata(meta)
            if problem:
                reject("invalid_metadata", problem, attr)
                continue
            value = obj.get(attr)
            labels_ref = labels_inline = None
            if task_type in VIDEO_TYPES:
                if value is not None and not isinstance(value, str):
                    reject("invalid_labels_ref", f"expected the URI of a labels file, found {_dump(value)[:200]}", attr)
                    continue
                labels_ref = value
            elif value is not None:
                labels_inline = _dump(value)
            label_job = str(meta.get("job-name", job_name)).removeprefix(LABELING_JOB_PREFIX)
            cmap = meta.get("class-map")
            rows.append(SequenceRow(
                sequence_id=seq_id, data_object_index=index, label_attribute=attr, label_job_name=label_job,
                inherited=label_job != job_name, source_ref=source_ref, labels_ref=labels_ref,
                labels_inline=labels_inline, task_type=task_type,
                class_map={str(k): str(v) for k, v in cmap.items()} if isinstance(cmap, dict) else None,
                adjustment_status=meta.get("adjustment-status"), human_annotated=meta.get("human-annotated"),
                creation_time=parse_creation_date(str(meta["creation-date"])) if "creation-date" in meta else None,
                metadata=_dump(meta), manifest_line=line_no, source_uri=source_uri, job_name=job_name))
    return rows, rejects, seen
