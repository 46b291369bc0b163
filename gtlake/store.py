"""Where a lake's files are: a local folder or an S3 prefix, behind one set of small file operations.

Paths handed out are the store's own: absolute local paths, or `bucket/key` on S3; `uri` turns one into what
Spark reads and writes, `display` into what a person reads. `put_in_place` is the one operation the commit
protocol (`gtlake.journal`) needs that differs in kind: a folder rename locally, copy-then-delete on S3.
"""
from __future__ import annotations

import os
import posixpath
import shutil

from gtlake import storage


def _atomic_write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def drop_checksums(path: str | None) -> None:
    """Delete Hadoop's `.crc` side files under a local folder: the lake is plain Parquet, so a file another tool
    rewrites (pyarrow, DuckDB, pandas) stays readable by Spark (which checks a `.crc` only where one exists)."""
    if path is None or not os.path.isdir(path):
        return
    for d, _, names in os.walk(path):
        for n in names:
            if n.startswith(".") and n.endswith(".crc"):
                os.unlink(os.path.join(d, n))


class LocalStore:
    """A lake in a local folder."""

    remote = False

    def __init__(self, root: str):
        from pyarrow import fs

        self.root = os.path.abspath(root)
        self.fs = fs.LocalFileSystem()

    def path(self, *parts: str) -> str:
        """A path inside the store."""
        return os.path.join(self.root, *parts)

    def uri(self, path: str) -> str:
        """`path` as Spark's Hadoop file systems want it."""
        return "file://" + path

    def display(self, path: str) -> str:
        """`path` as a person reads it."""
        return path

    def isdir(self, path: str) -> bool:
        """True if `path` is a folder."""
        return os.path.isdir(path)

    def exists(self, path: str) -> bool:
        """True if `path` is a file or a folder."""
        return os.path.exists(path)

    def listdir(self, path: str) -> list[str]:
        """Names directly under the folder `path`, sorted; empty when it does not exist."""
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def files(self, path: str) -> list[str]:
        """Every file under `path` (itself if it is a file), as paths relative to it ('' for itself)."""
        if os.path.isfile(path):
            return [""]
        return sorted(os.path.relpath(os.path.join(d, n), path) for d, _, names in os.walk(path) for n in names)

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a whole file at once (atomically: a rename)."""
        _atomic_write(path, data)

    def read_bytes(self, path: str) -> bytes:
        """The whole content of a file."""
        with self.fs.open_input_stream(path) as f:
            return f.read()

    def remove(self, path: str) -> None:
        """Delete a file or a whole folder; nothing when it does not exist."""
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.unlink(path)

    def put_in_place(self, src: str | None, dst: str, aside: str) -> None:
        """The old `dst` aside (to `aside`, in the trash), `src` renamed into place (each step atomic). Repeatable:
        a `src` already moved by an earlier attempt is skipped."""
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


class S3Store:
    """A lake under an `s3://bucket/prefix`."""

    remote = True

    def __init__(self, root: str):
        bucket, key = storage.split_s3(root)
        if not bucket:
            raise ValueError(f"not an S3 prefix: {root}")
        self.root = posixpath.join(bucket, key.strip("/")).rstrip("/")
        self.fs = storage.s3_filesystem()

    def path(self, *parts: str) -> str:
        """A path inside the store (`bucket/key`)."""
        return posixpath.join(self.root, *parts)

    def uri(self, path: str) -> str:
        """`path` as Spark's Hadoop file systems want it (s3a:// here, s3:// on Glue)."""
        return storage.spark_path("s3://" + path)

    def display(self, path: str) -> str:
        """`path` as a person reads it: an s3:// URI."""
        return "s3://" + path

    def isdir(self, path: str) -> bool:
        """True if `path` is a prefix holding at least one object."""
        from pyarrow import fs

        return self.fs.get_file_info(path).type == fs.FileType.Directory

    def exists(self, path: str) -> bool:
        """True if `path` is an object or a prefix."""
        from pyarrow import fs

        return self.fs.get_file_info(path).type != fs.FileType.NotFound

    def listdir(self, path: str) -> list[str]:
        """Names directly under the prefix `path`, sorted; empty when there are none."""
        from pyarrow import fs

        infos = self.fs.get_file_info(fs.FileSelector(path, allow_not_found=True))
        return sorted(posixpath.basename(i.path) for i in infos)

    def files(self, path: str) -> list[str]:
        """Every object under `path` (itself if it is an object), as paths relative to it ('' for itself)."""
        from pyarrow import fs

        info = self.fs.get_file_info(path)
        if info.type == fs.FileType.File:
            return [""]
        if info.type == fs.FileType.NotFound:
            return []
        infos = self.fs.get_file_info(fs.FileSelector(path, recursive=True))
        return sorted(posixpath.relpath(i.path, path) for i in infos if i.type == fs.FileType.File)

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a whole object at once (a single PUT)."""
        with self.fs.open_output_stream(path) as f:
            f.write(data)

    def read_bytes(self, path: str) -> bytes:
        """The whole content of an object."""
        with self.fs.open_input_stream(path) as f:
            return f.read()

    def remove(self, path: str) -> None:
        """Delete an object or everything under a prefix; nothing when there is none."""
        from pyarrow import fs

        bucket, key = path.split("/", 1)
        keys = [key] if self.fs.get_file_info(path).type == fs.FileType.File else []
        for page in storage.s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key + "/"):
            keys += [o["Key"] for o in page.get("Contents", [])]  # folder markers ("x/") included
        self.delete([f"{bucket}/{k}" for k in keys])

    def copy(self, src: str, dst: str) -> None:
        """Server-side copy of one object (boto3's managed copy: multipart above 8 MB)."""
        sb, sk = src.split("/", 1)
        db, dk = dst.split("/", 1)
        storage.s3_client().copy({"Bucket": sb, "Key": sk}, db, dk)

    def delete(self, paths: list[str]) -> None:
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

    def put_in_place(self, src: str | None, dst: str, aside: str) -> None:
        """Copy the staged objects onto `dst`, then delete `dst`'s other objects (`aside` is unused: S3 has no
        rename). Repeatable: the staged objects are deleted only after the whole commit is applied."""
        new = self.files(src) if src is not None else []
        if src is not None and not new:
            return  # nothing staged there (never listed as a move) or already cleaned up
        for rel in new:
            self.copy(posixpath.join(src, rel) if rel else src, posixpath.join(dst, rel) if rel else dst)
        keep = set(new)
        self.delete([posixpath.join(dst, rel) if rel else dst for rel in self.files(dst) if rel not in keep])


def open_store(root: str) -> LocalStore | S3Store:
    """The store of a lake root: an `s3://` prefix or a local folder."""
    return S3Store(root) if storage.is_s3(root) else LocalStore(root)
