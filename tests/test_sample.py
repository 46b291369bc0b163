"""`gtlake sample`: deterministic, realistic, and its planted mistakes are really in the files."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from gtlake.sample.annotate import Worker, annotate
from gtlake.sample.generate import SampleParams, generate
from gtlake.sample.plants import OMISSION_KINDS, PLANT_KINDS, Boxes, correct, plant_mistakes
from gtlake.sample.scene import IMAGE_HEIGHT, IMAGE_WIDTH, simulate_track

PARAMS = SampleParams(sequences=9, frames=100, objects=10, workers=5, seed=5)


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("s") / "sample"
    generate(str(out), PARAMS)
    return out


def _tracks(path: Path) -> dict[str, dict[int, dict]]:
    """object-id -> frame-no -> box, from a SeqLabel file."""
    out: dict[str, dict[int, dict]] = {}
    for fr in json.loads(path.read_text())["tracking-annotations"]:
        for b in fr["annotations"]:
            out.setdefault(b["object-id"], {})[int(fr["frame-no"])] = b
    return out


def _labels(sample: Path, job: str, index: int) -> Path:
    return sample / "output" / job / f"annotations/consolidated-annotation/output/{index}/SeqLabel.json"


def test_same_seed_same_bytes_other_seed_other_tree(sample, tmp_path):
    generate(str(tmp_path / "again"), PARAMS)
    assert _tree_digest(tmp_path / "again") == _tree_digest(sample)
    generate(str(tmp_path / "other"), SampleParams(**{**PARAMS.__dict__, "seed": 6}))
    assert _tree_digest(tmp_path / "other") != _tree_digest(sample)


def test_layout_is_ground_truths(sample):
    jobs = sorted(p.name for p in (sample / "output").iterdir())
    assert len(jobs) == 7  # three tracking jobs, an audit of each, a detection job
    attrs = set()
    for job in jobs:
        lines = (sample / "output" / job / "manifests/output/output.manifest").read_text().splitlines()
        for i, line in enumerate(lines):
            obj = json.loads(line)
            own = [k[:-9] for k, v in obj.items() if k.endswith("-metadata") and v["job-name"] == f"labeling-job/{job}"]
            assert len(own) == 1
            attrs.add(own[0])
            assert obj[own[0]].endswith(f"/{job}/annotations/consolidated-annotation/output/{i}/SeqLabel.json")
            assert list((sample / "output" / job / f"annotations/worker-response/iteration-1/{i}").glob("*:*.json"))
    assert len(attrs) == 7  # label attribute names differ across jobs
    assert (sample / "planted.jsonl").exists() and not list((sample / "output").rglob("planted*"))


def test_planted_mistakes_are_where_the_truth_file_says(sample):
    plants = [json.loads(l) for l in (sample / "planted.jsonl").read_text().splitlines()]
    assert {p["kind"] for p in plants} >= {"shrunk", "shifted", "duplicate_box", "attribute_flip"}
    assert set(p["kind"] for p in plants) <= set(PLANT_KINDS) | set(OMISSION_KINDS)  # omissions: below
    regimes = json.loads((sample / "sample.json").read_text())["regimes"]
    assert all(p["regime"] == regimes[p["video"]] for p in plants)
    for p in plants:
        tracks = _tracks(_labels(sample, p["job_name"], p["data_object_index"]))
        oid, f = p["object_ids"][0], p["frames"][0]
        if p["kind"] == "deleted_box":
            assert f not in tracks[oid] and f - 1 in tracks[oid] and f + 1 in tracks[oid]
        elif p["kind"] == "duplicate_box":
            assert set(tracks[oid]) == {f} and f in tracks[p["object_ids"][1]]
        elif p["kind"] == "class_flip":
            t = tracks[oid]
            assert t[f]["class-id"] != t[f - 1]["class-id"]
        elif p["kind"] in ("shrunk", "grown"):
            t = tracks[oid]
            ratio = t[f]["width"] * t[f]["height"] / (t[f - 1]["width"] * t[f - 1]["height"])
            assert (ratio < 0.8) if p["kind"] == "shrunk" else (ratio > 1.3), (p, ratio)
        elif p["kind"] == "attribute_flip":
            t = tracks[oid]
            before = t[f - 1]["label-category-attributes"]["Occlusion"]
            assert all(t[g]["label-category-attributes"]["Occlusion"] != before for g in p["frames"])
            assert t[p["frames"][-1] + 1]["label-category-attributes"]["Occlusion"] == before
        elif p["kind"] == "broken_track":
            new, old = tracks[oid], tracks[p["object_ids"][1]]
            assert min(new) == f and max(old) < f and f - max(old) - 1 == p["detail"]["dropped_frames"]


def test_audit_job_corrects_most_planted_mistakes(sample):
    plants = [json.loads(l) for l in (sample / "planted.jsonl").read_text().splitlines()]
    audited = [p for p in plants if p.get("audit_job")]
    assert audited and sum(p["corrected_by_audit"] for p in audited) >= 0.6 * len(audited)
    for p in audited:
        tracks = _tracks(_labels(sample, p["audit_job"], p["data_object_index"]))
        oid, f = p["object_ids"][0], p["frames"][0]
        if p["kind"] == "deleted_box":
            assert (f in tracks[oid]) == p["corrected_by_audit"]
        if p["kind"] == "duplicate_box":
            assert (oid not in tracks) == p["corrected_by_audit"]


def test_motion_is_realistic():
    rng = np.random.default_rng(0)
    tracks = [t for t in (simulate_track(rng, 300) for _ in range(300)) if t is not None]
    late_start = sum(t.frame_no[0] > 0 for t in tracks)
    early_end = sum(t.frame_no[-1] < 299 for t in tracks)
    gaps = sum(np.any(np.diff(t.frame_no) > 1) for t in tracks)
    assert late_start > 20 and early_end > 20 and gaps > 20  # objects enter, leave and get occluded
    for t in tracks:
        assert (t.left >= 0).all() and (t.left + t.width <= IMAGE_WIDTH + 1e-6).all()
        assert (t.top >= 0).all() and (t.top + t.height <= IMAGE_HEIGHT + 1e-6).all()
        seg = np.flatnonzero(np.diff(t.frame_no) == 1)
        cx = t.left + t.width / 2
        # 25 fps: the centre moves a small fraction of the box per frame
        assert np.median(np.abs(np.diff(cx))[seg] / t.width[seg]) < 0.15


def test_careful_worker_keys_more_often_and_jitters_less():
    rng = np.random.default_rng(1)
    track = simulate_track(rng, 200)
    while track is None:
        track = simulate_track(rng, 200)
    careful = Worker("w1", "s1", 3, 0.6, 3.0, 0.03)
    hasty = Worker("w2", "s2", 12, 3.0, 1.0, 0.5)
    errs = {}
    for w in (careful, hasty):
        lab = annotate(track, w, np.random.default_rng(2))
        errs[w.worker_id] = np.mean(np.abs(lab.left - track.left) + np.abs(lab.width - track.width))
    assert errs["w1"] < errs["w2"]


def test_correct_undoes_every_plant():
    rng = np.random.default_rng(3)
    n = 40
    clean = Boxes(np.tile(np.arange(n), 3), np.repeat(np.arange(3), n), np.zeros(3 * n, np.int64),
                  np.repeat([100, 300, 500], n) + np.tile(np.arange(n), 3), np.full(3 * n, 200), np.full(3 * n, 80),
                  np.full(3 * n, 60), np.full(3 * n, "none", dtype=object))
    planted, plants, _ = plant_mistakes(clean, 8, np.array([0, 1, 2]), 3, rng)
    assert len(plants) >= 5
    fixed = correct(planted, plants, [True] * len(plants))
    key = lambda b: sorted(zip(b.ident.tolist(), b.frame_no.tolist(), b.left.tolist(), b.width.tolist(), b.cls.tolist(),
                               b.occluded.tolist()))
    assert key(fixed) == key(clean) and key(planted) != key(clean)


def test_a_later_plant_never_moves_an_earlier_one():
    """An identity swap planted after a mistake on the other object's track would carry that mistake to another
    identity: the record would name a mistake that is not where it says (it happened, and it counted as a miss;
    about one seed in fifty here)."""
    n, k = 120, 6
    clean = Boxes(np.tile(np.arange(n), k), np.repeat(np.arange(k), n), np.zeros(k * n, np.int64),
                  np.repeat(100 + 150 * np.arange(k), n) + np.tile(np.arange(n), k), np.full(k * n, 200),
                  np.full(k * n, 80), np.full(k * n, 60), np.full(k * n, "none", dtype=object))
    for seed in range(200):
        _check_plants_in_place(*plant_mistakes(clean, 14, np.array([0, 1, 2]), k, np.random.default_rng(seed))[:2])


def _check_plants_in_place(planted: Boxes, plants: list) -> None:
    at = {(int(i), int(f)): r for r, (i, f) in enumerate(zip(planted.ident, planted.frame_no))}
    for p in plants:
        if p.kind == "class_flip":
            assert planted.cls[at[(p.idents[0], p.frames[0])]] == p.detail["to"], p
        elif p.kind in ("shrunk", "grown", "shifted", "edge_dragged"):
            for j, f in enumerate(p.before.frame_no):  # each box still differs from what it was
                r = at[(p.idents[0], int(f))]
                assert any(getattr(planted, c)[r] != getattr(p.before, c)[j] for c in ("left", "top", "width", "height"))
        elif p.kind == "deleted_box":
            assert (p.idents[0], p.frames[0]) not in at, p


def test_worker_timings_and_activity_log(sample):
    for f in (sample / "output").glob("*/annotations/worker-response/iteration-1/*/*.json"):
        (ans,) = json.loads(f.read_text())["answers"]
        wall = (datetime.fromisoformat(ans["submissionTime"].replace("Z", "+00:00"))
                - datetime.fromisoformat(ans["acceptanceTime"].replace("Z", "+00:00"))).total_seconds()
        assert 0 < ans["timeSpentInSeconds"] <= wall + 1e-3
    logs = list((sample / "worker-activity").rglob("*.gz"))
    assert logs
    kinds = set()
    for path in logs:
        assert "aws/sagemaker/groundtruth/worker-activity/" in str(path)
        with gzip.open(path, "rt") as f:
            for line in f:
                ts, msg = line.rstrip("\n").split(" ", 1)
                event = json.loads(msg)
                datetime.fromisoformat(ts.replace("Z", "+00:00"))
                kinds.add(event["event_type"])
                for k in ("task_accepted_time", "task_submitted_time", "task_returned_time", "task_declined_time"):
                    assert event[k] == "" or datetime.strptime(event[k], "%a %b %d %H:%M:%S UTC %Y")
                assert event["event_timestamp"].isdigit()
    assert "TasksSubmitted" in kinds and kinds - {"TasksSubmitted"}


def test_free_text_is_untrusted(sample):
    notes = set()
    for f in (sample / "output").rglob("SeqLabel.json"):
        doc = json.loads(f.read_text())
        for fr in doc.get("tracking-annotations") or doc.get("detection-annotations"):
            if "Notes" in fr.get("frame-attributes", {}):
                notes.add(fr["frame-attributes"]["Notes"])
    assert any("<" in n for n in notes) or any(not n.isascii() for n in notes)
    assert os.path.getsize(sample / "planted.jsonl") > 0


def test_videos_too_short_for_a_track_give_empty_labels(tmp_path):
    summary = generate(str(tmp_path), SampleParams(sequences=2, frames=5, objects=3, workers=1, seed=1))
    assert summary["boxes"] == 0 and summary["sequences"] > 0
    labels = next((tmp_path / "output").rglob("SeqLabel.json"))
    frames = json.loads(labels.read_text())
    assert all(not f["annotations"] for f in next(iter(frames.values())))


def test_objects_left_out_are_absent_from_the_labels_and_the_audit_adds_most_back(sample):
    """An omission's boxes are nowhere in the labeler's file (the object, or its first or last frames, is left
    out), and in the audit's file where the record says the audit added them back."""
    planted = [json.loads(l) for l in (sample / "planted.jsonl").read_text().splitlines()]
    omitted = [p for p in planted if p["kind"] in OMISSION_KINDS]
    assert {p["kind"] for p in omitted} == set(OMISSION_KINDS)
    for p in omitted:
        own = _tracks(_labels(sample, p["job_name"], p["data_object_index"])).get(p["object_ids"][0], {})
        frames = [int(b[0]) for b in p["detail"]["boxes"]]
        assert frames == p["frames"] and not set(frames) & set(own)
        if p["kind"] == "omitted_track":
            assert not own
        else:  # the first or the last frames of a track that goes on without them
            assert 6 <= len(frames) <= 15 and len(own) >= 10
            assert max(frames) < min(own) or min(frames) > max(own)
        if "audit_job" in p:
            audited = _tracks(_labels(sample, p["audit_job"], p["data_object_index"])).get(p["object_ids"][0], {})
            assert (set(frames) <= set(audited)) == p["corrected_by_audit"]
    assert sum(p.get("corrected_by_audit", False) for p in omitted) >= 0.6 * sum("audit_job" in p for p in omitted)
