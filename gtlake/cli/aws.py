"""The commands that deploy to AWS: athena (tables and views), quicksight (the dashboards), deploy (the stack)."""
from __future__ import annotations

import argparse
import os
import sys

from gtlake.cli.common import Parser, positive
from gtlake.records import ON_FAILURE


def add_commands(sub: argparse._SubParsersAction, commands: dict) -> None:
    """Add this group's subcommands to `sub` (and to `commands`, name -> parser)."""
    at = sub.add_parser("athena", help="deploy the lake's tables and views to Amazon Athena",
                        description="Create the database, the lake's tables (partitions registered) and every view "
                                    "in Athena through awswrangler, one statement at a time; idempotent.")
    at_sub = at.add_subparsers(dest="athena_command", metavar="ACTION", parser_class=Parser)
    at_sub.required = True
    dep = at_sub.add_parser("deploy", help="create or update the database, tables and views")
    dep.add_argument("--database", required=True, help="Glue/Athena database (lower case, digits, underscores)")
    dep.add_argument("--workgroup", required=True, help="Athena workgroup (its result location and encryption apply)")
    dep.add_argument("--lake", required=True, help="s3://bucket/prefix of the lake")
    dep.add_argument("--results", help="s3://bucket/prefix for query results, when the workgroup does not enforce "
                                       "its own (gtlake never creates a results bucket)")
    dep.add_argument("--dry-run", action="store_true", help="print the statements, call nothing")
    dep.set_defaults(handler=_athena)
    commands["athena"] = dep

    qs = sub.add_parser("quicksight", help="deploy the dashboards to Amazon QuickSight (data source, datasets, "
                                           "analysis, dashboard)",
                        description="Create or update the Athena data source, one dataset per view, and the analysis "
                                    "and dashboard with the Label quality, Worker performance, Audits, Refused records and Data "
                                    "quality sheets and the job, date, worker and class filters.")
    qs_sub = qs.add_subparsers(dest="quicksight_command", metavar="ACTION", parser_class=Parser)
    qs_sub.required = True
    qd = qs_sub.add_parser("deploy", help="create or update every QuickSight resource")
    qd.add_argument("--account-id", required=True, help="AWS account id (12 digits)")
    qd.add_argument("--region", required=True, help="QuickSight region, e.g. eu-west-1")
    qd.add_argument("--database", default="gtlake", help="Athena database of the views (default gtlake)")
    qd.add_argument("--workgroup", default="primary", help="Athena workgroup QuickSight queries through (default primary)")
    qd.add_argument("--principal-arn", help="QuickSight user or group ARN given read access to everything deployed")
    qd.add_argument("--dry-run", action="store_true", help="print the requests, call nothing")
    qd.set_defaults(handler=_quicksight)
    commands["quicksight"] = qd

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
    dp.add_argument("--workers", type=positive, default=2, help="Glue workers per job (default 2)")
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
    dp.set_defaults(handler=_deploy)
    commands["deploy"] = dp


def _athena(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from gtlake import athena
    from gtlake.catalog import aws_errors

    try:
        statements = athena.plan(args.database, args.lake)
        athena.check_workgroup(args.workgroup)
    except ValueError as e:
        parser.error(str(e))
    if args.dry_run:
        for st in statements:
            print(f"-- {st.what} (workgroup {args.workgroup})\n{st.sql.rstrip()};\n")
        print(f"athena deploy: {len(statements)} statements; nothing was sent (--dry-run)")
        return 0
    print(f"athena deploy: {len(statements)} statements to database {args.database} via workgroup {args.workgroup}")
    try:
        athena.run_statements(statements, args.database, args.workgroup, log=lambda m: print(m, flush=True),
                              s3_output=args.results)
    except (athena.AthenaError, ValueError) as e:
        print(f"gtlake athena deploy: {e}", file=sys.stderr)
        return 1
    except aws_errors() as e:
        print(f"gtlake athena deploy: AWS refused the call: {e}", file=sys.stderr)
        return 1
    print(f"athena deploy: database {args.database} has {len(athena.TABLES)} tables and {len(athena.views())} views")
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


def _deploy(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from gtlake import __version__, deploy
    from gtlake.athena import AthenaError
    from gtlake.catalog import aws_errors

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
    except aws_errors() as e:
        print(f"gtlake deploy: AWS refused the call: {e}", file=sys.stderr)
        return 1
    print(f"deploy: done. Lake {outputs.get('LakeUri', args.lake)}, database {args.database}, "
          f"workgroup {args.workgroup}; the workflow runs on {args.schedule}")
    return 0
