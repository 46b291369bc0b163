"""The audit-request command: a directed Ground Truth audit job for a job's flagged sequences."""
from __future__ import annotations

import argparse
import os
import sys

from gtlake import storage
from gtlake.cli.common import writer_lake

PLACEHOLDER_ACCOUNT = "111122223333"


def add_commands(sub: argparse._SubParsersAction, commands: dict) -> None:
    """Add this group's subcommands to `sub` (and to `commands`, name -> parser)."""
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
    a.set_defaults(handler=_audit_request_command)
    commands["audit-request"] = a


def _audit_request_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    return _audit_request(args, parser, writer_lake(args, parser))


def _audit_request(args: argparse.Namespace, parser: argparse.ArgumentParser, lake) -> int:  # noqa: ANN001
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
    found = ar.flagged(lake, args.job)
    if found is None:
        print(f"audit-request: nothing flagged in {args.job}; no audit job needed")
        return 0
    queue, sequences = found
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
    ar.write(docs, args.out)
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
