"""Parse worker-response files (`annotations/worker-response/iteration-<n>/<i>/<ts>.json`), pure Python.

One record per answer. Older and public-workforce files have no acceptanceTime,
timeSpentInSeconds or workerMetadata: those come out as nulls, not rejections. A value that is
present but unreadable (a malformed time, a negative duration) is refused with its reason.
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime

from gtlake.records import Reject
from gtlake.jobs.manifest import parse_creation_date

_PATH = re.compile(r"/worker-response/iteration-(\d+)/(\d+)/[^/]+$")


def parse_iso_time(value: object) -> datetime | None:
    """An ISO-8601 time as Ground Truth writes it ('2021-03-08T23:01:02.123Z'); None if absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 string, found {value!r}")
    return parse_creation_date(value)


def parse_worker_response(data: bytes, path: str, job_name: str) -> tuple[list[tuple], list[Reject], int]:
    """Rows of `worker_responses` (column order of the schema) from one file; (rows, rejects, records seen)."""
    m = _PATH.search(path)
    file_reject = None
    if m is None:
        file_reject = ("unexpected_path", "expected .../worker-response/iteration-<n>/<i>/<file>.json")
    elif not data.strip():
        file_reject = ("empty_file", "the file is empty")
    else:
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            file_reject = ("invalid_json", f"not valid JSON: {e}")
        else:
            if not isinstance(doc, dict) or not isinstance(doc.get("answers"), list):
                file_reject = ("unexpected_structure", "expected an object with an 'answers' list")
    if file_reject is not None:
        text = data[:2000].decode("utf-8", errors="replace")
        return [], [Reject(job_name, path, "file", "worker_response_file", *file_reject, text)], 1

    iteration, index = int(m.group(1)), int(m.group(2))
    rows, rejects = [], []
    for k, ans in enumerate(doc["answers"]):
        loc = f"answers[{k}]"
        raw = json.dumps(ans, ensure_ascii=False)
        if not isinstance(ans, dict):
            rejects.append(Reject(job_name, path, loc, "worker_answer", "not_an_object", "expected a JSON object", raw))
            continue
        worker = ans.get("workerId")
        if not isinstance(worker, str) or not worker:
            rejects.append(Reject(job_name, path, loc, "worker_answer", "missing_worker_id", "no 'workerId' string", raw))
            continue
        try:
            accepted = parse_iso_time(ans.get("acceptanceTime"))
            submitted = parse_iso_time(ans.get("submissionTime"))
        except ValueError as e:
            rejects.append(Reject(job_name, path, loc, "worker_answer", "invalid_timestamp", str(e), raw))
            continue
        active = ans.get("timeSpentInSeconds")
        if active is not None and (isinstance(active, bool) or not isinstance(active, (int, float))
                                   or not math.isfinite(active) or active < 0):
            rejects.append(Reject(job_name, path, loc, "worker_answer", "invalid_duration",
                                  f"timeSpentInSeconds must be a number >= 0, found {active!r}", raw))
            continue
        wall = (submitted - accepted).total_seconds() if accepted and submitted else None
        if wall is not None and wall < 0:
            rejects.append(Reject(job_name, path, loc, "worker_answer", "invalid_timestamp",
                                  "submissionTime is before acceptanceTime", raw))
            continue
        identity = (ans.get("workerMetadata") or {}).get("identityData") or {}
        if not isinstance(identity, dict):
            identity = {}
        content = ans.get("answerContent")
        rows.append((
            f"{job_name}:{index}", index, iteration, k, worker, identity.get("sub"), identity.get("issuer"),
            accepted, submitted, None if active is None else float(active), wall,
            None if content is None else json.dumps(content, ensure_ascii=False, separators=(",", ":")),
            path, job_name,
        ))
    return rows, rejects, len(doc["answers"])


def parse_file_batch(items: list[tuple[str, str]]) -> list[tuple]:
    """Read and parse (path, job) pairs on an executor.

    Returns tagged tuples: ('row', row, 0), ('reject', Reject, 0) and ('seen', record kind, n).
    """
    from gtlake.storage import read_bytes

    out = []
    for path, job in items:
        try:
            data = read_bytes(path)
        except OSError as e:
            out.append(("seen", "worker_response_file", 1))
            out.append(("reject", Reject(job, path, "file", "worker_response_file", "unreadable", str(e)), 0))
            continue
        rows, rejects, seen = parse_worker_response(data, path, job)
        whole_file = len(rejects) == 1 and rejects[0].record_kind == "worker_response_file"
        out.append(("seen", "worker_response_file" if whole_file else "worker_answer", seen))
        out.extend(("row", r, 0) for r in rows)
        out.extend(("reject", r, 0) for r in rejects)
    return out

