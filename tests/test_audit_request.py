"""The directed audit job: documents, botocore's SageMaker model, escaping, and --submit on a local S3."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone

import pandas as pd
import pytest
from botocore.exceptions import ParamValidationError

from gtlake.jobs import audit_request as ar
from tests.conftest import FAKE_AWS, REPO

XSS = "<img src=x onerror=alert(1)>"
SETTINGS = ar.AuditSettings(region="eu-west-1", role_arn="arn:aws:iam::123456789012:role/gt-audit",
                            workteam_arn="arn:aws:sagemaker:eu-west-1:123456789012:workteam/private-crowd/qa",
                            s3_prefix="s3://audits/gtlake", output_path="s3://audits/gtlake/output")


def _inputs():
    meta = {"class-map": {"0": "Vehicle", "1": "Pedestrian"}, "job-name": "labeling-job/cars",
            "type": "groundtruth/video-object-tracking", "creation-date": "2026-10-05T15:30:00"}
    sequences = pd.DataFrame([
        {"job_name": "cars", "sequence_id": f"cars:{i}", "data_object_index": i, "label_attribute": "cars-ref",
         "inherited": False, "labels_read": True, "source_ref": f"s3://in/v{i}/seq.json",
         "labels_ref": f"s3://out/cars/annotations/consolidated-annotation/output/{i}/SeqLabel.json",
         "metadata": json.dumps(meta), "class_map": {"0": "Vehicle", "1": "Pedestrian"}} for i in range(3)])
    queue = pd.DataFrame([
        {"sequence_id": "cars:2", "frame_no": 12, "frame_file": "f13.jpg", "object_id": "a", "object_name": XSS,
         "reasons": ["off_path", "size_jump"], "rank": 1, "source_ref": "s3://in/v2/seq.json"},
        {"sequence_id": "cars:0", "frame_no": 40, "frame_file": "f41.jpg", "object_id": "b", "object_name": "Vehicle:2",
         "reasons": ["missing_box"], "rank": 2, "source_ref": "s3://in/v0/seq.json"},
    ])
    return queue, sequences


def test_documents_chain_from_the_original_labels():
    queue, sequences = _inputs()
    docs = ar.build("cars", queue, sequences, SETTINGS)
    assert [l["source-ref"] for l in docs["manifest"]] == ["s3://in/v0/seq.json", "s3://in/v2/seq.json"]
    assert docs["manifest"][0]["cars-ref"].endswith("/output/0/SeqLabel.json")
    assert docs["manifest"][0]["cars-ref-metadata"]["job-name"] == "labeling-job/cars"
    cat = docs["label_categories"]
    assert cat["auditLabelAttributeName"] == "cars-ref" and [l["label"] for l in cat["labels"]] == ["Vehicle", "Pedestrian"]
    req = docs["request"]
    assert req["LabelAttributeName"] == "cars-audit-ref"
    assert req["HumanTaskConfig"]["PreHumanTaskLambdaArn"] == \
        "arn:aws:lambda:eu-west-1:568282634449:function:PRE-AdjustmentVideoObjectTracking"
    assert req["HumanTaskConfig"]["UiConfig"]["HumanTaskUiArn"] == \
        "arn:aws:sagemaker:eu-west-1:394669845002:human-task-ui/VideoObjectTracking"
    assert req["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"].startswith("s3://audits/gtlake/cars-audit-")
    ar.validate(req)


def test_instructions_list_frames_per_object_and_escape_worker_text():
    queue, sequences = _inputs()
    full = ar.build("cars", queue, sequences, SETTINGS)["label_categories"]["instructions"]["fullInstruction"]
    assert XSS not in full and "&lt;img src=x onerror=alert(1)&gt;" in full
    assert "frame 12 (f13.jpg): off_path, size_jump" in full and "frame 40 (f41.jpg): box missing" in full
    assert full.index("v2/seq.json") < full.index("v0/seq.json")  # most suspect first


def test_an_overlooked_object_tells_the_auditor_to_add_a_box_where_the_model_saw_it():
    queue, sequences = _inputs()
    queue = pd.concat([queue, pd.DataFrame([
        {"sequence_id": "cars:0", "frame_no": 7, "frame_file": "f8.jpg", "object_id": None, "object_name": None,
         "label": XSS, "reasons": ["overlooked"], "rank": 3, "source_ref": "s3://in/v0/seq.json", "model_left": 101.4,
         "model_top": 50.0, "model_width": 30.0, "model_height": 60.0}])], ignore_index=True)
    full = ar.build("cars", queue, sequences, SETTINGS)["label_categories"]["instructions"]["fullInstruction"]
    assert "<b>Not labeled</b>: frame 7 (f8.jpg): a model sees" in full
    assert "near x 101, y 50, 30 x 60 px that has no box; add a box" in full
    assert XSS not in full and "unnamed object" not in full
    assert "frame 40 (f41.jpg): box missing" in full  # the labeled objects of the video are listed as before


def test_request_that_breaks_the_model_is_caught():
    queue, sequences = _inputs()
    req = ar.build("cars", queue, sequences, SETTINGS)["request"]
    del req["RoleArn"]
    with pytest.raises(ParamValidationError, match="RoleArn"):
        ar.validate(req)
    req = ar.build("cars", queue, sequences, SETTINGS)["request"]
    req["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"] = "one"
    with pytest.raises(ParamValidationError):
        ar.validate(req)


def test_lambda_accounts_match_botocores_documentation():
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    doc = model.shape_for("HumanTaskConfig").members["PreHumanTaskLambdaArn"].documentation
    documented = dict(re.findall(r"arn:aws:lambda:([a-z0-9-]+):(\d{12}):function:PRE-AdjustmentVideoObjectTracking", doc))
    assert documented == ar.GT_LAMBDA_ACCOUNTS
    acs = model.shape_for("AnnotationConsolidationConfig").members["AnnotationConsolidationLambdaArn"].documentation
    assert dict(re.findall(r"arn:aws:lambda:([a-z0-9-]+):(\d{12}):function:ACS-AdjustmentVideoObjectTracking", acs)) \
        == ar.GT_LAMBDA_ACCOUNTS
    with pytest.raises(ValueError, match="not offered"):
        ar.lambda_arns("mars-north-1")


def test_job_names_fit_sagemaker_rules():
    name = ar.audit_job_name("x" * 70 + "-", datetime(2026, 11, 21, 9, 5, tzinfo=timezone.utc))
    assert len(name) <= 63 and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)
    assert name.endswith("-audit-202611210905")
    assert ar.audit_attribute("Person") == "Person-audit-ref"


def _lake_with_queue(tmp_path):
    queue, sequences = _inputs()
    lake = tmp_path / "lake"
    for table, df in (("review_queue", queue), ("sequences", sequences.drop(columns=["job_name"]))):
        (lake / table / "job_name=cars").mkdir(parents=True)
        df.to_parquet(lake / table / "job_name=cars" / "part-0.parquet")
    return lake


def test_cli_writes_the_documents_and_sends_nothing(tmp_path):
    lake = _lake_with_queue(tmp_path)
    out = tmp_path / "audit"
    env = {"PYTHONPATH": str(REPO), "PATH": os.environ["PATH"], "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # unreachable
    r = subprocess.run([sys.executable, "-m", "gtlake.cli", "audit-request", "--lake", str(lake), "--job", "cars",
                        "--out", str(out), "--region", "ap-south-1"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "nothing was sent" in r.stdout and "REPLACE-ME" in (out / "create-labeling-job.json").read_text()
    assert len((out / "input.manifest").read_text().splitlines()) == 2
    ar.validate(json.loads((out / "create-labeling-job.json").read_text()))
    bad = subprocess.run([sys.executable, "-m", "gtlake.cli", "audit-request", "--lake", str(lake), "--job", "cars",
                          "--out", str(out), "--submit"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "--submit needs --role-arn, --workteam-arn, --s3-prefix" in bad.stderr


def test_submit_uploads_encrypted_files_then_asks_sagemaker(tmp_path, s3_endpoint):
    import boto3

    lake = _lake_with_queue(tmp_path)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **{k.lower(): v for k, v in FAKE_AWS.items()
                                                         if k != "AWS_DEFAULT_REGION"}, region_name="us-east-1")
    s3.create_bucket(Bucket="audits")
    env = dict(os.environ, **FAKE_AWS, AWS_ENDPOINT_URL=s3_endpoint, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "gtlake.cli", "audit-request", "--lake", str(lake), "--job", "cars",
                        "--out", str(tmp_path / "audit"), "--submit", "--role-arn", SETTINGS.role_arn,
                        "--workteam-arn", SETTINGS.workteam_arn.replace("eu-west-1", "us-east-1"),
                        "--s3-prefix", "s3://audits/gtlake"], capture_output=True, text=True, env=env, timeout=120)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="audits")["Contents"]]
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == ["input.manifest", "label-categories.json"]
    head = s3.head_object(Bucket="audits", Key=[k for k in keys if k.endswith("input.manifest")][0])
    assert head["ServerSideEncryption"] == "AES256"
    # moto does not implement CreateLabelingJob: the call reaches the endpoint (so botocore's client-side
    # validation passed) and its refusal is reported in one line.
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("gtlake audit-request: AWS refused the job")


def test_queue_without_the_jobs_own_sequences_is_a_one_line_error(tmp_path):
    queue, sequences = _inputs()
    lake = tmp_path / "lake"
    for table, df in (("review_queue", queue.assign(sequence_id="other-job:9")),
                      ("sequences", sequences.drop(columns=["job_name"]))):
        (lake / table / "job_name=cars").mkdir(parents=True)
        df.to_parquet(lake / table / "job_name=cars" / "part-0.parquet")
    r = subprocess.run([sys.executable, "-m", "gtlake.cli", "audit-request", "--lake", str(lake), "--job", "cars",
                        "--out", str(tmp_path / "audit")], capture_output=True, text=True,
                       env={"PYTHONPATH": str(REPO), "PATH": os.environ["PATH"]}, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "gtlake audit-request: job 'cars' has no flagged sequences in the review queue"
