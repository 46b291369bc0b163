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
    JOB,
), ("job_name",))

FRAMES = Table("frames", "frame of a sequence listed in its labels file", (
    SEQ, FRAME_NO, FRAME_FILE,
    _c("frame_attributes", STRING_MAP, "Frame attributes (values of nested objects as raw JSON); null if absent"),
    _c("shape_count", INT, "Shapes (boxes, polylines, ...) listed on the frame"),
    SOURCE, JOB,
), ("job_name",))

BOXES = Table("boxes", "bounding box on a frame", (
    SEQ, FRAME_NO, FRAME_FILE,
    _c("object_id", STRING, "Ground Truth object-id, stable across the frames of a track (null in detection jobs)"),
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
), ("job_name",))

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
    _c("record_kind", STRING, "job_folder / sequence / labels_file / frame / box / shape / worker_response_file / worker_answer"),
    _c("reason_code", STRING, "Why it was refused (see README: reason codes)"),
    _c("detail", STRING, "What was expected and what was found"),
    _c("record", STRING, "The refused record, raw (cut at 2000 characters)"),
    JOB,
), ("job_name",))

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
                                  "duplicate_box, id_swap (empty: nothing found)")

BOX_METRICS = Table("box_metrics", "tracked box, with its frame-to-frame metrics and flags", (
    SEQ, FRAME_NO, FRAME_FILE, OBJ, OBJ_NAME,
    _c("class_id", STRING, "class-id as written"),
    _c("label", STRING, "Class name"),
    _c("left", DOUBLE, "Left edge, pixels"), _c("top", DOUBLE, "Top edge, pixels"),
    _c("width", DOUBLE, "Width, pixels"), _c("height", DOUBLE, "Height, pixels"),
    _c("iou_prev", DOUBLE, "IoU with the track's previous box (null on its first box)"),
    _c("center_shift", DOUBLE, "Centre distance to the previous box, in box sizes (sqrt of area)"),
    _c("area_change", DOUBLE, "log(area / previous area): +0.22 is 25% larger"),
    _c("aspect_change", DOUBLE, "log(aspect ratio / previous aspect ratio)"),
    _c("gap_before", INT, "Frames the track was absent just before this box"),
    _c("missing_before", INT, "Of those, frames where a box is missing (queued as missing_box); 0 for occlusions"),
    _c("residual", DOUBLE, "Largest edge deviation from the track's path, in units of its tolerance (> 1: off)"),
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
    _c("iou_mode", DOUBLE, "Most frequent frame-to-frame IoU, rounded to 0.01"),
    _c("iou_min", DOUBLE, "Lowest frame-to-frame IoU"), _c("iou_p10", DOUBLE, "10th percentile of frame-to-frame IoU"),
    _c("peer_z", DOUBLE, "Robust z-score of iou_p10 among tracks of the same class and job (negative: worse)"),
    _c("flagged_boxes", INT, "Boxes of the track with at least one flag"),
    _c("flags", STRING_ARRAY, "Reasons found on the track, with track_outlier when far below its peers"),
    JOB,
), ("job_name",))

REVIEW_QUEUE = Table("review_queue", "(frame, object) to audit, most suspect first", (
    SEQ, FRAME_NO, FRAME_FILE, OBJ, OBJ_NAME,
    _c("label", STRING, "Class name"),
    _c("reasons", STRING_ARRAY, "All reasons for this frame and object (missing_box: no box where one is expected)"),
    _c("score", DOUBLE, "Highest reason score, plus 0.25 per further reason"),
    _c("rank", INT, "1 = review first, within the job"),
    _c("source_ref", STRING, "The sequence file of the video"),
    _c("labels_ref", STRING, "The labels file as written in the output manifest"),
    JOB,
), ("job_name",))

TABLES: dict[str, Table] = {t.name: t for t in (SEQUENCES, FRAMES, BOXES, SHAPES, WORKER_RESPONSES, REJECTED, RUNS,
                                                BOX_METRICS, TRACK_SUMMARY, REVIEW_QUEUE)}


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
