"""What jobs read and stage the same way: staging a table, counting what was staged, reading partitions."""
from __future__ import annotations

import os
import posixpath
import time
from typing import Callable

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from gtlake.lake import Lake, Move
from gtlake.schemas import Table


def stage(df: DataFrame, table: Table, lake: Lake, run_id: str, log: Callable[[str], None] = lambda m: None,
          in_order: bool = False, path: str | None = None, append: bool = False) -> str:
    """Write exactly the table's columns to the run's staging area, partitioned as the table is; its path.

    A clustered table (`Table.cluster_by`) is range-partitioned by its first clustering column (a sequence), so
    that all rows of a group meet in one task and each task holds a range of groups, then sorted by the clustering
    columns and written without a row limit per file: each file holds whole groups, in order, and the files of a
    partition hold disjoint ranges of them, which their footers show (adaptive execution may merge neighbouring
    tasks, never split one). Other
    tables are sorted within each task by sequence and frame, unless `in_order` (rows that come grouped by
    sequence already, such as the detector's over a clustered scan: written as they come). `path`: another folder
    than the run's staged table; `append`: beside the files already there (written by the run's own tasks)."""
    t0 = time.monotonic()
    path = path or lake.staging(run_id, table.name)
    rows = df.select(*table.names)
    if table.cluster_by and not in_order:
        rows = (rows.repartitionByRange(*table.partition_by, table.cluster_by[0])
                .sortWithinPartitions(*table.partition_by, *table.cluster_by))
    elif not in_order:
        rows = rows.sortWithinPartitions(*table.partition_by,
                                         *[c for c in ("sequence_id", "frame_no") if c in table.names])
    (rows.write.mode("append" if append else "overwrite").option("maxRecordsPerFile", 0).partitionBy(*table.partition_by)
     .parquet(lake.uri(path)))
    log(f"  staged {table.name} in {time.monotonic() - t0:.1f}s")
    return path


def has_rows(lake: Lake, path: str, partition_by: tuple[str, ...] | list[str]) -> bool:
    """Whether a staged table holds any data file (Spark writes no partition folder for no rows)."""
    if partition_by:
        return any(n.startswith(f"{partition_by[0]}=") for n in lake.listdir(path))
    return any(n.endswith(".parquet") for n in lake.listdir(path))


def read_folder(spark, lake: Lake, path: str, schema=None) -> DataFrame:  # noqa: ANN001
    """Every row of a table folder (committed or staged), its partition columns from the folder names."""
    reader = spark.read.option("basePath", lake.uri(path))
    return (reader.schema(schema) if schema is not None else reader).parquet(lake.uri(path))


def staged_counts(lake: Lake, path: str, by: list[str], partition: str = "job_name") -> dict[tuple, int]:
    """Rows of a staged table, grouped by `by`: read back from the written files (Parquet footers and the
    named columns only), not trusted from the plan. `partition` is the table's (first) partition column."""
    if not has_rows(lake, path, [partition]):
        return {}
    parts = ds.partitioning(pa.schema([(partition, pa.string())]), flavor="hive")
    dataset = ds.dataset(path, format="parquet", partitioning=parts, filesystem=lake.fs)
    if by == [partition]:  # row counts from each file's footer: nothing is materialized
        out: dict[tuple, int] = {}
        for fragment in dataset.get_fragments():
            key = (ds.get_partition_keys(fragment.partition_expression)[partition],)
            out[key] = out.get(key, 0) + fragment.count_rows()
        return out
    table = dataset.to_table(columns=by)
    counts = table.group_by(by).aggregate([([], "count_all")])
    return {tuple(row[c] for c in by): row["count_all"] for row in counts.to_pylist()}


def read_table_or_empty(spark, lake: Lake, path: str | None, table: Table) -> DataFrame:  # noqa: ANN001
    """The rows of a table folder (`read_folder`), or none, typed, when the folder holds none."""
    if path is None or not has_rows(lake, path, list(table.partition_by)):
        return spark.createDataFrame([], table.spark_schema())
    return read_folder(spark, lake, path, table.spark_schema())


def read_partitions(spark, lake: Lake, table: str, values: list[str], part: str = "job_name",  # noqa: ANN001
                    schema=None, sub: tuple[str, ...] = ()) -> DataFrame | None:  # noqa: ANN001
    """Committed rows of `table` in the partitions `part=<value>` (and `sub` below them); None when none exists.

    Read with the table root as basePath, so the partition columns come back from the folder names.
    """
    root = lake.table_path(table)
    paths = [p for p in (lake.path(table, f"{part}={v}", *sub) for v in values) if lake.isdir(p)]
    if not paths:
        return None
    reader = spark.read.option("basePath", lake.uri(root))
    return (reader.schema(schema) if schema is not None else reader).parquet(*[lake.uri(p) for p in paths])


def partitions_or_empty(spark, lake: Lake, table: Table, values: list[str], sub: tuple[str, ...] = ()  # noqa: ANN001
                        ) -> DataFrame:
    """`read_partitions` of `table`'s job partitions with its schema, or no rows, typed, when none exists."""
    df = read_partitions(spark, lake, table.name, values, schema=table.spark_schema(), sub=sub)
    return df if df is not None else spark.createDataFrame([], table.spark_schema())


def sequence_refs(sequences: DataFrame) -> DataFrame:
    """(job_name, sequence_id, source_ref, labels_ref) of every labeled sequence: the row whose labels ingest
    read into boxes (`labels_read`: the job's own attribute, not one a chained job inherited or one refused)."""
    return (sequences.where(F.col("labels_read"))
            .groupBy("job_name", "sequence_id").agg(F.first("source_ref").alias("source_ref"),
                                                     F.first("labels_ref").alias("labels_ref")))


def partition_move(lake: Lake, staged: str | None, table: str, *parts: str) -> Move:
    """The move putting a staged partition folder (`staged`/`parts`) in place of the lake's `table`/`parts`;
    when the run staged none there, the move clears the lake's (the partition's new content is nothing)."""
    src = posixpath.join(staged, *parts) if staged else None
    return Move(src if src and lake.isdir(src) else None, lake.path(table, *parts))


def file_move(lake: Lake, run_id: str, table: Table, rows: list[dict]) -> Move:
    """Stage `rows` as the run's own Parquet file of an unpartitioned `table` (`<table>/<run_id>.parquet`);
    the move that puts it into the lake."""
    path = lake.staging(run_id, table.name, f"{run_id}.parquet")
    if not lake.remote:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.arrow_schema()), path, filesystem=lake.fs)
    return Move(path, lake.path(table.name, f"{run_id}.parquet"))
