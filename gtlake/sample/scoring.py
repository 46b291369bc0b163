"""Score a review queue against planted mistakes: recall per kind and the share of boxes flagged."""
from __future__ import annotations

from collections import Counter

import pandas as pd

from gtlake.sample.plants import OMISSION_KINDS  # objects left out of the labels: scored by score_overlooked


def score_queue(queue: pd.DataFrame, planted: list[dict], n_boxes: int, tolerance: int = 1,
                omissions: bool = False) -> dict:
    """Recall (a mistake is caught when one of its objects is queued within `tolerance` frames of it)
    per kind and overall, the queue's size as a share of all boxes, the share of boxes queued that no planted
    mistake accounts for (`false_share`), and the queue's precision (entries accounted for / entries).

    `queue` needs sequence_id, object_id, frame_no; `planted` are records of planted.jsonl. Omissions (objects
    left out of the labels: no label check can see them) are scored by `score_overlooked`, and left out here
    unless `omissions`; overlooked entries (no object) are too.
    """
    planted = [p for p in planted if omissions or p["kind"] not in OMISSION_KINDS]
    queue = queue[queue["object_id"].notna()]
    keys = set(zip(queue["sequence_id"], queue["object_id"], queue["frame_no"].astype(int)))
    caught: Counter = Counter()
    total: Counter = Counter()
    missed = []
    explained: set = set()  # the entries a planted mistake accounts for
    for p in planted:
        total[p["kind"]] += 1
        near = {(p["sequence_id"], oid, f + d) for oid in p["object_ids"] for f in p["frames"]
                for d in range(-tolerance, tolerance + 1)}
        hit = bool(near & keys)
        explained |= near & keys
        caught[p["kind"]] += hit
        if not hit:
            missed.append(p)
    n = sum(total.values())
    false = keys - explained
    return {
        "recall": sum(caught.values()) / n if n else 1.0,
        "recall_by_kind": {kind: caught[kind] / total[kind] for kind in sorted(total)},
        "planted": n,
        "flagged": len(keys),
        "flag_share": len(keys) / n_boxes if n_boxes else 0.0,
        # entries no planted mistake accounts for, as a share of the boxes: the clean boxes a reviewer is sent to
        "false_share": len(false) / n_boxes if n_boxes else 0.0,
        "precision": len(explained) / len(keys) if keys else 1.0,
        "missed": missed,
        "false": sorted(false),
    }


def sample_boxes(root: str, first_level: bool = True) -> pd.DataFrame:
    """The tracking boxes of a generated sample tree (`gtlake sample`), as the quality job's detector reads them
    (attributes as JSON text, keys sorted); only first-level labeling jobs (not audits, not detection) by default."""
    import json
    from pathlib import Path

    rows = []
    for path in sorted(Path(root, "output").glob("*/annotations/consolidated-annotation/output/*/SeqLabel.json")):
        job, index = path.parts[-6], path.parts[-2]
        if first_level and (job.endswith("-audit") or "detect" in job):
            continue
        for fr in json.loads(path.read_text())["tracking-annotations"]:
            for b in fr["annotations"]:
                rows.append((f"{job}:{index}", int(fr["frame-no"]), b["object-id"], b["object-name"], b["class-id"],
                             float(b["left"]), float(b["top"]), float(b["width"]), float(b["height"]),
                             json.dumps(b.get("label-category-attributes") or {}, sort_keys=True,
                                        separators=(",", ":"))))
    return pd.DataFrame(rows, columns=["sequence_id", "frame_no", "object_id", "object_name", "class_id", "left",
                                       "top", "width", "height", "attributes"])


def detector_queue(boxes: pd.DataFrame, cfg=None) -> pd.DataFrame:  # noqa: ANN001 - a QualityConfig
    """(sequence_id, object_id, frame_no) of every queue entry `udfs.detect` raises on the boxes, per sequence
    (the quality job's per-sequence checks, without the job-level track_outlier)."""
    from gtlake.udfs.config import QualityConfig
    from gtlake.udfs.detect import detect_boxes

    if boxes.empty:
        return pd.DataFrame(columns=["object_id", "frame_no", "sequence_id"])
    out, missing = detect_boxes(boxes, cfg or QualityConfig(), by=("sequence_id",))  # every sequence at once
    return pd.concat([out[out["flags"].map(len) > 0], missing])[["object_id", "frame_no", "sequence_id"]]


def by_regime(queue: pd.DataFrame, planted: list[dict], boxes: pd.DataFrame, regimes: dict[str, str]) -> dict:
    """`score_queue` per regime of footage (`regimes`: sequence_id -> regime, the sample's `sequence_regimes`)."""
    out = {}
    regime_of = boxes["sequence_id"].map(regimes)
    q_regime = queue["sequence_id"].map(regimes)
    for regime in sorted(set(regime_of.dropna())):
        out[regime] = score_queue(queue[q_regime == regime], [p for p in planted if p.get("regime") == regime],
                                  int((regime_of == regime).sum()))
    return out


def score_overlooked(entries: pd.DataFrame, planted: list[dict], n_frames: int, min_iou: float = 0.5,
                     centre_px: float = 2.0) -> dict:
    """Omission recall of a model's `overlooked` entries (sequence_id, frame_no, and the model's box as left, top,
    width, height, or model_left ...): an omitted object (a whole track or part of one, `planted` records of
    planted.jsonl) is found when an entry falls on one of its left-out frames with a box overlapping the
    left-out box by `min_iou`, or centred within `centre_px` of it (a 4 px object: a pixel of the model's jitter
    is a quarter of it, and the reviewer sees the box on it); and the entries that find none, as a share of the
    `n_frames` frames."""
    import numpy as np

    from gtlake.udfs.matching import iou_matrix

    boxes = entries.rename(columns={f"model_{c}": c for c in ("left", "top", "width", "height")})
    omitted = [p for p in planted if p["kind"] in OMISSION_KINDS]
    by_seq = {s: g for s, g in boxes.groupby("sequence_id")}
    hit = pd.Series(False, index=boxes.index)
    found: dict[str, int] = {k: 0 for k in OMISSION_KINDS}
    total: dict[str, int] = {k: 0 for k in OMISSION_KINDS}
    missed = []
    for p in omitted:
        total[p["kind"]] += 1
        g = by_seq.get(p["sequence_id"])
        truth = {int(b[0]): b[1:] for b in p["detail"].get("boxes", [])}
        ok = False
        if g is not None:
            on = g[g["frame_no"].astype(int).isin(truth)]
            if len(on):
                got = on[["left", "top", "width", "height"]].to_numpy(float)
                want = np.array([truth[int(f)] for f in on["frame_no"]], dtype=float)
                iou = np.diag(iou_matrix(got, want))
                centres = np.hypot(*((got[:, :2] + got[:, 2:] / 2) - (want[:, :2] + want[:, 2:] / 2)).T)
                close = (iou >= min_iou) | (centres <= centre_px)
                hit[on.index[close]] = True
                ok = bool(close.any())
        found[p["kind"]] += ok
        if not ok:
            missed.append(p)
    n = sum(total.values())
    false = int((~hit).sum())
    return {"recall": sum(found.values()) / n if n else 1.0,
            "recall_by_kind": {k: found[k] / total[k] for k in OMISSION_KINDS if total[k]},
            "omitted": n, "entries": int(len(boxes)), "false": false,
            "false_frame_share": false / n_frames if n_frames else 0.0,
            "missed": missed}
