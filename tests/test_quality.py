"""The quality job on a lake: tables per the contract, accuracy through Spark, reruns, the real file."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from gtlake.jobs.ingest import IngestConfig
from gtlake.jobs.ingest import run as ingest
from gtlake.jobs.quality import QualityJobConfig
from gtlake.jobs.quality import run as quality
from gtlake.sample.generate import SampleParams, generate
from gtlake.schemas import BOX_METRICS, REVIEW_QUEUE, TRACK_SUMMARY
from gtlake.sample.scoring import score_queue
from gtlake.udfs.config import QualityConfig
from tests.conftest import REPO, lake_snapshot, read_table

pytestmark = pytest.mark.spark
QUIET = {"log": lambda m: None}


@pytest.fixture(scope="module")
def scored(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("q")
    generate(str(tmp / "sample"), SampleParams(sequences=15, frames=150, objects=12, workers=6, seed=31))
    lake = tmp / "lake"
    ingest(spark, IngestConfig(input=str(tmp / "sample" / "output"), lake=str(lake)), **QUIET)
    result = quality(spark, QualityJobConfig(lake=str(lake)), **QUIET)
    return {"tmp": tmp, "lake": lake, "result": result}


def test_tables_follow_the_contract(scored):
    lake = scored["lake"]
    for table in (BOX_METRICS, TRACK_SUMMARY, REVIEW_QUEUE):
        df = read_table(lake, table.name)
        assert list(df.columns) == table.names, table.name
    boxes, metrics = read_table(lake, "boxes"), read_table(lake, "box_metrics")
    assert len(metrics) == boxes.object_id.notna().sum()  # every tracked box scored, once
    assert not metrics.duplicated(["job_name", "sequence_id", "frame_no", "object_id"]).any()
    assert metrics.iou_prev.dropna().between(0, 1).all()
    queue = read_table(lake, "review_queue")
    for job, q in queue.groupby("job_name"):
        assert sorted(q["rank"]) == list(range(1, len(q) + 1))
        assert q.sort_values("rank")["score"].is_monotonic_decreasing
    assert queue.frame_file.notna().mean() > 0.9 and queue.source_ref.notna().all()
    tracks = read_table(lake, "track_summary")
    assert (tracks.missing_frames >= 0).all() and (tracks.first_frame <= tracks.last_frame).all()


def test_files_without_tracked_boxes_are_not_scored(spark, scored, tmp_path, monkeypatch):
    """A detection job's boxes (no object ids) are left out of the scoring tasks, found from the footers: the
    tasks are balanced by the work they do, and the tables come out the same."""
    from gtlake.jobs import quality as job

    boxes = read_table(scored["lake"], "boxes")
    untracked = {j for j, b in boxes.groupby("job_name") if b.object_id.isna().all()}
    assert untracked and untracked != set(boxes.job_name)  # the sample has a detection job, and tracking jobs
    lake = tmp_path / "lake"
    shutil.copytree(scored["lake"], lake)
    shutil.rmtree(lake / "_gtlake" / "ledger" / "quality")
    seen, real = [], job._score
    monkeypatch.setattr(job, "_score", lambda run, cfg, files, *rest: seen.extend(files) or real(run, cfg, files, *rest))
    quality(spark, QualityJobConfig(lake=str(lake)), **QUIET)
    folders = {f.folder.split("=", 1)[1] for f in seen}
    assert folders == set(boxes.job_name) - untracked
    for table in ("box_metrics", "track_summary", "review_queue"):
        keys = ["job_name", "sequence_id", "object_id"] + (["frame_no"] if table != "track_summary" else [])
        before, after = (read_table(x, table).sort_values(keys).reset_index(drop=True) for x in (scored["lake"], lake))
        assert before.drop(columns=["scored_at"], errors="ignore").equals(
            after.drop(columns=["scored_at"], errors="ignore")), table


def test_review_queue_catches_planted_mistakes_with_few_flags(scored):
    lake, tmp = scored["lake"], scored["tmp"]
    planted = [json.loads(l) for l in (tmp / "sample" / "planted.jsonl").read_text().splitlines()]
    queue = read_table(lake, "review_queue")
    metrics = read_table(lake, "box_metrics")
    first_level = ~queue.job_name.str.endswith("-audit")
    result = score_queue(queue[first_level], planted, int((~metrics.job_name.str.endswith("-audit")).sum()))
    assert result["planted"] >= 20
    assert result["recall"] >= 0.95, result["recall_by_kind"]
    assert result["flag_share"] <= 0.05
    # an audit job's labels are a post-audit check, not the labelers' queue: scored, never queued; and the audits
    # fixed most mistakes, so fewer of their boxes are flagged than of the jobs they audited (taken together: one
    # job's few flags, 7 or 8 boxes here, are mostly real motion under partial occlusion, in both)
    assert not queue.job_name.str.endswith("-audit").any()
    audit = metrics.job_name.str.endswith("-audit")
    audited = metrics.job_name.isin(set(metrics.job_name[audit].str[:-len("-audit")]))
    flagged = metrics["flags"].map(len) > 0
    assert flagged[audit].mean() < flagged[audited].mean()


def test_rerun_changes_nothing_and_new_thresholds_rescore(spark, scored, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(scored["lake"], lake)  # rescored below: the module's lake stays as the other tests read it
    before = lake_snapshot(lake)
    again = quality(spark, QualityJobConfig(lake=str(lake)), **QUIET)
    assert again.status == "no_new_input" and lake_snapshot(lake) == before
    strict = quality(spark, QualityJobConfig(lake=str(lake), quality=QualityConfig(residual_rel=0.05)), **QUIET)
    assert strict.status == "succeeded" and len(strict.jobs_processed) == len(scored["result"].jobs_processed)
    assert lake_snapshot(lake) != before


def test_seed_notebook_through_ingest_and_quality(spark, tmp_path, fixtures_dir):
    nb = fixtures_dir / "seed-notebook"
    root = tmp_path / "input"
    (root / "mot17-vehicles/manifests/output").mkdir(parents=True)
    shutil.copy(nb / "derived-from-notebook/tracking_manifests/MOT17-13-SDP.manifest",
                root / "mot17-vehicles/manifests/output/output.manifest")
    (root / "tracking_manifests").mkdir()
    shutil.copy(nb / "SeqLabel.json", root / "tracking_manifests/SeqLabel.json")
    lake = tmp_path / "lake"
    ingest(spark, IngestConfig(input=str(root), lake=str(lake)), **QUIET)
    quality(spark, QualityJobConfig(lake=str(lake)), **QUIET)
    queue = read_table(lake, "review_queue")
    keys = set(zip(queue.object_name, queue.frame_no))
    assert keys & {("Vehicle:1", f) for f in range(137, 141)}
    assert ("Vehicle:1", 217) in keys and ("Vehicle:2", 102) in keys
    missing = queue[(queue.object_name == "Vehicle:1") & (queue.frame_no == 217)]
    assert list(missing.reasons.item()) == ["missing_box"] and missing.frame_file.item() == "000218.jpg"


@pytest.mark.parametrize("content, message", [
    ('{"iou_min": "high"}', "iou_min must be a number"),
    ('{"no_such_setting": 1}', "unknown quality settings: no_such_setting"),
    ("[1]", "must be a JSON object"),
])
def test_bad_config_is_an_argument_error(tmp_path, scored, content, message):
    cfg = tmp_path / "q.json"
    cfg.write_text(content)
    r = subprocess.run([sys.executable, "-m", "gtlake.cli", "quality", "--lake", str(scored["lake"]), "--config",
                        str(cfg)], capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": ""},
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert message in r.stderr.strip().splitlines()[-1]


def test_job_reingested_without_boxes_loses_its_quality_rows(spark, tmp_path, gt_tree):
    from tests.conftest import box, frame

    job = gt_tree("short-job")
    frames = [frame(str(i), [box(left=10 + 2 * i), box(oid="b", left=300 + 2 * i)]) for i in range(12)]
    frames[5]["annotations"][0]["width"] = 60  # something to queue
    job.labels(0, {"tracking-annotations": frames}).manifest([job.line(0)])
    lake = tmp_path / "lake"
    ingest(spark, IngestConfig(input=str(gt_tree.root), lake=str(lake)), **QUIET)
    quality(spark, QualityJobConfig(lake=str(lake)), **QUIET)
    assert len(read_table(lake, "box_metrics")) == 24 and read_table(lake, "review_queue") is not None
    job.labels(0, {"tracking-annotations": []})  # the job's labels are now empty
    ingest(spark, IngestConfig(input=str(gt_tree.root), lake=str(lake)), **QUIET)
    result = quality(spark, QualityJobConfig(lake=str(lake)), **QUIET)
    assert result.jobs_processed == ["short-job"]
    for table in ("box_metrics", "track_summary", "review_queue"):
        assert read_table(lake, table) is None, table


def test_rubric_scores_from_the_flags_where_no_audit_ran(scored):
    from gtlake.lakesql import connect
    from gtlake.schemas import TABLES
    from tests.conftest import rubric_reference

    lake = scored["lake"]
    tables = {t: read_table(lake, t) for t in TABLES}
    want = rubric_reference(tables).set_index(["job_name", "sequence_id"]).sort_index()
    assert set(want.source) == {"flags"} and want.penalty.sum() > 0  # no audit job has run on this lake
    got = connect(str(lake)).execute("SELECT * FROM rubric_scores WHERE level = 'sequence'").df()
    got = got.set_index(["job_name", "sequence_id"]).sort_index()
    assert list(got.index) == list(want.index)
    for c in ("boxes", "omissions", "inaccurate", "wrong_labels", "tracking_errors", "attribute_errors"):
        assert got[c].astype(int).tolist() == want[c].astype(int).tolist(), c
    assert got.rubric_score.round(9).tolist() == want.rubric_score.round(9).tolist()
