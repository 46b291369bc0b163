"""The validate job: run the data-quality suites on the committed lake and record the findings.

    run(spark, ValidateConfig(lake="lake"))

Reads each validated table whole (every partition), runs its Great Expectations suite (`gtlake.validation`),
and commits the findings as one `validations/<run_id>.parquet` file with the run's `runs` row. Nothing else in
the lake changes. `on_failure="fail"` makes the result's status `failed` when any rule broke (the CLI exits 1);
`warn` reports the same findings and succeeds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from pyspark.sql import SparkSession

from gtlake.jobs.common import file_move, new_run_id, run_move, run_row
from gtlake.lake import Lake
from gtlake.records import Counts
from gtlake.schemas import VALIDATIONS
from gtlake.validation import VALIDATED, Finding, validate

STEP = "validate"
ON_FAILURE = ("fail", "warn")


@dataclass(frozen=True)
class ValidateConfig:
    """Which lake, which tables (default: every validated table present), and what a broken rule means."""

    lake: str
    tables: tuple[str, ...] = VALIDATED
    on_failure: str = "fail"
    run_id: str | None = None


@dataclass
class ValidateResult:
    """What the run checked and found."""

    run_id: str
    status: str
    findings: list[Finding] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[Finding]:
        """The broken rules."""
        return [f for f in self.findings if not f.success]


def _read(spark: SparkSession, lake: Lake, table: str):  # noqa: ANN202 - DataFrame
    path = lake.table_path(table)
    return spark.read.option("basePath", lake.uri(path)).parquet(lake.uri(path))


def run(spark: SparkSession, config: ValidateConfig, log: Callable[[str], None] = print) -> ValidateResult:
    """Validate the lake's tables and commit the findings."""
    if config.on_failure not in ON_FAILURE:
        raise ValueError(f"on_failure must be one of {', '.join(ON_FAILURE)}")
    t0 = time.monotonic()
    started = datetime.now(timezone.utc)
    run_id = config.run_id or new_run_id()
    lake = Lake(config.lake)
    with lake.lock():
        has_sequences = lake.isdir(lake.table_path("sequences"))
        refs = {"sequences": _read(spark, lake, "sequences")} if has_sequences else {}
        findings: list[Finding] = []
        checked = []
        for table in config.tables:
            if not lake.isdir(lake.table_path(table)):
                log(f"validate {run_id}: {table}: not in the lake, skipped")
                continue
            t1 = time.monotonic()
            try:
                found = validate(spark, table, _read(spark, lake, table), refs)
            except Exception as e:  # noqa: BLE001 - a file Spark cannot read (damaged, wrong format) is a finding
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                cause = [ln.strip() for ln in str(e).splitlines() if ln.strip().startswith("Caused by:")]
                found = [Finding(table, None, "readable", False, None, (cause[-1] if cause else first)[:500])]
            broken = [f for f in found if not f.success]
            log(f"validate {run_id}: {table}: {len(found)} rules, {len(broken)} broken ({time.monotonic() - t1:.1f}s)")
            findings += found
            checked.append(table)
        now = datetime.now(timezone.utc)
        rows = [{"run_id": run_id, "step": STEP, "table_name": f.table, "column_name": f.column, "rule": f.rule,
                 "success": f.success, "unexpected_count": f.unexpected, "detail": f.detail, "validated_at": now}
                for f in findings]
        failed = any(not f.success for f in findings)
        status = "failed" if failed and config.on_failure == "fail" else "succeeded"
        counts = Counts()
        counts.add("rule", seen=len(findings), out=len(findings))
        message = f"{sum(not f.success for f in findings)} rules broken" if failed else None
        moves = [file_move(lake, run_id, VALIDATIONS, rows),
                 run_move(lake, run_id, run_row(STEP, run_id, started, status, config.lake, counts, checked, message))]
        lake.commit(run_id, moves, {}, step=STEP)
    return ValidateResult(run_id, status, findings, checked, time.monotonic() - t0)
