"""Parse worker-response files (`annotations/worker-response/iteration-<n>/<i>/<ts>.json`), pure Python.

One record per answer. Older and public-workforce files have no acceptanceTime,
timeSpentInSeconds or workerMetadata: those come out as nulls, not rejections. A value that is
present but unreadable (a malformed time, a negative duration) is refused with its reason.
"""
from __future__ import annotations

import math
import re
from datetime import datetime

from gtlake import safejson
from gtlake.records import RECORD_MAX_CHARS, Reject, guarded, unforeseen
from gtlake.safejson import INT32_MAX
from gtlake.jobs.manifest import parse_creation_date

_PATH = re.compile(r"/worker-response/iteration-(\d+)/(\d+)/[^/]+$")


def parse_iso_time(value: object) -> datetime | None:
    """An ISO-8601 time as Ground Truth writes it ('2021-03-08T23:01:02.123Z'); None if absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 string, found {safejson.record_text(value, 100)}")
    return parse_creation_date(value)


def _identity(answer: dict) -> dict | None:
    """workerMetadata.identityData of an answer ({} when absent), or None when it is not of the documented shape."""
    meta = answer.get("workerMetadata")
    identity = meta.get("identityData") if isinstance(meta, dict) else None
    if meta is not None and not isinstance(meta, dict) or identity is not None and not isinstance(identity, dict):
        return None
    identity = identity or {}
    if any(identity.get(k) is not None and not isinstance(identity[k], str) for k in ("sub", "issuer")):
        return None
    return identity


def _duration(value: object) -> float | None:
    """timeSpentInSeconds as a float (None when absent); ValueError when it is not a finite number >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"timeSpentInSeconds must be a number >= 0, found {safejson.record_text(value, 100)}")
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"timeSpentInSeconds must be a finite number >= 0, found {safejson.record_text(value, 100)}")
    return seconds


def _file_problem(data: bytes, path: str) -> tuple[tuple[str, str] | None, object]:
    """((reason, detail) when the whole file is refused, else None; the parsed document)."""
    m = _PATH.search(path)
    if m is None or int(m.group(1)) > INT32_MAX or int(m.group(2)) > INT32_MAX:
        return ("unexpected_path", "expected .../worker-response/iteration-<n>/<i>/<file>.json (n, i: 32-bit "
                                   "integers)"), None
    if not data.strip():
        return ("empty_file", "the file is empty"), None
    try:
        text = safejson.strip_bom(data).decode("utf-8")
    except UnicodeDecodeError as e:
        return ("invalid_utf8", f"not UTF-8 text: {e.reason} at byte {e.start} (record: invalid bytes as \\xNN)"), None
    try:
        doc = safejson.loads(text)
    except safejson.BadDocument as e:
        return (e.reason, e.detail), None
    if not isinstance(doc, dict) or not isinstance(doc.get("answers"), list):
        return ("unexpected_structure", "expected an object with an 'answers' list"), None
    return None, doc


def parse_worker_response(data: bytes, path: str, job_name: str) -> tuple[list[tuple], list[Reject], int]:
    """Rows of `worker_responses` (column order of the schema) from one file; (rows, rejects, records seen).
    No file or answer raises: each is a row or a Reject with its reason."""
    try:
        file_reject, doc = _file_problem(data, path)
    except Exception as e:  # noqa: BLE001 - a gap in the checks costs the file, never the run
        file_reject, doc = ("parse_error", unforeseen(e)), None
    if file_reject is not None:
        return [], [Reject(job_name, path, "file", "worker_response_file", *file_reject,
                           safejson.record_text(data, RECORD_MAX_CHARS))], 1

    m = _PATH.search(path)
    iteration, index = int(m.group(1)), int(m.group(2))
    rows, rejects = [], []
    for k, ans in enumerate(doc["answers"]):
        row, reject = guarded(lambda: _answer(ans, k, path, job_name, iteration, index), lambda why: Reject(
            job_name, path, f"answers[{k}]", "worker_answer", "parse_error", why, safejson.record_text(ans, 2000)))
        if row is not None:
            rows.append(row)
        else:
            rejects.append(reject)
    return rows, rejects, len(doc["answers"])


def _answer(ans: object, k: int, path: str, job_name: str, iteration: int,
            index: int) -> tuple[tuple | None, Reject | None]:
    """One answer of a worker-response file: (row, None) or (None, Reject)."""
    loc = f"answers[{k}]"

    def refuse(reason: str, detail: str) -> tuple[None, Reject]:
        return None, Reject(job_name, path, loc, "worker_answer", reason, detail, safejson.record_text(ans, 2000))

    if not isinstance(ans, dict):
        return refuse("not_an_object", "expected a JSON object")
    bad = safejson.problem(ans)
    if bad:
        return refuse(*bad)
    worker = ans.get("workerId")
    if not isinstance(worker, str) or not worker:
        return refuse("missing_worker_id", "no 'workerId' string")
    identity = _identity(ans)
    if identity is None:
        return refuse("invalid_worker_metadata", "workerMetadata must be an object whose identityData is an object "
                                                 "with string sub and issuer")
    try:
        accepted = parse_iso_time(ans.get("acceptanceTime"))
        submitted = parse_iso_time(ans.get("submissionTime"))
    except ValueError as e:
        return refuse("invalid_timestamp", str(e))
    try:
        active = _duration(ans.get("timeSpentInSeconds"))
    except ValueError as e:
        return refuse("invalid_duration", str(e))
    wall = (submitted - accepted).total_seconds() if accepted and submitted else None
    if wall is not None and wall < 0:
        return refuse("invalid_timestamp", "submissionTime is before acceptanceTime")
    content = ans.get("answerContent")
    return (f"{job_name}:{index}", index, iteration, k, worker, identity.get("sub"), identity.get("issuer"),
            accepted, submitted, active, wall, None if content is None else safejson.dumps(content), path,
            job_name), None


def parse_file_batch(items: list[tuple[str, str, str | None]]) -> list[tuple]:
    """Read and parse (path, job, why the listing says it must not be read) triples on an executor.

    Returns tagged tuples: ('row', row, 0), ('reject', Reject, 0) and ('seen', record kind, n).
    """
    from gtlake.storage import read_bytes

    out = []
    for path, job, error in items:
        try:
            if error:
                raise OSError(error)
            data = read_bytes(path)
        except Exception as e:  # noqa: BLE001 - one file that cannot be read costs that file
            out.append(("seen", "worker_response_file", 1))
            out.append(("reject", Reject(job, path, "file", "worker_response_file", "unreadable",
                                         str(e) if isinstance(e, OSError) else f"{type(e).__name__}: {e}"), 0))
            continue
        rows, rejects, seen = parse_worker_response(data, path, job)
        whole_file = len(rejects) == 1 and rejects[0].record_kind == "worker_response_file"
        out.append(("seen", "worker_response_file" if whole_file else "worker_answer", seen))
        out.extend(("row", r, 0) for r in rows)
        out.extend(("reject", r, 0) for r in rejects)
    return out
