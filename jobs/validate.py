"""The validate job: run the data-quality suites on the committed lake and record the findings.

    run(spark, ValidateConfig(lake="lake"))

First compares every partition with what its commit recorded (`gtlake.integrity`: missing partition, missing,
extra or changed file, unrecorded partition; content by SHA-256), one `files as committed` finding per table.
Then reads each validated table whole (every partition), runs its Great Expectations suite (`gtlake.validation`),
and commits the findings as one `validations/<run_id>.parquet` file with the run's `runs` row. Nothing else in
the lake changes. `on_failure="fail"` makes the result's status `failed` when any rule broke (the CLI exits 1);
`warn` reports the same findings and succeeds, unless a table could not be read at all (`jobs.gate`). The jobs
run the same suites on what they read and stage (`jobs.gate.Gate`); this is the whole-lake check on demand.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pyspark.sql import SparkSession

from gtlake import integrity
from gtlake.jobs.common import read_folder
from gtlake.jobs.runner import Outcome, Run, Step
from gtlake.schemas import TABLES
from gtlake.validation import VALIDATED, Finding

NAME = "validate"
AS_COMMITTED = "files as committed"
MAX_NAMED = 50  # damaged files named per table in a finding


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


def _work(run: Run, config: ValidateConfig) -> Outcome:
    """Validate the lake's tables; the findings are committed whatever they are."""
    spark, lake, gate = run.spark, run.lake, run.gate
    # The tables rules read beside their own (sequences; boxes and shapes for the frames' counts); one the
    # lake does not have is there with no rows, so that each rule still says what it finds.
    refs = {t: read_folder(spark, lake, lake.table_path(t)) if lake.isdir(lake.table_path(t))
            else spark.createDataFrame([], TABLES[t].spark_schema()) for t in ("sequences", "boxes", "shapes")}
    # First the files: every partition compared with what its commit recorded (names, sizes, SHA-256).
    damage: dict[str, list] = {}
    for d in integrity.check(lake):
        damage.setdefault(d.table, []).append(d)
    for table in sorted({t for t in config.tables if lake.isdir(lake.table_path(t))} | set(damage)):
        found = damage.get(table, [])
        detail = "; ".join(d.message() for d in found[:MAX_NAMED])
        if len(found) > MAX_NAMED:
            detail += f"; and {len(found) - MAX_NAMED} more"
        gate.record("lake", table, [Finding(table, None, AS_COMMITTED, not found, len(found), detail)])
    checked = []
    for table in config.tables:
        if not lake.isdir(lake.table_path(table)):
            run.say(f"{table}: not in the lake, skipped")
            continue
        gate.check("lake", table, lambda table=table: read_folder(spark, lake, lake.table_path(table)), refs)
        checked.append(table)
    findings = [f for _, f in gate.checked]
    run.counts.add("rule", seen=len(findings), out=len(findings))
    return Outcome(checked, status="failed" if gate.blocks else "succeeded",
                   message=f"{len(gate.broken)} rules broken" if gate.broken else None,
                   result={"findings": findings, "tables": checked})


STEP = Step(NAME, reads=VALIDATED, writes=(), work=_work, result=ValidateResult, gated=False)


def run(spark: SparkSession, config: ValidateConfig, log: Callable[[str], None] = print) -> ValidateResult:
    """Validate the lake's tables and commit the findings (`STEP`, `jobs.runner`)."""
    return STEP.run(spark, config, log)
