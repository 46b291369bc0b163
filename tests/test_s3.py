"""Ingest from an s3:// prefix on a real local S3 endpoint (moto server on loopback, started here)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gtlake.sample.generate import SampleParams, generate
from tests.conftest import FAKE_AWS, REPO, read_table

pytestmark = [pytest.mark.s3, pytest.mark.spark]

def _jars() -> str:
    folder = os.environ.get("GTLAKE_JARS") or str(REPO / ".jars")
    if not any(Path(folder).glob("hadoop-aws-*.jar")):
        pytest.fail(f"s3a jars missing in {folder}: run the tests with `make test`, which installs them")
    return folder


HELD_BACK = "urban-mot-night-audit"  # uploaded after the first run: the scheduled run that finds new output
COMPARED = ("sequences", "frames", "boxes", "worker_responses", "worker_events", "worker_tasks", "box_metrics",
            "track_summary", "review_queue", "audit_changes", "worker_quality")
VOLATILE = {"source_uri", "run_id", "event_source", "computed_at", "scored_at"}


def _canonical(df):
    """Rows as sorted tuples of their values' text, without the columns naming a run or an input location."""
    df = df.drop(columns=[c for c in df.columns if c in VOLATILE])
    rows = sorted(tuple(repr(v.tolist() if hasattr(v, "tolist") else v) for v in row)
                  for row in df[sorted(df.columns)].itertuples(index=False))
    return sorted(df.columns), rows


def _s3_table(fs, root, table):
    import pyarrow.dataset as pds

    from gtlake.lake import Lake

    lake = Lake("s3://" + root)
    if not lake.isdir(lake.table_path(table)):
        return None
    return pds.dataset(lake.table_path(table), format="parquet", partitioning="hive", filesystem=fs).to_table().to_pandas()


def _data_keys(s3, bucket, prefix):
    keys = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update((o["Key"], o["ETag"]) for o in page.get("Contents", []) if "/_gtlake/" not in o["Key"])
    return keys


def test_pipeline_on_s3_is_incremental_survives_a_kill_and_fills_the_catalog(s3_endpoint, tmp_path, monkeypatch):
    """`gtlake run` from an S3 Ground Truth tree into an S3 lake (s3a, a local S3 endpoint), as a schedule runs it:
    a first run; new output arrives; a run killed half-way changes nothing; the next run processes only the new
    job. The lake then equals a local run's over the same files, and the Glue Data Catalog lists every table and
    partition."""
    import signal
    import time

    import boto3

    from gtlake import storage

    for k, v in {**FAKE_AWS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(k, v)
    storage.s3_client.cache_clear()
    storage.s3_filesystem.cache_clear()
    sample = tmp_path / "sample"
    generate(str(sample), SampleParams(sequences=3, frames=40, objects=4, workers=2, seed=2))
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="gt-output")
    s3.create_bucket(Bucket="label-lake")

    def upload(held_back: bool) -> None:
        for path in sample.rglob("*"):
            rel = path.relative_to(sample)
            if path.is_file() and rel.parts[0] in ("output", "worker-activity") and \
                    (rel.parts[0] != "output" or (rel.parts[1] == HELD_BACK) == held_back):
                s3.upload_file(str(path), "gt-output", "gt/" + str(rel))

    env = dict(os.environ, **FAKE_AWS, AWS_ENDPOINT_URL=s3_endpoint, GTLAKE_JARS=_jars(), PYTHONPATH=str(REPO),
               PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable, GTLAKE_LOCK_STALE_SECONDS="4")
    run = [sys.executable, "-m", "gtlake.cli", "run", "--input", "s3://gt-output/gt/output",
           "--activity", "s3://gt-output/gt/worker-activity", "--lake", "s3://label-lake/lake",
           "--catalog-database", "gtlake"]

    upload(held_back=False)
    first = subprocess.run(run, capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    assert "catalog gtlake: " in first.stdout

    # New output arrives; a run is killed while it stages: the lake is exactly as it was.
    upload(held_back=True)
    before = _data_keys(s3, "label-lake", "lake/")
    killed = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not s3.list_objects_v2(Bucket="label-lake", Prefix="lake/_gtlake/staging/").get("KeyCount"):
            assert killed.poll() is None and time.monotonic() < deadline, "the run never started staging"
            time.sleep(0.2)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    assert _data_keys(s3, "label-lake", "lake/") == before

    # The next scheduled run takes over the dead run's lock (not renewed for 4 s) and ingests only the new job.
    time.sleep(4.5)
    second = subprocess.run(run, capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
    assert "(1 new or changed, 6 unchanged)" in second.stdout
    assert not s3.list_objects_v2(Bucket="label-lake", Prefix="lake/_gtlake/staging/").get("KeyCount")

    # The same files, one local run: every table equal.
    local = subprocess.run([sys.executable, "-m", "gtlake.cli", "run", "--input", str(sample / "output"),
                            "--activity", str(sample / "worker-activity"), "--lake", str(tmp_path / "lake")],
                           capture_output=True, text=True, env=env, timeout=600)
    assert local.returncode == 0, local.stderr[-3000:]
    fs = storage.s3_filesystem()
    for table in COMPARED:
        remote, here = _s3_table(fs, "label-lake/lake", table), read_table(tmp_path / "lake", table)
        assert here is not None and len(here) > 0, table
        assert _canonical(remote) == _canonical(here), table
    boxes = _s3_table(fs, "label-lake/lake", "boxes")
    assert not boxes.duplicated(["job_name", "sequence_id", "frame_no", "box_index"]).any()
    assert boxes.source_uri.str.startswith("s3://gt-output/gt/output/").all()

    # The catalog: every lake table, every partition folder, locations on S3.
    glue = boto3.client("glue")
    tables = {t["Name"]: t for p in glue.get_paginator("get_tables").paginate(DatabaseName="gtlake")
              for t in p["TableList"]}
    assert set(COMPARED) | {"runs"} <= set(tables)
    for name in COMPARED:
        t = tables[name]
        assert t["StorageDescriptor"]["Location"] == f"s3://label-lake/lake/{name}/"
        key = t["PartitionKeys"][0]["Name"]
        parts = {tuple(p["Values"]) for page in glue.get_paginator("get_partitions").paginate(
            DatabaseName="gtlake", TableName=name) for p in page["Partitions"]}
        folders = {(n.split("=", 1)[1],) for n in _listdir(fs, f"label-lake/lake/{name}") if n.startswith(key + "=")}
        assert parts == folders and parts, name
    assert ("urban-mot-night-audit",) in {tuple(p["Values"]) for p in glue.get_partitions(
        DatabaseName="gtlake", TableName="audit_changes")["Partitions"]}


def _listdir(fs, path):
    """Names directly under an S3 folder."""
    from pyarrow import fs as pafs

    return [os.path.basename(i.path) for i in fs.get_file_info(pafs.FileSelector(path))]


def test_missing_prefix_is_a_clear_argument_error(s3_endpoint):
    env = dict(os.environ, **FAKE_AWS, AWS_ENDPOINT_URL=s3_endpoint, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "gtlake.cli", "ingest", "--input", "s3://gt-output/nothing-here",
                        "--lake", "lake"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("gtlake ingest: error: --input s3://gt-output/nothing-here")
