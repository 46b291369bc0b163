"""The step runner: what every job does around its own work, written once.

A job is a `Step`: its name, the tables it reads and the tables whose partitions it replaces, and a `work`
function that does only what is the job's own (what is new, the transforms, what to count):

    STEP = Step("quality", reads=("sequences", "boxes", ...), writes=("box_metrics", ...), work=_work,
                result=QualityResult)

    def _work(run: Run, config: QualityJobConfig) -> Outcome:
        jobs = ...what changed since the ledger says...
        if not jobs:
            return run.unchanged()                      # a `no_new_input` runs row, nothing else
        boxes = run.gate.read("boxes", lambda: ...)     # read and validated (jobs.gate)
        run.gate.enforce()
        run.stage(boxes.transform(box_metrics(cfg)), BOX_METRICS)
        run.counts.add("tracked_box", seen=n_in, out=n_out)
        run.balance()                                  # in = out + rejected, else nothing is committed
        run.replace("box_metrics", jobs)               # staged partitions in place of the lake's
        return Outcome(jobs, ledger={...})

    def run(spark, config, log=print) -> QualityResult:
        return STEP.run(spark, config, log)

The runner (`Step.run`) checks the settings, takes a run id and the lake's writer lock (recovering an interrupted
commit first), creates the run's data-quality gate, calls `work`, and then commits in one journal: the gate's
`validations` file, the run's `runs` row and the job's partition moves and ledger entries. A gate that blocks
(`jobs.gate.Gate` raises ValidationFailed) commits only the findings and a `failed` runs row; any other exception
commits a `failed` runs row naming the cause (`failed_run_on_error`) and goes on up. A job never commits itself.
"""
from __future__ import annotations

import dataclasses
import json
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from pyspark.sql import DataFrame, SparkSession

from gtlake.jobs.common import file_move, partition_move, stage, staged_counts
from gtlake.jobs.gate import Gate, check_on_failure
from gtlake.lake import META, Lake, Move
from gtlake.progress import spark_progress
from gtlake.records import Counts, UnbalancedRun, ValidationFailed
from gtlake.schemas import RUNS, VALIDATIONS, Table
from gtlake.vocabulary import FAILED, NO_NEW_INPUT, SUCCEEDED



def new_run_id() -> str:
    """A sortable, unique run id: UTC start time and a random suffix."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def run_row(job: str, run_id: str, started: datetime, status: str, input_uri: str, counts: Counts,
            jobs: list[str], message: str | None = None) -> dict:
    """The job's `runs` row: what it read, wrote and refused, and how it ended."""
    n_in, n_out, n_rej = counts.totals()
    return {"run_id": run_id, "job": job, "started_at": started, "finished_at": datetime.now(timezone.utc),
            "records_in": n_in, "records_out": n_out, "records_rejected": n_rej, "status": status,
            "input_uri": input_uri, "jobs_processed": jobs, "counts": json.dumps(counts.as_dict()),
            "message": message}


def run_move(lake: Lake, run_id: str, row: dict) -> Move:
    """Stage the run's `runs` row as its own Parquet file; the move that puts it into the lake."""
    return file_move(lake, run_id, RUNS, [row])


@contextmanager
def failed_run_on_error(lake: Lake, step: str, run_id: str, started: datetime, input_uri: str,
                        counts: Counts) -> Iterator[None]:
    """Around a run's work before its commit: an exception that is not a stop the run already recorded (its
    data-quality gate's) commits a `failed` runs row naming the cause, then goes on up. Only such failures stop
    a run (a bug, a lost executor, unbalanced counts): a bad record is refused, never raised."""
    try:
        yield
    except ValidationFailed:
        raise  # the runner committed the gate's findings and its failed row
    except Exception as e:
        if lake.exists(lake.path(META, "journal.json")):
            raise  # the failure came while a commit was applied: the next run rolls that commit forward
        first = (str(e).strip().splitlines() or [""])[0]
        message = f"{type(e).__name__}: {first[:500]}"
        lake.commit(run_id, [run_move(lake, run_id, run_row(step, run_id, started, FAILED, input_uri, counts, [],
                                                            message))], {}, step=step)
        raise


@dataclass
class Outcome:
    """What a step's work did: the jobs it processed (the runs row), the ledger entries it commits, how it ended
    (`succeeded`, `no_new_input`, or `failed` for a step that records findings rather than stopping), an extra
    runs message, and the step's own result fields (its result type's other fields)."""

    jobs: list[str] = field(default_factory=list)
    ledger: dict[str, dict] = field(default_factory=dict)
    status: str = SUCCEEDED
    message: str | None = None
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    """One run of a step, handed to its work: the lake, the gate, the counts, and what it stages and moves."""

    spark: SparkSession
    lake: Lake
    step: str
    run_id: str
    started: datetime
    source: str  # what the runs row names as the input
    gate: Gate
    log: Callable[[str], None]
    context: dict[str, Any] = field(default_factory=dict)  # what the step's `prepare` made before the lock
    counts: Counts = field(default_factory=Counts)
    staged: dict[str, str] = field(default_factory=dict)  # table -> staged folder
    moves: list[Move] = field(default_factory=list)

    @property
    def name(self) -> str:
        """`<step> <run_id>`: how log lines and errors name the run."""
        return f"{self.step} {self.run_id}"

    def say(self, message: str) -> None:
        """Log one line, prefixed with the run's name."""
        self.log(f"{self.name}: {message}")

    def stage(self, df: DataFrame, table: Table, in_order: bool = False, append: bool = False) -> str:
        """Write `df` as the run's staged `table` (`jobs.common.stage`; `append`: beside what the run's tasks
        wrote there); its folder."""
        self.staged[table.name] = stage(df, table, self.lake, self.run_id, self.log, in_order, append=append)
        return self.staged[table.name]

    def staged_root(self, table: str) -> str:
        """The folder where the run's tasks write its staged `table` themselves (`jobs.filepass`), recorded as
        staged."""
        self.staged[table] = self.lake.staging(self.run_id, table)
        return self.staged[table]

    def staged_rows(self, table: str, by: tuple[str, ...] = ("job_name",), partition: str = "job_name") -> dict:
        """Rows the run staged for `table`, grouped by `by`, read back from the files written."""
        return staged_counts(self.lake, self.staged[table], list(by), partition) if table in self.staged else {}

    def replace(self, table: str, values: list[str], part: str = "job_name", sub: tuple[str, ...] = ()) -> None:
        """Put the staged partitions `part=<value>` (and `sub` below) of `table` in place of the lake's; a value
        the run staged nothing for is replaced by nothing."""
        self.moves += [partition_move(self.lake, self.staged.get(table), table, f"{part}={v}", *sub) for v in values]

    def clear(self, table: str, values: list[str], part: str = "job_name", sub: tuple[str, ...] = ()) -> None:
        """Delete the partitions `part=<value>` of `table` with the commit."""
        self.moves += [partition_move(self.lake, None, table, f"{part}={v}", *sub) for v in values]

    def balance(self, detail: str = "") -> None:
        """UnbalancedRun (nothing is committed) when a kind's records in != out + rejected."""
        bad = self.counts.unbalanced()
        if bad:
            text = detail or "; ".join(f"{k}: in {i} != out {o} + rejected {r}" for k, (i, o, r) in bad.items())
            raise UnbalancedRun(f"{self.name} not committed: unbalanced counts: {text}")

    def unchanged(self, ledger: dict[str, dict] | None = None, **result: Any) -> Outcome:
        """The outcome of a run with nothing new to do: only its `no_new_input` runs row (and `ledger`)."""
        return Outcome([], ledger or {}, NO_NEW_INPUT, None, result)


@dataclass(frozen=True)
class Step:
    """A job, declared: its name, what it reads and writes, its work, and its result type.

    `source(config)` is what the runs row names as the input (default: the lake); `prepare(config)` runs
    before the lock (loading a model, checking arguments) and its dict is the run's `context`; a step that is
    not `gated` (validate) records its gate's findings and commits them whatever they are."""

    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    work: Callable[[Run, Any], Outcome]
    result: type
    source: Callable[[Any], str] = lambda config: config.lake
    prepare: Callable[[Any], dict] = lambda config: {}
    gated: bool = True

    def run(self, spark: SparkSession, config: Any, log: Callable[[str], None] = print) -> Any:
        """Run the step on `config.lake` (`config.run_id` or a new one, `config.on_failure`); its result."""
        check_on_failure(config.on_failure)  # a bad setting fails now, not after the work
        context = self.prepare(config)
        t0 = time.monotonic()
        started = datetime.now(timezone.utc)
        run_id = config.run_id or new_run_id()
        lake = Lake(config.lake)
        source = self.source(config)
        run = Run(spark, lake, self.name, run_id, started, source, Gate(spark, lake, run_id, self.name,
                                                                         config.on_failure, log), log, context)
        with lake.lock(log), failed_run_on_error(lake, self.name, run_id, started, source, run.counts):
            try:
                with spark_progress(spark, self.name, log=log):
                    out = self.work(run, config)
                if self.gated and out.status != NO_NEW_INPUT:
                    run.gate.enforce()
            except ValidationFailed:
                self._commit(run, [], FAILED, [], f"data-quality gate: {run.gate.summary()}")
                raise
            if out.status == NO_NEW_INPUT:
                lake.commit(run_id, [run_move(lake, run_id, run_row(self.name, run_id, started, NO_NEW_INPUT, source,
                                                                    run.counts, []))], out.ledger, step=self.name)
            else:
                note = run.gate.note() if self.gated else None
                message = "; ".join(m for m in (out.message, note) if m) or None
                self._commit(run, run.moves, out.status, out.jobs, message, out.ledger)
        return self._result(run, out, time.monotonic() - t0)

    def _commit(self, run: Run, moves: list[Move], status: str, jobs: list[str], message: str | None,
                ledger: dict[str, dict] | None = None) -> None:
        """One journal: the gate's validations file, the runs row, then `moves` and `ledger`."""
        found = [file_move(run.lake, run.run_id, VALIDATIONS, run.gate.rows())] if run.gate.checked else []
        row = run_row(self.name, run.run_id, run.started, status, run.source, run.counts, jobs, message)
        run.lake.commit(run.run_id, found + [run_move(run.lake, run.run_id, row)] + moves, ledger or {},
                        step=self.name)

    def _result(self, run: Run, out: Outcome, seconds: float) -> Any:
        names = {f.name for f in dataclasses.fields(self.result)}
        common: dict[str, Any] = {"run_id": run.run_id, "status": out.status, "counts": run.counts,
                                  "jobs_processed": out.jobs, "seconds": seconds}
        if out.status != NO_NEW_INPUT:
            common.update(checks=run.gate.summary(), check_seconds=run.gate.seconds)
        return self.result(**{k: v for k, v in common.items() if k in names and k not in out.result}, **out.result)
