"""Parsers of untrusted input, alone (no Spark): no value raises, every refusal has a known reason, records
stay valid UTF-8. Hand-picked cases from fault injection, then property-based tests (hypothesis)."""
from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtlake import safejson
from gtlake.jobs import seqlabel_repair as repair
from gtlake.jobs.activity import parse_export
from gtlake.jobs.layout import discover_jobs
from gtlake.jobs.manifest import parse_manifest
from gtlake.jobs.responses import parse_worker_response
from gtlake.records import REASONS
from gtlake.storage import list_files

META = {"class-map": {"0": "car"}, "job-name": "labeling-job/job-a", "human-annotated": "yes",
        "creation-date": "2021-09-29T05:50:35.566000", "type": "groundtruth/video-object-tracking"}
REF = "s3://b/out/job-a/annotations/consolidated-annotation/output/{}/SeqLabel.json"
RESP = "/o/job-a/annotations/worker-response/iteration-1/7/2021-03-08_23:06:49.json"
DEEP = "[" * 10_000 + "]" * 10_000


def line(i: int = 0, **meta) -> dict:
    return {"source-ref": f"s3://b/in/v{i}.json", "x-ref": REF.format(i), "x-ref-metadata": {**META, **meta}}


def manifest(*lines) -> bytes:
    return b"".join((json.dumps(x).encode() if isinstance(x, dict) else x) + b"\n" for x in lines)


def reasons(rejects) -> list[tuple[str, str]]:
    return [(r.record_kind, r.reason_code) for r in rejects]


def valid_rows(rejects, run_id: str = "r") -> None:
    """Every Reject becomes a `rejected` row of valid UTF-8 text, whatever it holds."""
    for r in rejects:
        assert r.reason_code in REASONS[r.record_kind], r
        for value in r.row(run_id):
            if isinstance(value, str):
                value.encode("utf-8")


@pytest.mark.parametrize("bad, reason", [
    (DEEP.encode(), "nesting_too_deep"),
    (json.dumps(line(1, **{"creation-date": "0001-01-01T00:00:00+01:00"})).encode(), "invalid_metadata"),
    (json.dumps(line(1, **{"creation-date": "9999-12-31T23:59:59-01:00"})).encode(), "invalid_metadata"),
    (json.dumps(line(1, **{"adjustment-status": {"x": 1}})).encode(), "invalid_metadata"),
    (json.dumps(line(1, **{"human-annotated": ["yes"]})).encode(), "invalid_metadata"),
    (json.dumps({**line(1), "x-ref": REF.format(99999999999)}).encode(), "invalid_labels_ref"),
    (json.dumps({**line(1), "note": "1" * 70_000}).encode(), "oversized_value"),
    (json.dumps(line(1)).encode().replace(b'"yes"', b"1" + b"0" * 2000), "oversized_value"),
    (json.dumps(line(1)).encode().replace(b'"yes"', b'"\\ud800"'), "invalid_utf8"),
    (b'{"source": "a text", "t-metadata": {"type": "groundtruth/text-classification"}, "t": 1}',
     "unsupported_task_type"),
    (json.dumps(line(1, type="groundtruth/semantic-segmentation")).encode(), "unsupported_task_type"),
])
def test_a_bad_value_costs_its_line_only(bad, reason):
    rows, rejects, seen = parse_manifest(manifest(line(0), bad, line(2)), "job-a", "m")
    assert [r.data_object_index for r in rows] == [0, 2] and seen == 3
    assert reasons(rejects) == [("sequence", reason)] and rejects[0].locator.startswith("line 2")
    valid_rows(rejects)


def test_text_job_names_its_task_type():
    data = b'{"source": "hello", "t-metadata": {"type": "groundtruth/text-classification"}, "t": 1}\n'
    (_, (rej,), _) = parse_manifest(data, "job-a", "m")
    assert rej.reason_code == "unsupported_task_type" and "groundtruth/text-classification" in rej.detail


def test_bom_at_the_start_of_a_manifest_is_not_a_record():
    rows, rejects, seen = parse_manifest(safejson.BOM + manifest(line(0)), "job-a", "m")
    assert (len(rows), rejects, seen) == (1, [], 1)


def test_duplicated_lines_are_refused_per_line_and_the_first_is_read():
    rows, rejects, seen = parse_manifest(manifest(line(0), line(1), line(0), {**line(5), "x-ref": REF.format(1)}),
                                         "job-a", "m")
    assert [r.manifest_line for r in rows] == [1, 2] and seen == 4
    assert reasons(rejects) == [("sequence", "duplicate_labels_ref")] * 2
    assert "line 1 has the same labels ref" in rejects[0].detail and "line 2" in rejects[1].detail


def test_job_names_match_case_insensitively_and_a_chain_is_inherited_only_from_a_known_job():
    upper = line(0, **{"job-name": "labeling-job/nfl-helmets"})
    (row,), _, _ = parse_manifest(manifest({**upper, "x-ref": REF.format(3)}), "NFL-Helmets", "m")
    assert (row.inherited, row.data_object_index, row.label_job_name) == (False, 3, "nfl-helmets")
    chained = {**line(4), "src-ref": "s3://b/out/first/x.json",
               "src-ref-metadata": {**META, "job-name": "labeling-job/First"}}
    by_attr = {r.label_attribute: r for r in parse_manifest(manifest(chained), "job-a", "m")[0]}
    assert by_attr["src-ref"].inherited is False  # first is in neither the lake nor the input: read here
    by_attr = {r.label_attribute: r for r in parse_manifest(manifest(chained), "job-a", "m", {"first"})[0]}
    assert by_attr["src-ref"].inherited is True and by_attr["x-ref"].data_object_index == 4


def test_metadata_without_its_attribute_is_not_an_attribute():
    point_cloud = {"source-ref": "s3://b/frames.json", "source-ref-metadata": {"type": "groundtruth/point_cloud"}}
    failed = {"source-ref": "s3://b/v.json", "x-ref-metadata": {**META, "failure-reason": "ClientError: timeout"}}
    rows, rejects, seen = parse_manifest(manifest(point_cloud, failed), "job-a", "m")
    assert rejects == [] and seen == 2 and [r.label_attribute for r in rows] == [None, None]
    assert "failure-reason" in rows[1].metadata and "point_cloud" in rows[0].metadata  # kept, not lost


def test_image_box_labels_are_checked_inline():
    good = {"source-ref": "s3://b/img.png", "boxes": {"image_size": [{"width": 5, "height": 4, "depth": 3}],
                                                      "annotations": [{"class_id": 0, "left": 1, "top": 1,
                                                                       "width": 2, "height": 2}]},
            "boxes-metadata": {**META, "type": "groundtruth/object-detection"}}
    bad = {**good, "boxes": {"annotations": "many"}}
    rows, rejects, _ = parse_manifest(manifest(good, bad), "job-a", "m")
    assert len(rows) == 1 and rows[0].labels_ref is None and json.loads(rows[0].labels_inline) == good["boxes"]
    assert reasons(rejects) == [("sequence", "invalid_labels")]


@pytest.mark.parametrize("answer, reason", [
    ({"workerId": "w", "workerMetadata": "x"}, "invalid_worker_metadata"),
    ({"workerId": "w", "workerMetadata": {"identityData": {"sub": 5}}}, "invalid_worker_metadata"),
    ({"workerId": "w", "acceptanceTime": "0001-01-01T00:00:00+01:00"}, "invalid_timestamp"),
    ({"workerId": "w", "timeSpentInSeconds": float("inf")}, "invalid_duration"),
    ({"workerId": "w", "answerContent": {"deep": json.loads("[" * 80 + "]" * 80)}}, "nesting_too_deep"),
])
def test_a_bad_answer_costs_that_answer_only(answer, reason):
    ok = {"workerId": "v", "submissionTime": "2021-03-08T23:06:49Z"}
    rows, rejects, seen = parse_worker_response(json.dumps({"answers": [ok, answer]}).encode(), RESP, "job-a")
    assert len(rows) == 1 and seen == 2 and reasons(rejects) == [("worker_answer", reason)]
    valid_rows(rejects)


@pytest.mark.parametrize("content, path, reason", [
    (DEEP.encode(), RESP, "nesting_too_deep"),
    (b'{"answers": [{"workerId": "w", "timeSpentInSeconds": 1' + b"0" * 400 + b"}]}", RESP, None),
    (b'{"answers": []}', RESP.replace("iteration-1", "iteration-99999999999"), "unexpected_path"),
    (b'{"answers": [{"workerId": "\xff"}]}', RESP, "invalid_utf8"),
    (safejson.BOM + b'{"answers": [{"workerId": "w"}]}', RESP, "ok"),
])
def test_a_bad_response_file_is_refused_whole_or_by_answer(content, path, reason):
    rows, rejects, seen = parse_worker_response(content, path, "job-a")
    valid_rows(rejects)
    if reason == "ok":
        assert len(rows) == 1 and rejects == []
    elif reason is None:  # the 401-digit number is refused as that answer's value
        assert reasons(rejects) == [("worker_answer", "oversized_value")]
    else:
        assert reasons(rejects) == [("worker_response_file", reason)] and seen == 1


def test_activity_export_with_a_bom_and_bad_values():
    event = {"worker_id": "w1", "labeling_job_arn": "arn:aws:sagemaker:us-east-1:111122223333:labeling-job/j",
             "event_type": "TasksSubmitted", "task_accepted_time": "Wed Aug 14 16:00:59 UTC 2019",
             "event_timestamp": "1565798464"}
    lines = [json.dumps(event), json.dumps({**event, "event_timestamp": "9" * 13 + "9.5"}),
             json.dumps({**event, "task_accepted_time": "Mon Jan 01 00:00:00 UTC 0001"}), '{"a": ' + DEEP + "}",
             json.dumps({**event, "worker_id": "x" * 70_000})]
    rows, rejects, seen = parse_export(safejson.BOM + "\n".join(lines).encode(), "s3://b/export")
    assert len(rows) == 1 and seen == {"worker_event": 5}
    assert [r.reason_code for r in rejects] == ["invalid_timestamp", "invalid_timestamp", "nesting_too_deep",
                                                "oversized_value"]
    valid_rows(rejects)


def test_repair_marks_only_the_records_that_hold_bad_values():
    good = {"height": 1, "width": 2, "top": 3, "left": 4, "class-id": "0", "object-id": "a", "object-name": "c:1"}
    doc = {"tracking-annotations": [
        {"frame-no": "0", "frame": "a.jpg", "annotations": [good, {**good, "object-name": "NAME"}, 7]},
        {"frame-no": "1", "frame": "BIG", "annotations": [good]},
        "not a frame",
        {"frame-no": "2", "annotations": {"a": good}},
        {"frame-no": "3", "polylines": [{"vertices": "none", "object-id": "p"}]},
    ]}
    data = json.dumps(doc).encode().replace(b"NAME", b"bad \xff byte").replace(b'"BIG"', b"1" + b"0" * 2000)
    out = json.loads(repair.repair(data, "/x/SeqLabel.json"))
    frames = out["tracking-annotations"]
    assert out[repair.PATH] == "/x/SeqLabel.json" and repair.REASON not in out
    boxes = frames[0]["annotations"]
    assert repair.REASON not in boxes[0] and boxes[0]["object-name"] == "c:1"
    assert boxes[1][repair.REASON] == "invalid_utf8" and "\\xff" in boxes[1][repair.RECORD]
    assert boxes[1]["object-id"] == "a"  # what the locator needs is kept
    assert boxes[2][repair.REASON] == "not_an_object"
    assert frames[1][repair.REASON] == "oversized_value"
    assert frames[2][repair.REASON] == "not_an_object"
    assert frames[3][repair.REASON] == "invalid_shape_list"
    assert frames[4]["polylines"][0][repair.REASON] == "invalid_vertices"
    spoof = json.dumps({"tracking-annotations": [{"frame-no": "0", "annotations": [{**good, repair.REASON: "x"}]}]})
    assert repair.REASON not in json.loads(repair.repair(spoof.encode(), "p"))["tracking-annotations"][0][
        "annotations"][0]  # a file cannot refuse (or excuse) its own records
    for bad, reason in ((DEEP.encode(), "nesting_too_deep"), (b"{", "malformed_labels_file"),
                        (b"[1]", "unexpected_structure"), (b'{"tracking-annotations": 3}', "unexpected_structure")):
        assert json.loads(repair.repair(bad, "p"))[repair.REASON] == reason


def test_links_that_cannot_or_must_not_be_read_are_listed_with_why(tmp_path):
    root = tmp_path / "in"
    job = root / "job-a"
    (job / "manifests" / "output").mkdir(parents=True)
    (job / "manifests" / "output" / "output.manifest").write_text("{}\n")
    labels = job / "annotations" / "consolidated-annotation" / "output"
    labels.mkdir(parents=True)
    os.symlink(labels / "nowhere.json", labels / "dangling.json")
    os.symlink(labels / "loop.json", labels / "loop.json")
    os.symlink("/etc/passwd", labels / "passwd.json")
    (tmp_path / "inside.json").write_text("{}")
    os.symlink(root / "job-a" / "manifests" / "output" / "output.manifest", labels / "inside-link.json")
    os.mkfifo(labels / "fifo.json")
    broken = root / "other" / "manifests" / "output"
    broken.mkdir(parents=True)
    os.symlink(root / "gone", broken / "output.manifest")
    files = {os.path.basename(f.path): f for f in list_files(str(root))}
    assert "cannot be read" in files["dangling.json"].error and "cannot be read" in files["loop.json"].error
    assert files["passwd.json"].error == "a link to a file outside the input root"
    assert files["fifo.json"].error == "not a regular file" and files["inside-link.json"].error is None
    jobs, rejects = discover_jobs(list_files(str(root)))
    assert [j.name for j in jobs] == ["job-a"] and reasons(rejects) == [("job_folder", "unreadable")]


def test_job_folders_differing_only_in_case_are_one_job(tmp_path):
    for name in ("Job-A", "job-a"):
        (tmp_path / name / "manifests" / "output").mkdir(parents=True)
        (tmp_path / name / "manifests" / "output" / "output.manifest").write_text("{}\n")
    jobs, rejects = discover_jobs(list_files(str(tmp_path)))
    assert [j.name for j in jobs] == ["Job-A"] and reasons(rejects) == [("job_folder", "duplicate_job_folder")]


# -- property-based: whatever the bytes, a parser returns rows and known refusals, never raises ---------------
FUZZ = settings(max_examples=int(os.environ.get("GTLAKE_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


def _mutations(base: bytes) -> st.SearchStrategy[bytes]:
    """`base` with bytes flipped, cut, duplicated or spliced with JSON of any shape."""
    def splice(data: bytes, at: int, piece: bytes) -> bytes:
        at %= len(data) + 1
        return data[:at] + piece + data[at:]
    pieces = st.one_of(st.binary(max_size=8), json_values.map(lambda v: json.dumps(v).encode()),
                       st.sampled_from([b"\xff", b"\xef\xbb\xbf", b"\\ud800", b"[" * 300, b"9" * 500, b"\n", b'"']))
    return st.one_of(
        st.tuples(st.integers(0, 10_000), pieces).map(lambda t: splice(base, *t)),
        st.integers(0, len(base)).map(lambda n: base[:n]),
        st.just(base + b"\n" + base),
        json_values.map(lambda v: json.dumps(v).encode()),
    )


@FUZZ
@given(st.lists(_mutations(manifest(line(0))), min_size=1, max_size=4))
def test_fuzzed_manifests_never_raise(lines):
    rows, rejects, seen = parse_manifest(b"\n".join(lines), "job-a", "m")
    assert seen == len(rows) + len(rejects)
    assert not [r for r in rejects if r.reason_code == "parse_error"], rejects
    valid_rows(rejects)


@FUZZ
@given(_mutations(json.dumps({"answers": [{"workerId": "w", "acceptanceTime": "2021-03-08T23:01:02Z",
                                           "submissionTime": "2021-03-08T23:06:49Z", "timeSpentInSeconds": 3.5,
                                           "workerMetadata": {"identityData": {"sub": "s"}}}]}).encode()))
def test_fuzzed_worker_responses_never_raise(data):
    rows, rejects, seen = parse_worker_response(data, RESP, "job-a")
    assert seen == len(rows) + len(rejects) or (seen == 1 and rows == [] and len(rejects) == 1)
    assert not [r for r in rejects if r.reason_code == "parse_error"], rejects
    valid_rows(rejects)


@FUZZ
@given(_mutations(json.dumps({"tracking-annotations": [{"frame-no": "0", "frame": "a.jpg", "annotations": [
    {"height": 1, "width": 2, "top": 3, "left": 4, "class-id": "0", "object-id": "a", "object-name": "c:1",
     "label-category-attributes": {"k": "v"}}], "polylines": [{"vertices": [{"x": 1, "y": 2}]}]}]}).encode()))
def test_fuzzed_labels_files_repair_into_readable_json(data):
    out = json.loads(repair.repair(data, "p"))
    assert out[repair.PATH] == "p" and out.get(repair.REASON) != "parse_error"
    json.dumps(out, ensure_ascii=False).encode("utf-8")  # valid UTF-8 throughout
    for key in repair.FRAME_LISTS:
        for frame in out.get(key, []):
            assert isinstance(frame, dict)
            for k in repair.SHAPE_KEYS:
                assert isinstance(frame.get(k, []), list) and all(isinstance(s, dict) for s in frame.get(k, []))


def test_job_roles_from_the_manifest():
    from gtlake.jobs.roles import job_role

    def rows(*lines, job="job-a", known=frozenset()):
        return parse_manifest(manifest(*lines), job, "m", known)[0]

    chained = {**line(1, **{"adjustment-status": "adjusted"}), "src-ref": "s3://b/out/First/x.json",
               "src-ref-metadata": {**META, "job-name": "labeling-job/first"}}
    image = {"source-ref": "s3://b/img.png", "boxes": {"annotations": []},
             "boxes-metadata": {**META, "type": "groundtruth/object-detection"}}
    verify = {**image, "check": 1, "check-metadata": {**META, "type": "groundtruth/label-verification"},
              "boxes-metadata": {**META, "type": "groundtruth/object-detection", "job-name": "labeling-job/boxer"}}
    assert job_role(rows(line(0)), "job-a") == ("labeling", "groundtruth/video-object-tracking", None)
    assert job_role(rows(chained, known={"first"}), "job-a") == ("audit", "groundtruth/video-object-tracking", "first")
    assert job_role(rows(line(0, **{"adjustment-status": "unadjusted"})), "job-a")[0] == "audit"
    assert job_role(rows(line(0, type="groundtruth/video-object-detection")), "job-a")[0] == "detection"
    assert job_role(rows(image), "job-a") == ("image", "groundtruth/object-detection", None)
    assert job_role(rows(verify), "job-a") == ("audit", "groundtruth/label-verification", "boxer")
    assert job_role(rows({"source-ref": "s3://b/v.json"}), "job-a") == ("labeling", None, None)
