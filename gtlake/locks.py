"""The lake's writer lock: one holder at a time, provably, locally and on S3.

Both locks carry an owner record (host, pid, the process's start time, a random token, when it was taken),
so a message names the holder and a holder can check, before it commits, that the lock is still its own.

Locally the lock is the kernel's (`flock` on `_gtlake/lock`): taking it is one atomic call, and the kernel
releases it when its holder dies however it dies, so there is no stale lock to take over and no pid that can
be reused. The file stays; only its content (the owner record) changes. A holder whose lock file was deleted
or replaced by hand no longer holds the lake and notices before committing.

On S3 the lock is an object created with a conditional PUT (`If-None-Match: *`); its holder renews it every
quarter of the stale time with a PUT conditioned on its own last ETag (`If-Match`). A lock not renewed for
`lock_stale_seconds()` is taken over by a PUT conditioned on the stale object's ETag, so of several runs
taking over the same dead lock exactly one succeeds. Release deletes the object only if it is still ours.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import socket
import threading
import time


class LakeBusy(RuntimeError):
    """Another live process holds the lake's lock (or this one lost it)."""


def lock_stale_seconds() -> float:
    """An S3 lock not renewed for this long is a dead run's ($GTLAKE_LOCK_STALE_SECONDS, default 600).
    Its holder renews it every quarter of that while it runs."""
    try:
        value = float(os.environ.get("GTLAKE_LOCK_STALE_SECONDS", "600"))
    except ValueError:
        raise ValueError("GTLAKE_LOCK_STALE_SECONDS must be a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise ValueError("GTLAKE_LOCK_STALE_SECONDS must be a positive number of seconds")
    return value


def _process_start() -> str:
    """This process's start time in clock ticks since boot (Linux), which with the pid names it uniquely."""
    try:
        with open(f"/proc/{os.getpid()}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def owner() -> dict:
    """A new owner record for this process."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "process_start": _process_start(),
            "token": secrets.token_hex(16), "taken_at": time.time(), "renewed_at": time.time()}


def describe(record: dict) -> str:
    """Who holds a lock, as a person reads it."""
    if not record:
        return "another process"
    taken = record.get("taken_at")
    since = f", since {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(taken))} UTC" if isinstance(taken, (int, float)) \
        else ""
    return f"process {record.get('pid', '?')} on {record.get('host', '?')}{since}"


def _read_record(text: bytes | str) -> dict:
    try:
        record = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


class LocalLock:
    """An OS file lock on `path`, held from `acquire` to `release`."""

    def __init__(self, path: str, what: str):
        self.path, self.what = path, what
        self.fd: int | None = None
        self.record: dict = {}

    def acquire(self) -> None:
        """Take the lock now, or LakeBusy naming its holder."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        for _ in range(5):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                raise LakeBusy(f"{self.what} is locked by {describe(self._current())}") from None
            if self._same_file(fd):
                break
            os.close(fd)  # the file was replaced between open and lock: lock the one now at the path
        else:
            raise LakeBusy(f"could not lock {self.what}: its lock file keeps being replaced")
        self.fd = fd
        self.record = owner()
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(self.record).encode(), 0)
        os.fsync(fd)

    def _same_file(self, fd: int) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        own = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)

    def _current(self) -> dict:
        try:
            with open(self.path, "rb") as f:
                return _read_record(f.read())
        except OSError:
            return {}

    def check(self) -> None:
        """LakeBusy unless this process still holds the lock (its file not deleted or replaced since)."""
        if self.fd is None or not self._same_file(self.fd) or self._current().get("token") != self.record["token"]:
            raise LakeBusy(f"{self.what}: this run lost its lock (the lock file was deleted or replaced); "
                           "nothing was committed")

    def release(self) -> None:
        """Give the lock up (the file stays, emptied)."""
        if self.fd is None:
            return
        try:
            if self._same_file(self.fd):
                os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)
            self.fd = None


class S3Lock:
    """A lock object at `bucket/key`, renewed by a thread while held."""

    def __init__(self, client, bucket: str, key: str, what: str):  # noqa: ANN001 - a boto3 S3 client
        self.client, self.bucket, self.key, self.what = client, bucket, key, what
        self.record: dict = {}
        self.etag: str | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def _put(self, **cond) -> str:  # noqa: ANN003
        resp = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=json.dumps(self.record).encode(), **cond)
        return resp["ETag"]

    def acquire(self) -> None:
        """Take the lock (a stale one is taken over), or LakeBusy naming its holder."""
        from botocore.exceptions import ClientError

        stale = lock_stale_seconds()
        self.record = owner()
        for _ in range(3):
            try:
                self.etag = self._put(IfNoneMatch="*")
                break
            except ClientError as e:
                if not _conflict(e):
                    raise
            try:
                held = self.client.get_object(Bucket=self.bucket, Key=self.key)
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    continue  # released meanwhile: try to create it again
                raise
            record = _read_record(held["Body"].read())
            age = time.time() - float(record.get("renewed_at", 0) or 0)
            if age < stale:
                raise LakeBusy(f"{self.what} is locked by {describe(record)} (renewed {age:.0f}s ago; a lock not "
                               f"renewed for {stale:.0f}s is taken over)")
            try:  # take over exactly the stale object we read: of several runs doing this, one succeeds
                self.etag = self._put(IfMatch=held["ETag"])
                break
            except ClientError as e:
                if not _conflict(e):
                    raise
                raise LakeBusy(f"{self.what}: another run took over its stale lock first") from None
        else:
            raise LakeBusy(f"could not lock {self.what}")
        self._thread = threading.Thread(target=self._renew, name="gtlake-lock-renewal", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        interval = lock_stale_seconds() / 4
        while not self._done.wait(interval):
            with self._guard:
                self.record["renewed_at"] = time.time()
                try:
                    self.etag = self._put(IfMatch=self.etag)
                except ClientError as e:
                    if _conflict(e) or e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                        self.etag = None  # lost: check() says so before any commit
                        return
                except BotoCoreError:
                    pass  # a missed renewal is retried next time; the lock goes stale only after four

    def check(self) -> None:
        """LakeBusy unless the lock object is still the one this run wrote last."""
        from botocore.exceptions import ClientError

        with self._guard:
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=self.key)
            except ClientError:
                head = {}
            if self.etag is None or head.get("ETag") != self.etag:
                raise LakeBusy(f"{self.what}: this run lost its lock (taken over or deleted); nothing was committed")

    def release(self) -> None:
        """Stop renewing and delete the lock if it is still ours."""
        from botocore.exceptions import ClientError

        self._done.set()
        if self._thread is not None:
            self._thread.join()
        if self.etag is None:
            return
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self.etag)
        except ClientError as e:
            if not _conflict(e) and e.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise


def _conflict(e) -> bool:  # noqa: ANN001 - botocore ClientError
    return e.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict", "412")
