"""The lake's shared vocabularies: words that are values in its tables, named once, below every layer.

The kernels (`udfs/`) that produce them, the jobs (`jobs/`) that write them, and the data-quality suites
(`gtlake.validation`) that check them all import them from here; nothing here imports anything of gtlake's.
The reason codes of `rejected` are `gtlake.records.REASONS`, beside the refusal they describe.
"""
from __future__ import annotations

# review_queue.reasons, and the weight of each in the queue's score (README: "Reasons"). appearance_change comes
# from `gtlake embed` (udfs.appearance); overlooked, badly_located and class_disagrees from a model's predictions
# (`gtlake predictions`, udfs.predictions); the others from the quality job's track checks (udfs.detect).
REASON_WEIGHTS = {
    "id_swap": 4.0, "duplicate_box": 3.0, "class_flip": 3.0, "missing_box": 3.0, "overlooked": 3.0,
    "class_disagrees": 3.0, "off_path": 2.0, "size_jump": 2.0, "appearance_change": 2.0, "broken_track": 2.0,
    "badly_located": 2.0, "low_iou": 1.5, "track_outlier": 1.0, "attribute_flip": 1.0,
}
QUEUE_REASONS = tuple(REASON_WEIGHTS)
APPEARANCE_REASON = "appearance_change"

# audit_changes.change: what an auditor did to a worker's box.
CHANGES = ("unchanged", "moved", "resized", "relabeled", "reidentified", "added", "deleted")

# review_verdicts.verdict: what a reviewer said of a queue entry (`gtlake review`, `gtlake verdicts`).
VERDICTS = ("mistake", "fine", "unsure")

# prediction_findings.reason: what a model's predictions say of the labels (`gtlake predictions`).
PREDICTION_REASONS = ("overlooked", "badly_located", "class_disagrees")
PREDICTION_FORMATS = ("jsonl", "mot", "coco")

# embedding_metrics.crop_status: what became of a box's crop.
CROP_STATUSES = ("ok", "image_missing", "image_unreadable", "outside_image")

# runs.status: how a step's run ended.
SUCCEEDED, NO_NEW_INPUT, FAILED = "succeeded", "no_new_input", "failed"
RUN_STATUSES = (SUCCEEDED, NO_NEW_INPUT, FAILED)
