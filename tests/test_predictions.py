"""`gtlake predictions`: each input format read back into the lake as the labels it came from, refusals with their
reasons and balanced counts, a model's predictions replaced and another's kept, a rerun that does nothing, and the
findings of a simulated model on the sample."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtlake.jobs.predictions import JobContext, PredictionsConfig, parse_jsonl
from gtlake.jobs.predictions import run as predictions_run
from gtlake.lakesql import connect
from tests.conftest import REPO, lake_snapshot, read_table

pytestmark = pytest.mark.spark
QUIET = {"log": lambda m: None}


@pytest.fixture
def own(pipeline_lake, tmp_path):
    """A copy of the session lake to write to, and the job the session's simulated model predicted."""
    shutil.copytree(pipeline_lake["lake"], tmp_path / "lake")
    return tmp_path / "lake", pipeline_lake["predicted_job"]


def _labels(lake, job: str) -> pd.DataFrame:
    return connect(str(lake)).execute('SELECT sequence_id, frame_no, label, "left", "top", width, height FROM boxes '
                                      "WHERE job_name = ?", [job]).df()


def _stored(lake, job: str, model: str) -> pd.DataFrame:
    return connect(str(lake)).execute('SELECT sequence_id, frame_no, label, "left", "top", width, height, score, '
                                      "track_id FROM predictions WHERE job_name = ? AND model = ?", [job, model]).df()


def _same_boxes(got: pd.DataFrame, want: pd.DataFrame) -> None:
    keys = ["sequence_id", "frame_no", "label", "left", "top", "width", "height"]
    got = got[keys].sort_values(keys).reset_index(drop=True)
    want = want[keys].sort_values(keys).reset_index(drop=True)
    assert len(got) == len(want) > 0
    assert got[["sequence_id", "frame_no", "label"]].astype(str).values.tolist() == \
        want[["sequence_id", "frame_no", "label"]].astype(str).values.tolist()
    assert np.allclose(got[keys[3:]].to_numpy(float), want[keys[3:]].to_numpy(float), atol=1e-9)


def _export(lake, job: str, fmt: str, out) -> None:
    r = subprocess.run([sys.executable, "-m", "gtlake.cli", "export", "--lake", str(lake), "--job", job, "--format",
                        fmt, "--out", str(out)], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300)
    assert r.returncode == 0, r.stderr


def test_the_session_model_is_stored_and_finds_what_the_audit_fixed(pipeline_lake):
    lake, job = pipeline_lake["lake"], pipeline_lake["predicted_job"]
    result = pipeline_lake["predictions"]
    assert result.status == "succeeded" and result.counts.as_dict()["prediction"]["rejected"] == 0
    lines = (pipeline_lake["tmp"] / "predictions.jsonl").read_text().splitlines()
    assert result.stored == len(lines) == len(_stored(lake, job, "sim"))
    assert set(result.thresholds) == set(_labels(lake, job)["label"]) and all(
        0.3 < t < 0.8 for t in result.thresholds.values())  # Beta(6, 2) scores: a tenth of them lie below ~0.55
    found = read_table(lake, "prediction_findings")
    found = found[found.job_name == job]
    assert len(found) and set(found.reason) <= {"overlooked", "badly_located", "class_disagrees"}
    # the model saw the boxes as the audit left them: where it says a label is badly located, the auditor moved it
    changes = read_table(lake, "audit_changes")
    moved = changes[(changes.source_job == job) & changes.change.isin(["moved", "resized"])]
    bad = found[found.reason == "badly_located"]
    hit = bad.merge(moved, on=["sequence_id", "frame_no", "object_id"])
    labeled = (read_table(lake, "boxes").job_name == job).sum()
    assert len(hit) >= 1 and len(hit) / len(bad) >= 0.5 > 3 * len(moved) / labeled, (len(hit), len(bad))


def test_overlooked_objects_are_queued_judged_and_sent_to_the_auditor(pipeline_lake):
    """The model's findings re-ranked the queue: an object left out of the labels is an entry of its own (no object,
    the model's box) that finds what the sample left out; the reviewer's verdicts on it are stored; the directed
    audit job tells the auditor to add a box."""
    from gtlake.jobs import audit_request as ar
    from gtlake.lake import Lake
    from gtlake.sample.scoring import score_overlooked

    lake, job = pipeline_lake["lake"], pipeline_lake["predicted_job"]
    assert Lake(str(lake)).ledger("quality")[job]["predictions_run"] == Lake(str(lake)).ledger("predictions")[job][
        "run_id"]
    queue = read_table(lake, "review_queue")
    queue = queue[queue.job_name == job]
    over = queue[queue.reasons.map(lambda r: "overlooked" in list(r))]
    assert len(over) and over.object_id.isna().all() and over.model.eq("sim").all()
    assert over[["model_left", "model_top", "model_width", "model_height"]].notna().all().all()
    assert queue[queue.object_id.isna()].index.isin(over.index).all()  # only overlooked entries lack an object
    findings = read_table(lake, "prediction_findings")
    assert len(over) == ((findings.job_name == job) & (findings.reason == "overlooked")).sum()
    with open(pipeline_lake["sample"] / "planted.jsonl") as f:
        planted = [p for p in map(json.loads, f) if p["job_name"] == job]
    frames = int((read_table(lake, "frames").job_name == job).sum())
    got = score_overlooked(over, planted, frames)
    assert got["omitted"] >= 2 and got["recall"] >= 0.9, got["missed"]
    assert got["false_frame_share"] <= 0.01, got
    # the simulated reviewer judged them (a mistake where the sample left an object out), stored with their box
    verdicts = read_table(lake, "review_verdicts")
    judged = verdicts[(verdicts.job_name == job) & verdicts.object_id.isna()]
    assert len(judged) == len(over) and judged.model_width.notna().all()
    assert (judged.verdict == "mistake").sum() >= got["omitted"] * 0.5
    # the directed audit job names them
    q, seqs = ar.flagged(Lake(str(lake)), job)
    full = ar.instructions(q, job)[1]
    listed = q.sort_values("rank").head(ar.MAX_LISTED)
    assert full.count("<b>Not labeled</b>") == listed.object_id.isna().sum() > 0


def test_jsonl_refusals_rerun_and_models(own, tmp_path, spark):
    lake, job = own
    seq = connect(str(lake)).execute("SELECT min(sequence_id), min(source_ref) FROM sequences WHERE job_name = ?",
                                     [job]).fetchone()
    label = _labels(lake, job)["label"].iloc[0]
    good = {"sequence_id": seq[0], "frame_no": 1, "label": label, "score": 0.9, "box": [10, 20, 30, 40]}
    lines = [json.dumps(good), json.dumps({**good, "sequence_id": None, "source_ref": seq[1], "frame_no": 2}),
             "{not json", json.dumps([1]), json.dumps({**good, "sequence_id": "x:1"}),
             json.dumps({**good, "frame_no": -1}), json.dumps({**good, "frame_no": 99999}),
             json.dumps({**good, "label": "Unicorn"}), json.dumps({**good, "score": 1.5}),
             json.dumps({**good, "box": [1, 2, 0, 4]}), json.dumps({**good, "track_id": {"a": 1}}), ""]
    f = tmp_path / "p.jsonl"
    f.write_text("\n".join(lines))
    r = predictions_run(spark, PredictionsConfig(lake=str(lake), job=job, input=str(f), model="tiny"), **QUIET)
    assert r.counts.as_dict()["prediction"] == {"in": 11, "out": 2, "rejected": 9}
    rej = read_table(lake, "rejected")
    rej = rej[rej.step == "predictions"]
    assert sorted(rej.reason_code) == sorted(["invalid_json", "not_an_object", "unknown_sequence", "invalid_frame_no",
                                              "unknown_frame", "unknown_class", "invalid_score", "invalid_box",
                                              "invalid_track_id"])
    assert len(_stored(lake, job, "tiny")) == 2 and len(_stored(lake, job, "sim")) > 0  # the other model stays
    before = lake_snapshot(lake)
    again = predictions_run(spark, PredictionsConfig(lake=str(lake), job=job, input=str(f), model="tiny"), **QUIET)
    assert again.status == "no_new_input" and lake_snapshot(lake) == before
    f.write_text(json.dumps(good) + "\n")
    predictions_run(spark, PredictionsConfig(lake=str(lake), job=job, input=str(f), model="tiny"), **QUIET)
    assert len(_stored(lake, job, "tiny")) == 1  # the model's predictions replaced, not added to


def test_mot_files_of_the_export_read_back_as_the_labels(own, tmp_path, spark):
    lake, job = own
    _export(lake, job, "mot", tmp_path / "mot")
    r = predictions_run(spark, PredictionsConfig(lake=str(lake), job=job, input=str(tmp_path / "mot"), format="mot",
                                                 model="gt-as-mot"), **QUIET)
    assert r.counts.as_dict()["prediction"]["rejected"] == 0 and r.counts.as_dict()["predictions_file"]["rejected"] == 0
    stored = _stored(lake, job, "gt-as-mot")
    _same_boxes(stored, _labels(lake, job))
    assert stored.track_id.notna().all()  # gt.txt's ids are tracks
    # the labels are their own best predictions: nothing to say
    found = read_table(lake, "prediction_findings")
    assert found[found.model == "gt-as-mot"].empty


def test_coco_files_of_the_export_read_back_as_the_labels(own, tmp_path, spark):
    lake, job = own
    _export(lake, job, "coco", tmp_path / "coco")
    doc = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    for a in doc["annotations"]:
        a["score"] = 0.99
    scored = tmp_path / "scored.json"
    scored.write_text(json.dumps(doc))
    predictions_run(spark, PredictionsConfig(lake=str(lake), job=job, input=str(scored), format="coco",
                                             model="gt-as-coco"), **QUIET)
    _same_boxes(_stored(lake, job, "gt-as-coco"), _labels(lake, job))
    # a results list, with the export's annotations.json beside it
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.8}
               for a in doc["annotations"]] + [{"image_id": -5, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5}]
    (tmp_path / "coco" / "results.json").write_text(json.dumps(results))
    r = predictions_run(spark, PredictionsConfig(lake=str(lake), job=job, input=str(tmp_path / "coco"),
                                                 format="coco", model="results"), **QUIET)
    assert r.counts.as_dict()["prediction"]["rejected"] == 1
    _same_boxes(_stored(lake, job, "results"), _labels(lake, job))


def test_cli_predictions(own, tmp_path):
    lake, job = own
    f = tmp_path / "none.jsonl"
    f.write_text("")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "gtlake.cli", "predictions", "--lake", str(lake)]
    bad = subprocess.run(cmd + ["--job", "no-such-job", "--input", str(f)], capture_output=True, text=True, env=env,
                         timeout=120)
    assert bad.returncode == 2 and "no such job in the lake" in bad.stderr and "Traceback" not in bad.stderr
    ok = subprocess.run(cmd + ["--job", job, "--input", str(f), "--model", "empty"], capture_output=True, text=True,
                        env=env, timeout=300)
    assert ok.returncode == 0 and "predictions in 0 = stored 0 + refused 0" in ok.stdout, ok.stderr


CTX = JobContext("j", {"j:0": "s3://b/s.json"}, {"s3://b/s.json": "j:0"}, {("j:0", f) for f in range(5)}, {},
                 {"j:0": 0}, {"j_0": "j:0"}, ["car"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=80), st.builds(json.dumps, st.dictionaries(
    st.sampled_from(["sequence_id", "source_ref", "frame_no", "label", "score", "box", "track_id", "left"]),
    st.one_of(st.none(), st.booleans(), st.integers(-3, 9), st.floats(allow_nan=True), st.text(max_size=10),
              st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5))))), max_size=20))
def test_any_jsonl_is_read_or_refused_line_by_line(lines):
    text = "\n".join(lines)
    got = parse_jsonl(text.encode("utf-8", "surrogatepass"), "f.jsonl", CTX)
    assert len(got.rows) + len(got.rejects) == got.listed == sum(1 for line in text.splitlines() if line.strip())
    for row in got.rows:
        assert row["sequence_id"] == "j:0" and 0 <= row["score"] <= 1 and row["width"] > 0 and row["height"] > 0
        assert all(np.isfinite([row["left"], row["top"], row["width"], row["height"]]))
