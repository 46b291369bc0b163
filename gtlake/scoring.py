"""Score a review queue against planted mistakes: recall per kind and the share of boxes flagged."""
from __future__ import annotations

from collections import Counter

import pandas as pd


def score_queue(queue: pd.DataFrame, planted: list[dict], n_boxes: int, tolerance: int = 1) -> dict:
    """Recall (a mistake is caught when one of its objects is queued within `tolerance` frames of it)
    per kind and overall, and the queue's size as a share of all boxes.

    `queue` needs sequence_id, object_id, frame_no; `planted` are records of planted.jsonl.
    """
    keys = set(zip(queue["sequence_id"], queue["object_id"], queue["frame_no"].astype(int)))
    caught: Counter = Counter()
    total: Counter = Counter()
    missed = []
    for p in planted:
        total[p["kind"]] += 1
        hit = any((p["sequence_id"], oid, f + d) in keys for oid in p["object_ids"] for f in p["frames"]
                  for d in range(-tolerance, tolerance + 1))
        caught[p["kind"]] += hit
        if not hit:
            missed.append(p)
    n = sum(total.values())
    return {
        "recall": sum(caught.values()) / n if n else 1.0,
        "recall_by_kind": {kind: caught[kind] / total[kind] for kind in sorted(total)},
        "planted": n,
        "flagged": len(keys),
        "flag_share": len(keys) / n_boxes if n_boxes else 0.0,
        "missed": missed,
    }
