"""The gtlake command as a person uses it: help, argument errors, and spark-submit."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, box, frame, read_table

ENV = dict(os.environ, PYTHONPATH=str(REPO), PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)


def gtlake(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gtlake.cli", *args], capture_output=True, text=True, env=ENV,
                          timeout=300)


@pytest.mark.parametrize("args", [["--help"], ["sample", "--help"], ["ingest", "--help"], ["run", "--help"]])
def test_help(args):
    r = gtlake(*args)
    assert r.returncode == 0 and "usage: gtlake" in r.stdout


@pytest.mark.parametrize("args, message", [
    ([], "the following arguments are required: COMMAND"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["ingest", "--input", "x"], "the following arguments are required: --lake"),
    (["ingest", "--input", "/no/such/folder", "--lake", "lake"], "--input /no/such/folder: no such folder"),
    (["run", "--input", ".", "--lake", "lake", "--catalog-database", "gtlake"],
     "--catalog-database: the Glue Data Catalog describes S3 lakes"),
    (["quality", "--lake", "s3:///lake"], "--lake s3:///lake: not an S3 prefix"),
    (["sample", "--out", "x", "--frames", "0"], "expected a number >= 1, got 0"),
    (["sample", "--out", "x", "--seed", "abc"], "expected a whole number, got 'abc'"),
])
def test_bad_arguments_give_one_line_and_usage(args, message):
    r = gtlake(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("usage: gtlake")
    assert message in lines[-1] and lines[-1].startswith("gtlake")
    assert "Traceback" not in r.stderr and r.stdout == ""


@pytest.mark.spark
def test_spark_submit_entry_script(gt_tree, tmp_path):
    job = gt_tree("tiny-job")
    job.labels(0, {"tracking-annotations": [frame("0", [box()]), frame("1", [box(left=12)])]}).manifest([job.line(0)])
    lake = tmp_path / "lake"
    spark_submit = os.path.join(os.path.dirname(sys.executable), "spark-submit")
    r = subprocess.run([spark_submit, "--master", "local[1]", str(REPO / "glue" / "ingest.py"),
                        "--JOB_NAME", "glue-adds-this", "--input", str(gt_tree.root), "--lake", str(lake)],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "records in 7 = out 7 + rejected 0" in r.stdout  # job folder, sequence, labels file, 2 frames, 2 boxes
    assert "spark: master local[1] (as submitted)" in r.stdout  # spark-submit's master, never replaced by local[*]
    assert not [line for line in r.stderr.splitlines() if " INFO " in line], r.stderr[:2000]  # Spark at WARN
    assert len(read_table(lake, "boxes")) == 2


def test_glue_entry_scripts_keep_only_their_own_arguments():
    from gtlake.cli.glue_entry import own_args

    argv = ["--JOB_NAME", "x", "--lake", "s3://b/l", "--enable-metrics", "true", "--config=c.json", "--TempDir", "t"]
    assert own_args(argv, {"--lake", "--config"}) == ["--lake", "s3://b/l", "--config=c.json"]
    assert own_args(["--dry-run", "--lake", "l"], {"--lake"}, frozenset({"--dry-run"})) == ["--dry-run", "--lake", "l"]


@pytest.mark.spark
def test_spark_submit_workers_quality_audit(spark, tmp_path):
    from gtlake.jobs.ingest import IngestConfig, run
    from gtlake.sample.generate import SampleParams, generate

    generate(str(tmp_path / "s"), SampleParams(sequences=3, frames=30, objects=3, workers=3, seed=4))
    lake = tmp_path / "lake"
    run(spark, IngestConfig(input=str(tmp_path / "s" / "output"), lake=str(lake)), log=lambda m: None)
    spark_submit = os.path.join(os.path.dirname(sys.executable), "spark-submit")
    for script, extra in (("workers.py", ["--activity", str(tmp_path / "s" / "worker-activity")]),
                          ("quality.py", []), ("audit.py", ["--tolerance-px", "0.5"])):
        r = subprocess.run([spark_submit, "--master", "local[1]", str(REPO / "glue" / script), "--JOB_NAME", "glue",
                            "--lake", str(lake), *extra], capture_output=True, text=True, env=ENV, timeout=300)
        assert r.returncode == 0, (script, r.stderr[-2000:])
    for table in ("worker_tasks", "box_metrics", "audit_changes", "worker_quality"):
        assert read_table(lake, table) is not None, table
