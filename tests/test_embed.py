"""The embed job end to end on sample output with frame images: a box on the wrong object and an identity
swap are caught by appearance alone, boxes without an image keep their row, the review queue gets the reason."""
import json
import os

import pytest
import torch

from gtlake.cli import main
from gtlake.frames import frame_location
from gtlake.jobs.embed import EmbedJobConfig, run as embed
from gtlake.jobs.ingest import IngestConfig, run as ingest
from gtlake.jobs.quality import QualityJobConfig, run as quality
from gtlake.sample.generate import SampleParams, generate
from gtlake.udfs.appearance import AppearanceConfig
from gtlake.udfs.embeddings import seeded_state_dict
from tests.conftest import lake_snapshot, read_table

SMALL = AppearanceConfig(crop_size=64, batch_size=32)  # a small input keeps the CPU test fast; same network


def _labels(root, job, i=0):
    return os.path.join(root, "output", job, "annotations", "consolidated-annotation", "output", str(i), "SeqLabel.json")


def _boxes_by_object(frames):
    out = {}
    for fr in frames:
        for a in fr["annotations"]:
            out.setdefault(a["object-id"], {})[int(fr["frame-no"])] = a
    return out


def _pair_on(by_obj, frame, span=8, skip=()):
    """Two objects both labeled on frames frame-span .. frame+span."""
    ids = [o for o, f in sorted(by_obj.items()) if o not in skip and all(k in f for k in range(frame - span, frame + span + 1))]
    assert len(ids) >= 2, "the sample needs two objects seen around the frame"
    return ids[0], ids[1]


@pytest.fixture(scope="module")
def embedded(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("embed-sample")
    sample, lake = str(root / "sample"), str(root / "lake")
    generate(sample, SampleParams(sequences=3, frames=60, objects=8, seed=11, frames_images=True))
    # Plant what geometry alone cannot tell: a box on another object, and two identities swapped.
    path = _labels(sample, "vehicles-day-2026-10")
    doc = json.load(open(path, encoding="utf-8"))
    frames = doc["tracking-annotations"]
    by_obj = _boxes_by_object(frames)
    a, b = _pair_on(by_obj, 20)
    for key in ("left", "top", "width", "height"):  # frame 20: a's box drawn on b
        by_obj[a][20][key] = by_obj[b][20][key]
    c, d = _pair_on(by_obj, 42, skip=(a, b))
    for fr in frames:  # from frame 42 on, c and d exchange identities
        if int(fr["frame-no"]) >= 42:
            for ann in fr["annotations"]:
                if ann["object-id"] in (c, d):
                    ann["object-id"] = d if ann["object-id"] == c else c
    json.dump(doc, open(path, "w", encoding="utf-8"))
    video = json.loads(open(os.path.join(sample, "output", "street-tracking-b2", "manifests", "output",
                                         "output.manifest")).readline())["source-ref"].split("/")[-2]
    os.remove(os.path.join(sample, "input", "videos", video, "frame_000031.jpg"))  # frame-no 30's image is gone
    weights = str(root / "resnet18-seeded.pth")
    torch.save(seeded_state_dict(0), weights)
    ingest(spark, IngestConfig(input=os.path.join(sample, "output"), lake=lake))
    config = EmbedJobConfig(lake=lake, weights=weights, frames_root=os.path.join(sample, "input"), appearance=SMALL)
    result = embed(spark, config)
    return {"sample": sample, "lake": lake, "weights": weights, "config": config, "result": result,
            "wrong": (a, 20), "swap": (c, d, 42)}


def test_every_tracked_box_gets_a_row(embedded):
    r = embedded["result"]
    metrics = read_table(embedded["lake"], "embedding_metrics")
    boxes = read_table(embedded["lake"], "boxes")
    tracked = boxes[boxes["object_id"].notna()]
    assert r.status == "succeeded" and r.counts.totals()[:2] == (len(tracked), len(metrics))
    assert len(metrics.drop_duplicates(["job_name", "sequence_id", "frame_no", "object_id"])) == len(metrics)
    missing = metrics[metrics["crop_status"] == "image_missing"]
    assert len(missing) > 0 and set(missing["frame_no"]) == {30}
    assert set(missing["job_name"]) == {"street-tracking-b2", "street-tracking-b2-audit"}
    assert missing["appearance_distance"].isna().all() and not missing["flags"].map(len).any()
    assert r.crops == metrics["crop_status"].value_counts().to_dict()
    assert metrics["image_uri"].iloc[0].startswith(os.path.join(embedded["sample"], "input", "videos"))
    assert (metrics["model"] == r.model).all()


def _flagged(metrics, job="vehicles-day-2026-10"):
    m = metrics[(metrics["job_name"] == job) & metrics["flags"].map(len).astype(bool)]
    return set(zip(m["object_id"], m["frame_no"]))


def test_wrong_object_and_identity_swap_are_caught_by_appearance(embedded):
    metrics = read_table(embedded["lake"], "embedding_metrics")
    flagged = _flagged(metrics)
    a, f = embedded["wrong"]
    assert (a, f) in flagged
    c, d, g = embedded["swap"]
    assert any((o, g + k) in flagged for o in (c, d) for k in (-1, 0, 1))
    ok = metrics[metrics["crop_status"] == "ok"]
    assert ok["flags"].map(len).astype(bool).mean() <= 0.03  # few false alarms on clean tracks


def test_quality_merges_the_flags_into_the_review_queue(spark, embedded):
    lake = embedded["lake"]
    quality(spark, QualityJobConfig(lake=lake))
    queue = read_table(lake, "review_queue")
    a, f = embedded["wrong"]
    row = queue[(queue["object_id"] == a) & (queue["frame_no"] == f) & (queue["job_name"] == "vehicles-day-2026-10")]
    assert len(row) == 1 and "appearance_change" in row["reasons"].iloc[0]
    assert queue["reasons"].map(lambda r: "appearance_change" in r).sum() >= len(_flagged(read_table(lake, "embedding_metrics")))
    # Nothing changed since: embed and quality leave the lake as it is.
    before = lake_snapshot(lake)
    assert embed(spark, embedded["config"]).status == "no_new_input"
    assert quality(spark, QualityJobConfig(lake=lake)).status == "no_new_input"
    assert lake_snapshot(lake) == before


def test_frames_root_maps_s3_keys():
    assert frame_location("s3://in/videos/d-1/seq.json", "/data/mirror") == "/data/mirror/videos/d-1/seq.json"
    assert frame_location("s3://in/videos/d-1/", "s3://other/copy/") == "s3://other/copy/videos/d-1/"
    assert frame_location("s3://in/videos/d-1/", "/data/mirror") == "/data/mirror/videos/d-1/"  # one slash
    assert frame_location("/local/x.jpg", "/data") == "/local/x.jpg"
    assert frame_location("s3://in/a.jpg", None) == "s3://in/a.jpg"


def test_cli_refuses_without_weights_or_with_a_bad_file(embedded, tmp_path, capsys):
    lake = embedded["lake"]
    with pytest.raises(SystemExit) as e:
        main(["embed", "--lake", lake])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--weights is required" in err and "random weights are never used" in err and "Traceback" not in err
    bad = tmp_path / "resnet18.pth"
    bad.write_bytes(b"not a state dict")
    before = lake_snapshot(lake)
    assert main(["embed", "--lake", lake, "--weights", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a torch state dict" in err[0]
    with pytest.raises(SystemExit) as e:
        main(["embed", "--lake", lake, "--weights", str(tmp_path / "nope.pth")])
    assert e.value.code == 2 and "no such file" in capsys.readouterr().err
    assert lake_snapshot(lake) == before
