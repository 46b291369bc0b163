"""Benchmark: the ingest job vs DuckDB's read_json flattening the same SeqLabel files into box rows.

    python bench/bench_ingest.py [--sizes 1M,4M] [--data bench-data] [--repeat 1]

For each size it generates (once, cached under --data) a sample tree of about that many boxes,
then in the same run and on the same files times:
  * gtlake ingest into a fresh lake (all tables, checks, counts, commit), SparkSession already up;
  * DuckDB (threads = cores) reading every SeqLabel.json with read_json and writing the same box
    rows (sequence, frame, object, class, geometry, attributes) to one Parquet file;
  * the Spark floor: Spark's JSON reader flattening the same files into the same rows, no checks and
    no other table: the most an ingest built on Spark's reader can reach on this machine (ingest now reads
    clean files with pyarrow in Spark tasks, `jobs/seqlabel_arrow.py`, and is no longer bound by it).
It prints boxes/s for both, their ratio, and the peak resident memory of the Python driver and of
the Spark JVM (driver and executors share it in local mode), sampled every 50 ms, in this process and
in a fresh process that only ingests (`fresh_memory`). The JVM is warmed up
on a small tree first. GTLAKE_DRIVER_MEMORY sets the JVM heap (default 3g).
Figures go to stdout and, as JSON, to bench-data/ingest-results.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from datetime import datetime, timezone

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# Sample parameters giving about 1M and 4M boxes (tracking jobs, audit job and detection job together).
SIZES = {
    "1M": dict(sequences=95, frames=500, objects=30, workers=8, seed=101),
    "4M": dict(sequences=380, frames=500, objects=30, workers=8, seed=104),
}

DUCKDB_SQL = """
COPY (
  WITH files AS (
    SELECT filename, unnest(coalesce("tracking-annotations", "detection-annotations")) AS fr
    FROM read_json({paths}, filename = true, format = 'auto', maximum_object_size = 1000000000,
                   columns = {{"tracking-annotations": '{frames}', "detection-annotations": '{frames}'}})
  ), frames AS (
    SELECT filename, CAST(fr."frame-no" AS INTEGER) AS frame_no, fr."frame" AS frame_file,
           unnest(fr.annotations) AS b
    FROM files
  )
  SELECT filename AS source_uri, frame_no, frame_file, b."object-id" AS object_id, b."object-name" AS object_name,
         b."class-id" AS class_id, CAST(b."left" AS DOUBLE) AS "left", CAST(b."top" AS DOUBLE) AS top,
         CAST(b.width AS DOUBLE) AS width, CAST(b.height AS DOUBLE) AS height,
         b."label-category-attributes" AS attributes
  FROM frames
) TO '{out}' (FORMAT parquet)
"""
FRAME_TYPE = ("STRUCT(\"frame-no\" VARCHAR, \"frame\" VARCHAR, annotations STRUCT(\"height\" VARCHAR, "
              "\"width\" VARCHAR, \"top\" VARCHAR, \"left\" VARCHAR, \"class-id\" VARCHAR, \"object-id\" VARCHAR, "
              "\"object-name\" VARCHAR, \"label-category-attributes\" JSON)[])[]")


class PeakRSS:
    """Samples the resident memory of this process and of its child processes (the Spark JVM)."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.me = interval, psutil.Process()
        self.python = self.jvm = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.python = max(self.python, self.me.memory_info().rss)
                jvm = sum(c.memory_info().rss for c in self.me.children(recursive=True) if "java" in c.name())
                self.jvm = max(self.jvm, jvm)
            except psutil.Error:
                pass
            time.sleep(self.interval)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def ensure_sample(data: str, size: str) -> tuple[str, int]:
    """The sample tree for a size (generated once) and its number of boxes."""
    from gtlake.sample.generate import GENERATOR_VERSION, SampleParams, generate

    folder = os.path.join(data, f"sample-{size}")
    marker = os.path.join(folder, "sample.json")
    params = SIZES[size]
    if os.path.exists(marker):
        old = json.load(open(marker))
        # compared as SampleParams: a field added since (with its default) does not redo the sample
        if SampleParams(**old["params"]) == SampleParams(**params) and old.get("generator") == GENERATOR_VERSION:
            return folder, old["boxes"]
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.monotonic()
    summary = generate(folder, SampleParams(**params))
    print(f"  generated {summary['boxes']:,} boxes in {time.monotonic() - t0:.0f}s -> {folder}", flush=True)
    return folder, summary["boxes"]


def _as_ingest_writes_it(lake: str) -> bool:
    """Whether every job of a bench lake is laid out as this version's ingest writes it: its ledger entry of this
    ingest format, and `boxes` clustered as the quality job checks it (`jobs.files.clustered_partition`; a lake
    kept from an older version would have the job fall back to shuffling, and the figures would measure that)."""
    from gtlake.jobs.files import clustered_partition, data_files
    from gtlake.jobs.ingest import INGEST_FORMAT
    from gtlake.lake import Lake
    from gtlake.schemas import BOXES

    lk = Lake(lake)
    jobs = {j: e for j, e in lk.ledger("ingest").items() if not j.startswith("_")}
    return bool(jobs) and all(
        e.get("format") == INGEST_FORMAT
        and clustered_partition(lk, e, BOXES, data_files(lk, lk.path("boxes", f"job_name={j}")))
        for j, e in jobs.items())


def ensure_lake(spark, data: str, size: str) -> str:
    """The lake of a size's sample, ingested and scored; rebuilt when the sample was regenerated or when the lake
    is not laid out as this version's ingest writes it."""
    folder, _ = ensure_sample(data, size)
    lake = os.path.join(data, f"lake-{size}")
    marker = os.path.join(lake, "_bench_sample.json")
    sample = open(os.path.join(folder, "sample.json")).read()
    if not os.path.exists(marker) or open(marker).read() != sample or not _as_ingest_writes_it(lake):
        from gtlake.jobs.quality import QualityJobConfig, run

        print(f"  ingesting and scoring the {size} sample first", flush=True)
        time_ingest(spark, folder, lake)
        run(spark, QualityJobConfig(lake=lake), log=lambda m: None)
        with open(marker, "w") as f:
            f.write(sample)
    return lake


def time_ingest(spark, folder: str, lake: str) -> tuple[float, PeakRSS, int, float]:
    """(seconds, peak memory, boxes written, seconds of them in the data-quality checks) of one ingest."""
    from gtlake.jobs.ingest import IngestConfig, run

    shutil.rmtree(lake, ignore_errors=True)
    with PeakRSS() as mem:
        t0 = time.monotonic()
        result = run(spark, IngestConfig(input=os.path.join(folder, "output"), lake=lake), log=lambda m: None)
        seconds = time.monotonic() - t0
    return seconds, mem, result.counts.out["box"], result.check_seconds


def fresh_memory(folder: str, lake: str) -> dict:
    """The driver's and the JVM's peak resident memory during an ingest in a process of its own (Spark started,
    nothing else done in it): what the job needs, apart from what this benchmark's process built before."""
    import subprocess

    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-of", folder, "--memory-lake", lake],
                         check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO}).stdout
    return json.loads(out.strip().splitlines()[-1])


def _memory_of(folder: str, lake: str) -> int:
    from gtlake.spark import get_spark

    spark = get_spark("gtlake-bench-memory")
    spark.range(1).count()
    _, mem, _, _ = time_ingest(spark, folder, lake)
    print(json.dumps({"driver_peak_mb": round(mem.python / 2**20), "jvm_peak_mb": round(mem.jvm / 2**20)}))
    spark.stop()
    return 0


def time_duckdb(folder: str, out: str) -> tuple[float, int]:
    import duckdb

    paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(folder, "output")) for f in fs
                   if f == "SeqLabel.json")
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    t0 = time.monotonic()
    con.execute(DUCKDB_SQL.format(paths="[" + ",".join(f"'{p}'" for p in paths) + "]", frames=FRAME_TYPE, out=out))
    seconds = time.monotonic() - t0
    rows = con.execute(f"SELECT count(*) FROM '{out}'").fetchone()[0]
    return seconds, rows


def time_spark_floor(spark, folder: str, out: str) -> tuple[float, int]:
    """The least any Spark ingest can do: Spark's JSON reader (the job's typed schema) flattening the same
    SeqLabel files into the same box rows as the DuckDB query, written to Parquet; no check, no other table."""
    from pyspark.sql import functions as F

    from gtlake.jobs.seqlabel import read_labels

    paths = sorted("file://" + os.path.join(d, f) for d, _, fs in os.walk(os.path.join(folder, "output"))
                   for f in fs if f == "SeqLabel.json")
    t0 = time.monotonic()
    frames = read_labels(spark, paths).select(F.col("_path").alias("source_uri"),
                                              F.explode(F.coalesce("tracking-annotations", "detection-annotations")).alias("f"))
    boxes = frames.select("source_uri", F.col("f")["frame-no"].cast("int").alias("frame_no"),
                          F.col("f")["frame"].alias("frame_file"), F.explode(F.col("f")["annotations"]).alias("b"))
    (boxes.select("source_uri", "frame_no", "frame_file",
                  *[F.col("b")[k].alias(k.replace("-", "_")) for k in ("object-id", "object-name", "class-id")],
                  *[F.col("b")[k].cast("double").alias(k) for k in ("left", "top", "width", "height")],
                  F.col("b")["label-category-attributes"].alias("attributes"))
     .write.mode("overwrite").parquet("file://" + out))
    seconds = time.monotonic() - t0
    return seconds, spark.read.parquet("file://" + out).count()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1M,4M", help="comma-separated: " + ", ".join(SIZES))
    ap.add_argument("--data", default=os.path.join(REPO, "bench-data"))
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement; the fastest is kept")
    ap.add_argument("--memory-of", help=argparse.SUPPRESS)  # (fresh_memory's process: the sample's folder)
    ap.add_argument("--memory-lake", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_of:
        return _memory_of(args.memory_of, args.memory_lake)
    from gtlake.spark import get_spark

    os.makedirs(args.data, exist_ok=True)
    spark = get_spark("gtlake-bench")
    # Warm the JVM (class loading, JIT) on a small tree first: DuckDB has no such start-up cost.
    from gtlake.sample.generate import SampleParams, generate

    warm = os.path.join(args.data, "warm-up")
    if not os.path.exists(os.path.join(warm, "sample.json")):
        generate(warm, SampleParams(sequences=6, frames=100, objects=8, seed=1))
    time_ingest(spark, warm, os.path.join(args.data, "lake-warm-up"))
    results = []
    for size in args.sizes.split(","):
        print(f"[{size}]", flush=True)
        folder, n_boxes = ensure_sample(args.data, size)
        best_ingest = best_duck = best_floor = None
        for _ in range(args.repeat):
            s, mem, out_boxes, checks = time_ingest(spark, folder, os.path.join(args.data, f"lake-{size}"))
            assert out_boxes == n_boxes, (out_boxes, n_boxes)
            if best_ingest is None or s < best_ingest[0]:
                best_ingest = (s, mem, checks)
            d, rows = time_duckdb(folder, os.path.join(args.data, f"duckdb-{size}.parquet"))
            assert rows == n_boxes, (rows, n_boxes)
            best_duck = d if best_duck is None else min(best_duck, d)
            f, rows = time_spark_floor(spark, folder, os.path.join(args.data, f"spark-floor-{size}"))
            assert rows == n_boxes, (rows, n_boxes)
            best_floor = f if best_floor is None else min(best_floor, f)
        s, mem, checks = best_ingest
        fresh = fresh_memory(folder, os.path.join(args.data, f"lake-{size}-memory"))
        shutil.rmtree(os.path.join(args.data, f"lake-{size}-memory"), ignore_errors=True)
        r = {"size": size, "boxes": n_boxes, "ingest_s": round(s, 2), "ingest_checks_s": round(checks, 2),
             "ingest_boxes_per_s": round(n_boxes / s),
             "duckdb_s": round(best_duck, 2), "duckdb_boxes_per_s": round(n_boxes / best_duck),
             "ingest_over_duckdb_throughput": round(best_duck / s, 3),
             "spark_floor_s": round(best_floor, 2), "spark_floor_boxes_per_s": round(n_boxes / best_floor),
             "spark_floor_over_duckdb_throughput": round(best_duck / best_floor, 3),
             "peak_rss_python_mb": round(mem.python / 2**20), "peak_rss_jvm_mb": round(mem.jvm / 2**20),
             "fresh_process_peak_rss_python_mb": fresh["driver_peak_mb"],
             "fresh_process_peak_rss_jvm_mb": fresh["jvm_peak_mb"]}
        results.append(r)
        print(f"  ingest {r['ingest_boxes_per_s']:>10,} boxes/s ({s:.1f}s, of which checks {checks:.1f}s)   duckdb read_json "
              f"{r['duckdb_boxes_per_s']:>10,} boxes/s ({best_duck:.1f}s)   ratio {r['ingest_over_duckdb_throughput']:.2f}"
              f"   peak RSS python {r['peak_rss_python_mb']} MB, jvm {r['peak_rss_jvm_mb']} MB (in a fresh process: "
              f"{fresh['driver_peak_mb']} MB, {fresh['jvm_peak_mb']} MB)", flush=True)
        print(f"  spark floor (JSON reader + explode + write, no checks) {r['spark_floor_boxes_per_s']:>10,} boxes/s "
              f"({best_floor:.1f}s)   floor / duckdb {r['spark_floor_over_duckdb_throughput']:.2f}", flush=True)
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
            "spark_driver_memory": spark.conf.get("spark.driver.memory", "default"), "results": results}
    with open(os.path.join(args.data, "ingest-results.json"), "w") as f:
        json.dump(meta, f, indent=2)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
