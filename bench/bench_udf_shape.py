"""Which pandas UDF shape carries the per-sequence detector best: applyInPandas or mapInPandas.

    python bench/bench_udf_shape.py [--lake bench-data/lake-1M] [--rounds 2]

The detector needs all tracks of a sequence at once (duplicates, identity swaps), which rules out
scalar Arrow-batched UDFs. applyInPandas groups by sequence; mapInPandas gets the boxes repartitioned
and sorted by sequence and buffers a sequence that spans two Arrow batches. Both write box_metrics to
Parquet; rounds alternate the order, and the outputs are checked equal.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import pandas as pd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def per_sequence_batches(cfg):
    """mapInPandas body: detector per complete sequence, carrying a sequence cut by a batch boundary."""
    from gtlake.jobs.quality import UDF_SCHEMA
    from gtlake.udfs.detect import detect_sequence

    out_cols = [f.name for f in UDF_SCHEMA.fields]

    def run(batches):
        leftover = None
        for pdf in batches:
            if leftover is not None:
                pdf = pd.concat([leftover, pdf], ignore_index=True)
            tail = (pdf["job_name"] == pdf["job_name"].iloc[-1]) & (pdf["sequence_id"] == pdf["sequence_id"].iloc[-1])
            leftover, done = pdf[tail], pdf[~tail]
            if len(done):
                yield pd.concat([detect_sequence(g, cfg)[0].reindex(columns=out_cols)
                                 for _, g in done.groupby(["job_name", "sequence_id"], sort=False)], ignore_index=True)
        if leftover is not None and len(leftover):
            yield detect_sequence(leftover, cfg)[0].reindex(columns=out_cols)

    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lake", default=os.path.join(REPO, "bench-data", "lake-1M"))
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    from pyspark.sql import functions as F

    from gtlake.jobs.quality import UDF_SCHEMA, box_metrics
    from gtlake.spark import get_spark
    from gtlake.udfs.config import QualityConfig

    spark = get_spark("gtlake-bench-udf-shape")
    cfg = QualityConfig()
    boxes = spark.read.parquet("file://" + os.path.join(args.lake, "boxes")).where(F.col("object_id").isNotNull())
    cols = ["job_name", "sequence_id", "frame_no", "frame_file", "object_id", "object_name", "class_id", "label",
            "left", "top", "width", "height"]
    shapes = {
        "applyInPandas": lambda: boxes.transform(box_metrics(cfg)),
        "mapInPandas": lambda: (boxes.select(*cols).repartition(8, "job_name", "sequence_id")
                                .sortWithinPartitions("job_name", "sequence_id")
                                .mapInPandas(per_sequence_batches(cfg), UDF_SCHEMA)),
    }
    out = {name: os.path.join(REPO, "bench-data", f"udf-shape-{name}") for name in shapes}
    for r in range(args.rounds + 1):  # round 0 warms up
        for name in (list(shapes) if r % 2 else list(shapes)[::-1]):
            t0 = time.monotonic()
            shapes[name]().write.mode("overwrite").parquet("file://" + out[name])
            label = "warm-up" if r == 0 else f"round {r}"
            print(f"{label}: {name} {time.monotonic() - t0:.1f}s", flush=True)
    a, m = (spark.read.parquet("file://" + out[n]).select("sequence_id", "object_id", "frame_no", "score") for n in shapes)
    print(f"same rows: {a.exceptAll(m).count() == 0 and m.exceptAll(a).count() == 0}")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
