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


def test_ingest_from_s3_matches_the_local_ingest(s3_endpoint, tmp_path, monkeypatch):
    import boto3

    for k, v in FAKE_AWS.items():
        monkeypatch.setenv(k, v)
    sample = tmp_path / "sample"
    generate(str(sample), SampleParams(sequences=3, frames=40, objects=4, workers=2, seed=2))
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="gt-output")
    for path in (sample / "output").rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), "gt-output", "labeling/" + str(path.relative_to(sample / "output")))

    env = dict(os.environ, **FAKE_AWS, AWS_ENDPOINT_URL=s3_endpoint, GTLAKE_JARS=_jars(), PYTHONPATH=str(REPO),
               PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    cmd = [sys.executable, "-m", "gtlake.cli", "ingest", "--lake"]
    remote = subprocess.run(cmd + [str(tmp_path / "lake-s3"), "--input", "s3://gt-output/labeling"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert remote.returncode == 0, remote.stderr[-3000:]
    local = subprocess.run(cmd + [str(tmp_path / "lake-local"), "--input", str(sample / "output")],
                           capture_output=True, text=True, env=env, timeout=300)
    assert local.returncode == 0, local.stderr[-3000:]
    for table in ("sequences", "frames", "boxes", "worker_responses"):
        a = read_table(tmp_path / "lake-s3", table).drop(columns=["source_uri"])
        b = read_table(tmp_path / "lake-local", table).drop(columns=["source_uri"])
        keys = [c for c in ("job_name", "sequence_id", "frame_no", "box_index", "label_attribute") if c in a.columns]
        a, b = a.sort_values(keys).reset_index(drop=True), b.sort_values(keys).reset_index(drop=True)
        assert len(a) == len(b) > 0, table
        assert a.drop(columns=[c for c in a.columns if a[c].dtype == object and c.endswith("attributes")]).equals(
            b.drop(columns=[c for c in b.columns if b[c].dtype == object and c.endswith("attributes")])), table
    boxes = read_table(tmp_path / "lake-s3", "boxes")
    assert boxes.source_uri.str.startswith("s3://gt-output/labeling/").all()
    assert read_table(tmp_path / "lake-s3", "rejected") is None


def test_missing_prefix_is_a_clear_argument_error(s3_endpoint):
    env = dict(os.environ, **FAKE_AWS, AWS_ENDPOINT_URL=s3_endpoint, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "gtlake.cli", "ingest", "--input", "s3://gt-output/nothing-here",
                        "--lake", "lake"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("gtlake ingest: error: --input s3://gt-output/nothing-here")
