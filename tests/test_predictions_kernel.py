"""The second-opinion kernel (udfs/predictions.py): matching, calibration and the three findings, on hand-made
boxes, then on simulated footage with realistic model noise and planted omissions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gtlake.udfs.matching import iou_matrix
from gtlake.udfs.predictions import (Calibration, PredictionConfig, calibrate, match_sequence, pair_offsets,
                                     second_opinion)


def labels(rows):
    return pd.DataFrame(rows, columns=["frame_no", "object_id", "label", "left", "top", "width", "height"])


def preds(rows):
    df = pd.DataFrame(rows, columns=["frame_no", "label", "score", "left", "top", "width", "height", "track_id"])
    df["track_id"] = df["track_id"].astype(object).where(df["track_id"].notna(), None)
    return df


def test_a_prediction_pairs_with_the_label_of_its_class_first():
    lab = labels([(0, "a", "car", 0, 0, 10, 10), (0, "b", "person", 2, 0, 10, 10)])
    pr = preds([(0, "person", 0.9, 1, 0, 10, 10, None), (0, "car", 0.8, 50, 50, 5, 5, None),
                (1, "car", 0.9, 0, 0, 10, 10, None)])
    m = match_sequence(lab, pr)
    # the person box overlaps the car box more (IoU 9/11) than the person box (8/12), yet pairs with the person
    assert m["label_index"].tolist() == [1, -1, -1] and m["same_class"].tolist() == [True, False, False]
    assert m["iou"].iloc[0] == pytest.approx(90 / 110)


def test_calibrated_threshold_is_a_low_quantile_of_the_scores_labels_confirm():
    # confirmed (same-class match) scores 0.5 .. 0.95; unmatched and other-class ones do not count
    confirmed = np.linspace(0.5, 0.95, 10)
    m = pd.DataFrame({"label_index": [0] * 10 + [-1] * 5 + [0] * 3, "iou": 0.8,
                      "same_class": [True] * 10 + [False] * 8, "label": "car",
                      "score": np.concatenate([confirmed, [0.99] * 5, [0.01] * 3])})
    cal = calibrate(m, cfg=PredictionConfig(min_calibration=5))
    assert cal.threshold("car") == pytest.approx(np.quantile(confirmed, 0.1)) and cal.threshold("bus") == 0.5
    assert calibrate(m, cfg=PredictionConfig(min_calibration=50)).thresholds == {}  # too few matches: the default
    assert calibrate(m, cfg=PredictionConfig(min_calibration=5, thresholds=(("car", 0.7),))).threshold("car") == 0.7


def test_an_unlabeled_object_seen_on_several_frames_is_overlooked_a_lone_false_detection_is_not():
    lab = labels([(f, "a", "car", 10 + f, 10, 40, 30) for f in range(6)])
    seen = [(f, "person", 0.8 + 0.02 * f, 200 + 3 * f, 100, 20, 50, None) for f in range(1, 6)]
    lone = [(3, "car", 0.95, 600, 400, 40, 40, None)]
    tracked = [(f, "car", 0.7, 900, 300, 30, 30, "t7") for f in (0, 2, 4)]  # the model's track id links them
    pr = preds([(f, "car", 0.9, 10 + f, 10, 40, 30, None) for f in range(6)] + seen + lone + tracked)
    cal = Calibration({"car": 0.6, "person": 0.6}, {})
    found = second_opinion(lab, pr, match_sequence(lab, pr), cal)
    over = found[found.reason == "overlooked"].sort_values("left")
    assert len(over) == 2 and over["object_id"].isna().all()
    first = over.iloc[0]
    assert (first.frame_no, first.label, first.frames, first.left) == (5, "person", 5, 215.0)  # its surest frame
    assert over.iloc[1].frames == 3 and over.iloc[1].left == 900
    # under the threshold the same object is not said
    quiet = second_opinion(lab, pr, match_sequence(lab, pr), Calibration({"car": 0.6, "person": 0.95}, {}))
    assert (quiet.reason == "overlooked").sum() == 1


def test_a_tiny_fast_object_chains_and_is_named_where_its_labels_stopped():
    """A 5 px helmet moving 12 px a frame (over two of its sizes) is labeled on frames 0-3 and left out on 4-9; the
    model's box on frame 3 misses the last label by a pixel (unmatched, overlapping it a little) and is its surest:
    the chain is still one, named on a left-out frame; a car label crossing the helmet does not count as touching."""
    lab = labels([(f, "h", "Helmet", 100 + 12 * f, 50, 5, 5) for f in range(4)]
                 + [(f, "c", "Car", 80 + 12 * f, 40, 60, 30) for f in range(10)])
    pr = preds([(f, "Helmet", 0.99 if f == 3 else 0.8 + 0.01 * f, 100 + 12 * f + (3 if f == 3 else 0.4), 50.5, 5, 5,
                 None) for f in range(3, 10)])
    found = second_opinion(lab, pr, match_sequence(lab, pr), Calibration({"Helmet": 0.6, "Car": 0.6}, {}))
    (over,) = found[found.reason == "overlooked"].itertuples(index=False)
    assert over.frames == 7 and over.frame_no == 9 and over.left == pytest.approx(208.4)  # surest of 4-9
    # linked by a distance in box sizes only (the old rule), the chain breaks into pieces of one frame
    apart = second_opinion(lab, pr, match_sequence(lab, pr), Calibration({"Helmet": 0.6}, {}),
                           PredictionConfig(link_px=0))
    assert (apart.reason == "overlooked").sum() == 0


def test_badly_located_needs_more_than_the_models_own_offset_and_more_than_rounding():
    rng = np.random.default_rng(1)
    lab_rows, pred_rows = [], []
    for f in range(40):
        x = 100 + 2 * f
        lab_rows.append((f, "a", "car", x + rng.integers(-1, 2), 50, 60, 40))
        pred_rows.append((f, "car", 0.9, x, 50, 60, 40, None))
    lab_rows[20] = (20, "a", "car", 100 + 40 + 12, 50, 60, 40)  # 12 px off on a 60 px box: IoU 0.67, still clear
    lab, pr = labels(lab_rows), preds(pred_rows)
    m = match_sequence(lab, pr)
    cal = calibrate(m, pair_offsets(lab, pr, m), PredictionConfig(min_calibration=10))
    found = second_opinion(lab, pr, m, cal)
    bad = found[found.reason == "badly_located"]
    assert bad[["frame_no", "object_id"]].values.tolist() == [[20, "a"]] and bad.iloc[0].left == 140.0
    # a tiny box off by 2 px is rounding, whatever the model's spread
    tiny_lab = labels([(0, "b", "ball", 10, 10, 4, 4)])
    tiny_pr = preds([(0, "ball", 0.9, 12, 10, 4, 4, None)])
    tm = match_sequence(tiny_lab, tiny_pr)
    assert second_opinion(tiny_lab, tiny_pr, tm, Calibration({}, {"ball": (0.0, 0.01)}),
                          PredictionConfig(clear_iou=0.3)).empty


def test_a_track_the_model_calls_another_class_on_most_frames():
    lab = labels([(f, "a", "car", 10, 10, 40, 30) for f in range(10)] + [(f, "b", "car", 300, 10, 40, 30)
                                                                          for f in range(10)])
    pr = preds([(f, "person" if f < 8 else "car", 0.9, 10, 10, 40, 30, None) for f in range(10)]
               + [(f, "person" if f < 2 else "car", 0.9, 300, 10, 40, 30, None) for f in range(10)])
    found = second_opinion(lab, pr, match_sequence(lab, pr), Calibration({}, {}))
    dis = found[found.reason == "class_disagrees"]
    assert dis[["object_id", "label", "model_label", "frames"]].values.tolist() == [["a", "car", "person", 8]]


# --- simulated footage: true tracks, labels with omissions, a model with recall 0.9 --------------------------

REGIMES = {  # sizes (px), speed (sd of px a frame), false detections a frame
    "street": {"size": (16, 120), "speed": (4, 2), "false": 0.4},
    "sports": {"size": (8, 30), "speed": (8, 4), "false": 1.5},  # small, fast, a noisier model
}


def _simulate(seed: int, frames: int = 60, objects: int = 8, regime: str = "street"):
    rng = np.random.default_rng(seed)
    reg = REGIMES[regime]
    truth = []
    for k in range(objects):
        w, h = rng.uniform(*reg["size"]), rng.uniform(*reg["size"])
        x, y = rng.uniform(0, 1100), rng.uniform(0, 600)
        vx, vy = rng.normal(0, reg["speed"][0]), rng.normal(0, reg["speed"][1])
        cls = "person" if k % 2 else "car"
        for f in range(frames):
            truth.append((f, f"o{k}", cls, x + vx * f, y + vy * f, w, h))
    truth = labels(truth)
    # omissions: two whole tracks and a 10-frame part of a third
    whole = [f"o{k}" for k in rng.choice(objects, 2, replace=False)]
    part_obj = next(f"o{k}" for k in range(objects) if f"o{k}" not in whole)
    start = int(rng.integers(5, frames - 15))
    units = [(o, set(range(frames))) for o in whole] + [(part_obj, set(range(start, start + 10)))]
    gone = truth["object_id"].isin(whole) | ((truth["object_id"] == part_obj) & truth["frame_no"].between(
        start, start + 9))
    lab = truth[~gone].copy()
    lab[["left", "top", "width", "height"]] = lab[["left", "top", "width", "height"]].round() + rng.integers(
        -1, 2, size=(len(lab), 4)) * (rng.random((len(lab), 4)) < 0.3)
    # badly located labels: 5 boxes moved by a quarter of their size (at least 3 px), still overlapping clearly
    moved = rng.choice(len(lab), 5, replace=False)
    step = np.maximum(3.0, 0.25 * np.sqrt(lab["width"].to_numpy() * lab["height"].to_numpy()))[moved]
    lab.iloc[moved, lab.columns.get_loc("left")] += np.round(step)
    lab = lab.assign(moved=False)
    lab.iloc[moved, lab.columns.get_loc("moved")] = True
    # the model: 90% recall, jitter ~4% of the size, calibrated-looking scores, false detections
    rows = []
    for r in truth.itertuples(index=False):
        if rng.random() >= 0.9:
            continue
        s = np.sqrt(r.width * r.height)
        jit = rng.normal(0, max(0.8, 0.04 * s), 4)
        cls = r.label if rng.random() < 0.98 else ("car" if r.label == "person" else "person")
        rows.append((r.frame_no, cls, float(rng.beta(6, 2)), r.left + jit[0], r.top + jit[1],
                     max(2.0, r.width + jit[2]), max(2.0, r.height + jit[3]), None))
    for f in range(frames):
        for _ in range(rng.poisson(reg["false"])):
            w = rng.uniform(reg["size"][0], reg["size"][1] * 1.3)
            rows.append((f, str(rng.choice(["car", "person"])), float(rng.beta(2, 5)), rng.uniform(0, 1200),
                         rng.uniform(0, 650), w, w * rng.uniform(0.5, 2), None))
    return truth, lab.reset_index(drop=True), preds(rows), units


@pytest.mark.parametrize("regime", sorted(REGIMES))
def test_omissions_found_on_simulated_footage_and_few_clean_frames_queued(regime):
    """Issue 24's targets on a model of recall 0.9: omission recall >= 0.9, overlooked false alarms on at most 1% of
    frames; and clean labels rarely called badly located."""
    seqs = [_simulate(seed, regime=regime) for seed in range(12)]
    matches = [match_sequence(lab, pr) for _, lab, pr, _ in seqs]
    cal = calibrate(pd.concat(matches), pd.concat([pair_offsets(s[1], s[2], m) for s, m in zip(seqs, matches)]))
    found_units = total_units = false_alarms = frames = moved = moved_found = clean_called = 0
    for (truth, lab, pr, units), m in zip(seqs, matches):
        found = second_opinion(lab, pr, m, cal)
        over = found[found.reason == "overlooked"]
        hit = np.zeros(len(over), bool)  # a finding on an omitted box (a long omission may be found in pieces)
        for obj, unit_frames in units:
            total_units += 1
            true_obj = truth[truth.object_id == obj].set_index("frame_no")
            found_it = False
            for i, f in enumerate(over.itertuples(index=False)):
                if f.frame_no in unit_frames:
                    t = true_obj.loc[f.frame_no, ["left", "top", "width", "height"]].to_numpy(float)
                    if iou_matrix([f.left, f.top, f.width, f.height], t)[0, 0] >= 0.5:
                        hit[i] = found_it = True
            found_units += found_it
        false_alarms += int((~hit).sum())
        frames += truth.frame_no.nunique()
        bad = found[found.reason == "badly_located"].merge(lab, on=["frame_no", "object_id"], suffixes=("", "_l"))
        moved += int(lab["moved"].sum())
        moved_found += int(bad["moved"].sum())
        clean_called += int((~bad["moved"]).sum())
    assert clean_called <= 0.005 * sum(len(s[1]) for s in seqs), "clean labels called badly located"
    # A moved box can be said only where the model saw it (recall 0.9) confidently (0.9); on small boxes a quarter
    # of the size is 3-7 px, close to the model's own noise there: measured 46/60 (street) and 28/60 (sports).
    assert moved_found / moved >= 0.4, (moved_found, moved)
    recall = found_units / total_units
    assert recall >= 0.9, recall
    assert false_alarms / frames <= 0.01, (false_alarms, frames)
