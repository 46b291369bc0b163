"""Accuracy: gtlake's review queue vs the original method's flags, per planted mistake type.

    python bench/bench_accuracy.py [--sequences 60] [--frames 300] [--objects 15] [--seed 99]

Generates a sample (bench-data/accuracy-<seed>), scores the first-level tracking jobs with
`udfs.detect` (the code the quality job runs per sequence) and with the original notebook's method,
and prints recall (a planted mistake is caught when its object is flagged within one frame of it)
and the share of boxes flagged, per mistake type, as a Markdown table.

The original method, as published: per object, over frames 0..last, consecutive pairs (i, i+1)
with a missing box as a zero box; flag index i when the normalized size change exceeds 0.25 or the
IoU is below 0.5 (the flag names the pair's first frame).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter

import numpy as np
import pandas as pd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def load_boxes(root: str) -> pd.DataFrame:
    rows = []
    out = os.path.join(root, "output")
    for job in sorted(os.listdir(out)):
        if job.endswith("-audit") or "detect" in job:
            continue
        base = os.path.join(out, job, "annotations/consolidated-annotation/output")
        for index in os.listdir(base):
            with open(os.path.join(base, index, "SeqLabel.json")) as f:
                for fr in json.load(f)["tracking-annotations"]:
                    for b in fr["annotations"]:
                        rows.append((f"{job}:{index}", int(fr["frame-no"]), b["object-id"], b["object-name"],
                                     b["class-id"], float(b["left"]), float(b["top"]), float(b["width"]),
                                     float(b["height"])))
    return pd.DataFrame(rows, columns=["sequence_id", "frame_no", "object_id", "object_name", "class_id", "left",
                                       "top", "width", "height"])


def gtlake_queue(boxes: pd.DataFrame) -> pd.DataFrame:
    from gtlake.udfs.detect import detect_sequence

    parts = []
    for sid, g in boxes.groupby("sequence_id"):
        out, missing = detect_sequence(g)
        q = pd.concat([out[out["flags"].map(len) > 0], missing])[["object_id", "frame_no"]]
        parts.append(q.assign(sequence_id=sid))
    return pd.concat(parts)


def original_queue(boxes: pd.DataFrame, size_thresh: float = 0.25, iou_thresh: float = 0.5) -> pd.DataFrame:
    """The published method, vectorized: dense per-object vectors over 0..last frame, zero boxes where missing."""
    parts = []
    for (sid, oid), g in boxes.groupby(["sequence_id", "object_id"]):
        n = int(g["frame_no"].max()) + 2
        v = np.zeros((n, 4))
        v[g["frame_no"].to_numpy()] = g[["left", "top", "width", "height"]].to_numpy()
        a, b = v[:-1], v[1:]
        size_a, size_b = a[:, 2] * a[:, 3], b[:, 2] * b[:, 3]
        with np.errstate(invalid="ignore", divide="ignore"):
            norm = np.abs(size_a - size_b) / size_a
            iw = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
            ih = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
            inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
            iou = inter / (size_a + size_b - inter)
        first = int(g["frame_no"].min())
        idx = np.arange(n - 1)
        # the method looks at the object's own frames (a pair starting on a labeled frame, last excluded)
        labeled = np.zeros(n - 1, dtype=bool)
        labeled[g["frame_no"].to_numpy()[g["frame_no"].to_numpy() < n - 2]] = True
        flag = labeled & (idx >= first) & ((norm > size_thresh) | (np.nan_to_num(iou, nan=0.0) < iou_thresh))
        parts.append(pd.DataFrame({"sequence_id": sid, "object_id": oid, "frame_no": idx[flag]}))
    return pd.concat(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sequences", type=int, default=60)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--objects", type=int, default=15)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--seed", type=int, default=99)
    args = ap.parse_args()
    from gtlake.sample.generate import SampleParams, generate
    from gtlake.scoring import score_queue

    root = os.path.join(REPO, "bench-data", f"accuracy-{args.seed}")
    params = SampleParams(sequences=args.sequences, frames=args.frames, objects=args.objects, workers=args.workers,
                          seed=args.seed)
    if not os.path.exists(os.path.join(root, "sample.json")):
        generate(root, params)
    boxes = load_boxes(root)
    planted = [p for p in (json.loads(l) for l in open(os.path.join(root, "planted.jsonl")))
               if not p["job_name"].endswith("-audit")]
    ours = score_queue(gtlake_queue(boxes), planted, len(boxes))
    orig = score_queue(original_queue(boxes), planted, len(boxes))
    kinds = Counter(p["kind"] for p in planted)
    print(f"sample: {params}; {len(boxes):,} boxes in first-level tracking jobs, {len(planted)} planted mistakes\n")
    print("| mistake | planted | gtlake recall | original method recall |")
    print("|---|---:|---:|---:|")
    for kind in sorted(kinds):
        print(f"| {kind} | {kinds[kind]} | {ours['recall_by_kind'][kind]:.2f} | {orig['recall_by_kind'][kind]:.2f} |")
    print(f"| **all** | {len(planted)} | **{ours['recall']:.3f}** | **{orig['recall']:.3f}** |")
    print(f"\n(frame, object) entries flagged: gtlake {ours['flagged']:,} ({ours['flag_share']:.2%} of boxes); "
          f"original method {orig['flagged']:,} ({orig['flag_share']:.2%} of boxes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
