"""The lake's tables: one explicit schema per table, the single source for Spark, Arrow and SQL.

Each column has a name, a type and a comment. Spark jobs `select` exactly these columns before
writing; the Athena DDL (sql/) is generated from the same definitions, so the two cannot drift.
Partition columns are listed last and are stored in the folder names (Hive style), not the files.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import types as T


@dataclass(frozen=True)
class Type:
    """A column type, spelled for Athena DDL, Spark and Arrow."""

    ddl: str
    spark: T.DataType
    arrow: pa.DataType


STRING = Type("string", T.StringType(), pa.string())
INT = Type("int", T.IntegerType(), pa.int32())
BIGINT = Type("bigint", T.LongType(), pa.int64())
DOUBLE = Type("double", T.DoubleType(), pa.float64())
BOOLEAN = Type("boolean", T.BooleanType(), pa.bool_())
TIMESTAMP = Type("timestamp", T.TimestampType(), pa.timestamp("us", tz="UTC"))
STRING_MAP = Type("map<string,string>", T.MapType(T.StringType(), T.StringType()), pa.map_(pa.string(), pa.string()))
STRING_ARRAY = Type("array<string>", T.ArrayType(T.StringType()), pa.list_(pa.string()))
POINT_ARRAY = Type(
    "array<struct<x:double,y:double>>",
    T.ArrayType(T.StructType([T.StructField("x", T.DoubleType()), T.StructField("y", T.DoubleType())])),
    pa.list_(pa.struct([("x", pa.float64()), ("y", pa.float64())])),
)


@dataclass(frozen=True)
class Column:
    """One column of a lake table."""

    name: str
    type: Type
    comment: str


@dataclass(frozen=True)
class Table:
    """A lake table: its columns (partition columns last) and what one row is."""

    name: str
    row: str
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...] = ()
    # Clustered layout: rows sorted by these columns within each partition, every file holding whole groups of
    # the first (README, *Lake layout*); the quality job reads boxes a sequence at a time without a shuffle.
    cluster_by: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        """All column names, partition columns included, in order."""
        return [c.name for c in self.columns]

    def spark_schema(self) -> T.StructType:
        """The Spark schema of the table (partition columns included)."""
        return T.StructType([T.StructField(c.name, c.type.spark, True) for c in self.columns])

    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema of the table (partition columns included)."""
        return pa.schema([pa.field(c.name, c.type.arrow) for c in self.columns])

    def file_schema(self) -> pa.Schema:
        """The Arrow schema of the table's data files: partition columns are folder names, not in the files."""
        return pa.schema([f for f in self.arrow_schema() if f.name not in self.partition_by])


def _c(name: str, type_: Type, comment: str) -> Column:
    return Column(name, type_, comment)


JOB = _c("job_name", STRING, "Labeling job name, without the labeling-job/ prefix")
SEQ = _c("sequence_id", STRING, "Data object of a job: '<job_name>:<data_object_index>'")
FRAME_NO = _c("frame_no", INT, "Ground Truth frame-no, as written (usually 0-based)")
FRAME_FILE = _c("frame_file", STRING, "Image file of the frame, relative to the sequence prefix")
SOURCE = _c("source_uri", STRING, "Input file the row was read from")

SEQUENCES = Table("sequences", "data object x label attribute of a job's output manifest", (
    SEQ,
    _c("data_object_index", INT, "Index of the data object in the job (output/<i>/ and worker-response/.../<i>/)"),
    _c("label_attribute", STRING, "Label attribute name; null for a data object not labeled yet"),
    _c("label_job_name", STRING, "Job that produced these labels (another job's for a chained attribute)"),
    _c("inherited", BOOLEAN, "True when the attribute was chained from an earlier job (e.g. the audited job's)"),
    _c("source_ref", STRING, "The data object: a sequence file (video) or an image"),
    _c("labels_ref", STRING, "URI of the labels file (SeqLabel.json) as written in the manifest"),
    _c("labels_inline", STRING, "Labels written inline in the manifest (image jobs), as raw JSON"),
    _c("task_type", STRING, "Ground Truth task type, e.g. groundtruth/video-object-tracking"),
    _c("class_map", STRING_MAP, "class-id -> label name"),
    _c("adjustment_status", STRING, "adjusted / unadjusted on adjustment (audit) jobs, else null"),
    _c("human_annotated", STRING, "yes / no"),
    _c("creation_time", TIMESTAMP, "creation-date of the labels (UTC)"),
    _c("metadata", STRING, "The whole <attribute>-metadata object, raw JSON"),
    _c("manifest_line", INT, "1-based line of the output manifest"),
    SOURCE,
    _c("labels_read", BOOLEAN, "True for the attribute whose labels are in frames and boxes (at most one per data "
                               "object); false when they were inherited or refused; null when it carries none"),
    JOB,
), ("job_name",))

FRAMES = Table("frames", "frame of a sequence listed in its labels file (an image of an image job)", (
    SEQ, FRAME_NO, FRAME_FILE,
    _c("frame_attributes", STRING_MAP, "Frame attributes (values of nested objects as raw JSON); null if absent"),
    _c("shape_count", INT, "The frame's rows in boxes and shapes"),
    _c("listed_shapes", INT, "Boxes and shapes listed on the frame in its labels, refused ones included"),
    _c("image_width", INT, "Image width in pixels (image jobs' image_size; null for video frames)"),
    _c("image_height", INT, "Image height in pixels (image jobs' image_size; null for video frames)"),
    SOURCE, JOB,
), ("job_name",))

BOXES = Table("boxes", "bounding box on a frame", (
    SEQ, FRAME_NO, FRAME_FILE,
    _c("object_id", STRING, "Ground Truth object-id, stable across the frames of a track (null in detection and "
                            "image jobs)"),
    _c("object_name", STRING, "Ground Truth object-name, '<class>:<n>'"),
    _c("class_id", STRING, "class-id as written"),
    _c("label", STRING, "Class name from the class map"),
    _c("left", DOUBLE, "Left edge, pixels"),
    _c("top", DOUBLE, "Top edge, pixels"),
    _c("width", DOUBLE, "Width, pixels (> 0)"),
    _c("height", DOUBLE, "Height, pixels (> 0)"),
    _c("attributes", STRING_MAP, "label-category-attributes (nested values as raw JSON)"),
    _c("box_index", INT, "Position of the box in the frame's list"),
    SOURCE, JOB,
), ("job_name",), ("sequence_id", "object_id", "frame_no"))

SHAPES = Table("shapes", "polyline, polygon or keypoint on a frame", (
    SEQ, FRAME_NO, FRAME_FILE,
    _c("shape_type", STRING, "polyline / polygon / keypoint"),
    _c("shape_index", INT, "Position of the shape in the frame's list of its type"),
    _c("object_id", STRING, "Ground Truth object-id"),
    _c("object_name", STRING, "Ground Truth object-name"),
    _c("class_id", STRING, "class-id as written"),
    _c("label", STRING, "Class name from the class map"),
    _c("vertices", POINT_ARRAY, "Points in pixels (one point for a keypoint)"),
    _c("attributes", STRING_MAP, "label-category-attributes"),
    SOURCE, JOB,
), ("job_name",))

JOB_ROLES = ("labeling", "audit", "detection", "image")

JOBS = Table("jobs", "labeling job read from the input", (
    _c("role", STRING, "labeling (video tracking), audit (adjusts or verifies another job's labels), detection "
                       "(video detection) or image"),
    _c("task_type", STRING, "Ground Truth task type of the job's own labels (the most frequent)"),
    _c("audited_job", STRING, "For an audit job: the job whose labels it reviews (chained in its manifest)"),
    _c("created_at", TIMESTAMP, "Earliest creation-date of the job's own labels (UTC)"),
    _c("sequences", INT, "Data objects in its output manifest"),
    _c("labeled_sequences", INT, "Of those, data objects with labels of the job's own"),
    _c("frames", BIGINT, "Rows in frames"),
    _c("boxes", BIGINT, "Rows in boxes"),
    _c("manifest_uri", STRING, "The output manifest read"),
    _c("run_id", STRING, "Ingest run that read it"),
    JOB,
), ("job_name",))

WORKER_RESPONSES = Table("worker_responses", "worker answer in a worker-response file", (
    SEQ,
    _c("data_object_index", INT, "Data object the answer is for"),
    _c("iteration", INT, "iteration-<n> of the response"),
    _c("answer_index", INT, "Position of the answer in the file"),
    _c("worker_id", STRING, "workerId, e.g. private.us-east-1.47a0115a1f1786e9"),
    _c("cognito_sub", STRING, "Cognito sub of the worker (join key to the WorkerActivity log)"),
    _c("identity_issuer", STRING, "Identity provider issuer URL"),
    _c("accepted_at", TIMESTAMP, "acceptanceTime (null in older files)"),
    _c("submitted_at", TIMESTAMP, "submissionTime"),
    _c("active_seconds", DOUBLE, "timeSpentInSeconds: active time, pauses excluded (null in older files)"),
    _c("wall_seconds", DOUBLE, "submitted_at - accepted_at"),
    _c("answer_content", STRING, "answerContent, raw JSON"),
    SOURCE, JOB,
), ("job_name",))

REJECTED = Table("rejected", "input record refused, with the reason", (
    _c("run_id", STRING, "Run that refused the record"),
    SOURCE,
    _c("locator", STRING, "Where in the file: line, frame, object"),
    _c("record_kind", STRING, "job_folder / sequence / labels_file / frame / box / shape / worker_response_file / "
                              "worker_answer / activity_file / worker_event / audit_sequence / verdicts_file / verdict"),
    _c("reason_code", STRING, "Why it was refused (see README: reason codes)"),
    _c("detail", STRING, "What was expected and what was found"),
    _c("record", STRING, "The refused record, raw (cut at 2000 characters)"),
    _c("job_name", STRING, "Labeling job the record belongs to; _input / _activity when it names none"),
    _c("step", STRING, "Step that refused it: ingest, workers, audit or verdicts (each step owns its partitions)"),
), ("job_name", "step"))

RUNS = Table("runs", "run of a gtlake job", (
    _c("run_id", STRING, "Run id: UTC start time and a random suffix"),
    _c("job", STRING, "Which job ran: ingest, ..."),
    _c("started_at", TIMESTAMP, "Start (UTC)"),
    _c("finished_at", TIMESTAMP, "End (UTC)"),
    _c("records_in", BIGINT, "Input records read"),
    _c("records_out", BIGINT, "Records written to lake tables"),
    _c("records_rejected", BIGINT, "Records written to rejected; in = out + rejected"),
    _c("status", STRING, "succeeded / no_new_input / failed"),
    _c("input_uri", STRING, "Input root"),
    _c("jobs_processed", STRING_ARRAY, "Labeling jobs (re)written by this run"),
    _c("counts", STRING, "Per record kind: in / out / rejected, JSON"),
    _c("message", STRING, "Why a failed run failed; null otherwise"),
))

OBJ = _c("object_id", STRING, "Ground Truth object-id of the track")
OBJ_NAME = _c("object_name", STRING, "Ground Truth object-name, '<class>:<n>'")
FLAGS = _c("flags", STRING_ARRAY, "Named reasons the box is suspect: off_path, low_iou, size_jump, class_flip, "
                                  "duplicate_box, id_swap, broken_track, attribute_flip; appearance_change in "
                                  "embedding_metrics (empty: nothing found)")

TRACKED_BOX = (SEQ, FRAME_NO, FRAME_FILE, OBJ, OBJ_NAME)  # the (frame, object) a quality row is about
LABEL = _c("label", STRING, "Class name")

BOX_METRICS = Table("box_metrics", "tracked box, with its frame-to-frame metrics and flags", (
    *TRACKED_BOX,
    _c("class_id", STRING, "class-id as written"), LABEL,
    _c("left", DOUBLE, "Left edge, pixels"), _c("top", DOUBLE, "Top edge, pixels"),
    _c("width", DOUBLE, "Width, pixels"), _c("height", DOUBLE, "Height, pixels"),
    _c("iou_prev", DOUBLE, "IoU with the track's previous box (null on its first box)"),
    _c("center_shift", DOUBLE, "Centre distance to the previous box, in box sizes (sqrt of area)"),
    _c("area_change", DOUBLE, "log(area / previous area): +0.22 is 25% larger"),
    _c("aspect_change", DOUBLE, "log(aspect ratio / previous aspect ratio)"),
    _c("gap_before", INT, "Frames the track was absent just before this box"),
    _c("missing_before", INT, "Of those, frames where a box is missing (queued as missing_box); 0 for occlusions"),
    _c("residual", DOUBLE, "Largest edge deviation from the track's path, in units of its tolerance (> 1: off)"),
    _c("iou_pred", DOUBLE, "IoU with the box the track's own motion puts there (its neighbours on either side; "
                           "camera jerks removed): low when the box, not the object, moved"),
    FLAGS,
    _c("score", DOUBLE, "Suspicion: sum of the reasons' weights plus severity (README: review score)"),
    JOB,
), ("job_name",))

TRACK_SUMMARY = Table("track_summary", "tracked object of a sequence", (
    SEQ, OBJ, OBJ_NAME,
    _c("label", STRING, "Most frequent class name of the track"),
    _c("n_boxes", INT, "Boxes in the track"),
    _c("first_frame", INT, "First frame_no"), _c("last_frame", INT, "Last frame_no"),
    _c("missing_frames", INT, "Frames between first and last without a box (gaps, occlusions)"),
    _c("iou_mean", DOUBLE, "Mean frame-to-frame IoU"), _c("iou_median", DOUBLE, "Median frame-to-frame IoU"),
    _c("iou_mode", DOUBLE, "Most frequent frame-to-frame IoU, rounded to 0.01 (of those tied, the smallest)"),
    _c("iou_min", DOUBLE, "Lowest frame-to-frame IoU"), _c("iou_p10", DOUBLE, "10th percentile of frame-to-frame IoU"),
    _c("iou_pred_p10", DOUBLE, "10th percentile of iou_pred: how well the track's boxes follow its own motion"),
    _c("peer_z", DOUBLE, "Robust z-score of iou_pred_p10 among tracks of the same class and job (negative: worse)"),
    _c("flagged_boxes", INT, "Boxes of the track with at least one flag"),
    _c("flags", STRING_ARRAY, "Reasons found on the track, with track_outlier when far below its peers"),
    JOB,
), ("job_name",))

_MODEL_BOX = tuple(_c(f"model_{c}", DOUBLE, f"The model's box, {w} (overlooked, badly_located, class_disagrees; "
                                             "else null)")
                   for c, w in (("left", "left edge"), ("top", "top edge"), ("width", "width"), ("height", "height")))
REVIEW_QUEUE = Table("review_queue", "(frame, object) to audit, most suspect first", (
    SEQ, FRAME_NO, FRAME_FILE,
    _c("object_id", STRING, "Ground Truth object-id of the track; null for an overlooked object (nobody labeled it: "
                            "the model's box says where it is)"),
    OBJ_NAME, LABEL,
    _c("reasons", STRING_ARRAY, "All reasons for this frame and object (missing_box: no box where one is expected; "
                                "overlooked: an object the model sees that has no label)"),
    _c("score", DOUBLE, "Highest reason score, plus 0.25 per further reason"),
    _c("rank", INT, "1 = review first, within the job"),
    _c("model", STRING, "The model whose predictions gave a reason (gtlake predictions), else null"),
    *_MODEL_BOX,
    _c("source_ref", STRING, "The sequence file of the video"),
    _c("labels_ref", STRING, "The labels file as written in the output manifest"),
    JOB,
), ("job_name",))

REVIEW_VERDICTS = Table("review_verdicts", "reviewer's verdict on a review-queue entry (gtlake verdicts)", (
    SEQ, FRAME_NO,
    _c("object_id", STRING, "Ground Truth object-id of the entry's track; null for an overlooked object"),
    *[_c(c.name, c.type, c.comment.replace("(overlooked, badly_located, class_disagrees; else null)",
                                           "of an overlooked entry (it tells two apart on one frame), else null"))
      for c in _MODEL_BOX],
    _c("reasons", STRING_ARRAY, "The entry's reasons on the page the reviewer judged"),
    _c("score", DOUBLE, "The entry's score on that page"),
    _c("queue_rank", INT, "The entry's rank on that page"),
    _c("verdict", STRING, "mistake (the labels are wrong here), fine (they are right), unsure"),
    _c("reviewer", STRING, "Who judged it: the name entered on the review page"),
    _c("decided_at", TIMESTAMP, "When the verdict was given (UTC); a later verdict of the same reviewer replaces it"),
    _c("queue_run_id", STRING, "The quality run whose queue the page showed"),
    _c("verdicts_file", STRING, "sha256 (16 hex) of the verdicts file it came from"),
    _c("imported_run_id", STRING, "The gtlake verdicts run that stored it"),
    SOURCE, JOB,
), ("job_name",))

_BOX_EDGES = (_c("left", DOUBLE, "Left edge, pixels"), _c("top", DOUBLE, "Top edge, pixels"),
              _c("width", DOUBLE, "Width, pixels (> 0)"), _c("height", DOUBLE, "Height, pixels (> 0)"))
MODEL = _c("model", STRING, "The model's name, as given to gtlake predictions (--model)")

PREDICTIONS = Table("predictions", "box a model predicted on a frame (gtlake predictions)", (
    SEQ, FRAME_NO,
    _c("label", STRING, "Class the model predicted (a class name of the job)"),
    _c("score", DOUBLE, "The model's confidence, 0 to 1"),
    *_BOX_EDGES,
    _c("track_id", STRING, "The model's track id, when it tracks (null for a detector)"),
    MODEL, SOURCE, JOB,
), ("job_name",))

PREDICTION_FINDINGS = Table("prediction_findings", "thing a model's predictions say of the labels (gtlake predictions)", (
    SEQ, FRAME_NO,
    _c("object_id", STRING, "The labeled object it concerns; null for overlooked (nobody labeled it)"),
    _c("reason", STRING, "overlooked (an object the model sees over several frames that has no label), "
                         "badly_located (a label far off the model's clearly overlapping box), class_disagrees (the "
                         "model names another class over most of the track)"),
    _c("label", STRING, "The label's class (overlooked: the model's)"),
    _c("model_label", STRING, "The class the model predicted"),
    *[_c(c.name, c.type, f"The model's box: {c.comment[0].lower()}{c.comment[1:]}") for c in _BOX_EDGES],
    _c("score", DOUBLE, "The model's confidence on that frame"),
    _c("frames", INT, "Frames behind the finding (overlooked: the chain's confident frames; class_disagrees: the "
                      "frames naming another class)"),
    _c("evidence", DOUBLE, "How far past its threshold (overlooked: mean score over the class threshold; "
                           "badly_located: robust z of the offset; class_disagrees: share of the track's frames)"),
    MODEL, JOB,
), ("job_name",))

EMBEDDING_METRICS = Table("embedding_metrics", "tracked box whose crop was embedded (gtlake embed)", (
    *TRACKED_BOX, LABEL,
    _c("image_uri", STRING, "Frame image read: the sequence file's prefix + frame_file (under --frames-root if given)"),
    _c("crop_status", STRING, "ok, image_missing, image_unreadable, or outside_image (no pixel of the box in the image)"),
    _c("crop_clipped", DOUBLE, "Share of the box's area outside the image (cut off before resizing)"),
    _c("appearance_distance", DOUBLE, "Cosine distance between this crop's embedding and the track's previous crop's "
                                      "(null on a track's first box, after an occlusion, or without a crop)"),
    _c("appearance_skip", DOUBLE, "Cosine distance between the previous and the next crop (tells a one-frame spike "
                                  "from a lasting change)"),
    _c("appearance_z", DOUBLE, "Robust z-score of appearance_distance over the box's baseline (track and local median)"),
    FLAGS,
    _c("score", DOUBLE, "Weight of the appearance_change reason when flagged, else 0"),
    _c("model", STRING, "sha256 (16 hex) of the weights file that made the embeddings"),
    JOB,
), ("job_name",))

WORKER = _c("worker_id", STRING, "Worker: the workerId of worker responses (private.<region>.<id>) when the "
                                 "Cognito sub is known there, else the log's worker_id")
TS_ACCEPTED = _c("accepted_at", TIMESTAMP, "Task accepted (UTC)")
TS_SUBMITTED = _c("submitted_at", TIMESTAMP, "Task submitted (UTC)")

WORKER_EVENTS = Table("worker_events", "WorkerActivity log event", (
    WORKER,
    _c("log_worker_id", STRING, "worker_id as the log writes it"),
    _c("cognito_sub", STRING, "cognito_sub_id: join key to worker_responses"),
    _c("cognito_user_pool_id", STRING, "Cognito user pool of the work team"),
    _c("workteam", STRING, "Work team name (last part of workteam_arn)"),
    _c("workteam_arn", STRING, "workteam_arn as logged"),
    _c("labeling_job_arn", STRING, "labeling_job_arn as logged"),
    _c("event_type", STRING, "TasksSubmitted, TasksReturned, TasksDeclined, ... as logged"),
    TS_ACCEPTED, TS_SUBMITTED,
    _c("returned_at", TIMESTAMP, "Task returned (UTC)"),
    _c("declined_at", TIMESTAMP, "Task declined (UTC)"),
    _c("event_time", TIMESTAMP, "event_timestamp (epoch seconds) as UTC time"),
    _c("job_reference_code", STRING, "job_reference_code as logged"),
    _c("event_key", STRING, "sha256 of the raw message: one row per distinct event, however often it is read"),
    _c("source_uri", STRING, "Export file, or cloudwatch://<log group>/<log stream>"),
    _c("locator", STRING, "Line of the file, or the CloudWatch event id"),
    JOB,
), ("job_name",))

WORKER_TASKS = Table("worker_tasks", "task a worker touched: an activity event and/or a worker response", (
    WORKER,
    _c("cognito_sub", STRING, "Cognito sub of the worker"),
    _c("data_object_index", INT, "Data object of the job (null for returned/declined tasks: the log does not say)"),
    SEQ,
    _c("workteam", STRING, "Work team name"),
    _c("outcome", STRING, "submitted / returned / declined (event type otherwise, lower case)"),
    TS_ACCEPTED,
    _c("finished_at", TIMESTAMP, "Submitted, returned or declined (UTC)"),
    _c("wall_seconds", DOUBLE, "finished_at - accepted_at, seconds (the response's millisecond times when known)"),
    _c("active_seconds", DOUBLE, "timeSpentInSeconds of the worker response: pauses excluded"),
    _c("source", STRING, "log+response, log (no response matched) or response (the log missed it)"),
    _c("event_key", STRING, "worker_events row of the task, if any"),
    JOB,
), ("job_name",))

CHANGE_KINDS = ("unchanged", "moved", "resized", "relabeled", "reidentified", "added", "deleted")

AUDIT_CHANGES = Table("audit_changes", "box of a worker or an auditor, paired across an audit", (
    _c("source_job", STRING, "Job whose labels were audited"),
    _c("sequence_id", STRING, "Sequence of the source job ('<source_job>:<index>')"),
    _c("audit_sequence_id", STRING, "Sequence of the audit job"),
    FRAME_NO,
    _c("object_id", STRING, "Worker's object-id (null: the auditor added the box)"),
    _c("audit_object_id", STRING, "Auditor's object-id (null: the auditor deleted the box)"),
    _c("label", STRING, "Worker's class name"),
    _c("audit_label", STRING, "Auditor's class name"),
    _c("change", STRING, "unchanged / moved / resized / relabeled / reidentified / added / deleted"),
    _c("moved", BOOLEAN, "Position changed (either edge beyond the tolerance)"),
    _c("resized", BOOLEAN, "Width or height changed beyond the tolerance"),
    _c("relabeled", BOOLEAN, "Class changed"),
    _c("reidentified", BOOLEAN, "Paired by overlap with a box of another object-id"),
    _c("attributes_changed", BOOLEAN, "label-category-attributes differ"),
    _c("iou", DOUBLE, "IoU of the worker's and the auditor's box (null when one is missing)"),
    _c("left", DOUBLE, "Worker's left edge"), _c("top", DOUBLE, "Worker's top edge"),
    _c("width", DOUBLE, "Worker's width"), _c("height", DOUBLE, "Worker's height"),
    _c("audit_left", DOUBLE, "Auditor's left edge"), _c("audit_top", DOUBLE, "Auditor's top edge"),
    _c("audit_width", DOUBLE, "Auditor's width"), _c("audit_height", DOUBLE, "Auditor's height"),
    _c("mot_gt", STRING, "CLEAR MOT event of the auditor's box: match / switch / miss (auditor = ground truth)"),
    _c("mot_fp", BOOLEAN, "The worker's box is a CLEAR MOT false positive"),
    _c("mot_iou", DOUBLE, "IoU of the CLEAR MOT match of the auditor's box"),
    _c("mot_fragment", BOOLEAN, "The auditor's box starts a fragmentation (tracked, then missed, in its track)"),
    _c("id_tp", BOOLEAN, "The auditor's box is an identity true positive (IDF1's global track assignment)"),
    _c("flagged", BOOLEAN, "The quality job queued this (frame, object) for review"),
    _c("labeler_id", STRING, "Worker who labeled the source sequence (worker_responses)"),
    _c("auditor_id", STRING, "Worker who audited it"),
    _c("adjustment_status", STRING, "adjusted / unadjusted, as the audit job wrote it"),
    _c("audit_job", STRING, "Adjustment (audit) job"),
), ("audit_job",))

WORKER_QUALITY = Table("worker_quality", "worker x labeling job: how much auditors changed, CLEAR MOT and IDF1", (
    WORKER,
    _c("sequences", INT, "Sequences the worker labeled in the job"),
    _c("boxes", BIGINT, "Tracked boxes the worker labeled in the job"),
    _c("flagged_boxes", BIGINT, "Of those, boxes in the review queue"),
    _c("flagged_rate", DOUBLE, "flagged_boxes / boxes"),
    _c("audited_sequences", INT, "Sequences an audit job re-labeled"),
    _c("audited_boxes", BIGINT, "Worker boxes in audited sequences"),
    _c("adjusted_boxes", BIGINT, "Of those, boxes the auditor moved, resized, relabeled, re-identified or deleted"),
    _c("added", BIGINT, "Boxes the auditor added"),
    _c("deleted", BIGINT, "Worker boxes the auditor deleted"),
    _c("adjustment_rate", DOUBLE, "(adjusted_boxes + added) / (audited_boxes + added): share of boxes the auditor "
                                  "had to touch; null when nothing was audited"),
    _c("gt_boxes", BIGINT, "Auditor's boxes (CLEAR MOT ground truth)"),
    _c("matches", BIGINT, "CLEAR MOT matches (switches included)"),
    _c("misses", BIGINT, "CLEAR MOT misses: auditor's boxes with no worker box"),
    _c("false_positives", BIGINT, "CLEAR MOT false positives: worker boxes with no auditor box"),
    _c("id_switches", BIGINT, "CLEAR MOT identity switches"),
    _c("fragmentations", BIGINT, "Auditor tracks interrupted (tracked, missed, tracked again)"),
    _c("mota", DOUBLE, "1 - (misses + false_positives + id_switches) / gt_boxes"),
    _c("motp_iou", DOUBLE, "Mean IoU of the CLEAR MOT matches"),
    _c("idtp", BIGINT, "Identity true positives"),
    _c("idf1", DOUBLE, "2 idtp / (gt_boxes + worker boxes audited)"),
    JOB,
), ("job_name",))

VALIDATIONS = Table("validations", "data-quality rule checked on a lake table by a run (Great Expectations)", (
    _c("run_id", STRING, "Run that checked it"),
    _c("step", STRING, "Which command checked it: validate, ingest, workers, quality, audit or verdicts"),
    _c("scope", STRING, "Which rows: lake (committed, by validate), input (read by the run), output (staged by the run, "
                        "before its commit)"),
    _c("table_name", STRING, "Lake table checked"),
    _c("column_name", STRING, "Column (or columns) the rule is about; null for table-level rules such as the schema"),
    _c("rule", STRING, "The rule: schema, type ..., not null, unique key, values >= ..., allowed values, exists in ..."),
    _c("success", BOOLEAN, "True when every row keeps the rule"),
    _c("unexpected_count", BIGINT, "Rows breaking the rule, where it counts rows"),
    _c("detail", STRING, "What broke it, with a few example values; empty on success (for a sealed input, the runs "
                         "that validated its files)"),
    _c("validated_at", TIMESTAMP, "When (UTC)"),
))

TABLES: dict[str, Table] = {t.name: t for t in (JOBS, SEQUENCES, FRAMES, BOXES, SHAPES, WORKER_RESPONSES, REJECTED, RUNS,
                                                BOX_METRICS, TRACK_SUMMARY, REVIEW_QUEUE, REVIEW_VERDICTS,
                                                PREDICTIONS, PREDICTION_FINDINGS, EMBEDDING_METRICS,
                                                WORKER_EVENTS, WORKER_TASKS,
                                                AUDIT_CHANGES, WORKER_QUALITY, VALIDATIONS)}


def markdown() -> str:
    """The lake tables as Markdown (README's table reference is this text)."""
    out = []
    for t in TABLES.values():
        part = f" Partitioned by `{', '.join(t.partition_by)}`." if t.partition_by else ""
        out.append(f"#### `{t.name}`: one row per {t.row}.{part}\n")
        out.append("| column | type | meaning |\n|---|---|---|")
        out += [f"| `{c.name}` | `{c.type.ddl}` | {c.comment.replace('<', '&lt;')} |" for c in t.columns]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
