"""The lake checked against what its commits wrote: no partition lost, added or changed behind gtlake's back.

Every commit records, in the same journal that decides it, what each of its moves put in place: for each
partition folder (`boxes/job_name=a`, `rejected/job_name=a/step=ingest`) or file (`runs/<run_id>.parquet`),
the name, size and SHA-256 of every data file, under `_gtlake/files/<partition>.json`. A move that clears a
partition deletes its record. So the records always say what the lake holds, and anything else is damage:

    missing_partition   a recorded partition is gone (deleted by hand, a lifecycle rule, a bad sync)
    missing_file        a recorded file is gone
    extra_file          a data file no commit wrote (copied in by hand, left by another tool)
    changed_file        a recorded file whose size (or, checking content, SHA-256) differs
    unrecorded          a partition no commit wrote

    damage = check(lake)                                   # the whole lake, content hashed (gtlake validate)
    damage = check(lake, [("boxes", "job_name=a")], content=False)   # a job's inputs: names and sizes

A lake written before these records existed is adopted once, by the first run that takes its lock (its
partitions as they are then, logged). Hidden files (`.name`, `_name`) are not data: readers skip them too.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
from dataclasses import dataclass
from typing import Iterable

from gtlake.schemas import TABLES

RECORDS = "files"  # under the lake's _gtlake folder
ADOPTED = "_adopted.json"
CHUNK = 1 << 20
_DIGESTS: dict[tuple, str] = {}  # (path, size, mtime_ns) -> sha256 of a local file, within one process

KINDS = ("missing_partition", "missing_file", "extra_file", "changed_file", "unrecorded")


class LakeDamaged(RuntimeError):
    """The lake differs from what its commits wrote; the findings say where."""

    def __init__(self, message: str, damage: list["Damage"]):
        super().__init__(message)
        self.damage = damage


@dataclass(frozen=True)
class Damage:
    """One difference between the lake and its records."""

    kind: str
    partition: str  # relative to the lake root: boxes/job_name=a, or runs/<run_id>.parquet
    file: str = ""  # relative to the partition; "" for the partition itself
    detail: str = ""

    @property
    def table(self) -> str:
        """The table the partition belongs to."""
        return self.partition.split("/", 1)[0]

    def message(self) -> str:
        """One line a person reads."""
        where = self.partition + (f"/{self.file}" if self.file else "")
        return f"{self.kind.replace('_', ' ')}: {where}" + (f" ({self.detail})" if self.detail else "")


def visible(rel: str) -> bool:
    """Whether a file name under a partition is data a reader sees (no part of it hidden)."""
    return not any(p.startswith((".", "_")) for p in rel.split("/"))


def file_digest(lake, path: str, cached: bool = False) -> str:  # noqa: ANN001 - gtlake.lake.Lake
    """SHA-256 of a file's content. `cached` (for a run's own staged files, which nothing else writes: its seals
    and its commit's records hash the same files) keeps local digests by path, size, mtime and inode within
    the process; a committed file is always read again (a hand edit can keep the size and the mtime)."""
    key = None
    if cached and not lake.remote:
        st = os.stat(path)
        key = (path, st.st_size, st.st_mtime_ns, st.st_ino)
        if key in _DIGESTS:
            return _DIGESTS[key]
    h = hashlib.sha256()
    with lake.fs.open_input_stream(path) as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    if key is not None:
        _DIGESTS[key] = h.hexdigest()
    return h.hexdigest()


def _sizes(lake, path: str) -> dict[str, int]:  # noqa: ANN001
    """rel -> size of every visible file under `path` (itself as '' when it is a file)."""
    if not lake.remote:
        if os.path.isfile(path):
            return {"": os.stat(path).st_size}
        out = {}
        for d, dirs, names in os.walk(path):
            dirs[:] = [n for n in dirs if visible(n)]
            for n in names:
                if visible(n):
                    full = os.path.join(d, n)
                    out[os.path.relpath(full, path)] = os.stat(full).st_size
        return out
    from pyarrow import fs

    info = lake.fs.get_file_info(path)
    if info.type == fs.FileType.File:
        return {"": info.size}
    if info.type == fs.FileType.NotFound:
        return {}
    infos = lake.fs.get_file_info(fs.FileSelector(path, recursive=True))
    return {posixpath.relpath(i.path, path): i.size for i in infos
            if i.type == fs.FileType.File and visible(posixpath.relpath(i.path, path))}


def _mtime(lake, path: str) -> int | None:  # noqa: ANN001
    return os.stat(path).st_mtime_ns if not lake.remote else None


def describe(lake, path: str | None) -> dict[str, list] | None:  # noqa: ANN001
    """rel -> [size, sha256, mtime_ns (local lakes; a rename keeps it)] of the data files of a staged folder or
    file; None when there is nothing."""
    if path is None:
        return None
    sizes = _sizes(lake, path)
    if not sizes:
        return None
    out = {}
    for rel, size in sorted(sizes.items()):
        full = posixpath.join(path, rel) if rel else path
        out[rel] = [size, file_digest(lake, full, cached=True)] + ([_mtime(lake, full)] if not lake.remote else [])
    return out


def relative(lake, path: str) -> str:  # noqa: ANN001
    """A lake path relative to its root, '/'-separated (the record's key)."""
    rel = posixpath.relpath(path, lake.root) if lake.remote else os.path.relpath(path, lake.root)
    return rel.replace(os.sep, "/")


def record_path(lake, partition: str) -> str:  # noqa: ANN001
    """Where the record of a partition (relative path) lives."""
    from gtlake.lake import META

    return lake.path(META, RECORDS, *partition.split("/")) + ".json"


def records(lake, moves: Iterable) -> dict[str, dict | None]:  # noqa: ANN001 - Lake, Moves
    """partition -> its new record (None: cleared) for a commit's moves; written with the commit's journal."""
    out = {}
    for m in moves:
        files = describe(lake, m.src)
        out[relative(lake, m.dst)] = None if files is None else {"files": files}
    return out


def write_records(lake, run_id: str, recs: dict[str, dict | None]) -> None:  # noqa: ANN001
    """Apply a commit's records (repeatable: each is a whole-file write or a delete)."""
    for partition, rec in recs.items():
        path = record_path(lake, partition)
        if rec is None:
            lake.remove(path)
        else:
            lake.write_bytes(path, json.dumps({"run_id": run_id, **rec}).encode())


def _record(lake, partition: str) -> dict | None:  # noqa: ANN001
    """The record of one partition, None when it has none."""
    path = record_path(lake, partition)
    try:
        return json.loads(lake.read_bytes(path))
    except FileNotFoundError:
        return None
    except OSError as e:
        if not lake.exists(path):
            return None
        return {"files": {}, "error": f"record unreadable: {e}"}
    except ValueError as e:
        return {"files": {}, "error": f"record unreadable: {e}"}


def _table_sizes(lake, table: str) -> dict[str, dict[str, int]]:  # noqa: ANN001
    """partition -> {file: size} of every visible data file of `table`, from one listing of its folder."""
    t = TABLES.get(table)
    depth = len(t.partition_by) if t is not None else 0
    out: dict[str, dict[str, int]] = {}
    for rel, size in _sizes(lake, lake.table_path(table)).items():
        if not rel:
            continue
        parts = rel.split("/")
        if len(parts) <= depth:
            continue  # a stray file beside the partitions (stray_files reports it)
        key, inner = ("/".join(parts[:depth]), "/".join(parts[depth:])) if depth else (rel, "")
        out.setdefault(f"{table}/{key}", {})[inner] = size
    return out


def _recorded(lake) -> dict[str, dict]:  # noqa: ANN001
    """partition -> record, for every record in the lake."""
    from gtlake.lake import META

    root = lake.path(META, RECORDS)
    out = {}
    for rel in lake.files(root):
        if not rel.endswith(".json") or rel == ADOPTED or rel.endswith(f"/{ADOPTED}"):
            continue
        try:
            out[rel[:-5].replace(os.sep, "/")] = json.loads(lake.read_bytes(posixpath.join(root, rel)))
        except (OSError, ValueError) as e:
            out[rel[:-5].replace(os.sep, "/")] = {"files": {}, "error": f"record unreadable: {e}"}
    return out


def partitions(lake, tables: Iterable[str] | None = None) -> list[str]:  # noqa: ANN001
    """Every partition (or file, for an unpartitioned table) the lake holds now, relative to its root."""
    out = []
    for name in tables or TABLES:
        table = TABLES.get(name)
        if table is None:
            continue
        base = lake.table_path(name)
        level = [""]
        for col in table.partition_by:
            level = [posixpath.join(p, n) if p else n for p in level
                     for n in lake.listdir(lake.path(name, *p.split("/")) if p else base)
                     if n.startswith(f"{col}=")]
        if table.partition_by:
            out += [f"{name}/{p}" for p in level]
        else:
            out += [f"{name}/{n}" for n in lake.listdir(base) if visible(n) and n.endswith(".parquet")]
    return sorted(out)


def stray_files(lake, tables: Iterable[str] | None = None) -> list[Damage]:  # noqa: ANN001
    """Data files of a partitioned table outside its partition folders (a reader of the whole table sees them)."""
    out = []
    for name in tables or TABLES:
        table = TABLES.get(name)
        if table is None or not table.partition_by:
            continue
        for n in lake.listdir(lake.table_path(name)):
            if visible(n) and not n.startswith(f"{table.partition_by[0]}="):
                out.append(Damage("extra_file", name, n, "outside every partition"))
    return out


def check(lake, scope: Iterable[tuple[str, str]] | None = None, content: bool = True,  # noqa: ANN001
          unrecorded: bool = True) -> list[Damage]:
    """Differences between the lake and its records, for the (table, partition) pairs of `scope` (default:
    every partition recorded or present). `content` hashes every file (else names and sizes only)."""
    if scope is None:  # the whole lake: every record, every partition
        recs = _recorded(lake)
        wanted = set(recs) | set(partitions(lake))
    else:  # a job's partitions: only their records, and one listing per table
        wanted = {f"{t}/{p}" for t, p in scope}
        recs = {p: r for p in wanted if (r := _record(lake, p)) is not None}
    listed: dict[str, dict[str, dict[str, int]]] = {}
    out: list[Damage] = [] if scope is not None else stray_files(lake)
    for part in sorted(wanted):
        rec = recs.get(part)
        path = lake.path(*part.split("/"))
        table = part.split("/", 1)[0]
        if table not in listed:
            listed[table] = _table_sizes(lake, table)
        now = listed[table].get(part, {})
        if rec is None:
            if now and unrecorded:
                out.append(Damage("unrecorded", part, "", f"{len(now)} data files no commit wrote"))
            continue
        if "error" in rec:
            out.append(Damage("changed_file", part, "", rec["error"]))
            continue
        files = rec.get("files", {})
        if not now and files:
            out.append(Damage("missing_partition", part, "", f"{len(files)} files committed by run {rec.get('run_id')}"))
            continue
        for rel, (size, digest, *mtime) in sorted(files.items()):
            full = posixpath.join(path, rel) if rel else path
            if rel not in now:
                out.append(Damage("missing_file", part, rel, f"committed by run {rec.get('run_id')}"))
            elif now[rel] != size:
                out.append(Damage("changed_file", part, rel, f"{now[rel]} bytes, {size} committed"))
            elif (content or (mtime and mtime[0] != _mtime(lake, full))) and file_digest(lake, full) != digest:
                # names and sizes only, unless asked for content or the file was written since (a copied lake's
                # new times alone are not damage: the content is compared then)
                out.append(Damage("changed_file", part, rel, "content differs from what was committed (SHA-256)"))
        out += [Damage("extra_file", part, rel, "no commit wrote it") for rel in sorted(set(now) - set(files))]
    return out


def job_scope(tables: Iterable[str], jobs: Iterable[str]) -> list[tuple[str, str]]:
    """(table, partition) of each job's partition of `tables` (tables partitioned by job_name alone)."""
    return [(t, f"job_name={j}") for t in tables for j in jobs]


LOST = ("missing_partition", "missing_file")


def require(lake, tables: Iterable[str], jobs: Iterable[str], what: str) -> None:  # noqa: ANN001
    """Stop (LakeDamaged) when a committed job partition of `tables` that `what` reads, or a file of it, is gone:
    reading on would turn lost input into deleted output. (A partition never committed is fine: the job has no
    rows there. A changed or added file is not a stop here: its seal no longer holds, so the job's gate
    validates those rows in full, and `gtlake validate` reports it.)"""
    damage = [d for d in check(lake, job_scope(tables, jobs), content=False, unrecorded=False) if d.kind in LOST]
    if damage:
        raise LakeDamaged(f"{what}: input the lake committed is gone ({len(damage)} findings); nothing "
                          "was changed. Restore the files, or rerun the step that wrote them (ingest re-reads a "
                          "job whose partitions are damaged); `gtlake validate` lists everything", damage)


def damaged_jobs(lake, scope: list[tuple[str, str]]) -> dict[str, list[Damage]]:  # noqa: ANN001
    """job -> the damage of its partitions in `scope` ((table, 'job_name=<job>[/...]') pairs; names and sizes),
    for the jobs that have any."""
    out: dict[str, list[Damage]] = {}
    for d in check(lake, scope, content=False, unrecorded=False):
        job = d.partition.split("/", 2)[1][len("job_name="):]
        out.setdefault(job, []).append(d)
    return out


def adopt(lake, log=None) -> int:  # noqa: ANN001
    """Record a lake written before records existed, as it is now (once: the marker says when); the number of
    partitions recorded. Called with the lock held."""
    from gtlake.lake import META

    marker = lake.path(META, RECORDS, ADOPTED)
    if lake.exists(marker):
        return 0
    recs = _recorded(lake)
    if not lake.remote:  # written by Spark before the lake was plain Parquet
        from gtlake.lake import drop_checksums

        for name in TABLES:
            drop_checksums(lake.table_path(name))
    parts = [p for p in partitions(lake) if p not in recs]
    for part in parts:
        files = describe(lake, lake.path(*part.split("/")))
        if files:
            lake.write_bytes(record_path(lake, part), json.dumps({"run_id": "adopted", "files": files}).encode())
    import time

    lake.write_bytes(marker, json.dumps({"adopted_at": time.time(), "partitions": len(parts)}).encode())
    if parts and log is not None:
        log(f"lake {lake.display()}: {len(parts)} partitions written before gtlake kept file records adopted as "
            "they are")
    return len(parts)
