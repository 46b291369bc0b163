"""The Glue Data Catalog sync through awswrangler, against the moto server: tables from the schemas, partitions
kept in step with the lake's folders, a changed table re-created, a second sync changing nothing."""
from __future__ import annotations

import io
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gtlake import catalog
from gtlake.lake import Lake
from gtlake.schemas import TABLES
from tests.conftest import FAKE_AWS

pytestmark = pytest.mark.s3


@pytest.fixture
def aws(s3_endpoint, monkeypatch):
    import boto3

    for k, v in {**FAKE_AWS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(k, v)
    bucket = f"catalog-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return boto3.client("s3"), boto3.client("glue"), bucket


def _put(s3, bucket: str, key: str) -> None:
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": [1]}), buf)
    s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())


def _partitions(glue, database: str, table: str) -> dict[tuple[str, ...], str]:
    return {tuple(p["Values"]): p["StorageDescriptor"]["Location"]
            for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table)
            for p in page["Partitions"]}


def test_sync_follows_the_lake(aws):
    s3, glue, bucket = aws
    database = "gtlake_" + bucket.split("-")[1]
    _put(s3, bucket, "lake/boxes/job_name=street-a/part-0.parquet")
    _put(s3, bucket, "lake/boxes/job_name=b%20c/part-0.parquet")  # a job name with a space, as Spark writes it
    _put(s3, bucket, "lake/jobs/part-0.parquet")
    lake = Lake(f"s3://{bucket}/lake")
    assert catalog.ensure_database(database) is True and catalog.ensure_database(database) is False

    first = catalog.sync(lake, database)
    assert sorted(first.tables_created) == ["boxes", "jobs"] and first.partitions_added == 2
    t = glue.get_table(DatabaseName=database, Name="boxes")["Table"]
    schema = TABLES["boxes"]
    assert t["StorageDescriptor"]["Location"] == f"s3://{bucket}/lake/boxes/"
    assert [c["Name"] for c in t["PartitionKeys"]] == list(schema.partition_by)
    assert [(c["Name"], c["Type"]) for c in t["StorageDescriptor"]["Columns"]] == [
        (c.name, c.type.ddl) for c in schema.columns if c.name not in schema.partition_by]
    comments = {c["Name"]: c.get("Comment") for c in t["StorageDescriptor"]["Columns"] + t["PartitionKeys"]}
    assert comments == {c.name: c.comment[:255] for c in schema.columns}
    assert t["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert t["Description"] == f"One row per {schema.row}"
    assert _partitions(glue, database, "boxes") == {
        ("street-a",): f"s3://{bucket}/lake/boxes/job_name=street-a/",
        ("b c",): f"s3://{bucket}/lake/boxes/job_name=b%20c/"}

    again = catalog.sync(lake, database)
    assert (again.tables_created, again.tables_updated, again.partitions_added, again.partitions_dropped) == \
        ([], [], 0, 0)

    s3.delete_object(Bucket=bucket, Key="lake/boxes/job_name=street-a/part-0.parquet")
    _put(s3, bucket, "lake/boxes/job_name=street-d/part-0.parquet")
    moved = catalog.sync(lake, database)
    assert (moved.partitions_added, moved.partitions_dropped) == (1, 1)
    assert set(_partitions(glue, database, "boxes")) == {("b c",), ("street-d",)}

    # someone changed the catalog table by hand: re-created from the schema, every partition registered again
    ti = {k: v for k, v in t.items() if k in ("Name", "StorageDescriptor", "PartitionKeys", "TableType", "Parameters")}
    ti["StorageDescriptor"] = dict(ti["StorageDescriptor"], Columns=ti["StorageDescriptor"]["Columns"][:-1])
    glue.update_table(DatabaseName=database, TableInput=ti)
    fixed = catalog.sync(lake, database)
    assert fixed.tables_updated == ["boxes"] and fixed.partitions_added == 2
    t = glue.get_table(DatabaseName=database, Name="boxes")["Table"]
    assert len(t["StorageDescriptor"]["Columns"]) == len(schema.columns) - len(schema.partition_by)
    assert set(_partitions(glue, database, "boxes")) == {("b c",), ("street-d",)}


def test_sync_calls_only_what_the_jobs_role_may(aws):
    """Every Glue call of a first sync, a re-sync and a re-created table is an action the stack grants the jobs'
    role (glue/gtlake.yaml), which reads and writes only the one database."""
    import re

    import boto3

    from tests.conftest import REPO

    s3, glue, bucket = aws
    granted = set(re.findall(r"- glue:(\w+)", (REPO / "glue" / "gtlake.yaml").read_text()))
    database = "gtlake_iam_" + bucket.split("-")[1]
    glue.create_database(DatabaseInput={"Name": database})  # the stack's
    _put(s3, bucket, "lake/boxes/job_name=a/part-0.parquet")
    session = boto3.Session()
    called = set()
    session.events.register("before-call.glue.*", lambda model, **_: called.add(model.name))
    lake = Lake(f"s3://{bucket}/lake")
    catalog.ensure_database(database, boto3_session=session)
    catalog.sync(lake, database, boto3_session=session)
    catalog.sync(lake, database, boto3_session=session)
    t = glue.get_table(DatabaseName=database, Name="boxes")["Table"]
    glue.update_table(DatabaseName=database, TableInput={"Name": "boxes", "PartitionKeys": t["PartitionKeys"],
                                                         "StorageDescriptor": dict(t["StorageDescriptor"], Columns=[])})
    assert catalog.sync(lake, database, boto3_session=session).tables_updated == ["boxes"]
    assert called and called <= granted, called - granted


def test_sync_refuses_a_local_lake_and_a_bad_database(tmp_path):
    with pytest.raises(ValueError, match="S3 lakes"):
        catalog.sync(Lake(str(tmp_path)), "gtlake")
    with pytest.raises(ValueError, match="lower-case"):
        catalog.ensure_database("Bad-Name")
