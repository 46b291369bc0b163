"""Ingest on what real users have: every fault found by fault injection, in one bucket mirror beside intact jobs,
ingested in one run; the intact jobs must come out exactly as a clean run's, and no record may stop the run."""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter

import duckdb
import pandas as pd
import pytest

from gtlake.jobs.ingest import IngestConfig, run
from gtlake.lakesql import connect
from gtlake.records import REASONS
from gtlake.schemas import TABLES
from tests.conftest import GTJob, box, frame, read_table

pytestmark = pytest.mark.spark

QUIET = {"log": lambda m: None}
INTACT = ("mot17-vehicles", "intact-tracking", "intact-image")
DEEP = "[" * 10_000 + "]" * 10_000
ANSWER = {"workerId": "private.us-east-1.aaaa", "acceptanceTime": "2021-03-08T23:01:02.123Z",
          "submissionTime": "2021-03-08T23:06:49.456Z", "timeSpentInSeconds": 331.3,
          "workerMetadata": {"identityData": {"sub": "d6947aeb", "issuer": "https://cognito"}}}


def _intact(root, fixtures_dir) -> None:
    """Jobs with nothing wrong: the real 300-frame seed-notebook file, a hand-made tracking job, an image job."""
    nb = fixtures_dir / "seed-notebook"
    mot = root / "mot17-vehicles" / "manifests" / "output"
    mot.mkdir(parents=True)
    shutil.copy(nb / "derived-from-notebook/tracking_manifests/MOT17-13-SDP.manifest", mot / "output.manifest")
    (root / "tracking_manifests").mkdir()
    shutil.copy(nb / "SeqLabel.json", root / "tracking_manifests/SeqLabel.json")
    job = GTJob(root, "intact-tracking")
    for i in range(3):
        job.labels(i, {"tracking-annotations": [frame(str(f), [box(oid="a", left=10 + f), box(oid="b", cls="1",
                                                                                               name="bus:1")])
                                                for f in range(6)]})
        job.response(i, {"answers": [ANSWER]})
    job.manifest([job.line(i) for i in range(3)])
    image = GTJob(root, "intact-image")
    meta = {"class-map": {"0": "dog", "1": "cat"}, "job-name": "labeling-job/intact-image", "human-annotated": "yes",
            "creation-date": "2018-10-18T22:18:13.527256", "type": "groundtruth/object-detection",
            "objects": [{"confidence": 0.8}, {"confidence": 0.5}]}
    image.manifest([{"source-ref": f"s3://bucket/images/img{i}.png",
                     "boxes": {"image_size": [{"width": 500, "height": 400, "depth": 3}],
                               "annotations": [{"class_id": 0, "left": 111 + i, "top": 134, "width": 61, "height": 128},
                                               {"class_id": 1, "left": 10, "top": 20, "width": 30, "height": 40}]
                               + [{"class_id": 0, "left": 113, "top": 135, "width": 60, "height": 126}] * i},
                     "boxes-metadata": meta} for i in range(2)])  # img1's dog is boxed twice


def _hostile(root, fixtures_dir) -> None:
    """One job folder per fault (and a few faults outside any job folder)."""
    # A real job's layout: a mixed-case folder a few prefixes deep; SageMaker writes its name lowercased.
    nfl = root / "customer-data" / "gt-output" / "2021" / "NFL-Helmets-2021"
    (nfl / "annotations/consolidated-annotation/output/0").mkdir(parents=True)
    shutil.copy(fixtures_dir / "seed-notebook" / "SeqLabel.json",
                nfl / "annotations/consolidated-annotation/output/0/SeqLabel.json")
    (nfl / "manifests/output").mkdir(parents=True)
    ref = "s3://customer-data/gt-output/2021/NFL-Helmets-2021/annotations/consolidated-annotation/output/0/SeqLabel.json"
    (nfl / "manifests/output/output.manifest").write_text(json.dumps({
        "source-ref": "s3://customer-data/videos/helmets_seq.json", "helmets-ref": ref,
        "helmets-ref-metadata": {"class-map": {"2": "Vehicle"}, "job-name": "labeling-job/nfl-helmets-2021",
                                 "human-annotated": "yes", "creation-date": "2021-09-29T05:50:35.566000",
                                 "type": "groundtruth/video-object-tracking"}}) + "\n")

    # Bad values, each costing its own record only.
    job = GTJob(root, "values-job")
    boxes = [box(oid=f"o{k}", name=f"car:{k}", left=k) for k in range(20)]
    boxes[3]["object-name"] = "BAD-UTF8"
    boxes[5]["width"] = "BIG-NUMBER"
    boxes[7]["label-category-attributes"] = {"note": "x" * 30_000_000}
    text = json.dumps({"tracking-annotations": [frame("0", boxes), frame("1", [box(oid="o0", left=1)])]})
    path = job.root / "annotations/consolidated-annotation/output/0/SeqLabel.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode().replace(b"BAD-UTF8", b"car:\xff\xfe").replace(b'"BIG-NUMBER"', b"1" + b"0" * 2000))
    job.labels(1, {"tracking-annotations": [frame("0", [box()])]})
    manifest = [json.dumps(job.line(0)), DEEP, json.dumps(job.line(2, **{"creation-date": "0001-01-01T00:00:00+01:00"})),
                json.dumps(job.line(3, **{"adjustment-status": {"x": 1}})),
                json.dumps({**job.line(4), "vehicles-ref": job.ref(99999999999)}), json.dumps(job.line(0)),
                json.dumps(job.line(1))]
    (job.root / "manifests/output/output.manifest").write_bytes(b"\xef\xbb\xbf" + "\n".join(manifest).encode())
    job.response(0, {"answers": [ANSWER, {**ANSWER, "workerMetadata": "x"},
                                 {**ANSWER, "acceptanceTime": "0001-01-01T00:00:00+01:00"}]})
    job.response(0, '{"answers": [{"workerId": "w", "timeSpentInSeconds": 1' + "0" * 400 + "}]}", name="b.json")
    job.response(1, DEEP)
    job.response(1, {"answers": [ANSWER]}, iteration=99999999999)

    # Links: dangling, looping, out of the input; and a dangling link outside every job folder.
    links = GTJob(root, "links-job")
    labels = links.root / "annotations/consolidated-annotation/output"
    for i in range(3):
        (labels / str(i)).mkdir(parents=True)
    os.symlink(labels / "0" / "gone.json", labels / "0" / "SeqLabel.json")
    os.symlink(labels / "1" / "SeqLabel.json", labels / "1" / "SeqLabel.json")
    os.symlink("/etc/passwd", labels / "2" / "SeqLabel.json")
    links.manifest([links.line(i) for i in range(3)])
    loop = links.root / "annotations/worker-response/iteration-1/0/loop.json"
    loop.parent.mkdir(parents=True)
    os.symlink(loop, loop)
    (root / "junk").mkdir()
    os.symlink(root / "junk" / "nothing", root / "junk" / "dangling")
    dead = root / "dead-manifest" / "manifests" / "output"
    dead.mkdir(parents=True)
    os.symlink(root / "nowhere.manifest", dead / "output.manifest")

    # Another folder's manifest pointing at a job's labels: refused there, the owner unaffected.
    thief = GTJob(root, "aaa-thief")
    owner = GTJob(root, "intact-tracking")
    thief.manifest([dict(owner.line(i), **{"vehicles-ref-metadata": dict(owner.line(i)["vehicles-ref-metadata"],
                                                                         **{"job-name": "labeling-job/aaa-thief"})})
                    for i in range(3)])

    # Task types gtlake does not read, and a point cloud's source metadata (not an attribute).
    GTJob(root, "text-job").manifest([{"source": "a review", "sentiment": 1, "sentiment-metadata": {
        "type": "groundtruth/text-classification", "class-name": "positive"}}])
    GTJob(root, "cloud-job").manifest([{"source-ref": "s3://b/frames.json", "source-ref-metadata": {"frames": 3},
                                        "lidar-ref": "s3://b/out/cloud-job/x.json", "lidar-ref-metadata": {
                                            "type": "groundtruth/point_cloud_object_tracking"}}])


@pytest.fixture(scope="module")
def lakes(spark, tmp_path_factory, fixtures_dir):
    """(clean lake: the intact jobs alone; hostile lake: the same jobs beside every fault), one run each."""
    tmp = tmp_path_factory.mktemp("hostile")
    root = tmp / "bucket"
    root.mkdir()
    _intact(root, fixtures_dir)
    clean = run(spark, IngestConfig(input=str(root), lake=str(tmp / "clean")), **QUIET)
    _hostile(root, fixtures_dir)
    said: list[str] = []
    hostile = run(spark, IngestConfig(input=str(root), lake=str(tmp / "hostile")), log=said.append)
    spark_only = run(spark, IngestConfig(input=str(root), lake=str(tmp / "spark-only"), arrow_labels=False), **QUIET)
    return {"root": root, "clean": tmp / "clean", "hostile": tmp / "hostile", "clean_result": clean,
            "result": hostile, "said": said, "spark_only": tmp / "spark-only", "spark_only_result": spark_only}


def _rejected(lakes) -> pd.DataFrame:
    return read_table(lakes["hostile"], "rejected")


def _reasons(lakes, job: str) -> Counter:
    rej = _rejected(lakes)
    rej = rej[rej.job_name == job]
    return Counter(zip(rej.record_kind, rej.reason_code))


def test_the_arrow_path_changes_nothing_but_the_time(lakes):
    """The clean labels files read by the Arrow path, the others (every fault here) by Spark's reader: every table,
    refusals and counts included, is what reading every file with Spark's reader gives."""
    assert any("labels files left to Spark's reader" in m for m in lakes["said"])
    assert any("by the Arrow path" in m and not m.endswith("(0 by the Arrow path)") for m in lakes["said"])
    con = duckdb.connect()
    compared = set()
    for name, table in TABLES.items():
        if name in ("runs", "validations") or not (lakes["hostile"] / name).exists():
            continue
        compared.add(name)
        drop = [c for c in ("run_id",) if c in table.names]
        cols = ", ".join(f'"{c}"' for c in table.names if c not in drop)

        def rows(lake, cols=cols, name=name):
            return f"SELECT {cols} FROM read_parquet('{lake}/{name}/**/*.parquet', hive_partitioning = true)"
        for a, b in (("hostile", "spark_only"), ("spark_only", "hostile")):
            extra = con.execute(f"SELECT count(*) FROM ({rows(lakes[a])} EXCEPT ALL {rows(lakes[b])})").fetchone()[0]
            assert extra == 0, f"{name}: {extra} rows of the {a} lake not in the {b} lake"
    assert compared >= {"sequences", "frames", "boxes", "worker_responses", "jobs", "rejected"}, compared
    assert lakes["result"].counts == lakes["spark_only_result"].counts


def test_the_run_completes_and_balances_per_kind(lakes):
    result = lakes["result"]
    assert result.status == "succeeded" and not result.counts.unbalanced()
    (row,) = read_table(lakes["hostile"], "runs").itertuples()
    assert row.status == "succeeded" and row.records_in == row.records_out + row.records_rejected
    rej = _rejected(lakes)
    assert all(reason in REASONS[kind] for kind, reason in zip(rej.record_kind, rej.reason_code))
    assert "parse_error" not in set(rej.reason_code)  # every fault has its own reason


def test_intact_jobs_are_exactly_as_in_a_clean_run(lakes):
    for table in TABLES:
        clean, hostile = read_table(lakes["clean"], table), read_table(lakes["hostile"], table)
        if clean is None or "job_name" not in clean.columns:
            continue
        keep = [c for c in clean.columns if c not in ("run_id",)]
        a = clean[clean.job_name.isin(INTACT)][keep]
        b = hostile[hostile.job_name.isin(INTACT)][keep]
        key = list(keep)
        a = a.astype(str).sort_values(key).reset_index(drop=True)
        b = b.astype(str).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, obj=table)
    assert len(read_table(lakes["hostile"], "boxes").query("job_name == 'mot17-vehicles'")) == 890


def test_a_mixed_case_job_folder_deep_in_a_bucket_mirror_ingests_every_box(lakes):
    boxes = read_table(lakes["hostile"], "boxes")
    assert len(boxes[boxes.job_name == "NFL-Helmets-2021"]) == 890
    seq = read_table(lakes["hostile"], "sequences").query("job_name == 'NFL-Helmets-2021'")
    assert list(seq.inherited) == [False] and list(seq.label_job_name) == ["nfl-helmets-2021"]
    assert _reasons(lakes, "NFL-Helmets-2021") == Counter()


def test_bad_values_cost_their_record_not_the_file_or_the_run(lakes):
    got = _reasons(lakes, "values-job")
    assert got == Counter({
        ("sequence", "nesting_too_deep"): 1, ("sequence", "invalid_metadata"): 2,
        ("sequence", "invalid_labels_ref"): 1, ("sequence", "duplicate_labels_ref"): 1,
        ("box", "invalid_utf8"): 1, ("box", "oversized_value"): 2,
        ("worker_answer", "invalid_worker_metadata"): 1, ("worker_answer", "invalid_timestamp"): 1,
        ("worker_answer", "oversized_value"): 1,
        ("worker_response_file", "nesting_too_deep"): 1, ("worker_response_file", "unexpected_path"): 1,
    })
    boxes = read_table(lakes["hostile"], "boxes").query("job_name == 'values-job'")
    assert len(boxes[boxes.sequence_id == "values-job:0"]) == 18  # 20 + 1 listed, 3 refused
    assert len(boxes[boxes.sequence_id == "values-job:1"]) == 1  # the BOM'd manifest's last line
    rej = _rejected(lakes).query("job_name == 'values-job'")
    utf8 = rej[rej.reason_code == "invalid_utf8"].iloc[0]
    assert json.loads(utf8.record)["object-name"] == "car:\\xff\\xfe" and "object-id=o3" in utf8.locator
    assert rej.record.dropna().map(len).max() <= 2000


def test_rejected_stays_readable_by_every_reader(lakes):
    con = connect(str(lakes["hostile"]))
    assert con.execute("SELECT count(*) FROM rejected").fetchone()[0] == len(_rejected(lakes))
    assert con.execute("SELECT count(*) FROM rejected WHERE contains(record, '\\xff')").fetchone()[0] >= 1
    assert "root:" not in " ".join(_rejected(lakes).record.dropna())  # /etc/passwd was never read


def test_links_are_refused_with_their_reason(lakes):
    assert _reasons(lakes, "links-job") == Counter({("labels_file", "unreadable"): 3,
                                                    ("worker_response_file", "unreadable"): 1})
    details = " ".join(_rejected(lakes).query("job_name == 'links-job'").detail)
    assert "outside the input root" in details
    assert _reasons(lakes, "_input") == Counter({("job_folder", "unreadable"): 1})


def test_a_manifest_cannot_take_another_jobs_labels(lakes):
    assert _reasons(lakes, "aaa-thief") == Counter({("labels_file", "foreign_labels_ref"): 3})
    assert read_table(lakes["hostile"], "boxes").query("job_name == 'aaa-thief'").empty


def test_task_types_gtlake_does_not_read_are_named(lakes):
    assert _reasons(lakes, "text-job") == Counter({("sequence", "unsupported_task_type"): 1})
    assert _reasons(lakes, "cloud-job") == Counter({("sequence", "unsupported_task_type"): 1})
    rej = _rejected(lakes)
    assert "groundtruth/text-classification" in rej[rej.job_name == "text-job"].detail.item()
    assert "lidar-ref" in rej[rej.job_name == "cloud-job"].locator.item()  # not source-ref


def test_image_jobs_are_flattened_into_boxes_with_the_image_size(lakes):
    boxes = read_table(lakes["hostile"], "boxes").query("job_name == 'intact-image'").sort_values(
        ["sequence_id", "box_index"])
    assert len(boxes) == 5 and boxes.object_id.isna().all()
    assert list(boxes.label) == ["dog", "cat", "dog", "cat", "dog"]
    assert list(boxes.left) == [111.0, 10.0, 112.0, 10.0, 113.0]
    assert dict(boxes.iloc[0].attributes) == {"confidence": "0.8"}
    frames = read_table(lakes["hostile"], "frames").query("job_name == 'intact-image'").sort_values("frame_file")
    assert list(frames.frame_file) == ["img0.png", "img1.png"] and list(frames.shape_count) == [2, 3]
    assert set(frames.image_width) == {500} and set(frames.image_height) == {400}
    jobs = read_table(lakes["hostile"], "jobs").set_index("job_name")
    assert jobs.loc["intact-image", "role"] == "image" and jobs.loc["intact-image", "boxes"] == 5
    # the duplicate check sees them: the dog of img1 boxed twice, nothing else
    dup = connect(str(lakes["hostile"])).execute("SELECT * FROM untracked_duplicates").df()
    a, b = boxes.iloc[2], boxes.iloc[4]
    overlap = (min(a.left + a.width, b.left + b.width) - max(a.left, b.left)) * \
        (min(a.top + a.height, b.top + b.height) - max(a.top, b.top))
    iou = overlap / (a.width * a.height + b.width * b.height - overlap)
    assert dup[["job_name", "sequence_id", "box_index", "other_box_index"]].values.tolist() == [
        ["intact-image", "intact-image:1", 0, 2]] and dup.iou.item() == pytest.approx(iou)


def test_frames_count_their_boxes_and_shapes(lakes):
    frames = read_table(lakes["hostile"], "frames")
    boxes = read_table(lakes["hostile"], "boxes").groupby(["job_name", "sequence_id", "frame_no"]).size()
    got = frames.set_index(["job_name", "sequence_id", "frame_no"])
    assert (got.shape_count >= 0).all() and (got.shape_count <= got.listed_shapes).all()
    assert got.shape_count.sub(boxes.reindex(got.index, fill_value=0)).eq(0).all()
    v = got.loc[("values-job", "values-job:0", 0)]
    assert (v.shape_count, v.listed_shapes) == (17, 20)


def test_jobs_table_names_each_job_once(lakes):
    jobs = read_table(lakes["hostile"], "jobs").set_index("job_name")
    assert set(jobs.index) >= set(INTACT) | {"NFL-Helmets-2021", "values-job", "links-job", "aaa-thief"}
    assert jobs.loc["intact-tracking", "role"] == "labeling" and jobs.loc["intact-tracking", "sequences"] == 3
    assert jobs.loc["mot17-vehicles", "boxes"] == 890 and jobs.loc["NFL-Helmets-2021", "boxes"] == 890


def test_a_chained_job_is_read_again_when_its_source_comes_into_the_lake(spark, gt_tree, tmp_path):
    source, audit = gt_tree("first-job"), gt_tree("first-job-audit")
    lines = []
    for i in range(2):
        source.labels(i, {"tracking-annotations": [frame(str(f), [box(left=10 + f)]) for f in range(4)]})
        audit.labels(i, {"tracking-annotations": [frame(str(f), [box(left=11 + f)]) for f in range(4)]})
        own = audit.line(i, attr="vehicles-audit-ref", **{"adjustment-status": "adjusted"})
        lines.append({**own, "vehicles-ref": source.ref(i), "vehicles-ref-metadata": dict(
            source.line(i)["vehicles-ref-metadata"])})
    audit.manifest(lines)
    source.manifest([source.line(i) for i in range(2)])
    (source.root / "manifests").rename(tmp_path / "held-back")  # the source job's output is not in the input yet
    lake = tmp_path / "lake"
    run(spark, IngestConfig(input=str(gt_tree.root), lake=str(lake)), **QUIET)
    rej = read_table(lake, "rejected")
    assert Counter(rej.reason_code) == Counter({"chained_source_missing": 2})  # said, not silently unread
    assert "ingest its output folder" in rej.detail.iloc[0]
    jobs = read_table(lake, "jobs").set_index("job_name")
    assert (jobs.loc["first-job-audit", "role"], jobs.loc["first-job-audit", "audited_job"]) == ("audit", "first-job")

    (tmp_path / "held-back").rename(source.root / "manifests")
    second = run(spark, IngestConfig(input=str(gt_tree.root), lake=str(lake)), **QUIET)
    assert second.jobs_processed == ["first-job", "first-job-audit"]  # the audit job is read again
    rej = read_table(lake, "rejected")
    assert rej is None or rej.empty
    seqs = read_table(lake, "sequences").query("job_name == 'first-job-audit'")
    assert dict(zip(seqs.label_attribute, seqs.inherited)) == {"vehicles-ref": True, "vehicles-audit-ref": False}
    assert len(read_table(lake, "boxes").query("job_name == 'first-job'")) == 8
    assert run(spark, IngestConfig(input=str(gt_tree.root), lake=str(lake)), **QUIET).status == "no_new_input"


def test_a_failure_that_is_not_about_a_record_commits_a_failed_runs_row(tmp_path):
    from datetime import datetime, timezone

    from gtlake.jobs.runner import failed_run_on_error
    from gtlake.lake import Lake
    from gtlake.records import Counts

    lake = Lake(str(tmp_path / "lake"))
    with pytest.raises(ZeroDivisionError):
        with lake.lock(), failed_run_on_error(lake, "ingest", "run-1", datetime.now(timezone.utc), "in", Counts()):
            1 / 0
    (row,) = read_table(tmp_path / "lake", "runs").itertuples()
    assert (row.run_id, row.status, row.message) == ("run-1", "failed", "ZeroDivisionError: division by zero")
