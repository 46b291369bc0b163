"""The workers and audit jobs on a generated sample: the activity log (export and CloudWatch Logs),
worker tasks, what auditors changed, and worker quality ranked against the sample's truth."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from scipy.stats import spearmanr

from gtlake.jobs.audit import AuditJobConfig
from gtlake.jobs.audit import run as audit_run
from gtlake.jobs.ingest import IngestConfig
from gtlake.jobs.ingest import run as ingest_run
from gtlake.jobs.workers import WorkersConfig, fetch_log_events
from gtlake.jobs.workers import run as workers_run
from gtlake.sample.generate import SampleParams, generate
from tests.conftest import FAKE_AWS, REPO, lake_snapshot, read_table

pytestmark = pytest.mark.spark
QUIET = {"log": lambda m: None}


@pytest.fixture(scope="module")
def lake(pipeline_lake):
    """The session's sample lake with every step run (conftest.pipeline_lake): read, never written; a test that
    writes works on `own_copy`, so that the tests pass in any order."""
    return pipeline_lake


def own_copy(lake: dict, tmp_path: Path) -> dict:
    """A copy of the session lake and its activity export under tmp_path, for a test that writes to them."""
    shutil.copytree(lake["lake"], tmp_path / "lake")
    shutil.copytree(lake["activity"], tmp_path / "activity")
    return {**lake, "lake": tmp_path / "lake", "activity": tmp_path / "activity"}


def export_lines(folder: Path) -> list[str]:
    return [line for f in sorted(folder.rglob("*.gz")) for line in gzip.decompress(f.read_bytes()).decode().splitlines()]


def test_every_logged_event_is_stored_and_tasks_cover_every_response(lake):
    result = lake["workers"]
    lines = export_lines(lake["activity"])
    assert result.counts.as_dict()["worker_event"] == {"in": len(lines), "out": len(lines), "rejected": 0}
    events = read_table(lake["lake"], "worker_events")
    assert len(events) == len(lines) and events["event_key"].is_unique
    assert events["worker_id"].str.startswith("private.us-east-1.").all()  # mapped through the Cognito sub
    tasks = read_table(lake["lake"], "worker_tasks")
    responses = read_table(lake["lake"], "worker_responses")
    answered = tasks[tasks["data_object_index"].notna()]
    assert len(answered) == len(responses)  # each response is one task, matched to its event or not
    assert set(tasks["source"]) <= {"log+response", "log", "response"} and (tasks["source"] == "log+response").mean() > 0.8
    assert (tasks["wall_seconds"].dropna() >= 0).all()  # a declined task was never accepted: no wall time
    matched = tasks[tasks["source"] == "log+response"]
    assert (matched["active_seconds"] <= matched["wall_seconds"]).all()
    other = tasks[tasks["outcome"] != "submitted"]
    assert set(other["outcome"]) <= {"returned", "declined"} and other["data_object_index"].isna().all()


def test_rerun_reads_nothing_and_a_new_damaged_file_is_read_alone(spark, lake, tmp_path):
    lake = own_copy(lake, tmp_path)
    # the copied export is another root to the copied ledger: read once (every event already stored), then a rerun
    first = workers_run(spark, WorkersConfig(lake=str(lake["lake"]), activity=str(lake["activity"])), **QUIET)
    assert first.new_events == 0
    before = lake_snapshot(lake["lake"])
    again = workers_run(spark, WorkersConfig(lake=str(lake["lake"]), activity=str(lake["activity"])), **QUIET)
    assert again.status == "no_new_input" and lake_snapshot(lake["lake"]) == before

    good = json.loads(export_lines(lake["sample"] / "worker-activity")[0].split(" ", 1)[1])
    fresh = dict(good, event_type="TasksSubmitted", task_accepted_time="Mon Nov 02 10:00:00 UTC 2026",
                 task_submitted_time="Mon Nov 02 10:05:00 UTC 2026", task_returned_time="", task_declined_time="",
                 event_timestamp="1793613900")
    backwards = dict(fresh, event_type="TasksDeclined", task_submitted_time="",
                     task_declined_time="Mon Oct 05 07:04:10 UTC 2026")  # declined a month before it was accepted
    lines = [f"2026-11-02T10:05:00.000Z {json.dumps(fresh)}",
             f"2026-11-02T10:05:00.000Z {json.dumps(good)}",  # already stored: kept once
             "2026-11-02T10:06:00.000Z {\"worker_id\": ",  # cut off
             f"2026-11-02T10:07:00.000Z {json.dumps(dict(good, labeling_job_arn='nope'))}",
             f"2026-11-02T10:08:00.000Z {json.dumps(backwards)}"]
    extra = lake["activity"] / "late" / "000001.gz"
    extra.parent.mkdir()
    extra.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    (lake["activity"] / "late" / "000002.gz").write_bytes(b"\x1f\x8bnot really gzip")
    n_events = len(read_table(lake["lake"], "worker_events"))
    r = workers_run(spark, WorkersConfig(lake=str(lake["lake"]), activity=str(lake["activity"])), **QUIET)
    assert r.counts.as_dict()["worker_event"] == {"in": 5, "out": 2, "rejected": 3}
    assert r.counts.as_dict()["activity_file"] == {"in": 2, "out": 1, "rejected": 1}
    assert r.new_events == 1 and len(read_table(lake["lake"], "worker_events")) == n_events + 1
    rej = read_table(lake["lake"], "rejected")
    rej = rej[rej["step"] == "workers"]
    assert sorted(rej["reason_code"]) == ["invalid_gzip", "invalid_job_arn", "invalid_json", "invalid_timestamp"]
    job = good["labeling_job_arn"].rsplit("/", 1)[1]  # a refused event of a known job is filed under that job
    assert dict(zip(rej["reason_code"], rej["job_name"])) == {
        "invalid_gzip": "_activity", "invalid_job_arn": "_activity", "invalid_json": "_activity",
        "invalid_timestamp": job}
    assert rej["source_uri"].str.contains("late").all()
    assert (lake["lake"] / "rejected" / "job_name=_activity" / "step=workers").is_dir()


def test_a_lake_moved_with_its_export_reads_nothing_again(spark, lake, tmp_path):
    """The workers ledger names a local export folder relative to the lake, and its files relative to that folder:
    the lake and its export copied elsewhere together is the same lake that has read the same files."""
    from gtlake.lake import Lake

    common = Path(os.path.commonpath([lake["lake"], lake["activity"]]))
    moved = {k: tmp_path / "moved" / Path(lake[k]).relative_to(common) for k in ("lake", "activity")}
    for k, dest in moved.items():
        shutil.copytree(lake[k], dest)
    entries = [e for k, e in Lake(str(moved["lake"])).ledger("workers").items() if k.startswith("files-")]
    assert entries and all(not os.path.isabs(e["root"]) and not any(os.path.isabs(f) for f in e["files"])
                           for e in entries)
    before = lake_snapshot(moved["lake"])
    r = workers_run(spark, WorkersConfig(lake=str(moved["lake"]), activity=str(moved["activity"])), **QUIET)
    assert r.status == "no_new_input" and lake_snapshot(moved["lake"]) == before


def test_cloudwatch_logs_are_read_from_a_watermark(spark, lake, s3_endpoint, tmp_path, monkeypatch):
    import boto3

    for k, v in {**FAKE_AWS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(k, v)
    logs = boto3.client("logs")
    group, stream = "/aws/sagemaker/groundtruth/WorkerActivity", "aws/sagemaker/groundtruth/worker-activity/x/1"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    template = json.loads(export_lines(lake["sample"] / "worker-activity")[0].split(" ", 1)[1])
    now = int(time.time() * 1000)

    def put(start_ms: int, n: int, step_ms: int, bad: int = 0) -> None:
        events = [{"timestamp": start_ms + k * step_ms,
                   "message": json.dumps(dict(template, event_timestamp=str((start_ms + k * step_ms) // 1000)))}
                  for k in range(n)]
        events += [{"timestamp": start_ms + (n + k) * step_ms, "message": "not json"} for k in range(bad)]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    put(now - 5 * 3600_000, 25, 600_000, bad=1)  # every 10 minutes; the bad one last, at the watermark
    assert len(fetch_log_events(group, None, page_size=10)) == 26  # several pages
    own = tmp_path / "lake"
    shutil.copytree(lake["lake"], own)
    cfg = WorkersConfig(lake=str(own), log_group=group, lookback_minutes=5)
    first = workers_run(spark, cfg, **QUIET)
    assert first.counts.as_dict()["worker_event"] == {"in": 26, "out": 25, "rejected": 1} and first.new_events == 25
    put(now - 60_000, 3, 1000)
    second = workers_run(spark, cfg, **QUIET)
    # Only what is new, and the 5-minute look-back before the watermark (the bad event, refused once more).
    assert second.counts.as_dict()["worker_event"] == {"in": 4, "out": 3, "rejected": 1} and second.new_events == 3
    third = workers_run(spark, cfg, **QUIET)
    assert third.counts.as_dict()["worker_event"]["in"] == 3 and third.new_events == 0  # re-read, stored once
    assert len(read_table(own, "worker_events")) == len(read_table(lake["lake"], "worker_events")) + 28
    rej = read_table(own, "rejected")
    assert len(rej[(rej["step"] == "workers") & rej["source_uri"].str.startswith("cloudwatch://")]) == 1


def test_audit_rows_account_for_every_box_and_find_the_fixed_mistakes(lake):
    result = lake["audit"]
    c = result.counts.as_dict()
    assert c["audit_box"]["in"] == c["audit_box"]["out"] > 0 and c["audit_sequence"]["rejected"] == 0
    changes = read_table(lake["lake"], "audit_changes")
    boxes = read_table(lake["lake"], "boxes")
    tracked = boxes[boxes["object_id"].notna()]
    audits = sorted(changes["audit_job"].unique())
    assert audits == sorted(j for j in tracked["job_name"].unique() if j.endswith("-audit"))
    n_auditor = tracked["job_name"].isin(audits).sum()
    assert changes["audit_object_id"].notna().sum() == n_auditor
    assert changes["object_id"].notna().sum() == (~tracked["job_name"].isin(audits) & (tracked["job_name"] != "road-signs-detect")).sum()
    unadjusted = changes[changes["adjustment_status"] == "unadjusted"]
    assert (unadjusted["change"] == "unchanged").all()
    assert set(changes["labeler_id"].dropna()) <= set(s["worker_id"] for s in lake["summary"]["labelers"])

    plants = [json.loads(line) for line in (lake["sample"] / "planted.jsonl").read_text().splitlines()]
    fixed = [p for p in plants if p.get("corrected_by_audit")]
    assert fixed
    for p in fixed:
        mine = changes[(changes["sequence_id"] == p["sequence_id"]) & changes["frame_no"].isin(p["frames"])
                       & (changes["object_id"].isin(p["object_ids"]) | changes["audit_object_id"].isin(p["object_ids"]))]
        if p["kind"] == "attribute_flip":
            assert mine["attributes_changed"].any(), p
            continue
        expected = {"deleted_box": {"added"}, "omitted_track": {"added"}, "omitted_span": {"added"},
                    "id_swap": {"reidentified"}, "duplicate_box": {"deleted"},
                    "class_flip": {"relabeled"}, "broken_track": {"reidentified"}}.get(p["kind"], {"moved", "resized"})
        assert set(mine["change"]) & expected, (p["kind"], mine["change"].value_counts().to_dict())


def test_adjustment_rates_rank_the_careless_workers_worst(lake):
    wq = read_table(lake["lake"], "worker_quality")
    per = wq.groupby("worker_id")[["adjusted_boxes", "added", "audited_boxes"]].sum()
    per["rate"] = (per["adjusted_boxes"] + per["added"]) / (per["audited_boxes"] + per["added"])
    truth = pd.DataFrame(lake["summary"]["labelers"]).set_index("worker_id")["carelessness"]
    per = per.join(truth, how="inner").sort_values("rate")
    assert len(per) == 6
    assert per.index[-1] == truth.idxmax()  # the most careless labeler was corrected most
    assert set(per.index[:2]) == set(truth.nsmallest(2).index)  # the two most careful, least
    assert spearmanr(per["carelessness"], per["rate"])[0] >= 0.8
    row = wq[wq["audited_sequences"] > 0].iloc[0]
    assert 0 <= row["mota"] <= 1 and 0 <= row["idf1"] <= 1 and 0 <= row["flagged_rate"] <= 1
    assert row["gt_boxes"] == row["matches"] + row["misses"]


def test_audit_rerun_is_a_no_op_and_a_missing_source_is_refused(spark, lake, tmp_path):
    lake = own_copy(lake, tmp_path / "own")
    before = lake_snapshot(lake["lake"])
    assert audit_run(spark, AuditJobConfig(lake=str(lake["lake"])), **QUIET).status == "no_new_input"
    assert lake_snapshot(lake["lake"]) == before

    only_audit = tmp_path / "output"
    shutil.copytree(lake["sample"] / "output" / "urban-mot-night-audit", only_audit / "urban-mot-night-audit")
    ingest_run(spark, IngestConfig(input=str(only_audit), lake=str(tmp_path / "lake")), **QUIET)
    r = audit_run(spark, AuditJobConfig(lake=str(tmp_path / "lake")), **QUIET)
    n = r.counts.as_dict()["audit_sequence"]
    assert n["in"] == n["rejected"] > 0 and n["out"] == 0
    rej = read_table(tmp_path / "lake", "rejected")
    assert set(zip(rej["step"], rej["reason_code"])) == {("ingest", "chained_source_missing"),
                                                         ("audit", "source_not_in_lake")}
    assert set(rej["job_name"]) == {"urban-mot-night-audit"}


def test_cli_workers_and_audit(lake, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    cmd = [sys.executable, "-m", "gtlake.cli"]
    both = subprocess.run(cmd + ["workers", "--lake", str(lake["lake"]), "--activity", "x", "--log-group", "g"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr and "Traceback" not in both.stderr
    missing = subprocess.run(cmd + ["workers", "--lake", str(lake["lake"]), "--activity", str(tmp_path / "none")],
                             capture_output=True, text=True, env=env, timeout=60)
    assert missing.returncode == 2 and "--activity" in missing.stderr and "no such folder" in missing.stderr
    bad = subprocess.run(cmd + ["audit", "--lake", str(lake["lake"]), "--match-iou", "2"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "(0, 1]" in bad.stderr
    own = own_copy(lake, tmp_path / "own")
    ok = subprocess.run(cmd + ["audit", "--lake", str(own["lake"])], capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert "nothing changed since the last audit run" in ok.stdout


def test_gtlake_run_with_the_activity_log_runs_every_step(tmp_path):
    generate(str(tmp_path / "s"), SampleParams(sequences=3, frames=30, objects=4, workers=3, seed=5))
    env = dict(os.environ, PYTHONPATH=str(REPO), PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    r = subprocess.run([sys.executable, "-m", "gtlake.cli", "run", "--input", str(tmp_path / "s" / "output"),
                        "--activity", str(tmp_path / "s" / "worker-activity"), "--lake", str(tmp_path / "lake")],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    for step in ("ingest", "workers", "quality", "audit"):
        assert f"\n{step} 2" in "\n" + r.stdout, step  # each step's summary line names its run id
    for table in ("worker_events", "worker_tasks", "box_metrics", "audit_changes", "worker_quality"):
        assert read_table(tmp_path / "lake", table) is not None, table
    runs = read_table(tmp_path / "lake", "runs")
    assert sorted(runs["job"]) == ["audit", "ingest", "quality", "workers"] and set(runs["status"]) == {"succeeded"}


@pytest.mark.s3
def test_an_export_on_s3_reads_like_the_local_one(lake, s3_endpoint, tmp_path):
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **{k.lower(): v for k, v in FAKE_AWS.items()
                                                         if k != "AWS_DEFAULT_REGION"}, region_name="us-east-1")
    s3.create_bucket(Bucket="gt-logs")
    local = lake["sample"] / "worker-activity"
    for path in local.rglob("*.gz"):
        s3.upload_file(str(path), "gt-logs", "exports/" + str(path.relative_to(local)))
    own = tmp_path / "lake"
    shutil.copytree(lake["lake"], own)
    shutil.rmtree(own / "worker_events")
    shutil.rmtree(own / "_gtlake" / "ledger" / "workers")
    env = dict(os.environ, **FAKE_AWS, AWS_ENDPOINT_URL=s3_endpoint, PYTHONPATH=str(REPO),
               PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    r = subprocess.run([sys.executable, "-m", "gtlake.cli", "workers", "--lake", str(own), "--activity",
                        "s3://gt-logs/exports"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    n = len(export_lines(local))
    assert f"events in {n} = out {n} + rejected 0 ({n} new)" in r.stdout
    remote = read_table(own, "worker_events").sort_values("event_key").reset_index(drop=True)
    assert remote["source_uri"].str.startswith("s3://gt-logs/exports/").all()
    assert len(remote) == n and remote["event_key"].is_unique


def test_activity_log_names_a_mixed_case_job_in_lowercase(spark, gt_tree, tmp_path):
    """SageMaker lowercases job names in ARNs; the job's folder keeps its case. Events logged before the folder was
    ingested move to the job's partition when it is."""
    from tests.conftest import box, frame

    job = gt_tree("NFL-Helmets")
    job.labels(0, {"tracking-annotations": [frame(str(f), [box(left=10 + f)]) for f in range(3)]})
    job.manifest([dict(job.line(0), **{"vehicles-ref-metadata": dict(
        job.line(0)["vehicles-ref-metadata"], **{"job-name": "labeling-job/nfl-helmets"})})])
    job.response(0, {"answers": [{"workerId": "private.us-east-1.aaaa", "acceptanceTime": "2021-03-08T23:01:02Z",
                                  "submissionTime": "2021-03-08T23:06:49Z", "timeSpentInSeconds": 300.0,
                                  "workerMetadata": {"identityData": {"sub": "sub-1"}}}]})
    event = {"worker_id": "w1", "cognito_sub_id": "sub-1", "event_type": "TasksSubmitted",
             "labeling_job_arn": "arn:aws:sagemaker:us-east-1:111122223333:labeling-job/nfl-helmets",
             "task_accepted_time": "Mon Mar 08 23:01:02 UTC 2021", "task_submitted_time": "Mon Mar 08 23:06:49 UTC 2021",
             "event_timestamp": "1615244809"}
    activity = tmp_path / "activity"
    activity.mkdir()
    (activity / "000000").write_text(f"2021-03-08T23:06:50.000Z {json.dumps(event)}\n")
    lake = tmp_path / "lake"
    workers_run(spark, WorkersConfig(lake=str(lake), activity=str(activity)), **QUIET)
    assert set(read_table(lake, "worker_events").job_name) == {"nfl-helmets"}  # no such job in the lake yet

    ingest_run(spark, IngestConfig(input=str(gt_tree.root), lake=str(lake)), **QUIET)
    workers_run(spark, WorkersConfig(lake=str(lake), activity=str(activity)), **QUIET)
    events, tasks = read_table(lake, "worker_events"), read_table(lake, "worker_tasks")
    assert list(events.job_name) == ["NFL-Helmets"] and not (lake / "worker_events" / "job_name=nfl-helmets").exists()
    assert list(zip(tasks.job_name, tasks.source)) == [("NFL-Helmets", "log+response")]
    assert not (lake / "worker_tasks" / "job_name=nfl-helmets").exists()
