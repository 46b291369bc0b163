"""Spark transforms on a handful of rows, compared with hand-written expected DataFrames (chispa)."""
from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from gtlake.jobs import seqlabel
from gtlake.jobs.audit import worker_quality
from gtlake.jobs.common import sequence_refs
from gtlake.jobs.quality import attributes_text, review_queue, track_summary
from gtlake.safejson import MAX_STRING_CHARS
from gtlake.schemas import PREDICTION_FINDINGS, REJECTED, REVIEW_QUEUE, TRACK_SUMMARY
from gtlake.udfs.config import QualityConfig

pytestmark = pytest.mark.spark


def test_sequence_refs_keeps_the_row_whose_labels_were_read(spark):
    sequences = spark.createDataFrame([
        ("j1", "j1:0", "s3://in/v0/seq.json", "s3://out/j1/0/SeqLabel.json", True),
        ("j1", "j1:0", "s3://in/v0/seq.json", "s3://out/chained/0/SeqLabel.json", False),  # a chained job's, not read
        ("j1", "j1:1", "s3://in/v1/seq.json", None, False),  # refused: no labels read
        ("j2", "j2:0", "s3://in/v0/seq.json", "s3://out/j2/0/SeqLabel.json", True),
    ], "job_name string, sequence_id string, source_ref string, labels_ref string, labels_read boolean")
    expected = spark.createDataFrame([
        ("j1", "j1:0", "s3://in/v0/seq.json", "s3://out/j1/0/SeqLabel.json"),
        ("j2", "j2:0", "s3://in/v0/seq.json", "s3://out/j2/0/SeqLabel.json"),
    ], "job_name string, sequence_id string, source_ref string, labels_ref string")
    assert_df_equality(sequence_refs(sequences), expected, ignore_row_order=True, ignore_nullable=True)


def test_refused_turns_rows_with_a_reason_into_rejected_rows(spark):
    rows = spark.createDataFrame([
        ("j1", "s3://out/j1/0/SeqLabel.json", "frame 3 box 0", None, None, '{"x": 1}'),
        ("j1", "s3://out/j1/0/SeqLabel.json", "frame 4 box 1", "invalid_box_size", "width -3", '{"width": -3}'),
    ], "job_name string, source_uri string, locator string, reason string, detail string, record string")
    expected = spark.createDataFrame([
        ("run-1", "s3://out/j1/0/SeqLabel.json", "frame 4 box 1", "box", "invalid_box_size", "width -3",
         '{"width": -3}', "j1", "ingest"),
    ], REJECTED.spark_schema())
    assert_df_equality(seqlabel.refused(rows, "box", "run-1"), expected, ignore_nullable=True)


def test_attributes_text_sorts_keys_so_equal_attributes_give_equal_text(spark):
    df = spark.createDataFrame([({"b": "2", "a": "1"},), ({"a": "1", "b": "2"},), ({},)], "attributes map<string,string>")
    out = df.select(attributes_text(F.col("attributes")).alias("text"))
    expected = spark.createDataFrame([('{"a":"1","b":"2"}',), ('{"a":"1","b":"2"}',), ("{}",)], "text string")
    assert_df_equality(out, expected, ignore_nullable=True)


def test_review_queue_merges_reasons_adds_missing_boxes_and_ranks_within_the_job(spark):
    metrics = spark.createDataFrame([
        # job, sequence, frame, object, name, label, flags, score, missing_before, iou_pred
        ("j", "j:0", 5, "o1", "Car:1", "Car", ["off_path"], 2.5, 0, 0.9),
        ("j", "j:0", 6, "o1", "Car:1", "Car", [], 0.0, 0, 0.95),
        ("j", "j:0", 9, "o1", "Car:1", "Car", ["size_jump"], 2.2, 2, 0.8),  # frames 7 and 8 have no box
        ("j", "j:0", 5, "o2", "Car:2", "Car", ["class_flip", "low_iou"], 3.4, 0, 0.5),
    ], "job_name string, sequence_id string, frame_no int, object_id string, object_name string, label string, "
       "flags array<string>, score double, missing_before int, iou_pred double")
    tracks = spark.createDataFrame([("j", "j:0", "o1", "Car", ["off_path", "size_jump"]),
                                    ("j", "j:0", "o2", "Car", ["class_flip", "low_iou"])],
                                   "job_name string, sequence_id string, object_id string, label string, "
                                   "flags array<string>")
    frames = spark.createDataFrame([("j", "j:0", f, f"{f:04d}.jpg") for f in range(10)],
                                   "job_name string, sequence_id string, frame_no int, frame_file string")
    sequences = spark.createDataFrame([("j", "j:0", "s3://in/v/seq.json", "s3://out/j/0/SeqLabel.json", True)],
                                      "job_name string, sequence_id string, source_ref string, labels_ref string, "
                                      "labels_read boolean")
    src, lab = "s3://in/v/seq.json", "s3://out/j/0/SeqLabel.json"
    none = (None,) * 5  # no model gave a reason: no model, no model box
    expected = spark.createDataFrame([
        # the box's top score plus 0.25 per further reason; missing boxes weigh 3 (vocabulary.REASON_WEIGHTS)
        ("j:0", 5, "0005.jpg", "o2", "Car:2", "Car", ["class_flip", "low_iou"], 3.65, 1, *none, src, lab, "j"),
        ("j:0", 7, "0007.jpg", "o1", "Car:1", "Car", ["missing_box"], 3.0, 2, *none, src, lab, "j"),
        ("j:0", 8, "0008.jpg", "o1", "Car:1", "Car", ["missing_box"], 3.0, 3, *none, src, lab, "j"),
        ("j:0", 5, "0005.jpg", "o1", "Car:1", "Car", ["off_path"], 2.5, 4, *none, src, lab, "j"),
        ("j:0", 9, "0009.jpg", "o1", "Car:1", "Car", ["size_jump"], 2.2, 5, *none, src, lab, "j"),
    ], REVIEW_QUEUE.spark_schema())
    out = review_queue(metrics, tracks, frames, sequences).orderBy("rank")
    assert_df_equality(out, expected, ignore_nullable=True)

    # A model's findings: badly_located joins the other reasons of its (frame, object), with the model's box;
    # each overlooked object is an entry of its own (no object), two on one frame apart by their boxes.
    findings = spark.createDataFrame([
        ("j:0", 5, "o1", "badly_located", "Car", "Car", 12.0, 20.0, 30.0, 40.0, 0.9, 1, 6.0, "m", "j"),
        ("j:0", 3, None, "overlooked", "Car", "Car", 500.0, 60.0, 30.0, 20.0, 0.95, 7, 1.5, "m", "j"),
        ("j:0", 3, None, "overlooked", "Car", "Car", 900.0, 60.0, 30.0, 20.0, 0.8, 4, 1.2, "m", "j"),
    ], PREDICTION_FINDINGS.spark_schema())
    tracks = tracks.withColumn("object_name", F.concat(F.lit("Car:"), F.substring("object_id", 2, 1)))
    out = review_queue(metrics, tracks, frames, sequences, findings=findings).orderBy("rank")
    at = ("m", 12.0, 20.0, 30.0, 40.0)
    expected = spark.createDataFrame([
        ("j:0", 5, "0005.jpg", "o2", "Car:2", "Car", ["class_flip", "low_iou"], 3.65, 1, *none, src, lab, "j"),
        ("j:0", 3, "0003.jpg", None, None, "Car", ["overlooked"], 3.0, 2, "m", 500.0, 60.0, 30.0, 20.0, src, lab, "j"),
        ("j:0", 3, "0003.jpg", None, None, "Car", ["overlooked"], 3.0, 3, "m", 900.0, 60.0, 30.0, 20.0, src, lab, "j"),
        ("j:0", 7, "0007.jpg", "o1", "Car:1", "Car", ["missing_box"], 3.0, 4, *none, src, lab, "j"),
        ("j:0", 8, "0008.jpg", "o1", "Car:1", "Car", ["missing_box"], 3.0, 5, *none, src, lab, "j"),
        ("j:0", 5, "0005.jpg", "o1", "Car:1", "Car", ["badly_located", "off_path"], 2.75, 6, *at, src, lab, "j"),
        ("j:0", 9, "0009.jpg", "o1", "Car:1", "Car", ["size_jump"], 2.2, 7, *none, src, lab, "j"),
    ], REVIEW_QUEUE.spark_schema())
    assert_df_equality(out, expected, ignore_nullable=True)


def test_worker_quality_counts_what_the_audits_changed_per_labeler(spark):
    seq_boxes = spark.createDataFrame([("j", "j:0", 10, 2), ("j", "j:1", 6, 0)],
                                      "job_name string, sequence_id string, boxes long, flagged_boxes long")
    labelers = spark.createDataFrame([("j", "j:0", "w1"), ("j", "j:1", "w1")],
                                     "job_name string, sequence_id string, worker_id string")
    changes = spark.createDataFrame([
        # source_job, sequence, labeler, worker box, auditor box, change, mot_gt, mot_fp, fragment, iou, id_tp
        ("j", "j:0", "w1", "o1", "a1", "unchanged", "match", False, False, 1.0, True),
        ("j", "j:0", "w1", "o2", "a2", "moved", "match", False, False, 0.5, True),
        ("j", "j:0", "w1", None, "a3", "added", "miss", False, False, None, False),
        ("j", "j:0", "w1", "o3", None, "deleted", None, True, False, None, False),
    ], "source_job string, sequence_id string, labeler_id string, object_id string, audit_object_id string, "
       "change string, mot_gt string, mot_fp boolean, mot_fragment boolean, mot_iou double, id_tp boolean")
    row = worker_quality(seq_boxes, labelers, changes).collect()
    assert len(row) == 1
    r = row[0].asDict()
    # 3 worker boxes audited, 1 moved + 1 deleted adjusted, 1 added; 3 auditor boxes: 2 matched, 1 missed, 1 false
    # positive: MOTA 1 - (1 + 1 + 0) / 3; IDF1 2 * 2 / (3 + 3); adjustment rate (2 + 1) / (3 + 1)
    assert (r["sequences"], r["boxes"], r["flagged_boxes"], r["audited_sequences"]) == (2, 16, 2, 1)
    assert (r["audited_boxes"], r["adjusted_boxes"], r["added"], r["deleted"]) == (3, 2, 1, 1)
    assert (r["gt_boxes"], r["matches"], r["misses"], r["false_positives"], r["id_switches"]) == (3, 2, 1, 1, 0)
    assert r["flagged_rate"] == pytest.approx(2 / 16) and r["adjustment_rate"] == pytest.approx(3 / 4)
    assert r["mota"] == pytest.approx(1 / 3) and r["idf1"] == pytest.approx(4 / 6)
    assert r["motp_iou"] == pytest.approx(0.75)


def test_track_summary_describes_each_track_and_needs_peers_to_call_an_outlier(spark):
    metrics = spark.createDataFrame([
        # job, sequence, object, name, label, frame, iou_prev, iou_pred, flags
        ("j", "j:0", "o1", "Car:1", "Car", 0, None, None, []),
        ("j", "j:0", "o1", "Car:1", "Car", 1, 0.9, 0.95, []),
        ("j", "j:0", "o1", "Car:1", "Car", 2, 0.9, 0.9, []),
        ("j", "j:0", "o1", "Car:1", "Car", 4, 0.7, 0.6, ["off_path"]),  # frame 3 has no box
        ("j", "j:0", "o2", "Car:2", "Car", 0, None, None, ["size_jump"]),
        ("j", "j:0", "o2", "Car:2", "Car", 1, 0.5, 0.8, ["low_iou", "size_jump"]),
    ], "job_name string, sequence_id string, object_id string, object_name string, label string, frame_no int, "
       "iou_prev double, iou_pred double, flags array<string>")
    expected = spark.createDataFrame([
        # too short to have peers (10 boxes): no peer_z, no track_outlier; the boxes' reasons, sorted
        ("j:0", "o1", "Car:1", "Car", 4, 0, 4, 1, 2.5 / 3, 0.9, 0.9, 0.7, 0.7, 0.6, None, 1, ["off_path"], "j"),
        ("j:0", "o2", "Car:2", "Car", 2, 0, 1, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.8, None, 2, ["low_iou", "size_jump"], "j"),
    ], TRACK_SUMMARY.spark_schema())
    out = metrics.transform(track_summary(QualityConfig())).orderBy("object_id")
    assert_df_equality(out, expected, ignore_nullable=True)


def _frame_rows(spark, fixtures_dir):
    raw = seqlabel.read_labels(spark, [str(fixtures_dir / "seed-notebook" / "SeqLabel.json")])
    return seqlabel.with_frames(raw.select(
        "*", F.lit("j").alias("job_name"), F.lit("j:0").alias("sequence_id"),
        F.lit("groundtruth/video-object-tracking").alias("task_type"),
        F.create_map(F.lit("0"), F.lit("Car")).alias("class_map"), F.col("_path").alias("source_uri")))


@pytest.mark.parametrize("rows, reason, texts", [
    (seqlabel.with_boxes, "reason", ["detail", "locator", "record"]),
    (seqlabel.with_shapes, "reason", ["detail", "locator", "record"]),
    (lambda fr: fr, "frame_reason", ["frame_detail"]),
])
def test_a_reason_is_computed_once_not_inlined_into_its_texts(spark, fixtures_dir, rows, reason, texts):
    # Spark's optimizer inlines a projected CASE into every expression that reads it when both sit in one
    # projection: each of the detail's comparisons with the reason became the whole reason again (checking 1M
    # boxes took 5x the explode). With the reason its own projection, the texts built from it add no copy of its
    # conditions to the plan (the size limit, 65536, is one of them).
    df = rows(_frame_rows(spark, fixtures_dir))
    plan = lambda cols: df.select(*cols)._jdf.queryExecution().optimizedPlan().toString()
    alone = plan([reason]).count(str(MAX_STRING_CHARS))
    assert alone > 0
    assert plan([reason, *texts]).count(str(MAX_STRING_CHARS)) == alone
