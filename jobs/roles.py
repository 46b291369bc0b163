"""What each labeling job is for: the `jobs` table (pure Python over the parsed manifests).

A job's role decides where its labels count:

* `labeling`: video object tracking, the labels the review queue and the labeling KPIs are about;
* `detection`: video object detection (boxes without object ids);
* `image`: image jobs (bounding boxes, classification);
* `audit`: a job that reviews another job's labels: an adjustment job (`adjustment-status` on its own attribute),
  a verification job, or any job whose manifest chains another job's attribute beside its own. Its labels are
  the corrected ones: the quality job scores them as a post-audit check, kept out of the labeling KPIs and out
  of the labelers' review queue, and `gtlake audit` compares them with the audited job's.
"""
from __future__ import annotations

from collections import Counter

from gtlake.jobs.layout import JobFolder
from gtlake.jobs.manifest import IMAGE_BOX_TYPES, INLINE_TYPES, SequenceRow, same_job

VERIFICATION = "groundtruth/label-verification"


def job_role(rows: list[SequenceRow], job: str) -> tuple[str, str | None, str | None]:
    """(role, task type of its own labels, the job it audits) of one job's sequences rows."""
    labeled = [r for r in rows if r.label_attribute is not None]
    own = [r for r in labeled if same_job(r.label_job_name, job)]
    chained = [r for r in labeled if not same_job(r.label_job_name, job)]
    types = Counter(r.task_type for r in own or chained)
    task_type = min(types, key=lambda t: (-types[t], t)) if types else None
    sources = Counter(r.label_job_name for r in chained)
    audited = min(sources, key=lambda j: (-sources[j], j)) if sources else None
    if own and (chained or any(r.adjustment_status for r in own) or task_type == VERIFICATION):
        return "audit", task_type, audited
    if task_type == "groundtruth/video-object-detection":
        return "detection", task_type, None
    if task_type in IMAGE_BOX_TYPES or task_type in INLINE_TYPES:
        return "image", task_type, None
    return "labeling", task_type, None


def job_rows(sequences: list[SequenceRow], jobs: list[JobFolder], written: dict[str, dict[str, int]],
             run_id: str) -> list[tuple]:
    """The `jobs` rows (schema column order) of the jobs read in this run. `written`: job -> {table: rows
    staged}. The audited job is named as its folder spells it when that folder is in the input."""
    by_job: dict[str, list[SequenceRow]] = {}
    for s in sequences:
        by_job.setdefault(s.job_name, []).append(s)
    folders = {j.name.lower(): j.name for j in jobs}
    out = []
    for job in jobs:
        rows = by_job.get(job.name, [])
        role, task_type, audited = job_role(rows, job.name)
        own = [r for r in rows if r.label_attribute is not None and not r.inherited]
        created = [r.creation_time for r in own if r.creation_time is not None]
        counts = written.get(job.name, {})
        out.append((role, task_type, folders.get(audited.lower(), audited) if audited else None,
                    min(created) if created else None, len({r.sequence_id for r in rows}),
                    len({r.sequence_id for r in own}), counts.get("frames", 0), counts.get("boxes", 0),
                    job.manifest.path, run_id, job.name))
    return out

