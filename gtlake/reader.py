"""`gtlake.read`: a lake table or view as a pandas DataFrame, from DuckDB over a local lake or from Athena.

    import gtlake
    queue = gtlake.read("review_queue_for_audit", lake="lake", filters={"job_name": "street-tracking-b2"})
    queue = gtlake.read("review_queue_for_audit", engine="athena", database="gtlake", workgroup="gtlake",
                        filters=[("score", ">=", 0.5)])

The same name means the same rows on both engines: the views are the same SQL (sql/views, transpiled for
DuckDB), the filters become the same WHERE with the same literals, and a view's declared order is the ORDER BY
of both. Identifiers are validated, never interpolated from a user's text; values travel as parameters (DuckDB's
prepared statement, Athena's ExecutionParameters), so a filter value cannot change the statement.
"""
from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from typing import TYPE_CHECKING, Any

from gtlake.lakesql import identifier, views
from gtlake.schemas import TABLES

if TYPE_CHECKING:
    import pandas as pd

ENGINES = ("duckdb", "athena")
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in")
S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/-]*)?$")


def _names() -> list[str]:
    return sorted(TABLES) + list(views())


def _conditions(filters: Any) -> list[tuple[str, str, Any]]:
    """Filters as (column, operator, value): a dict {column: value or list of values} (equality, IN) or a
    list of (column, operator, value) triples, operators in OPERATORS."""
    if filters is None:
        return []
    if isinstance(filters, dict):
        items = [(c, "in" if isinstance(v, (list, tuple, set, frozenset)) else "=", v) for c, v in filters.items()]
    elif isinstance(filters, (list, tuple)):
        items = []
        for f in filters:
            if not (isinstance(f, (list, tuple)) and len(f) == 3):
                raise ValueError(f"filter {f!r}: a (column, operator, value) triple")
            items.append(tuple(f))
    else:
        raise ValueError("filters: a dict {column: value} or a list of (column, operator, value)")
    out = []
    for col, op, value in items:
        identifier(col, "filter column")
        op = str(op).lower()
        if op not in OPERATORS:
            raise ValueError(f"filter on {col}: operator {op!r} is not one of {', '.join(OPERATORS)}")
        if op in ("in", "not in"):
            value = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else list(value)
            if not value:
                raise ValueError(f"filter on {col}: {op} an empty list")
        out.append((col, op, value))
    return out


def _scalar(value: Any) -> Any:
    if value is None:
        raise ValueError("a filter value cannot be None (NULL compares as unknown)")
    if isinstance(value, (bool, str, dt.date)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(float(value)):
        return float(value)
    raise ValueError(f"filter value {value!r}: a string, finite number, boolean, date or timestamp")


def athena_literal(value: Any) -> str:
    """The SQL literal Athena's ExecutionParameters take for one filter value (strings quoted, quotes doubled)."""
    value = _scalar(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dt.datetime):
        v = value.astimezone(dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value
        return f"TIMESTAMP '{v.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + value.replace("'", "''") + "'"


def statement(name: str, columns: list[str] | None = None, filters: Any = None,
              limit: int | None = None) -> tuple[str, list[Any]]:
    """The SELECT `read` runs and its parameters (in order, one per `?`)."""
    if name not in TABLES and name not in views():
        raise ValueError(f"{name!r} is not a lake table or view; one of {', '.join(_names())}")
    cols = ", ".join(f'"{identifier(c, "column")}"' for c in columns) if columns else "*"
    where, params = [], []
    for col, op, value in _conditions(filters):
        if op in ("in", "not in"):
            where.append(f'"{col}" {op.upper()} ({", ".join("?" for _ in value)})')
            params += [_scalar(v) for v in value]
        else:
            where.append(f'"{col}" {op} ?')
            params.append(_scalar(value))
    sql = f"SELECT {cols} FROM {name}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += views()[name].order_by() if name in views() else ""
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValueError(f"limit {limit!r}: a whole number >= 0")
        sql += f" LIMIT {limit}"
    return sql, params


def read(name: str, lake: str | None = None, *, engine: str = "duckdb", filters: Any = None,
         columns: list[str] | None = None, limit: int | None = None, database: str = "gtlake",
         workgroup: str = "gtlake", s3_output: str | None = None, boto3_session: Any = None) -> "pd.DataFrame":
    """A lake table or view as a pandas DataFrame.

    name: a table of `gtlake.schemas.TABLES` or a view of sql/views. filters: {column: value} (equality) or
    {column: [values]} (IN), or a list of (column, operator, value) with operators =, !=, <, <=, >, >=, in,
    not in; all joined by AND. A view comes back in its declared order.
    engine "duckdb": `lake` is a local lake folder, read in the same sandbox as `gtlake sql` (integer columns as
    pandas Int64). engine "athena": the tables and views deployed by `gtlake athena deploy` in `database`,
    queried through awswrangler in `workgroup` (its result location, or `s3_output`); credentials, region and
    endpoint from `boto3_session` or the environment. Athena hands results back as CSV: arrays and maps come
    back as their text.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: one of {', '.join(ENGINES)}")
    sql, params = statement(name, columns, filters, limit)
    if engine == "duckdb":
        return _duckdb(sql, params, lake)
    return _athena(sql, params, database, workgroup, s3_output, boto3_session)


def _duckdb(sql: str, params: list[Any], lake: str | None) -> "pd.DataFrame":
    import os

    from gtlake.lakesql import connect, integers_as_integers

    if not lake:
        raise ValueError("engine duckdb reads a local lake: give lake='path/to/lake'")
    if lake.startswith("s3://"):
        raise ValueError("engine duckdb reads a local lake folder; an S3 lake is read with engine='athena'")
    if not os.path.isdir(lake):
        raise ValueError(f"lake {lake!r} is not a folder")
    rel = connect(lake).sql(sql, params=params or None)
    return integers_as_integers(rel.df(), rel)


def _athena(sql: str, params: list[Any], database: str, workgroup: str, s3_output: str | None,
            session: Any) -> "pd.DataFrame":
    import awswrangler as wr

    from gtlake.athena import results_location

    identifier(database, "database")
    location = results_location(workgroup, session, s3_output)
    return wr.athena.read_sql_query(sql, database=database, workgroup=workgroup, s3_output=location,
                                    ctas_approach=False, unload_approach=False,
                                    params=[athena_literal(p) for p in params] or None, paramstyle="qmark",
                                    boto3_session=session)
