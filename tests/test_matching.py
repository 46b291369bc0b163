"""Audit comparison kernel: hand-made cases, and parity with motmetrics on real tracker output."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from gtlake.udfs.matching import AuditConfig, compare_sequence, iou_matrix, summarize


def boxes(rows: list[tuple]) -> pd.DataFrame:
    """(frame, id, left, top, width, height[, label]) tuples as a box frame."""
    out = []
    for r in rows:
        f, oid, left, top, w, h = r[:6]
        out.append({"frame_no": f, "object_id": oid, "label": r[6] if len(r) > 6 else "Vehicle",
                    "left": float(left), "top": float(top), "width": float(w), "height": float(h)})
    return pd.DataFrame(out, columns=["frame_no", "object_id", "label", "left", "top", "width", "height"])


def track(oid: str, frames, x0: float = 100, dx: float = 2, y: float = 100, w: float = 40, h: float = 30):
    return [(f, oid, x0 + dx * f, y, w, h) for f in frames]


def by_frame_change(rows: pd.DataFrame) -> dict:
    return {(int(r.frame_no), r.object_id, r.audit_object_id): r.change for r in rows.itertuples()}


def test_iou_matrix_hand_values():
    a = np.array([[0, 0, 10, 10], [5, 5, 10, 10]])
    b = np.array([[0, 0, 10, 10], [10, 10, 5, 5], [0, 5, 10, 10]])
    m = iou_matrix(a, b)
    assert m.shape == (2, 3)
    assert m[0, 0] == 1.0 and m[0, 1] == 0.0  # touching corners: no overlap
    assert m[0, 2] == pytest.approx(50 / 150)
    assert m[1, 1] == pytest.approx(25 / 100)


def test_identical_labels_are_unchanged_and_perfect():
    w = boxes(track("a", range(10)) + track("b", range(10), x0=300))
    rows = compare_sequence(w, w.copy())
    assert set(rows["change"]) == {"unchanged"}
    s = summarize(rows)
    assert s["mota"] == 1.0 and s["idf1"] == 1.0 and s["id_switches"] == 0 and s["fragmentations"] == 0


def test_each_kind_of_change():
    worker = boxes([
        (0, "m", 100, 100, 40, 30),           # moved 5 px right
        (0, "r", 300, 100, 40, 30),           # right edge dragged 6 px: resized, not moved
        (0, "c", 500, 100, 40, 30, "Vehicle"),  # class changed
        (0, "d", 700, 100, 40, 30),           # deleted by the auditor
        (0, "u", 900, 100, 40, 30),           # left alone
    ])
    auditor = boxes([
        (0, "m", 105, 100, 40, 30),
        (0, "r", 300, 100, 46, 30),
        (0, "c", 500, 100, 40, 30, "Pedestrian"),
        (0, "u", 900, 100, 40, 30),
        (0, "n", 100, 400, 40, 30),           # added by the auditor
    ])
    rows = compare_sequence(worker, auditor)
    got = {(r.object_id, r.audit_object_id): (r.change, r.moved, r.resized) for r in rows.itertuples()}
    assert got[("m", "m")] == ("moved", True, False)
    assert got[("r", "r")] == ("resized", False, True)
    assert got[("c", "c")][0] == "relabeled"
    assert got[("u", "u")] == ("unchanged", False, False)
    assert got[("d", None)][0] == "deleted"
    assert got[(None, "n")][0] == "added"
    s = summarize(rows)
    assert (s["misses"], s["false_positives"], s["gt_boxes"], s["worker_boxes"]) == (1, 1, 5, 5)
    assert s["mota"] == pytest.approx(1 - 2 / 5)


def test_within_tolerance_is_unchanged():
    rows = compare_sequence(boxes([(0, "a", 100, 100, 40, 30)]), boxes([(0, "a", 100.4, 99.7, 40.3, 30)]))
    assert rows["change"].tolist() == ["unchanged"]
    rows = compare_sequence(boxes([(0, "a", 100, 100, 40, 30)]), boxes([(0, "a", 100.4, 99.7, 40.3, 30)]),
                            AuditConfig(tolerance_px=0.1))
    assert rows["change"].tolist() == ["resized"]


def test_recreated_track_is_reidentified_without_identity_errors():
    worker = boxes(track("old", range(8)))
    auditor = boxes(track("new", range(8)))
    rows = compare_sequence(worker, auditor)
    assert set(rows["change"]) == {"reidentified"}
    s = summarize(rows)
    assert s["id_switches"] == 0 and s["idf1"] == 1.0 and s["mota"] == 1.0


def test_identity_swap_fixed_by_the_auditor():
    # Worker: from frame 5 on, track x follows object B and y follows A. The auditor fixed it.
    a_track, b_track = track("x", range(10), x0=100), track("y", range(10), x0=400)
    worker = [r for r in a_track if r[0] < 5] + [(f, "y", *rest) for f, _, *rest in a_track if f >= 5]
    worker += [r for r in b_track if r[0] < 5] + [(f, "x", *rest) for f, _, *rest in b_track if f >= 5]
    rows = compare_sequence(boxes(worker), boxes(a_track + b_track))
    changes = by_frame_change(rows)
    assert changes[(7, "y", "x")] == "reidentified" and changes[(7, "x", "y")] == "reidentified"
    assert changes[(2, "x", "x")] == "unchanged"
    assert (rows["change"] == "reidentified").sum() == 10
    s = summarize(rows)
    assert s["id_switches"] == 2 and s["misses"] == 0 and s["false_positives"] == 0
    assert s["idtp"] == 10 and s["idf1"] == pytest.approx(0.5)


def test_missed_frames_fragment_a_track():
    auditor = boxes(track("a", range(10)))
    worker = boxes([r for r in track("a", range(10)) if r[0] not in (3, 4)])
    rows = compare_sequence(worker, auditor)
    s = summarize(rows)
    assert (s["misses"], s["fragmentations"], s["id_switches"]) == (2, 1, 0)
    assert rows.loc[rows["mot_fragment"].fillna(False).astype(bool), "frame_no"].tolist() == [3]
    assert sorted(rows.loc[rows["change"] == "added", "frame_no"]) == [3, 4]


def test_box_dragged_far_keeps_its_identity():
    # The auditor moved a box that was nowhere near its object: same object-id, no overlap.
    rows = compare_sequence(boxes([(0, "a", 100, 100, 40, 30)]), boxes([(0, "a", 600, 300, 40, 30)]))
    assert rows["change"].tolist() == ["moved"] and rows["iou"].tolist() == [0.0]
    s = summarize(rows)
    assert (s["misses"], s["false_positives"]) == (1, 1)  # for CLEAR MOT, a box that far is a miss and a false box


def test_attribute_edits_are_noted():
    w = boxes([(0, "a", 100, 100, 40, 30)]).assign(attributes=[[("Occlusion", "None")]])
    a = boxes([(0, "a", 100, 100, 40, 30)]).assign(attributes=[[("Occlusion", "Partial")]])
    rows = compare_sequence(w, a)
    assert rows["change"].tolist() == ["unchanged"] and rows["attributes_changed"].tolist() == [True]


def test_empty_sides():
    w = boxes(track("a", range(3)))
    rows = compare_sequence(w, w.iloc[0:0])
    assert set(rows["change"]) == {"deleted"} and summarize(rows)["false_positives"] == 3
    rows = compare_sequence(w.iloc[0:0], w)
    assert set(rows["change"]) == {"added"} and summarize(rows)["misses"] == 3


@pytest.mark.parametrize("name", ["TUD-Campus", "TUD-Stadtmitte"])
def test_clear_mot_and_idf1_equal_motmetrics(name):
    """Ground truth = the auditor, tracker output = the worker: every count equals motmetrics' own."""
    import motmetrics as mm  # a dev dependency (setup.py), installed by make
    base = os.path.join(os.path.dirname(mm.__file__), "data", name)
    gt = mm.io.loadtxt(os.path.join(base, "gt.txt"), fmt="mot15-2D")
    ts = mm.io.loadtxt(os.path.join(base, "test.txt"), fmt="mot15-2D")
    with mm.lap.set_default_solver("scipy"):
        acc = mm.utils.compare_to_groundtruth(gt, ts, "iou", distth=0.5)
        ref = mm.metrics.create().compute(acc, metrics=[
            "num_objects", "num_predictions", "num_misses", "num_false_positives", "num_switches",
            "num_fragmentations", "mota", "motp", "idf1", "idtp"], name=name).iloc[0]

    def frame(df: pd.DataFrame) -> pd.DataFrame:
        d = df.reset_index()
        return pd.DataFrame({"frame_no": d.FrameId, "object_id": d.Id.astype(int).astype(str), "label": "person",
                             "left": d.X, "top": d.Y, "width": d.Width, "height": d.Height})

    s = summarize(compare_sequence(frame(ts), frame(gt)))
    assert s["gt_boxes"] == ref["num_objects"] and s["worker_boxes"] == ref["num_predictions"]
    assert s["misses"] == ref["num_misses"] and s["false_positives"] == ref["num_false_positives"]
    assert s["id_switches"] == ref["num_switches"] and s["fragmentations"] == ref["num_fragmentations"]
    assert s["idtp"] == ref["idtp"]
    assert s["mota"] == pytest.approx(ref["mota"], abs=1e-12)
    assert s["idf1"] == pytest.approx(ref["idf1"], abs=1e-12)
    assert s["motp_iou"] == pytest.approx(1 - ref["motp"], abs=1e-12)
    assert s["id_switches"] > 0 and s["misses"] > 100  # real tracker output, not a trivial case
