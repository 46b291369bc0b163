"""Seals: proof that a committed partition is byte for byte what a job's gate validated.

When a job's output check of a table passes, the job records in its ledger, per partition it commits, a
seal: the SHA-256 of the partition's files (names and contents) and of the suite's rules. A later job that
reads the partition recomputes the digest; when it matches the seal, the rows are the ones the suite
already passed, so the gate records that instead of running the same rules again (one read of the files
instead of a dozen Spark jobs). Any change made by hand (an edited value, a file added, removed, truncated
or garbled) or any change to the suite changes the digest, and the full suite runs, as it always did.

    digest = partition_digest(lake, lake.path("boxes", "job_name=a"))
    entry["seals"] = {"boxes": {"digest": digest, "suite": suite_digest("boxes")}}   # in the ledger
    sealed_by(lake, "boxes", ["a"])   # run ids that sealed the current files, or None

Only tables partitioned by `job_name` whose writer keeps a per-job ledger are sealed (`SEALED_BY`).
`gtlake validate` never trusts seals: it is the command that checks the lake itself.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
from functools import lru_cache

from gtlake import integrity
from gtlake.lake import Lake

SEALED_BY = {"sequences": "ingest", "boxes": "ingest", "frames": "ingest", "jobs": "ingest", "box_metrics": "quality",
             "review_queue": "quality"}


def partition_digest(lake: Lake, path: str, staged: bool = False) -> str | None:
    """SHA-256 over the sorted (relative name, content SHA-256) of every file under `path`; None when
    the folder holds no file. `staged`: the run's own staging folder (file digests shared with its commit)."""
    names = [n for n in lake.files(path) if n and integrity.visible(n)]  # what readers read (no .crc, _SUCCESS)
    if not names:
        return None
    outer = hashlib.sha256()
    for name in names:  # each file's digest cached (integrity records the same files when they are committed)
        outer.update(f"{name}\0{integrity.file_digest(lake, posixpath.join(path, name), cached=staged)}\n".encode())
    return outer.hexdigest()


@lru_cache(maxsize=None)
def suite_digest(table: str) -> str:
    """SHA-256 of `table`'s rules (each its Great Expectations expectation and arguments) and of the version of
    Great Expectations that judges them: a new or changed rule, or another version, breaks every seal. (Great
    Expectations itself is not imported for this.)"""
    from importlib.metadata import version

    from gtlake.validation import SUITES

    rules = [r.spec() for r in SUITES[table]()] + [{"great_expectations": version("great_expectations")}]
    return hashlib.sha256(json.dumps(rules, sort_keys=True, default=str).encode()).hexdigest()


def seal(lake: Lake, table: str, staged: str, jobs: list[str]) -> dict[str, dict]:
    """Per job, the seal of its staged partition of `table` (jobs that staged no rows get none)."""
    suite = suite_digest(table)
    out = {}
    for job in jobs:
        digest = partition_digest(lake, posixpath.join(staged, f"job_name={job}"), staged=True)
        if digest is not None:
            out[job] = {"digest": digest, "suite": suite}
    return out


def sealed_by(lake: Lake, table: str, jobs: list[str]) -> list[str] | None:
    """The run ids whose seals cover the current files of every `jobs` partition of `table`; None when any
    partition is unsealed, changed since, or sealed under other rules."""
    step = SEALED_BY.get(table)
    if step is None or not jobs:
        return None
    ledger = lake.ledger(step)
    suite = suite_digest(table)
    runs = []
    for job in jobs:
        entry = ledger.get(job, {})
        stamp = entry.get("seals", {}).get(table)
        digest = partition_digest(lake, lake.path(table, f"job_name={job}"))
        if digest is None and not stamp:
            continue  # no rows there, and none were sealed: nothing is read from it
        if not stamp or stamp.get("suite") != suite or digest != stamp.get("digest"):
            return None
        runs.append(entry.get("run_id", "?"))
    return sorted(set(runs)) or None


def table_jobs(lake: Lake, table: str) -> list[str] | None:
    """The jobs of every partition of `table`, for a reader that reads the whole table: None when the
    folder holds anything else a reader would see (a stray data file beside the partitions)."""
    names = [n for n in lake.listdir(lake.table_path(table)) if not n.startswith(("_", "."))]
    if any(not n.startswith("job_name=") for n in names):
        return None
    return [n[len("job_name="):] for n in names]
