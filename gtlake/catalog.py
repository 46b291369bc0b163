"""The Glue Data Catalog side of an S3 lake: one catalog table per lake table, its partitions kept in step.

After a job commits, `sync` makes the catalog say what the lake holds: each lake table present on S3 is
created (or updated when its columns changed) from its schema in `gtlake.schemas`, and its partitions are
added or dropped to match the partition folders. Athena (and Glue, and Spark with the catalog) then read
the tables without a crawler or `MSCK REPAIR`. Requests are plain boto3 Glue calls; the endpoint, region
and credentials come from the environment.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.client import BaseClient

from dataclasses import dataclass, field
from urllib.parse import unquote

from gtlake.lake import Lake
from gtlake.lakesql import identifier
from gtlake.schemas import TABLES, Table

PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                  "Parameters": {"serialization.format": "1"}},
}


def _column(c) -> dict:  # noqa: ANN001 - gtlake.schemas.Column
    return {"Name": c.name, "Type": c.type.ddl, "Comment": c.comment[:255]}


def _descriptor(table: Table, location: str) -> dict:
    return {"Columns": [_column(c) for c in table.columns if c.name not in table.partition_by],
            "Location": location, **PARQUET}


def table_input(table: Table, location: str) -> dict:
    """Glue TableInput of a lake table stored as Parquet under `location` (s3://.../<table>/)."""
    return {
        "Name": table.name,
        "Description": f"One row per {table.row}"[:2048],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", "parquet.compression": "SNAPPY"},
        "PartitionKeys": [_column(c) for c in table.columns if c.name in table.partition_by],
        "StorageDescriptor": _descriptor(table, location),
    }


def lake_partitions(lake: Lake, table: Table) -> dict[tuple[str, ...], str]:
    """Partition values -> folder path, for every partition folder of `table` in the lake."""
    out: dict[tuple[str, ...], str] = {}

    def walk(path: str, depth: int, values: tuple[str, ...]) -> None:
        if depth == len(table.partition_by):
            out[values] = path
            return
        prefix = table.partition_by[depth] + "="
        for name in lake.listdir(path):
            if name.startswith(prefix) and name != prefix:
                walk(f"{path}/{name}", depth + 1, values + (unquote(name[len(prefix):]),))

    walk(lake.table_path(table.name), 0, ())
    return out


@dataclass
class SyncResult:
    """What one sync changed."""

    tables_created: list[str] = field(default_factory=list)
    tables_updated: list[str] = field(default_factory=list)
    partitions_added: int = 0
    partitions_dropped: int = 0

    def summary(self) -> str:
        """One line for the job's output."""
        return (f"{len(self.tables_created)} tables created, {len(self.tables_updated)} updated, "
                f"{self.partitions_added} partitions added, {self.partitions_dropped} dropped")


def _existing_partitions(glue: "BaseClient", database: str, table: str) -> set[tuple[str, ...]]:
    out = set()
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
        out.update(tuple(p["Values"]) for p in page["Partitions"])
    return out


def _check(resp: dict, what: str) -> None:
    errors = resp.get("Errors") or []
    if errors:
        e = errors[0]
        detail = e.get("ErrorDetail", {})
        raise RuntimeError(f"{what}: {len(errors)} partitions failed, first {e.get('PartitionValues')}: "
                           f"{detail.get('ErrorCode')} {detail.get('ErrorMessage')}")


def sync(lake: Lake, database: str, tables: list[Table] | None = None, glue=None) -> SyncResult:  # noqa: ANN001
    """Create or update the catalog tables of every lake table present and match their partitions to the lake.

    The database must exist (the CloudFormation stack creates it; `ensure_database` does locally).
    """
    if not lake.remote:
        raise ValueError("the Glue Data Catalog describes S3 lakes; this lake is a local folder")
    identifier(database, "catalog database")
    if glue is None:
        import boto3

        glue = boto3.client("glue")
    result = SyncResult()
    for table in tables or list(TABLES.values()):
        root = lake.table_path(table.name)
        if not lake.isdir(root):
            continue
        wanted = table_input(table, f"s3://{root}/")
        try:
            current = glue.get_table(DatabaseName=database, Name=table.name)["Table"]
        except glue.exceptions.EntityNotFoundException:
            glue.create_table(DatabaseName=database, TableInput=wanted)
            result.tables_created.append(table.name)
            current = None
        if current is not None and (
                current.get("StorageDescriptor", {}).get("Columns") != wanted["StorageDescriptor"]["Columns"]
                or current.get("PartitionKeys", []) != wanted["PartitionKeys"]
                or current.get("StorageDescriptor", {}).get("Location") != wanted["StorageDescriptor"]["Location"]):
            glue.update_table(DatabaseName=database, TableInput=wanted)
            result.tables_updated.append(table.name)
        if not table.partition_by:
            continue
        in_lake = lake_partitions(lake, table)
        have = _existing_partitions(glue, database, table.name) if current is not None else set()
        add = [v for v in sorted(in_lake) if v not in have]
        drop = sorted(have - set(in_lake))
        for i in range(0, len(add), 100):
            _check(glue.batch_create_partition(DatabaseName=database, TableName=table.name, PartitionInputList=[
                {"Values": list(v), "StorageDescriptor": _descriptor(table, f"s3://{in_lake[v]}/")}
                for v in add[i:i + 100]]), f"adding partitions of {database}.{table.name}")
        for i in range(0, len(drop), 25):
            _check(glue.batch_delete_partition(DatabaseName=database, TableName=table.name, PartitionsToDelete=[
                {"Values": list(v)} for v in drop[i:i + 25]]), f"dropping partitions of {database}.{table.name}")
        result.partitions_added += len(add)
        result.partitions_dropped += len(drop)
    return result


def ensure_database(database: str, glue=None, description: str = "gtlake: label-quality lake") -> bool:  # noqa: ANN001
    """Create the catalog database if it is missing (local runs; on AWS the stack owns it). True if created."""
    identifier(database, "catalog database")
    if glue is None:
        import boto3

        glue = boto3.client("glue")
    try:
        glue.get_database(Name=database)
        return False
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(DatabaseInput={"Name": database, "Description": description})
        return True
