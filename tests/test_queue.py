"""A job's review queue and peer scores as the finishing task computes them (`udfs.queue`), on a handful of Arrow
rows with hand-computed results (the Spark forms they are tested equal to on whole lakes: test_clustered,
test_tracks)."""
from __future__ import annotations

import pyarrow as pa

from gtlake.schemas import BOX_METRICS, PREDICTION_FINDINGS, REVIEW_QUEUE, TRACK_SUMMARY
from gtlake.udfs.config import QualityConfig
from gtlake.udfs.queue import peer_scores, queue_entries
from gtlake.udfs.tracks import STATS_SCHEMA

QUEUE_FILE, TRACKS_FILE = REVIEW_QUEUE.file_schema(), TRACK_SUMMARY.file_schema()
SRC, LAB = "s3://in/v/seq.json", "s3://out/j/0/SeqLabel.json"


def _table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)  # (columns not given: null)


def _inputs():
    names = ("sequence_id", "frame_no", "object_id", "object_name", "label", "flags", "score", "missing_before")
    suspects = _table([dict(zip(names, r)) for r in [
        ("j:0", 5, "o1", "Car:1", "Car", ["off_path"], 2.5, 0),
        ("j:0", 9, "o1", "Car:1", "Car", ["size_jump"], 2.2, 2),  # frames 7 and 8 have no box
        ("j:0", 5, "o2", "Car:2", "Car", ["low_iou", "class_flip"], 3.4, 0),
    ]], BOX_METRICS.file_schema())
    stats = _table([{"sequence_id": "j:0", "object_id": o, "object_name": f"Car:{o[1]}", "label": "Car",
                     "worst_frame": w, "worst_name": f"Car:{o[1]}", "worst_label": "Car"}
                    for o, w in (("o1", 5), ("o2", 5), ("o3", 2))], STATS_SCHEMA)
    tracks = pa.table({"sequence_id": ["j:0"] * 3, "object_id": ["o1", "o2", "o3"],
                       "object_name": ["Car:1", "Car:2", "Car:3"], "label": ["Car"] * 3,
                       "flags": [["off_path", "size_jump"], ["class_flip", "low_iou"], ["track_outlier"]]})
    frames = pa.table({"sequence_id": ["j:0"] * 10, "frame_no": pa.array(range(10), pa.int32()),
                       "frame_file": [f"{f:04d}.jpg" for f in range(10)]})
    sequences = pa.table({"sequence_id": ["j:0", "j:0"], "source_ref": [SRC, "s3://in/other.json"],
                          "labels_ref": [LAB, None], "labels_read": [True, False]})
    return suspects, tracks, stats, frames, sequences


def test_the_queue_merges_reasons_places_missing_boxes_and_outliers_and_ranks_the_entries():
    out = queue_entries(QUEUE_FILE, *_inputs())
    assert out.schema == QUEUE_FILE
    got = [(r["frame_no"], r["object_id"], r["reasons"], r["score"], r["rank"], r["frame_file"], r["source_ref"],
            r["labels_ref"]) for r in out.to_pylist()]
    assert got == [
        # the top reason's weight plus 0.25 per further reason; a missing box weighs 3; the outlier on its worst box
        (5, "o2", ["class_flip", "low_iou"], 3.65, 1, "0005.jpg", SRC, LAB),
        (7, "o1", ["missing_box"], 3.0, 2, "0007.jpg", SRC, LAB),
        (8, "o1", ["missing_box"], 3.0, 3, "0008.jpg", SRC, LAB),
        (5, "o1", ["off_path"], 2.5, 4, "0005.jpg", SRC, LAB),
        (9, "o1", ["size_jump"], 2.2, 5, "0009.jpg", SRC, LAB),
        (2, "o3", ["track_outlier"], 1.0, 6, "0002.jpg", SRC, LAB),
    ]


def test_a_models_findings_join_an_entry_or_make_their_own():
    box = {"label": "Car", "model_label": "Car", "score": 0.9, "frames": 1, "evidence": 1.0, "model": "m",
           "top": 20.0, "width": 30.0, "height": 40.0}
    findings = _table([
        {"sequence_id": "j:0", "frame_no": 5, "object_id": "o1", "reason": "badly_located", "left": 12.0, **box},
        {"sequence_id": "j:0", "frame_no": 5, "object_id": "o1", "reason": "class_disagrees", "left": 9.0, **box},
        *[{"sequence_id": "j:0", "frame_no": 3, "object_id": None, "reason": "overlooked", "left": x, **box}
          for x in (500.0, 900.0, 500.0)],  # the first box twice (two chains): one entry
    ], PREDICTION_FINDINGS.file_schema())
    out = queue_entries(QUEUE_FILE, *_inputs(), findings=findings).to_pylist()
    first = next(r for r in out if (r["frame_no"], r["object_id"]) == (5, "o1"))
    assert (first["object_id"], first["reasons"], first["score"]) == (
        "o1", ["badly_located", "class_disagrees", "off_path"], 3.5)  # class_disagrees weighs 3
    assert (first["model"], first["model_left"]) == ("m", 9.0)  # of two model boxes, the smaller
    overlooked = [(r["rank"], r["object_id"], r["object_name"], r["model_left"]) for r in out
                  if r["reasons"] == ["overlooked"]]
    assert [o[1:] for o in overlooked] == [(None, None, 500.0), (None, None, 900.0)]
    assert [r["rank"] for r in out] == list(range(1, len(out) + 1))


def test_nothing_suspect_is_an_empty_queue_and_tracks_without_peers_have_no_z():
    suspects, tracks, stats, frames, sequences = _inputs()
    out = queue_entries(QUEUE_FILE, suspects.slice(0, 0), tracks.slice(0, 0), stats.slice(0, 0), frames, sequences)
    assert out.num_rows == 0 and out.schema == QUEUE_FILE
    scored = peer_scores(_table([{"sequence_id": "j:0", "object_id": f"o{i}", "label": "Car", "n_boxes": 30,
                                  "iou_pred_p10": 0.9, "box_flags": []} for i in range(3)], STATS_SCHEMA),
                         QualityConfig(), TRACKS_FILE)  # 3 tracks: fewer than min_peers
    assert scored.schema == TRACKS_FILE and scored.column("peer_z").null_count == 3
    assert peer_scores(STATS_SCHEMA.empty_table(), QualityConfig(), TRACKS_FILE).num_rows == 0
