"""A kernel over a table's Parquet files in Spark tasks that read and write the files themselves (pyarrow).

    files = [FileWork(i, "job_name=j", path, size) for i, (path, size) in enumerate(...)]
    results = run_files(spark, lake, files, work)  # work(fs, file) -> a small dict, per file, in the tasks

Spark schedules the tasks (a group of whole files each, balanced by size, at least one per core) and retries a
failed one; each task opens its files with the lake's file system (local or S3), so the rows never cross from the
JVM to Python and back, nor through Spark's row conversion and Parquet writer: for a kernel that reads a dozen
columns and writes two dozen, that round trip cost more than the kernel (BENCHMARKS.md, issue 21). A task writes
into the run's staging folders under names that depend only on its input file (`output_path`), so a retried task
replaces its own files and nothing else, each file whole or absent (locally written aside and renamed; an S3
object appears only when its upload completes); what is staged is committed by the run, as Spark's writes are.
"""
from __future__ import annotations

import posixpath
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from pyspark.sql import SparkSession

from gtlake.lake import Lake

TASK_BYTES = 64 << 20  # a task's share of the input, at most (a larger file is one task of its own)


@dataclass(frozen=True)
class FileWork:
    """One input file: its number in the pass (names its outputs), the partition folder it lies in
    (`job_name=<job>`, as written), its path in the lake's store, and its size."""

    index: int
    folder: str
    path: str
    size: int

    def output_path(self, root: str, name: str = "part", ext: str = "parquet") -> str:
        """Where this file's output goes under the staged folder `root`: the same partition folder, a name of
        its own."""
        return posixpath.join(root, self.folder, f"{name}-{self.index:05d}.{ext}")


def numbered(found: list[tuple[str, Any]]) -> list[FileWork]:
    """FileWork of (partition folder, pyarrow FileInfo) pairs, numbered in their order."""
    return [FileWork(i, folder, info.path, info.size) for i, (folder, info) in enumerate(found)]


def file_groups(files: list[FileWork], parallelism: int, task_bytes: int = TASK_BYTES) -> list[list[FileWork]]:
    """The files in groups of about equal size (largest first onto the lightest group), at least `parallelism`
    groups while there are files for them, more when the input is larger than `task_bytes` a group; each
    group's files in input order."""
    total = sum(f.size for f in files)
    n = min(len(files), max(1, parallelism, -(-total // task_bytes)))
    groups: list[list[FileWork]] = [[] for _ in range(n)]
    load = [(0, 0)] * n  # (bytes, files): empty files spread too
    for f in sorted(files, key=lambda f: (-f.size, f.index)):
        g = load.index(min(load))
        groups[g].append(f)
        load[g] = (load[g][0] + f.size, load[g][1] + 1)
    return [sorted(g, key=lambda f: f.index) for g in groups if g]


def dictionary_columns(schema: Any) -> list[str]:
    """The columns of a pyarrow `schema` worth a dictionary in Parquet, as a task's writer names them: strings and
    the strings of lists and maps (names, labels, reasons, attribute keys and values repeat); numbers are written
    plain, twice as fast to encode, their files a few per cent larger."""
    import pyarrow as pa

    out = []
    for f in schema:
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            out.append(f.name)
        elif pa.types.is_list(f.type) and pa.types.is_string(f.type.value_type):
            out.append(f"{f.name}.list.element")
        elif pa.types.is_map(f.type):
            out += [f"{f.name}.key_value.{k}" for k, t in (("key", f.type.key_type), ("value", f.type.item_type))
                    if pa.types.is_string(t)]
    return out


class _IpcWriter:
    """An Arrow IPC file on `fs` with ParquetWriter's write_table/close."""

    def __init__(self, path: str, schema: Any, fs: Any):
        import pyarrow as pa

        self._sink = fs.open_output_stream(path)
        self._writer = pa.ipc.new_file(self._sink, schema)

    def write_table(self, table: Any) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()
        self._sink.close()


def read_work_file(fs: Any, path: str) -> Any:
    """The table of a work file `TaskWriters(..., ipc=True)` wrote."""
    import pyarrow as pa

    with fs.open_input_file(path) as f:
        return pa.ipc.open_file(f).read_all()


class TaskWriters:
    """The Parquet files a task writes for one input file, one per staged root (`FileWork.output_path`), opened
    on its first rows: locally written aside and renamed when closed (a file is whole or absent), on S3 whole on
    close. Strings dictionary-encoded (`dictionary_columns`). `ipc`: Arrow IPC files instead, for work files a
    later task of the run reads (`read_work_file`): written and read at memory speed, never in the lake."""

    def __init__(self, fs: Any, file: FileWork, name: str = "part", ipc: bool = False):
        self.fs, self.file, self.name, self.ipc = fs, file, name, ipc
        self._open: dict[str, tuple[Any, str, str]] = {}

    def path(self, root: str) -> str:
        """The file this writes under `root`."""
        return self.file.output_path(root, self.name, "arrow" if self.ipc else "parquet")

    def write(self, root: str, table: Any) -> None:
        """Append `table` to the file under `root` (nothing when it has no rows)."""
        import pyarrow.parquet as pq
        from pyarrow import fs as pafs

        if not table.num_rows:
            return
        if root not in self._open:
            path = self.path(root)
            part = path
            if isinstance(self.fs, pafs.LocalFileSystem):
                self.fs.create_dir(posixpath.dirname(path), recursive=True)
                part = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.{uuid.uuid4().hex}")
            writer = (_IpcWriter(part, table.schema, self.fs) if self.ipc else pq.ParquetWriter(
                part, table.schema, filesystem=self.fs, use_dictionary=dictionary_columns(table.schema)))
            self._open[root] = (writer, part, path)
        self._open[root][0].write_table(table)

    def close(self) -> None:
        """Close every file written (and, locally, move it into place)."""
        for writer, part, path in self._open.values():
            writer.close()
            if part != path:
                self.fs.move(part, path)
        self._open.clear()


@dataclass(frozen=True)
class Verdicts:
    """The gate's verdicts on the rows a pass's tasks wrote: the rules that held on every row (`validation.
    held_rules`) and whether each file's keys were unique."""

    held: frozenset[str]
    unique: bool

    @staticmethod
    def of(done: list[dict]) -> Verdicts:
        """The verdicts of the tasks' results `done` ({"broken": ..., "unique": ...} each)."""
        from gtlake.validation import held_rules, merge_broken

        return Verdicts(held_rules(merge_broken([d["broken"] for d in done])), all(d["unique"] for d in done))


def task_filesystem(remote: bool):  # noqa: ANN201 - a pyarrow FileSystem
    """The lake's file system as a task opens it: S3 configured by the task's environment, as the driver's is
    (`gtlake.storage.s3_filesystem`: no credential travels with the task), or the local one."""
    from pyarrow import fs

    from gtlake import storage

    return storage.s3_filesystem() if remote else fs.LocalFileSystem()


def run_files(spark: SparkSession, lake: Lake, files: list[FileWork],
              work: Callable[[Any, FileWork], dict]) -> list[dict]:
    """`work(fs, file)` for every file, in Spark tasks (`file_groups`), `fs` the lake's file system; the dicts
    it returns, in file order. `work` must be picklable (a module-level function, or a partial of one)."""
    if not files:
        return []
    groups = file_groups(files, spark.sparkContext.defaultParallelism)
    remote = lake.remote

    def task(numbers):  # noqa: ANN001, ANN202 - an iterator of group numbers
        fs = task_filesystem(remote)
        for g in numbers:
            for f in groups[g]:
                yield f.index, work(fs, f)

    done = (spark.sparkContext.parallelize(range(len(groups)), len(groups)).mapPartitions(task)
            .collect())
    return [r for _, r in sorted(done, key=lambda x: x[0])]
