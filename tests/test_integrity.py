"""The lake checked against its commits: a partition deleted, a file damaged or rewritten by another tool is
noticed, named, and never turned into deleted output."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import duckdb
import pyarrow.parquet as pq
import pytest

from gtlake import integrity
from gtlake.lake import Lake
from tests.conftest import REPO, lake_snapshot, read_table

ENV = dict(os.environ, PYTHONPATH=str(REPO), PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
QUIET = {"log": lambda m: None}


def gtlake(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gtlake.cli", *args], capture_output=True, text=True, env=ENV,
                          timeout=600)


@pytest.fixture(scope="module")
def small_lake(spark, tmp_path_factory):
    """Three jobs ingested and scored (module-wide; each test works on its own copy)."""
    from gtlake.jobs.ingest import IngestConfig
    from gtlake.jobs.ingest import run as ingest_run
    from gtlake.jobs.quality import QualityJobConfig
    from gtlake.jobs.quality import run as quality_run
    from gtlake.sample.generate import SampleParams, generate

    tmp = tmp_path_factory.mktemp("integrity")
    generate(str(tmp / "sample"), SampleParams(sequences=3, frames=30, objects=3, workers=2, seed=5, regime="street"))
    lake = tmp / "lake"
    ingest_run(spark, IngestConfig(input=str(tmp / "sample" / "output"), lake=str(lake)), **QUIET)
    quality_run(spark, QualityJobConfig(lake=str(lake)), **QUIET)
    return tmp


def _copy(small_lake, tmp_path):
    shutil.copytree(small_lake / "lake", tmp_path / "lake", symlinks=True)
    return tmp_path / "lake"


def _a_job(lake) -> str:
    return sorted(n[len("job_name="):] for n in os.listdir(lake / "box_metrics"))[0]


def _a_file(folder) -> str:
    return sorted(str(p) for p in folder.rglob("*.parquet"))[0]


def test_every_commit_records_what_it_put_in_place(small_lake, tmp_path):
    lake = _copy(small_lake, tmp_path)
    assert integrity.check(Lake(str(lake))) == []
    job = _a_job(lake)
    rec = json.loads((lake / "_gtlake" / "files" / "boxes" / f"job_name={job}.json").read_text())
    names = sorted(os.path.relpath(p, lake / "boxes" / f"job_name={job}")
                   for p in (lake / "boxes" / f"job_name={job}").rglob("*.parquet"))
    assert sorted(rec["files"]) == names and all(len(v[1]) == 64 for v in rec["files"].values())
    assert not list(lake.rglob("*.crc"))  # plain Parquet: Spark writes no checksum side files locally


def test_a_deleted_partition_is_found_stops_quality_and_is_reingested(spark, small_lake, tmp_path):
    from gtlake.jobs.ingest import IngestConfig
    from gtlake.jobs.ingest import run as ingest_run
    from gtlake.jobs.quality import QualityJobConfig
    from gtlake.jobs.quality import run as quality_run
    from gtlake.jobs.validate import ValidateConfig
    from gtlake.jobs.validate import run as validate_run
    from gtlake.udfs.config import QualityConfig

    lake = _copy(small_lake, tmp_path)
    job = _a_job(lake)
    shutil.rmtree(lake / "boxes" / f"job_name={job}")
    result = validate_run(spark, ValidateConfig(lake=str(lake), on_failure="warn"), **QUIET)
    (finding,) = [f for f in result.failed if f.rule == "files as committed"]
    assert finding.table == "boxes" and f"missing partition: boxes/job_name={job}" in finding.detail

    before = lake_snapshot(lake)
    with pytest.raises(integrity.LakeDamaged) as stop:
        quality_run(spark, QualityJobConfig(lake=str(lake), quality=QualityConfig(iou_min=0.5)), **QUIET)
    assert [d.kind for d in stop.value.damage] == ["missing_partition"]
    assert lake_snapshot(lake) == before  # nothing of that job's box_metrics or queue was deleted
    runs = read_table(lake, "runs")
    assert runs.sort_values("started_at").iloc[-1].status == "failed"

    again = ingest_run(spark, IngestConfig(input=str(small_lake / "sample" / "output"), lake=str(lake)), **QUIET)
    assert again.jobs_processed == [job]
    assert (lake / "boxes" / f"job_name={job}").is_dir() and integrity.check(Lake(str(lake))) == []
    quality_run(spark, QualityJobConfig(lake=str(lake)), **QUIET)  # goes on from the re-read job


def test_a_damaged_file_is_named_by_validate_sql_and_dashboard(small_lake, tmp_path):
    lake = _copy(small_lake, tmp_path)
    victim = _a_file(lake / "box_metrics")
    with open(victim, "r+b") as f:  # same size, garbled bytes in the middle
        f.seek(os.path.getsize(victim) // 2)
        f.write(b"\x00garbage\x00" * 8)
    rel = os.path.relpath(victim, lake)
    v = gtlake("validate", "--lake", str(lake))
    assert v.returncode == 1 and "Traceback" not in v.stderr
    assert f"changed file: {rel}" in v.stdout + v.stderr
    s = gtlake("sql", "--lake", str(lake), "--query", "SELECT 1 AS one")
    assert s.returncode == 0 and "Traceback" not in s.stderr, s.stderr
    assert "one" in s.stdout
    with open(victim, "r+b") as f:  # now unreadable: its footer gone
        f.truncate(os.path.getsize(victim) - 12)
    s = gtlake("sql", "--lake", str(lake), "--query", "SELECT count(*) AS n FROM box_metrics")
    assert s.returncode == 0 and "Traceback" not in s.stderr, s.stderr
    assert f"{rel}: damaged" in s.stderr and "left out" in s.stderr
    d = gtlake("dashboard", "--lake", str(lake), "--out", str(tmp_path / "dash.html"))
    assert d.returncode == 0 and "Traceback" not in d.stderr, d.stderr
    assert f"{rel}: damaged" in d.stderr
    assert not (tmp_path / "dash.html.tmp").exists()


@pytest.mark.parametrize("tool", ["pyarrow", "duckdb"])
def test_a_partition_rewritten_by_another_tool_stays_readable_and_is_noticed(spark, small_lake, tmp_path, tool):
    from gtlake.jobs.validate import ValidateConfig
    from gtlake.jobs.validate import run as validate_run

    lake = _copy(small_lake, tmp_path)
    job = _a_job(lake)
    part = lake / "boxes" / f"job_name={job}"
    victim = _a_file(part)
    rows = pq.read_table(victim)
    os.unlink(victim)
    if tool == "pyarrow":
        pq.write_table(rows, victim)
    else:
        con = duckdb.connect()
        con.register("rows", rows)
        con.execute(f"COPY rows TO '{victim}' (FORMAT parquet)")
    result = validate_run(spark, ValidateConfig(lake=str(lake), on_failure="warn"), **QUIET)
    assert not [f for f in result.failed if f.rule == "readable"]  # Spark reads the rewritten file
    (finding,) = [f for f in result.failed if f.rule == "files as committed"]
    assert "changed file: " + os.path.relpath(victim, lake) in finding.detail


def test_a_file_copied_in_and_a_partition_no_commit_wrote_are_found(small_lake, tmp_path):
    lake = _copy(small_lake, tmp_path)
    job = _a_job(lake)
    shutil.copy(_a_file(lake / "boxes"), lake / "boxes" / f"job_name={job}" / "copied.parquet")
    shutil.copytree(lake / "boxes" / f"job_name={job}", lake / "boxes" / "job_name=smuggled")
    kinds = {(d.kind, d.partition, d.file) for d in integrity.check(Lake(str(lake)))}
    assert ("extra_file", f"boxes/job_name={job}", "copied.parquet") in kinds
    assert ("unrecorded", "boxes/job_name=smuggled", "") in kinds


def test_a_lake_from_before_the_records_is_adopted_once(small_lake, tmp_path):
    lake = _copy(small_lake, tmp_path)
    shutil.rmtree(lake / "_gtlake" / "files")
    logged = []
    with Lake(str(lake)).lock(log=logged.append):
        pass
    assert logged and "adopted" in logged[0]
    assert integrity.check(Lake(str(lake))) == []
    with Lake(str(lake)).lock(log=logged.append):
        pass
    assert len(logged) == 1


def test_quality_scores_a_job_again_when_its_own_output_was_damaged(spark, small_lake, tmp_path):
    from gtlake.jobs.quality import QualityJobConfig
    from gtlake.jobs.quality import run as quality_run

    lake = _copy(small_lake, tmp_path)
    job = _a_job(lake)
    victim = _a_file(lake / "box_metrics" / f"job_name={job}")
    with open(victim, "r+b") as f:  # same size: found by its content, the file having been written since
        f.seek(os.path.getsize(victim) // 2)
        f.write(b"\xff" * 16)
    logged = []
    result = quality_run(spark, QualityJobConfig(lake=str(lake)), log=logged.append)
    assert result.jobs_processed == [job]
    assert any(f"{job}: scored again, changed file: box_metrics/job_name={job}/" in m for m in logged)
    assert integrity.check(Lake(str(lake))) == []


def test_workers_stops_rather_than_merge_new_events_with_a_deleted_partition(spark, small_lake, tmp_path):
    from gtlake.jobs.workers import WorkersConfig
    from gtlake.jobs.workers import run as workers_run

    lake = _copy(small_lake, tmp_path)
    activity = tmp_path / "activity"
    shutil.copytree(small_lake / "sample" / "worker-activity", activity)
    workers_run(spark, WorkersConfig(lake=str(lake), activity=str(activity)), **QUIET)
    job = sorted(n[len("job_name="):] for n in os.listdir(lake / "worker_events"))[0]
    events = lake / "worker_events" / f"job_name={job}"
    shutil.rmtree(events)
    for f in sorted(p for p in activity.rglob("*") if p.is_file()):  # new export files: their events are merged
        shutil.copy(f, f.with_name("again-" + f.name))
    before = lake_snapshot(lake)
    with pytest.raises(integrity.LakeDamaged, match="input the lake committed is gone") as stop:
        workers_run(spark, WorkersConfig(lake=str(lake), activity=str(activity)), **QUIET)
    assert any(d.partition == f"worker_events/job_name={job}" for d in stop.value.damage)
    assert lake_snapshot(lake) == before
