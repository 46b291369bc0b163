"""Find labeling-job folders in a listing of a Ground Truth output tree, and resolve `-ref` URIs.

A job folder is one that holds `manifests/output/output.manifest`; its name is the job name.
Only its output manifest, consolidated labels and worker responses are read (`intermediate/`
and `consolidation-response/` are partial or derived data and are left alone).
"""
from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass, field

from gtlake.records import Reject
from gtlake.storage import FileInfo, is_s3, split_s3

MANIFEST_REL = "manifests/output/output.manifest"
LABELS_PREFIX = "annotations/consolidated-annotation/output/"
RESPONSES_PREFIX = "annotations/worker-response/"
# SageMaker labeling job names: 1-63 characters, letters, digits and inner hyphens.
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
INPUT_PARTITION = "_input"  # job_name of refusals that concern the input tree, not one valid job


@dataclass
class JobFolder:
    """One labeling job's output folder and the input files ingest reads from it."""

    name: str
    root: str
    manifest: FileInfo
    labels: dict[str, FileInfo] = field(default_factory=dict)  # path -> file
    responses: list[FileInfo] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        """Changes whenever any file ingest reads from this job is added, removed or rewritten."""
        h = hashlib.sha256()
        for f in [self.manifest, *sorted(self.labels.values(), key=lambda x: x.path), *self.responses]:
            h.update(f"{f.path[len(self.root):]}\0{f.size}\0{f.stamp}\n".encode())
        return h.hexdigest()


def _join(root: str, rel: str) -> str:
    return f"{root.rstrip('/')}/{rel}"


def discover_jobs(files: list[FileInfo]) -> tuple[list[JobFolder], list[Reject]]:
    """Group a listing into job folders; refuse folders whose name is not a valid job name, is another folder's
    (job names are case-insensitive) or whose manifest cannot be read."""
    roots = sorted({f.path[: -len(MANIFEST_REL) - 1] for f in files if f.path.endswith("/" + MANIFEST_REL)},
                   key=len, reverse=True)
    listed = {f.path: f for f in files}
    jobs: dict[str, JobFolder] = {}  # lowercased name -> folder
    rejects: list[Reject] = []
    by_root: dict[str, JobFolder] = {}
    for root in sorted(roots):
        name = posixpath.basename(root.rstrip("/"))
        manifest = listed[_join(root, MANIFEST_REL)]

        def refuse(reason: str, detail: str) -> None:
            rejects.append(Reject(INPUT_PARTITION, manifest.path, "job folder", "job_folder", reason, detail))

        if not JOB_NAME.match(name):
            refuse("invalid_job_name", f"folder name {name!r} is not a SageMaker labeling job name "
                                       "(1-63 letters, digits and inner hyphens)")
        elif name.lower() in jobs:
            refuse("duplicate_job_folder", f"job {name!r} also found at {jobs[name.lower()].root} (job names are "
                                           "case-insensitive); only that one is read")
        elif manifest.error:
            refuse("unreadable", f"the output manifest {manifest.error}")
        else:
            jobs[name.lower()] = by_root[root] = JobFolder(name, root, manifest)
    deepest_first = sorted(by_root, key=len, reverse=True)
    for f in files:
        root = next((r for r in deepest_first if f.path.startswith(r.rstrip("/") + "/")), None)
        if root is None:
            continue
        job, rel = by_root[root], f.path[len(root.rstrip("/")) + 1:]
        if rel.startswith(LABELS_PREFIX):
            job.labels[f.path] = f
        elif rel.startswith(RESPONSES_PREFIX):
            job.responses.append(f)
    return sorted(jobs.values(), key=lambda j: j.name), rejects


def owner(path: str, jobs: dict[str, JobFolder]) -> JobFolder | None:
    """The job folder holding `path` (the deepest one), or None when it lies in no job's folder."""
    holders = [j for j in jobs.values() if path.startswith(j.root.rstrip("/") + "/")]
    return max(holders, key=lambda j: len(j.root)) if holders else None


def resolve_ref(uri: str, jobs: dict[str, JobFolder], input_root: str, listed: set[str]) -> str | None:
    """Where a `-ref` URI's file is in the input: by its '<job>/annotations/...' suffix in the mirrored job folder
    (the job's name matched case-insensitively: `jobs` is keyed by folder name), else by its key under the input
    root, else the URI itself if listed."""
    m = re.search(r"(?:^|/)([^/]+)/(annotations/.+)$", uri)
    job = m and (jobs.get(m.group(1)) or next((j for n, j in jobs.items() if n.lower() == m.group(1).lower()), None))
    if job:
        candidate = _join(job.root, m.group(2))
        if candidate in listed:
            return candidate
    key = split_s3(uri)[1] if is_s3(uri) else uri.lstrip("/")
    for candidate in (_join(input_root, key), uri):
        if candidate in listed:
            return candidate
    return None
