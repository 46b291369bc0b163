"""Flatten SeqLabel.json files into frames, boxes and shapes with Spark, refusing bad records.

Spark's JSON reader parses the files (multiLine: one file is one record) against an explicit
schema whose leaves are strings, so an int or a string `frame-no` both read. Two schemas:

* typed (the fast path): attribute objects read straight into map<string,string>;
* raw (for files the typed read marks corrupt): attribute objects read as raw JSON text and
  parsed per frame and per box, so one bad attributes value refuses that frame or box, not the file.

Checks are Column expressions that are null when a record passes and a reason code when it fails
(house style: checks return data, not exceptions). Everything is a narrow transformation: no
shuffle, whatever the number of files.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from gtlake.jobs import seqlabel_repair as repair
from gtlake.records import RECORD_MAX_CHARS
from gtlake.safejson import MAX_NUMBER_CHARS, MAX_STRING_CHARS
from gtlake.schemas import FRAMES, REJECTED

S = T.StringType()
ATTRS = T.MapType(S, S)


def seqlabel_schema(typed: bool) -> T.StructType:
    """Schema of a SeqLabel.json file; attribute objects as maps (typed), or raw JSON strings with the marks of
    `seqlabel_repair` (raw: what that module writes)."""
    attrs = ATTRS if typed else S
    marks = [] if typed else [T.StructField(n, S) for n in (repair.REASON, repair.DETAIL, repair.RECORD)]
    box = T.StructType([T.StructField(n, S) for n in (
        "height", "width", "top", "left", "class-id", "object-id", "object-name")]
        + [T.StructField("label-category-attributes", attrs)] + marks)
    vertex = T.StructType([T.StructField("x", S), T.StructField("y", S)])
    shape = T.StructType([T.StructField("vertices", T.ArrayType(vertex))] + [T.StructField(n, S) for n in (
        "x", "y", "class-id", "object-id", "object-name")] + [T.StructField("label-category-attributes", attrs)]
        + marks)
    frame = T.StructType([
        T.StructField("frame-no", S), T.StructField("frame", S), T.StructField("frame-attributes", attrs),
        T.StructField("annotations", T.ArrayType(box)), T.StructField("polylines", T.ArrayType(shape)),
        T.StructField("polygons", T.ArrayType(shape)), T.StructField("keypoints", T.ArrayType(shape)),
    ] + marks + ([] if typed else [T.StructField(repair.IMAGE_WIDTH, S), T.StructField(repair.IMAGE_HEIGHT, S)]))
    return T.StructType([
        T.StructField("tracking-annotations", T.ArrayType(frame)),
        T.StructField("detection-annotations", T.ArrayType(frame)),
        T.StructField("_corrupt_record", S),
    ] + ([] if typed else [T.StructField(repair.PATH, S)] + marks))
SHAPE_LISTS = (("polylines", "polyline"), ("polygons", "polygon"), ("keypoints", "keypoint"))
OVERSIZED = (f"a value is longer than a stored value may be ({MAX_STRING_CHARS:,} characters of text, "
             f"{MAX_NUMBER_CHARS} of a number)")
INT_MAX = 2**31 - 1

# Columns every row carries from its sequence (joined from the manifest on the file path).
SEQ_COLS = ["job_name", "sequence_id", "task_type", "class_map", "source_uri"]


def read_labels(spark: SparkSession, spark_paths: list[str]) -> DataFrame:
    """One row per non-empty labels file, typed: the parsed frames (or `_corrupt_record`) and `_path` (Spark's URI
    of the file)."""
    return (
        spark.read.schema(seqlabel_schema(True))
        .option("multiLine", True)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", "_corrupt_record")
        .json(spark_paths)
        .withColumn("_path", F.col("_metadata.file_path"))
    )


def read_repaired(spark: SparkSession, documents) -> DataFrame:  # noqa: ANN001 - an RDD of str
    """One row per document of `seqlabel_repair` (an RDD of its JSON lines), raw, with `_path` (its key)."""
    return (spark.read.schema(seqlabel_schema(False)).option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", "_corrupt_record").json(documents)
            .withColumnRenamed(repair.PATH, "_path"))


def storage_path(spark_file_path: Column) -> Column:
    """The local path or s3:// URI of a file from the URI Spark reports (file:/a%20b, s3a://b/k)."""
    p = F.regexp_replace(spark_file_path, r"\+", "%2B")  # url_decode would read '+' as a space
    p = F.regexp_replace(F.regexp_replace(p, "^file:/+", "/"), "^s3[an]?://", "s3://")
    return F.url_decode(p)


def _bad_number(c: Column) -> Column:
    return c.isNull() | F.isnan(c) | (F.abs(c) == float("inf"))


def _cut(c: Column, n: int = RECORD_MAX_CHARS) -> Column:
    return F.substring(c, 1, n)


def _mark(struct: Column | None, name: str, typed: bool) -> Column:
    """A mark of `seqlabel_repair` (on a record `struct`, or on the file when None); null in typed rows."""
    if typed:
        return F.lit(None).cast("string")
    return F.col(name) if struct is None else struct[name]


def _without_marks(struct: Column, typed: bool) -> Column:
    return struct if typed else struct.dropFields(repair.REASON, repair.DETAIL, repair.RECORD)


def file_reason(df: DataFrame, typed: bool = True) -> Column:
    """Why a whole labels file is refused, or null."""
    return F.coalesce(_mark(None, repair.REASON, typed), (
        F.when(F.col("_corrupt_record").isNotNull(), F.lit("malformed_labels_file"))
        .when(F.col("tracking-annotations").isNull() & F.col("detection-annotations").isNull(),
              F.lit("unexpected_structure"))
    ))


def _file_detail() -> Column:
    return F.coalesce(F.col("_file_detail"), F.when(
        F.col("file_reason") == "malformed_labels_file",
        F.lit("not valid JSON, or not the SeqLabel structure (a list of frames, each with lists of objects)"))
        .otherwise(F.lit("no 'tracking-annotations' or 'detection-annotations' list")))


def _text_too_long(*texts: Column) -> Column:
    """Whether any of the strings is longer than a stored value may be (nulls are not)."""
    return F.greatest(*[F.coalesce(F.length(t), F.lit(0)) for t in texts], F.lit(0)) > MAX_STRING_CHARS


def _map_too_long(m: Column) -> Column:
    """Whether a map's keys and values together are longer than one stored value may be."""
    return (F.coalesce(F.length(F.concat_ws("", F.map_keys(m))), F.lit(0))
            + F.coalesce(F.length(F.concat_ws("", F.map_values(m))), F.lit(0))) > MAX_STRING_CHARS


def _number_too_long(*texts: Column) -> Column:
    return F.greatest(*[F.coalesce(F.length(t), F.lit(0)) for t in texts]) > MAX_NUMBER_CHARS


def _attributes(raw_or_map: Column, typed: bool) -> tuple[Column, Column]:
    """(attributes as a map, whether the raw value was not a JSON object)."""
    if typed:
        return raw_or_map, F.lit(False)
    parsed = F.from_json(raw_or_map, ATTRS)
    return parsed, raw_or_map.isNotNull() & parsed.isNull()


def with_frames(df: DataFrame, typed: bool = True) -> DataFrame:
    """Files exploded to one row per listed frame, with `frame_reason` (null if the frame is fine).

    A file refused whole keeps one row, with `file_reason` set and no frame; so does a file whose
    list of frames is empty (a video with nothing labeled), with neither: every file read leaves a row.
    """
    # Field extraction from an array of structs is native (a lambda here costs 5x the whole parse).
    nos = F.col("frames")["frame-no"].cast("array<double>")
    exploded = (
        df.select(*SEQ_COLS, "_path", file_reason(df, typed).alias("file_reason"),
                  F.coalesce(_mark(None, repair.RECORD, typed), _cut(F.col("_corrupt_record"))).alias("file_record"),
                  _mark(None, repair.DETAIL, typed).alias("_file_detail"),
                  F.coalesce("tracking-annotations", "detection-annotations").alias("frames"))
        .select("*", _file_detail().alias("file_detail"), nos.alias("_nos"),
                (F.size(F.array_distinct(nos)) < F.size(nos)).alias("_frame_dups"))
        .select(*SEQ_COLS, "_path", "file_reason", "file_detail", "file_record", "_nos", "_frame_dups",
                F.posexplode_outer(F.when(F.col("file_reason").isNull(), F.col("frames")))
                .alias("frame_idx", "f"))
    )
    f = F.col("f")
    fno = f["frame-no"].cast("double")
    attrs_raw = f["frame-attributes"]
    attrs, attrs_bad = _attributes(attrs_raw, typed)
    mark = _mark(f, repair.REASON, typed)
    reason = (
        F.when(F.col("file_reason").isNotNull(), F.lit(None))
        .when(mark.isNotNull(), mark)
        .when(_text_too_long(f["frame"], f["frame-no"]) | _map_too_long(attrs), F.lit("oversized_value"))
        .when(F.col("f")["frame-no"].isNull(), F.lit("missing_frame_no"))
        .when(_bad_number(fno) | (fno < 0) | (fno != F.floor(fno)) | (fno > INT_MAX), F.lit("invalid_frame_no"))
        .when(attrs_bad, F.lit("invalid_frame_attributes"))
        .when(F.col("_frame_dups") & (F.expr("array_position(_nos, CAST(f.`frame-no` AS DOUBLE))")
                                      != F.col("frame_idx") + 1), F.lit("duplicate_frame"))
    )
    judged = exploded.select("*", reason.alias("frame_reason"))  # kept apart from the texts, as in `with_boxes`
    r = F.col("frame_reason")
    detail = (
        F.when(mark.isNotNull(), _mark(f, repair.DETAIL, typed))
        .when(r == "oversized_value", F.lit(f"the frame's file name or attributes are longer than "
                                             f"{MAX_STRING_CHARS:,} characters"))
        .when(r == "missing_frame_no", F.lit("the frame has no frame-no"))
        .when(r == "invalid_frame_no",
              F.concat(F.lit("frame-no must be an integer >= 0, found "), F.col("f")["frame-no"]))
        .when(r == "invalid_frame_attributes",
              F.concat(F.lit("frame-attributes must be an object, found "), _cut(attrs_raw.cast("string"))))
        .when(r == "duplicate_frame", F.lit("frame-no already listed earlier in the file; the first is kept"))
    )
    return judged.select(
        *SEQ_COLS, "_path", "file_reason", "file_detail", "file_record", "frame_idx", "f",
        fno.cast("int").alias("frame_no"),
        F.col("f")["frame"].alias("frame_file"),
        attrs.alias("frame_attributes"),
        listed_count(f, ["annotations", *[k for k, _ in SHAPE_LISTS]]).alias("listed_shapes"),
        _mark(f, repair.IMAGE_WIDTH, typed).cast("int").alias("image_width"),
        _mark(f, repair.IMAGE_HEIGHT, typed).cast("int").alias("image_height"),
        "frame_reason", detail.alias("frame_detail"),
        F.concat(F.lit("frame-no="), F.coalesce(F.col("f")["frame-no"], F.lit("null")),
                 F.lit(" (frames["), F.col("frame_idx"), F.lit("])")).alias("frame_locator"),
    )


def listed_count(struct: Column, lists: list[str]) -> Column:
    """How many elements the struct's lists hold together (an absent list holds none: Spark's size(null) is -1)."""
    total = F.lit(0)
    for key in lists:
        total = total + F.greatest(F.size(struct[key]), F.lit(0))
    return total


def listed_frames(fr: DataFrame) -> DataFrame:
    """The frame rows of files that were not refused whole (files listing no frame have none)."""
    return fr.where(F.col("file_reason").isNull() & F.col("f").isNotNull())


def frames_table(fr: DataFrame, stored: DataFrame) -> DataFrame:
    """The `frames` rows: frames that passed their checks, with `shape_count` from `stored` (job_name,
    sequence_id, frame_no, shape_count: the frame's rows in `boxes` and `shapes`)."""
    key = ["job_name", "sequence_id", "frame_no"]
    return (listed_frames(fr).where(F.col("frame_reason").isNull())
            .join(stored, on=key, how="left")
            .withColumn("shape_count", F.coalesce(F.col("shape_count"), F.lit(0)).cast("int"))
            .select(*FRAMES.names))


def _class_reason(class_id: Column) -> Column:
    has_map = F.col("class_map").isNotNull() & (F.size("class_map") > 0)
    return has_map & (class_id.isNull() | ~F.array_contains(F.map_keys("class_map"), F.coalesce(class_id, F.lit(""))))


def _if_refused(reason: Column, value: Column) -> Column:
    """`value` where the record is refused, else null: what only `rejected` keeps (the record's text, where it
    was) is not built for the records that pass."""
    return F.when(reason.isNotNull(), value)


def with_boxes(fr: DataFrame, typed: bool = True) -> DataFrame:
    """One row per listed box, typed, with `reason` (null if the box is fine), and `detail`, `locator` and
    `record` where it is refused.

    Built in three projections that Spark keeps apart (each result is read many times by the next, so the
    optimizer does not inline it): the box's typed values, then its reason, then the texts from the reason. One
    projection inlined the reason's whole CASE into every comparison of the detail (5x the time of the explode)."""
    ids = F.col("f")["annotations"]["object-id"]
    exploded = listed_frames(fr).select(
        "*", ids.alias("_ids"), (F.size(F.array_distinct(ids)) < F.size(ids)).alias("_id_dups"),
        F.posexplode(F.col("f")["annotations"]).alias("box_index", "b"),
    )
    b = F.col("b")
    attrs, attrs_bad = _attributes(b["label-category-attributes"], typed)
    flat = exploded.select(
        *SEQ_COLS, "frame_no", "frame_file", "frame_locator", "frame_reason", "_ids", "_id_dups", "b",
        F.col("box_index").cast("int").alias("box_index"),
        *[b[k].cast("double").alias(k) for k in ("left", "top", "width", "height")],
        attrs.alias("attributes"), attrs_bad.alias("_attrs_bad"))
    left, top, width, height = (F.col(k) for k in ("left", "top", "width", "height"))
    tracking = F.col("task_type") == "groundtruth/video-object-tracking"
    mark = _mark(b, repair.REASON, typed)
    reason = (
        F.when(F.col("frame_reason").isNotNull(), F.lit("parent_rejected"))
        .when(mark.isNotNull(), mark)
        .when(_text_too_long(b["object-id"], b["object-name"], b["class-id"]) | _map_too_long(F.col("attributes"))
              | _number_too_long(b["left"], b["top"], b["width"], b["height"]), F.lit("oversized_value"))
        .when(_bad_number(width) | _bad_number(height) | (width <= 0) | (height <= 0), F.lit("invalid_box_size"))
        .when(_bad_number(left) | _bad_number(top), F.lit("invalid_box_position"))
        .when(tracking & (F.coalesce(b["object-id"], F.lit("")) == ""), F.lit("missing_object_id"))
        .when(F.col("_id_dups") & b["object-id"].isNotNull()
              & (F.expr("array_position(_ids, b.`object-id`)") != F.col("box_index") + 1), F.lit("duplicate_object_id"))
        .when(_class_reason(b["class-id"]), F.lit("unknown_class_id"))
        .when(F.col("_attrs_bad"), F.lit("invalid_attributes"))
    )
    judged = flat.select("*", reason.alias("reason"))
    r = F.col("reason")
    detail = (
        F.when(r == "parent_rejected", F.concat(F.lit("its frame was refused: "), F.col("frame_reason")))
        .when(mark.isNotNull(), _mark(b, repair.DETAIL, typed))
        .when(r == "oversized_value", F.lit(OVERSIZED))
        .when(r == "invalid_box_size", F.concat_ws("", F.lit("width and height must be numbers > 0, found width="),
                                                   F.coalesce(b["width"], F.lit("null")), F.lit(", height="),
                                                   F.coalesce(b["height"], F.lit("null"))))
        .when(r == "invalid_box_position", F.concat_ws("", F.lit("left and top must be numbers, found left="),
                                                       F.coalesce(b["left"], F.lit("null")), F.lit(", top="),
                                                       F.coalesce(b["top"], F.lit("null"))))
        .when(r == "missing_object_id", F.lit("a tracking box needs an object-id"))
        .when(r == "duplicate_object_id", F.lit("object-id already used by an earlier box on this frame; "
                                                "the first is kept"))
        .when(r == "unknown_class_id", F.concat(F.lit("class-id "), F.coalesce(b["class-id"], F.lit("null")),
                                                F.lit(" is not in the class map")))
        .when(r == "invalid_attributes", F.concat(F.lit("label-category-attributes must be an object, found "),
                                                  _cut(b["label-category-attributes"].cast("string"))))
    )
    return judged.select(
        *SEQ_COLS, "frame_no", "frame_file",
        b["object-id"].alias("object_id"), b["object-name"].alias("object_name"), b["class-id"].alias("class_id"),
        F.element_at("class_map", F.coalesce(b["class-id"], F.lit(""))).alias("label"),
        "left", "top", "width", "height", "attributes", "box_index", "reason", detail.alias("detail"),
        _if_refused(r, F.concat(F.col("frame_locator"), F.lit(", annotations["), F.col("box_index"),
                                F.lit("], object-id="), F.coalesce(_cut(b["object-id"], 200), F.lit("null"))))
        .alias("locator"),
        _if_refused(r, F.coalesce(_mark(b, repair.RECORD, typed), _cut(F.to_json(_without_marks(b, typed)))))
        .alias("record"),
    )


def with_shapes(fr: DataFrame, typed: bool = True) -> DataFrame:
    """One row per listed polyline, polygon or keypoint, with `reason` (null if the shape is fine), and `detail`,
    `locator` and `record` where it is refused."""
    parts = []
    for key, kind in SHAPE_LISTS:
        parts.append(listed_frames(fr).select("*", F.lit(kind).alias("shape_type"), F.lit(key).alias("_list"),
                               F.posexplode(F.col("f")[key]).alias("shape_index", "s")))
    exploded = parts[0].unionByName(parts[1]).unionByName(parts[2])
    s = F.col("s")
    point = F.array(F.struct(s["x"].alias("x"), s["y"].alias("y")))
    raw_vertices = F.when(F.col("shape_type") == "keypoint", point).otherwise(s["vertices"])
    vertices = F.transform(raw_vertices, lambda v: F.struct(v["x"].cast("double").alias("x"),
                                                            v["y"].cast("double").alias("y")))
    attrs, attrs_bad = _attributes(s["label-category-attributes"], typed)
    flat = exploded.select(  # the projections kept apart as in `with_boxes`
        *SEQ_COLS, "frame_no", "frame_file", "frame_locator", "frame_reason", "shape_type", "_list", "s",
        F.col("shape_index").cast("int").alias("shape_index"), vertices.alias("vertices"),
        attrs.alias("attributes"), attrs_bad.alias("_attrs_bad"))
    vertices = F.col("vertices")
    bad_vertex = F.exists(vertices, lambda v: _bad_number(v["x"]) | _bad_number(v["y"]))
    mark = _mark(s, repair.REASON, typed)
    reason = (
        F.when(F.col("frame_reason").isNotNull(), F.lit("parent_rejected"))
        .when(mark.isNotNull(), mark)
        .when(_text_too_long(s["object-id"], s["object-name"], s["class-id"]) | _map_too_long(F.col("attributes")),
              F.lit("oversized_value"))
        .when(vertices.isNull() | (F.size(vertices) == 0) | bad_vertex, F.lit("invalid_vertices"))
        .when(_class_reason(s["class-id"]), F.lit("unknown_class_id"))
        .when(F.col("_attrs_bad"), F.lit("invalid_attributes"))
    )
    judged = flat.select("*", reason.alias("reason"))
    r = F.col("reason")
    detail = (
        F.when(r == "parent_rejected", F.concat(F.lit("its frame was refused: "), F.col("frame_reason")))
        .when(mark.isNotNull(), _mark(s, repair.DETAIL, typed))
        .when(r == "oversized_value", F.lit(OVERSIZED))
        .when(r == "invalid_vertices", F.lit("points must have numeric x and y (and a polyline/polygon at "
                                             "least one point)"))
        .when(r == "unknown_class_id", F.concat(F.lit("class-id "), F.coalesce(s["class-id"], F.lit("null")),
                                                F.lit(" is not in the class map")))
        .when(r == "invalid_attributes", F.lit("label-category-attributes must be an object"))
    )
    return judged.select(
        *SEQ_COLS, "frame_no", "frame_file", "shape_type", "shape_index",
        s["object-id"].alias("object_id"), s["object-name"].alias("object_name"), s["class-id"].alias("class_id"),
        F.element_at("class_map", F.coalesce(s["class-id"], F.lit(""))).alias("label"),
        "vertices", "attributes", "reason", detail.alias("detail"),
        _if_refused(r, F.concat(F.col("frame_locator"), F.lit(", "), F.col("_list"), F.lit("["),
                                F.col("shape_index"), F.lit("]"))).alias("locator"),
        _if_refused(r, F.coalesce(_mark(s, repair.RECORD, typed), _cut(F.to_json(_without_marks(s, typed)))))
        .alias("record"),
    )


CHECKED_COLS = ["reason", "detail", "locator", "record"]


def checked(rows: DataFrame, table_cols: list[str]) -> DataFrame:
    """What a record kind's checked rows (`with_boxes`, `with_shapes`) keep: the table's columns and the verdict,
    from which `accepted` and `refused` split the table's rows and the refusals."""
    return rows.select(*table_cols, *[c for c in CHECKED_COLS if c not in table_cols])


def accepted(rows: DataFrame, table_cols: list[str]) -> DataFrame:
    """Rows that passed, as the table's columns."""
    return rows.where(F.col("reason").isNull()).select(*table_cols)


def refused(rows: DataFrame, kind: str, run_id: str) -> DataFrame:
    """Rows that failed (a non-null `reason`), as `rejected` rows: the columnar form of `gtlake.records.Reject.row`,
    for refusals made inside Spark plans (every other refusal is a `Reject`)."""
    return rows.where(F.col("reason").isNotNull()).select(
        F.lit(run_id).alias("run_id"), "source_uri", "locator", F.lit(kind).alias("record_kind"),
        F.col("reason").alias("reason_code"), "detail", "record", "job_name", F.lit("ingest").alias("step"),
    ).select(*REJECTED.names)


def refused_frames(fr: DataFrame, run_id: str, typed: bool = True) -> DataFrame:
    """Frames that failed their checks, as `rejected` rows."""
    f = F.col("f")
    record = F.coalesce(_mark(f, repair.RECORD, typed), _cut(F.to_json(_without_marks(f, typed))))
    return refused(listed_frames(fr).select("*", F.col("frame_reason").alias("reason"),
                                            F.col("frame_detail").alias("detail"), F.col("frame_locator").alias("locator"),
                                            record.alias("record")), "frame", run_id)


def refused_files(fr: DataFrame, run_id: str) -> DataFrame:
    """Labels files refused whole, as `rejected` rows."""
    return refused(fr.select("*", F.col("file_reason").alias("reason"), F.col("file_detail").alias("detail"),
                             F.lit("file").alias("locator"), F.col("file_record").alias("record")), "labels_file", run_id)
