"""udfs.detect on hand-made tracks, on the real seed-notebook file, and on generated samples."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gtlake.sample.annotate import Worker, annotate
from gtlake.sample.generate import SampleParams, generate
from gtlake.sample.scene import simulate_track
from gtlake.sample.plants import PLANT_KINDS
from gtlake.sample.scoring import by_regime, detector_queue, sample_boxes, score_queue
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


@pytest.mark.parametrize("seed", [21, 99])
def test_recall_and_clean_boxes_queued_per_regime_of_footage(tmp_path, seed):
    """A mixed sample (street, sports, aerial, a moving camera, 6 fps, sparse keyframes, partial occlusion: one
    video each in turn), every kind of mistake planted; scored per regime. Without the sample's omissions (objects
    left out of the labels, which only a model's predictions find: test_predictions): with them, seed 21's
    precision moves 0.805 -> 0.799, three more off_path entries on sports footage far from any omitted object
    (a track fewer changes the frame's camera estimate); `make bench` measures the default sample, omissions in."""
    generate(str(tmp_path), SampleParams(sequences=70, frames=150, objects=12, workers=8, seed=seed, omissions=0))
    planted = [json.loads(l) for l in (tmp_path / "planted.jsonl").read_text().splitlines()
               if not json.loads(l)["job_name"].endswith("-audit")]
    regimes = json.loads((tmp_path / "sample.json").read_text())["sequence_regimes"]
    boxes = sample_boxes(str(tmp_path))
    queue = detector_queue(boxes)
    overall = score_queue(queue, planted, len(boxes))
    assert overall["planted"] > 150 and set(overall["recall_by_kind"]) == set(PLANT_KINDS)
    assert overall["recall"] >= 0.92, overall["recall_by_kind"]
    assert overall["precision"] >= 0.8 and overall["false_share"] <= 0.005
    per = by_regime(queue, planted, boxes, regimes)
    assert len(per) == 7
    for regime, r in per.items():  # (BENCHMARKS.md: the figures per regime on larger samples)
        assert r["false_share"] <= 0.015, (regime, r["false_share"])
        assert r["recall"] >= 0.8, (regime, r["recall_by_kind"])


def test_camera_shake_shared_by_every_track_raises_nothing():
    frames = np.arange(60)
    shake = np.random.default_rng(0).normal(0, 6.0, 60)  # the whole picture jumps up to ~15 px a frame
    parts = [track(f"o{i}", frames, 100 + 300 * i + 3.0 * frames + shake, top=200 + 50 * i + shake / 2)
             for i in range(5)]
    out, missing = detect_sequence(pd.concat(parts))
    assert flagged(out, missing) == set()
    alone, _ = detect_sequence(parts[0])  # one track alone: its jumps are its own
    assert flagged(alone)


def test_a_sharp_turn_or_a_keyframe_kink_is_motion_not_a_mistake():
    frames = np.arange(40)
    left = np.where(frames < 20, 100 + 3.0 * frames, 160 + 11.0 * (frames - 20))  # 3 then 11 px a frame
    out, missing = detect_sequence(track("a", frames, left, width=12.0, height=10.0))
    assert flagged(out, missing) == set()


def test_small_box_quantization_is_not_a_size_jump():
    frames = np.arange(60)
    w = 25.0 + np.tile([0.0, 1.0, -1.0, 1.0], 15)  # one pixel either way, on a 25 px box: up to 8% of its area
    h = 25.0 + np.tile([1.0, 0.0, 1.0, -1.0], 15)
    out, _ = detect_sequence(track("a", frames, 100 + 6.0 * frames, width=w, height=h))
    assert flagged(out) == set()


def test_attribute_flip_inside_a_track():
    frames = np.arange(30)
    df = track("a", frames, 100 + 2.0 * frames)
    df["attributes"] = '{"Occlusion":"None"}'
    df.loc[df.frame_no.isin([12, 13]), "attributes"] = '{"Occlusion":"Heavy"}'  # two frames, then back
    df.loc[df.frame_no >= 25, "attributes"] = '{"Occlusion":"Partial"}'  # a change that lasts: not a flip
    out, _ = detect_sequence(df)
    assert {(f, fl) for _, f, fl in flagged(out)} == {(12, ("attribute_flip",)), (13, ("attribute_flip",))}


def test_attribute_flip_beside_a_real_change_and_under_another_attribute_changing():
    frames = np.arange(40)
    df = track("a", frames, 100 + 2.0 * frames)
    occ = np.where(frames < 20, "None", "Partial").astype(object)
    occ[[16, 17, 18]] = "Heavy"  # flipped, back to None for one box (19), then a real change to Partial at 20
    kind = np.where(frames < 10, "Car", "Van")  # another attribute changes for good at frame 10
    df["attributes"] = [f'{{"Occlusion":"{o}","Type":"{t}"}}' for o, t in zip(occ, kind)]
    out, _ = detect_sequence(df)
    assert {f for _, f, fl in flagged(out)} == {16, 17, 18}
    # a change that happens in steps (None, one box Heavy, then Partial for good) is not a flip: it does not go back
    df["attributes"] = [f'{{"Occlusion":"{o}"}}' for o in np.where(frames < 20, "None", "Partial")]
    df.loc[df.frame_no == 20, "attributes"] = '{"Occlusion":"Heavy"}'
    out, _ = detect_sequence(df)
    assert flagged(out) == set()


def test_broken_track_continuing_under_a_new_id():
    frames = np.arange(60)
    left = 100 + 4.0 * frames
    a = track("a", frames[:30], left[:30])
    b = track("b", frames[32:], left[32:])  # the same object, two frames later, under a new id
    far = track("c", frames[33:], left[33:] + 600)  # another car of the class starting elsewhere
    out, missing = detect_sequence(pd.concat([a, b, far]))
    assert flagged(out, missing) == {("b", 32, ("broken_track",))}


def test_a_gap_behind_another_object_or_marked_occluded_is_no_missing_box():
    frames = np.arange(40)
    occluded = track("a", np.r_[frames[:20], frames[22:]], 100 + 3.0 * np.r_[frames[:20], frames[22:]])
    truck = track("t", frames, 95 + 3.0 * frames, width=200.0, height=120.0, top=270.0)  # in front, covering it
    out, missing = detect_sequence(pd.concat([occluded, truck]))
    assert missing.empty
    alone, missing = detect_sequence(occluded.copy())
    assert set(missing.frame_no) == {20, 21}
    marked = occluded.copy()
    marked["attributes"] = '{"occluded":"no"}'
    marked.loc[marked.frame_no.between(16, 25), "attributes"] = '{"occluded":"partially"}'
    _, missing = detect_sequence(marked)
    assert missing.empty


def test_map_attributes_decode_like_the_json_text():
    import pyarrow as pa

    from gtlake.udfs.detect import attribute_states, map_attributes, occlusion_marked

    maps = [[("Occlusion", "none"), ("color", "red")], [("Occlusion", "partial")], None, [],
            [("color", "red"), ("Occlusion", "none")], [("color", None)], [("Truncated", "yes"), ("color", "blue")],
            [("visibility", "partly")], [("color", "null")]]
    column = pa.array([None] + maps, type=pa.map_(pa.string(), pa.string())).slice(1)  # sliced: offsets not at 0
    texts = pd.Series([None if m is None else json.dumps(dict(sorted(m)), separators=(",", ":")) for m in maps])
    decoded = map_attributes(column)

    def partition(states):  # which boxes share a value, per attribute (codes themselves may differ)
        return sorted(tuple(pd.factorize(s)[0]) for s in states)

    assert partition(decoded.states) == partition(attribute_states(texts))
    marked = occlusion_marked(pd.DataFrame({"attributes": texts}), np.arange(len(maps)))
    assert decoded.hidden.tolist() == marked.tolist() == [False, True, False, False, False, False, True, True, False]
    empty = map_attributes(pa.array([None, []], type=pa.map_(pa.string(), pa.string())))
    assert empty.states == [] and not empty.hidden.any()
