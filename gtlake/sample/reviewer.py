"""A simulated reviewer for the sample: verdicts on a job's review queue, as a reviewer who knows the planted
mistakes would give them, in the file a `gtlake review` page saves.

    python -m gtlake.sample.reviewer --lake demo/lake --sample demo/sample --job vehicles-day-2026-10 --out v.json

An entry is a `mistake` when a planted mistake accounts for it (one of its objects within a frame of it, as
`gtlake.sample.scoring` counts a catch), else `fine`; one entry in `UNSURE_EVERY` is `unsure`, as a real
reviewer leaves some. It lets `make demo` and the tests fill `review_verdicts` without a person.
"""
from __future__ import annotations

import argparse
import json
import os
from datetime import datetime, timedelta, timezone

from gtlake.review import VERDICTS_FORMAT
from gtlake.sample.plants import OMISSION_KINDS

UNSURE_EVERY = 9


def verdicts(entries: list[dict], planted: list[dict], job: str, reviewer: str, queue_run_id: str | None,
             at: datetime, tolerance: int = 1) -> dict:
    """The verdicts document for `entries` (sequence_id, frame_no, object_id, reasons, score, rank)."""
    near = {(p["sequence_id"], oid, f + d) for p in planted for oid in p["object_ids"] for f in p["frames"]
            for d in range(-tolerance, tolerance + 1)}
    left_out = {(p["sequence_id"], int(b[0])) for p in planted if p.get("kind") in OMISSION_KINDS
                for b in p.get("detail", {}).get("boxes", [])}
    out = []
    for i, e in enumerate(entries):
        seq, obj, f = e["sequence_id"], e["object_id"], int(e["frame_no"])
        # an overlooked entry (no object) is a mistake where an object was left out of the labels on its frame
        found = (seq, f) in left_out if obj is None else (seq, obj, f) in near
        verdict = "mistake" if found else "fine"
        if i % UNSURE_EVERY == UNSURE_EVERY - 1:
            verdict = "unsure"
        one = {"sequence_id": seq, "frame_no": f, "object_id": obj,
               "reasons": list(e["reasons"]), "score": round(float(e["score"]), 2), "rank": int(e["rank"]),
               "verdict": verdict, "decided_at": (at + timedelta(seconds=20 * i)).isoformat(timespec="seconds")}
        if obj is None:
            one["model_box"] = [float(e[f"model_{c}"]) for c in ("left", "top", "width", "height")]
        out.append(one)
    return {"format": VERDICTS_FORMAT, "job_name": job, "queue_run_id": queue_run_id, "reviewer": reviewer,
            "saved_at": at.isoformat(timespec="seconds"), "verdicts": out}


def for_lake(lake: str, sample: str, job: str, reviewer: str = "sample-reviewer", top: int = 200,
             at: datetime | None = None) -> dict:
    """The simulated verdicts on the first `top` entries of `job`'s queue in `lake`, from `sample`'s plants."""
    from gtlake.lake import Lake
    from gtlake.lakesql import connect
    from gtlake.review import queue_entries

    with open(os.path.join(sample, "planted.jsonl"), encoding="utf-8") as f:
        planted = [json.loads(line) for line in f if line.strip()]
    entries, _ = queue_entries(connect(lake), job, top)
    run_id = Lake(lake).ledger("quality").get(job, {}).get("run_id")
    return verdicts(entries, [p for p in planted if p.get("job_name", job) == job], job, reviewer, run_id,
                    at or datetime.now(timezone.utc).replace(microsecond=0))


def main() -> None:  # pragma: no cover - a demo helper, run by make demo
    p = argparse.ArgumentParser(description="Write a simulated reviewer's verdicts on a sample job's queue.")
    p.add_argument("--lake", required=True)
    p.add_argument("--sample", required=True, help="the folder gtlake sample wrote (its planted.jsonl)")
    p.add_argument("--job", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--reviewer", default="sample-reviewer")
    a = p.parse_args()
    doc = for_lake(a.lake, a.sample, a.job, a.reviewer)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    print(f"sample reviewer: {len(doc['verdicts'])} verdicts on {a.job} in {a.out}")


if __name__ == "__main__":
    main()
