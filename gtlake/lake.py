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

import json
import os
import posixpath
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from gtlake import integrity, locks, storage
from gtlake.locks import LakeBusy, lock_stale_seconds  # noqa: F401 - the lake's errors, importable from here

META = "_gtlake"


def _atomic_write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class Move:
    """Put `src` (a staged folder or file, or None for 'no new data') in place of `dst`."""

    src: str | None
    dst: str


def drop_checksums(path: str | None) -> None:
    """Delete Hadoop's `.crc` side files under a local folder: the lake is plain Parquet, so a file another tool
    rewrites (pyarrow, DuckDB, pandas) stays readable by Spark (which checks a `.crc` only where one exists)."""
    if path is None or not os.path.isdir(path):
        return
    for d, _, names in os.walk(path):
        for n in names:
            if n.startswith(".") and n.endswith(".crc"):
                os.unlink(os.path.join(d, n))


class LakeMidCommit(RuntimeError):
    """A commit is being applied (or was killed part way and its writer still holds the lock)."""


class Lake:
    """A lake in a local folder or under an `s3://` prefix.

    Paths handed out (`path`, `staging`, `table_path`) are the lake file system's own: absolute local
    paths, or `bucket/key` on S3; `uri` turns one into what Spark reads and writes, `display` into
    what a person reads.
    """

    def __init__(self, root: str):
        self.held: locks.LocalLock | locks.S3Lock | None = None
        self.remote = storage.is_s3(root)
        if self.remote:
            bucket, key = storage.split_s3(root)
            if not bucket:
                raise ValueError(f"not an S3 prefix: {root}")
            self.root = posixpath.join(bucket, key.strip("/")).rstrip("/")
            self.fs = storage.s3_filesystem()
        else:
            from pyarrow import fs

            self.root = os.path.abspath(root)
            self.fs = fs.LocalFileSystem()

    # -- paths -----------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        """A path inside the lake."""
        return posixpath.join(self.root, *parts) if self.remote else os.path.join(self.root, *parts)

    def table_path(self, table: str) -> str:
        """Folder of a table."""
        return self.path(table)

    def staging(self, run_id: str, *parts: str) -> str:
        """A path in the run's staging area."""
        return self.path(META, "staging", run_id, *parts)

    def uri(self, path: str) -> str:
        """`path` as Spark's Hadoop file systems want it (file:// locally; s3a:// here, s3:// on Glue)."""
        return storage.spark_path("s3://" + path) if self.remote else "file://" + path

    def display(self, path: str | None = None) -> str:
        """`path` (default: the root) as a person reads it: a local path or an s3:// URI."""
        path = self.root if path is None else path
        return "s3://" + path if self.remote else path

    # -- small file-system operations ------------------------------------------------------
    def isdir(self, path: str) -> bool:
        """True if `path` is a folder (on S3: a prefix holding at least one object)."""
        if not self.remote:
            return os.path.isdir(path)
        from pyarrow import fs

        return self.fs.get_file_info(path).type == fs.FileType.Directory

    def exists(self, path: str) -> bool:
        """True if `path` is a file or a folder."""
        if not self.remote:
            return os.path.exists(path)
        from pyarrow import fs

        return self.fs.get_file_info(path).type != fs.FileType.NotFound

    def listdir(self, path: str) -> list[str]:
        """Names directly under the folder `path`, sorted; empty when it does not exist."""
        if not self.remote:
            return sorted(os.listdir(path)) if os.path.isdir(path) else []
        from pyarrow import fs

        infos = self.fs.get_file_info(fs.FileSelector(path, allow_not_found=True))
        return sorted(posixpath.basename(i.path) for i in infos)

    def files(self, path: str) -> list[str]:
        """Every file under `path` (itself if it is a file), as paths relative to it ('' for itself)."""
        if not self.remote:
            if os.path.isfile(path):
                return [""]
            return sorted(os.path.relpath(os.path.join(d, n), path)
                          for d, _, names in os.walk(path) for n in names)
        from pyarrow import fs

        info = self.fs.get_file_info(path)
        if info.type == fs.FileType.File:
            return [""]
        if info.type == fs.FileType.NotFound:
            return []
        infos = self.fs.get_file_info(fs.FileSelector(path, recursive=True))
        return sorted(posixpath.relpath(i.path, path) for i in infos if i.type == fs.FileType.File)

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a whole file at once (atomically: a rename locally, a single PUT on S3)."""
        if not self.remote:
            _atomic_write(path, data)
            return
        with self.fs.open_output_stream(path) as f:
            f.write(data)

    def read_bytes(self, path: str) -> bytes:
        """The whole content of a file."""
        with self.fs.open_input_stream(path) as f:
            return f.read()

    def remove(self, path: str) -> None:
        """Delete a file or a whole folder; nothing when it does not exist."""
        if not self.remote:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.exists(path):
                os.unlink(path)
            return
        from pyarrow import fs

        bucket, key = path.split("/", 1)
        keys = [key] if self.fs.get_file_info(path).type == fs.FileType.File else []
        for page in storage.s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key + "/"):
            keys += [o["Key"] for o in page.get("Contents", [])]  # folder markers ("x/") included
        self._s3_delete([f"{bucket}/{k}" for k in keys])

    def _s3_copy(self, src: str, dst: str) -> None:
        """Server-side copy of one object (boto3's managed copy: multipart above 8 MB)."""
        sb, sk = src.split("/", 1)
        db, dk = dst.split("/", 1)
        storage.s3_client().copy({"Bucket": sb, "Key": sk}, db, dk)

    def _s3_delete(self, paths: list[str]) -> None:
        """Delete objects in batches of 1000 (unlike pyarrow's delete, leaves no folder marker behind)."""
        client = storage.s3_client()
        for i in range(0, len(paths), 1000):
            batch = paths[i:i + 1000]
            bucket = batch[0].split("/", 1)[0]
            resp = client.delete_objects(Bucket=bucket, Delete={
                "Objects": [{"Key": p.split("/", 1)[1]} for p in batch], "Quiet": True})
            if resp.get("Errors"):
                err = resp["Errors"][0]
                raise OSError(f"cannot delete s3://{bucket}/{err['Key']}: {err['Code']} {err.get('Message', '')}")

    # -- lock ------------------------------------------------------------------------------
    @contextmanager
    def lock(self, log: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the lake's writer lock (`gtlake.locks`), recover, then run the block; released on every exit."""
        path = self.path(META, "lock")
        if self.remote:
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
        path = self.path(META, "journal.json")
        if not self.exists(path):
            return None
        try:
            return json.loads(self.read_bytes(path))
        except (OSError, ValueError):
            return {"run_id": "?"}

    def settle(self) -> None:
        """For a reader: roll a pending commit forward if the lock is free; LakeMidCommit if its writer holds it."""
        journal = self.pending()
        if journal is None:
            return
        try:
            with self.lock():
                pass
        except LakeBusy as e:
            raise LakeMidCommit(f"lake {self.display()} is mid-commit (run {journal.get('run_id', '?')}; {e}); "
                                "its tables are half old, half new for a few seconds: try again shortly") from None

    # -- commit and recovery ---------------------------------------------------------------
    def commit(self, run_id: str, moves: list[Move], ledger: dict[str, dict], step: str = "ingest") -> None:
        """Atomically decide the run (journal), then apply its moves and the step's ledger updates."""
        if not self.remote:
            for m in moves:
                drop_checksums(m.src)
        records = integrity.records(self, moves)
        if self.held is not None:
            self.held.check()  # a run that lost its lock never commits
        journal = {"run_id": run_id, "moves": [[m.src, m.dst] for m in moves], "ledger": ledger, "step": step,
                   "records": records, "written_at": time.time()}
        self.write_bytes(self.path(META, "journal.json"), json.dumps(journal).encode())
        self._apply(journal)

    def recover(self) -> str | None:
        """Roll forward an interrupted commit and delete what killed runs left; the run id rolled forward."""
        journal_path = self.path(META, "journal.json")
        rolled = None
        if self.exists(journal_path):
            journal = json.loads(self.read_bytes(journal_path))
            self._apply(journal)
            rolled = journal["run_id"]
        for leftover in ("staging", "trash"):
            self.remove(self.path(META, leftover))
        return rolled

    def _apply(self, journal: dict) -> None:
        run_id = journal["run_id"]
        for src, dst in journal["moves"]:
            (self._copy_over if self.remote else self._swap)(run_id, src, dst)
        step = journal.get("step", "ingest")
        for job, entry in journal["ledger"].items():
            self.write_bytes(self.path(META, "ledger", step, f"{job}.json"), json.dumps(entry, indent=1).encode())
        integrity.write_records(self, run_id, journal.get("records", {}))
        self.remove(self.path(META, "journal.json"))
        self.remove(self.path(META, "trash", run_id))
        self.remove(self.staging(run_id))

    def _swap(self, run_id: str, src: str | None, dst: str) -> None:
        """Local: the old `dst` aside into the trash, `src` renamed into place (each step atomic)."""
        aside = self.path(META, "trash", run_id, os.path.relpath(dst, self.root))
        if src is not None and not os.path.exists(src):
            return  # already moved by an earlier attempt
        if os.path.exists(dst):
            os.makedirs(os.path.dirname(aside), exist_ok=True)
            if os.path.exists(aside):
                shutil.rmtree(aside)
            os.replace(dst, aside)
        if src is not None:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.replace(src, dst)

    def _copy_over(self, run_id: str, src: str | None, dst: str) -> None:
        """S3: copy the staged objects onto `dst`, then delete `dst`'s other objects. Repeatable: the
        staged objects are deleted only after the whole commit is applied."""
        new = self.files(src) if src is not None else []
        if src is not None and not new:
            return  # nothing staged there (never listed as a move) or already cleaned up
        for rel in new:
            self._s3_copy(posixpath.join(src, rel) if rel else src, posixpath.join(dst, rel) if rel else dst)
        keep = set(new)
        self._s3_delete([posixpath.join(dst, rel) if rel else dst for rel in self.files(dst) if rel not in keep])

    # -- ledger ----------------------------------------------------------------------------
    def ledger(self, step: str = "ingest") -> dict[str, dict]:
        """Per labeling job: what `step` last processed (a fingerprint of its inputs) and the run that did it."""
        folder = self.path(META, "ledger", step)
        return {name[:-5]: json.loads(self.read_bytes(self.path(META, "ledger", step, name)))
                for name in self.listdir(folder) if name.endswith(".json")}
