"""udfs.detect on hand-made tracks, on the real seed-notebook file, and on generated samples."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gtlake.sample.annotate import Worker, annotate
from gtlake.sample.generate import SampleParams, generate
from gtlake.sample.scene import simulate_track
from gtlake.scoring import score_queue
from gtlake.udfs.config import QualityConfig
from gtlake.udfs.detect import detect_sequence


def track(oid, frames, left, top=300.0, width=100.0, height=60.0, cls="0"):
    frames = np.asarray(frames)
    n = frames.size
    f = lambda v: np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()
    return pd.DataFrame({"object_id": oid, "object_name": f"car:{oid}", "frame_no": frames, "class_id": cls,
                         "left": f(left), "top": f(top), "width": f(width), "height": f(height)})


def flagged(out, missing=None):
    rows = {(r.object_id, int(r.frame_no), tuple(r.flags)) for r in out.itertuples() if len(r.flags)}
    if missing is not None:
        rows |= {(r.object_id, int(r.frame_no), tuple(r.flags)) for r in missing.itertuples()}
    return rows


def test_smooth_fast_motion_raises_nothing():
    frames = np.arange(60)
    # 40 px per frame at 100 px wide: consecutive IoU about 0.43, below the original method's 0.5
    out, missing = detect_sequence(track("a", frames, 100 + 40 * frames))
    assert flagged(out, missing) == set()
    assert out["iou_prev"].iloc[1] == pytest.approx(60 / 140)


def test_one_wrong_frame_is_named_not_its_neighbours():
    frames = np.arange(40)
    left = 100 + 5.0 * frames
    left[20] += 45  # one frame shifted by almost half the box
    out, _ = detect_sequence(track("a", frames, left))
    assert {(o, f) for o, f, _ in flagged(out)} == {("a", 20)}
    assert "off_path" in out.loc[out.frame_no == 20, "flags"].item()


def test_shrunk_for_three_frames_is_caught_on_each():
    frames = np.arange(40)
    w = np.full(40, 120.0)
    w[20:23] = 80
    out, _ = detect_sequence(track("a", frames, 200 + 2.0 * frames, width=w))
    hits = {f for _, f, fl in flagged(out) if "size_jump" in fl}
    assert hits == {20, 21, 22}


def test_missing_box_versus_occlusion():
    one_gap = np.r_[0:15, 16:30]  # frame 15 missing: a deleted box
    occluded = np.r_[0:10, 18:30]  # 8 frames gone: an occlusion
    out, missing = detect_sequence(pd.concat([track("a", one_gap, 400 + 3.0 * one_gap),
                                              track("b", occluded, 900 + 3.0 * occluded, top=600)]))
    assert flagged(out, missing) == {("a", 15, ("missing_box",))}
    assert out.loc[(out.object_id == "a") & (out.frame_no == 16), "gap_before"].item() == 1


def test_class_flip_duplicate_and_identity_swap():
    frames = np.arange(30)
    a = track("a", frames, 100 + 4.0 * frames)
    a.loc[a.frame_no == 12, "class_id"] = "1"
    b = track("b", frames, 700 + 4.0 * frames)
    dup = track("dup", [8], 104.0 + 4 * 8)
    c = track("c", frames, 1200 - 3.0 * frames, top=500)
    d = track("d", frames, 1000 - 3.0 * frames, top=560)
    swap = c.frame_no >= 20
    c.loc[swap, ["left", "top"]], d.loc[swap, ["left", "top"]] = (d.loc[swap, ["left", "top"]].to_numpy(),
                                                                  c.loc[swap, ["left", "top"]].to_numpy())
    out, _ = detect_sequence(pd.concat([a, b, dup, c, d]))
    got = flagged(out)
    assert ("a", 12, ("class_flip",)) in got
    assert any(o == "dup" and "duplicate_box" in fl for o, f, fl in got)
    assert {(o, f) for o, f, fl in got if "id_swap" in fl} == {("c", 20), ("d", 20)}
    assert not any(o == "b" for o, _, _ in got)


def test_detection_boxes_without_object_id_get_no_track_checks():
    df = track("x", np.arange(5), 100.0)
    df["object_id"] = None
    out, missing = detect_sequence(df)
    assert out["iou_prev"].isna().all() and flagged(out, missing) == set()


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_entering_leaving_and_occlusion_raise_no_alarm(seed):
    """Simulated objects entering, leaving and occluded for several frames, labeled carefully, no mistakes."""
    rng = np.random.default_rng(seed)
    worker = Worker("w", "s", 4, 0.8, 3.0, 0.0)
    parts = []
    for i in range(60):
        t = simulate_track(rng, 250)
        if t is None:
            continue
        lab = annotate(t, worker, rng)
        parts.append(pd.DataFrame({"object_id": f"o{i}", "object_name": f"car:{i}", "frame_no": lab.frame_no,
                                   "class_id": "0", "left": lab.left, "top": lab.top, "width": lab.width,
                                   "height": lab.height}))
    df = pd.concat(parts)
    out, missing = detect_sequence(df)
    assert (out.gap_before > QualityConfig().max_missing_gap).sum() > 5  # there are occlusions to survive
    ends = out.groupby("object_id")["frame_no"].agg(["min", "max"])
    assert (ends["min"] > 0).sum() > 5 and (ends["max"] < 249).sum() > 5  # and objects entering and leaving
    assert flagged(out, missing) == set()


def test_seed_notebook_queue_holds_the_known_mistakes(fixtures_dir):
    doc = json.loads((fixtures_dir / "seed-notebook/SeqLabel.json").read_text())
    df = pd.DataFrame([(int(fr["frame-no"]), b["object-id"], b["object-name"], b["class-id"], b["left"], b["top"],
                        b["width"], b["height"]) for fr in doc["tracking-annotations"] for b in fr["annotations"]],
                      columns=["frame_no", "object_id", "object_name", "class_id", "left", "top", "width", "height"])
    out, missing = detect_sequence(df)
    queue = out[out["flags"].map(len) > 0][["object_name", "frame_no"]]
    queue = pd.concat([queue, missing[["object_name", "frame_no"]]])
    keys = set(zip(queue.object_name, queue.frame_no))
    assert keys & {("Vehicle:1", f) for f in range(137, 141)}  # the shrunk frames
    assert ("Vehicle:1", 217) in keys  # the deleted box, named by its own frame
    assert ("Vehicle:2", 102) in keys
    assert len(keys) <= 15  # out of 890 boxes; the original method flags 7 frames x all objects
    reference = json.loads((fixtures_dir / "seed-notebook/expected/notebook_method_reference.json").read_text())
    original = reference["results"]["size_thresh=0.25,iou_thresh=0.5"]["combined_problem_frames"]
    # The original names the pair index (216) for the box missing on frame 217; we name frame 217.
    assert 216 in original and 217 not in original


@pytest.mark.parametrize("seed, frames, objects, workers", [(21, 200, 12, 6), (99, 300, 15, 8)])
def test_recall_and_flag_share_on_generated_samples(tmp_path, seed, frames, objects, workers):
    generate(str(tmp_path), SampleParams(sequences=30, frames=frames, objects=objects, workers=workers, seed=seed))
    planted = [json.loads(l) for l in (tmp_path / "planted.jsonl").read_text().splitlines()]
    rows = []
    for p in (tmp_path / "output").glob("*/annotations/consolidated-annotation/output/*/SeqLabel.json"):
        job, index = p.parts[-6], p.parts[-2]
        if job.endswith("-audit") or "detect" in job:
            continue
        for fr in json.loads(p.read_text())["tracking-annotations"]:
            for b in fr["annotations"]:
                rows.append((f"{job}:{index}", int(fr["frame-no"]), b["object-id"], b["object-name"], b["class-id"],
                             b["left"], b["top"], b["width"], b["height"]))
    boxes = pd.DataFrame(rows, columns=["sequence_id", "frame_no", "object_id", "object_name", "class_id", "left",
                                        "top", "width", "height"])
    queues = []
    for sid, g in boxes.groupby("sequence_id"):
        out, missing = detect_sequence(g, QualityConfig())
        q = pd.concat([out[out["flags"].map(len) > 0], missing])[["object_id", "frame_no"]]
        queues.append(q.assign(sequence_id=sid))
    result = score_queue(pd.concat(queues), planted, len(boxes))
    assert result["planted"] > 50
    assert result["recall"] >= 0.95, result["recall_by_kind"]
    assert result["flag_share"] <= 0.05
