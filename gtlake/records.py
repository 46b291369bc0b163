"""A refused input record, and the per-kind counts that must balance (in = out + rejected)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, TypeVar

from gtlake import safejson

RECORD_MAX_CHARS = 2000
T = TypeVar("T")

# Every reason code, by the kind of record it refuses (README: "Reason codes").
VALUE_REASONS = ("invalid_utf8", "oversized_value", "nesting_too_deep")  # gtlake.safejson.problem's
REASONS: dict[str, tuple[str, ...]] = {
    "job_folder": ("invalid_job_name", "duplicate_job_folder", "empty_manifest", "unreadable"),
    "sequence": ("invalid_json", "not_an_object", *VALUE_REASONS, "missing_source_ref", "missing_task_type",
                 "unsupported_task_type", "invalid_metadata", "invalid_labels_ref", "invalid_labels",
                 "duplicate_labels_ref", "duplicate_data_object", "parse_error"),
    "labels_file": ("missing_ref", "empty_file", "malformed_labels_file", "nesting_too_deep", "unexpected_structure",
                    "duplicate_labels_ref", "foreign_labels_ref", "chained_source_missing", "unreadable_path", "unreadable",
                    "parse_error"),
    "frame": ("missing_frame_no", "invalid_frame_no", "duplicate_frame", "invalid_frame_attributes",
              "not_an_object", "invalid_shape_list", *VALUE_REASONS),
    "box": ("parent_rejected", "invalid_box_size", "invalid_box_position", "missing_object_id", "duplicate_object_id",
            "unknown_class_id", "invalid_attributes", "not_an_object", *VALUE_REASONS),
    "shape": ("parent_rejected", "invalid_vertices", "unknown_class_id", "invalid_attributes", "not_an_object",
              *VALUE_REASONS),
    "worker_response_file": ("empty_file", "invalid_json", "invalid_utf8", "nesting_too_deep", "unexpected_structure",
                             "unexpected_path", "unreadable", "parse_error"),
    "worker_answer": ("not_an_object", *VALUE_REASONS, "missing_worker_id", "invalid_worker_metadata",
                      "invalid_timestamp", "invalid_duration", "parse_error"),
    "activity_file": ("unreadable", "invalid_gzip"),
    "worker_event": ("invalid_line", "invalid_utf8", "invalid_json", "not_an_object", "oversized_value",
                     "nesting_too_deep", "missing_worker", "invalid_job_arn", "invalid_timestamp",
                     "missing_event_type", "parse_error"),
    "audit_sequence": ("source_not_in_lake",),
    "verdicts_file": ("unreadable", "empty_file", "oversized_value", "invalid_json", "nesting_too_deep",
                      "not_an_object", "unsupported_format", "unknown_job", "invalid_reviewer",
                      "invalid_queue_run_id", "invalid_verdict_list"),
    "verdict": ("not_an_object", *VALUE_REASONS, "unknown_sequence", "invalid_frame_no", "missing_object_id",
                "invalid_verdict", "invalid_timestamp", "invalid_reasons", "invalid_score", "invalid_rank",
                "duplicate_verdict", "parse_error"),
    "predictions_file": ("unreadable", "invalid_json", "nesting_too_deep", "unexpected_structure", "unknown_images",
                         "unknown_sequence"),
    "prediction": ("invalid_json", "not_an_object", *VALUE_REASONS, "invalid_line", "unknown_sequence",
                   "invalid_frame_no", "unknown_frame", "unknown_class", "invalid_score", "invalid_box",
                   "invalid_track_id", "unknown_image", "parse_error"),
}


def unforeseen(e: Exception) -> str:
    """The `detail` of a `parse_error`: an exception no check foresaw, named so that it can be reported."""
    return f"{type(e).__name__}: {str(e)[:300]}"


def guarded(parse: Callable[[], tuple[T | None, "Reject | None"]],
            refuse: Callable[[str], "Reject"]) -> tuple[T | None, "Reject | None"]:
    """`parse()` (a record's (row, None) or (None, Reject)), or (None, refuse(detail)) when it raises: a gap in the
    checks costs that one record, never the run."""
    try:
        return parse()
    except Exception as e:  # noqa: BLE001 - whatever it was, it is about this record
        return None, refuse(unforeseen(e))


class UnbalancedRun(RuntimeError):
    """Records read != records written + records rejected: the run is not committed."""


ON_FAILURE = ("fail", "warn")  # what a broken data-quality rule means for a run: stop it, or record it and go on


class ValidationFailed(RuntimeError):
    """A job run stopped by its data-quality gate (`gtlake.jobs.gate`): its output is not committed.
    `findings` are the broken rules (`gtlake.validation.Finding`)."""

    def __init__(self, message: str, findings: list):
        super().__init__(message)
        self.findings = findings


@dataclass(frozen=True)
class Reject:
    """One refused input record: where it was, what kind, why, and the record itself (cut)."""

    job_name: str
    source_uri: str
    locator: str
    record_kind: str
    reason_code: str
    detail: str
    record: str | None = None

    def row(self, run_id: str, step: str = "ingest") -> tuple:
        """The row of the `rejected` table (column order of schemas.REJECTED), refused by `step`."""
        rec = None if self.record is None else safejson.record_text(self.record, RECORD_MAX_CHARS)
        return (run_id, *(safejson.escape(v) for v in (self.source_uri, self.locator, self.record_kind,
                                                       self.reason_code, self.detail)), rec,
                safejson.escape(self.job_name), step)


@dataclass
class Counts:
    """Records in, out and rejected, per record kind."""

    seen: Counter = field(default_factory=Counter)
    out: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)

    def add(self, kind: str, seen: int = 0, out: int = 0, rejected: int = 0) -> None:
        """Add to a kind's counts."""
        self.seen[kind] += seen
        self.out[kind] += out
        self.rejected[kind] += rejected

    def merge(self, other: "Counts") -> None:
        """Add another Counts into this one."""
        self.seen.update(other.seen)
        self.out.update(other.out)
        self.rejected.update(other.rejected)

    def unbalanced(self) -> dict[str, tuple[int, int, int]]:
        """Kinds where in != out + rejected, with their (in, out, rejected)."""
        kinds = set(self.seen) | set(self.out) | set(self.rejected)
        return {k: (self.seen[k], self.out[k], self.rejected[k]) for k in sorted(kinds)
                if self.seen[k] != self.out[k] + self.rejected[k]}

    def as_dict(self) -> dict[str, dict[str, int]]:
        """{kind: {in, out, rejected}} for the runs table."""
        kinds = sorted(set(self.seen) | set(self.out) | set(self.rejected))
        return {k: {"in": self.seen[k], "out": self.out[k], "rejected": self.rejected[k]} for k in kinds}

    def totals(self) -> tuple[int, int, int]:
        """(in, out, rejected) over all kinds."""
        return sum(self.seen.values()), sum(self.out.values()), sum(self.rejected.values())
