"""Ingest on generated sample trees: completeness, idempotence, incremental runs, a killed run."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gtlake.jobs.ingest import IngestConfig, run
from gtlake.sample.generate import SampleParams, generate
from tests.conftest import REPO, lake_snapshot, read_table

pytestmark = pytest.mark.spark


def expected_from_json(output: Path) -> dict[str, dict[str, int]]:
    """Counts per job computed straight from the JSON files, independently of the ingest code."""
    out = {}
    for job in sorted(p.name for p in output.iterdir()):
        lines = (output / job / "manifests/output/output.manifest").read_text().splitlines()
        boxes = frames = 0
        for f in (output / job).glob("annotations/consolidated-annotation/output/*/SeqLabel.json"):
            doc = json.loads(f.read_text())
            fr = doc.get("tracking-annotations") or doc.get("detection-annotations")
            frames += len(fr)
            boxes += sum(len(x["annotations"]) for x in fr)
        answers = sum(len(json.loads(f.read_text())["answers"])
                      for f in (output / job).glob("annotations/worker-response/*/*/*.json"))
        attrs = sum(sum(1 for k, v in json.loads(l).items() if k.endswith("-metadata")) for l in lines)
        out[job] = {"sequences": attrs, "frames": frames, "boxes": boxes, "worker_responses": answers}
    return out


def per_job(lake: Path, table: str) -> dict[str, int]:
    df = read_table(lake, table)
    return {} if df is None else df.groupby("job_name").size().to_dict()


@pytest.fixture(scope="module")
def sample_lake(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sample")
    summary = generate(str(tmp / "sample"), SampleParams(sequences=6, frames=60, objects=6, workers=4, seed=11))
    lake = tmp / "lake"
    result = run(spark, IngestConfig(input=str(tmp / "sample" / "output"), lake=str(lake)), log=lambda m: None)
    return {"tmp": tmp, "output": tmp / "sample" / "output", "lake": lake, "result": result, "summary": summary}


def own_copy(sample_lake: dict, tmp_path: Path) -> dict:
    """The module's sample output and lake copied under tmp_path, for a test that changes them (any order)."""
    shutil.copytree(sample_lake["output"], tmp_path / "output")
    shutil.copytree(sample_lake["lake"], tmp_path / "lake")
    return {**sample_lake, "output": tmp_path / "output", "lake": tmp_path / "lake"}


def test_sample_ingests_completely(sample_lake):
    expected = expected_from_json(sample_lake["output"])
    lake = sample_lake["lake"]
    for table in ("sequences", "frames", "boxes", "worker_responses"):
        assert per_job(lake, table) == {j: e[table] for j, e in expected.items()}, table
    assert read_table(lake, "rejected") is None  # the sample holds no malformed records
    assert sum(e["boxes"] for e in expected.values()) == sample_lake["summary"]["boxes"]
    assert sample_lake["result"].counts.unbalanced() == {}


def test_keys_are_unique_and_tracks_are_whole(sample_lake):
    boxes = read_table(sample_lake["lake"], "boxes")
    tracking = boxes[boxes.object_id.notna()]
    assert not tracking.duplicated(["job_name", "sequence_id", "frame_no", "object_id"]).any()
    seqs = read_table(sample_lake["lake"], "sequences")
    own = seqs[~seqs.inherited.astype(bool)]
    assert not own.duplicated(["job_name", "sequence_id"]).any()
    assert set(boxes.sequence_id) <= set(own.sequence_id)
    audit = seqs[seqs.job_name == "vehicles-day-2026-10-audit"]
    assert set(audit.adjustment_status.dropna()) <= {"adjusted", "unadjusted"}
    assert set(audit[audit.inherited.astype(bool)].label_job_name) == {"vehicles-day-2026-10"}


def test_rerun_changes_nothing_and_a_new_job_is_ingested_alone(spark, sample_lake, tmp_path):
    own = own_copy(sample_lake, tmp_path)
    output, lake = own["output"], own["lake"]
    before = lake_snapshot(lake)
    again = run(spark, IngestConfig(input=str(output), lake=str(lake)), log=lambda m: None)
    assert again.status == "no_new_input" and lake_snapshot(lake) == before

    shutil.copytree(output / "street-tracking-b2", output / "street-tracking-b3")
    manifest = output / "street-tracking-b3/manifests/output/output.manifest"
    manifest.write_text(manifest.read_text().replace("street-tracking-b2", "street-tracking-b3"))
    third = run(spark, IngestConfig(input=str(output), lake=str(lake)), log=lambda m: None)
    assert third.jobs_processed == ["street-tracking-b3"]
    after = lake_snapshot(lake)
    untouched = {k: v for k, v in after.items() if "job_name=street-tracking-b3" not in k}
    assert untouched == before  # other jobs' files are the very same files
    counts = per_job(lake, "boxes")
    assert counts["street-tracking-b3"] == counts["street-tracking-b2"]


def test_changed_job_is_replaced_not_duplicated(spark, sample_lake, tmp_path):
    own = own_copy(sample_lake, tmp_path)
    output, lake = own["output"], own["lake"]
    assert run(spark, IngestConfig(input=str(output), lake=str(lake)), log=lambda m: None).status == "no_new_input"
    job = output / "urban-mot-night"
    labels = job / "annotations/consolidated-annotation/output/0/SeqLabel.json"
    doc = json.loads(labels.read_text())
    removed = len(doc["tracking-annotations"][0]["annotations"])
    doc["tracking-annotations"][0]["annotations"] = []
    labels.write_text(json.dumps(doc))
    before = per_job(lake, "boxes")["urban-mot-night"]
    result = run(spark, IngestConfig(input=str(output), lake=str(lake)), log=lambda m: None)
    assert result.jobs_processed == ["urban-mot-night"]
    assert per_job(lake, "boxes")["urban-mot-night"] == before - removed
    runs = read_table(lake, "runs")
    assert set(runs.status) == {"succeeded", "no_new_input"} and len(runs) == 3  # the first, the rerun, this one


def test_killed_run_leaves_the_lake_as_it_was(tmp_path):
    """SIGKILL the whole `gtlake ingest` process group while it stages; the lake must not change."""
    sample = tmp_path / "sample"
    generate(str(sample), SampleParams(sequences=9, frames=150, objects=10, workers=3, seed=3))
    output, lake = sample / "output", tmp_path / "lake"
    moved = tmp_path / "later"
    moved.mkdir()
    shutil.move(str(output / "urban-mot-night"), moved / "urban-mot-night")
    cmd = [sys.executable, "-m", "gtlake.cli", "ingest", "--input", str(output), "--lake", str(lake)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    before = lake_snapshot(lake)
    ledger = sorted(os.listdir(lake / "_gtlake/ledger/ingest"))

    shutil.move(str(moved / "urban-mot-night"), output / "urban-mot-night")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    staging = lake / "_gtlake" / "staging"
    while time.monotonic() < deadline and proc.poll() is None:
        if staging.is_dir() and any(staging.glob("*/sequences/job_name=*")):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert lake_snapshot(lake) == before
    assert sorted(os.listdir(lake / "_gtlake/ledger/ingest")) == ledger
    assert not (lake / "_gtlake" / "journal.json").exists()

    done = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    # the new job, and its audit job: read again now that the job its labels are chained from is in the lake
    assert "2 jobs" in done.stdout and "urban-mot-night" in "".join(os.listdir(lake / "boxes"))
    assert not staging.exists() or not any(staging.iterdir())
    boxes = read_table(lake, "boxes")
    assert not boxes[boxes.object_id.notna()].duplicated(["job_name", "sequence_id", "frame_no", "object_id"]).any()
