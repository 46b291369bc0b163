"""The lake on disk: table folders, a run's staging area, an atomic commit, and the ledger.

Layout under the lake root:

    <table>/job_name=<job>/part-*.parquet   Hive-style partitions, what readers see
    runs/<run_id>.parquet                    one file per run
    _gtlake/staging/<run_id>/...             a run writes here first (readers never look here)
    _gtlake/journal.json                     present only while a commit is being applied
    _gtlake/ledger/<step>/<job>.json         what each step has already processed, per labeling job
    _gtlake/lock                             one writer at a time

A commit first writes the journal (one atomic rename): from then on the run is decided, and the
swaps it lists (staged partition folders into place, old ones aside) are applied; any later
command rolls an interrupted commit forward before doing anything else. A run killed before its
journal exists leaves only staging files behind, which the next run deletes: the lake is as it was.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

META = "_gtlake"


class LakeBusy(RuntimeError):
    """Another live process holds the lake's lock."""


def _atomic_write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


@dataclass(frozen=True)
class Move:
    """Put `src` (a staged folder or file, or None for 'no new data') in place of `dst`."""

    src: str | None
    dst: str


class Lake:
    """A local lake folder (S3 lakes arrive with the Glue deployment)."""

    def __init__(self, root: str):
        if root.startswith(("s3://", "s3a://")):
            raise ValueError("a lake on S3 is not supported yet; use a local folder for --lake")
        self.root = os.path.abspath(root)

    def path(self, *parts: str) -> str:
        """A path inside the lake."""
        return os.path.join(self.root, *parts)

    def table_path(self, table: str) -> str:
        """Folder of a table."""
        return self.path(table)

    def staging(self, run_id: str, *parts: str) -> str:
        """A path in the run's staging area."""
        return self.path(META, "staging", run_id, *parts)

    # -- lock ------------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the lake's writer lock; a lock left by a dead process is taken over."""
        path = self.path(META, "lock")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                break
            except FileExistsError:
                try:
                    holder = int(open(path).read().strip() or 0)
                except (OSError, ValueError):
                    holder = 0
                if holder and _pid_alive(holder) and holder != os.getpid():
                    raise LakeBusy(f"lake {self.root} is locked by running process {holder}") from None
                os.unlink(path)
        else:
            raise LakeBusy(f"could not lock lake {self.root}")
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        try:
            self.recover()
            yield
        finally:
            os.unlink(path)

    # -- commit and recovery ---------------------------------------------------------------
    def commit(self, run_id: str, moves: list[Move], ledger: dict[str, dict], step: str = "ingest") -> None:
        """Atomically decide the run (journal), then apply its moves and the step's ledger updates."""
        journal = {"run_id": run_id, "moves": [[m.src, m.dst] for m in moves], "ledger": ledger, "step": step,
                   "written_at": time.time()}
        _atomic_write(self.path(META, "journal.json"), json.dumps(journal).encode())
        self._apply(journal)

    def recover(self) -> str | None:
        """Roll forward an interrupted commit and delete what killed runs left; the run id rolled forward."""
        journal_path = self.path(META, "journal.json")
        rolled = None
        if os.path.exists(journal_path):
            with open(journal_path, encoding="utf-8") as f:
                journal = json.load(f)
            self._apply(journal)
            rolled = journal["run_id"]
        for leftover in ("staging", "trash"):
            shutil.rmtree(self.path(META, leftover), ignore_errors=True)
        return rolled

    def _apply(self, journal: dict) -> None:
        run_id = journal["run_id"]
        for src, dst in journal["moves"]:
            aside = self.path(META, "trash", run_id, os.path.relpath(dst, self.root))
            if src is not None and not os.path.exists(src):
                continue  # already moved by an earlier attempt
            if os.path.exists(dst):
                os.makedirs(os.path.dirname(aside), exist_ok=True)
                if os.path.exists(aside):
                    shutil.rmtree(aside)
                os.replace(dst, aside)
            if src is not None:
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                os.replace(src, dst)
        step = journal.get("step", "ingest")
        for job, entry in journal["ledger"].items():
            _atomic_write(self.path(META, "ledger", step, f"{job}.json"), json.dumps(entry, indent=1).encode())
        os.unlink(self.path(META, "journal.json"))
        shutil.rmtree(self.path(META, "trash", run_id), ignore_errors=True)
        shutil.rmtree(self.path(META, "staging", run_id), ignore_errors=True)

    # -- ledger ----------------------------------------------------------------------------
    def ledger(self, step: str = "ingest") -> dict[str, dict]:
        """Per labeling job: what `step` last processed (a fingerprint of its inputs) and the run that did it."""
        folder = self.path(META, "ledger", step)
        out = {}
        if os.path.isdir(folder):
            for name in sorted(os.listdir(folder)):
                if name.endswith(".json"):
                    with open(os.path.join(folder, name), encoding="utf-8") as f:
                        out[name[:-5]] = json.load(f)
        return out
