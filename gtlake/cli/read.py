"""The commands that read a local lake: sql (DuckDB over the lake and its views), dashboard (one HTML page) and
review (a job's queue with its frames drawn)."""
from __future__ import annotations

import argparse
import os
import re
import sys

from gtlake import storage
from gtlake.cli.common import out_file, positive, reader_lake, say_problems


def add_commands(sub: argparse._SubParsersAction, commands: dict) -> None:
    """Add this group's subcommands to `sub` (and to `commands`, name -> parser)."""
    sq = sub.add_parser("sql", help="query the lake with SQL (DuckDB, the views of sql/views)",
                        description="Run a view, a query or a SQL file against the lake with DuckDB. Every lake "
                                    "table is a table of that name; every view of sql/views (Athena dialect, "
                                    "transpiled) is there too.")
    sq.add_argument("--lake", required=True, help="lake folder")
    what = sq.add_mutually_exclusive_group(required=True)
    what.add_argument("--view", help="a view's name (see README: views)")
    what.add_argument("--query", help="a SELECT in DuckDB's dialect")
    what.add_argument("--file", help="a file holding one SELECT")
    sq.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output (default table)")
    sq.add_argument("--limit", type=positive, default=None, help="at most this many rows (table format: 50)")
    sq.set_defaults(handler=_sql)
    commands["sql"] = sq

    db = sub.add_parser("dashboard", help="write the dashboards (label quality, workers, audits, refused, data quality) as one HTML page",
                        description="Write one self-contained HTML page (plotly inlined, no network needed to view "
                                    "it) with the Label quality, Worker performance, Audits, Refused records and Data "
                                    "quality sheets, from the lake's SQL views, and filters by job, date, worker and class.")
    db.add_argument("--lake", required=True, help="lake folder")
    db.add_argument("--out", required=True, help="HTML file to write")
    db.set_defaults(handler=_dashboard)
    commands["dashboard"] = db

    from gtlake.review import TOP

    rv = sub.add_parser("review", help="write a job's review queue as one HTML page with the frames drawn",
                        description="Write one self-contained, offline HTML page for a job's review queue (the first "
                                    "--top entries by rank): each entry's frame cropped around the object with the "
                                    "suspect box drawn, the frames just before and after, the reasons in words. "
                                    "Reviewers mark each entry mistake / fine / unsure and save the verdicts as a "
                                    "file for `gtlake verdicts`.")
    rv.add_argument("--lake", required=True, help="lake folder")
    rv.add_argument("--job", required=True, help="labeling job whose queue to review")
    rv.add_argument("--out", required=True, help="HTML file to write")
    rv.add_argument("--top", type=positive, default=TOP, help=f"queue entries on the page, by rank (default {TOP})")
    rv.add_argument("--frames-root", help="read s3://<bucket>/<key> sequence files and frame images as "
                                          "FRAMES_ROOT/<key> (a local mirror of the input bucket, or another prefix)")
    rv.set_defaults(handler=_review)
    commands["review"] = rv

    ex = sub.add_parser("export", help="write a job's labels as COCO or MOTChallenge files",
                        description="Write a job's boxes, with their classes and tracks, as COCO (annotations.json "
                                    "with track_id and video_id) or MOTChallenge (<sequence>/gt/gt.txt and "
                                    "seqinfo.ini), plus gtlake-export.json mapping folders, classes and track "
                                    "numbers back to the lake's ids.")
    ex.add_argument("--lake", required=True, help="lake folder")
    ex.add_argument("--job", required=True, help="the job whose labels to export")
    ex.add_argument("--format", required=True, choices=("coco", "mot"), help="coco or mot")
    ex.add_argument("--out", required=True, help="a new (or empty) folder to write")
    ex.add_argument("--audited", action="store_true", help="the labels as the job's latest audit left them (the "
                                                           "corrected labels), on the sequences it audited")
    ex.add_argument("--queue-only", action="store_true", help="only the frames of the job's review queue")
    ex.set_defaults(handler=_export)
    commands["export"] = ex


def _sql(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import duckdb

    from gtlake.lakesql import check_read_only, connect, integers_as_integers, views

    if args.view is not None and args.view not in views():
        parser.error(f"--view {args.view}: no such view; one of {', '.join(views())}")
    if args.file is not None:
        try:
            with open(args.file, encoding="utf-8") as f:
                query = f.read()
        except (OSError, UnicodeDecodeError) as e:
            parser.error(f"--file {args.file}: {getattr(e, 'strerror', None) or e}")
    else:
        query = args.query if args.query is not None else f"SELECT * FROM {args.view}{views()[args.view].order_by()}"
    reader_lake(parser, args.lake, "sql")
    problems: list[str] = []
    con = connect(args.lake, problems)
    say_problems("sql", problems)
    limit = args.limit or (50 if args.format == "table" else None)
    try:  # parsed, checked read-only, run and fetched: an error anywhere is one line
        check_read_only(con, query)
        rel = con.sql(query)
        if rel is None:
            return 0
        part = rel.limit(limit + 1) if limit else rel
        df = integers_as_integers(part.df(), part)
    except (duckdb.Error, ValueError) as e:
        said = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if isinstance(e, duckdb.ParserException) and RESERVED.search(query):
            said += ' (left and top are reserved words in SQL, on Athena too: quote them, "left", "top")'
        print(f"gtlake sql: {said}", file=sys.stderr)
        return 1
    more = limit is not None and len(df) > limit
    df = df.head(limit) if limit else df
    if args.format == "csv":
        df.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        sys.stdout.write(df.to_json(orient="records", date_format="iso", lines=True))
    else:
        import pandas as pd

        with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 60):
            shown = df.copy()
            for c in shown.columns:  # nullable integers print <NA> whatever na_rep says
                if str(shown[c].dtype) == "Int64":
                    shown[c] = shown[c].astype(object).where(shown[c].notna(), "NULL")
            print(shown.to_string(index=False, na_rep="NULL") if len(df) else "(no rows)")
        if more:
            print(f"(first {len(df)} rows; --limit N or --format csv for more)")
    return 0


RESERVED = re.compile(r'(?<!["\w])(left|top)(?!["\w])\s*(,|from\b|$)', re.I)  # boxes' columns, unquoted


def _dashboard(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from gtlake.dashboard import build

    out = out_file(parser, args.out)
    reader_lake(parser, args.lake, "dashboard")
    problems: list[str] = []
    text = build(args.lake, problems=problems)
    say_problems("dashboard", problems)
    try:
        storage.write_text_atomic(out, text)
    except OSError as e:
        print(f"gtlake dashboard: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"dashboard: {out} ({len(text) / 1e6:.1f} MB, opens offline)")
    return 0


def _review(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import time

    from gtlake import review

    out = out_file(parser, args.out)
    if args.frames_root is not None and not storage.is_s3(args.frames_root) and not os.path.isdir(args.frames_root):
        parser.error(f"--frames-root {args.frames_root}: no such folder")
    lake = reader_lake(parser, args.lake, "review")
    jobs = sorted(lake.ledger("quality"))
    if args.job not in jobs:
        parser.error(f"--job {args.job}: no review queue for this job in {args.lake} (scored jobs: "
                     f"{', '.join(j for j in jobs if not j.startswith('_')) or 'none; run gtlake quality'})")
    t0 = time.monotonic()
    problems: list[str] = []
    text, stats = review.build(args.lake, args.job, args.top, args.frames_root, problems)
    say_problems("review", problems)
    try:
        storage.write_text_atomic(out, text)
    except OSError as e:
        print(f"gtlake review: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"review: {out}: {stats['entries']} of {stats['queued']} queue entries, {stats['drawn']} of "
          f"{stats['panels']} frames drawn from {stats['read']} images ({len(text) / 1e6:.1f} MB, "
          f"{time.monotonic() - t0:.1f}s, opens offline)")
    return 0


def _export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from gtlake import export
    from gtlake.lakesql import connect

    out = os.path.abspath(args.out)
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        parser.error(f"--out {args.out}: exists and is not an empty folder; give a new one")
    reader_lake(parser, args.lake, "export")
    problems: list[str] = []
    con = connect(args.lake, problems)
    say_problems("export", problems)
    try:
        labels = export.load(con, args.job, audited=args.audited, queue_only=args.queue_only)
    except export.ExportError as e:
        parser.error(f"--job {args.job}: {e}")
    texts = export.files(labels, args.format)
    try:
        export.write(out, texts)
    except (OSError, export.ExportError) as e:
        print(f"gtlake export: cannot write {args.out}: {getattr(e, 'strerror', None) or e}", file=sys.stderr)
        return 1
    said = f" ({'; '.join(labels.notes)})" if labels.notes else ""
    print(f"export: {out}: {args.format}, {len(labels.boxes)} boxes of {labels.boxes['object_id'].nunique()} "
          f"objects on {len(labels.sequences)} sequences of {args.job}{said}")
    return 0
