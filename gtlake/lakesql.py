"""The lake's SQL: Athena DDL generated from the schemas, the views in sql/views, and DuckDB to run them locally.

    python -m gtlake.lakesql            # rewrite sql/tables/*.sql from gtlake.schemas (a test keeps them in sync)

Views are written once, in Athena's dialect (engine v3, Trino), as one SELECT per file over bare table
names; a second header line `-- order: col [DESC], ...` says the order its rows mean something in (a rank, a
day), which every gtlake reader (`gtlake sql --view`, `gtlake.read`) applies as an outer ORDER BY: Trino drops the
ORDER BY of a view that is queried as a subquery, so the order is said where the rows are fetched. Locally they
are transpiled to DuckDB with sqlglot and run over the lake's Parquet folders; on AWS `gtlake athena deploy`
creates them as `CREATE OR REPLACE VIEW`. They avoid the functions whose meaning
differs between the two (`date_diff`, weighted `approx_percentile`, `format_datetime`): durations are
precomputed columns, days are `CAST(... AS date)` of UTC timestamps.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import resources

from gtlake.schemas import TABLES, Table

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
_DUCK_TYPES = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN",
               "timestamp": "TIMESTAMPTZ", "map<string,string>": "MAP(VARCHAR, VARCHAR)", "array<string>": "VARCHAR[]",
               "array<struct<x:double,y:double>>": "STRUCT(x DOUBLE, y DOUBLE)[]"}


def identifier(name: str, what: str = "identifier") -> str:
    """`name` if it is a safe SQL identifier (lower case letters, digits, underscores), else ValueError."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise ValueError(f"{what} {name!r} must be lower-case letters, digits and underscores (at most 128)")
    return name


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _comment(text: str) -> str:
    """A COMMENT literal of Athena's DDL, which is Hive's: a backslash escapes the next character (Trino's doubled
    quote is not Hive's), so the text reads back as written, apostrophes included."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def table_ddl(table: Table, location: str = "${lake}") -> str:
    """CREATE EXTERNAL TABLE for Athena: columns with comments, Hive partitions, Parquet at `location`/<table>/."""
    cols = [c for c in table.columns if c.name not in table.partition_by]
    parts = [c for c in table.columns if c.name in table.partition_by]
    lines = [f"CREATE EXTERNAL TABLE IF NOT EXISTS `{table.name}` ("]
    lines += [f"  `{c.name}` {c.type.ddl} COMMENT {_comment(c.comment)}{',' if k < len(cols) - 1 else ''}"
              for k, c in enumerate(cols)]
    lines.append(")")
    lines.append(f"COMMENT {_comment('One row per ' + table.row)}")
    if parts:
        lines.append("PARTITIONED BY (" + ", ".join(f"`{c.name}` {c.type.ddl} COMMENT {_comment(c.comment)}"
                                                    for c in parts) + ")")
    lines.append("STORED AS PARQUET")
    lines.append(f"LOCATION '{location.rstrip('/')}/{table.name}/'")
    lines.append("TBLPROPERTIES ('parquet.compression' = 'SNAPPY')")
    return "\n".join(lines) + "\n"


ORDER_TERM = re.compile(r"^([a-z_][a-z0-9_]{0,127})( DESC)?$")


@dataclass(frozen=True)
class View:
    """One view: its name, one-line description, SELECT (Athena dialect) and the order its rows mean (terms
    `column` or `column DESC`; empty when order means nothing, e.g. one row of KPIs)."""

    name: str
    description: str
    select: str
    order: tuple[str, ...] = ()

    def order_by(self) -> str:
        """` ORDER BY ...` of the view's declared order (NULLs last on both engines), or ''."""
        if not self.order:
            return ""
        terms = []
        for t in self.order:
            col, desc = ORDER_TERM.match(t).groups()
            terms.append(f'"{col}"{desc or ""} NULLS LAST')
        return " ORDER BY " + ", ".join(terms)

    def athena(self) -> str:
        """The Athena statement creating it (idempotent)."""
        return f"CREATE OR REPLACE VIEW {identifier(self.name, 'view')} AS\n{self.ordered()}"

    def ordered(self) -> str:
        """The SELECT with its declared ORDER BY (kept for a bare `SELECT * FROM view`; readers say it again)."""
        return self.select + ("\n" + self.order_by().strip() if self.order else "")

    def duckdb(self) -> str:
        """The SELECT transpiled to DuckDB.

        `approx_percentile` becomes DuckDB's exact `quantile_disc` (a value of the column, as Athena's is):
        within Athena's own error bound, and the same on every run (DuckDB's approx_quantile varies with threads).
        """
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(self.ordered(), read="athena")
        tree = tree.transform(lambda n: exp.Anonymous(this="quantile_disc", expressions=[n.this, n.args["quantile"]])
                              if isinstance(n, exp.ApproxQuantile) else n)
        return tree.sql(dialect="duckdb")


def views() -> dict[str, View]:
    """Every view of sql/views, by name (file order)."""
    out = {}
    folder = resources.files("gtlake.sql").joinpath("views")
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".sql"):
            continue
        text = entry.read_text(encoding="utf-8")
        head, _, body = text.partition("\n")
        if not head.startswith("-- "):
            raise ValueError(f"sql/views/{entry.name}: the first line must be '-- <description>'")
        order: tuple[str, ...] = ()
        if body.startswith("-- order:"):
            line, _, body = body.partition("\n")
            order = tuple(t.strip() for t in line[len("-- order:"):].split(","))
            if not all(ORDER_TERM.match(t) for t in order):
                raise ValueError(f"sql/views/{entry.name}: '-- order:' takes columns, each optionally DESC")
        name = identifier(entry.name[:-4], "view file name")
        out[name] = View(name, head[3:].strip(), body.strip().rstrip(";"), order)
    return out


READ_ONLY = ("SELECT",)  # the statement type `gtlake sql` and the dashboard run (EXPLAIN ANALYZE would run a COPY)


def _readable(path: str) -> str | None:
    """Why a Parquet file cannot be read (its footer, where every reader starts), or None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except (OSError, pa.ArrowException) as e:
        return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    return None


def connect(lake: str, problems: list[str] | None = None):  # noqa: ANN201 - duckdb connection
    """DuckDB over the lake, sandboxed: a view per table (empty, typed, when the table is not there yet) and
    every view. The connection reads only the lake's own files (DuckDB's `allowed_directories`, external
    access off, configuration locked): a query cannot write files, read others or attach databases. A data
    file whose footer cannot be read is left out of its table, and said in `problems` (when given)."""
    import duckdb

    root = os.path.abspath(lake)
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET allowed_directories = [{_quote(root + os.sep)}]")
    con.execute("SET enable_external_access = false")
    for t in TABLES.values():
        folder = os.path.join(root, t.name)
        files = []
        if os.path.isdir(folder):
            for dirpath, dirs, names in os.walk(folder):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                files += [os.path.join(dirpath, n) for n in sorted(names)
                          if n.endswith(".parquet") and not n.startswith((".", "_"))]
        good = []
        for f in files:
            why = _readable(f)
            if why is None:
                good.append(f)
            elif problems is not None:
                problems.append(f"{os.path.relpath(f, root)}: damaged ({why}); left out of {t.name}")
        if good:
            hive = ", ".join(f"'{p}': 'VARCHAR'" for p in t.partition_by)
            opts = f", hive_partitioning = true, hive_types = {{{hive}}}" if t.partition_by else ""
            listed = ", ".join(_quote(f) for f in good)
            con.execute(f"CREATE VIEW {t.name} AS SELECT * FROM read_parquet([{listed}], union_by_name = true{opts})")
        else:
            cols = ", ".join(f'"{c.name}" {_DUCK_TYPES[c.type.ddl]}' for c in t.columns)
            con.execute(f"CREATE TABLE {t.name} ({cols})")
    for v in views().values():
        con.execute(f"CREATE VIEW {v.name} AS {v.duckdb()}")
        _athena_types(con, v.name, v.duckdb())
    con.execute("SET lock_configuration = true")
    return con


def _athena_types(con, name: str, sql: str) -> None:  # noqa: ANN001 - duckdb connection
    """Re-create view `name` with the column types Athena gives it: DuckDB's sums and count_if of integers are
    HUGEINT (128 bits, which pandas turns into floats: `1467.0`) and its sums of decimals DECIMAL(38, n); Athena's
    are bigint and, for the rubric's weighted sums, double."""
    cast = {c: "BIGINT" if t == "HUGEINT" else "DOUBLE"
            for c, t, *_ in con.execute(f"DESCRIBE SELECT * FROM {name}").fetchall()
            if t == "HUGEINT" or t.startswith("DECIMAL")}
    if cast:
        cols = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in cast.items())
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * REPLACE ({cols}) FROM ({sql})")


INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT"}


def integers_as_integers(df, rel):  # noqa: ANN001, ANN201 - pandas DataFrame, duckdb relation
    """`df` with its integer columns as integers, NULLs and all (pandas would print a count with NULLs as 3.0)."""
    for name, typ in zip(rel.columns, rel.types):
        if str(typ) in INTEGER_TYPES and name in df.columns:
            try:
                df[name] = df[name].astype("Int64")
            except (TypeError, ValueError, OverflowError):
                pass  # a HUGEINT past 64 bits stays as DuckDB gave it
    return df


def check_read_only(con, query: str) -> None:  # noqa: ANN001 - duckdb connection
    """ValueError unless every statement of `query` is a SELECT (duckdb.Error if it does not parse)."""
    for st in con.extract_statements(query):
        kind = st.type.name
        if kind not in READ_ONLY:
            raise ValueError(f"only SELECT statements run on the lake (this is {kind}); it is read-only")


def markdown() -> str:
    """The views as a Markdown list (README's view reference is this text)."""
    return "\n".join(f"* `{v.name}`: {v.description}" + (f" *Ordered by {', '.join(v.order)}.*" if v.order else "")
                     for v in views().values())


def write_ddl(folder: str) -> list[str]:
    """Write sql/tables/<table>.sql for every table; the paths written."""
    os.makedirs(folder, exist_ok=True)
    out = []
    for t in TABLES.values():
        path = os.path.join(folder, f"{t.name}.sql")
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.\n{table_ddl(t)}")
        out.append(path)
    return out


if __name__ == "__main__":
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sql", "tables")
    for p in write_ddl(here):
        print(p)
