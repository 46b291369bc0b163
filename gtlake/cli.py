"""The `gtlake` command: sample, ingest, workers, embed, quality, audit, audit-request, run, and the rest.

A wrong argument or a missing input prints one line and the usage, and exits 2. A run that
cannot proceed (lake locked, counts that do not balance) prints one line and exits 1.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Sequence

from gtlake import __version__, storage
from gtlake.records import ON_FAILURE


class _Parser(argparse.ArgumentParser):
    """argparse, with the error line after the usage and exit code 2."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse API
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _float_in(ok, span: str, what: str = "a number"):  # noqa: ANN001, ANN202
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


_unit = _float_in(lambda v: 0.0 < v <= 1.0, "a number in (0, 1]")
_pixels = _float_in(lambda v: 0.0 <= v < 100.0, "pixels in [0, 100)", "a number of pixels")


def _activity_args(c: argparse.ArgumentParser, required: bool) -> None:
    g = c.add_mutually_exclusive_group(required=required)
    g.add_argument("--activity", help="WorkerActivity log export: a folder or s3:// prefix of gzip files of "
                                      "'<timestamp> <json>' lines")
    g.add_argument("--log-group", help="read CloudWatch Logs directly, e.g. /aws/sagemaker/groundtruth/WorkerActivity "
                                       "(region and endpoint from the AWS environment)")
    c.add_argument("--lookback-minutes", type=_positive, default=60,
                   help="with --log-group: re-read this much before the stored watermark, for late deliveries "
                        "(default 60; events read twice are stored once)")


def _catalog_arg(c: argparse.ArgumentParser) -> None:
    c.add_argument("--catalog-database", metavar="NAME",
                   help="S3 lakes: after each commit, create or update the lake's tables and partitions in this "
                        "Glue Data Catalog database (created if missing)")


def _on_failure_arg(c: argparse.ArgumentParser, gate: bool = True) -> None:
    c.add_argument("--on-failure", choices=ON_FAILURE, default="fail",
                   help=("data-quality gate on the tables read and the output about to be committed: fail "
                         "(default): commit nothing and exit 1 when a rule is broken; warn: report, commit, exit 0")
                   if gate else "fail (default): exit 1 when a rule is broken; warn: report and exit 0")


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


VALIDATED_TABLES = ("jobs", "sequences", "frames", "boxes", "worker_tasks", "box_metrics", "review_queue",
                    "embedding_metrics", "audit_changes")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from gtlake.sample.scene import REGIME_NAMES

    p = _Parser(prog="gtlake", description="Label-quality data lake for SageMaker Ground Truth.")
    p.commands = {}
    p.add_argument("--version", action="version", version=f"gtlake {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    s = sub.add_parser("sample", help="write a realistic Ground Truth output tree with planted mistakes",
                       description="Write sample Ground Truth output (video tracking jobs, one detection job, "
                                   "an audit job, worker responses, a worker-activity log export) under OUT, and "
                                   "the planted mistakes to OUT/planted.jsonl.")
    s.add_argument("--out", required=True, help="folder to write (created if missing)")
    s.add_argument("--sequences", type=_positive, default=12, help="videos labeled by the tracking jobs (default 12)")
    s.add_argument("--frames", type=_positive, default=120, help="frames per video (default 120)")
    s.add_argument("--objects", type=_positive, default=10, help="objects simulated per video (default 10)")
    s.add_argument("--workers", type=_positive, default=6, help="labelers in the work team (default 6)")
    s.add_argument("--seed", type=_seed, default=7, help="random seed; same seed, same tree (default 7)")
    s.add_argument("--frames-images", action="store_true",
                   help="also render every frame as a JPEG beside its sequence file (OUT/input/videos/...), "
                        "for `gtlake embed`; about 25 ms a frame")
    s.add_argument("--regime", choices=("mixed", *REGIME_NAMES), default="mixed",
                   help="kind of footage: street, sports (small fast objects), aerial (small slow ones), pan_zoom "
                        "(a moving camera), low_fps (6 fps), keyframes (sparse annotator keyframes), occlusion "
                        "(objects partly hidden); mixed (default): each video one of them in turn")
    p.commands["sample"] = s

    q = sub.add_parser("quality", help="score every track, write box_metrics, track_summary and review_queue",
                       description="Compute per-box metrics and flags over every track of the lake, compare tracks "
                                   "with their class peers, and write a ranked review queue. Only jobs whose boxes "
                                   "changed since the last run are scored again.")
    q.add_argument("--lake", required=True, help="lake folder written by `gtlake ingest`")
    q.add_argument("--config", help="JSON file of threshold overrides (see README: quality settings)")
    _on_failure_arg(q)
    _catalog_arg(q)
    p.commands["quality"] = q

    e = sub.add_parser("embed", help="embed every box crop (ResNet-18), flag appearance changes into the review queue",
                       description="Crop every tracked box from its frame image, embed it with a ResNet-18 (weights "
                                   "from --weights: never downloaded, never random), write embedding_metrics (distance "
                                   "to the track's previous crop, robust outlier flags), then re-rank the review "
                                   "queue with the appearance_change reason. Only jobs whose boxes, weights or "
                                   "settings changed are embedded again.")
    e.add_argument("--lake", required=True, help="lake folder written by `gtlake ingest`")
    e.add_argument("--weights", help="ResNet-18 state dict in torchvision format (e.g. resnet18-f37072fd.pth): "
                                     "file or s3:// URI; required")
    e.add_argument("--frames-root", help="read s3://<bucket>/<key> sequence files and frame images as "
                                         "FRAMES_ROOT/<key> (a local mirror of the input bucket, or another prefix)")
    e.add_argument("--config", help="JSON file of appearance-check overrides (see README: appearance check)")
    e.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the model runs (default auto: cuda when available)")
    _on_failure_arg(e)
    _catalog_arg(e)
    p.commands["embed"] = e

    w = sub.add_parser("workers", help="ingest the WorkerActivity log into worker_events and worker_tasks",
                       description="Read what is new in the WorkerActivity log (an export, or CloudWatch Logs from a "
                                   "stored watermark) into worker_events, and match events with worker responses "
                                   "into worker_tasks (wall and active time, outcome).")
    w.add_argument("--lake", required=True, help="lake folder (worker_responses come from `gtlake ingest`)")
    _activity_args(w, required=True)
    _on_failure_arg(w)
    _catalog_arg(w)
    p.commands["workers"] = w

    au = sub.add_parser("audit", help="compare audit jobs with the jobs they audited: audit_changes, worker_quality",
                        description="Pair every adjustment (audit) job's labels with the audited job's, classify each "
                                    "box (unchanged, moved, resized, relabeled, reidentified, added, deleted), count "
                                    "CLEAR MOT and IDF1 per worker, and write audit_changes and worker_quality.")
    au.add_argument("--lake", required=True, help="lake folder written by `gtlake ingest` (and `gtlake quality`)")
    au.add_argument("--match-iou", type=_unit, default=0.5, help="overlap for two boxes to be the same box (default 0.5)")
    au.add_argument("--tolerance-px", type=_pixels, default=0.5,
                    help="edge moves up to this many pixels count as unchanged (default 0.5)")
    _on_failure_arg(au)
    _catalog_arg(au)
    p.commands["audit"] = au

    va = sub.add_parser("validate", help="check the lake's tables against their data-quality rules "
                                         "(Great Expectations) and record the findings",
                        description="Run the Great Expectations suite of each validated table (schema, keys, ranges, "
                                    "allowed values, references) on the committed lake, print every broken rule "
                                    "(table, column, rule, examples) and commit the findings to `validations`.")
    va.add_argument("--lake", required=True, help="lake folder or s3:// prefix")
    va.add_argument("--table", action="append", choices=VALIDATED_TABLES, dest="tables",
                    help="a table to check (repeatable; default: all of them)")
    _on_failure_arg(va, gate=False)
    p.commands["validate"] = va

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
    sq.add_argument("--limit", type=_positive, default=None, help="at most this many rows (table format: 50)")
    p.commands["sql"] = sq

    db = sub.add_parser("dashboard", help="write the Label quality and Worker performance sheets as one HTML page",
                        description="Write one self-contained HTML page (plotly inlined, no network needed to view "
                                    "it) with the Label quality and Worker performance sheets, from the lake's SQL views.")
    db.add_argument("--lake", required=True, help="lake folder")
    db.add_argument("--out", required=True, help="HTML file to write")
    p.commands["dashboard"] = db

    at = sub.add_parser("athena", help="deploy the lake's tables and views to Amazon Athena",
                        description="Create the database, the lake's tables (partitions registered) and every view "
                                    "in Athena with boto3, one statement at a time; idempotent.")
    at_sub = at.add_subparsers(dest="athena_command", metavar="ACTION", parser_class=_Parser)
    at_sub.required = True
    dep = at_sub.add_parser("deploy", help="create or update the database, tables and views")
    dep.add_argument("--database", required=True, help="Glue/Athena database (lower case, digits, underscores)")
    dep.add_argument("--workgroup", required=True, help="Athena workgroup (its result location and encryption apply)")
    dep.add_argument("--lake", required=True, help="s3://bucket/prefix of the lake")
    dep.add_argument("--dry-run", action="store_true", help="print the statements, call nothing")
    p.commands["athena"] = dep

    qs = sub.add_parser("quicksight", help="deploy the dashboards to Amazon QuickSight (data source, datasets, "
                                           "analysis, dashboard)",
                        description="Create or update the Athena data source, one dataset per view, and the analysis "
                                    "and dashboard with the Label quality and Worker performance sheets.")
    qs_sub = qs.add_subparsers(dest="quicksight_command", metavar="ACTION", parser_class=_Parser)
    qs_sub.required = True
    qd = qs_sub.add_parser("deploy", help="create or update every QuickSight resource")
    qd.add_argument("--account-id", required=True, help="AWS account id (12 digits)")
    qd.add_argument("--region", required=True, help="QuickSight region, e.g. eu-west-1")
    qd.add_argument("--database", default="gtlake", help="Athena database of the views (default gtlake)")
    qd.add_argument("--workgroup", default="primary", help="Athena workgroup QuickSight queries through (default primary)")
    qd.add_argument("--principal-arn", help="QuickSight user or group ARN given read access to everything deployed")
    qd.add_argument("--dry-run", action="store_true", help="print the requests, call nothing")
    p.commands["quicksight"] = qd

    dp = sub.add_parser("deploy", help="deploy gtlake to AWS: the CloudFormation stack, the job artifacts, Athena",
                        description="Build the wheel, create or update the CloudFormation stack of glue/gtlake.yaml "
                                    "(lake bucket, Glue database, four Glue 5.0 jobs in a scheduled workflow, Athena "
                                    "workgroup, least-privilege role), upload the wheel and entry scripts, then "
                                    "create the Athena tables and views. Waits for the stack.")
    dp.add_argument("--stack", required=True, help="CloudFormation stack name (also prefixes the Glue job names)")
    dp.add_argument("--region", required=True, help="AWS region, e.g. eu-west-1")
    dp.add_argument("--gt-output", required=True, help="s3://bucket/prefix of the Ground Truth output (read only)")
    dp.add_argument("--lake", required=True, help="s3://bucket/prefix of the lake; the stack creates the bucket")
    dp.add_argument("--database", default="gtlake", help="Glue Data Catalog / Athena database (default gtlake)")
    dp.add_argument("--workgroup", default="gtlake", help="Athena workgroup the stack creates (default gtlake)")
    dp.add_argument("--schedule", default="cron(0 * * * ? *)", help="Glue cron of the workflow (default hourly)")
    dp.add_argument("--log-group", default="/aws/sagemaker/groundtruth/WorkerActivity",
                    help="CloudWatch Logs group of the worker activity (default Ground Truth's)")
    dp.add_argument("--workers", type=_positive, default=2, help="Glue workers per job (default 2)")
    dp.add_argument("--worker-type", choices=("G.1X", "G.2X", "G.4X", "G.8X"), default="G.1X",
                    help="Glue worker type (default G.1X)")
    dp.add_argument("--on-failure", choices=ON_FAILURE, default="fail",
                    help="the jobs' data-quality gate: fail (default): a broken rule stops the run, nothing "
                         "committed; warn: record it and commit")
    dp.add_argument("--kms-key-arn", default="", help="a customer-managed KMS key for the bucket, the Glue jobs' data, "
                                                      "logs and bookmarks, and Athena results (default: SSE-S3, and "
                                                      "a key of the stack's own for the Glue logs and bookmarks)")
    dp.add_argument("--wheel", help="a built gtlake-*.whl to ship (default: build one from this source tree)")
    dp.add_argument("--dry-run", action="store_true", help="print what would be done; build and call nothing")
    p.commands["deploy"] = dp

    a = sub.add_parser("audit-request", help="write (or submit) a directed Ground Truth audit job for a job's "
                                             "flagged sequences",
                       description="Write the input manifest (chained from the original labels), a label category "
                                   "config whose instructions list the frames to check per object, and the "
                                   "CreateLabelingJob request of an AdjustmentVideoObjectTracking job, for the "
                                   "sequences of JOB in the review queue. Nothing leaves the machine without --submit.")
    a.add_argument("--lake", required=True, help="lake folder with a review_queue (run `gtlake quality` first)")
    a.add_argument("--job", required=True, help="labeling job to audit")
    a.add_argument("--out", required=True, help="folder for input.manifest, label-categories.json, "
                                                "create-labeling-job.json")
    a.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
                   help="AWS region of the audit job (default: $AWS_REGION or us-east-1)")
    a.add_argument("--role-arn", help="IAM role Ground Truth assumes (required with --submit)")
    a.add_argument("--workteam-arn", help="private work team of auditors (required with --submit)")
    a.add_argument("--s3-prefix", help="s3:// prefix for the manifest and label config (required with --submit)")
    a.add_argument("--output-path", help="S3OutputPath of the audit job (default: <s3-prefix>/output)")
    a.add_argument("--kms-key-id", help="KMS key for the job's output and the uploaded files")
    a.add_argument("--submit", action="store_true", help="upload the files and create the labeling job")
    p.commands["audit-request"] = a

    for name, help_ in (("ingest", "flatten Ground Truth output into the Parquet lake"),
                        ("run", "run every pipeline step in order: ingest, workers, embed, quality, audit")):
        c = sub.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + ". Reads every job "
                           "folder under --input (a local folder mirroring S3, or s3://bucket/prefix); only new or "
                           "changed jobs are processed.")
        c.add_argument("--input", required=True, help="Ground Truth output root: folder or s3:// prefix")
        c.add_argument("--lake", required=True, help="lake folder (created if missing)")
        if name == "run":
            c.add_argument("--config", help="JSON file of quality threshold overrides")
            _activity_args(c, required=False)
            c.add_argument("--weights", help="ResNet-18 state dict for the appearance check (gtlake embed); "
                                             "without it that step is skipped")
            c.add_argument("--frames-root", help="where the frame images are (gtlake embed --frames-root)")
        _on_failure_arg(c)
        _catalog_arg(c)
        p.commands[name] = c
    return p


def _validate(args: argparse.Namespace) -> int:
    from gtlake.jobs.validate import ValidateConfig, run
    from gtlake.spark import get_spark

    spark = get_spark("gtlake-validate")
    config = ValidateConfig(lake=args.lake, tables=tuple(args.tables or VALIDATED_TABLES), on_failure=args.on_failure)
    result = run(spark, config, log=lambda m: print(m, flush=True))
    broken = result.failed
    print(f"validate {result.run_id}: {len(result.tables)} tables, {len(result.findings)} rules, {len(broken)} broken, "
          f"{result.seconds:.1f}s; findings in {_where(args.lake, 'validations')}")
    out = sys.stderr if result.status == "failed" else sys.stdout
    for f in broken:
        if f.rule == "files as committed":  # one line per damaged partition or file
            print(f"  {f.table}: {f.rule}: FAILED - {f.unexpected} findings", file=out)
            for part in f.detail.split("; "):
                print(f"    {part}", file=out)
        else:
            print(f"  {f.message()}", file=out)
    return 1 if result.status == "failed" else 0


def _open_lake(parser: argparse.ArgumentParser, root: str):  # noqa: ANN202 - gtlake.lake.Lake
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


def _catalog(args: argparse.Namespace) -> int:
    """With --catalog-database: make the Glue Data Catalog match the lake (tables and partitions)."""
    database = getattr(args, "catalog_database", None)
    if not database:
        return 0
    from botocore.exceptions import BotoCoreError, ClientError

    from gtlake import catalog
    from gtlake.lake import Lake

    try:
        catalog.ensure_database(database)
        result = catalog.sync(Lake(args.lake), database)
    except (BotoCoreError, ClientError, RuntimeError) as e:
        print(f"gtlake {args.command}: the lake is committed, but the Glue Data Catalog database {database} "
              f"could not be updated: {e}", file=sys.stderr)
        return 1
    print(f"catalog {database}: {result.summary()}")
    return 0


def _checks(result) -> None:  # noqa: ANN001 - a job's result
    """The closing line of a job's data-quality gate, when it checked anything."""
    if result.checks:
        print(f"  data-quality checks: {result.checks} ({result.check_seconds:.1f}s)")


def _where(lake: str, table: str | None = None) -> str:
    """A lake (or one of its tables) as a person reads it: an absolute folder or an s3:// URI."""
    base = lake.rstrip("/") if storage.is_s3(lake) else os.path.abspath(lake)
    return base if table is None else f"{base}/{table}"


def _check_input(parser: argparse.ArgumentParser, path: str, flag: str = "--input") -> None:
    try:
        ok = storage.exists(path)
    except Exception as e:  # noqa: BLE001 - any client error means we cannot read it
        parser.error(f"{flag} {path}: cannot list it ({type(e).__name__}: {e})")
    if not ok:
        parser.error(f"{flag} {path}: no such folder" if not storage.is_s3(path) else
                     f"{flag} {path}: no objects under this prefix")


def _ingest(args: argparse.Namespace) -> int:
    from gtlake.jobs.ingest import IngestConfig, run
    from gtlake.spark import get_spark

    spark = get_spark("gtlake-ingest")
    result = run(spark, IngestConfig(input=args.input, lake=args.lake, on_failure=args.on_failure),
                 log=lambda m: print(m, flush=True))
    n_in, n_out, n_rej = result.counts.totals()
    if result.status == "no_new_input":
        print(f"ingest {result.run_id}: nothing new under {args.input}; lake unchanged "
              f"({len(result.jobs_unchanged)} jobs already ingested) in {result.seconds:.1f}s")
    else:
        print(f"ingest {result.run_id}: {len(result.jobs_processed)} jobs, records in {n_in} = out {n_out} "
              f"+ rejected {n_rej}, {result.seconds:.1f}s")
        for kind, c in result.counts.as_dict().items():
            print(f"  {kind:<22} in {c['in']:>10}  out {c['out']:>10}  rejected {c['rejected']:>8}")
        if n_rej:
            print(f"  refused records and their reasons: {_where(args.lake, 'rejected')}")
        _checks(result)
    print(f"lake: {_where(args.lake)}")
    return _catalog(args)


def _json_config(parser: argparse.ArgumentParser, path: str | None, cls):  # noqa: ANN001, ANN202
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


def _quality_config(parser: argparse.ArgumentParser, path: str | None):  # noqa: ANN202 - QualityConfig
    from gtlake.udfs.config import QualityConfig

    return _json_config(parser, path, QualityConfig)


def _quality(args: argparse.Namespace, cfg) -> int:
    from gtlake.jobs.quality import QualityJobConfig, run
    from gtlake.spark import get_spark

    spark = get_spark("gtlake-quality")
    result = run(spark, QualityJobConfig(lake=args.lake, quality=cfg, on_failure=args.on_failure),
                 log=lambda m: print(m, flush=True))
    if result.status == "no_new_input":
        print(f"quality {result.run_id}: every ingested job is already scored; lake unchanged")
    else:
        n_in, n_out, _ = result.counts.totals()
        print(f"quality {result.run_id}: {len(result.jobs_processed)} jobs, {n_in} tracked boxes scored, "
              f"{result.queued} (frame, object) entries in the review queue, {result.seconds:.1f}s")
        _checks(result)
    print(f"review queue: {_where(args.lake, 'review_queue')}")
    return _catalog(args)


def _appearance_config(parser: argparse.ArgumentParser, path: str | None):  # noqa: ANN202 - AppearanceConfig
    from gtlake.udfs.appearance import AppearanceConfig

    return _json_config(parser, path, AppearanceConfig)


def _check_embed_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--weights given and readable, --frames-root there, torch importable: else one line and usage."""
    if not args.weights:
        parser.error("--weights is required: the appearance check needs a ResNet-18 state dict in torchvision "
                     "format (README: appearance check); nothing done (random weights are never used)")
    if not storage.is_s3(args.weights) and not os.path.isfile(args.weights):
        parser.error(f"--weights {args.weights}: no such file")
    if args.frames_root:
        _check_input(parser, args.frames_root, "--frames-root")
    from importlib.util import find_spec

    missing = [name for name in ("torch", "PIL") if find_spec(name) is None]
    if missing:
        parser.error(f"the appearance check needs torch and Pillow ({', '.join(missing)} missing): "
                     "pip install 'gtlake[embed]' (torch==2.13.0)")


def _embed(args: argparse.Namespace, parser: argparse.ArgumentParser, rerank: bool) -> int:
    from gtlake.jobs.embed import EmbedJobConfig, run
    from gtlake.spark import get_spark
    from gtlake.udfs.embeddings import WeightsError

    cfg = _appearance_config(parser, args.config if args.command == "embed" else None)  # run's --config is quality's
    spark = get_spark("gtlake-embed")
    try:
        result = run(spark, EmbedJobConfig(lake=args.lake, weights=args.weights, frames_root=args.frames_root,
                                           appearance=cfg, device=getattr(args, "device", "auto"),
                                           on_failure=args.on_failure), log=lambda m: print(m, flush=True))
    except WeightsError as e:
        print(f"gtlake {args.command}: {e}", file=sys.stderr)
        return 2
    if result.status == "no_new_input":
        print(f"embed {result.run_id}: every ingested job is already embedded with model {result.model}; "
              "lake unchanged")
    else:
        n_in, _, _ = result.counts.totals()
        crops = ", ".join(f"{k} {v}" for k, v in result.crops.items()) or "none"
        print(f"embed {result.run_id}: {len(result.jobs_processed)} jobs, {n_in} tracked boxes (crops: {crops}), "
              f"{result.flagged} appearance_change flags, model {result.model}, {result.seconds:.1f}s")
        if any(k != "ok" for k in result.crops):
            print(f"  boxes without a crop keep their row with its crop_status: {_where(args.lake, 'embedding_metrics')}")
        _checks(result)
    print(f"embedding metrics: {_where(args.lake, 'embedding_metrics')}")
    if not rerank:
        return 0
    from gtlake.lake import Lake
    from gtlake.udfs.config import QualityConfig

    print("embed: re-ranking the review queue with the appearance flags (quality job)", flush=True)
    return _quality(args, QualityConfig.recorded(Lake(args.lake).ledger("quality").values()))


def _workers(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from gtlake.jobs.workers import WorkersConfig, run
    from gtlake.spark import get_spark

    if args.activity is not None:
        _check_input(parser, args.activity, "--activity")
    spark = get_spark("gtlake-workers")
    try:
        result = run(spark, WorkersConfig(lake=args.lake, activity=args.activity, log_group=args.log_group,
                                          lookback_minutes=args.lookback_minutes, on_failure=args.on_failure),
                     log=lambda m: print(m, flush=True))
    except (BotoCoreError, ClientError) as e:
        print(f"gtlake workers: cannot read log group {args.log_group}: {e}", file=sys.stderr)
        return 1
    c = result.counts.as_dict().get("worker_event", {"in": 0, "out": 0, "rejected": 0})
    print(f"workers {result.run_id}: events in {c['in']} = out {c['out']} + rejected {c['rejected']} "
          f"({result.new_events} new), {result.tasks} tasks in {len(result.jobs_processed)} jobs, {result.seconds:.1f}s")
    if c["rejected"]:
        print(f"  refused events and their reasons: {_where(args.lake, 'rejected')}")
    _checks(result)
    return _catalog(args)


def _audit(args: argparse.Namespace) -> int:
    from gtlake.jobs.audit import AuditJobConfig, run
    from gtlake.spark import get_spark
    from gtlake.udfs.matching import AuditConfig

    spark = get_spark("gtlake-audit")
    cfg = AuditConfig(match_iou=getattr(args, "match_iou", 0.5), tolerance_px=getattr(args, "tolerance_px", 0.5))
    result = run(spark, AuditJobConfig(lake=args.lake, audit=cfg, on_failure=args.on_failure),
                 log=lambda m: print(m, flush=True))
    if result.status == "no_new_input":
        print(f"audit {result.run_id}: nothing changed since the last audit run; lake unchanged")
    else:
        seq = result.counts.as_dict().get("audit_sequence", {"in": 0, "out": 0, "rejected": 0})
        print(f"audit {result.run_id}: {len(result.audit_jobs)} audit jobs, {seq['out']} sequences compared "
              f"({seq['rejected']} without their audited labels), {result.changes} box rows; worker_quality of "
              f"{len(result.quality_jobs)} jobs, {result.seconds:.1f}s")
        _checks(result)
    print(f"worker quality: {_where(args.lake, 'worker_quality')}")
    return _catalog(args)


def _reader_lake(parser: argparse.ArgumentParser, root: str, command: str):  # noqa: ANN202 - gtlake.lake.Lake
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


def _problems(command: str, problems: list[str]) -> None:
    for p in problems:
        print(f"gtlake {command}: {p}", file=sys.stderr)


def _sql(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import duckdb

    from gtlake.lakesql import check_read_only, connect, views

    if args.view is not None and args.view not in views():
        parser.error(f"--view {args.view}: no such view; one of {', '.join(views())}")
    if args.file is not None:
        try:
            with open(args.file, encoding="utf-8") as f:
                query = f.read()
        except (OSError, UnicodeDecodeError) as e:
            parser.error(f"--file {args.file}: {getattr(e, 'strerror', None) or e}")
    else:
        query = args.query if args.query is not None else f"SELECT * FROM {args.view}"
    _reader_lake(parser, args.lake, "sql")
    problems: list[str] = []
    con = connect(args.lake, problems)
    _problems("sql", problems)
    limit = args.limit or (50 if args.format == "table" else None)
    try:  # parsed, checked read-only, run and fetched: an error anywhere is one line
        check_read_only(con, query)
        rel = con.sql(query)
        if rel is None:
            return 0
        df = (rel.limit(limit + 1) if limit else rel).df()
    except (duckdb.Error, ValueError) as e:
        print(f"gtlake sql: {(str(e).strip().splitlines() or [type(e).__name__])[0]}", file=sys.stderr)
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
            print(df.to_string(index=False) if len(df) else "(no rows)")
        if more:
            print(f"(first {len(df)} rows; --limit N or --format csv for more)")
    return 0


def _out_file(parser: argparse.ArgumentParser, path: str) -> str:
    """An output file's absolute path, checked before any work: its folder exists, it is not a folder."""
    full = os.path.abspath(path)
    if os.path.isdir(full):
        parser.error(f"--out {path}: is a folder; give a file name")
    if not os.path.isdir(os.path.dirname(full)):
        parser.error(f"--out {path}: folder {os.path.dirname(full)} does not exist")
    return full


def _dashboard(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from gtlake.dashboard import build

    out = _out_file(parser, args.out)
    _reader_lake(parser, args.lake, "dashboard")
    problems: list[str] = []
    text = build(args.lake, problems=problems)
    _problems("dashboard", problems)
    tmp = f"{out}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, out)
    except OSError as e:
        print(f"gtlake dashboard: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return 1
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"dashboard: {out} ({len(text) / 1e6:.1f} MB, opens offline)")
    return 0


def _quicksight(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import json

    from botocore.exceptions import BotoCoreError, ClientError

    from gtlake import quicksight

    try:
        reqs = quicksight.requests(args.account_id, args.region, args.database, args.workgroup, args.principal_arn)
    except ValueError as e:
        parser.error(str(e))
    if args.dry_run:
        for op, params in reqs:
            print(f"-- {op}\n{json.dumps(params, indent=1)}\n")
        print(f"quicksight deploy: {len(reqs)} resources; nothing was sent (--dry-run)")
        return 0
    import boto3

    client = boto3.client("quicksight", region_name=args.region)
    print(f"quicksight deploy: {len(reqs)} resources to account {args.account_id} in {args.region}")
    try:
        quicksight.deploy(client, reqs, log=lambda m: print(m, flush=True))
    except (BotoCoreError, ClientError) as e:
        print(f"gtlake quicksight deploy: AWS refused a call: {e}", file=sys.stderr)
        return 1
    print(f"quicksight deploy: dashboard {quicksight.PREFIX}-dashboard is up to date")
    return 0


def _athena(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from gtlake import athena

    try:
        statements = athena.plan(args.database, args.lake)
        reqs = athena.requests(args.database, args.workgroup, statements)
    except ValueError as e:
        parser.error(str(e))
    if args.dry_run:
        for st, req in zip(statements, reqs):
            print(f"-- {st.what} (workgroup {req['WorkGroup']})\n{st.sql.rstrip()};\n")
        print(f"athena deploy: {len(statements)} statements; nothing was sent (--dry-run)")
        return 0
    import boto3

    client = boto3.client("athena")
    print(f"athena deploy: {len(statements)} statements to database {args.database} via workgroup {args.workgroup}")
    try:
        athena.run_statements(client, reqs, statements, log=lambda m: print(m, flush=True))
    except athena.AthenaError as e:
        print(f"gtlake athena deploy: {e}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as e:
        print(f"gtlake athena deploy: AWS refused the call: {e}", file=sys.stderr)
        return 1
    print(f"athena deploy: database {args.database} has {len(athena.TABLES)} tables and {len(athena.views())} views")
    return 0


def _deploy(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from gtlake import __version__, deploy
    from gtlake.athena import AthenaError

    settings = deploy.Settings(stack=args.stack, region=args.region, gt_output=args.gt_output, lake=args.lake,
                               database=args.database, workgroup=args.workgroup, schedule=args.schedule,
                               log_group=args.log_group, workers=args.workers, worker_type=args.worker_type,
                               on_failure=args.on_failure, kms_key=args.kms_key_arn)
    try:
        settings.check()
    except ValueError as e:
        parser.error(str(e))
    if args.dry_run:
        wheel_name = os.path.basename(args.wheel) if args.wheel else f"gtlake-{__version__}-py3-none-any.whl"
        for line in deploy.plan(settings, wheel_name, f"gtlake-artifacts/{__version__}-<wheel sha256>"):
            print(line)
        print("deploy: nothing was built, uploaded or created (--dry-run)")
        return 0
    try:
        wheel = deploy.wheel_for(args.wheel)
        print(f"deploy: stack {args.stack} in {args.region} with {os.path.basename(wheel)}", flush=True)
        outputs = deploy.deploy(settings, wheel, log=lambda m: print(m, flush=True))
    except (deploy.DeployError, AthenaError) as e:
        print(f"gtlake deploy: {e}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as e:
        print(f"gtlake deploy: AWS refused the call: {e}", file=sys.stderr)
        return 1
    print(f"deploy: done. Lake {outputs.get('LakeUri', args.lake)}, database {args.database}, "
          f"workgroup {args.workgroup}; the workflow runs on {args.schedule}")
    return 0


PLACEHOLDER_ACCOUNT = "111122223333"


def _audit_request(args: argparse.Namespace, parser: argparse.ArgumentParser, lake) -> int:  # noqa: ANN001
    import json

    import pyarrow.dataset as ds
    from botocore.exceptions import BotoCoreError, ClientError

    from gtlake.jobs import audit_request as ar

    if args.submit:
        missing = [f"--{n}" for n in ("role-arn", "workteam-arn", "s3-prefix") if not getattr(args, n.replace("-", "_"))]
        if missing:
            parser.error(f"--submit needs {', '.join(missing)}")
    if args.s3_prefix and not storage.is_s3(args.s3_prefix):
        parser.error(f"--s3-prefix {args.s3_prefix}: expected s3://bucket/prefix")
    if args.region not in ar.GT_LAMBDA_ACCOUNTS:
        parser.error(f"--region {args.region}: Ground Truth video adjustment jobs are offered in "
                     f"{', '.join(sorted(ar.GT_LAMBDA_ACCOUNTS))}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        parser.error(f"--out {args.out}: is a file; give a folder")
    # The job is one of the lake's partitions, matched by listing, never joined into a path first.
    if f"job_name={args.job}" not in lake.listdir(lake.table_path("sequences")):
        parser.error(f"--job {args.job!r}: no such job in the lake at {args.lake}")
    queue_dir = lake.path("review_queue", f"job_name={args.job}")
    seq_dir = lake.path("sequences", f"job_name={args.job}")
    if not lake.isdir(queue_dir):
        print(f"audit-request: nothing flagged in {args.job}; no audit job needed")
        return 0
    queue = ds.dataset(queue_dir, format="parquet", filesystem=lake.fs).to_table().to_pandas()
    sequences = ds.dataset(seq_dir, format="parquet", filesystem=lake.fs).to_table().to_pandas().assign(job_name=args.job)
    prefix = args.s3_prefix or "s3://REPLACE-ME-bucket/gtlake-audits"
    settings = ar.AuditSettings(
        region=args.region,
        role_arn=args.role_arn or f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:role/REPLACE-ME-GroundTruthExecutionRole",
        workteam_arn=args.workteam_arn or
        f"arn:aws:sagemaker:{args.region}:{PLACEHOLDER_ACCOUNT}:workteam/private-crowd/REPLACE-ME-auditors",
        s3_prefix=prefix, output_path=args.output_path or prefix.rstrip("/") + "/output", kms_key_id=args.kms_key_id)
    try:
        docs = ar.build(args.job, queue, sequences, settings)
    except ValueError as e:
        print(f"gtlake audit-request: {e}", file=sys.stderr)
        return 1
    ar.validate(docs["request"])
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        parser.error(f"--out {args.out}: {e.strerror or e}")
    with open(os.path.join(args.out, "input.manifest"), "w", encoding="utf-8") as f:
        f.write(ar.manifest_text(docs["manifest"]))
    with open(os.path.join(args.out, "label-categories.json"), "w", encoding="utf-8") as f:
        json.dump(docs["label_categories"], f, indent=2, ensure_ascii=False)
    with open(os.path.join(args.out, "create-labeling-job.json"), "w", encoding="utf-8") as f:
        json.dump(docs["request"], f, indent=2)
    print(f"audit-request: {len(docs['manifest'])} sequences, {len(queue)} flagged (frame, object) entries of "
          f"{args.job} -> {os.path.abspath(args.out)}")
    print(f"  job {docs['request']['LabelingJobName']} in {args.region}, label attribute "
          f"{docs['request']['LabelAttributeName']}")
    if not args.submit:
        if not (args.role_arn and args.workteam_arn and args.s3_prefix):
            print("  placeholders (REPLACE-ME) stand for the role, work team and S3 prefix not given")
        print("  nothing was sent; add --submit to upload the files and create the job")
        return 0
    try:
        arn = ar.submit(docs, args.region)
    except (BotoCoreError, ClientError) as e:
        print(f"gtlake audit-request: AWS refused the job: {e}", file=sys.stderr)
        return 1
    print(f"  created {arn}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from gtlake.sample.generate import SampleParams, generate

    t0 = time.monotonic()
    params = SampleParams(sequences=args.sequences, frames=args.frames, objects=args.objects,
                          workers=args.workers, seed=args.seed, frames_images=args.frames_images, regime=args.regime)
    print(f"sample: writing {params} to {args.out}", flush=True)
    summary = generate(args.out, params)
    print(f"sample: {summary['jobs']} jobs, {summary['sequences']} sequences, {summary['boxes']} boxes, "
          f"{summary['planted']} planted mistakes in {time.monotonic() - t0:.1f}s")
    print(f"  Ground Truth output: {os.path.join(os.path.abspath(args.out), 'output')}")
    print(f"  planted mistakes:    {os.path.join(os.path.abspath(args.out), 'planted.jsonl')}")
    if summary["frame_images"]:
        print(f"  frame images:        {summary['frame_images']} under {os.path.join(os.path.abspath(args.out), 'input')}"
              " (--frames-root for gtlake embed)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gtlake` console command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command_parser = parser.commands[args.command]
    from gtlake.integrity import LakeDamaged
    from gtlake.lake import LakeBusy, LakeMidCommit
    from gtlake.records import UnbalancedRun, ValidationFailed

    try:
        if args.command == "sample":
            return _sample(args)
        if args.command == "athena":
            return _athena(args, command_parser)
        if args.command == "deploy":
            return _deploy(args, command_parser)
        if args.command == "quicksight":
            return _quicksight(args, command_parser)
        if args.command == "sql":
            return _sql(args, command_parser)
        if args.command == "dashboard":
            return _dashboard(args, command_parser)
        lake = _open_lake(command_parser, args.lake)
        if getattr(args, "catalog_database", None):
            if not lake.remote:
                command_parser.error("--catalog-database: the Glue Data Catalog describes S3 lakes; "
                                     "give --lake s3://bucket/prefix")
            try:
                from gtlake.lakesql import identifier

                identifier(args.catalog_database, "--catalog-database")
            except ValueError as e:
                command_parser.error(str(e))
        if args.command == "audit-request":
            return _audit_request(args, command_parser, lake)
        if args.command == "validate":
            return _validate(args)
        if args.command in ("workers", "audit"):
            if not lake.isdir(lake.table_path("sequences")):
                command_parser.error(f"--lake {args.lake}: no sequences table here; run `gtlake ingest` first")
            return _workers(args, command_parser) if args.command == "workers" else _audit(args)
        if args.command == "embed":
            _check_embed_args(command_parser, args)
            if not lake.isdir(lake.table_path("boxes")):
                command_parser.error(f"--lake {args.lake}: no boxes table here; run `gtlake ingest` first")
            return _embed(args, command_parser, rerank=True)
        if args.command == "quality":
            cfg = _quality_config(command_parser, args.config)
            if not lake.isdir(lake.table_path("boxes")):
                command_parser.error(f"--lake {args.lake}: no boxes table here; run `gtlake ingest` first")
            return _quality(args, cfg)
        _check_input(command_parser, args.input)
        if args.command == "run":
            cfg = _quality_config(command_parser, args.config)
            if args.activity is not None:
                _check_input(command_parser, args.activity, "--activity")
            if args.weights or args.frames_root:
                _check_embed_args(command_parser, args)
            steps = [lambda: _ingest(args)]
            if args.activity is not None or args.log_group is not None:
                steps.append(lambda: _workers(args, command_parser))
            if args.weights:
                steps.append(lambda: _embed(args, command_parser, rerank=False))
            else:
                print("run: appearance check (embed) skipped: no --weights (README: appearance check)")
            steps += [lambda: _quality(args, cfg), lambda: _audit(args)]
            for step in steps:
                code = step()
                if code:
                    return code
            return 0
        return _ingest(args)
    except (LakeBusy, LakeMidCommit, UnbalancedRun) as e:
        print(f"gtlake {args.command}: {e}", file=sys.stderr)
        return 1
    except LakeDamaged as e:
        print(f"gtlake {args.command}: {e}", file=sys.stderr)
        for d in e.damage[:20]:
            print(f"  {d.message()}", file=sys.stderr)
        if len(e.damage) > 20:
            print(f"  ... and {len(e.damage) - 20} more", file=sys.stderr)
        return 1
    except ValidationFailed as e:
        print(f"gtlake {args.command}: {e}", file=sys.stderr)
        for f in e.findings:
            print(f"  {f.message()}", file=sys.stderr)
        print(f"  findings in {_where(args.lake, 'validations')}; repair the lake (or rerun with --on-failure warn)",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"gtlake {args.command}: interrupted; the lake is as it was before this run", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, the traceback only on request
        if os.environ.get("GTLAKE_DEBUG"):
            raise
        first = (str(e).strip().splitlines() or [""])[0][:500]
        print(f"gtlake {args.command}: failed: {type(e).__name__}: {first} (GTLAKE_DEBUG=1 shows the traceback); "
              "a run that fails commits nothing but its failed runs row", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
