"""A directed Ground Truth adjustment (audit) job for the flagged sequences of one labeling job.

`build(...)` turns review-queue rows and the job's sequences into three documents:

* `input.manifest`: one line per flagged sequence, chaining from the original labels (its
  source-ref, label attribute and -metadata, as the original output manifest had them);
* `label-categories.json`: the job's classes, `auditLabelAttributeName`, and instructions that
  list, per sequence and object, the frames to check, and the objects a model saw that nobody labeled
  (overlooked: the frame and where, to add a box) (object names are worker-written text:
  HTML-escaped, since Ground Truth shows instructions as HTML);
* the CreateLabelingJob request for an AdjustmentVideoObjectTracking task with the region's
  AWS-owned pre-annotation and consolidation Lambdas.

Writing them is local; `submit(...)` uploads the two files (server-side encrypted) and creates the job.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd

# AWS-owned accounts of Ground Truth's pre-annotation and consolidation Lambdas, per region
# (tested against the documentation in botocore's SageMaker service model).
GT_LAMBDA_ACCOUNTS = {
    "us-east-1": "432418664414", "us-east-2": "266458841044", "us-west-2": "081040173940",
    "eu-west-1": "568282634449", "ap-northeast-1": "477331159723", "ap-southeast-2": "454466003867",
    "ap-south-1": "565803892007", "eu-central-1": "203001061592", "ap-northeast-2": "845288260483",
    "eu-west-2": "487402164563", "ap-southeast-1": "377565633583", "ca-central-1": "918755190332",
}
GT_UI_ACCOUNT = "394669845002"
MAX_LISTED = 300  # (frame, object) entries spelled out in the instructions; the rest are counted
_NAME_OK = re.compile(r"[^a-zA-Z0-9-]+")


@dataclass(frozen=True)
class AuditSettings:
    """Where the audit job's files go and who works on it."""

    region: str
    role_arn: str
    workteam_arn: str
    s3_prefix: str  # where input.manifest and label-categories.json are uploaded
    output_path: str  # the audit job's S3OutputPath
    kms_key_id: str | None = None
    task_time_limit_s: int = 8 * 3600
    job_name: str | None = None


def lambda_arns(region: str) -> tuple[str, str]:
    """(pre-annotation, consolidation) Lambda ARNs of AdjustmentVideoObjectTracking in `region`."""
    if region not in GT_LAMBDA_ACCOUNTS:
        raise ValueError(f"Ground Truth video adjustment jobs are not offered in {region!r}; "
                         f"regions: {', '.join(sorted(GT_LAMBDA_ACCOUNTS))}")
    account = GT_LAMBDA_ACCOUNTS[region]
    return (f"arn:aws:lambda:{region}:{account}:function:PRE-AdjustmentVideoObjectTracking",
            f"arn:aws:lambda:{region}:{account}:function:ACS-AdjustmentVideoObjectTracking")


def audit_job_name(job: str, now: datetime | None = None) -> str:
    """'<job>-audit-<UTC yyyymmddhhmm>', within SageMaker's 63 characters."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d%H%M")
    base = _NAME_OK.sub("-", job).strip("-")[: 63 - len("-audit-") - len(stamp)].rstrip("-")
    return f"{base}-audit-{stamp}"


def audit_attribute(attribute: str) -> str:
    """The audit job's label attribute: video frame jobs need a name ending in '-ref'."""
    return f"{attribute.removesuffix('-ref')}-audit-ref"


def _frames_text(rows: pd.DataFrame) -> str:
    parts = []
    for r in rows.sort_values("frame_no").itertuples():
        what = "box missing" if list(r.reasons) == ["missing_box"] else ", ".join(r.reasons)
        file = f" ({html.escape(str(r.frame_file))})" if isinstance(r.frame_file, str) else ""
        parts.append(f"frame {int(r.frame_no)}{file}: {html.escape(what)}")
    return "; ".join(parts)


def _overlooked_text(r) -> str:  # noqa: ANN001 - a queue row (itertuples)
    """An overlooked object, for the auditor: add a box on that frame where the model's box is."""
    file = f" ({html.escape(str(r.frame_file))})" if isinstance(r.frame_file, str) else ""
    where = (f" near x {r.model_left:.0f}, y {r.model_top:.0f}, {r.model_width:.0f} x {r.model_height:.0f} px"
             if all(isinstance(v, float) and pd.notna(v) for v in (getattr(r, f"model_{c}", None)
                                                                   for c in ("left", "top", "width", "height")))
             else "")
    what = html.escape(str(r.label)) if isinstance(r.label, str) else "an object"
    return (f"frame {int(r.frame_no)}{file}: a model sees {what}{where} that has no box; add a box for it on this "
            "and the frames around it where it is visible")


def instructions(queue: pd.DataFrame, job: str) -> tuple[str, str]:
    """(short, full) instructions: per sequence and object, the frames to check, most suspect first."""
    top = queue.sort_values("rank").head(MAX_LISTED)
    items = []
    for seq, rows in top.groupby("sequence_id", sort=False):
        objects = []
        unlabeled = rows["object_id"].isna() if "object_id" in rows else pd.Series(False, index=rows.index)
        for r in rows[unlabeled].sort_values("frame_no").itertuples():
            objects.append(f"<li><b>Not labeled</b>: {_overlooked_text(r)}</li>")
        rows = rows[~unlabeled]
        for name, orows in rows.groupby("object_name", sort=False, dropna=False):
            label = html.escape(str(name)) if isinstance(name, str) else "unnamed object"
            objects.append(f"<li><b>{label}</b>: {_frames_text(orows)}</li>")
        video = html.escape(str(rows["source_ref"].iloc[0]))
        items.append(f"<li>Video {video}<ul>{''.join(objects)}</ul></li>")
    more = len(queue) - len(top)
    tail = f"<p>And {more} further frames of lower priority in gtlake's review queue.</p>" if more > 0 else ""
    full = (f"<p>gtlake flagged these frames in the labels of job {html.escape(job)}. Check each listed object on "
            "the listed frames first (frame numbers as in the labels file, starting at 0; the image file is in "
            "brackets), correct what is wrong, add a box for each object listed as not labeled, then look over the "
            f"rest of the video.</p><ul>{''.join(items)}</ul>{tail}")
    short = (f"Check the {len(queue)} flagged frames listed in the full instructions, per object, then the rest "
             "of each video.")
    return short, full


def build(job: str, queue: pd.DataFrame, sequences: pd.DataFrame, s: AuditSettings) -> dict:
    """The manifest lines, label category config and CreateLabelingJob request for `job`'s flagged sequences."""
    own = sequences[(sequences["job_name"] == job) & sequences["labels_read"].fillna(False).astype(bool)]
    flagged = own[own["sequence_id"].isin(set(queue["sequence_id"]))].sort_values("data_object_index")
    if flagged.empty:
        raise ValueError(f"job {job!r} has no flagged sequences in the review queue")
    attrs = sorted(set(flagged["label_attribute"]))
    if len(attrs) != 1:
        raise ValueError(f"job {job!r} has several label attributes ({', '.join(attrs)}); expected one")
    attr = attrs[0]
    lines = [{"source-ref": r.source_ref, attr: r.labels_ref, f"{attr}-metadata": json.loads(r.metadata)}
             for r in flagged.itertuples()]
    class_map = flagged["class_map"].iloc[0]
    class_map = dict(class_map) if class_map is not None else {}
    short, full = instructions(queue[queue["sequence_id"].isin(set(flagged["sequence_id"]))], job)
    labels = [{"label": class_map[k]} for k in sorted(class_map, key=lambda x: (len(x), x))]
    category = {"document-version": "2020-08-15", "auditLabelAttributeName": attr, "labels": labels,
                "instructions": {"shortInstruction": short, "fullInstruction": full}, "annotationType": "BoundingBox"}
    name = s.job_name or audit_job_name(job)
    prefix = s.s3_prefix.rstrip("/") + "/" + name
    pre, acs = lambda_arns(s.region)
    output = {"S3OutputPath": s.output_path}
    if s.kms_key_id:
        output["KmsKeyId"] = s.kms_key_id
    request = {
        "LabelingJobName": name,
        "LabelAttributeName": audit_attribute(attr),
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": f"{prefix}/input.manifest"}},
                        "DataAttributes": {"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation"]}},
        "OutputConfig": output,
        "RoleArn": s.role_arn,
        "LabelCategoryConfigS3Uri": f"{prefix}/label-categories.json",
        "HumanTaskConfig": {
            "WorkteamArn": s.workteam_arn,
            "UiConfig": {"HumanTaskUiArn": f"arn:aws:sagemaker:{s.region}:{GT_UI_ACCOUNT}:human-task-ui/VideoObjectTracking"},
            "PreHumanTaskLambdaArn": pre,
            "TaskKeywords": ["Video", "Object tracking", "Audit"],
            "TaskTitle": f"Audit flagged frames of {job}"[:128],
            "TaskDescription": f"Adjust the boxes of {len(flagged)} videos where gtlake flagged frames"[:255],
            "NumberOfHumanWorkersPerDataObject": 1,
            "TaskTimeLimitInSeconds": s.task_time_limit_s,
            "TaskAvailabilityLifetimeInSeconds": 10 * 24 * 3600,
            "MaxConcurrentTaskCount": 1000,
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": acs},
        },
        "Tags": [{"Key": "gtlake:audited-job", "Value": job}],
    }
    return {"manifest": lines, "label_categories": category, "request": request}


def validate(request: dict) -> None:
    """Raise botocore's ParamValidationError if the request does not fit CreateLabelingJob's model."""
    import botocore.session
    from botocore.validate import validate_parameters

    model = botocore.session.get_session().get_service_model("sagemaker")
    validate_parameters(request, model.operation_model("CreateLabelingJob").input_shape)


def manifest_text(lines: list[dict]) -> str:
    """JSON Lines."""
    return "".join(json.dumps(l, ensure_ascii=False) + "\n" for l in lines)


def submit(docs: dict, region: str) -> str:
    """Upload the manifest and label config (SSE), create the labeling job; its ARN."""
    import boto3

    from gtlake.storage import split_s3

    s3 = boto3.client("s3", region_name=region)
    req = docs["request"]
    kms = req["OutputConfig"].get("KmsKeyId")
    sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms} if kms else {"ServerSideEncryption": "AES256"}
    for uri, body in ((req["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"], manifest_text(docs["manifest"])),
                      (req["LabelCategoryConfigS3Uri"], json.dumps(docs["label_categories"], ensure_ascii=False))):
        bucket, key = split_s3(uri)
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"), **sse)
    return boto3.client("sagemaker", region_name=region).create_labeling_job(**req)["LabelingJobArn"]


def flagged(lake, job: str) -> tuple[pd.DataFrame, pd.DataFrame] | None:  # noqa: ANN001 - a gtlake.lake.Lake
    """(review queue, sequences) of `job` read from the lake, or None when nothing of it is queued."""
    import pyarrow.dataset as ds

    queue_dir = lake.path("review_queue", f"job_name={job}")
    if not lake.isdir(queue_dir):
        return None
    queue = ds.dataset(queue_dir, format="parquet", filesystem=lake.fs).to_table().to_pandas()
    seq_dir = lake.path("sequences", f"job_name={job}")
    sequences = ds.dataset(seq_dir, format="parquet", filesystem=lake.fs).to_table().to_pandas().assign(job_name=job)
    return queue, sequences


FILES = ("input.manifest", "label-categories.json", "create-labeling-job.json")


def write(docs: dict, out: str) -> list[str]:
    """Write the job's input manifest, label category config and CreateLabelingJob request under `out` (a folder
    that exists); their paths."""
    import os

    texts = (manifest_text(docs["manifest"]), json.dumps(docs["label_categories"], indent=2, ensure_ascii=False),
             json.dumps(docs["request"], indent=2))
    paths = [os.path.join(out, name) for name in FILES]
    for path, text in zip(paths, texts):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return paths
