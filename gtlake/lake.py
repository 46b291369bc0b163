"""The lake: table folders, a run's staging area, a commit that never leaves it half-done, and the ledger.

A lake is a local folder or an `s3://bucket/prefix`. Layout under its root:

    <table>/job_name=<job>/part-*.parquet   Hive-style partitions, what readers see
    runs/<run_id>.parquet                    one file per run
    _gtlake/staging/<run_id>/...             a run writes here first (readers never look here)
    _gtlake/journal.json                     present only while a commit is being applied
    _gtlake/ledger/<step>/<job>.json         what each step has already processed, per labeling job
    _gtlake/files/<partition>.json           what the last commit put there: each file's size and SHA-256
    _gtlake/lock                             one writer at a time (gtlake.locks)

A commit first writes the journal (one atomic rename locally, one PUT on S3): from then on the run is
decided, and the moves it lists (staged partitions into place) are applied; any later command rolls an
interrupted commit forward before doing anything else. A run killed before its journal exists leaves only
staging files behind, which the next run deletes: the lake is as it was.

Locally a move is a folder rename (old folder aside, new one in), so readers see the old or the new
partition. S3 has no rename: a move copies the staged objects over and then deletes the partition's
other objects, and the staged objects stay until every move is done, so rolling forward again is always
safe. A reader listing a partition during those seconds can see old and new files together; that is
the usual contract of Hive-style tables on S3 (readers that need more use a table format).

The journal also carries the records of what each move puts in place (`gtlake.integrity`), applied with
it, so the lake can always be compared with what was committed. A reader that finds a journal (a commit
killed part way) rolls it forward when it can take the lock, and otherwise says the lake is mid-commit.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from gtlake import integrity, journal, ledger, locks
from gtlake.journal import META, Move
from gtlake.locks import LakeBusy, lock_stale_seconds
from gtlake.store import drop_checksums, open_store

__all__ = ["META", "Lake", "LakeBusy", "LakeMidCommit", "Move", "drop_checksums", "lock_stale_seconds"]


class LakeMidCommit(RuntimeError):
    """A commit is being applied (or was killed part way and its writer still holds the lock)."""


class Lake:
    """A lake in a local folder or under an `s3://` prefix: its store (`gtlake.store`), its writer lock
    (`gtlake.locks`), its commit protocol (`gtlake.journal`) and its ledger (`gtlake.ledger`).

    Paths handed out (`path`, `staging`, `table_path`) are the store's own: absolute local paths, or
    `bucket/key` on S3; `uri` turns one into what Spark reads and writes, `display` into what a person reads.
    """

    def __init__(self, root: str):
        self.held: locks.LocalLock | locks.S3Lock | None = None
        self.store = open_store(root)
        self.remote, self.root, self.fs = self.store.remote, self.store.root, self.store.fs

    # -- paths -----------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        """A path inside the lake."""
        return self.store.path(*parts)

    def table_path(self, table: str) -> str:
        """Folder of a table."""
        return self.path(table)

    def staging(self, run_id: str, *parts: str) -> str:
        """A path in the run's staging area."""
        return self.path(META, "staging", run_id, *parts)

    def uri(self, path: str) -> str:
        """`path` as Spark's Hadoop file systems want it (file:// locally; s3a:// here, s3:// on Glue)."""
        return self.store.uri(path)

    def display(self, path: str | None = None) -> str:
        """`path` (default: the root) as a person reads it: a local path or an s3:// URI."""
        return self.store.display(self.root if path is None else path)

    # -- small file-system operations (the store's) -----------------------------------------
    def isdir(self, path: str) -> bool:
        """True if `path` is a folder (on S3: a prefix holding at least one object)."""
        return self.store.isdir(path)

    def exists(self, path: str) -> bool:
        """True if `path` is a file or a folder."""
        return self.store.exists(path)

    def listdir(self, path: str) -> list[str]:
        """Names directly under the folder `path`, sorted; empty when it does not exist."""
        return self.store.listdir(path)

    def files(self, path: str) -> list[str]:
        """Every file under `path` (itself if it is a file), as paths relative to it ('' for itself)."""
        return self.store.files(path)

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a whole file at once (atomically: a rename locally, a single PUT on S3)."""
        self.store.write_bytes(path, data)

    def read_bytes(self, path: str) -> bytes:
        """The whole content of a file."""
        return self.store.read_bytes(path)

    def remove(self, path: str) -> None:
        """Delete a file or a whole folder; nothing when it does not exist."""
        self.store.remove(path)

    # -- lock ------------------------------------------------------------------------------
    @contextmanager
    def lock(self, log: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the lake's writer lock (`gtlake.locks`), recover, then run the block; released on every exit."""
        path = self.path(META, "lock")
        if self.remote:
            from gtlake import storage

            bucket, key = path.split("/", 1)
            held = locks.S3Lock(storage.s3_client(), bucket, key, f"lake {self.display()}")
        else:
            held = locks.LocalLock(path, f"lake {self.display()}")
        held.acquire()
        self.held = held
        try:
            self.recover()
            integrity.adopt(self, log)
            yield
        finally:
            self.held = None
            held.release()

    def pending(self) -> dict | None:
        """The journal of a commit being applied (or killed part way), else None."""
        return journal.pending(self)

    def settle(self) -> None:
        """For a reader: roll a pending commit forward if the lock is free; LakeMidCommit if its writer holds it."""
        found = self.pending()
        if found is None:
            return
        try:
            with self.lock():
                pass
        except LakeBusy as e:
            raise LakeMidCommit(f"lake {self.display()} is mid-commit (run {found.get('run_id', '?')}; {e}); "
                                "its tables are half old, half new for a few seconds: try again shortly") from None

    # -- commit and recovery (gtlake.journal) ------------------------------------------------
    def commit(self, run_id: str, moves: list[Move], entries: dict[str, dict], step: str) -> None:
        """Atomically decide the run (journal), then apply its moves and the step's ledger entries."""
        journal.commit(self, run_id, moves, entries, step)

    def recover(self) -> str | None:
        """Roll forward an interrupted commit and delete what killed runs left; the run id rolled forward."""
        return journal.recover(self)

    # -- ledger (gtlake.ledger) ----------------------------------------------------------------
    def ledger(self, step: str) -> dict[str, dict]:
        """Per labeling job: what `step` last processed (a fingerprint of its inputs) and the run that did it."""
        return ledger.read(self, step)
