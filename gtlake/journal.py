"""The commit protocol: decide a run in one write (the journal), then apply its moves; roll an interrupted one
forward. (`gtlake.lake` explains the layout and what readers see; `gtlake.store` does the file operations.)

A commit first writes `_gtlake/journal.json` (one atomic rename locally, one PUT on S3): from then on the run is
decided, and the moves it lists (staged partitions into place) are applied, then the step's ledger entries and
the records of what each move put in place (`gtlake.integrity`); any later command rolls an interrupted commit
forward before doing anything else. A run killed before its journal exists leaves only staging files behind,
which the next run deletes: the lake is as it was.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gtlake import integrity, ledger
from gtlake.store import drop_checksums

if TYPE_CHECKING:
    from gtlake.lake import Lake

META = "_gtlake"
JOURNAL = "journal.json"


@dataclass(frozen=True)
class Move:
    """Put `src` (a staged folder or file, or None for 'no new data') in place of `dst`."""

    src: str | None
    dst: str


def commit(lake: Lake, run_id: str, moves: list[Move], entries: dict[str, dict], step: str) -> None:
    """Atomically decide the run (journal), then apply its moves and the step's ledger `entries`."""
    if not lake.remote:
        for m in moves:
            drop_checksums(m.src)
    records = integrity.records(lake, moves)
    if lake.held is not None:
        lake.held.check()  # a run that lost its lock never commits
    journal = {"run_id": run_id, "moves": [[m.src, m.dst] for m in moves], "ledger": entries, "step": step,
               "records": records, "written_at": time.time()}
    lake.write_bytes(lake.path(META, JOURNAL), json.dumps(journal).encode())
    apply(lake, journal)


def pending(lake: Lake) -> dict | None:
    """The journal of a commit being applied (or killed part way), else None."""
    path = lake.path(META, JOURNAL)
    if not lake.exists(path):
        return None
    try:
        return json.loads(lake.read_bytes(path))
    except (OSError, ValueError):
        return {"run_id": "?"}


def recover(lake: Lake) -> str | None:
    """Roll forward an interrupted commit and delete what killed runs left; the run id rolled forward."""
    journal_path = lake.path(META, JOURNAL)
    rolled = None
    if lake.exists(journal_path):
        journal = json.loads(lake.read_bytes(journal_path))
        apply(lake, journal)
        rolled = journal["run_id"]
    for leftover in ("staging", "trash"):
        lake.remove(lake.path(META, leftover))
    return rolled


def apply(lake: Lake, journal: dict) -> None:
    """Apply a decided commit: its moves, ledger entries and records; then forget the journal and the staging.
    Every step is repeatable, so applying a journal again after a kill is always safe."""
    run_id = journal["run_id"]
    for src, dst in journal["moves"]:
        aside = lake.path(META, "trash", run_id, os.path.relpath(dst, lake.root))
        lake.store.put_in_place(src, dst, aside)
    ledger.write(lake, journal.get("step", "ingest"), journal["ledger"])  # journals before steps were named: ingest's
    integrity.write_records(lake, run_id, journal.get("records", {}))
    lake.remove(lake.path(META, JOURNAL))
    lake.remove(lake.path(META, "trash", run_id))
    lake.remove(lake.staging(run_id))
