"""What the command groups share: the parser class, argument types and flags, the lake openers, the closing lines.

A wrong argument or a missing input prints one line and the usage, and exits 2 (`Parser.error`).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, Callable

from gtlake import storage
from gtlake.records import ON_FAILURE
from gtlake.validation import VALIDATED

if TYPE_CHECKING:
    from gtlake.lake import Lake

VALIDATED_TABLES = VALIDATED  # the tables `gtlake validate` checks (gtlake.validation)


class Parser(argparse.ArgumentParser):
    """argparse, with the error line after the usage and exit code 2."""

    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def float_in(ok: Callable[[float], bool], span: str, what: str = "a number") -> Callable[[str], float]:
    """An argparse type: a float for which `ok(value)` holds, described as `span` in the error."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {span}, got {value}")
        return value

    return parse


unit = float_in(lambda v: 0.0 < v <= 1.0, "a number in (0, 1]")
pixels = float_in(lambda v: 0.0 <= v < 100.0, "pixels in [0, 100)", "a number of pixels")


def seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def activity_args(c: argparse.ArgumentParser, required: bool) -> None:
    g = c.add_mutually_exclusive_group(required=required)
    g.add_argument("--activity", help="WorkerActivity log export: a folder or s3:// prefix of gzip files of "
                                      "'<timestamp> <json>' lines")
    g.add_argument("--log-group", help="read CloudWatch Logs directly, e.g. /aws/sagemaker/groundtruth/WorkerActivity "
                                       "(region and endpoint from the AWS environment)")
    c.add_argument("--lookback-minutes", type=positive, default=60,
                   help="with --log-group: re-read this much before the stored watermark, for late deliveries "
                        "(default 60; events read twice are stored once)")


def catalog_arg(c: argparse.ArgumentParser) -> None:
    c.add_argument("--catalog-database", metavar="NAME",
                   help="S3 lakes: after each commit, create or update the lake's tables and partitions in this "
                        "Glue Data Catalog database (created if missing)")


def on_failure_arg(c: argparse.ArgumentParser, gate: bool = True) -> None:
    c.add_argument("--on-failure", choices=ON_FAILURE, default="fail",
                   help=("data-quality gate on the tables read and the output about to be committed: fail "
                         "(default): commit nothing and exit 1 when a rule is broken; warn: report, commit, exit 0")
                   if gate else "fail (default): exit 1 when a rule is broken; warn: report and exit 0")


def where(lake: str, table: str | None = None) -> str:
    """A lake (or one of its tables) as a person reads it: an absolute folder or an s3:// URI."""
    base = lake.rstrip("/") if storage.is_s3(lake) else os.path.abspath(lake)
    return base if table is None else f"{base}/{table}"


def check_input(parser: argparse.ArgumentParser, path: str, flag: str = "--input") -> None:
    try:
        ok = storage.exists(path)
    except Exception as e:  # noqa: BLE001 - any client error means we cannot read it
        parser.error(f"{flag} {path}: cannot list it ({type(e).__name__}: {e})")
    if not ok:
        parser.error(f"{flag} {path}: no such folder" if not storage.is_s3(path) else
                     f"{flag} {path}: no objects under this prefix")


def open_lake(parser: argparse.ArgumentParser, root: str) -> "Lake":
    """The lake at `root` (a folder or s3://bucket/prefix); a bad S3 location is a one-line argument error."""
    from gtlake.lake import Lake

    if not storage.is_s3(root) and os.path.exists(root) and not os.path.isdir(root):
        parser.error(f"--lake {root}: not a folder")
    try:
        lake = Lake(root)
        if lake.remote:  # reach the bucket now: a missing bucket or no credentials is an argument error
            storage.s3_client().head_bucket(Bucket=lake.root.split("/", 1)[0])
    except (ValueError, OSError) as e:
        parser.error(f"--lake {root}: {e}")
    except Exception as e:  # noqa: BLE001 - botocore's errors: no such bucket, no credentials, no access
        parser.error(f"--lake {root}: cannot reach the bucket ({type(e).__name__}: {e})")
    return lake


def writer_lake(args: argparse.Namespace, parser: argparse.ArgumentParser) -> "Lake":
    """The lake a step writes (`open_lake`), with `--catalog-database` checked: S3 lakes only, a valid name."""
    lake = open_lake(parser, args.lake)
    if getattr(args, "catalog_database", None):
        if not lake.remote:
            parser.error("--catalog-database: the Glue Data Catalog describes S3 lakes; give --lake s3://bucket/prefix")
        from gtlake.lakesql import identifier

        try:
            identifier(args.catalog_database, "--catalog-database")
        except ValueError as e:
            parser.error(str(e))
    return lake


def reader_lake(parser: argparse.ArgumentParser, root: str, command: str) -> "Lake":
    """A local lake for reading: the folder must exist; a commit killed part way is rolled forward first (or,
    while its writer still holds the lock, LakeMidCommit)."""
    from gtlake.lake import Lake

    if storage.is_s3(root):
        parser.error(f"--lake {root}: gtlake {command} reads a local lake (on AWS, query it with Athena)")
    if not os.path.isdir(root):
        parser.error(f"--lake {root}: no such folder" if not os.path.exists(root) else f"--lake {root}: not a folder")
    lake = Lake(root)
    lake.settle()
    return lake


def out_file(parser: argparse.ArgumentParser, path: str) -> str:
    """An output file's absolute path, checked before any work: its folder exists, it is not a folder."""
    full = os.path.abspath(path)
    if os.path.isdir(full):
        parser.error(f"--out {path}: is a folder; give a file name")
    if not os.path.isdir(os.path.dirname(full)):
        parser.error(f"--out {path}: folder {os.path.dirname(full)} does not exist")
    return full


def json_config(parser: argparse.ArgumentParser, path: str | None, cls: type) -> Any:
    """`cls` with the overrides of the JSON file at `path` (defaults without one); a bad file is an argument error."""
    if path is None:
        return cls()
    try:
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read())
    except OSError as e:
        parser.error(f"--config {path}: {e.strerror}")
    except ValueError as e:
        parser.error(f"--config {path}: {e}")


def say_problems(command: str, found: list[str]) -> None:
    """Each problem a reader met (a damaged file it skipped, say), one line each on stderr."""
    for p in found:
        print(f"gtlake {command}: {p}", file=sys.stderr)


def checks(result) -> None:  # noqa: ANN001 - a job's result
    """The closing line of a job's data-quality gate, when it checked anything."""
    if result.checks:
        print(f"  data-quality checks: {result.checks} ({result.check_seconds:.1f}s)")


def catalog_sync(args: argparse.Namespace) -> int:
    """With --catalog-database: make the Glue Data Catalog match the lake (tables and partitions)."""
    database = getattr(args, "catalog_database", None)
    if not database:
        return 0
    from gtlake import catalog
    from gtlake.lake import Lake

    try:
        catalog.ensure_database(database)
        result = catalog.sync(Lake(args.lake), database)
    except (*catalog.aws_errors(), RuntimeError) as e:
        print(f"gtlake {args.command}: the lake is committed, but the Glue Data Catalog database {database} "
              f"could not be updated: {e}", file=sys.stderr)
        return 1
    print(f"catalog {database}: {result.summary()}")
    return 0
