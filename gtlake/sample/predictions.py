"""A simulated model's predictions for a job of the sample, for `make demo` and the tests (`gtlake predictions`).

    python -m gtlake.sample.predictions --lake demo/lake --job street-tracking-b2 --out demo/predictions.jsonl

The model sees the objects as the job's audit left them (the corrected labels, the nearest the sample has to the
truth; the job's own labels when it has no audit; with --sample also the objects the sample left out that the
audit did not add back), and behaves like a detector: it finds 90% of the boxes, puts
them within a few percent of the object's size, scores them from Beta(6, 2), names the wrong class on 2% of them,
and adds about 0.3 false detections a frame, scored from Beta(2, 5). Same seed, same file.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pandas as pd


def predictions(boxes, frames, seed: int = 7, recall: float = 0.9, false_per_frame: float = 0.3) -> list[dict]:  # noqa: ANN001
    """JSON-lines records of the simulated model over `boxes` (sequence_id, frame_no, label, left, top, width,
    height) on `frames` (sequence_id, frame_no, image_width, image_height)."""
    rng = np.random.default_rng(seed)
    classes = sorted({str(c) for c in boxes["label"]})
    out = []
    for r in boxes.sort_values(["sequence_id", "frame_no", "left"]).itertuples(index=False):
        if rng.random() >= recall:
            continue
        size = float(np.sqrt(r.width * r.height))
        j = rng.normal(0, max(0.7, 0.03 * size), 4)
        label = str(r.label) if rng.random() >= 0.02 or len(classes) < 2 else str(rng.choice(
            [c for c in classes if c != r.label]))
        out.append({"sequence_id": r.sequence_id, "frame_no": int(r.frame_no), "label": label,
                    "score": round(float(rng.beta(6, 2)), 4),
                    "box": [round(r.left + j[0], 2), round(r.top + j[1], 2), round(max(2.0, r.width + j[2]), 2),
                            round(max(2.0, r.height + j[3]), 2)]})
    sizes = boxes.assign(s=np.sqrt(boxes["width"] * boxes["height"]))["s"]
    lo, hi = float(sizes.quantile(0.1)), float(sizes.quantile(0.9))
    for f in frames.sort_values(["sequence_id", "frame_no"]).itertuples(index=False):
        w_img = float(f.image_width) if pd.notna(f.image_width) and f.image_width > 0 else 1920.0
        h_img = float(f.image_height) if pd.notna(f.image_height) and f.image_height > 0 else 1080.0
        for _ in range(rng.poisson(false_per_frame)):
            w = float(rng.uniform(lo, hi))
            h = w * float(rng.uniform(0.6, 1.6))
            out.append({"sequence_id": f.sequence_id, "frame_no": int(f.frame_no), "label": str(rng.choice(classes)),
                        "score": round(float(rng.beta(2, 5)), 4),
                        "box": [round(float(rng.uniform(0, max(1.0, w_img - w))), 2),
                                round(float(rng.uniform(0, max(1.0, h_img - h))), 2), round(w, 2), round(h, 2)]})
    return out


def omitted_boxes(planted: list[dict]) -> pd.DataFrame:
    """The boxes the sample left out of the labels (planted.jsonl's omission records), as label rows."""
    from gtlake.sample.plants import OMISSION_KINDS

    rows = [{"sequence_id": p["sequence_id"], "frame_no": int(b[0]), "object_id": p["object_ids"][0],
             "label": p["object_names"][0].rsplit(":", 1)[0], "left": b[1], "top": b[2], "width": b[3], "height": b[4]}
            for p in planted if p.get("kind") in OMISSION_KINDS for b in p["detail"]["boxes"]]
    return pd.DataFrame(rows, columns=["sequence_id", "frame_no", "object_id", "label", "left", "top", "width",
                                       "height"])


def left_out(sample: str, job: str) -> pd.DataFrame:
    """The boxes the sample left out of `job`'s labels that its audit did not add back (`omitted_boxes`): a model
    sees them as it sees the rest."""
    import os

    with open(os.path.join(sample, "planted.jsonl"), encoding="utf-8") as f:
        planted = [json.loads(line) for line in f if line.strip()]
    return omitted_boxes([p for p in planted if p.get("job_name") == job and not p.get("corrected_by_audit")])


def main(argv: list[str] | None = None) -> int:
    """Write the simulated predictions of a job of the lake as JSON lines."""
    from gtlake import export
    from gtlake.lakesql import connect

    p = argparse.ArgumentParser(prog="python -m gtlake.sample.predictions", description=__doc__.split("\n\n")[0])
    p.add_argument("--lake", required=True)
    p.add_argument("--job", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--sample", help="the folder gtlake sample wrote: the model also sees the objects its "
                                    "planted.jsonl says were left out and the audit did not add back")
    args = p.parse_args(argv)
    con = connect(args.lake)
    try:
        labels = export.load(con, args.job, audited=True)
    except export.ExportError:
        labels = export.load(con, args.job)
    frames = con.execute("SELECT sequence_id, frame_no, image_width, image_height FROM frames WHERE job_name = ?",
                         [args.job]).df()
    seen = labels.boxes
    if args.sample:
        extra = left_out(args.sample, args.job)
        seen = pd.concat([seen, extra], ignore_index=True) if len(extra) else seen
    rows = predictions(seen, frames, args.seed)
    with open(args.out, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    print(f"predictions: {args.out}: {len(rows)} predictions of a simulated model for {args.job}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
