"""The ingest job on hand-made trees with every kind of bad input, and on the real fixtures."""
from __future__ import annotations

import json
import math
import shutil
from collections import Counter

import pytest

from gtlake.jobs.ingest import IngestConfig, run
from gtlake.records import REASONS
from tests.conftest import box, frame, lake_snapshot, read_table

pytestmark = pytest.mark.spark

NASTY = "<img src=x onerror=alert(1)> Straße é 雨"


@pytest.fixture(scope="module")
def bad_lake(spark, tmp_path_factory):
    """One tree holding every kind of bad input the ingest must refuse, next to good records; ingested once."""
    from tests.conftest import GTJob

    tmp = tmp_path_factory.mktemp("bad")
    root = tmp / "output"
    job = GTJob(root, "bad-job")
    good_frames = [
        frame("0", [box(oid="a", name="car:1", note=NASTY),
                    box(oid="b", width=-5),                      # invalid_box_size
                    box(oid="c", height=0),                      # invalid_box_size
                    box(oid="d", width="NaN"),                   # invalid_box_size
                    box(oid="e", left="abc"),                    # invalid_box_position
                    box(oid="a", name="car:1"),                  # duplicate_object_id
                    box(oid="f", cls="9"),                       # unknown_class_id
                    {**box(oid="g"), "object-id": None}],        # missing_object_id
              weather=NASTY),
        frame(3, [box(oid="a", left=12)]),                       # frame-no as an int
        frame("2", [box(oid="a", left=11), box(oid="h", cls="1", name="bus:1")]),  # out of order
        {"frame": "x.jpg", "annotations": [box(oid="a")]},         # missing_frame_no (+1 parent_rejected)
        frame("0", [box(oid="a"), box(oid="b")]),               # duplicate_frame (+2 parent_rejected)
        {"frame-no": "x", "frame": "y.jpg", "annotations": []},  # invalid_frame_no
        {"frame-no": "7", "frame": "z.jpg", "frame-attributes": "sunny", "annotations": []},  # invalid_frame_attributes
    ]
    job.labels(0, {"tracking-annotations": good_frames})
    job.labels(2, "")                                            # empty_file
    job.labels(3, '{"tracking-annotations": [{"frame-no": "0", "annotations": [{"height": ')  # truncated
    job.labels(5, '{"something-else": []}')                      # unexpected_structure
    job.labels(6, '{"tracking-annotations": [{"frame-no": "0", "polylines": [{"vertices": [{"x": 1, "y": 2}, '
                  '{"x": 3, "y": 4}], "class-id": "0", "object-id": "l1"}], "polygons": [{"vertices": [], '
                  '"class-id": "0"}], "keypoints": [{"x": 5, "y": "n/a", "class-id": "0"}, {"x": 5, "y": 6, '
                  '"class-id": "1", "object-id": "k"}]}]}')
    job.manifest([
        job.line(0),
        job.line(1),                                             # missing_ref
        job.line(2),                                             # empty_file
        job.line(3),                                             # malformed_labels_file
        '{"source-ref": "s3://bucket/in/v.json", "vehicles-ref": ',  # invalid_json
        job.line(4, task="groundtruth/point_cloud_object_tracking"),  # unsupported_task_type
        {"source-ref": "s3://b/v.json", "x-ref": job.ref(4), "x-ref-metadata": {"class-map": {"0": "car"}}},  # missing_task_type
        {"source-ref": "s3://b/unlabeled.json"},                  # not labeled yet: a sequence, not an error
        job.line(5),
        job.line(6),
    ])
    job.response(0, {"answers": [{"workerId": "private.us-east-1.aaaa", "submissionTime": "2021-03-08T23:06:49Z"}]})
    job.response(1, '{"answers": [{"workerId": ')                # invalid_json
    job.response(2, "")                                          # empty_file
    GTJob(root, "empty-job").manifest([])                        # empty_manifest
    GTJob(root, "bad_name!").manifest([job.line(0)])              # invalid_job_name
    lake = tmp / "lake"
    result = run(spark, IngestConfig(input=str(root), lake=str(lake)), log=lambda m: None)
    return {"root": root, "lake": lake, "result": result}


def test_every_bad_record_is_refused_with_its_reason(bad_lake):
    rej = read_table(bad_lake["lake"], "rejected")
    got = Counter(zip(rej.record_kind, rej.reason_code))
    assert got == Counter({
        ("job_folder", "invalid_job_name"): 1, ("job_folder", "empty_manifest"): 1,
        ("sequence", "invalid_json"): 1, ("sequence", "unsupported_task_type"): 1, ("sequence", "missing_task_type"): 1,
        ("labels_file", "missing_ref"): 1, ("labels_file", "empty_file"): 1,
        ("labels_file", "malformed_labels_file"): 1, ("labels_file", "unexpected_structure"): 1,
        ("frame", "missing_frame_no"): 1, ("frame", "duplicate_frame"): 1, ("frame", "invalid_frame_no"): 1,
        ("frame", "invalid_frame_attributes"): 1,
        ("box", "invalid_box_size"): 3, ("box", "invalid_box_position"): 1, ("box", "duplicate_object_id"): 1,
        ("box", "unknown_class_id"): 1, ("box", "missing_object_id"): 1, ("box", "parent_rejected"): 3,
        ("shape", "invalid_vertices"): 2,
        ("worker_response_file", "invalid_json"): 1, ("worker_response_file", "empty_file"): 1,
    })
    assert set(rej.run_id) == {bad_lake["result"].run_id}
    assert all(reason in REASONS[kind] for kind, reason in got)
    assert set(rej.job_name) == {"bad-job", "_input", "empty-job"}


def test_refusals_say_where_and_what(bad_lake):
    rej = read_table(bad_lake["lake"], "rejected").set_index("reason_code")
    size = rej.loc["invalid_box_size"]
    assert sorted(size.locator) == [
        "frame-no=0 (frames[0]), annotations[1], object-id=b",
        "frame-no=0 (frames[0]), annotations[2], object-id=c",
        "frame-no=0 (frames[0]), annotations[3], object-id=d"]
    assert "width=-5" in " ".join(size.detail) and all(s.endswith("SeqLabel.json") for s in size.source_uri)
    assert rej.loc["duplicate_frame", "locator"] == "frame-no=0 (frames[4])"
    assert rej.loc["invalid_json"].set_index("record_kind").loc["sequence", "locator"] == "line 5"
    assert "3D point cloud" in rej.loc["unsupported_task_type", "detail"]
    assert rej.loc["missing_ref", "detail"].startswith("labels file s3://bucket/out/bad-job/")
    assert json.loads(rej.loc["unknown_class_id"].record if isinstance(rej.loc["unknown_class_id"].record, str)
                      else rej.loc["unknown_class_id"].record.iloc[0])["class-id"] == "9"


def test_counts_balance_per_kind_in_the_runs_row(bad_lake):
    runs = read_table(bad_lake["lake"], "runs")
    (row,) = runs[runs.status != "no_new_input"].itertuples()  # the run that read the input (a rerun adds a no-op row)
    assert row.status == "succeeded"
    assert row.records_in == row.records_out + row.records_rejected
    per_kind = json.loads(row.counts)
    for kind, c in per_kind.items():
        assert c["in"] == c["out"] + c["rejected"], kind
    assert per_kind["box"] == {"in": 14, "out": 4, "rejected": 10}  # 8 + 1 + 2 + 1 + 2 listed
    assert per_kind["frame"] == {"in": 8, "out": 4, "rejected": 4}
    assert per_kind["shape"] == {"in": 4, "out": 2, "rejected": 2}
    assert per_kind["sequence"] == {"in": 10, "out": 7, "rejected": 3}
    assert per_kind["labels_file"] == {"in": 6, "out": 2, "rejected": 4}


def test_good_records_land_typed_and_verbatim(bad_lake):
    boxes = read_table(bad_lake["lake"], "boxes").sort_values(["frame_no", "object_id"])
    assert list(zip(boxes.frame_no, boxes.object_id, boxes.left)) == [(0, "a", 10.0), (2, "a", 11.0), (2, "h", 10.0),
                                                                      (3, "a", 12.0)]
    assert list(boxes.label) == ["car", "car", "bus", "car"]
    assert dict(boxes.iloc[0].attributes)["note"] == NASTY
    frames = read_table(bad_lake["lake"], "frames").set_index("frame_no")
    assert sorted(frames.index) == [0, 0, 2, 3]  # file 0: frames 0, 3, 2; file 6: frame 0
    seqs = read_table(bad_lake["lake"], "sequences")
    assert "s3://b/unlabeled.json" in set(seqs.source_ref)
    shapes = read_table(bad_lake["lake"], "shapes").sort_values("shape_type")
    assert list(shapes.shape_type) == ["keypoint", "polyline"]
    assert [list(map(dict, v)) for v in shapes.vertices] == [[{"x": 5.0, "y": 6.0}],
                                                             [{"x": 1.0, "y": 2.0}, {"x": 3.0, "y": 4.0}]]
    weather = read_table(bad_lake["lake"], "frames").query("frame_no == 0 and sequence_id == 'bad-job:0'")
    weather = weather.frame_attributes.item()
    assert dict(weather)["weather"] == NASTY


def test_rerun_on_the_same_input_changes_nothing(spark, bad_lake):
    before = lake_snapshot(bad_lake["lake"])
    result = run(spark, IngestConfig(input=str(bad_lake["root"]), lake=str(bad_lake["lake"])), log=lambda m: None)
    assert result.status == "no_new_input"
    assert lake_snapshot(bad_lake["lake"]) == before


def test_seed_notebook_seqlabel(spark, tmp_path, fixtures_dir):
    """The real 300-frame file: 890 boxes, frames 0-299, Vehicle:1 absent on frame 217."""
    nb = fixtures_dir / "seed-notebook"
    root = tmp_path / "input"
    manifest = (nb / "derived-from-notebook/tracking_manifests/MOT17-13-SDP.manifest").read_text()
    (root / "mot17-vehicles/manifests/output").mkdir(parents=True)
    (root / "mot17-vehicles/manifests/output/output.manifest").write_text(manifest)
    (root / "tracking_manifests").mkdir()
    shutil.copy(nb / "SeqLabel.json", root / "tracking_manifests/SeqLabel.json")  # a mirror of the bucket
    lake = tmp_path / "lake"
    result = run(spark, IngestConfig(input=str(root), lake=str(lake)), log=lambda m: None)
    assert result.counts.rejected["box"] == 0
    boxes = read_table(lake, "boxes")
    assert len(boxes) == 890
    frames = read_table(lake, "frames")
    assert sorted(frames.frame_no) == list(range(300))
    v1 = set(boxes[boxes.object_name == "Vehicle:1"].frame_no)
    assert 217 not in v1 and {216, 218} <= v1
    assert set(boxes.label) == {"Vehicle"}
    assert boxes[(boxes.object_name == "Vehicle:1") & (boxes.frame_no == 138)].width.item() == 110


def test_documentation_example_and_real_image_job(spark, tmp_path, fixtures_dir):
    root = tmp_path / "input"
    docs = fixtures_dir / "aws-docs/sms-data-output/video-object-tracking"
    job = root / "labeling-job-name"
    (job / "manifests/output").mkdir(parents=True)
    shutil.copy(docs / "output.manifest", job / "manifests/output/output.manifest")
    (job / "annotations/consolidated-annotation/output/0").mkdir(parents=True)
    shutil.copy(docs / "SeqLabel.json", job / "annotations/consolidated-annotation/output/0/SeqLabel.json")
    ic = fixtures_dir / "amazon-sagemaker-examples/ground_truth_labeling_jobs/annotation_consolidation/ic_data"
    ic_job = root / "birds-open-images-clone"
    (ic_job / "manifests/output").mkdir(parents=True)
    shutil.copy(ic / "output.manifest", ic_job / "manifests/output/output.manifest")
    shutil.copytree(ic / "worker-response", ic_job / "annotations/worker-response")
    lake = tmp_path / "lake"
    result = run(spark, IngestConfig(input=str(root), lake=str(lake)), log=lambda m: None)
    assert sum(result.counts.rejected.values()) == 0
    boxes = read_table(lake, "boxes").sort_values(["frame_no", "left"])
    assert list(zip(boxes.frame_no, boxes.label, boxes.left)) == [(0, "car", 315.0), (1, "car", 192.0), (1, "bus", 344.0)]
    wr = read_table(lake, "worker_responses")
    expected = sum(len(json.loads(p.read_text())["answers"]) for p in (ic / "worker-response").rglob("*.json"))
    assert len(wr) == expected
    assert wr.accepted_at.isna().all() and wr.active_seconds.isna().all() and wr.submitted_at.notna().all()
    seqs = read_table(lake, "sequences")
    ic_seqs = seqs[seqs.job_name == "birds-open-images-clone"]
    assert len(ic_seqs) == 302 and set(ic_seqs.task_type) == {"groundtruth/image-classification"}
    assert ic_seqs.labels_inline.notna().all()
    assert not math.isnan(float(ic_seqs.labels_inline.iloc[0]))


def test_labels_file_with_no_frames_is_read_not_refused(spark, gt_tree, tmp_path):
    job = gt_tree("quiet-job")
    job.labels(0, {"tracking-annotations": []}).labels(1, {"detection-annotations": []})
    job.manifest([job.line(0), job.line(1, task="groundtruth/video-object-detection")])
    lake = tmp_path / "lake"
    result = run(spark, IngestConfig(input=str(gt_tree.root), lake=str(lake)), log=lambda m: None)
    assert result.counts.as_dict()["labels_file"] == {"in": 2, "out": 2, "rejected": 0}
    assert read_table(lake, "rejected") is None and read_table(lake, "frames") is None
    assert len(read_table(lake, "sequences")) == 2
