"""Deploy the lake's tables and views to Athena through awswrangler: one statement at a time, each waited for.

    deploy(database="gtlake", workgroup="gtlake", lake="s3://bucket/lake")

Idempotent: `CREATE DATABASE IF NOT EXISTS`, `CREATE EXTERNAL TABLE IF NOT EXISTS`, `MSCK REPAIR TABLE` (the
partitions are Hive-style folders; partition projection does not fit `job_name`, an open set of values that
an `injected` projection would force every query to filter on), `CREATE OR REPLACE VIEW`. Identifiers are
validated before any SQL is built; a failed statement stops the deployment with Athena's reason. Statements
and queries go through `awswrangler.athena` (AWS SDK for pandas), in a workgroup that has a query result
location (the stack's has one, encrypted, enforced); without one gtlake refuses rather than let awswrangler
create a results bucket in the account.
"""
from __future__ import annotations

import re
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


def check_workgroup(workgroup: str) -> str:
    if not isinstance(workgroup, str) or not WORKGROUP.match(workgroup):
        raise ValueError(f"workgroup {workgroup!r} must be 1-128 letters, digits, '.', '_' or '-'")
    return workgroup


def results_location(workgroup: str, session=None, s3_output: str | None = None) -> str:  # noqa: ANN001 - boto3 Session
    """Where Athena writes the results of a query in `workgroup`: the workgroup's enforced location, else
    `s3_output`, else the workgroup's own; AthenaError when there is none (awswrangler would create a bucket)."""
    import awswrangler as wr

    check_workgroup(workgroup)
    if s3_output is not None and not S3_LAKE.match(s3_output.rstrip("/")):
        raise ValueError(f"query result location {s3_output!r} must be s3://bucket[/prefix]")
    conf = wr.athena.get_work_group(workgroup, boto3_session=session)["WorkGroup"].get("Configuration", {})
    own = (conf.get("ResultConfiguration") or {}).get("OutputLocation")
    if own and conf.get("EnforceWorkGroupConfiguration"):
        return own
    if s3_output or own:
        return s3_output or own
    raise AthenaError(f"workgroup {workgroup} has no query result location: use the gtlake stack's workgroup or "
                      "give an s3:// location for the results")


def run_statements(statements: list[Statement], database: str, workgroup: str, session=None,  # noqa: ANN001
                   log: Callable[[str], None] = print, poll_s: float = 0.5, s3_output: str | None = None) -> None:
    """Run each statement in order, waiting for each; AthenaError on the first that does not succeed."""
    import awswrangler as wr

    db = identifier(database, "database")
    location = results_location(workgroup, session, s3_output)
    for st in statements:
        qid = wr.athena.start_query_execution(
            st.sql, database=None if st.sql.startswith("CREATE DATABASE") else db, workgroup=workgroup,
            s3_output=location, wait=False, boto3_session=session)
        try:
            wr.athena.wait_query(qid, boto3_session=session, athena_query_wait_polling_delay=poll_s)
        except (wr.exceptions.QueryFailed, wr.exceptions.QueryCancelled) as e:
            raise AthenaError(f"{st.what} failed ({qid}): {e}") from None
        log(f"  {st.what}: ok ({qid})")
