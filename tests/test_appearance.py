"""The appearance check's pieces with plain arrays: distances and flags, crops, the ResNet-18 and its weights."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from gtlake.udfs.appearance import AppearanceConfig, appearance_flags, cosine_distance
from gtlake.frames import decode_image
from gtlake.udfs.crops import clip_boxes, crop_boxes
from gtlake.udfs.embeddings import (IMAGENET_MEAN, IMAGENET_STD, Embedder, ResNet18, WeightsError, load_resnet18,
                                    seeded_state_dict, weights_digest)


def test_cosine_distance_hand_values():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    b = np.array([[1.0, 0.0], [-1.0, -1.0], [0.0, 2.0], [1.0, 0.0]])
    d = cosine_distance(a, b)
    assert d[:3] == pytest.approx([0.0, 2.0, 1.0])
    assert np.isnan(d[3])  # a zero vector has no direction


def _track(n: int, seed: int = 0, noise: float = 0.01, dim: int = 16) -> np.ndarray:
    """Embeddings of one object over n frames: one direction plus small frame-to-frame noise."""
    rng = np.random.default_rng(seed)
    base = rng.random(dim) + 0.5
    return base + rng.normal(0, noise, (n, dim))


def _flags(vectors, frames=None, ok=None, cfg=AppearanceConfig(), track=None):
    n = len(vectors)
    return appearance_flags(np.zeros(n, int) if track is None else track,
                            np.arange(n) if frames is None else np.asarray(frames), vectors,
                            np.ones(n, bool) if ok is None else ok, cfg)


def test_lasting_change_flags_its_first_frame_only():
    v = _track(30)
    v[12:] = _track(18, seed=1)  # another object from frame 12 on (an identity swap)
    out = _flags(v)
    assert np.flatnonzero(out["flag"]).tolist() == [12]
    assert np.isnan(out["distance"][0])  # nothing before the first box


def test_isolated_spike_flags_the_odd_frame_not_the_return():
    v = _track(30)
    v[9] = _track(1, seed=2)[0]  # one frame on the wrong object; its neighbours agree
    out = _flags(v)
    assert np.flatnonzero(out["flag"]).tolist() == [9]
    assert out["distance"][10] > 10 * np.nanmedian(out["distance"])  # frame 10 differs from 9 too...
    assert out["skip"][9] < 3 * np.nanmedian(out["distance"])  # ...but 8 and 10 agree: a spike, flagged once


def test_gradual_change_is_not_a_mistake():
    # Something passes in front of the object over 12 frames: distances rise for a while, step by step.
    a, b = _track(1, seed=0)[0], _track(1, seed=3)[0]
    w = np.clip((np.arange(40) - 14) / 12.0, 0, 1)[:, None]
    v = (1 - w) * a + w * b + np.random.default_rng(5).normal(0, 0.01, (40, a.size))
    assert not _flags(v)["flag"].any()


def test_no_distance_across_an_occlusion_and_no_crop_no_flag():
    v = _track(30)
    v[20:] = _track(10, seed=4)  # it looks different after it reappears...
    frames = np.r_[np.arange(20), np.arange(20) + 30][:30]  # ...after 10 frames hidden
    out = _flags(v, frames=frames)
    assert np.isnan(out["distance"][20]) and not out["flag"].any()
    ok = np.ones(30, bool)
    ok[7] = False  # an unreadable image: its neighbours are compared across it
    v2 = _track(30)
    out2 = _flags(v2, ok=ok)
    assert np.isnan(out2["distance"][7]) and not out2["flag"][7]
    assert out2["distance"][8] == pytest.approx(cosine_distance(v2[[8]], v2[[6]])[0])


def test_short_tracks_are_not_scored_and_tracks_are_scored_apart():
    v = _track(6)
    v[3] = _track(1, seed=9)[0]
    assert not _flags(v)["flag"].any()  # 5 distances < min_pairs
    quiet, loud = _track(20, seed=1, noise=0.001), _track(20, seed=2, noise=0.05)
    quiet[10] = _track(1, seed=7)[0]
    out = _flags(np.vstack([quiet, loud]), frames=np.r_[np.arange(20), np.arange(20)], track=np.repeat([0, 1], 20))
    assert np.flatnonzero(out["flag"]).tolist() == [10]  # the noisy track's usual variation raises nothing


def test_config_overrides_are_checked():
    assert AppearanceConfig.from_json('{"crop_size": 64, "z": 4}').crop_size == 64
    for bad in ('{"crop": 1}', '{"crop_size": 1.5}', '{"z": -1}', '[]', '{"batch_size": true}'):
        with pytest.raises(ValueError):
            AppearanceConfig.from_json(bad)


def test_clip_boxes_hand_values():
    boxes, clipped = clip_boxes(np.array([-10.0, 90.0, 200.0]), np.array([0.0, 0.0, 0.0]), np.array([20.0, 20.0, 5.0]),
                                np.array([10.0, 10.0, 5.0]), 100, 50)
    assert boxes.tolist() == [[0, 0, 10, 10], [90, 0, 100, 10], [100, 0, 100, 5]]
    assert clipped.tolist() == pytest.approx([0.5, 0.5, 1.0])


def test_crop_boxes_reads_the_right_pixels_and_clips():
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, :40] = (255, 0, 0)  # left half red, right half blue
    img[:, 40:] = (0, 0, 255)
    image = Image.fromarray(img)
    crops, clipped, ok = crop_boxes(image, [-20, 45, 100], [5, 5, 5], [50, 20, 10], [20, 20, 10], size=8)
    assert ok.tolist() == [True, True, False]  # the third box lies wholly outside the image
    assert clipped[0] == pytest.approx(0.4)
    assert (crops[0] == (255, 0, 0)).all() and (crops[1] == (0, 0, 255)).all()
    assert (crops[2] == 0).all() and crops.shape == (3, 8, 8, 3)


def test_decode_image_refuses_what_is_not_an_image():
    buf = io.BytesIO()
    Image.fromarray(np.full((4, 4), 9, np.uint8)).save(buf, format="PNG")  # greyscale comes back RGB
    assert decode_image(buf.getvalue()).mode == "RGB"
    with pytest.raises(ValueError, match="not a readable image"):
        decode_image(b"\xff\xd8 truncated jpeg")


# torchvision's resnet18().state_dict() key layout: 122 entries, downsample only on layer2-4's first block.
def _torchvision_keys() -> list[str]:
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = ["conv1.weight", *[f"bn1.{b}" for b in bn]]
    for layer in range(1, 5):
        for block in range(2):
            p = f"layer{layer}.{block}"
            keys += [f"{p}.conv1.weight", *[f"{p}.bn1.{b}" for b in bn], f"{p}.conv2.weight", *[f"{p}.bn2.{b}" for b in bn]]
            if layer > 1 and block == 0:
                keys += [f"{p}.downsample.0.weight", *[f"{p}.downsample.1.{b}" for b in bn]]
    return keys + ["fc.weight", "fc.bias"]


def _saved(state: object) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def test_resnet18_has_torchvision_state_dict_layout():
    state = seeded_state_dict(0)
    assert list(state) == _torchvision_keys()
    assert state["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1) and state["fc.weight"].shape == (1000, 512)
    assert all(torch.equal(state[k], seeded_state_dict(0)[k]) for k in state)  # deterministic
    assert not torch.equal(state["conv1.weight"], seeded_state_dict(1)["conv1.weight"])


def test_weights_are_checked_strictly():
    state = seeded_state_dict(0)
    model = load_resnet18(_saved({f"module.{k}": v for k, v in state.items()}))  # saved from DataParallel
    assert not model.training
    with pytest.raises(WeightsError, match="missing: layer4.1.bn2"):
        load_resnet18(_saved({k: v for k, v in state.items() if not k.startswith("layer4.1.bn2")}))
    with pytest.raises(WeightsError, match="wrong shape: conv1.weight"):
        load_resnet18(_saved({**state, "conv1.weight": torch.zeros(64, 3, 3, 3)}))
    with pytest.raises(WeightsError, match="not a torch state dict"):
        load_resnet18(b"<html>404</html>")

    class Evil:  # pickled code is refused (weights_only=True), never run
        def __reduce__(self):
            return (print, ("ran",))
    with pytest.raises(WeightsError, match="not a torch state dict"):
        load_resnet18(_saved({"x": Evil()}))
    assert len(weights_digest(_saved(state))) == 16


def test_embedder_normalizes_and_transposes():
    model = load_resnet18(_saved(seeded_state_dict(3)))
    crops = np.random.default_rng(0).integers(0, 256, (5, 32, 48, 3), dtype=np.uint8)  # not square: H != W
    got = Embedder(model, "cpu", batch_size=2).embed(crops)  # batches of 2, 2, 1
    x = (crops.astype(np.float32) / 255.0 - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    with torch.inference_mode():
        want = model.features(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    assert got.shape == (5, 512) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError):
        Embedder(ResNet18()).embed(np.zeros((2, 8, 8), np.uint8))
