"""Data-quality gates: Great Expectations 1.x suites of the lake tables, run on Spark DataFrames.

Each suite checks one table's schema (exactly its columns, in `gtlake.schemas`), its keys (not null, unique),
ranges (sizes > 0, IoU in [0, 1], frame numbers >= 0, durations >= 0), allowed values (reasons, change kinds)
and references (every box's sequence exists). A result is one `Finding` per expectation, naming the table,
column and rule; `findings_table_rows` turns them into `validations` rows.

Every rule that plainly holds is found in one pass over the rows (`fast_verdicts`); only the others (and the
reference rules) go to Great Expectations, which stays the judge and the record of what broke. Great
Expectations runs in an ephemeral context (nothing written to disk), with its usage statistics off.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from gtlake.schemas import JOB_ROLES, TABLES
from gtlake.vocabulary import CHANGES, CROP_STATUSES, PREDICTION_REASONS, QUEUE_REASONS, VERDICTS

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no usage statistics leave the machine

VALIDATED = ("jobs", "sequences", "frames", "boxes", "worker_tasks", "box_metrics", "review_queue", "review_verdicts",
             "predictions", "prediction_findings", "embedding_metrics", "audit_changes")
REF_PREFIX = "gtlake_ref_"
SHAPE_COUNT_RULE = "shape_count: equals the frame's rows in boxes and shapes"  # `rule_key` of frames' count rule


@dataclass(frozen=True)
class Rule:
    """One expectation of a suite, in gtlake's words (the column it is about, a short rule name), and the Great
    Expectations expectation it is: its class in `great_expectations.expectations` and its arguments."""

    column: str | None
    rule: str
    expectation: str  # the Great Expectations class, e.g. ExpectColumnValuesToNotBeNull
    kwargs: dict = field(default_factory=dict)  # its arguments
    refs: tuple[str, ...] = ()  # the lake tables the rule reads beside the batch (a reference check)
    counts_rows: bool = True  # a row-level rule (its success means 0 rows break it), not a schema-level one
    where: str | None = None  # for a rows query on the batch alone: the Spark SQL condition of a breaking row
    allowed: tuple[str, ...] | None = None  # for an array's allowed values: the values (what `arrow_breaks` reads)

    def build(self) -> object:
        """The Great Expectations expectation."""
        return getattr(_gxe(), self.expectation)(**self.kwargs)

    def spec(self) -> dict:
        """What the rule is, as plain data (what a seal of the suite is a digest of)."""
        return {"column": self.column, "rule": self.rule, "expectation": self.expectation, "kwargs": self.kwargs,
                "refs": list(self.refs), "where": self.where}


@dataclass(frozen=True)
class Finding:
    """The outcome of one rule on one table."""

    table: str
    column: str | None
    rule: str
    success: bool
    unexpected: int | None
    detail: str

    def message(self) -> str:
        """One line naming the table, column and rule."""
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{where}: {self.rule}: {'ok' if self.success else 'FAILED'}{'' if self.success else ' - ' + self.detail}"


def _gxe():  # noqa: ANN202 - the great_expectations.expectations module, imported late
    import great_expectations.expectations as gxe

    return gxe


def _not_null(col: str) -> Rule:
    return Rule(col, "not null", "ExpectColumnValuesToNotBeNull", {"column": col})


def _between(col: str, lo: float | None, hi: float | None = None, strict_lo: bool = False) -> Rule:
    text = " and ".join(t for t in ((f"> {lo}" if strict_lo else f">= {lo}") if lo is not None else "",
                                    f"<= {hi}" if hi is not None else "") if t)
    return Rule(col, f"values {text}", "ExpectColumnValuesToBeBetween",
                {"column": col, "min_value": lo, "max_value": hi, "strict_min": strict_lo})


def _unique(cols: list[str]) -> Rule:
    if len(cols) == 1:
        return Rule(cols[0], "unique key", "ExpectColumnValuesToBeUnique", {"column": cols[0]})
    return Rule(", ".join(cols), "unique key", "ExpectCompoundColumnsToBeUnique", {"column_list": cols})


def _in_set(col: str, values: tuple[str, ...]) -> Rule:
    return Rule(col, "allowed values", "ExpectColumnValuesToBeInSet", {"column": col, "value_set": list(values)})


def _array_in_set(col: str, values: tuple[str, ...]) -> Rule:
    allowed = ", ".join("'" + v + "'" for v in values)  # constants of this module, never input
    where = f"exists({col}, x -> x IS NULL OR x NOT IN ({allowed}))"
    return Rule(col, "allowed values", "UnexpectedRowsExpectation", {
        "unexpected_rows_query": f"SELECT * FROM {{batch}} WHERE {where}",
        "description": f"every element of {col} is one of {allowed}"}, where=where, allowed=tuple(values))


def _references(table: str, cols: list[str], as_: list[str] | None = None) -> Rule:
    """Every row's `cols` are a key of `table` (where they are named `as_`, default the same)."""
    on = " AND ".join(f"b.{c} = r.{r}" for c, r in zip(cols, as_ or cols))
    return Rule(", ".join(cols), f"exists in {table}", "UnexpectedRowsExpectation", {
        "unexpected_rows_query": f"SELECT b.* FROM {{batch}} b LEFT ANTI JOIN {REF_PREFIX}{table} r ON {on}",
        "description": f"every row's ({', '.join(cols)}) is in {table}"}, refs=(table,))


def _shape_count() -> Rule:
    """Every frame's shape_count is its number of rows in boxes and shapes."""
    key = ("job_name", "sequence_id", "frame_no")
    rows = " UNION ALL ".join(f"SELECT {', '.join(key)} FROM {REF_PREFIX}{t}" for t in ("boxes", "shapes"))
    on = " AND ".join(f"b.{c} = c.{c}" for c in key)
    query = (f"SELECT b.* FROM {{batch}} b LEFT JOIN (SELECT {', '.join(key)}, count(*) AS n FROM ({rows}) "
             f"GROUP BY {', '.join(key)}) c ON {on} WHERE b.shape_count != coalesce(c.n, 0)")
    return Rule("shape_count", SHAPE_COUNT_RULE.split(": ", 1)[1], "UnexpectedRowsExpectation", {
        "unexpected_rows_query": query, "description": "every frame's shape_count is its rows in boxes and shapes"},
        refs=("boxes", "shapes"))


def _at_most(col: str, other: str) -> Rule:
    return Rule(f"{col}, {other}", f"{col} <= {other}", "ExpectColumnPairValuesAToBeGreaterThanB", {
        "column_A": other, "column_B": col, "or_equal": True, "ignore_row_if": "either_value_is_missing"})


def _schema(table: str) -> Rule:
    return Rule(None, "schema", "ExpectTableColumnsToMatchSet", {"column_set": TABLES[table].names,
                                                                 "exact_match": True}, counts_rows=False)


def _types(table: str) -> list[Rule]:
    """The Spark type of each scalar column (maps and arrays are covered by the schema rule)."""
    return [Rule(c.name, f"type {c.type.ddl}", "ExpectColumnValuesToBeOfType",
                 {"column": c.name, "type_": type(c.type.spark).__name__}, counts_rows=False)
            for c in TABLES[table].columns if "<" not in c.type.ddl]


FRAME_KEY = ["job_name", "sequence_id", "frame_no"]
BOX_KEY = ["job_name", "sequence_id", "frame_no", "box_index"]
TRACK_KEY = ["job_name", "sequence_id", "frame_no", "object_id"]
MODEL_BOX = ["model_left", "model_top", "model_width", "model_height"]
ENTRY_KEY = [*TRACK_KEY, *MODEL_BOX]  # a queue entry: its object, or (overlooked: no object) the model's box


def _overlooked_only() -> Rule:
    """object_id is null only on an overlooked entry, which has the model's whole box."""
    where = (f"object_id IS NULL AND (NOT array_contains(reasons, 'overlooked') OR "
             f"{' OR '.join(c + ' IS NULL' for c in MODEL_BOX)})")
    return Rule("object_id", "null only for overlooked", "UnexpectedRowsExpectation", {
        "unexpected_rows_query": f"SELECT * FROM {{batch}} WHERE {where}",
        "description": "object_id is null only on an overlooked entry, with the model's box"}, where=where)

SUITES: dict[str, Callable[[], list[Rule]]] = {
    "jobs": lambda: [
        _schema("jobs"), *_types("jobs"),
        *[_not_null(c) for c in ("job_name", "role", "sequences", "frames", "boxes")],
        _unique(["job_name"]), _in_set("role", JOB_ROLES),
        *[_between(c, 0) for c in ("sequences", "labeled_sequences", "frames", "boxes")],
        _at_most("labeled_sequences", "sequences"),
    ],
    "frames": lambda: [
        _schema("frames"), *_types("frames"),
        *[_not_null(c) for c in ("job_name", "sequence_id", "frame_no", "shape_count", "listed_shapes")],
        _unique(FRAME_KEY),
        _between("frame_no", 0), _between("shape_count", 0), _at_most("shape_count", "listed_shapes"),
        _between("image_width", 0, strict_lo=True), _between("image_height", 0, strict_lo=True),
        _references("sequences", ["job_name", "sequence_id"]), _shape_count(),
    ],
    "sequences": lambda: [
        _schema("sequences"), *_types("sequences"),
        *[_not_null(c) for c in ("job_name", "sequence_id", "data_object_index")],  # task_type: null until labeled
        _unique(["job_name", "sequence_id", "label_attribute"]),
        _between("data_object_index", 0),
    ],
    "boxes": lambda: [
        _schema("boxes"), *_types("boxes"),
        *[_not_null(c) for c in ("job_name", "sequence_id", "frame_no", "left", "top", "width", "height")],
        _unique(BOX_KEY),
        _between("frame_no", 0), _between("width", 0, strict_lo=True), _between("height", 0, strict_lo=True),
        _references("sequences", ["job_name", "sequence_id"]),
    ],
    "worker_tasks": lambda: [
        _schema("worker_tasks"), *_types("worker_tasks"),
        *[_not_null(c) for c in ("job_name", "worker_id", "source")],
        _between("wall_seconds", 0), _between("active_seconds", 0),
        _in_set("source", ("log+response", "log", "response")),
    ],
    "box_metrics": lambda: [
        _schema("box_metrics"), *_types("box_metrics"),
        *[_not_null(c) for c in ("job_name", "sequence_id", "frame_no", "object_id")],
        _unique(TRACK_KEY),
        _between("frame_no", 0), _between("iou_prev", 0, 1), _between("iou_pred", 0, 1), _between("score", 0),
        _array_in_set("flags", QUEUE_REASONS),
    ],
    "review_queue": lambda: [
        _schema("review_queue"), *_types("review_queue"),
        *[_not_null(c) for c in ("job_name", "sequence_id", "frame_no", "rank")], _overlooked_only(),
        _unique(ENTRY_KEY), _unique(["job_name", "rank"]),
        _between("frame_no", 0), _between("score", 0, strict_lo=True), _between("rank", 1),
        _between("model_width", 0, strict_lo=True), _between("model_height", 0, strict_lo=True),
        _array_in_set("reasons", QUEUE_REASONS),
    ],
    "review_verdicts": lambda: [
        _schema("review_verdicts"), *_types("review_verdicts"),
        *[_not_null(c) for c in ("job_name", "sequence_id", "frame_no", "verdict", "reviewer",
                                 "decided_at", "verdicts_file")], _overlooked_only(),
        _unique([*ENTRY_KEY, "reviewer"]),
        _between("frame_no", 0), _in_set("verdict", VERDICTS), _array_in_set("reasons", QUEUE_REASONS),
        _references("sequences", ["job_name", "sequence_id"]),
    ],
    "predictions": lambda: [
        _schema("predictions"), *_types("predictions"),
        *[_not_null(c) for c in ("job_name", "sequence_id", "frame_no", "label", "score", "left", "top", "width",
                                 "height", "model")],
        _between("frame_no", 0), _between("score", 0, 1), _between("width", 0, strict_lo=True),
        _between("height", 0, strict_lo=True),
        _references("sequences", ["job_name", "sequence_id"]),
    ],
    "prediction_findings": lambda: [
        _schema("prediction_findings"), *_types("prediction_findings"),
        *[_not_null(c) for c in ("job_name", "sequence_id", "frame_no", "reason", "label", "model_label", "model")],
        _in_set("reason", PREDICTION_REASONS), _between("frame_no", 0), _between("score", 0, 1),
        _between("frames", 1), _between("width", 0, strict_lo=True), _between("height", 0, strict_lo=True),
        _references("sequences", ["job_name", "sequence_id"]),
    ],
    "embedding_metrics": lambda: [
        _schema("embedding_metrics"), *_types("embedding_metrics"),
        *[_not_null(c) for c in ("job_name", "sequence_id", "frame_no", "object_id", "crop_status", "model")],
        _unique(TRACK_KEY),
        _between("frame_no", 0), _between("appearance_distance", 0, 2), _between("appearance_skip", 0, 2),
        _between("crop_clipped", 0, 1), _in_set("crop_status", CROP_STATUSES),
        _array_in_set("flags", ("appearance_change",)),
    ],
    "audit_changes": lambda: [
        _schema("audit_changes"), *_types("audit_changes"),
        *[_not_null(c) for c in ("audit_job", "source_job", "sequence_id", "frame_no", "change")],
        _in_set("change", CHANGES), _between("iou", 0, 1), _between("frame_no", 0),
        _references("sequences", ["source_job", "sequence_id"], ["job_name", "sequence_id"]),
    ],
}


def _unexpected(r: dict) -> int | None:
    """Rows breaking a rule: GE's unexpected_count, or the row count an unexpected-rows query observed."""
    if r.get("unexpected_count") is not None:
        return int(r["unexpected_count"])
    observed = r.get("observed_value")
    return observed if isinstance(observed, int) and not isinstance(observed, bool) else None


def _detail(result) -> str:  # noqa: ANN001 - ExpectationValidationResult
    r = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        return "could not be checked: " + str(result.exception_info.get("exception_message", ""))[:300]
    if "unexpected_count" in r or isinstance(r.get("observed_value"), int):
        sample = r.get("partial_unexpected_list") or (r.get("details") or {}).get("unexpected_rows") or []
        total = r.get("element_count")
        of = f" of {total}" if total is not None else ""
        return f"{_unexpected(r)}{of} rows break it, e.g. {str(sample[:3])[:300]}"
    if "observed_value" in r:
        return f"observed {str(r['observed_value'])[:300]}"
    return "failed"


def _run_suite(gx, batch, table: str, rules: list[Rule], result_format: str) -> list:  # noqa: ANN001
    """The Great Expectations results of `rules` on `batch`, in the order of `rules`."""
    expectations = []
    for i, rule in enumerate(rules):
        expectation = rule.build()
        expectation.meta = {"gtlake_rule": i}  # results come back in their own order: find each rule by this
        expectations.append(expectation)
    result = batch.validate(gx.ExpectationSuite(name=table, expectations=expectations), result_format=result_format)
    by_rule = {res.expectation_config.meta["gtlake_rule"]: res for res in result.results}
    return [by_rule[i] for i in range(len(rules))]


def _breaks(rule: Rule, columns: set[str]):  # noqa: ANN202 - a Spark Column, or None
    """A Spark condition true on exactly the rows that break a row-level rule of the batch alone, as Great
    Expectations counts them (a null is not checked by a value rule; Spark orders NaN above every number); None for
    a rule this cannot say (references, uniqueness, schema, a column the batch lacks)."""
    from pyspark.sql import functions as F

    kw, kind = rule.kwargs, rule.expectation
    named = [kw[k] for k in ("column", "column_A", "column_B") if k in kw] + list(kw.get("column_list", []))
    if rule.refs or not set(named) <= columns:
        return None
    if kind == "ExpectColumnValuesToNotBeNull":
        return F.col(kw["column"]).isNull()
    if kind == "ExpectColumnValuesToBeBetween" and not kw.get("strict_max"):
        c, lo, hi = F.col(kw["column"]), kw.get("min_value"), kw.get("max_value")
        low = None if lo is None else (c <= lo if kw.get("strict_min") else c < lo)
        high = None if hi is None else c > hi
        parts = [p for p in (low, high) if p is not None]
        return None if not parts else c.isNotNull() & (parts[0] if len(parts) == 1 else parts[0] | parts[1])
    if kind == "ExpectColumnValuesToBeInSet":
        c = F.col(kw["column"])
        return c.isNotNull() & ~c.isin(list(kw["value_set"]))
    if kind == "ExpectColumnPairValuesAToBeGreaterThanB" and kw.get("ignore_row_if") == "either_value_is_missing":
        a, b = F.col(kw["column_A"]), F.col(kw["column_B"])
        return a.isNotNull() & b.isNotNull() & ~(a >= b if kw.get("or_equal") else a > b)
    if kind == "UnexpectedRowsExpectation" and rule.where:
        return F.expr(rule.where)
    return None


def rule_key(rule: Rule) -> str:
    """The rule's name within its suite (column and rule): what `held` sets of `fast_verdicts` hold."""
    return f"{rule.column}: {rule.rule}"


def arrow_breaks(rule: Rule, table, constants: dict | None = None) -> bool | None:  # noqa: ANN001 - a pyarrow Table
    """Whether some row of the Arrow `table` breaks a row-level rule of the batch alone, as `_breaks` (the Spark
    condition) finds it: a null is not checked by a value rule, NaN breaks an upper bound only (Spark orders NaN
    above every number). `constants`: columns the table lacks with one value on every row (a file's partition
    column). None for a rule this cannot say (references, uniqueness, schema, a column it lacks): a writer that
    evaluates its rows before writing them (`broken_rules`) proves the rules that hold without reading them
    again."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kw, kind = rule.kwargs, rule.expectation
    named = [kw[k] for k in ("column", "column_A", "column_B") if k in kw] + list(kw.get("column_list", []))
    constants = constants or {}
    if rule.refs or not rule.counts_rows or any(c not in table.column_names and c not in constants for c in named):
        return None

    def col(name: str):  # noqa: ANN202 - an Arrow array (a constant: one element, none when the table has no rows)
        return table[name] if name in table.column_names else pa.array([constants[name]] * min(1, table.num_rows))

    def some(mask) -> bool:  # noqa: ANN001
        return bool(pc.any(mask).as_py())

    if kind == "ExpectColumnValuesToNotBeNull":
        return col(kw["column"]).null_count > 0
    if kind == "ExpectColumnValuesToBeBetween" and not kw.get("strict_max"):
        c, lo, hi = col(kw["column"]), kw.get("min_value"), kw.get("max_value")
        if lo is None and hi is None:
            return None
        if not (pa.types.is_integer(c.type) or pa.types.is_floating(c.type)):
            return None
        low = lo is not None and some(pc.less_equal(c, lo) if kw.get("strict_min") else pc.less(c, lo))
        high = hi is not None and (some(pc.greater(c, hi)) or (pa.types.is_floating(c.type) and some(pc.is_nan(c))))
        return low or high
    if kind == "ExpectColumnValuesToBeInSet":
        c = col(kw["column"])
        return some(pc.and_(pc.is_valid(c), pc.invert(pc.is_in(c, pa.array(kw["value_set"], c.type)))))
    if kind == "ExpectColumnPairValuesAToBeGreaterThanB" and kw.get("ignore_row_if") == "either_value_is_missing":
        a, b = col(kw["column_A"]), col(kw["column_B"])
        if not (pa.types.is_integer(a.type) and pa.types.is_integer(b.type)):
            return None  # (floats: Spark orders NaN above every number, Arrow compares it false)
        return some(pc.invert(pc.greater_equal(a, b) if kw.get("or_equal") else pc.greater(a, b)))
    if kind == "UnexpectedRowsExpectation" and rule.allowed is not None:
        values = pc.list_flatten(col(rule.column))  # the elements of the non-null lists (a null list: unchecked)
        return values.null_count > 0 or some(pc.invert(pc.is_in(values, pa.array(rule.allowed, values.type))))
    return None


def broken_rules(table_name: str, table, constants: dict | None = None) -> dict[str, bool | None]:  # noqa: ANN001
    """`rule_key` -> `arrow_breaks` for every rule of `table_name`'s suite, on the Arrow `table` a writer is
    about to write; `merge_broken` adds up those of several tables."""
    return {rule_key(r): arrow_breaks(r, table, constants) for r in SUITES[table_name]()}


def merge_broken(found: list[dict[str, bool | None]]) -> dict[str, bool | None]:
    """The rules broken in any of several tables' `broken_rules` (None where one of them could not say)."""
    out: dict[str, bool | None] = {}
    for one in found:
        for key, broke in one.items():
            before = out.get(key, False)
            out[key] = None if before is None or broke is None else before or broke
    return out


def held_rules(broken: dict[str, bool | None]) -> frozenset[str]:
    """The rules `merge_broken` found holding on every row."""
    return frozenset(k for k, broke in broken.items() if broke is False)


def fast_verdicts(df, rules: list[Rule], unique: frozenset[tuple[str, ...]] = frozenset(),  # noqa: ANN001
                  held: frozenset[str] = frozenset()) -> list[bool]:
    """Per rule, True where it surely holds on `df`, found in one aggregation over the rows for every row-level
    rule (and one grouping per unique key, one query per reference rule, as Great Expectations would run it)
    instead of Great Expectations' several Spark jobs per rule; False
    where it may not hold, or this cannot tell: those rules go to Great Expectations, which stays the judge of
    every rule that does not plainly hold (and the record of what broke). Uniqueness is judged counting nulls
    as equal values, stricter than Great Expectations (which skips them): a doubt goes to it. `unique`: keys
    the caller proved unique in the same rows by other means, as strictly (`jobs.files.unique_in_files`: from
    the files, without a shuffle), taken as holding. `held`: the rules (`rule_key`) the writer of the rows found
    holding on every row it wrote, taken as holding too: row-level rules (`broken_rules`), and a reference rule
    only where the writer held every row the rule compares (`SHAPE_COUNT_RULE`: ingest's packing tasks, with a
    frame's boxes in the same task and no shapes)."""
    from pyspark.sql import functions as F

    types = {f.name: f.dataType for f in df.schema.fields}
    out = [False] * len(rules)
    conditions: dict[int, object] = {}
    for i, rule in enumerate(rules):
        kw = rule.kwargs
        if rule.counts_rows and rule_key(rule) in held:
            out[i] = True
        elif rule.expectation == "ExpectTableColumnsToMatchSet" and kw.get("exact_match"):
            out[i] = set(types) == set(kw["column_set"]) and len(types) == len(df.columns)
        elif rule.expectation == "ExpectColumnValuesToBeOfType":
            out[i] = kw["column"] in types and type(types[kw["column"]]).__name__ == kw["type_"]
        elif rule.expectation in ("ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique"):
            cols = [kw["column"]] if "column" in kw else list(kw["column_list"])
            if set(cols) <= set(types):
                out[i] = tuple(cols) in unique or not (df.groupBy(*cols).count().where(F.col("count") > 1)
                                                       .limit(1).collect())
        elif rule.expectation == "UnexpectedRowsExpectation" and not rule.where:
            # a rows query (a reference check): the rows it finds, as Great Expectations runs it; the tables it
            # references are the temporary views `validate` registered
            view = f"{REF_PREFIX}batch"
            df.createOrReplaceTempView(view)
            try:
                query = kw["unexpected_rows_query"].replace("{batch}", view)
                out[i] = not df.sparkSession.sql(query).limit(1).collect()
            except Exception:  # noqa: BLE001 - a view it needs is missing, a column lacks: Great Expectations says
                out[i] = False
        else:
            condition = _breaks(rule, set(types))
            if condition is not None:
                conditions[i] = condition
    if conditions:
        row = df.agg(*[F.max(F.coalesce(c, F.lit(False)).cast("int")).alias(f"r{i}")
                       for i, c in conditions.items()]).first()
        for i in conditions:
            out[i] = row[f"r{i}"] in (0, None)  # (None: no rows at all)
    return out


def validate(spark, table: str, df, refs: dict | None = None,  # noqa: ANN001
             unique: frozenset[tuple[str, ...]] = frozenset(), held: frozenset[str] = frozenset()) -> list[Finding]:
    """Run `table`'s suite on the Spark DataFrame `df`; `refs` are the referenced tables (e.g. sequences).

    The rules that plainly hold are found in one pass over the rows (`fast_verdicts`; `unique`: keys proved
    unique by the caller; `held`: row-level rules the rows' writer found holding); the others go to Great
    Expectations in two passes: with result format BOOLEAN_ONLY (a
    third of the Spark jobs of SUMMARY), then only the broken rules again with SUMMARY, for their counts and
    example rows. A row-level rule that holds broke on 0 rows. A suite whose rules all plainly hold never starts
    Great Expectations.
    """
    rules = SUITES[table]()
    for name, ref in (refs or {}).items():
        ref.createOrReplaceTempView(REF_PREFIX + name)
    missing = {t for r in rules for t in r.refs} - set(refs or {})
    rules = [r for r in rules if not set(r.refs) & missing]
    holds = fast_verdicts(df, rules, unique, held)
    judged = [r for r, ok in zip(rules, holds) if not ok]
    passed = dict(zip([id(r) for r in judged], _great_expectations(table, df, judged))) if judged else {}
    findings = []
    for rule, ok in zip(rules, holds):
        res = None if ok else passed[id(rule)]
        if ok or res is True:
            findings.append(Finding(table, rule.column, rule.rule, True, 0 if rule.counts_rows else None, ""))
        else:
            findings.append(Finding(table, rule.column, rule.rule, False, _unexpected(res.result or {}),
                                    _detail(res)))
    for name in missing:
        findings.append(Finding(table, None, f"exists in {name}", False, None, f"{name} is not in the lake"))
    return findings


def _great_expectations(table: str, df, rules: list[Rule]) -> list:  # noqa: ANN001 - a Spark DataFrame
    """Per rule, True where Great Expectations finds it holds, else its SUMMARY result (counts, examples)."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    source = context.data_sources.add_spark(name="lake")
    batch = source.add_dataframe_asset(name=table).add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": df})
    passed = [bool(res.success) for res in _run_suite(gx, batch, table, rules, "BOOLEAN_ONLY")]
    broken = [r for r, ok in zip(rules, passed) if not ok]
    explained = iter(_run_suite(gx, batch, table, broken, "SUMMARY") if broken else [])
    return [True if ok else next(explained) for ok in passed]
