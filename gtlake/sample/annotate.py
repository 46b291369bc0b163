"""How a human labels a track in the Ground Truth video tool (pure numpy, no I/O).

Workers draw a box on keyframes and let the tool interpolate linearly in between, as the
Ground Truth video frame tool does. A careful worker sets keyframes often and draws tight
boxes; a hasty one sets few keyframes (interpolation drifts from a curving path) and draws
loosely. Coordinates come out as whole pixels, as the tool writes them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gtlake.sample.scene import IMAGE_HEIGHT, IMAGE_WIDTH, Track


@dataclass(frozen=True)
class Worker:
    """A labeler's habits; `carelessness` scales how many mistakes they make."""

    worker_id: str  # e.g. private.us-east-1.47a0115a1f1786e9
    cognito_sub: str
    keyframe_every: int  # frames between keyframes
    jitter_px: float  # std of each edge's error on a keyframe
    seconds_per_box: float  # active time per labeled box
    carelessness: float  # expected planted mistakes per track


@dataclass(frozen=True)
class LabeledTrack:
    """What the worker wrote for one object: integer boxes on the frames they labeled."""

    frame_no: np.ndarray
    left: np.ndarray
    top: np.ndarray
    width: np.ndarray
    height: np.ndarray


def _segments(frame_no: np.ndarray) -> list[slice]:
    """Contiguous runs of frame numbers (an occlusion splits a track into segments)."""
    breaks = np.flatnonzero(np.diff(frame_no) != 1) + 1
    bounds = np.concatenate([[0], breaks, [frame_no.size]])
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def annotate(track: Track, worker: Worker, rng: np.random.Generator) -> LabeledTrack:
    """Label `track` the way `worker` would: noisy keyframes, linear interpolation between them."""
    edges = np.stack([track.left, track.top, track.left + track.width, track.top + track.height])
    out = np.empty_like(edges)
    for seg in _segments(track.frame_no):
        idx = np.arange(seg.start, seg.stop)
        keys = idx[:: worker.keyframe_every]
        if keys[-1] != idx[-1]:
            keys = np.append(keys, idx[-1])
        scale = np.maximum(1.0, 0.02 * track.height[keys])  # bigger boxes, bigger absolute error
        noisy = edges[:, keys] + rng.normal(0.0, worker.jitter_px, (4, keys.size)) * (scale / 2.0)
        for k in range(4):
            out[k, idx] = np.interp(idx, keys, noisy[k])
    x1 = np.clip(np.round(out[0]), 0, IMAGE_WIDTH - 2)
    y1 = np.clip(np.round(out[1]), 0, IMAGE_HEIGHT - 2)
    x2 = np.clip(np.round(out[2]), x1 + 2, IMAGE_WIDTH)
    y2 = np.clip(np.round(out[3]), y1 + 2, IMAGE_HEIGHT)
    return LabeledTrack(
        frame_no=track.frame_no.copy(),
        left=x1.astype(np.int64),
        top=y1.astype(np.int64),
        width=(x2 - x1).astype(np.int64),
        height=(y2 - y1).astype(np.int64),
    )
