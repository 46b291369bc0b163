"""Data-quality gates: each table's suite passes on a clean lake and catches each fault planted in it, naming the
table, column and rule; `gtlake validate` records the findings and fails (or warns) on a lake damaged by hand."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from pyspark.sql import functions as F

from gtlake.validation import VALIDATED, validate
from tests.conftest import REPO, read_table

pytestmark = pytest.mark.spark


def _table(spark, lake, name):
    path = f"file://{lake}/{name}"
    return spark.read.option("basePath", path).parquet(path)


def _break_row(df, key_col, n, **changes):
    """`df` with the n-th row (by `key_col` order, 0-based) changed: column -> value (a Column or a literal)."""
    from pyspark.sql.window import Window

    w = Window.orderBy(*[F.col(c) if isinstance(c, str) else c() for c in key_col])
    df = df.withColumn("_n", F.row_number().over(w) - 1)
    for col, value in changes.items():
        value = value if hasattr(value, "alias") else F.lit(value)
        df = df.withColumn(col, F.when(F.col("_n") == n, value.cast(df.schema[col].dataType)).otherwise(F.col(col)))
    return df.drop("_n")


def _duplicate_row(df, key_col, n):
    from pyspark.sql.window import Window

    w = Window.orderBy(*[F.col(c) if isinstance(c, str) else c() for c in key_col])
    one = df.withColumn("_n", F.row_number().over(w) - 1).where(F.col("_n") == n).drop("_n")
    return df.unionByName(one)


BOX_ORDER = ["job_name", "sequence_id", "frame_no", "box_index"]
TRACK_ORDER = ["job_name", "sequence_id", "frame_no", "object_id"]
LABELED_FIRST = [lambda: F.col("object_id").isNull(), *TRACK_ORDER]  # entries of a labeled object, then overlooked
ENTRY_KEY = "job_name, sequence_id, frame_no, object_id, model_left, model_top, model_width, model_height"
PRED_ORDER = ["job_name", "sequence_id", "frame_no", "left", "top", "label", "score"]
FIND_ORDER = ["job_name", "sequence_id", "frame_no", "reason", "left", "top"]

FRAME_ORDER = ["source_uri", "frame_file"]  # unique, and kept by the faults below (which move rows in key order)

# table -> (how to break it: one fault per rule, each in its own row) and the rules that must then fail
FAULTS = {
    "jobs": (lambda df: _duplicate_row(_break_row(_break_row(_break_row(
        df, ["job_name"], 0, role="guessed"), ["job_name"], 1, boxes=-1), ["job_name"], 2,
        labeled_sequences=F.col("sequences") + 1), ["job_name"], 3),
        {("role", "allowed values"), ("boxes", "values >= 0"), ("job_name", "unique key"),
         ("labeled_sequences, sequences", "labeled_sequences <= sequences")}),
    "frames": (lambda df: _duplicate_row(_break_row(_break_row(_break_row(_break_row(_break_row(_break_row(
        df, FRAME_ORDER, 0, image_width=0), FRAME_ORDER, 1, listed_shapes=-5), FRAME_ORDER, 2,
        shape_count=F.col("shape_count") + 1, listed_shapes=F.col("listed_shapes") + 1), FRAME_ORDER, 3,
        sequence_id="no-such-job:9", shape_count=0, listed_shapes=0), FRAME_ORDER, 5, frame_no=-1, shape_count=0,
        listed_shapes=0), FRAME_ORDER, 6, shape_count=None), FRAME_ORDER, 4),
        {("image_width", "values > 0"), ("shape_count, listed_shapes", "shape_count <= listed_shapes"),
         ("shape_count", "equals the frame's rows in boxes and shapes"),
         ("job_name, sequence_id", "exists in sequences"), ("frame_no", "values >= 0"), ("shape_count", "not null"),
         ("job_name, sequence_id, frame_no", "unique key")}),
    "boxes": (lambda df: _duplicate_row(_break_row(_break_row(_break_row(_break_row(_break_row(
        df, BOX_ORDER, 1, width=-3.0), BOX_ORDER, 2, height=0.0), BOX_ORDER, 3, frame_no=-1), BOX_ORDER, 4,
        sequence_id="no-such-job:9"), BOX_ORDER, 5, left=None), BOX_ORDER, 6),
        {("width", "values > 0"), ("height", "values > 0"), ("frame_no", "values >= 0"),
         ("job_name, sequence_id", "exists in sequences"), ("left", "not null"),
         ("job_name, sequence_id, frame_no, box_index", "unique key")}),
    "sequences": (lambda df: _duplicate_row(_break_row(
        df, ["job_name", "sequence_id"], 1, data_object_index=-1), ["job_name", "sequence_id"], 2),
        {("data_object_index", "values >= 0"), ("job_name, sequence_id, label_attribute", "unique key")}),
    "worker_tasks": (lambda df: _break_row(_break_row(_break_row(
        df, ["job_name", "worker_id", "event_key"], 0, wall_seconds=-5.0), ["job_name", "worker_id", "event_key"], 1,
        active_seconds=-1.0), ["job_name", "worker_id", "event_key"], 2, source="guessed"),
        {("wall_seconds", "values >= 0"), ("active_seconds", "values >= 0"), ("source", "allowed values")}),
    "box_metrics": (lambda df: _break_row(_break_row(
        df, TRACK_ORDER, 1, iou_prev=1.5), TRACK_ORDER, 2, flags=F.array(F.lit("low_iou"), F.lit("bogus"))),
        {("iou_prev", "values >= 0 and <= 1"), ("flags", "allowed values")}),
    "review_queue": (lambda df: _duplicate_row(_break_row(_break_row(_break_row(_break_row(
        df, LABELED_FIRST, 0, reasons=F.array(F.lit("<script>"))), LABELED_FIRST, 1, score=-2.0), LABELED_FIRST, 3,
        object_id=None), LABELED_FIRST, 4, model_width=-1.0), LABELED_FIRST, 2),
        {("reasons", "allowed values"), ("score", "values > 0"), (ENTRY_KEY, "unique key"),
         ("job_name, rank", "unique key"), ("object_id", "null only for overlooked"), ("model_width", "values > 0")}),
    "review_verdicts": (lambda df: _duplicate_row(_break_row(_break_row(_break_row(_break_row(_break_row(
        df, LABELED_FIRST, 0, verdict="maybe"), LABELED_FIRST, 1, frame_no=-1), LABELED_FIRST, 2,
        sequence_id="no-such-job:9"), LABELED_FIRST, 3, reasons=F.array(F.lit("bogus"))), LABELED_FIRST, 5,
        object_id=None), LABELED_FIRST, 4),
        {("verdict", "allowed values"), ("frame_no", "values >= 0"), ("job_name, sequence_id", "exists in sequences"),
         ("reasons", "allowed values"), (ENTRY_KEY + ", reviewer", "unique key"),
         ("object_id", "null only for overlooked")}),
    "predictions": (lambda df: _break_row(_break_row(_break_row(_break_row(
        df, PRED_ORDER, 0, score=1.5), PRED_ORDER, 1, width=0.0), PRED_ORDER, 2, sequence_id="no-such-job:9"),
        PRED_ORDER, 3, model=None),
        {("score", "values >= 0 and <= 1"), ("width", "values > 0"), ("job_name, sequence_id", "exists in sequences"),
         ("model", "not null")}),
    "prediction_findings": (lambda df: _break_row(_break_row(
        df, FIND_ORDER, 0, reason="looks odd"), FIND_ORDER, 1, frames=0),
        {("reason", "allowed values"), ("frames", "values >= 1")}),
    "embedding_metrics": (lambda df: _break_row(_break_row(_break_row(
        df, TRACK_ORDER, 0, appearance_distance=2.5), TRACK_ORDER, 1, crop_status="guessed"), TRACK_ORDER, 2,
        flags=F.array(F.lit("bogus"))),
        {("appearance_distance", "values >= 0 and <= 2"), ("crop_status", "allowed values"),
         ("flags", "allowed values")}),
    "audit_changes": (lambda df: _break_row(_break_row(_break_row(
        df, ["audit_job", "sequence_id", "frame_no", "object_id"], 0, change="teleported"),
        ["audit_job", "sequence_id", "frame_no", "object_id"], 1, iou=-0.25),
        ["audit_job", "sequence_id", "frame_no", "object_id"], 2, source_job="no-such-job"),
        {("change", "allowed values"), ("iou", "values >= 0 and <= 1"),
         ("source_job, sequence_id", "exists in sequences")}),
}


def test_every_validated_table_has_a_fault_test():
    assert set(FAULTS) == set(VALIDATED)


@pytest.mark.parametrize("table", sorted(FAULTS))
def test_suite_catches_each_planted_fault_and_nothing_else(spark, pipeline_lake, table):
    from gtlake.schemas import SHAPES

    lake = pipeline_lake["lake"]
    refs = {"sequences": _table(spark, lake, "sequences"), "boxes": _table(spark, lake, "boxes"),
            "shapes": spark.createDataFrame([], SHAPES.spark_schema())}  # the sample has no shapes
    clean = _table(spark, lake, table)  # passes every rule: the command test validates the same lake
    assert clean.count() >= 3, table
    breaker, expected = FAULTS[table]
    broken = validate(spark, table, breaker(clean), refs)
    failed = {(f.column, f.rule): f for f in broken if not f.success}
    assert set(failed) == expected, table  # each fault caught, and nothing else
    for (column, rule), f in failed.items():
        assert f.message().startswith(f"{table}.{column}: {rule}: FAILED - "), f.message()
        if rule != "unique key":  # a duplicated row counts twice
            assert f.unexpected == 1, f.message()


def test_schema_and_type_drift_are_caught(spark, pipeline_lake):
    lake = pipeline_lake["lake"]
    boxes = _table(spark, lake, "boxes").limit(50)
    drifted = boxes.withColumn("rotation", F.lit(0.0)).drop("height")
    failed = {(f.column, f.rule) for f in validate(spark, "boxes", drifted) if not f.success}
    assert (None, "schema") in failed
    retyped = boxes.withColumn("frame_no", F.col("frame_no").cast("string"))
    failed = {(f.column, f.rule) for f in validate(spark, "boxes", retyped) if not f.success}
    assert failed >= {("frame_no", "type int")}
    # without the referenced table the reference rule cannot pass silently
    missing_ref = {(f.column, f.rule, f.success) for f in validate(spark, "boxes", boxes)}
    assert (None, "exists in sequences", False) in missing_ref


def test_validate_command_records_findings_and_fails_on_a_lake_damaged_by_hand(pipeline_lake, tmp_path):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    lake = tmp_path / "lake"
    shutil.copytree(pipeline_lake["lake"], lake, ignore=shutil.ignore_patterns("_gtlake"))
    env = dict(os.environ, PYTHONPATH=str(REPO), PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    cmd = [sys.executable, "-m", "gtlake.cli", "validate", "--lake", str(lake)]
    clean = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert clean.returncode == 0, clean.stdout[-2000:] + clean.stderr[-2000:]
    assert f"{len(VALIDATED)} tables" in clean.stdout and ", 0 broken" in clean.stdout

    # someone edits a committed file: one box gets a negative width
    part = next(p for p in sorted((lake / "boxes").rglob("*.parquet")))
    t = pq.read_table(part)
    width = t.column("width").to_numpy().copy()
    width[0] = -1.0
    pq.write_table(t.set_column(t.schema.get_field_index("width"), "width", pc.cast(width, t.schema.field("width").type)),
                   part)
    (part.parent / f".{part.name}.crc").unlink(missing_ok=True)  # the editing tool knows nothing of Hadoop's checksums
    damaged = subprocess.run(cmd + ["--table", "boxes"], capture_output=True, text=True, env=env, timeout=900)
    assert damaged.returncode == 1 and "Traceback" not in damaged.stderr
    assert "boxes.width: values > 0: FAILED - 1 of" in damaged.stderr
    warned = subprocess.run(cmd + ["--table", "boxes", "--on-failure", "warn"], capture_output=True, text=True,
                            env=env, timeout=900)
    assert warned.returncode == 0 and "boxes.width: values > 0: FAILED" in warned.stdout

    found = read_table(lake, "validations")
    assert set(found.scope) == {"input", "output", "lake"}  # the pipeline's jobs checked what they read and wrote
    jobs = found[found.scope != "lake"]
    assert set(zip(jobs.step, jobs.scope, jobs.table_name)) == {
        ("ingest", "output", "sequences"), ("ingest", "output", "boxes"), ("ingest", "output", "frames"),
        ("ingest", "output", "jobs"),
        ("quality", "input", "sequences"), ("quality", "input", "boxes"), ("quality", "input", "frames"),
        ("quality", "input", "jobs"),
        ("quality", "output", "box_metrics"), ("quality", "output", "review_queue"),
        ("embed", "input", "sequences"), ("embed", "input", "boxes"), ("embed", "output", "embedding_metrics"),
        ("quality", "input", "embedding_metrics"),
        ("workers", "output", "worker_tasks"),
        ("audit", "input", "sequences"), ("audit", "input", "boxes"), ("audit", "input", "review_queue"),
        ("audit", "input", "box_metrics"), ("audit", "output", "audit_changes"),
        ("verdicts", "output", "review_verdicts"),
        ("predictions", "output", "predictions"), ("predictions", "output", "prediction_findings"),
        ("quality", "input", "prediction_findings")}
    assert not found[found.scope != "lake"].success.eq(False).any()
    found = found[found.step == "validate"]
    assert found.run_id.nunique() == 3 and set(found.scope) == {"lake"}
    last = found[found.run_id == found.run_id.max()]
    assert set(last.table_name) == {"boxes"}
    bad = last[~last.success]
    # the file edited by hand differs from what was committed, and its edited value breaks a rule
    assert list(zip(bad.column_name.fillna(""), bad.rule)) == [("", "files as committed"), ("width", "values > 0")]
    assert bad.unexpected_count.tolist() == [1, 1] and "changed file: boxes/job_name=" in bad.detail.iloc[0]
    runs = read_table(lake, "runs")
    assert sorted(runs[runs.job == "validate"].status) == ["failed", "succeeded", "succeeded"]


def test_cli_offers_the_validated_tables():
    from gtlake.cli import VALIDATED_TABLES

    assert VALIDATED_TABLES == VALIDATED


@pytest.mark.parametrize("table", sorted(FAULTS))
def test_fast_verdicts_agree_with_great_expectations(spark, pipeline_lake, table):
    """The one-pass verdicts decide every rule of the batch alone on a clean table (Great Expectations is not
    needed), and on a broken one never pass a rule Great Expectations fails, nor fail one it passes."""
    from gtlake.schemas import SHAPES
    from gtlake.validation import REF_PREFIX, SUITES, _great_expectations, fast_verdicts

    lake = pipeline_lake["lake"]
    for name, ref in (("sequences", _table(spark, lake, "sequences")), ("boxes", _table(spark, lake, "boxes")),
                      ("shapes", spark.createDataFrame([], SHAPES.spark_schema()))):
        ref.createOrReplaceTempView(REF_PREFIX + name)  # as validate() registers them
    clean = _table(spark, lake, table)
    rules = SUITES[table]()
    assert all(fast_verdicts(clean, rules)), table
    broken = FAULTS[table][0](clean)
    fast = fast_verdicts(broken, rules)
    judged = _great_expectations(table, broken, rules)
    assert [(r.column, r.rule, ok) for r, ok in zip(rules, fast)] == \
        [(r.column, r.rule, res is True) for r, res in zip(rules, judged)]
    assert not all(fast)


def _arrow(df):
    import pyarrow as pa

    return pa.Table.from_batches(df._collect_as_arrow(), schema=None) if df.count() else None


@pytest.mark.parametrize("table", sorted(FAULTS))
def test_arrow_verdicts_agree_with_the_spark_verdicts(spark, pipeline_lake, table):
    """What a writer finds on its Arrow rows before writing them (`arrow_breaks`) is what the one-pass Spark
    verdicts find on the same rows, clean and broken, for every rule it can decide."""
    from gtlake.validation import SUITES, arrow_breaks, fast_verdicts

    clean = _table(spark, pipeline_lake["lake"], table)
    for df in (clean, FAULTS[table][0](clean)):
        rows = _arrow(df)
        found = [(r, arrow_breaks(r, rows)) for r in SUITES[table]()]
        decided = [(r, broke) for r, broke in found if broke is not None]  # (one Spark aggregation for these)
        assert [broke for _, broke in decided] == [not ok for ok in fast_verdicts(df, [r for r, _ in decided])], table
        if table == "box_metrics":  # every row-level rule of the batch alone but its key is decided
            assert {r.rule for r, broke in found if broke is None and r.counts_rows} == {"unique key"}


def test_arrow_verdicts_count_nulls_and_nan_as_spark_does(spark):
    """A null is not checked by a value rule; NaN breaks an upper bound only (Spark orders it above every
    number); a null element of a list breaks its allowed values, a null list does not; a partition column's
    constant is checked like a column."""
    import pyarrow as pa
    from pyspark.sql import types as T

    from gtlake.validation import SUITES, arrow_breaks, fast_verdicts, rule_key

    nan, inf = float("nan"), float("inf")
    schema = T.StructType([T.StructField("job_name", T.StringType()), T.StructField("iou_prev", T.DoubleType()),
                           T.StructField("score", T.DoubleType()),
                           T.StructField("flags", T.ArrayType(T.StringType()))])
    cases = [
        [("j", nan, nan, ["low_iou"]), ("j", None, None, None)],  # NaN: breaks <= 1, not >= 0
        [("j", 0.5, inf, []), ("j", 1.0, 0.0, ["low_iou", None])],  # inf: no upper bound on score; a null flag
        [("j", -0.0, 0.0, ["low_iou"])],
        [(None, -inf, -1.0, ["bogus"])],
    ]
    wanted = {"job_name: not null", "iou_prev: values >= 0 and <= 1", "score: values >= 0", "flags: allowed values"}
    rules = [r for r in SUITES["box_metrics"]() if rule_key(r) in wanted]
    assert len(rules) == len(wanted)
    for rows in cases:
        df = spark.createDataFrame(rows, schema)
        arrow = pa.Table.from_batches(df._collect_as_arrow())
        expected = [not ok for ok in fast_verdicts(df, rules)]
        assert [arrow_breaks(r, arrow) for r in rules] == expected, rows
        constant = arrow.drop(["job_name"])  # the job as a partition's constant
        assert [arrow_breaks(r, constant, {"job_name": rows[0][0]}) for r in rules] == expected, rows
    assert [arrow_breaks(r, arrow.slice(0, 0), {"job_name": None}) for r in rules] == [False] * len(rules)
