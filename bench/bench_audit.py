"""Benchmark: the audit job vs motmetrics on the same worker/auditor pairs.

    python bench/bench_audit.py [--size 1M] [--data bench-data]

On the lake that bench_ingest.py builds (bench-data/lake-<size>, ingested and scored here if
missing), in one process:
  * audit: `gtlake audit` end to end (pairing, every box classified, CLEAR MOT, IDF1, flags,
    worker_quality, staged and committed), its ledger cleared first so it really runs;
  * kernel: `udfs.matching.compare_sequence` alone over every audited sequence, in this process
    (pandas, one core): the work the UDF does without Spark;
  * motmetrics: motmetrics 1.4.0 (MOTAccumulator + compute of MOTA/IDF1/switches/fragmentations),
    which computes the tracking metrics only, per sequence, on the first sequences until 30 s pass;
    its boxes/s is extrapolated from those.
Boxes are the worker's plus the auditor's boxes of the compared sequences. Also prints, per kind of change,
the share of audit_changes rows the quality job had queued: its recall against what auditors changed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime, timezone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def time_audit(spark, lake: str):
    from gtlake.jobs.audit import AuditJobConfig, run

    shutil.rmtree(os.path.join(lake, "_gtlake", "ledger", "audit"), ignore_errors=True)
    t0 = time.monotonic()
    result = run(spark, AuditJobConfig(lake=lake), log=lambda m: None)
    return time.monotonic() - t0, result


def sequences(lake: str):
    """(worker boxes, auditor boxes) of every audited sequence, as pandas frames."""
    import pyarrow.dataset as ds

    from gtlake.jobs.audit import audit_pairs

    seqs = ds.dataset(os.path.join(lake, "sequences"), partitioning="hive").to_table().to_pandas()
    pairs, _ = audit_pairs(seqs)
    cols = ["job_name", "sequence_id", "frame_no", "object_id", "label", "left", "top", "width", "height"]
    boxes = ds.dataset(os.path.join(lake, "boxes"), partitioning="hive").to_table(columns=cols).to_pandas()
    groups = dict(tuple(boxes[boxes.object_id.notna()].groupby(["job_name", "sequence_id"])))
    empty = boxes.iloc[0:0]
    for p in pairs.itertuples():
        yield (groups.get((p.source_job, p.sequence_id), empty), groups.get((p.audit_job, p.audit_sequence_id), empty))


def time_kernel(lake: str) -> tuple[float, int]:
    from gtlake.udfs.matching import compare_sequence

    pairs = list(sequences(lake))
    t0 = time.monotonic()
    n = 0
    for w, a in pairs:
        compare_sequence(w, a)
        n += len(w) + len(a)
    return time.monotonic() - t0, n


def time_motmetrics(lake: str, budget_s: float = 30.0) -> tuple[float, int]:
    import motmetrics as mm
    import numpy as np

    t0 = time.monotonic()
    n = 0
    mh = mm.metrics.create()
    with mm.lap.set_default_solver("scipy"):
        for w, a in sequences(lake):
            acc = mm.MOTAccumulator(auto_id=False)
            codes = {oid: k for k, oid in enumerate(sorted(set(w.object_id) | set(a.object_id)))}
            w, a = w.assign(object_id=w.object_id.map(codes)), a.assign(object_id=a.object_id.map(codes))  # numeric ids
            wf, af = dict(tuple(w.groupby("frame_no"))), dict(tuple(a.groupby("frame_no")))
            for f in sorted(set(wf) | set(af)):
                gw, ga = wf.get(f, w.iloc[0:0]), af.get(f, a.iloc[0:0])
                d = mm.distances.iou_matrix(ga[["left", "top", "width", "height"]].to_numpy(),
                                            gw[["left", "top", "width", "height"]].to_numpy(), max_iou=0.5)
                acc.update(ga.object_id.to_numpy(), gw.object_id.to_numpy(),
                           d if d.size else np.empty((len(ga), len(gw))), frameid=int(f))
            mh.compute(acc, metrics=["mota", "idf1", "num_switches", "num_fragmentations"])
            n += len(w) + len(a)
            if time.monotonic() - t0 > budget_s:
                break
    return time.monotonic() - t0, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="1M")
    ap.add_argument("--data", default=os.path.join(REPO, "bench-data"))
    args = ap.parse_args()
    from bench.bench_ingest import ensure_lake
    from gtlake.spark import get_spark

    spark = get_spark("gtlake-bench-audit")
    lake = ensure_lake(spark, args.data, args.size)
    time_audit(spark, lake)  # warm the JVM and the Python workers once
    audit_s, result = time_audit(spark, lake)
    n = result.counts.as_dict()["audit_box"]["in"]
    print(f"  audit job: {n:,} boxes in {audit_s:.1f}s", flush=True)
    kernel_s, kernel_n = time_kernel(lake)
    mm_s, mm_n = time_motmetrics(lake)
    r = {"size": args.size, "audit_boxes": n, "audit_s": round(audit_s, 2), "audit_boxes_per_s": round(n / audit_s),
         "kernel_boxes_per_s": round(kernel_n / kernel_s), "motmetrics_boxes_per_s": round(mm_n / mm_s),
         "motmetrics_boxes_timed": mm_n, "audit_vs_motmetrics": round((n / audit_s) / (mm_n / mm_s), 1),
         "kernel_vs_motmetrics": round((kernel_n / kernel_s) / (mm_n / mm_s), 1)}
    print(f"[{args.size}] {n:,} worker + auditor boxes: audit job {r['audit_boxes_per_s']:,} boxes/s ({audit_s:.1f}s) | "
          f"kernel alone {r['kernel_boxes_per_s']:,} boxes/s (1 core) | motmetrics {r['motmetrics_boxes_per_s']:,} "
          f"boxes/s (1 core, metrics only) | audit job is {r['audit_vs_motmetrics']}x motmetrics, kernel "
          f"{r['kernel_vs_motmetrics']}x", flush=True)
    import duckdb

    flagged = duckdb.sql(f"""SELECT change, count(*) AS rows, round(avg(flagged::int), 3) AS flagged_share
        FROM read_parquet('{lake}/audit_changes/*/*.parquet', hive_partitioning = true)
        GROUP BY change ORDER BY rows DESC""").fetchall()
    r["flagged_share_by_change"] = {c: {"rows": n, "flagged": share} for c, n, share in flagged}
    print("  review queue vs what auditors changed (share of rows the quality job queued): "
          + ", ".join(f"{c} {share} of {n:,}" for c, n, share in flagged), flush=True)
    with open(os.path.join(args.data, "audit-results.json"), "w") as f:
        json.dump({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                   "results": [r]}, f, indent=2)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
