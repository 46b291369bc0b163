"""WorkerActivity log parsing and task matching: pure Python, no Spark."""
from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone

import pandas as pd
import pytest

from gtlake.jobs.activity import UNKNOWN_JOB, job_name_of, parse_activity_time, parse_cloudwatch_event, parse_event, parse_export
from gtlake.jobs.worker_tasks import build_tasks
from gtlake.schemas import WORKER_EVENTS

UTC = timezone.utc
ARN = "arn:aws:sagemaker:us-east-2:111122223333:labeling-job/metrics-demo"


def event(**over) -> dict:
    e = {"worker_id": "cd449a289e129409", "cognito_user_pool_id": "us-east-2_IpicJexmp",
         "cognito_sub_id": "d6947aeb-0650-447a-ab5d-894db61017fd",
         "task_accepted_time": "Wed Aug 14 16:00:59 UTC 2019", "task_submitted_time": "Wed Aug 14 16:01:04 UTC 2019",
         "task_returned_time": "", "task_declined_time": "",
         "workteam_arn": "arn:aws:sagemaker:us-east-2:111122223333:workteam/private-crowd/team",
         "labeling_job_arn": ARN, "work_requester_account_id": "111122223333", "job_reference_code": "ref",
         "job_type": "Private", "event_type": "TasksSubmitted", "event_timestamp": "1565798464"}
    e.update(over)
    return e


@pytest.mark.parametrize("text,expected", [
    ("Wed Aug 14 16:00:59 UTC 2019", datetime(2019, 8, 14, 16, 0, 59, tzinfo=UTC)),
    ("Wed Aug 14 16:00:59 GMT 2019", datetime(2019, 8, 14, 16, 0, 59, tzinfo=UTC)),
    ("Wed Aug 14 09:00:59 PDT 2019", datetime(2019, 8, 14, 16, 0, 59, tzinfo=UTC)),
    ("Thu Aug  1 16:00:59 UTC 2019", datetime(2019, 8, 1, 16, 0, 59, tzinfo=UTC)),  # Java pads the day with a space
    ("Wed Aug 14 18:00:59 +02:00 2019", datetime(2019, 8, 14, 16, 0, 59, tzinfo=UTC)),
    ("1565798464", datetime(2019, 8, 14, 16, 1, 4, tzinfo=UTC)),
    ("1565798464123", datetime(2019, 8, 14, 16, 1, 4, 123000, tzinfo=UTC)),  # milliseconds
    (1565798464, datetime(2019, 8, 14, 16, 1, 4, tzinfo=UTC)),
    ("2019-08-14T16:01:04.500Z", datetime(2019, 8, 14, 16, 1, 4, 500000, tzinfo=UTC)),
    ("2019-08-14T18:01:04+0200", datetime(2019, 8, 14, 16, 1, 4, tzinfo=UTC)),
    ("", None), ("   ", None), (None, None),
])
def test_every_time_form(text, expected):
    assert parse_activity_time(text) == expected


@pytest.mark.parametrize("bad", ["Wed Aug 14 16:00:59 XYZ 2019", "Wed Feb 30 16:00:59 UTC 2019", "yesterday",
                                 "-5", True, {"t": 1}])
def test_unreadable_times_are_errors(bad):
    with pytest.raises(ValueError):
        parse_activity_time(bad)


def test_job_names_from_arns():
    assert job_name_of(ARN) == "metrics-demo"
    assert job_name_of("arn:aws-cn:sagemaker:cn-north-1:111122223333:labeling-job/a-b-9") == "a-b-9"
    for bad in (None, "", "metrics-demo", "arn:aws:sagemaker:us-east-2:111122223333:workteam/x",
                "arn:aws:sagemaker:us-east-2:111122223333:labeling-job/bad_name"):
        assert job_name_of(bad) is None


def test_a_documented_event_parses():
    row, reject = parse_event(json.dumps(event()), "s3://logs/x.gz", "line 1")
    assert reject is None
    assert set(row) == set(WORKER_EVENTS.names)
    assert row["job_name"] == "metrics-demo" and row["workteam"] == "team"
    assert row["accepted_at"] == datetime(2019, 8, 14, 16, 0, 59, tzinfo=UTC)
    assert row["returned_at"] is None and row["declined_at"] is None  # empty strings are "no time"
    assert row["event_time"] == datetime(2019, 8, 14, 16, 1, 4, tzinfo=UTC)
    again, _ = parse_event(json.dumps(event()), "cloudwatch://g/s", "42")
    assert again["event_key"] == row["event_key"]  # the same event from another source is the same row


@pytest.mark.parametrize("message,reason,job", [
    ("{not json", "invalid_json", UNKNOWN_JOB),
    ("[1, 2]", "not_an_object", UNKNOWN_JOB),
    (json.dumps(event(labeling_job_arn="")), "invalid_job_arn", UNKNOWN_JOB),
    (json.dumps(event(worker_id="", cognito_sub_id=None)), "missing_worker", "metrics-demo"),
    (json.dumps(event(event_type="")), "missing_event_type", "metrics-demo"),
    (json.dumps(event(task_accepted_time="Wed Aug 14 16:00:59 XYZ 2019")), "invalid_timestamp", "metrics-demo"),
    (json.dumps(event(event_timestamp="soon")), "invalid_timestamp", "metrics-demo"),
    (json.dumps(event(task_accepted_time="Wed Aug 14 17:00:59 UTC 2019")), "invalid_timestamp", "metrics-demo"),
    (json.dumps(event(event_type="TasksDeclined", task_declined_time="Wed Aug 14 15:00:00 UTC 2019")),
     "invalid_timestamp", "metrics-demo"),  # declined before it was accepted: a negative duration
])
def test_bad_events_are_refused_with_a_reason(message, reason, job):
    row, reject = parse_event(message, "s3://logs/x.gz", "line 3")
    assert row is None
    assert (reject.reason_code, reject.job_name, reject.record_kind, reject.locator) == (reason, job, "worker_event", "line 3")
    assert reject.record == message


def test_export_files_gzip_or_plain_with_bad_lines():
    good = json.dumps(event())
    text = "\n".join([f"2019-08-14T16:01:04.000Z {good}", "", "garbage without a json message",
                      f"2019-08-14T16:01:05.000Z {json.dumps(event(event_type='TasksReturned'))}",
                      good]).encode()
    for data in (text, gzip.compress(text)):
        rows, rejects, seen = parse_export(data, "s3://logs/000000.gz")
        assert seen == {"worker_event": 4} and len(rows) == 3
        assert [(r.locator, r.reason_code) for r in rejects] == [("line 3", "invalid_line")]
    rows, rejects, seen = parse_export(b"\x1f\x8b\x08broken", "s3://logs/bad.gz")
    assert rows == [] and seen == {"activity_file": 1} and rejects[0].reason_code == "invalid_gzip"
    rows, rejects, _ = parse_export(b"2019-08-14T16:01:04Z \xff\xfe\n", "f")
    assert rejects[0].reason_code == "invalid_utf8"


def test_cloudwatch_events_fall_back_on_their_own_timestamp():
    row, _ = parse_cloudwatch_event({"logStreamName": "s1", "timestamp": 1565798464000, "eventId": "e1",
                                     "message": json.dumps(event(event_timestamp=""))}, "/aws/g")
    assert row["source_uri"] == "cloudwatch:///aws/g/s1" and row["locator"] == "e1"
    assert row["event_time"] == datetime(2019, 8, 14, 16, 1, 4, tzinfo=UTC)


def _ev(key, sub, kind, accepted, finished):
    t = pd.Timestamp
    return {"event_key": key, "worker_id": f"w-{sub}", "log_worker_id": sub, "cognito_sub": sub, "workteam": "team",
            "event_type": kind, "accepted_at": t(accepted, tz="UTC"),
            "submitted_at": t(finished, tz="UTC") if kind == "TasksSubmitted" else pd.NaT,
            "returned_at": t(finished, tz="UTC") if kind == "TasksReturned" else pd.NaT,
            "declined_at": pd.NaT, "event_time": t(finished, tz="UTC"), "job_name": "j"}


def _resp(index, sub, accepted, submitted, active):
    t = pd.Timestamp
    a, s = t(accepted, tz="UTC"), t(submitted, tz="UTC")
    return {"job_name": "j", "sequence_id": f"j:{index}", "data_object_index": index, "iteration": 1,
            "worker_id": f"w-{sub}", "cognito_sub": sub, "accepted_at": a, "submitted_at": s,
            "active_seconds": active, "wall_seconds": (s - a).total_seconds()}


def test_tasks_pair_events_with_responses_by_sub_and_submission_time():
    events = pd.DataFrame([
        _ev("e1", "A", "TasksSubmitted", "2026-10-05 08:00:00", "2026-10-05 08:10:00"),  # log has whole seconds
        _ev("e2", "A", "TasksSubmitted", "2026-10-05 08:20:00", "2026-10-05 08:31:00"),
        _ev("e3", "B", "TasksReturned", "2026-10-05 08:00:00", "2026-10-05 08:05:30"),
        _ev("e4", "B", "TasksSubmitted", "2026-10-05 09:00:00", "2026-10-05 09:10:00"),  # its response is lost
    ])
    responses = pd.DataFrame([
        _resp(0, "A", "2026-10-05 08:00:00.250", "2026-10-05 08:10:00.750", 480.0),
        _resp(1, "A", "2026-10-05 08:20:00.100", "2026-10-05 08:31:00.400", 600.0),
        _resp(2, "C", "2026-10-05 10:00:00", "2026-10-05 10:20:00", 900.0),  # the log missed this one
    ])
    tasks = build_tasks(events, responses).set_index("event_key", drop=False)
    assert len(tasks) == 5
    assert tasks.loc["e1", "data_object_index"] == 0 and tasks.loc["e1", "source"] == "log+response"
    assert tasks.loc["e1", "wall_seconds"] == pytest.approx(600.5) and tasks.loc["e1", "active_seconds"] == 480.0
    assert tasks.loc["e2", "sequence_id"] == "j:1"
    assert tasks.loc["e3", "outcome"] == "returned" and tasks.loc["e3", "wall_seconds"] == 330.0
    assert tasks.loc["e4", "source"] == "log" and pd.isna(tasks.loc["e4", "data_object_index"])
    lone = tasks[tasks["source"] == "response"].iloc[0]
    assert lone["worker_id"] == "w-C" and lone["outcome"] == "submitted" and lone["wall_seconds"] == 1200.0


def test_tasks_from_responses_alone_and_events_alone():
    responses = pd.DataFrame([_resp(0, "A", "2026-10-05 08:00:00", "2026-10-05 08:10:00", 480.0)])
    events = pd.DataFrame([_ev("e1", "A", "TasksSubmitted", "2026-10-05 08:00:00", "2026-10-05 08:10:00")])
    assert build_tasks(events.iloc[0:0], responses)["source"].tolist() == ["response"]
    assert build_tasks(events, responses.iloc[0:0])["source"].tolist() == ["log"]


def test_tasks_from_untyped_empty_groups():
    from gtlake.schemas import WORKER_RESPONSES

    responses = pd.DataFrame([_resp(0, "A", "2026-10-05 08:00:00", "2026-10-05 08:10:00", 480.0)])
    out = build_tasks(pd.DataFrame(columns=WORKER_EVENTS.names), responses)
    assert out["source"].tolist() == ["response"] and out["wall_seconds"].tolist() == [600.0]
    events = pd.DataFrame([_ev("e1", "A", "TasksDeclined", "2026-10-05 08:00:00", "2026-10-05 08:10:00")])
    out = build_tasks(events.assign(declined_at=pd.Timestamp("2026-10-05 08:10:00", tz="UTC")),
                      pd.DataFrame(columns=WORKER_RESPONSES.names))
    assert out["outcome"].tolist() == ["declined"] and out["wall_seconds"].tolist() == [600.0]
