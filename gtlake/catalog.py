"""The Glue Data Catalog side of an S3 lake: one catalog table per lake table, its partitions kept in step.

After a job commits, `sync` makes the catalog say what the lake holds: each lake table present on S3 is
created (or re-created when its columns or location changed) from its schema in `gtlake.schemas`, and its
partitions are added or dropped to match the partition folders. Athena (and Glue, and Spark with the catalog)
then read the tables without a crawler or `MSCK REPAIR`. The calls are awswrangler's (`wr.catalog`, AWS SDK for
pandas); the endpoint, region and credentials come from `boto3_session` or the environment.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from gtlake.lake import Lake
from gtlake.lakesql import identifier
from gtlake.schemas import TABLES, Table

def aws_errors() -> tuple[type[Exception], ...]:
    """The exceptions a catalog or Athena call can end with: botocore's and awswrangler's own."""
    import inspect

    import awswrangler.exceptions as wr_errors
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError) + tuple(
        c for _, c in inspect.getmembers(wr_errors, inspect.isclass) if issubclass(c, Exception))


def columns_types(table: Table) -> tuple[dict[str, str], dict[str, str]]:
    """The Glue types of a lake table's columns and of its partition keys, in schema order."""
    cols = {c.name: c.type.ddl for c in table.columns if c.name not in table.partition_by}
    parts = {c.name: c.type.ddl for c in table.columns if c.name in table.partition_by}
    return cols, parts


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


def sync(lake: Lake, database: str, tables: list[Table] | None = None, boto3_session=None) -> SyncResult:  # noqa: ANN001
    """Create or update the catalog tables of every lake table present and match their partitions to the lake.

    The database must exist (the CloudFormation stack creates it; `ensure_database` does locally). A table whose
    columns or location changed is re-created (awswrangler's overwrite: its partitions dropped, then all added
    again from the folders); otherwise only descriptions and comments are brought up to date.
    """
    import awswrangler as wr

    if not lake.remote:
        raise ValueError("the Glue Data Catalog describes S3 lakes; this lake is a local folder")
    identifier(database, "catalog database")
    result = SyncResult()
    for table in tables or list(TABLES.values()):
        root = lake.table_path(table.name)
        if not lake.isdir(root):
            continue
        location = f"s3://{root}/"
        cols, parts = columns_types(table)
        current = wr.catalog.get_table_types(database=database, table=table.name, boto3_session=boto3_session)
        same = current is not None and list(current.items()) == list({**cols, **parts}.items()) and \
            wr.catalog.get_table_location(database=database, table=table.name, boto3_session=boto3_session) == location
        wr.catalog.create_parquet_table(
            database=database, table=table.name, path=location, columns_types=cols, partitions_types=parts,
            compression="snappy", description=f"One row per {table.row}"[:2048],
            columns_comments={c.name: c.comment[:255] for c in table.columns},
            mode="append" if same else "overwrite", boto3_session=boto3_session)
        if current is None:
            result.tables_created.append(table.name)
        elif not same:
            result.tables_updated.append(table.name)
        if not table.partition_by:
            continue
        in_lake = lake_partitions(lake, table)
        have = {tuple(v) for v in wr.catalog.get_parquet_partitions(
            database=database, table=table.name, boto3_session=boto3_session).values()} if same else set()
        add = [v for v in sorted(in_lake) if v not in have]
        drop = sorted(have - set(in_lake))
        if add:
            wr.catalog.add_parquet_partitions(
                database=database, table=table.name, compression="snappy", boto3_session=boto3_session,
                partitions_values={f"s3://{in_lake[v]}/": list(v) for v in add})
        if drop:
            wr.catalog.delete_partitions(table=table.name, database=database, boto3_session=boto3_session,
                                         partitions_values=[list(v) for v in drop])
        result.partitions_added += len(add)
        result.partitions_dropped += len(drop)
    return result


def ensure_database(database: str, boto3_session=None, description: str = "gtlake: label-quality lake") -> bool:  # noqa: ANN001
    """Create the catalog database if it is missing (local runs; on AWS the stack owns it). True if created.

    Whether it exists is asked with Glue's GetDatabase on the one database (the jobs' role may read only that
    one; awswrangler's `databases()` lists them all, GetDatabases on `database/*`), so on Glue, where it exists,
    nothing else is called; it is created with awswrangler."""
    import awswrangler as wr
    import boto3

    identifier(database, "catalog database")
    glue = (boto3_session or boto3.Session()).client("glue")
    try:
        glue.get_database(Name=database)
        return False
    except glue.exceptions.EntityNotFoundException:
        wr.catalog.create_database(database, description=description, exist_ok=True, boto3_session=boto3_session)
        return True
