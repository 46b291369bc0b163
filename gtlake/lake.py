"""The lake: table folders, a run's staging area, a commit that never leaves it half-done, and the ledger.

A lake is a local folder or an `s3://bucket/prefix`. Layout under its root:

    <table>/job_name=<job>/part-*.parquet   Hive-style partitions, what readers see
    runs/<run_id>.parquet                    one file per run
    _gtlake/staging/<run_id>/...             a run writes here first (readers never look here)
    _gtlake/journal.json                     present only while a commit is being applied
    _gtlake/ledger/<step>/<job>.json         what each step has already processed, per labeling job
    _gtlake/lock                             one writer at a time

A commit first writes the journal (one atomic rename locally, one PUT on S3): from then on the run is
decided, and the moves it lists (staged partitions into place) are applied; any later command rolls an
interrupted commit forward before doing anything else. A run killed before its journal exists leaves only
staging files behind, which the next run deletes: the lake is as it was.

Locally a move is a folder rename (old folder aside, new one in), so readers see the old or the new
partition. S3 has no rename: a move copies the staged objects over and then deletes the partition's
other objects, and the staged objects stay until every move is done, so rolling forward again is always
safe. A reader listing a partition during those seconds can see old and new files together; that is
the usual contract of Hive-style tables on S3 (readers that need more use a table format).
"""
from __future__ import annotations

import errno
import json
import os
import posixpath
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from gtlake import storage

META = "_gtlake"


def lock_stale_seconds() -> float:
    """An S3 lock not renewed for this long is a dead run's ($GTLAKE_LOCK_STALE_SECONDS, default 600).
    Its holder renews it every quarter of that while it runs."""
    try:
        value = float(os.environ.get("GTLAKE_LOCK_STALE_SECONDS", "600"))
    except ValueError:
        raise ValueError("GTLAKE_LOCK_STALE_SECONDS must be a number of seconds") from None
    if value <= 0:
        raise ValueError("GTLAKE_LOCK_STALE_SECONDS must be positive")
    return value


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


class _Renewal:
    """Rewrites an S3 lock's renewal time every quarter of the stale time until stopped."""

    def __init__(self, lake: "Lake", path: str, body: dict):
        self.lake, self.path, self.body = lake, path, dict(body)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="gtlake-lock-renewal", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        interval = lock_stale_seconds() / 4
        while not self.done.wait(interval):
            self.body["renewed_at"] = time.time()
            try:
                self.lake.write_bytes(self.path, json.dumps(self.body).encode())
            except OSError:
                pass  # a missed renewal is retried next time; the lock only goes stale after four

    def stop(self) -> None:
        """Stop renewing (before the lock is deleted)."""
        self.done.set()
        self.thread.join()


class Lake:
    """A lake in a local folder or under an `s3://` prefix.

    Paths handed out (`path`, `staging`, `table_path`) are the lake file system's own: absolute local
    paths, or `bucket/key` on S3; `uri` turns one into what Spark reads and writes, `display` into
    what a person reads.
    """

    def __init__(self, root: str):
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
    def lock(self) -> Iterator[None]:
        """Hold the lake's writer lock (a dead holder's lock is taken over), recover, then run the block."""
        path = self.path(META, "lock")
        renewing = None
        if self.remote:
            body = self._take_s3_lock(path)
            renewing = _Renewal(self, path, body)
        else:
            self._take_local_lock(path)
        try:
            self.recover()
            yield
        finally:
            if renewing is not None:
                renewing.stop()
            self.remove(path)

    def _take_local_lock(self, path: str) -> None:
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

    def _take_s3_lock(self, path: str) -> dict:
        """A conditional PUT (If-None-Match) creates the lock object only if none exists; its body says who
        holds it and when it was last renewed. A lock not renewed for `lock_stale_seconds()` is taken over."""
        from botocore.exceptions import ClientError

        bucket, key = path.split("/", 1)
        stale = lock_stale_seconds()
        body = {"holder": f"{socket.gethostname()}:{os.getpid()}", "renewed_at": time.time()}
        client = storage.s3_client()
        for _ in range(2):
            try:  # the object's existence is the lock
                client.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode(), IfNoneMatch="*")
                return body
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "ConditionalRequestConflict"):
                    raise
            try:
                held = json.loads(self.read_bytes(path))
            except (OSError, ValueError):
                held = {"holder": "unknown", "renewed_at": 0}
            age = time.time() - float(held.get("renewed_at", 0))
            if age < stale:
                raise LakeBusy(f"lake {self.display()} is locked by {held.get('holder')} (renewed {age:.0f}s ago; "
                               f"a lock not renewed for {stale:.0f}s is taken over)")
            self.remove(path)
        raise LakeBusy(f"could not lock lake {self.display()}")

    # -- commit and recovery ---------------------------------------------------------------
    def commit(self, run_id: str, moves: list[Move], ledger: dict[str, dict], step: str = "ingest") -> None:
        """Atomically decide the run (journal), then apply its moves and the step's ledger updates."""
        journal = {"run_id": run_id, "moves": [[m.src, m.dst] for m in moves], "ledger": ledger, "step": step,
                   "written_at": time.time()}
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
