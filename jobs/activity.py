"""Parse the Ground Truth WorkerActivity log (pure Python, no Spark).

Two ways in, one parser:

* a CloudWatch Logs export (S3 or a folder): gzip files of `<ISO timestamp> <json message>` lines;
* CloudWatch Logs itself (`filter_log_events`): each event's `message` is the JSON.

Times come in three forms: Java's `Date.toString()` ("Wed Aug 14 16:00:59 UTC 2019"), ISO 8601,
and epoch seconds as a string ("1565798464"); an empty string is "no time". A record that cannot
be read, or that names no worker, no labeling job or no event type, is refused with a reason.
"""
from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from datetime import datetime, timedelta, timezone

from gtlake.jobs.manifest import parse_creation_date
from gtlake import safejson
from gtlake.records import Reject, guarded

UNKNOWN_JOB = "_activity"  # rejected partition of records that name no labeling job
MONTHS = {m: k + 1 for k, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}
# Zone names Java prints for common JVM default zones; anything else is refused rather than guessed.
ZONES = {"UTC": 0, "GMT": 0, "Z": 0, "UT": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
         "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10, "BST": 1, "CET": 1, "CEST": 2, "IST": 5.5,
         "JST": 9, "KST": 9, "AEST": 10, "AEDT": 11}
_JAVA = re.compile(r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) "
                   r"(\d{2}):(\d{2}):(\d{2}) ([A-Z]{1,5}|[+-]\d{2}:?\d{2}) (\d{4})$")
_EPOCH = re.compile(r"^\d{1,13}(\.\d+)?$")
_JOB_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:labeling-job/([a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})$")
TIME_FIELDS = (("accepted_at", "task_accepted_time"), ("submitted_at", "task_submitted_time"),
               ("returned_at", "task_returned_time"), ("declined_at", "task_declined_time"))
OUTCOMES = {"TasksSubmitted": "submitted", "TasksReturned": "returned", "TasksDeclined": "declined"}


def _epoch(value: float) -> datetime:
    # 13 digits are milliseconds (as CloudWatch writes them); seconds would be past the year 5000.
    seconds = value / 1000.0 if value >= 1e11 else value
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)


def parse_activity_time(value: object) -> datetime | None:
    """A WorkerActivity time in any of its forms, as an aware UTC datetime; None for "" or null.

    Raises ValueError with what was found when the value is present but unreadable, or outside the times a task
    can have (safejson.TIME_MIN..TIME_MAX).
    """
    try:
        t = _activity_time(value)
    except (OverflowError, OSError):
        t = datetime.max.replace(tzinfo=timezone.utc)
    if t is not None and not safejson.in_time_range(t):
        raise ValueError(f"{safejson.record_text(value, 60)} is outside {safejson.TIME_MIN:%Y}-{safejson.TIME_MAX:%Y}")
    return t


def _activity_time(value: object) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a time, found {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"expected epoch seconds >= 0, found {value!r}")
        return _epoch(float(value))
    if not isinstance(value, str):
        raise ValueError(f"expected a time string, found {value!r}")
    text = value.strip()
    if _EPOCH.match(text):
        return _epoch(float(text))
    m = _JAVA.match(text)
    if m:
        mon, day, hh, mm, ss, zone, year = m.groups()
        if zone[0] in "+-":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            offset = sign * (int(digits[:2]) + int(digits[2:]) / 60)
        elif zone in ZONES:
            offset = ZONES[zone]
        else:
            raise ValueError(f"unknown time zone {zone!r} in {value!r}")
        try:
            local = datetime(int(year), MONTHS[mon], int(day), int(hh), int(mm), int(ss))
        except ValueError as e:
            raise ValueError(f"not a valid date: {value!r} ({e})") from None
        return (local - timedelta(hours=offset)).replace(tzinfo=timezone.utc)
    try:
        return parse_creation_date(text)
    except ValueError:
        raise ValueError(f"expected a Java Date, ISO 8601 or epoch-seconds time, found {value!r}") from None


def job_name_of(arn: object) -> str | None:
    """The labeling job name in a labeling-job ARN, or None if it is not one."""
    if not isinstance(arn, str):
        return None
    m = _JOB_ARN.match(arn.strip())
    return m.group(1) if m else None


def parse_event(message: str, source_uri: str, locator: str, fallback_time: datetime | None = None,
                raw: str | None = None) -> tuple[dict | None, Reject | None]:
    """One activity event (its JSON message) as a `worker_events` row (a dict), or the reason it is refused.

    `fallback_time` (the export line's or CloudWatch's own timestamp) stands in for a missing
    `event_timestamp`. `worker_id` is the log's own until the workers job maps it through the Cognito sub.
    """
    raw = message if raw is None else raw

    def refuse(job: str, reason: str, detail: str) -> tuple[None, Reject]:
        return None, Reject(job, source_uri, locator, "worker_event", reason, detail, raw)

    try:
        doc = safejson.loads(message)
    except safejson.BadDocument as e:
        return refuse(UNKNOWN_JOB, e.reason, f"the message: {e.detail}")
    if not isinstance(doc, dict):
        return refuse(UNKNOWN_JOB, "not_an_object", "expected a JSON object")
    bad = safejson.problem(doc)
    if bad:
        return refuse(UNKNOWN_JOB, *bad)
    job = job_name_of(doc.get("labeling_job_arn"))
    if job is None:
        return refuse(UNKNOWN_JOB, "invalid_job_arn",
                      f"labeling_job_arn must be arn:aws:sagemaker:<region>:<account>:labeling-job/<name>, "
                      f"found {doc.get('labeling_job_arn')!r}")

    def text(key: str) -> str | None:
        v = doc.get(key)
        return v.strip() or None if isinstance(v, str) else None

    worker, sub, event_type = text("worker_id"), text("cognito_sub_id"), text("event_type")
    if worker is None and sub is None:
        return refuse(job, "missing_worker", "neither worker_id nor cognito_sub_id is a non-empty string")
    if event_type is None:
        return refuse(job, "missing_event_type", "event_type is missing or empty")
    times: dict[str, datetime | None] = {}
    try:
        for col, key in TIME_FIELDS:
            times[col] = parse_activity_time(doc.get(key))
        event_time = parse_activity_time(doc.get("event_timestamp")) or fallback_time
    except ValueError as e:
        return refuse(job, "invalid_timestamp", str(e))
    for col, key in TIME_FIELDS[1:]:  # a task ends (submitted, returned, declined) after it was accepted
        if times["accepted_at"] and times[col] and times[col] < times["accepted_at"]:
            return refuse(job, "invalid_timestamp", f"{key} is before task_accepted_time")
    team_arn = text("workteam_arn")
    return {
        "worker_id": worker or sub, "log_worker_id": worker, "cognito_sub": sub,
        "cognito_user_pool_id": text("cognito_user_pool_id"),
        "workteam": team_arn.rsplit("/", 1)[-1] if team_arn else None, "workteam_arn": team_arn,
        "labeling_job_arn": doc["labeling_job_arn"].strip(), "event_type": event_type, **times,
        "event_time": event_time, "job_reference_code": text("job_reference_code"),
        "event_key": hashlib.sha256(message.strip().encode("utf-8")).hexdigest()[:32],
        "source_uri": source_uri, "locator": locator, "job_name": job,
    }, None


def parse_export(data: bytes, source_uri: str) -> tuple[list[dict], list[Reject], dict[str, int]]:
    """Rows and refusals of one export file (gzip or plain text); and records seen, by kind."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            return [], [Reject(UNKNOWN_JOB, source_uri, "file", "activity_file", "invalid_gzip",
                               f"not a readable gzip file: {e}")], {"activity_file": 1}
    rows, rejects = [], []
    lines = safejson.strip_bom(data).split(b"\n")
    seen = 0
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        seen += 1
        row, reject = guarded(lambda: _export_line(line, source_uri, f"line {n}"), lambda why: Reject(
            UNKNOWN_JOB, source_uri, f"line {n}", "worker_event", "parse_error", why, safejson.record_text(line, 2000)))
        if row is not None:
            rows.append(row)
        else:
            rejects.append(reject)
    return rows, rejects, {"worker_event": seen}


def _export_line(line: bytes, source_uri: str, loc: str) -> tuple[dict | None, Reject | None]:
    """One line of an export file: (row, None) or (None, Reject)."""
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError as e:
        return None, Reject(UNKNOWN_JOB, source_uri, loc, "worker_event", "invalid_utf8",
                            f"not UTF-8 text: {e.reason} at byte {e.start} (record: invalid bytes as \\xNN)",
                            safejson.record_text(line, 2000))
    stamp, _, message = text.partition(" ")
    fallback = None
    if text.startswith("{"):  # a bare message, without the export's timestamp
        message, stamp = text, ""
    else:
        try:
            fallback = parse_creation_date(stamp)
        except ValueError:
            return None, Reject(UNKNOWN_JOB, source_uri, loc, "worker_event", "invalid_line",
                                "expected '<ISO timestamp> <JSON message>'", text)
    return parse_event(message, source_uri, loc, fallback, raw=text)


def parse_cloudwatch_event(event: dict, log_group: str) -> tuple[dict | None, Reject | None]:
    """One event of `filter_log_events` (timestamp in ms, message, logStreamName, eventId)."""
    source = f"cloudwatch://{log_group}/{event.get('logStreamName', '')}"
    at = event.get("timestamp")
    try:
        fallback = parse_activity_time(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else None
    except ValueError:
        fallback = None
    message = event.get("message")
    return parse_event(message if isinstance(message, str) else "", source, str(event.get("eventId", at)), fallback)
