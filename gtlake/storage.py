"""Listing and reading input files in a local folder or under an `s3://` prefix.

S3 goes through boto3 with its standard configuration chain: credentials, region and endpoint
come from the environment (`AWS_ENDPOINT_URL` points it at a local S3), never from code.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlparse


@dataclass(frozen=True)
class FileInfo:
    """A file under an input root: its full path or URI, size and version stamp."""

    path: str
    size: int
    stamp: str  # mtime (local) or ETag (S3): changes when the content changes
    error: str | None = None  # why the file must not be read (a dangling or looping link, a link out of the root)


def is_s3(uri: str) -> bool:
    """True for s3://, s3a:// and s3n:// URIs."""
    return uri.startswith(("s3://", "s3a://", "s3n://"))


def split_s3(uri: str) -> tuple[str, str]:
    """('bucket', 'key/prefix') of an S3 URI."""
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


@lru_cache(maxsize=1)
def s3_client():  # noqa: ANN201 - boto3 client type is dynamic
    """One boto3 S3 client per process, configured by the environment."""
    import boto3

    return boto3.client("s3")


def list_files(root: str) -> list[FileInfo]:
    """Every file under `root` (recursively), sorted by path."""
    if is_s3(root):
        bucket, prefix = split_s3(root)
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        out = []
        paginator = s3_client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith("/"):
                    out.append(FileInfo(f"s3://{bucket}/{obj['Key']}", int(obj["Size"]), obj["ETag"].strip('"')))
        return sorted(out, key=lambda f: f.path)
    out = []
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):  # links to folders are listed, never followed
        dirnames.sort()
        out += [_local_file(os.path.join(dirpath, name), real_root) for name in filenames]
    return sorted(out, key=lambda f: f.path)


def _local_file(path: str, real_root: str) -> FileInfo:
    """A listed local file, with the reason it must not be read if there is one."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return FileInfo(path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"), -1, "",
                        "the file name is not UTF-8 text")
    try:
        st = os.stat(path)  # follows links: a dangling link or a loop fails here
    except OSError as e:
        return FileInfo(path, -1, "", f"cannot be read: {e.strerror or e}")
    if os.path.islink(path) and os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
        return FileInfo(path, st.st_size, f"{st.st_mtime_ns}", "a link to a file outside the input root")
    if not stat.S_ISREG(st.st_mode):
        return FileInfo(path, -1, "", "not a regular file")
    return FileInfo(path, st.st_size, f"{st.st_mtime_ns}")


def read_bytes(path: str) -> bytes:
    """The content of a local file or S3 object."""
    if is_s3(path):
        bucket, key = split_s3(path)
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    with open(path, "rb") as f:
        return f.read()


def exists(root: str) -> bool:
    """True if `root` is an existing folder or a prefix with at least one object."""
    if is_s3(root):
        bucket, prefix = split_s3(root)
        resp = s3_client().list_objects_v2(Bucket=bucket, Prefix=prefix.rstrip("/") + "/" if prefix else "", MaxKeys=1)
        return resp.get("KeyCount", 0) > 0
    return os.path.isdir(root)


def spark_path(path: str) -> str:
    """The path as Spark's Hadoop file systems want it: s3a:// off Glue, absolute file: locally."""
    if is_s3(path):
        bucket, key = split_s3(path)
        scheme = "s3" if os.environ.get("GLUE_VERSION") else "s3a"
        return f"{scheme}://{bucket}/{key}"
    return "file://" + os.path.abspath(path)


@lru_cache(maxsize=1)
def s3_filesystem():  # noqa: ANN201 - pyarrow.fs.S3FileSystem
    """One pyarrow S3 file system per process, configured by the environment like boto3.

    pyarrow 17 reads credentials and region from the standard chain but not `AWS_ENDPOINT_URL`;
    the endpoint is passed on from the environment here (a local S3 in tests), never set in code.
    """
    from pyarrow import fs

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:  # the region boto3 would use (its config file), so both clients talk to the same place
        import boto3

        region = boto3.session.Session().region_name
    kwargs = {"endpoint_override": endpoint} if endpoint else {}
    if region:
        kwargs["region"] = region
    return fs.S3FileSystem(**kwargs)


def write_text_atomic(path: str, text: str) -> None:
    """Write a local file atomically: a temporary file beside it, renamed over it (a reader never sees half a page);
    the temporary file is gone whatever happens."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
