"""`gtlake deploy`: the CloudFormation stack of glue/gtlake.yaml, the job artifacts, and the Athena views.

    deploy(Settings(stack="gtlake", region="eu-west-1", gt_output="s3://gt/out", lake="s3://my-lake/lake"))

Order, so that a scheduled run never starts a job whose files are missing:

1. the wheel is built from this source tree (or given), its key named by version and content hash;
2. a stack that exists already gets the new artifacts first and is then updated to point at them; a new stack
   is created first (it creates the bucket) and the artifacts are uploaded right after;
3. the Athena database objects: tables (the jobs keep their partitions in step) and every view.

Everything is plain boto3 with the standard configuration chain (credentials, and `AWS_ENDPOINT_URL` for a
local endpoint); `plan` lists what would happen without calling anything.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from typing import Callable

from gtlake import __version__, athena, pipeline, storage
from gtlake.lakesql import identifier
from gtlake.packages import source_folders
from gtlake.records import ON_FAILURE

STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
KMS_KEY = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]{36}$")
PACKAGED = tuple(source_folders())  # the folders setup.py maps into the gtlake package (gtlake.packages)
SCRIPTS = tuple(f"{step}.py" for step in pipeline.glue_steps())  # the Glue workflow's jobs, in order
DEFAULT_SCHEDULE = "cron(0 * * * ? *)"
DEFAULT_LOG_GROUP = "/aws/sagemaker/groundtruth/WorkerActivity"


class DeployError(RuntimeError):
    """The stack or an upload failed; the message says where and why."""


@dataclass(frozen=True)
class Settings:
    """What `gtlake deploy` is told; validated by `check`."""

    stack: str
    region: str
    gt_output: str
    lake: str
    database: str = "gtlake"
    workgroup: str = "gtlake"
    schedule: str = DEFAULT_SCHEDULE
    log_group: str = DEFAULT_LOG_GROUP
    workers: int = 2
    worker_type: str = "G.1X"
    on_failure: str = "fail"  # the jobs' data-quality gate: fail (commit nothing) or warn
    kms_key: str = ""  # a customer-managed KMS key's ARN for everything the stack stores; "": SSE-S3 and a stack key

    def check(self) -> None:
        """ValueError naming the first bad setting."""
        if not STACK_NAME.match(self.stack):
            raise ValueError(f"--stack {self.stack!r}: letters, digits and '-', starting with a letter (at most 128)")
        if not REGION.match(self.region):
            raise ValueError(f"--region {self.region!r}: expected a region name such as eu-west-1")
        for flag, uri in (("--gt-output", self.gt_output), ("--lake", self.lake)):
            bucket, prefix = storage.split_s3(uri) if uri.startswith("s3://") else ("", "")
            if not athena.S3_LAKE.match(uri.rstrip("/")) or not prefix.strip("/"):
                raise ValueError(f"{flag} {uri!r}: expected s3://bucket/prefix (a prefix, not a whole bucket)")
        identifier(self.database, "--database")
        if not athena.WORKGROUP.match(self.workgroup):
            raise ValueError(f"--workgroup {self.workgroup!r}: 1-128 letters, digits, '.', '_' or '-'")
        if not 2 <= self.workers <= 100:
            raise ValueError(f"--workers {self.workers}: a Glue 5.0 Spark job runs 2 to 100 workers here")
        if self.on_failure not in ON_FAILURE:
            raise ValueError(f"--on-failure {self.on_failure!r}: one of {', '.join(ON_FAILURE)}")
        if self.kms_key and not KMS_KEY.match(self.kms_key):
            raise ValueError(f"--kms-key-arn {self.kms_key!r}: expected arn:aws:kms:<region>:<account>:key/<key id>")
        if not re.match(r"^(cron|rate)\(.+\)$", self.schedule):
            raise ValueError(f"--schedule {self.schedule!r}: expected a Glue cron(...) expression")

    @property
    def lake_bucket(self) -> str:
        """The bucket the stack creates for the lake."""
        return storage.split_s3(self.lake)[0]

    @property
    def lake_prefix(self) -> str:
        """The lake's prefix in its bucket."""
        return storage.split_s3(self.lake)[1].strip("/")


def template() -> str:
    """The CloudFormation template (glue/gtlake.yaml, installed with the package)."""
    return resources.files("gtlake.glue").joinpath("gtlake.yaml").read_text(encoding="utf-8")


def artifacts_prefix(wheel: str) -> str:
    """Where a wheel and its scripts go: by version and content, so a redeploy never overwrites what runs."""
    with open(wheel, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    return f"gtlake-artifacts/{__version__}-{digest}"


def parameters(settings: Settings, prefix: str, wheel_name: str) -> dict[str, str]:
    """The stack's parameters."""
    gt_bucket, gt_prefix = storage.split_s3(settings.gt_output)
    return {"LakeBucketName": settings.lake_bucket, "LakePrefix": settings.lake_prefix,
            "GroundTruthBucket": gt_bucket, "GroundTruthPrefix": gt_prefix.strip("/"),
            "WorkerActivityLogGroup": settings.log_group, "DatabaseName": settings.database,
            "Schedule": settings.schedule, "ArtifactsPrefix": prefix, "WheelName": wheel_name,
            "WorkerType": settings.worker_type, "NumberOfWorkers": str(settings.workers),
            "AthenaWorkGroupName": settings.workgroup, "OnValidationFailure": settings.on_failure,
            "KmsKeyArn": settings.kms_key}


def uploads(settings: Settings, wheel: str, prefix: str) -> list[tuple[str, str]]:
    """(local file, s3:// destination) of every artifact: the wheel and the four entry scripts."""
    glue = resources.files("gtlake.glue")
    base = f"s3://{settings.lake_bucket}/{prefix}"
    return [(wheel, f"{base}/{os.path.basename(wheel)}")] + \
           [(str(glue.joinpath(name)), f"{base}/glue/{name}") for name in SCRIPTS]


def source_root() -> str | None:
    """The source checkout this gtlake runs from (where setup.py is), or None for an installed wheel."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return root if os.path.isfile(os.path.join(root, "setup.py")) else None


def build_wheel(out_dir: str) -> str:
    """Build the gtlake wheel (pure Python, no dependencies bundled) from the source tree; its path."""
    root = source_root()
    if root is None:
        raise DeployError("not running from a source checkout; build the wheel yourself and pass --wheel")
    # Build from a clean copy of the packaged folders: a stale build/ in the checkout cannot leak into the wheel.
    src = tempfile.mkdtemp(prefix="gtlake-src-")
    shutil.copy2(os.path.join(root, "setup.py"), src)
    for folder in PACKAGED:
        shutil.copytree(os.path.join(root, folder), os.path.join(src, folder),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "-w", out_dir, src], capture_output=True, text=True)
    shutil.rmtree(src, ignore_errors=True)
    wheels = [f for f in os.listdir(out_dir) if f.startswith("gtlake-") and f.endswith(".whl")]
    if r.returncode != 0 or len(wheels) != 1:
        raise DeployError(f"building the wheel failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    return os.path.join(out_dir, wheels[0])


def plan(settings: Settings, wheel_name: str, prefix: str) -> list[str]:
    """What a deployment does, one line per step (the dry run prints this)."""
    params = parameters(settings, prefix, wheel_name)
    statements = athena.plan(settings.database, settings.lake)
    lines = [f"create or update stack {settings.stack} in {settings.region} from glue/gtlake.yaml "
             f"(CAPABILITY_IAM) with parameters:"]
    lines += [f"    {k} = {v}" for k, v in params.items()]
    base = f"s3://{settings.lake_bucket}/{prefix}"
    lines.append(f"upload {wheel_name} and glue/{{{','.join(SCRIPTS)}}} to {base}/ "
                 f"({'SSE-KMS with ' + settings.kms_key if settings.kms_key else 'SSE-S3'})")
    lines.append(f"run {len(statements)} Athena statements in workgroup {settings.workgroup}: database "
                 f"{settings.database}, {len(athena.TABLES)} tables, {len(athena.views())} views")
    return lines


def _stack_status(cfn, stack: str) -> str | None:  # noqa: ANN001
    from botocore.exceptions import ClientError

    try:
        return cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except ClientError as e:
        if "does not exist" in str(e):
            return None
        raise


def _failure(cfn, stack: str) -> str:  # noqa: ANN001
    events = cfn.describe_stack_events(StackName=stack).get("StackEvents", [])
    failed = [e for e in events if e.get("ResourceStatus", "").endswith("_FAILED")]
    if failed:
        e = failed[-1]  # the first failure (events come newest first)
        return f"{e.get('LogicalResourceId')}: {e.get('ResourceStatusReason', e.get('ResourceStatus'))}"
    return "see the stack's events"


def upload_encryption(kms_key: str) -> dict[str, str]:
    """The uploads' encryption arguments: the customer key when there is one, else SSE-S3."""
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {"ServerSideEncryption": "AES256"}


def _upload(s3, files: list[tuple[str, str]], log: Callable[[str], None], kms_key: str = "") -> None:  # noqa: ANN001
    for local, dest in files:
        bucket, key = storage.split_s3(dest)
        s3.upload_file(local, bucket, key, ExtraArgs=upload_encryption(kms_key))
    log(f"  uploaded {len(files)} artifacts to {os.path.dirname(files[0][1])}/")


def _apply_stack(cfn, settings: Settings, params: dict[str, str], exists: bool,  # noqa: ANN001
                 log: Callable[[str], None]) -> None:
    from botocore.exceptions import ClientError, WaiterError

    request = {"StackName": settings.stack, "TemplateBody": template(), "Capabilities": ["CAPABILITY_IAM"],
               "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
               "Tags": [{"Key": "application", "Value": "gtlake"}]}
    try:
        if exists:
            cfn.update_stack(**request)
            waiter = "stack_update_complete"
        else:
            cfn.create_stack(**request, OnFailure="ROLLBACK")
            waiter = "stack_create_complete"
    except ClientError as e:
        if exists and "No updates are to be performed" in str(e):
            log(f"  stack {settings.stack}: already up to date")
            return
        raise DeployError(f"stack {settings.stack}: {e}") from None
    log(f"  stack {settings.stack}: {'updating' if exists else 'creating'}, waiting")
    try:
        cfn.get_waiter(waiter).wait(StackName=settings.stack, WaiterConfig={"Delay": 5, "MaxAttempts": 360})
    except WaiterError:
        raise DeployError(f"stack {settings.stack} did not complete: {_failure(cfn, settings.stack)}") from None
    log(f"  stack {settings.stack}: {_stack_status(cfn, settings.stack)}")


def deploy(settings: Settings, wheel: str, session=None, log: Callable[[str], None] = print) -> dict:  # noqa: ANN001
    """Create or update the stack, upload the artifacts, create the Athena tables and views; the stack's outputs."""
    import boto3

    settings.check()
    session = session or boto3.session.Session(region_name=settings.region)
    cfn, s3 = session.client("cloudformation"), session.client("s3")
    prefix = artifacts_prefix(wheel)
    params = parameters(settings, prefix, os.path.basename(wheel))
    files = uploads(settings, wheel, prefix)
    status = _stack_status(cfn, settings.stack)
    if status is not None and status.endswith(("_IN_PROGRESS",)) and status != "REVIEW_IN_PROGRESS":
        raise DeployError(f"stack {settings.stack} is {status}; wait for it to finish and deploy again")
    if status == "ROLLBACK_COMPLETE":
        raise DeployError(f"stack {settings.stack} is ROLLBACK_COMPLETE (its creation failed): delete it first")
    exists = status is not None
    if exists:  # the bucket is there: files first, then point the jobs at them
        _upload(s3, files, log, settings.kms_key)
        _apply_stack(cfn, settings, params, exists, log)
    else:  # the stack creates the bucket: create, then upload before the first scheduled run
        _apply_stack(cfn, settings, params, exists, log)
        _upload(s3, files, log, settings.kms_key)
    statements = athena.plan(settings.database, settings.lake)
    athena.run_statements(statements, settings.database, settings.workgroup, session=session, log=log)
    outputs = cfn.describe_stacks(StackName=settings.stack)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}


def wheel_for(path: str | None, out_dir: str | None = None) -> str:
    """The wheel to ship: `path` if given (checked), else one built into `out_dir` (a new temporary folder)."""
    if path:
        if not (os.path.isfile(path) and os.path.basename(path).startswith("gtlake-") and path.endswith(".whl")):
            raise DeployError(f"--wheel {path}: not a gtlake-*.whl file")
        return path
    return build_wheel(out_dir or tempfile.mkdtemp(prefix="gtlake-wheel-"))
