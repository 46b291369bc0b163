"""A table's Parquet files as they lie in the lake (local or S3): listed once, checked for the clustered layout from
their footers, and read with no file split (`whole_files`), so that a task sees each file whole and in order."""
from __future__ import annotations

import posixpath
from contextlib import contextmanager
from functools import partial
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs as pafs
from pyspark.sql import SparkSession

from gtlake.jobs.filepass import FileWork, numbered, run_files
from gtlake.lake import Lake
from gtlake.schemas import Table

MIN_TASK_BYTES = 4 << 20  # (Spark's openCostInBytes): a small lake is one task, not one per few kilobytes


def data_files(lake: Lake, folder: str) -> list[pafs.FileInfo]:
    """The data files under a table folder of the lake, sorted by path (none when the folder does not exist);
    names starting with '.' or '_' (checksums, markers) are not data."""
    return _listed(lake.fs, folder) if lake.isdir(folder) else []


def files_under(fs: pafs.FileSystem, folder: str) -> list[pafs.FileInfo]:
    """`data_files` of a folder of the file system `fs` (a task's, which has no Lake)."""
    return _listed(fs, folder) if fs.get_file_info(folder).type == pafs.FileType.Directory else []


def _listed(fs: pafs.FileSystem, folder: str) -> list[pafs.FileInfo]:
    return sorted((f for f in fs.get_file_info(pafs.FileSelector(folder, recursive=True))
                   if f.type == pafs.FileType.File and not posixpath.basename(f.path).startswith((".", "_"))),
                  key=lambda f: f.path)


def one_file_each(lake: Lake, folder: str, partition: str = "job_name") -> bool:
    """Whether each partition folder of a (staged) table folder holds exactly one data file."""
    parts = [p for p in lake.listdir(folder) if p.startswith(f"{partition}=")]
    return all(len(data_files(lake, posixpath.join(folder, p))) == 1 for p in parts)


class Footers:
    """The footers of a lake's Parquet files, each read once while the object lives (one small read, local or
    S3; on S3 a request or two per file): the checks one run makes of the same files share them. Made per run,
    never kept across runs (a file may be replaced between them)."""

    def __init__(self, lake: Lake):
        self.lake = lake
        self._read: dict[str, pq.FileMetaData] = {}

    def metadata(self, info: pafs.FileInfo) -> pq.FileMetaData:
        """The footer of the file `info` (`data_files`)."""
        if info.path not in self._read:
            with self.lake.fs.open_input_file(info.path) as f:
                self._read[info.path] = pq.ParquetFile(f).metadata
        return self._read[info.path]


def column_stats(lake: Lake, info: pafs.FileInfo, column: str,
                 footers: Footers | None = None) -> list[tuple[int, object]] | None:
    """Per row group of a Parquet file, (rows, statistics of the top-level flat `column`, or None where the
    writer kept none), from its footer (read once per `footers`, else read now); None when the file has no such
    column. (A row group keeps statistics per leaf column: a map or list before `column` takes several.)"""
    meta = (footers or Footers(lake)).metadata(info)
    names = [meta.schema.column(i).path for i in range(meta.num_columns)]
    if column not in names:
        return None
    index = names.index(column)
    return [(meta.row_group(g).num_rows, meta.row_group(g).column(index).statistics)
            for g in range(meta.num_row_groups)]


def clustered_files(lake: Lake, files: list[pafs.FileInfo], column: str = "sequence_id",
                    footers: Footers | None = None) -> bool:
    """Whether the Parquet `files` (`data_files` of one partition) hold disjoint ranges of `column` (their footers'
    min and max): no value, so no sequence, lies in two files, and each file's row groups come in order. Read from
    the footers only (`column_stats`); False where a file has no statistics to tell."""
    ranges = []
    for info in files:
        groups = column_stats(lake, info, column, footers)
        if groups is None or any(s is None or not s.has_min_max for _, s in groups):
            return False
        bounds = [(s.min, s.max) for _, s in groups]
        if any(bounds[i][1] > bounds[i + 1][0] for i in range(len(bounds) - 1)):
            return False  # row groups out of order
        if bounds:
            ranges.append((bounds[0][0], bounds[-1][1]))
    ranges.sort()
    return all(ranges[i][1] < ranges[i + 1][0] for i in range(len(ranges) - 1))


def non_null_rows(lake: Lake, files: list[pafs.FileInfo], column: str, footers: Footers | None = None) -> int | None:
    """Rows of the Parquet `files` where `column` is not null, from their footers' row and null counts
    (`column_stats`); None where a footer has no null count to tell."""
    total = 0
    for info in files:
        groups = column_stats(lake, info, column, footers)
        if groups is None or any(s is None or not s.has_null_count for _, s in groups):
            return None
        total += sum(rows - s.null_count for rows, s in groups)
    return total


def clustered_partition(lake: Lake, entry: dict, table: Table, files: list[pafs.FileInfo],
                        footers: Footers | None = None) -> bool:
    """Whether one job's partition of the clustered `table`, made of `files` (`data_files`), may be read as
    clustered: the job's ingest ledger `entry` records the table's layout and the files' footers show it
    (`clustered_files`). A reader relies on nothing else (README *Lake layout*)."""
    return entry.get("layout", {}).get(table.name) == list(table.cluster_by) and clustered_files(
        lake, files, footers=footers)


@contextmanager
def whole_files(spark: SparkSession, sizes: list[int]) -> Iterator[None]:
    """Within the block, a Parquet scan of files of `sizes` (bytes) never splits a file, and packs them into about
    one task per core, each reading its files one after another: with the clustered layout each task sees whole
    sequences, one after another. Spark splits a file longer than min(maxPartitionBytes, max(openCostInBytes,
    total / minPartitionNum)): with minPartitionNum 1, openCostInBytes 0 and maxPartitionBytes at least the largest
    file, none is (a test proves it under a user's setting that would split them). `sizes`: every file the block
    reads. Fewer, fuller tasks also pay the Python worker's start less often than one task per file."""
    cores = max(1, spark.sparkContext.defaultParallelism)
    settings = {"spark.sql.files.maxPartitionBytes": str(max(MIN_TASK_BYTES, max(sizes, default=0),
                                                             -(-sum(sizes) // cores))),
                "spark.sql.files.openCostInBytes": "0", "spark.sql.files.minPartitionNum": "1"}
    before = {k: spark.conf.get(k, None) for k in settings}
    for k, v in settings.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


def strictly_ascending(table: pa.Table, keys: tuple[str, ...]) -> bool:
    """Whether the Arrow `table`'s rows come in strictly ascending order of `keys` (compared as the tuple, no
    value missing): then no keys value comes twice. Elementwise comparisons of neighbours only."""
    n = table.num_rows
    if n < 2:
        return True
    if any(table[k].null_count for k in keys):
        return False
    before = pa.array(np.zeros(n - 1, dtype=bool))  # per neighbour pair: ordered before by an earlier key
    tied = pa.array(np.ones(n - 1, dtype=bool))  # ... or equal on every key so far
    for k in keys:
        prev, this = table[k].slice(0, n - 1), table[k].slice(1)
        before = pc.or_(before, pc.and_(tied, pc.less(prev, this)))
        tied = pc.and_(tied, pc.equal(prev, this))
    return bool(pc.all(before).as_py())


def unique_rows(table: pa.Table, keys: tuple[str, ...]) -> bool:
    """Whether no `keys` value comes twice among the Arrow `table`'s rows (missing values count as equal, as
    `validation.fast_verdicts` counts them): from the order of rows written sorted (`strictly_ascending`), else
    grouped."""
    if strictly_ascending(table, keys):
        return True
    return table.select(list(keys)).group_by(list(keys)).aggregate([([], "count_all")]).num_rows == table.num_rows


def _file_unique(fs, file: FileWork, keys: tuple[str, ...]) -> dict:  # noqa: ANN001 - a pyarrow FileSystem
    return {"unique": unique_rows(pq.read_table(file.path, columns=list(keys), filesystem=fs), keys)}


def unique_in_files(spark: SparkSession, lake: Lake, folder: str, keys: tuple[str, ...],
                    partition: str = "job_name", column: str = "sequence_id",
                    checked: bool = False) -> frozenset[tuple[str, ...]]:
    """{(partition, *keys)} when no key of the table folder's rows comes twice, proved without a shuffle: each
    partition's files hold disjoint ranges of `column`, one of the keys (their footers, `clustered_files`), so a
    key lies in one file at most, and no file holds one twice (each file's keys read and grouped in a task,
    `jobs.filepass`, `unique_rows`); else empty. `checked`: the files' writers found each file's keys unique
    (`unique_rows` on what they wrote), so that only the footers are read."""
    if column not in keys:
        return frozenset()
    found = []
    for part in lake.listdir(folder):
        if part.startswith(f"{partition}="):
            files = data_files(lake, posixpath.join(folder, part))
            if not clustered_files(lake, files, column):
                return frozenset()
            found += [(part, f) for f in files]
    if checked or all(r["unique"] for r in run_files(spark, lake, numbered(found),
                                                     partial(_file_unique, keys=tuple(keys)))):
        return frozenset({(partition, *keys)})
    return frozenset()
