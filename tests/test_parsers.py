"""Pure parsers: manifest lines, worker-response files, job folder discovery and ref resolution."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from gtlake.jobs.layout import discover_jobs, resolve_ref
from gtlake.jobs.manifest import parse_creation_date, parse_manifest
from gtlake.jobs.responses import parse_worker_response
from gtlake.records import REASONS
from gtlake.storage import FileInfo, list_files

META = {"class-map": {"0": "car"}, "job-name": "labeling-job/job-a", "human-annotated": "yes",
        "creation-date": "2021-09-29T05:50:35.566000", "type": "groundtruth/video-object-tracking"}
REF = "s3://b/out/job-a/annotations/consolidated-annotation/output/4/SeqLabel.json"


def _manifest(*lines) -> bytes:
    return "".join((json.dumps(l) if isinstance(l, dict) else l) + "\n" for l in lines).encode()


def test_label_attribute_found_by_metadata_type_not_by_name():
    rows, rejects, seen = parse_manifest(_manifest({"source-ref": "s3://b/v.json", "anything": REF,
                                                    "anything-metadata": META}), "job-a", "m")
    assert (seen, rejects) == (1, [])
    (row,) = rows
    assert row.label_attribute == "anything"
    assert row.data_object_index == 4 and row.sequence_id == "job-a:4"  # from output/<i>/ in the ref
    assert row.class_map == {"0": "car"} and row.inherited is False and row.labels_ref == REF
    assert row.creation_time == datetime(2021, 9, 29, 5, 50, 35, 566000, tzinfo=timezone.utc)


def test_chained_attribute_is_kept_as_inherited_and_unlabeled_line_is_not_an_error():
    parent = dict(META, **{"job-name": "labeling-job/first-job"})
    line = {"source-ref": "s3://b/v.json", "orig-ref": "s3://b/out/first-job/annotations/x", "orig-ref-metadata": parent,
            "audit-ref": REF, "audit-ref-metadata": dict(META, **{"adjustment-status": "adjusted"})}
    rows, rejects, seen = parse_manifest(_manifest(line, {"source-ref": "s3://b/w.json"}), "job-a", "m",
                                         known_jobs={"first-job"})
    assert rejects == [] and seen == 3
    by_attr = {r.label_attribute: r for r in rows}
    assert by_attr["orig-ref"].inherited and by_attr["orig-ref"].label_job_name == "first-job"
    assert by_attr["audit-ref"].adjustment_status == "adjusted" and not by_attr["audit-ref"].inherited
    assert by_attr[None].source_ref == "s3://b/w.json" and by_attr[None].data_object_index == 1


@pytest.mark.parametrize("line, reason", [
    ('{"source-ref": "s3://b/v.json", "x": ', "invalid_json"),
    ("[1, 2]", "not_an_object"),
    (json.dumps({"x-ref": REF, "x-ref-metadata": META}), "missing_source_ref"),
    (json.dumps({"source-ref": "s", "x": REF, "x-metadata": {"class-map": {}}}), "missing_task_type"),
    (json.dumps({"source-ref": "s", "x": REF, "x-metadata": dict(META, type="groundtruth/point_cloud_object_tracking")}),
     "unsupported_task_type"),
    (json.dumps({"source-ref": "s", "x": REF, "x-metadata": dict(META, type="mystery")}), "unsupported_task_type"),
    (json.dumps({"source-ref": "s", "x": REF, "x-metadata": dict(META, **{"class-map": ["car"]})}), "invalid_metadata"),
    (json.dumps({"source-ref": "s", "x": REF, "x-metadata": dict(META, **{"creation-date": "yesterday"})}),
     "invalid_metadata"),
    (json.dumps({"source-ref": "s", "x": {"a": 1}, "x-metadata": META}), "invalid_labels_ref"),
])
def test_bad_manifest_lines_are_refused_with_reason_and_line(line, reason):
    good = {"source-ref": "s3://b/v.json", "x": REF, "x-metadata": META}
    rows, rejects, seen = parse_manifest(_manifest(good, line), "job-a", "s3://b/out/job-a/manifest")
    assert len(rows) == 1 and seen == 2
    (rej,) = rejects
    assert (rej.reason_code, rej.record_kind, rej.job_name) == (reason, "sequence", "job-a")
    assert reason in REASONS["sequence"]
    assert rej.locator.startswith("line 2") and rej.record.startswith(line[:20])


def test_invalid_utf8_line_is_refused_and_blank_lines_are_not_records():
    data = _manifest({"source-ref": "s"}) + b"\n  \n" + b'{"source-ref": "\xff"}\n'
    rows, rejects, seen = parse_manifest(data, "job-a", "m")
    assert (len(rows), seen) == (1, 2)
    assert rejects[0].reason_code == "invalid_utf8" and rejects[0].locator == "line 4"


def test_html_and_non_ascii_kept_verbatim():
    meta = dict(META, **{"class-map": {"0": "<b>Fahrzeug</b> é"}})
    rows, _, _ = parse_manifest(_manifest({"source-ref": "s3://b/vidéo.json", "x": REF, "x-metadata": meta}), "job-a", "m")
    assert rows[0].class_map == {"0": "<b>Fahrzeug</b> é"} and rows[0].source_ref == "s3://b/vidéo.json"


@pytest.mark.parametrize("text, expected", [
    ("2021-09-29T05:50:35.566000", datetime(2021, 9, 29, 5, 50, 35, 566000, tzinfo=timezone.utc)),
    ("2020-05-15T08:01:16+0000", datetime(2020, 5, 15, 8, 1, 16, tzinfo=timezone.utc)),
    ("2021-03-08T23:01:02.123Z", datetime(2021, 3, 8, 23, 1, 2, 123000, tzinfo=timezone.utc)),
    ("2021-03-08T23:01:02+02:00", datetime(2021, 3, 8, 21, 1, 2, tzinfo=timezone.utc)),
])
def test_creation_dates(text, expected):
    assert parse_creation_date(text) == expected


RESP = "/o/job-a/annotations/worker-response/iteration-2/7/2021-03-08_23:06:49.json"


def test_worker_response_with_timings():
    ans = {"acceptanceTime": "2021-03-08T23:01:02.123Z", "submissionTime": "2021-03-08T23:06:49.456Z",
           "timeSpentInSeconds": 331.3, "workerId": "private.us-east-1.47a0115a1f1786e9",
           "workerMetadata": {"identityData": {"sub": "d6947aeb", "issuer": "https://cognito"}},
           "answerContent": {"k": "<i>é</i>"}}
    rows, rejects, seen = parse_worker_response(json.dumps({"answers": [ans]}).encode(), RESP, "job-a")
    assert rejects == [] and seen == 1
    (r,) = rows
    assert r[:7] == ("job-a:7", 7, 2, 0, "private.us-east-1.47a0115a1f1786e9", "d6947aeb", "https://cognito")
    assert r[9] == 331.3 and r[10] == pytest.approx(347.333)
    assert json.loads(r[11]) == {"k": "<i>é</i>"}


@pytest.mark.parametrize("content, kind, reason", [
    (b"", "worker_response_file", "empty_file"),
    (b'{"answers": [', "worker_response_file", "invalid_json"),
    (b'{"no": 1}', "worker_response_file", "unexpected_structure"),
    (b'{"answers": [3]}', "worker_answer", "not_an_object"),
    (b'{"answers": [{"submissionTime": "2021-03-08T23:06:49Z"}]}', "worker_answer", "missing_worker_id"),
    (b'{"answers": [{"workerId": "w", "submissionTime": "last tuesday"}]}', "worker_answer", "invalid_timestamp"),
    (b'{"answers": [{"workerId": "w", "acceptanceTime": "2021-03-08T23:06:49Z", '
     b'"submissionTime": "2021-03-08T23:00:00Z"}]}', "worker_answer", "invalid_timestamp"),
    (b'{"answers": [{"workerId": "w", "timeSpentInSeconds": -3}]}', "worker_answer", "invalid_duration"),
    (b'{"answers": [{"workerId": "w", "timeSpentInSeconds": "10"}]}', "worker_answer", "invalid_duration"),
])
def test_bad_worker_responses(content, kind, reason):
    rows, rejects, seen = parse_worker_response(content, RESP, "job-a")
    assert rows == [] and seen == 1
    assert [(r.record_kind, r.reason_code) for r in rejects] == [(kind, reason)]
    assert reason in REASONS[kind]


def test_real_worker_responses_without_timings_give_nulls(fixtures_dir):
    folder = fixtures_dir / "amazon-sagemaker-examples/ground_truth_labeling_jobs/annotation_consolidation/ic_data"
    files = list((folder / "worker-response").rglob("*.json"))
    assert len(files) == 302
    n = 0
    for f in files:
        path = "/o/ic-job/annotations/" + str(f.relative_to(folder))
        rows, rejects, seen = parse_worker_response(f.read_bytes(), path, "ic-job")
        assert rejects == [] and len(rows) == seen
        for r in rows:
            assert r[4].startswith("public.us-east-1.")
            assert r[5] is None and r[7] is None and r[9] is None and r[10] is None  # no sub/acceptance/active/wall
            assert r[8] is not None  # submissionTime is there
        n += len(rows)
    assert n == sum(len(json.loads(f.read_text())["answers"]) for f in files)


def test_discover_jobs_and_resolve_refs(tmp_path):
    for rel in ("a/job-1/manifests/output/output.manifest",
                "a/job-1/annotations/consolidated-annotation/output/0/SeqLabel.json",
                "a/job-1/annotations/worker-response/iteration-1/0/2021-01-01_00:00:00.json",
                "a/job-1/annotations/intermediate/1/manifest",
                "b/bad_name!/manifests/output/output.manifest",
                "tracking_manifests/SeqLabel.json"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("{}")
    files = list_files(str(tmp_path))
    jobs, rejects = discover_jobs(files)
    assert [j.name for j in jobs] == ["job-1"]
    assert [r.reason_code for r in rejects] == ["invalid_job_name"]
    job = jobs[0]
    assert len(job.labels) == 1 and len(job.responses) == 1  # intermediate/ is not read
    listed = {f.path for f in files}
    by_name = {"job-1": job}
    uri = "s3://other-bucket/x/job-1/annotations/consolidated-annotation/output/0/SeqLabel.json"
    expected = f"{tmp_path}/a/job-1/annotations/consolidated-annotation/output/0/SeqLabel.json"
    assert resolve_ref(uri, by_name, str(tmp_path), listed) == expected
    # a ref outside any job folder resolves by its key under the input root (a mirror of the bucket)
    assert resolve_ref("s3://bkt/tracking_manifests/SeqLabel.json", by_name, str(tmp_path), listed) == \
        f"{tmp_path}/tracking_manifests/SeqLabel.json"
    assert resolve_ref("s3://bkt/nowhere/SeqLabel.json", by_name, str(tmp_path), listed) is None
    before = job.fingerprint
    (tmp_path / "a/job-1/annotations/consolidated-annotation/output/0/SeqLabel.json").write_text('{"x": 1}')
    assert discover_jobs(list_files(str(tmp_path)))[0][0].fingerprint != before


def test_fileinfo_listing_is_sorted(tmp_path):
    for n in ("b", "a", "c/d"):
        (tmp_path / n).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / n).write_text("x")
    assert [f.path for f in list_files(str(tmp_path))] == sorted(f.path for f in list_files(str(tmp_path)))
    assert all(isinstance(f, FileInfo) and f.size == 1 for f in list_files(str(tmp_path)))
