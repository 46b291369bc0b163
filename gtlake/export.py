"""`gtlake export`: a job's labels as COCO or MOTChallenge files, the formats training code, CVAT, FiftyOne and
Label Studio read.

    gtlake export --lake lake --job street-tracking-b2 --format mot --out export/   # <seq>/gt/gt.txt, seqinfo.ini
    gtlake export --lake lake --job street-tracking-b2 --format coco --out export/  # annotations.json

What is exported: every box of the job (`--audited`: the boxes its latest audit job left, the corrected labels,
on the sequences that audit covered; `--queue-only`: only the frames of the job's review queue). Both formats
keep the tracks: COCO's annotations carry a `track_id` and each image a `video_id` and `frame_id` (the COCO-video
convention of TAO and YouTube-VIS), MOTChallenge's `gt.txt` an integer id per track. Beside the files,
`gtlake-export.json` maps every folder, class and track number back to the lake's sequence, label and object ids.

Sequences become folders named after the job and data-object index (`<job>_<index>`, only letters, digits, `.`,
`_` and `-`), so a sequence id never becomes a path. MOT frames are 1-based: frame 1 is the sequence's first frame
in the lake (the offset is in the mapping), and so are its pixel coordinates (MOTChallenge's MATLAB convention:
a box at Ground Truth's left 0 is written 1). Pure functions build the files; `write` puts them under `--out`
atomically (a temporary folder beside it, then renamed), and never outside it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gtlake.frames import frame_path

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("coco", "mot")
MAPPING = "gtlake-export.json"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ExportError(ValueError):
    """An export that cannot be made (no such job, no audit, nothing to export)."""


@dataclass
class Labels:
    """What one export holds: boxes (sequence_id, frame_no, frame_file, object_id, object_name, label, left, top,
    width, height, attributes), the frames of those sequences (sequence_id, frame_no, frame_file, image_width,
    image_height) and the sequences (sequence_id, data_object_index, source_ref)."""

    job: str
    boxes: "pd.DataFrame"
    frames: "pd.DataFrame"
    sequences: "pd.DataFrame"
    notes: list[str] = field(default_factory=list)
    first_frame: dict[str, int] = field(default_factory=dict)  # per sequence, over all its frames (MOT's frame 1)
    last_frame: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.first_frame and len(self.frames):
            self.first_frame = {k: int(v) for k, v in self.frames.groupby("sequence_id")["frame_no"].min().items()}
            self.last_frame = {k: int(v) for k, v in self.frames.groupby("sequence_id")["frame_no"].max().items()}


def folder_names(sequences: "pd.DataFrame", job: str) -> dict[str, str]:
    """sequence_id -> a folder name safe on every file system, unique within the export."""
    out, used = {}, set()
    for seq, idx in sorted(zip(sequences["sequence_id"], sequences["data_object_index"]), key=lambda r: str(r[0])):
        base = _UNSAFE_NAME.sub("-", f"{job}_{idx}").strip(".-") or "sequence"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        out[seq] = name
    return out


def _file_name(folder: str, frame_file: object, frame_no: int) -> str:
    safe = frame_path("", frame_file) if isinstance(frame_file, str) else None
    return f"{folder}/{safe}" if safe else f"{folder}/frame-{int(frame_no):06d}"


def _size(value: object) -> int | None:
    try:
        v = int(value)
    except (TypeError, ValueError):
        return None
    return v if v > 0 else None


def _attributes(value: object) -> dict:
    """A map column's value as a dict: DuckDB gives a dict, pyarrow a list of (key, value) pairs; NULL is {}."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return {str(k): v for k, v in value}
    return {}


def _tracks(labels: Labels) -> dict[tuple[str, str], int]:
    """(sequence_id, object_id) -> a track number, 1.. in order of sequence then object."""
    pairs = sorted({(str(s), str(o)) for s, o in zip(labels.boxes["sequence_id"], labels.boxes["object_id"])})
    return {p: k + 1 for k, p in enumerate(pairs)}


def _categories(labels: Labels) -> dict[str, int]:
    return {name: k + 1 for k, name in enumerate(sorted({str(x) for x in labels.boxes["label"]}))}


def mapping(labels: Labels, fmt: str) -> dict:
    """The export's key back to the lake: folders, classes and track numbers."""
    folders = folder_names(labels.sequences, labels.job)
    first = labels.first_frame
    tracks = _tracks(labels)
    return {
        "job_name": labels.job, "format": fmt,
        "sequences": [{"folder": folders[s], "sequence_id": s, "first_frame_no": int(first.get(s, 0)),
                       "source_ref": src} for s, src in sorted(zip(labels.sequences["sequence_id"],
                                                                    labels.sequences["source_ref"]))],
        "categories": [{"id": i, "name": n} for n, i in _categories(labels).items()],
        "tracks": [{"track_id": t, "sequence_id": s, "object_id": o} for (s, o), t in tracks.items()],
        "notes": labels.notes,
    }


def coco(labels: Labels) -> dict:
    """One COCO detection file with the COCO-video fields: images (one per frame with boxes, or every frame of
    `frames`), annotations with `track_id`, categories, videos."""
    folders = folder_names(labels.sequences, labels.job)
    cats, tracks = _categories(labels), _tracks(labels)
    videos = [{"id": k + 1, "name": folders[s], "gtlake_sequence_id": s}
              for k, s in enumerate(sorted(folders, key=folders.get))]
    video_id = {v["gtlake_sequence_id"]: v["id"] for v in videos}
    frames = labels.frames.sort_values(["sequence_id", "frame_no"])
    first = labels.first_frame
    images, image_id = [], {}
    for rec in frames.itertuples(index=False):
        key = (rec.sequence_id, int(rec.frame_no))
        if rec.sequence_id not in folders or key in image_id:
            continue
        image_id[key] = len(images) + 1
        img = {"id": image_id[key], "file_name": _file_name(folders[rec.sequence_id], rec.frame_file, rec.frame_no),
               "video_id": video_id[rec.sequence_id], "frame_id": int(rec.frame_no) - int(first[rec.sequence_id]),
               "gtlake_frame_no": int(rec.frame_no)}
        w, h = _size(rec.image_width), _size(rec.image_height)
        if w and h:
            img["width"], img["height"] = w, h
        images.append(img)
    annotations = []
    for rec in labels.boxes.sort_values(["sequence_id", "frame_no", "object_id"]).itertuples(index=False):
        iid = image_id.get((rec.sequence_id, int(rec.frame_no)))
        if iid is None:
            continue
        w, h = float(rec.width), float(rec.height)
        annotations.append({
            "id": len(annotations) + 1, "image_id": iid, "category_id": cats[str(rec.label)],
            "bbox": [float(rec.left), float(rec.top), w, h], "area": w * h, "iscrowd": 0,
            "track_id": tracks[(str(rec.sequence_id), str(rec.object_id))],
            "attributes": _attributes(rec.attributes),
            "gtlake_object_id": str(rec.object_id), "gtlake_object_name": rec.object_name})
    return {"info": {"description": f"gtlake export of {labels.job}", "version": "1.0"},
            "videos": videos, "images": images, "annotations": annotations,
            "categories": [{"id": i, "name": n, "supercategory": ""} for n, i in cats.items()]}


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def mot(labels: Labels) -> dict[str, str]:
    """MOTChallenge files, relative path -> text: `<folder>/gt/gt.txt` (frame, id, left, top, width, height,
    1, class, 1 per box; frames 1-based from the sequence's first frame; left and top 1-based, MOTChallenge's
    MATLAB convention, which readers such as motmetrics subtract: Ground Truth's are 0-based) and
    `<folder>/seqinfo.ini`."""
    folders = folder_names(labels.sequences, labels.job)
    cats, tracks = _categories(labels), _tracks(labels)
    frames = labels.frames
    first, last = labels.first_frame, labels.last_frame
    sizes = frames.groupby("sequence_id")[["image_width", "image_height"]].max().to_dict("index")
    out: dict[str, str] = {}
    by_seq = {s: g for s, g in labels.boxes.groupby("sequence_id")}
    for seq, folder in sorted(folders.items(), key=lambda kv: kv[1]):
        lines = []
        g = by_seq.get(seq)
        if g is not None:
            g = g.assign(track_no=[tracks[(str(seq), str(o))] for o in g["object_id"]]).sort_values(["frame_no", "track_no"])
            for rec in g.itertuples(index=False):
                lines.append(",".join([str(int(rec.frame_no) - int(first[seq]) + 1), str(rec.track_no),
                                       _number(rec.left + 1), _number(rec.top + 1),  # MOT pixels are 1-based
                                       _number(rec.width), _number(rec.height),
                                       "1", str(cats[str(rec.label)]), "1"]))
        out[f"{folder}/gt/gt.txt"] = "".join(line + "\n" for line in lines)
        size = sizes.get(seq, {})
        info = ["[Sequence]", f"name={folder}", "imDir=img1",  # no frameRate: Ground Truth does not record it
                f"seqLength={int(last.get(seq, 0)) - int(first.get(seq, 0)) + 1 if seq in first else 0}"]
        w, h = _size(size.get("image_width")), _size(size.get("image_height"))
        if w and h:
            info += [f"imWidth={w}", f"imHeight={h}"]
        out[f"{folder}/seqinfo.ini"] = "\n".join(info) + "\n"
    return out


def files(labels: Labels, fmt: str) -> dict[str, str]:
    """Every file of an export, relative path -> text."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
    out = {"annotations.json": json.dumps(coco(labels), indent=1)} if fmt == "coco" else mot(labels)
    out[MAPPING] = json.dumps(mapping(labels, fmt), indent=1)
    return out


def write(out_dir: str, texts: dict[str, str]) -> None:
    """Write the files under `out_dir` (which must not exist or be empty) atomically: a temporary folder beside
    it, renamed into place. A relative path that would leave `out_dir` is an ExportError."""
    root = os.path.abspath(out_dir)
    if os.path.exists(root) and (not os.path.isdir(root) or os.listdir(root)):
        raise ExportError(f"{out_dir} exists and is not an empty folder; give a new one")
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(root)}.tmp-", dir=parent)
    try:
        for rel, text in texts.items():
            path = os.path.abspath(os.path.join(tmp, rel))
            if not path.startswith(tmp + os.sep):
                raise ExportError(f"{rel}: would leave the export folder")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        if os.path.isdir(root):
            os.rmdir(root)
        os.replace(tmp, root)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)


def load(con, job: str, audited: bool = False, queue_only: bool = False) -> Labels:  # noqa: ANN001 - duckdb
    """The labels of `job` from the lake (a DuckDB connection of `gtlake.lakesql.connect`)."""
    jobs = {r[0]: r for r in con.execute("SELECT job_name, role, audited_job, created_at FROM jobs").fetchall()}
    if job not in jobs:
        raise ExportError(f"no job {job} in the lake (jobs: {', '.join(sorted(jobs)) or 'none'})")
    notes: list[str] = []
    source, seq_map = job, None
    if audited:
        audits = sorted((r[3] is not None, r[3], r[0]) for r in jobs.values() if r[1] == "audit" and r[2] == job)
        if not audits:
            raise ExportError(f"job {job} has no audit job in the lake (jobs.audited_job); export it without --audited")
        source = audits[-1][2]
        notes.append(f"labels as audit job {source} left them")
        seq_map = con.execute("SELECT DISTINCT audit_sequence_id, sequence_id FROM audit_changes "
                              "WHERE audit_job = ? AND source_job = ? AND audit_sequence_id IS NOT NULL "
                              "AND sequence_id IS NOT NULL", [source, job]).df()
        if seq_map.empty:
            raise ExportError(f"audit job {source} changed nothing it can be matched by: run gtlake audit first")
    params = [source]
    boxes = con.execute("SELECT sequence_id, frame_no, frame_file, object_id, object_name, label, \"left\", \"top\", "
                        "width, height, attributes FROM boxes WHERE job_name = ?", params).df()
    frames = con.execute("SELECT sequence_id, frame_no, frame_file, image_width, image_height FROM frames "
                         "WHERE job_name = ?", params).df()
    sequences = con.execute(  # a chained job has a row per label attribute: one per sequence, its own first
        "SELECT sequence_id, data_object_index, source_ref FROM sequences WHERE job_name = ? "
        "ORDER BY sequence_id, coalesce(inherited, false), label_attribute", params).df().drop_duplicates("sequence_id")
    if seq_map is not None:  # the audit's sequences, named as the audited job's
        rename = dict(zip(seq_map["audit_sequence_id"], seq_map["sequence_id"]))
        boxes, frames, sequences = (d[d["sequence_id"].isin(list(rename))].assign(sequence_id=lambda x: x["sequence_id"].map(rename))
                                    for d in (boxes, frames, sequences))
        idx = con.execute("SELECT DISTINCT sequence_id, data_object_index FROM sequences WHERE job_name = ?",
                          [job]).df().drop_duplicates("sequence_id")
        sequences = sequences.drop(columns="data_object_index").merge(idx, on="sequence_id", how="left")
    whole = Labels(job, boxes.iloc[:0], frames, sequences)  # frame numbers over every frame of each sequence
    if queue_only:
        q = con.execute("SELECT DISTINCT sequence_id, frame_no FROM review_queue WHERE job_name = ?", [job]).df()
        if q.empty:
            raise ExportError(f"job {job} has nothing in its review queue: run gtlake quality first, or drop --queue-only")
        keep = set(zip(q["sequence_id"], q["frame_no"].astype(int)))
        boxes = boxes[[k in keep for k in zip(boxes["sequence_id"], boxes["frame_no"].astype(int))]]
        frames = frames[[k in keep for k in zip(frames["sequence_id"], frames["frame_no"].astype(int))]]
        sequences = sequences[sequences["sequence_id"].isin(set(q["sequence_id"]))]
        notes.append(f"only the {len(keep)} frames of the review queue")
    if boxes.empty:
        raise ExportError(f"job {job} has no boxes to export{' on those frames' if queue_only else ''}")
    return Labels(job, boxes.reset_index(drop=True), frames.reset_index(drop=True), sequences.reset_index(drop=True),
                  notes, whole.first_frame, whole.last_frame)
