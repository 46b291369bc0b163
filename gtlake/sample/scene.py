"""Ground-truth motion of objects in a synthetic driving video (pure numpy, no I/O).

A scene is a camera view of `width` x `height` pixels at `fps` frames per second. Each object
moves smoothly: its centre follows a velocity with slowly varying acceleration, and its size
changes as it comes closer or moves away. Objects enter and leave the image, and some are fully
occluded for a few frames (a legitimate gap in the track, not a labeling mistake).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMAGE_WIDTH = 1920
IMAGE_HEIGHT = 1080
FPS = 25

# (class label, share of objects, typical full-box height in px, aspect w/h, speed px/frame)
CLASSES = (
    ("Vehicle", 0.55, (60.0, 320.0), (1.1, 2.2), (1.0, 12.0)),
    ("Pedestrian", 0.35, (70.0, 360.0), (0.32, 0.48), (0.3, 3.0)),
    ("Cyclist", 0.10, (80.0, 300.0), (0.45, 0.75), (1.0, 6.0)),
)
VEHICLE_TYPES = ("Car", "Car", "Car", "Van", "Truck", "Bus")
MIN_VISIBLE_SHARE = 0.3  # below this share of its full box inside the image, an object is not labeled
MIN_LABELED_HEIGHT = 16.0  # pixels: annotators skip objects smaller than this
MIN_TRACK_FRAMES = 8  # shorter-lived objects are not simulated


@dataclass(frozen=True)
class Track:
    """True path of one object: boxes for the frames where it is labelable."""

    label: str
    vehicle_type: str | None
    frame_no: np.ndarray  # int, 0-based
    left: np.ndarray
    top: np.ndarray
    width: np.ndarray
    height: np.ndarray
    occluded: np.ndarray  # "none" | "partial" per frame (fully occluded frames are absent)
    full: np.ndarray | None = None  # (n, 4) left, top, width, height of the whole object, before clipping


def _smooth_noise(rng: np.random.Generator, n: int, scale: float, span: int = 25) -> np.ndarray:
    """Low-frequency noise: white noise smoothed by a moving average of `span` frames."""
    raw = rng.normal(0.0, scale, n + span)
    kernel = np.ones(span) / span
    return np.convolve(raw, kernel, mode="valid")[:n]


def simulate_track(rng: np.random.Generator, n_frames: int) -> Track | None:
    """Simulate one object's true path over a video of `n_frames`; None if it is never labelable."""
    if n_frames < MIN_TRACK_FRAMES:
        return None
    shares = np.array([c[1] for c in CLASSES])
    label, _, (h_lo, h_hi), (a_lo, a_hi), (v_lo, v_hi) = CLASSES[rng.choice(len(CLASSES), p=shares)]
    full_h0 = rng.uniform(h_lo, h_hi)
    aspect = rng.uniform(a_lo, a_hi)

    # Life span in the scene: most objects are there from the start or appear part-way.
    start = 0 if rng.random() < 0.6 else int(rng.integers(0, max(1, n_frames // 2)))
    length = int(rng.integers(max(MIN_TRACK_FRAMES, n_frames // 4), n_frames + 1))
    end = min(n_frames, start + length)
    t = np.arange(start, end)
    n = t.size
    if n < MIN_TRACK_FRAMES:
        return None

    # Perspective: apparent size changes as the object approaches (>0) or recedes (<0), within
    # a factor 2.5 over its life, and its speed in pixels scales with its apparent size.
    growth = float(np.clip(rng.normal(0.0, 0.003), -np.log(2.5) / n, np.log(2.5) / n))
    scale = np.exp(growth * np.arange(n) + np.cumsum(_smooth_noise(rng, n, 0.0008)))
    full_h = full_h0 * scale
    full_w = full_h * aspect
    # Motion: a heading plus smooth acceleration.
    speed = rng.uniform(v_lo, v_hi) * (full_h0 / 200.0) ** 0.5
    heading = rng.uniform(-np.pi, np.pi) if label != "Vehicle" else rng.choice([0.0, np.pi]) + rng.normal(0, 0.15)
    vx = (speed * np.cos(heading) + np.cumsum(_smooth_noise(rng, n, 0.08))) * scale
    vy = (0.35 * speed * np.sin(heading) + np.cumsum(_smooth_noise(rng, n, 0.03))) * scale

    # Start inside the image, or just outside an edge when entering part-way.
    cx0 = rng.uniform(0.1, 0.9) * IMAGE_WIDTH
    if start > 0 and rng.random() < 0.5:
        cx0 = -0.45 * full_w[0] if vx[0] > 0 else IMAGE_WIDTH + 0.45 * full_w[0]
    cy0 = rng.uniform(0.45, 0.8) * IMAGE_HEIGHT
    cx = cx0 + np.concatenate([[0.0], np.cumsum(vx[:-1])])
    cy = cy0 + np.concatenate([[0.0], np.cumsum(vy[:-1])])

    # Visible box: the full box clipped to the image.
    x1, y1 = cx - full_w / 2, cy - full_h / 2
    x2, y2 = cx + full_w / 2, cy + full_h / 2
    cx1, cy1 = np.clip(x1, 0, IMAGE_WIDTH), np.clip(y1, 0, IMAGE_HEIGHT)
    cx2, cy2 = np.clip(x2, 0, IMAGE_WIDTH), np.clip(y2, 0, IMAGE_HEIGHT)
    visible_share = ((cx2 - cx1) * (cy2 - cy1)) / (full_w * full_h)
    keep = (visible_share >= MIN_VISIBLE_SHARE) & ((cy2 - cy1) >= MIN_LABELED_HEIGHT) & ((cx2 - cx1) >= 6)

    # Full occlusion for a few frames mid-track (a parked truck, a pedestrian behind a pole).
    occluded = np.where(visible_share < 0.95, "partial", "none").astype(object)
    if n > 40 and rng.random() < 0.3:
        o_len = int(rng.integers(3, 13))
        o_start = int(rng.integers(10, n - o_len - 10))
        keep[o_start:o_start + o_len] = False
        occluded[max(0, o_start - 4):o_start] = "partial"
        occluded[o_start + o_len:o_start + o_len + 4] = "partial"

    if keep.sum() < MIN_TRACK_FRAMES:
        return None
    return Track(
        label=label,
        vehicle_type=str(rng.choice(VEHICLE_TYPES)) if label == "Vehicle" else None,
        frame_no=t[keep],
        left=cx1[keep],
        top=cy1[keep],
        width=(cx2 - cx1)[keep],
        height=(cy2 - cy1)[keep],
        occluded=occluded[keep],
        full=np.stack([x1, y1, full_w, full_h], axis=1)[keep],
    )
