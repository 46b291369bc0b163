"""Deployment as code: the CloudFormation template (cfn-lint, security properties) and `gtlake deploy`
(dry run, bad arguments, and a real deployment against a local AWS endpoint: moto server on loopback)."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile

import pytest

from gtlake import pipeline
from tests.conftest import FAKE_AWS, REPO

TEMPLATE = REPO / "glue" / "gtlake.yaml"
JOBS = {"IngestJob": "ingest", "WorkersJob": "workers", "QualityJob": "quality", "AuditJob": "audit"}
GLUE_OWN_ARGS = {"--extra-py-files", "--additional-python-modules", "--job-bookmark-option", "--enable-metrics",
                 "--enable-continuous-cloudwatch-log", "--TempDir"}


@pytest.fixture(scope="module")
def template() -> dict:
    from cfnlint.decode import decode

    tpl, matches = decode(str(TEMPLATE))
    assert not matches, matches
    return tpl


def _resources(tpl: dict, kind: str) -> dict:
    return {k: r["Properties"] for k, r in tpl["Resources"].items() if r["Type"] == kind}


def _statements(tpl: dict):
    for name, props in _resources(tpl, "AWS::IAM::Role").items():
        for policy in props.get("Policies", []):
            for st in policy["PolicyDocument"]["Statement"]:
                yield f"{name}/{policy['PolicyName']}/{st.get('Sid', '')}", st
    for name, props in _resources(tpl, "AWS::IAM::Policy").items():
        for st in props["PolicyDocument"]["Statement"]:
            yield name, st


def _as_list(x) -> list:
    return x if isinstance(x, list) else [x]


def test_template_passes_cfn_lint():
    lint = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    r = subprocess.run([lint, str(TEMPLATE)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_cfn_lint_would_catch_a_broken_template(tmp_path):
    """The lint test can fail: a job with an unknown property and a bad reference is refused."""
    broken = TEMPLATE.read_text().replace("GlueVersion: \"5.0\"", "GlueVersionn: \"5.0\"", 1).replace(
        "!Ref WorkerType", "!Ref NoSuchParameter", 1)
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    lint = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    r = subprocess.run([lint, str(path)], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "GlueVersionn" in r.stdout and "NoSuchParameter" in r.stdout


def test_iam_allows_no_wildcard_action_and_no_wildcard_resource_but_for_metrics(template):
    allows = [(where, st) for where, st in _statements(template) if st["Effect"] == "Allow"]
    assert len(allows) >= 8
    for where, st in allows:
        assert "NotAction" not in st and "NotResource" not in st, where
        for action in _as_list(st["Action"]):
            assert "*" not in action, f"{where}: wildcard action {action}"
        if "*" in _as_list(st["Resource"]):  # only for the one action that has no resource-level permissions
            assert _as_list(st["Action"]) == ["cloudwatch:PutMetricData"], where
            assert st["Condition"]["StringEquals"]["cloudwatch:namespace"] == "Glue", where


def test_ground_truth_output_is_read_only_and_scoped_to_its_prefix(template):
    reads = [(w, st) for w, st in _statements(template) if "read-ground-truth-output" in w]
    assert {a for _, st in reads for a in _as_list(st["Action"])} == {"s3:GetObject", "s3:ListBucket"}
    for where, st in reads:
        text = json.dumps(st["Resource"])
        assert "${GroundTruthBucket}" in text, where
        if st["Action"] == "s3:GetObject":
            assert "${GroundTruthPrefix}/*" in text, where
        else:
            assert st["Condition"]["StringLike"]["s3:prefix"], where
    writes = [a for w, st in _statements(template) for a in _as_list(st["Action"])
              if "GroundTruthBucket" in json.dumps(st["Resource"]) and a not in ("s3:GetObject", "s3:ListBucket")]
    assert writes == []
    # the worker activity: one log group, read only
    logs = [st for w, st in _statements(template) if "read-worker-activity" in w]
    assert [st["Action"] for st in logs] == ["logs:FilterLogEvents"]
    assert all("${WorkerActivityLogGroup}" in json.dumps(st["Resource"]) for st in logs)
    # the catalog: the one database and its tables
    catalog = [st for w, st in _statements(template) if "lake-catalog" in w]
    for r in (x for st in catalog for x in _as_list(st["Resource"])):
        assert r["Fn::Sub"].endswith((":catalog", ":database/${DatabaseName}", ":table/${DatabaseName}/*"))


def test_lake_bucket_is_encrypted_private_and_tls_only(template):
    (bucket_id, bucket), = _resources(template, "AWS::S3::Bucket").items()
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert rule["Fn::If"][0] == "HasCustomerKey" and rule["Fn::If"][2] == {"SSEAlgorithm": "AES256"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert template["Resources"][bucket_id]["DeletionPolicy"] == "Retain"
    (policy,) = _resources(template, "AWS::S3::BucketPolicy").values()
    (deny,) = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {"Fn::GetAtt": [bucket_id, "Arn"]} in deny["Resource"]


def test_athena_results_and_glue_jobs_are_encrypted(template):
    (wg,) = _resources(template, "AWS::Athena::WorkGroup").values()
    conf = wg["WorkGroupConfiguration"]
    assert conf["EnforceWorkGroupConfiguration"] is True
    assert conf["ResultConfiguration"]["EncryptionConfiguration"]["Fn::If"][2] == {"EncryptionOption": "SSE_S3"}
    (sec_id, sec), = _resources(template, "AWS::Glue::SecurityConfiguration").items()
    enc = sec["EncryptionConfiguration"]
    assert enc["S3Encryptions"][0]["Fn::If"][1:] == [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": {"Ref": "KmsKeyArn"}},
                                                      {"S3EncryptionMode": "SSE-S3"}]
    assert enc["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
    assert enc["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"
    for part in ("CloudWatchEncryption", "JobBookmarksEncryption"):
        assert enc[part]["KmsKeyArn"] == LAKE_KEY, part
    for job in (_resources(template, "AWS::Glue::Job")).values():
        assert job["SecurityConfiguration"] == {"Ref": sec_id}


LAKE_KEY = {"Fn::If": ["HasCustomerKey", {"Ref": "KmsKeyArn"}, {"Fn::GetAtt": ["StackKey", "Arn"]}]}


def test_an_optional_customer_managed_key_encrypts_the_bucket_glue_and_athena(template):
    import re

    param = template["Parameters"]["KmsKeyArn"]
    assert param["Default"] == ""
    pattern = re.compile(param["AllowedPattern"])
    assert pattern.match("") and pattern.match("arn:aws:kms:eu-west-1:123456789012:key/" + "a" * 8 + "-1111-2222-3333-"
                                               + "b" * 12)
    assert not pattern.match("alias/aws/s3") and not pattern.match("*")
    assert template["Conditions"]["HasCustomerKey"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]}
    (bucket,) = _resources(template, "AWS::S3::Bucket").values()
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["Fn::If"][1] == {"SSEAlgorithm": "aws:kms",
                                                                  "KMSMasterKeyID": {"Ref": "KmsKeyArn"}}
    (wg,) = _resources(template, "AWS::Athena::WorkGroup").values()
    athena_enc = wg["WorkGroupConfiguration"]["ResultConfiguration"]["EncryptionConfiguration"]["Fn::If"]
    assert athena_enc[1] == {"EncryptionOption": "SSE_KMS", "KmsKey": {"Ref": "KmsKeyArn"}}
    # without one, the stack's own key (rotated, kept) encrypts the logs and bookmarks
    key = template["Resources"]["StackKey"]
    assert key["Condition"] == "NoCustomerKey" and key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    logs = [st for st in key["Properties"]["KeyPolicy"]["Statement"] if st["Sid"] == "GlueJobLogs"]
    assert "/aws-glue/*" in json.dumps(logs[0]["Condition"])
    # the role may use exactly that key, and associate it with its log groups
    uses = [st for w, st in _statements(template) if "use-lake-key" in w]
    assert [st["Resource"] for st in uses] == [LAKE_KEY]
    assert {a for st in uses for a in st["Action"]} == {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey",
                                                          "kms:DescribeKey"}
    assert any("logs:AssociateKmsKey" in st["Action"] for w, st in _statements(template) if "GlueJobLogs" in w)


def test_the_role_trusts_glue_only_for_this_accounts_jobs_of_this_stack(template):
    (role,) = _resources(template, "AWS::IAM::Role").values()
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "glue.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    arn = trust["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    assert arn.endswith(":job/${AWS::StackName}-*") and "${AWS::AccountId}" in arn
    for job in _resources(template, "AWS::Glue::Job").values():
        assert job["Name"]["Fn::Sub"].startswith("${AWS::StackName}-")


def _script_flags(script: str) -> set[str]:
    """The flags a Glue entry script passes on (the set literal in its entry(...) call)."""
    tree = ast.parse((REPO / "glue" / f"{script}.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "entry"]
    return set(ast.literal_eval(calls[0].args[1]))


def test_glue_jobs_run_the_entry_scripts_with_arguments_they_accept(template):
    jobs = _resources(template, "AWS::Glue::Job")
    assert set(jobs) == set(JOBS)
    for rid, script in JOBS.items():
        job = jobs[rid]
        assert job["GlueVersion"] == "5.0" and job["Command"]["Name"] == "glueetl"
        assert job["Command"]["ScriptLocation"]["Fn::Sub"].endswith(f"/glue/{script}.py")
        assert job["ExecutionProperty"]["MaxConcurrentRuns"] == 1  # one writer per lake
        args = job["DefaultArguments"]
        assert args["--extra-py-files"]["Fn::Sub"].endswith("${WheelName}")
        assert args["--additional-python-modules"] == {"Ref": "AdditionalPythonModules"}
        assert args["--job-bookmark-option"] == "job-bookmark-disable"  # the lake keeps its own ledger
        own = set(args) - GLUE_OWN_ARGS
        assert "--lake" in own and own <= _script_flags(script), (rid, own - _script_flags(script))
    params = template["Parameters"]
    shipped = params["AdditionalPythonModules"]["Default"].split(",")
    assert shipped == ["scipy==1.13.1", "great_expectations==1.24.1", "awswrangler==3.11.0"]
    assert set(shipped) <= set(_setup_list("GLUE_RUNTIME"))  # the versions tested here are the ones shipped


GLUE_5 = {"pandas": "2.2.2", "numpy": "1.26.4", "pyarrow": "17.0.0", "boto3": "1.34.131", "python": "3.11.6"}


def _setup_list(name: str) -> list[str]:
    """A list of requirement strings assigned in setup.py (read, not run: it calls setup())."""
    tree = ast.parse((REPO / "setup.py").read_text())
    (node,) = [n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == name]
    return ast.literal_eval(node.value)


def test_modules_shipped_to_glue_accept_glues_own_pins():
    """Each module --additional-python-modules installs must not pull another pandas, numpy, pyarrow or boto3 than
    Glue 5.0's: its declared requirements (the installed distribution's metadata, the version pinned) accept them."""
    from importlib import metadata

    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    env = dict(default_environment(), python_version="3.11", python_full_version=GLUE_5["python"], extra="")
    for pin in ("great_expectations==1.24.1", "awswrangler==3.11.0"):
        dist, version = pin.split("==")
        assert metadata.version(dist) == version, pin
        checked = 0
        for text in metadata.requires(dist) or []:
            req = Requirement(text)
            if req.name.lower() in GLUE_5 and (req.marker is None or req.marker.evaluate(env)):
                assert req.specifier.contains(GLUE_5[req.name.lower()], prereleases=True), (pin, text)
                checked += 1
        assert checked >= 2, pin


def test_workflow_runs_the_four_jobs_in_order_on_an_hourly_schedule(template):
    triggers = _resources(template, "AWS::Glue::Trigger")
    (scheduled,) = [t for t in triggers.values() if t["Type"] == "SCHEDULED"]
    assert scheduled["Schedule"] == {"Ref": "Schedule"}
    assert template["Parameters"]["Schedule"]["Default"] == "cron(0 * * * ? *)"
    assert scheduled["Actions"] == [{"JobName": {"Ref": "IngestJob"}}]
    after = {}
    for t in triggers.values():
        if t["Type"] == "CONDITIONAL":
            (cond,) = t["Predicate"]["Conditions"]
            assert cond["State"] == "SUCCEEDED" and t["StartOnCreation"] is True
            after[cond["JobName"]["Ref"]] = t["Actions"][0]["JobName"]["Ref"]
    assert after == {"IngestJob": "WorkersJob", "WorkersJob": "QualityJob", "QualityJob": "AuditJob"}
    declared = [f"{step.capitalize()}Job" for step in pipeline.glue_steps()]  # the order gtlake.pipeline declares
    assert after == dict(zip(declared, declared[1:])) and scheduled["Actions"][0]["JobName"]["Ref"] == declared[0]
    assert all(t["WorkflowName"] == {"Ref": "Workflow"} for t in triggers.values())


# -- the command -------------------------------------------------------------------------------------------

DEPLOY = ["deploy", "--stack", "gtlake-test", "--region", "us-east-1", "--gt-output", "s3://gt-output/labeling",
          "--lake", "s3://gtlake-test-lake/lake"]


def _gtlake(*args, env=None):
    return subprocess.run([sys.executable, "-m", "gtlake.cli", *args], capture_output=True, text=True,
                          env=env or dict(os.environ, PYTHONPATH=str(REPO)), timeout=600)


def test_dry_run_prints_the_plan_and_calls_nothing():
    # an endpoint nobody listens on: any AWS call would fail the command
    env = dict(os.environ, **FAKE_AWS, AWS_ENDPOINT_URL="http://127.0.0.1:9", PYTHONPATH=str(REPO))
    r = _gtlake(*DEPLOY, "--dry-run", env=env)
    assert r.returncode == 0, r.stderr
    assert "create or update stack gtlake-test in us-east-1" in r.stdout
    assert "LakeBucketName = gtlake-test-lake" in r.stdout and "GroundTruthPrefix = labeling" in r.stdout
    assert "Schedule = cron(0 * * * ? *)" in r.stdout and "KmsKeyArn = \n" in r.stdout and "(SSE-S3)" in r.stdout
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    with_key = _gtlake(*DEPLOY, "--kms-key-arn", key, "--dry-run", env=env)
    assert with_key.returncode == 0, with_key.stderr
    assert f"KmsKeyArn = {key}" in with_key.stdout and f"(SSE-KMS with {key})" in with_key.stdout
    assert "nothing was built, uploaded or created (--dry-run)" in r.stdout


@pytest.mark.parametrize("change, message", [
    (["--stack", "1-bad"], "--stack '1-bad': letters, digits and '-'"),
    (["--lake", "s3://gtlake-test-lake"], "--lake 's3://gtlake-test-lake': expected s3://bucket/prefix"),
    (["--gt-output", "/local/folder"], "--gt-output '/local/folder': expected s3://bucket/prefix"),
    (["--region", "mars"], "--region 'mars': expected a region name"),
    (["--database", "Bad-Name"], "--database 'Bad-Name' must be lower-case"),
    (["--schedule", "hourly"], "--schedule 'hourly': expected a Glue cron"),
    (["--workers", "1"], "--workers 1: a Glue 5.0 Spark job runs 2 to 100 workers"),
    (["--kms-key-arn", "alias/aws/s3"], "--kms-key-arn 'alias/aws/s3': expected arn:aws:kms:"),
])
def test_bad_deploy_arguments_give_one_line_and_usage(change, message):
    args = list(DEPLOY)
    i = args.index(change[0]) if change[0] in args else None
    args = args[:i] + change + args[i + 2:] if i is not None else args + change
    r = _gtlake(*args, "--dry-run")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(f"gtlake deploy: error: {message}")


@pytest.mark.s3
def test_deploy_against_a_local_aws_endpoint(s3_endpoint, tmp_path, monkeypatch):
    """The whole command against moto server: wheel built, stack created (moto creates the bucket and the role;
    it stands the Glue and Athena resources in as placeholders), artifacts uploaded encrypted, Athena statements
    run; a second deploy updates the stack."""
    import boto3

    for k, v in {**FAKE_AWS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(k, v)
    # moto's CloudFormation does not create AWS::Athena::WorkGroup; make the one the stack would
    boto3.client("athena").create_work_group(Name="gtlake", Configuration={
        "ResultConfiguration": {"OutputLocation": "s3://gtlake-test-lake/athena-results/",
                                "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}},
        "EnforceWorkGroupConfiguration": True})
    env = dict(os.environ, PYTHONPATH=str(REPO))
    first = _gtlake(*DEPLOY, env=env)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "stack gtlake-test: CREATE_COMPLETE" in first.stdout
    assert "view worker_leaderboard: ok" in first.stdout

    cfn, s3, iam = boto3.client("cloudformation"), boto3.client("s3"), boto3.client("iam")
    stack = cfn.describe_stacks(StackName="gtlake-test")["Stacks"][0]
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert params["LakeBucketName"] == "gtlake-test-lake" and params["GroundTruthBucket"] == "gt-output"
    enc = s3.get_bucket_encryption(Bucket="gtlake-test-lake")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    prefix = params["ArtifactsPrefix"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="gtlake-test-lake", Prefix=prefix)["Contents"]}
    assert keys == {f"{prefix}/{params['WheelName']}"} | {f"{prefix}/glue/{j}.py" for j in JOBS.values()}
    for key in keys:
        assert s3.head_object(Bucket="gtlake-test-lake", Key=key)["ServerSideEncryption"] == "AES256"
    wheel = tmp_path / params["WheelName"]
    s3.download_file("gtlake-test-lake", f"{prefix}/{params['WheelName']}", str(wheel))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"gtlake/cli/__init__.py", "gtlake/jobs/ingest.py", "gtlake/udfs/detect.py", "gtlake/glue/gtlake.yaml",
            "gtlake/sql/views/worker_leaderboard.sql", "gtlake/jobs/runner.py", "gtlake/pipeline.py"} <= names
    stack_outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    role = iam.get_role(RoleName=stack_outputs["GlueRoleArn"].rsplit("/", 1)[1])["Role"]
    policies = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
    assert set(policies) == {"read-ground-truth-output", "read-worker-activity", "write-lake", "lake-catalog", "use-lake-key",
                             "job-logs-and-metrics"}

    again = _gtlake(*DEPLOY, "--schedule", "cron(30 2 * * ? *)", env=env)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    stack = cfn.describe_stacks(StackName="gtlake-test")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["Schedule"] == "cron(30 2 * * ? *)"


def test_the_wheel_is_built_from_every_folder_setup_py_packages():
    import re

    from gtlake.deploy import PACKAGED

    mapped = set(re.findall(r'"gtlake[.a-z_]*": "([a-z_]+)[/a-z_]*"', (REPO / "gtlake" / "packages.py").read_text()))
    assert "packages.py" in (REPO / "setup.py").read_text()  # setup.py builds from that mapping
    assert mapped == set(PACKAGED)
