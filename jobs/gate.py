"""The data-quality gate of a job run: validate what it reads and what it is about to commit.

A pure validator: it runs suites and records findings; committing them is the step runner's (`jobs.runner`).

    gate = run.gate                                                                # made by the runner
    sequences = gate.read("sequences", lambda: read_partitions(...))               # read and checked
    boxes = gate.read("boxes", lambda: read_partitions(...), refs={"sequences": sequences}, jobs=jobs)
    gate.enforce()                       # raises ValidationFailed when a rule broke and on_failure is fail
    ...stage the output...
    gate.check_staged("box_metrics", staged["box_metrics"])                       # before committing it
    sealed = gate.seals_for(staged, ("box_metrics",), jobs)                     # job -> seals, into the ledger

Each check runs the table's Great Expectations suite (`gtlake.validation`) on exactly the rows the run read or
staged. With `on_failure="fail"` (the default of every job) a broken rule stops the run: the runner commits
nothing of its output and its ledger does not move, only its `runs` row (status `failed`) and its `validations`
rows (`Gate.rows`), so the next run tries again once the lake is repaired. With `warn` the run commits and the
findings are recorded and printed. A table that cannot be read at all stops the run under either setting (there
is nothing to go on with), and at once.

A table read with `jobs=` whose partitions are sealed (byte for byte what an earlier gate validated, see
`gtlake.seals`) is not checked again; any other read is.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, NoReturn

from pyspark.sql import DataFrame, SparkSession

from gtlake import seals
from gtlake.jobs.common import has_rows, read_folder
from gtlake.lake import Lake
from gtlake.records import ON_FAILURE, ValidationFailed
from gtlake.schemas import TABLES
from gtlake.validation import SUITES, Finding, validate

UNREADABLE = "readable"
SEALED = "sealed: unchanged since validated"


def check_on_failure(value: str) -> str:
    """`value` if it is a known on-failure setting, else ValueError."""
    if value not in ON_FAILURE:
        raise ValueError(f"on_failure must be one of {', '.join(ON_FAILURE)}, not {value!r}")
    return value


@dataclass
class Gate:
    """The findings of one run's checks, and what they mean for its commit."""

    spark: SparkSession
    lake: Lake
    run_id: str
    step: str
    on_failure: str = "fail"
    log: Callable[[str], None] = print
    checked: list[tuple[str, Finding]] = field(default_factory=list)  # (scope, finding)
    sealed: set[str] = field(default_factory=set)  # input tables taken as validated by their seals
    seconds: float = 0.0

    def __post_init__(self) -> None:
        check_on_failure(self.on_failure)

    def check(self, scope: str, table: str, df: DataFrame | Callable[[], DataFrame],
              refs: dict[str, DataFrame] | None = None,
              unique: Callable[[], frozenset[tuple[str, ...]]] | None = None,
              held: frozenset[str] = frozenset()) -> list[Finding]:
        """Run `table`'s suite on `df` (or on what the callable returns: reading may itself fail); `scope`
        says which rows they are: `input` (read by the run), `output` (staged by it) or `lake` (committed).
        `unique`: what proves keys of `df` unique by other means; `held`: the row-level rules the rows' writer
        found holding on every row (`validation.fast_verdicts`)."""
        t0 = time.monotonic()
        try:
            found = validate(self.spark, table, df() if callable(df) else df, refs,
                             unique() if unique else frozenset(), held)
        except Exception as e:  # noqa: BLE001 - a file Spark cannot read (damaged, wrong format) is a finding
            found = [_unreadable(table, e)]
        self._record(scope, table, found, time.monotonic() - t0)
        return found

    def record(self, scope: str, table: str, found: list[Finding]) -> None:
        """Record findings made outside the suites (the lake compared with its commits, `gtlake.integrity`)."""
        self._record(scope, table, found, 0.0)

    def unreadable(self, scope: str, table: str, error: Exception) -> None:
        """Record that the run could not read `table` at all (a finding that always stops it)."""
        self._record(scope, table, [_unreadable(table, error)], 0.0)

    def _record(self, scope: str, table: str, found: list[Finding], seconds: float) -> None:
        broken = [f for f in found if not f.success]
        self.seconds += seconds
        self.log(f"{self.step} {self.run_id}: validated {scope} {table}: {len(found)} rules, {len(broken)} broken "
                 f"({seconds:.1f}s)")
        for f in broken:
            self.log(f"  {f.message()}")
        self.checked += [(scope, f) for f in found]

    def read(self, table: str, reader: Callable[[], DataFrame | None], refs: dict[str, DataFrame] | None = None,
             jobs: list[str] | None = None) -> DataFrame | None:
        """What `reader` returns (the rows of `table` the run is about to use), validated when `table` has a
        suite; None when it read none. A reader that fails (a damaged file, say) stops the run here.

        `jobs`: the `job_name` partitions the reader reads. When each one's files are exactly those a job's
        gate validated and sealed (`gtlake.seals`), and the tables in `refs` were sealed too (those that have a
        suite: a table without one is never sealed, and the sealed rows were checked against it), the suite is not
        run again: one `sealed` finding records which runs validated the files."""
        try:
            df = reader()
        except Exception as e:  # noqa: BLE001 - Spark reads footers eagerly: a damaged file fails here
            self.unreadable("input", table, e)
            self.stop()
        if df is not None and table in SUITES:  # a table without a suite is only read
            t0 = time.monotonic()
            runs = (seals.sealed_by(self.lake, table, jobs)
                    if jobs and {t for t in refs or {} if t in SUITES} <= self.sealed else None)
            if runs is None:
                self.check("input", table, df, refs)
            else:
                self.sealed.add(table)
                detail = f"files identical (SHA-256) to those {seals.SEALED_BY[table]} run {', '.join(runs)} validated"
                self._record("input", table, [Finding(table, None, SEALED, True, None, detail)], time.monotonic() - t0)
        return df

    def seals_for(self, staged: dict[str, str], tables: tuple[str, ...], jobs: list[str]) -> dict[str, dict]:
        """job -> {table: seal} of the job's staged partitions of `tables` (paths in `staged`), for the run's
        ledger: a table is sealed only when the run's output check of it ran and every rule held (a
        warned-past table is checked again by its readers)."""
        out: dict[str, dict] = {job: {} for job in jobs}
        for table in tables:
            found = [f for scope, f in self.checked if scope == "output" and f.table == table]
            if staged.get(table) is None or not found or not all(f.success for f in found):
                continue
            for job, stamp in seals.seal(self.lake, table, staged[table], jobs).items():
                out[job][table] = stamp
        return out

    def check_staged(self, table: str, path: str | None, refs: dict[str, DataFrame] | None = None,
                     unique: Callable[[], frozenset[tuple[str, ...]]] | None = None,
                     held: frozenset[str] = frozenset()) -> None:
        """Validate what the run staged for `table` at `path` (nothing when it staged no rows); `unique`, when
        given, names the keys it proves unique in the staged files, its time counted as the check's; `held`: the
        row-level rules the tasks that wrote the files found holding on every row they wrote
        (`validation.broken_rules`), not checked again (`validation.fast_verdicts`)."""
        if path is None or not has_rows(self.lake, path, TABLES[table].partition_by):
            return
        self.check("output", table, lambda: read_folder(self.spark, self.lake, path), refs, unique, held)

    @property
    def broken(self) -> list[Finding]:
        """The rules that broke, in the order checked."""
        return [f for _, f in self.checked if not f.success]

    @property
    def blocks(self) -> bool:
        """Whether the run must not commit its output."""
        return bool(self.broken) and (self.on_failure == "fail" or any(f.rule == UNREADABLE for f in self.broken))

    def summary(self) -> str:
        """One line: how many rules on how many tables, how many broke, and what that meant."""
        tables = sorted({(scope, f.table) for scope, f in self.checked})
        text = (f"{len(self.checked)} rules on {len(tables)} table{'' if len(tables) == 1 else 's'} "
                f"({', '.join(f'{s} {t}' for s, t in tables) or 'none'}), {len(self.broken)} broken")
        if self.broken:
            text += "; nothing committed" if self.blocks else "; committed anyway (--on-failure warn)"
        return text

    def note(self) -> str | None:
        """The `runs` message of a run that commits despite broken rules (warn); None when none broke."""
        return f"data-quality gate: {self.summary()}" if self.broken else None

    def rows(self) -> list[dict]:
        """The run's `validations` rows."""
        now = datetime.now(timezone.utc)
        return [{"run_id": self.run_id, "step": self.step, "scope": scope, "table_name": f.table,
                 "column_name": f.column, "rule": f.rule, "success": f.success, "unexpected_count": f.unexpected,
                 "detail": f.detail, "validated_at": now} for scope, f in self.checked]

    def enforce(self) -> None:
        """`stop` when a check so far blocks the run; nothing otherwise."""
        if self.blocks:
            self.stop()

    def stop(self) -> NoReturn:
        """Raise ValidationFailed with the broken rules (the runner commits the findings and a failed row)."""
        raise ValidationFailed(f"{self.step} {self.run_id}: data-quality gate: {self.summary()}", self.broken)


def _unreadable(table: str, e: Exception) -> Finding:
    """The finding of a table that could not be read, with the most telling line of the error (a Spark
    error's last `Caused by:`, else its first line)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    causes = [ln for ln in lines if ln.startswith("Caused by:")]
    why = causes[-1] if causes else lines[0] if lines else type(e).__name__
    return Finding(table, None, UNREADABLE, False, None, why[:500])
