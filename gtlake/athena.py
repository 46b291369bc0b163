"""Deploy the lake's tables and views to Athena with boto3: one statement at a time, each polled to its end.

    deploy(database="gtlake", workgroup="gtlake", lake="s3://bucket/lake")

Idempotent: `CREATE DATABASE IF NOT EXISTS`, `CREATE EXTERNAL TABLE IF NOT EXISTS`, `MSCK REPAIR TABLE` (the
partitions are Hive-style folders; partition projection does not fit `job_name`, an open set of values that
an `injected` projection would force every query to filter on), `CREATE OR REPLACE VIEW`. Identifiers are
validated before any SQL is built; a failed statement stops the deployment with Athena's reason.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

from gtlake.lakesql import identifier, table_ddl, views
from gtlake.schemas import TABLES

WORKGROUP = re.compile(r"^[a-zA-Z0-9._-]{1,128}$")
S3_LAKE = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/-]*)?$")


class AthenaError(RuntimeError):
    """A statement Athena refused or failed."""


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a deployment and what it does."""

    what: str
    sql: str


def plan(database: str, lake: str) -> list[Statement]:
    """Every statement of a deployment, in order (validated identifiers only)."""
    db = identifier(database, "database")
    if not S3_LAKE.match(lake):
        raise ValueError(f"lake {lake!r} must be s3://bucket[/prefix]")
    out = [Statement(f"database {db}", f"CREATE DATABASE IF NOT EXISTS `{db}` COMMENT 'gtlake: Ground Truth label quality'")]
    for t in TABLES.values():
        out.append(Statement(f"table {t.name}", table_ddl(t, lake.rstrip("/"))))
        if t.partition_by:
            out.append(Statement(f"partitions of {t.name}", f"MSCK REPAIR TABLE `{t.name}`"))
    out += [Statement(f"view {v.name}", v.athena()) for v in views().values()]
    return out


def requests(database: str, workgroup: str, statements: list[Statement]) -> list[dict]:
    """The StartQueryExecution parameters of each statement."""
    if not WORKGROUP.match(workgroup):
        raise ValueError(f"workgroup {workgroup!r} must be 1-128 letters, digits, '.', '_' or '-'")
    db = identifier(database, "database")
    return [{"QueryString": s.sql, "WorkGroup": workgroup,
             **({"QueryExecutionContext": {"Database": db}} if not s.sql.startswith("CREATE DATABASE") else {})}
            for s in statements]


def run_statements(client, reqs: list[dict], statements: list[Statement], log: Callable[[str], None] = print,  # noqa: ANN001
                   poll_s: float = 0.5, timeout_s: float = 600.0) -> None:
    """Start each statement and poll it to its end; AthenaError on the first that does not succeed."""
    for req, st in zip(reqs, statements):
        qid = client.start_query_execution(**req)["QueryExecutionId"]
        deadline = time.monotonic() + timeout_s
        while True:
            status = client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
            if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            if time.monotonic() > deadline:
                client.stop_query_execution(QueryExecutionId=qid)
                raise AthenaError(f"{st.what}: still {status['State']} after {timeout_s:.0f}s; stopped ({qid})")
            time.sleep(poll_s)
        if status["State"] != "SUCCEEDED":
            reason = status.get("StateChangeReason") or status["State"]
            raise AthenaError(f"{st.what} failed ({qid}): {reason}")
        log(f"  {st.what}: ok ({qid})")
