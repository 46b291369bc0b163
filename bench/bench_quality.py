"""Benchmark: the quality job vs Spark window expressions, DuckDB window SQL and a naive Python loop.

    python bench/bench_quality.py [--sizes 1M,4M] [--data bench-data]

On the lakes that bench_ingest.py builds (bench-data/lake-<size>; built here if missing), in one
process and on the same boxes Parquet:
  * quality: `gtlake quality` end to end (every check, box_metrics, track_summary, review_queue
    staged and committed), its ledger cleared first so it really runs;
  * spark-window: Spark native `lag` over (job, sequence, object) ordered by frame: IoU with the
    previous box, size change and centre shift, written to Parquet;
  * duckdb-window: the same three metrics in DuckDB window SQL (threads = cores), written to Parquet;
  * scoring step: the job's own scoring alone (every check, in Spark tasks that read the clustered files and
    write box_metrics and the track statistics with pyarrow; no gate, no other table), the like-for-like
    counterpart of the window references;
  * metrics step: the same detector as a DataFrame transform (`mapInArrow` over the clustered scan, the
    job's shape before), and one pandas group per sequence (the shape before that, kept as the reference);
  * arrow floor: an identity mapInArrow straight over the clustered scan (nothing computed, no shuffle), the
    least a mapInArrow shape pays; udf floor: an identity applyInPandas grouped by sequence;
  * naive: the original notebook's structure (per object, per frame, filter the sequence and rebuild
    the object's box vector, then one IoU in Python) on the first sequences, until 20 s have passed;
    its boxes/s is extrapolated from those.
Prints boxes/s, the ratios the targets speak of, the time growth from 1M to 4M, and the peak memory of the
driver and the JVM during a quality run, in this process and in a fresh one (what the job itself needs).
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


def time_quality(spark, lake: str) -> tuple[float, float, object]:
    """(seconds, seconds of them in the data-quality checks, peak memory of the driver and the JVM) of a quality
    run scoring every job."""
    from bench.bench_ingest import PeakRSS
    from gtlake.jobs.quality import QualityJobConfig, run

    shutil.rmtree(os.path.join(lake, "_gtlake", "ledger", "quality"), ignore_errors=True)
    with PeakRSS() as mem:
        t0 = time.monotonic()
        result = run(spark, QualityJobConfig(lake=lake), log=lambda m: None)
        seconds = time.monotonic() - t0
    return seconds, result.check_seconds, mem


def fresh_memory(lake: str) -> dict:
    """The driver's and the JVM's peak resident memory during a quality run in a process of its own (Spark
    started, nothing else done in it), and the driver's before the run: what the job itself needs, apart from
    whatever this benchmark's process built before (generating and ingesting a sample leaves its memory mapped)."""
    import subprocess

    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-of", lake], check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO}).stdout
    return json.loads(out.strip().splitlines()[-1])


def _memory_of(lake: str) -> int:
    import psutil

    from gtlake.spark import get_spark

    spark = get_spark("gtlake-bench-memory")
    spark.range(1).count()
    before = psutil.Process().memory_info().rss
    _, _, mem = time_quality(spark, lake)
    print(json.dumps({"driver_before_mb": round(before / 2**20), "driver_peak_mb": round(mem.python / 2**20),
                      "jvm_peak_mb": round(mem.jvm / 2**20)}))
    spark.stop()
    return 0


def time_spark_window(spark, lake: str, out: str) -> float:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    t0 = time.monotonic()
    b = spark.read.parquet("file://" + os.path.join(lake, "boxes")).where(F.col("object_id").isNotNull())
    w = Window.partitionBy("job_name", "sequence_id", "object_id").orderBy("frame_no")
    p = {c: F.lag(c).over(w) for c in ("left", "top", "width", "height")}
    iw = F.least(F.col("left") + F.col("width"), p["left"] + p["width"]) - F.greatest("left", p["left"])
    ih = F.least(F.col("top") + F.col("height"), p["top"] + p["height"]) - F.greatest("top", p["top"])
    inter = F.greatest(iw, F.lit(0)) * F.greatest(ih, F.lit(0))
    area, parea = F.col("width") * F.col("height"), p["width"] * p["height"]
    (b.select("job_name", "sequence_id", "object_id", "frame_no",
              (inter / (area + parea - inter)).alias("iou_prev"),
              F.log(area / parea).alias("area_change"),
              (F.sqrt((F.col("left") + F.col("width") / 2 - p["left"] - p["width"] / 2) ** 2
                      + (F.col("top") + F.col("height") / 2 - p["top"] - p["height"] / 2) ** 2)
               / F.sqrt(area)).alias("center_shift"))
     .write.mode("overwrite").parquet("file://" + out))
    return time.monotonic() - t0


def _sizes(lake: str) -> list[int]:
    """The sizes of every `boxes` data file of the lake (what `whole_files` packs)."""
    from gtlake.jobs.files import data_files
    from gtlake.lake import Lake

    lk = Lake(lake)
    return [f.size for f in data_files(lk, lk.table_path("boxes"))]


def time_metrics_step(spark, lake: str, out: str, shape: str = "batch") -> float:
    """The job's per-box metrics alone (every check of udfs/detect.py), read from and written to Parquet like the
    window references: no gate, no track or queue table. `batch`: the job's shape (mapInArrow straight over the
    clustered scan, many sequences per call); `per-sequence`: one applyInPandas group per sequence (the shape
    before, kept as the reference)."""
    from pyspark.sql import functions as F

    from gtlake.jobs.files import whole_files
    from gtlake.jobs.quality import box_metrics, box_metrics_per_sequence
    from gtlake.udfs.config import QualityConfig

    t0 = time.monotonic()
    with whole_files(spark, _sizes(lake)):
        b = spark.read.parquet("file://" + os.path.join(lake, "boxes")).where(F.col("object_id").isNotNull())
        transform = box_metrics(QualityConfig()) if shape == "batch" else box_metrics_per_sequence(QualityConfig())
        b.transform(transform).write.mode("overwrite").parquet("file://" + out)
    return time.monotonic() - t0


def time_scoring_step(spark, lake: str, out: str) -> float:
    """The job's own scoring step alone: every clustered boxes file scored in a Spark task that reads it and
    writes box_metrics rows and track statistics with pyarrow (`jobs.quality.score_file`), no gate, no other
    table: the like-for-like counterpart of the window references in the job's shape."""
    from functools import partial

    from gtlake.jobs.filepass import numbered, run_files
    from gtlake.jobs.files import data_files
    from gtlake.jobs.quality import score_file
    from gtlake.lake import Lake
    from gtlake.udfs.config import QualityConfig

    here = Lake(lake)
    files = numbered([(os.path.basename(os.path.dirname(f.path)), f) for f in data_files(here, here.path("boxes"))])
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.monotonic()
    run_files(spark, here, files, partial(score_file, cfg=QualityConfig(), metrics_root=os.path.join(out, "metrics"),
                                          tracks_root=os.path.join(out, "tracks")))
    return time.monotonic() - t0


def time_arrow_floor(spark, lake: str, out: str) -> float:
    """The least the job's shape can do: the same boxes through an identity mapInArrow straight over the clustered
    scan (Arrow to Python and back, nothing computed, no shuffle), written to Parquet."""
    from pyspark.sql import functions as F

    from gtlake.jobs.files import whole_files
    from gtlake.jobs.quality import BOX_COLS

    t0 = time.monotonic()
    with whole_files(spark, _sizes(lake)):
        b = (spark.read.parquet("file://" + os.path.join(lake, "boxes")).where(F.col("object_id").isNotNull())
             .select(*BOX_COLS))
        b.mapInArrow(lambda batches: batches, b.schema).write.mode("overwrite").parquet("file://" + out)
    return time.monotonic() - t0


def time_udf_floor(spark, lake: str, out: str) -> float:
    """The least any pandas-UDF job can do: the same boxes through an identity applyInPandas grouped by
    sequence (shuffle, Arrow to Python and back, nothing computed), written to Parquet."""
    from pyspark.sql import functions as F

    from gtlake.jobs.quality import BOX_COLS

    t0 = time.monotonic()
    b = spark.read.parquet("file://" + os.path.join(lake, "boxes")).where(F.col("object_id").isNotNull()).select(*BOX_COLS)
    b.groupBy("job_name", "sequence_id").applyInPandas(lambda pdf: pdf, b.schema).write.mode("overwrite").parquet(
        "file://" + out)
    return time.monotonic() - t0


DUCKDB_SQL = """
COPY (
  WITH b AS (
    SELECT *, lag("left") OVER w AS pl, lag(top) OVER w AS pt, lag(width) OVER w AS pw, lag(height) OVER w AS ph
    FROM read_parquet('{lake}/boxes/*/*.parquet', hive_partitioning = true)
    WHERE object_id IS NOT NULL
    WINDOW w AS (PARTITION BY job_name, sequence_id, object_id ORDER BY frame_no)
  )
  SELECT job_name, sequence_id, object_id, frame_no,
         greatest(least("left" + width, pl + pw) - greatest("left", pl), 0)
           * greatest(least(top + height, pt + ph) - greatest(top, pt), 0)
           / (width * height + pw * ph - greatest(least("left" + width, pl + pw) - greatest("left", pl), 0)
              * greatest(least(top + height, pt + ph) - greatest(top, pt), 0)) AS iou_prev,
         ln(width * height / (pw * ph)) AS area_change,
         sqrt(power("left" + width / 2 - pl - pw / 2, 2) + power(top + height / 2 - pt - ph / 2, 2))
           / sqrt(width * height) AS center_shift
  FROM b
) TO '{out}' (FORMAT parquet)
"""


def time_duckdb(lake: str, out: str) -> float:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    t0 = time.monotonic()
    con.execute(DUCKDB_SQL.format(lake=lake, out=out))
    return time.monotonic() - t0


def _naive_iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def naive_sequence(seq) -> int:
    """The original method's shape: per object and frame, filter the sequence and rebuild the object's
    full-length box vector, then compare frame i with i + 1 (a missing box is a zero box)."""
    import numpy as np

    n_frames = int(seq["frame_no"].max()) + 1
    done = 0
    for obj in seq["object_id"].unique():
        for i in seq[seq["object_id"] == obj]["frame_no"].to_numpy()[:-1]:
            rows = seq[seq["object_id"] == obj]
            vec = np.zeros((n_frames + 1, 4))
            vec[rows["frame_no"].to_numpy()] = rows[["left", "top", "width", "height"]].to_numpy()
            a = [vec[i, 0], vec[i, 1], vec[i, 0] + vec[i, 2], vec[i, 1] + vec[i, 3]]
            b = [vec[i + 1, 0], vec[i + 1, 1], vec[i + 1, 0] + vec[i + 1, 2], vec[i + 1, 1] + vec[i + 1, 3]]
            _naive_iou(a, b)
            done += 1
    return done


def time_naive(lake: str, budget_s: float = 20.0) -> tuple[float, int]:
    import pyarrow.dataset as ds

    boxes = ds.dataset(os.path.join(lake, "boxes"), format="parquet", partitioning="hive").to_table(
        columns=["job_name", "sequence_id", "object_id", "frame_no", "left", "top", "width", "height"]).to_pandas()
    boxes = boxes[boxes.object_id.notna()]
    t0 = time.monotonic()
    n = 0
    for _, seq in boxes.groupby(["job_name", "sequence_id"], sort=True):
        n += naive_sequence(seq)
        if time.monotonic() - t0 > budget_s:
            break
    return time.monotonic() - t0, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1M,4M")
    ap.add_argument("--data", default=os.path.join(REPO, "bench-data"))
    ap.add_argument("--memory-of", help=argparse.SUPPRESS)  # (fresh_memory's process)
    args = ap.parse_args()
    if args.memory_of:
        return _memory_of(args.memory_of)
    from bench.bench_ingest import ensure_lake
    from gtlake.spark import get_spark

    spark = get_spark("gtlake-bench-quality")
    results = []
    for size in args.sizes.split(","):
        lake = ensure_lake(spark, args.data, size)
        n = spark.read.parquet("file://" + os.path.join(lake, "boxes")).where("object_id IS NOT NULL").count()
        print(f"[{size}] {n:,} tracked boxes", flush=True)
        if not results:
            time_quality(spark, lake)  # warm the JVM and the Python workers once
        q, checks, mem = time_quality(spark, lake)
        fresh = fresh_memory(lake)
        sw = time_spark_window(spark, lake, os.path.join(args.data, f"spark-window-{size}"))
        ss = time_scoring_step(spark, lake, os.path.join(args.data, f"scoring-step-{size}"))
        ms = time_metrics_step(spark, lake, os.path.join(args.data, f"metrics-step-{size}"))
        ps = time_metrics_step(spark, lake, os.path.join(args.data, f"metrics-step-{size}"), "per-sequence")
        af = time_arrow_floor(spark, lake, os.path.join(args.data, f"arrow-floor-{size}"))
        uf = time_udf_floor(spark, lake, os.path.join(args.data, f"udf-floor-{size}"))
        dw = time_duckdb(lake, os.path.join(args.data, f"duckdb-window-{size}.parquet"))
        nv_s, nv_n = time_naive(lake)
        r = {"size": size, "tracked_boxes": n, "quality_s": round(q, 2), "quality_checks_s": round(checks, 2),
             "quality_boxes_per_s": round(n / q), "quality_driver_peak_mb": round(mem.python / 2**20),
             "quality_jvm_peak_mb": round(mem.jvm / 2**20), **{f"fresh_{k}": v for k, v in fresh.items()},
             "spark_window_s": round(sw, 2), "duckdb_window_s": round(dw, 2),
             "scoring_step_s": round(ss, 2), "scoring_step_vs_spark_window": round(sw / ss, 2),
             "metrics_step_s": round(ms, 2), "per_sequence_step_s": round(ps, 2), "udf_floor_s": round(uf, 2),
             "arrow_floor_s": round(af, 2), "arrow_floor_vs_spark_window": round(sw / af, 2),
             "per_sequence_step_vs_spark_window": round(sw / ps, 2),
             "metrics_step_vs_spark_window": round(sw / ms, 2), "udf_floor_vs_spark_window": round(sw / uf, 2),
             "naive_boxes_per_s": round(nv_n / nv_s, 1), "naive_boxes_timed": nv_n,
             "quality_vs_spark_window": round(sw / q, 2), "quality_vs_duckdb": round(dw / q, 3),
             "quality_vs_naive": round((n / q) / (nv_n / nv_s))}
        results.append(r)
        print(f"  quality {r['quality_boxes_per_s']:,} boxes/s ({q:.1f}s, of which checks {checks:.1f}s; peak "
              f"memory driver {r['quality_driver_peak_mb']} MB, JVM {r['quality_jvm_peak_mb']} MB in this process; "
              f"in a fresh one driver {fresh['driver_before_mb']} -> {fresh['driver_peak_mb']} MB, JVM "
              f"{fresh['jvm_peak_mb']} MB) | "
              f"spark window {sw:.1f}s "
              f"(quality/spark speed {r['quality_vs_spark_window']}) | duckdb window {dw:.1f}s "
              f"(quality/duckdb speed {r['quality_vs_duckdb']}) | naive {r['naive_boxes_per_s']} boxes/s "
              f"(quality is {r['quality_vs_naive']}x)", flush=True)
        print(f"  the job's scoring step alone (tasks reading and writing the files) {ss:.1f}s (speed vs spark "
              f"window {r['scoring_step_vs_spark_window']}) | the same detector as a mapInArrow transform "
              f"{ms:.1f}s ({r['metrics_step_vs_spark_window']}; "
              f"per sequence, the shape before: {ps:.1f}s, {r['per_sequence_step_vs_spark_window']}) | "
              f"identity mapInArrow over the clustered scan (the floor of the job's shape) {af:.1f}s "
              f"({r['arrow_floor_vs_spark_window']}) | identity applyInPandas by sequence {uf:.1f}s "
              f"({r['udf_floor_vs_spark_window']})", flush=True)
    if len(results) == 2:
        growth = results[1]["quality_s"] / results[0]["quality_s"]
        scale = results[1]["tracked_boxes"] / results[0]["tracked_boxes"]
        print(f"  growth: {scale:.2f}x boxes took {growth:.2f}x time")
        results.append({"growth_boxes": round(scale, 2), "growth_time": round(growth, 2)})
    with open(os.path.join(args.data, "quality-results.json"), "w") as f:
        json.dump({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                   "results": results}, f, indent=2)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
