"""Appearance outliers along a track, from the embeddings of its box crops (numpy; no torch, no loop over rows).

    out = appearance_sequence(rows, vectors, AppearanceConfig())

For each box: the cosine distance between its crop's embedding and the previous crop's of the same
track (`appearance_distance`), and between its two neighbours' (`appearance_skip`). A track's
distances are scored against the track itself (median and MAD: robust, unlike the original method's
mean + 2 standard deviations, which one bad frame inflates), so a blurry or textureless object that
always varies a lot does not raise alarms, and a steady one raises them on a small real change.

* A box is suspect when its distance is `z` robust deviations over its baseline and `ratio` times
  that baseline: the object stopped looking like itself on this frame. The baseline is the larger
  of the track's median distance and the median of the `local_window` distances around the box,
  so a gradual change (another object passing in front, the object turning, light changing) that
  raises distances over many frames is not taken for a mistake, which changes one step at once.
* An isolated spike (box i unlike both neighbours, the neighbours alike) flags box i only, not the
  box after it, which merely returns to normal; a lasting change (an identity swap, a box moved to
  another object for good) flags the first frame of the new appearance.
* Distances are not taken across a gap longer than `max_gap` frames (an occlusion: the object may
  reappear changed), nor from a crop that could not be read; a track needs `min_pairs` distances
  before it is scored at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from gtlake.udfs import kernels as k
from gtlake.udfs.config import check_ranges, number_overrides
from gtlake.vocabulary import APPEARANCE_REASON

REASON = APPEARANCE_REASON


@dataclass(frozen=True)
class AppearanceConfig:
    """Settings of `gtlake embed` (`--config FILE`: a JSON object of overrides)."""

    crop_size: int = 224  # crops are resized to this square, as the ImageNet model was trained
    batch_size: int = 64  # crops per forward pass (raise on a GPU)
    z: float = 5.0  # robust deviations (1.4826 MAD) over the track's median distance...
    ratio: float = 2.5  # ... and at least this many times that median
    min_pairs: int = 8  # consecutive-crop distances a track needs before it is scored
    max_gap: int = 2  # frames a track may be absent and still be compared across (longer: occlusion)
    local_window: int = 9  # distances in the rolling median around a box (its local baseline)

    RANGES: ClassVar[dict[str, tuple[float, float, bool]]] = {
        "crop_size": (16, 2048, False), "batch_size": (1, 65536, False), "z": (0, 1000, True),
        "ratio": (0, 1000, True), "min_pairs": (1, 1000000, False), "max_gap": (0, 100000, False),
        "local_window": (1, 10001, False)}

    def __post_init__(self) -> None:
        check_ranges(self, self.RANGES)

    @classmethod
    def from_json(cls, text: str) -> "AppearanceConfig":
        """A config from a JSON object of overrides; unknown keys, wrong types or values out of range raise
        ValueError."""
        return cls(**number_overrides(cls, text, "embed"))


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise 1 - cos(a, b) of two (n, d) arrays; NaN where either row is all zeros or NaN."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = 1.0 - np.einsum("ij,ij->i", a, b) / (na * nb)
    d[(na == 0) | (nb == 0)] = np.nan
    return np.clip(d, 0.0, 2.0)


def _track_median_mad(values: np.ndarray, track: np.ndarray, n_tracks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-track (median, MAD, count) of the non-NaN values, as arrays indexed by track code."""
    med = np.full(n_tracks, np.nan)
    mad = np.full(n_tracks, np.nan)
    cnt = np.bincount(track[~np.isnan(values)], minlength=n_tracks)
    s = pd.Series(values)
    grouped = s.groupby(track)
    med_s = grouped.median()
    med[med_s.index.to_numpy()] = med_s.to_numpy()
    dev = pd.Series(np.abs(values - med[track]))
    mad_s = dev.groupby(track).median()
    mad[mad_s.index.to_numpy()] = mad_s.to_numpy()
    return med, mad, cnt


def appearance_flags(track: np.ndarray, frame_no: np.ndarray, vectors: np.ndarray, ok: np.ndarray,
                     cfg: AppearanceConfig = AppearanceConfig()) -> dict[str, np.ndarray]:
    """Distances, robust z and the appearance_change flag of boxes sorted by (track, frame_no).

    `track`: int codes (equal for one object, rows contiguous per track, frames ascending); `vectors`:
    (n, d) embeddings; `ok`: False where there is no crop (its row gets NaN and never a flag, and its
    neighbours are compared with each other across it, as across a short gap).
    """
    n = track.size
    out = {name: np.full(n, np.nan) for name in ("distance", "skip", "z")}
    out["flag"] = np.zeros(n, bool)
    if n == 0:
        return out
    # Work on the rows with a crop only; their previous/next row is then the previous/next crop.
    pos = np.flatnonzero(ok)
    t, f, v = track[pos], frame_no[pos].astype(np.int64), vectors[pos].astype(np.float64)
    first, last = k.track_bounds(t)
    seg_first = first | (k.gaps(f, first) > cfg.max_gap)  # an occlusion starts a new stretch
    seg_last = last.copy()
    seg_last[:-1] |= seg_first[1:]
    prev_v = np.roll(v, 1, axis=0)
    next_v = np.roll(v, -1, axis=0)
    dist = cosine_distance(v, prev_v)
    dist[seg_first] = np.nan
    skip = cosine_distance(prev_v, next_v)  # the neighbours of this box, compared with each other
    skip[seg_first | seg_last] = np.nan

    n_tracks = int(t.max()) + 1 if t.size else 0
    med, mad, cnt = _track_median_mad(dist, t, n_tracks)
    segment = np.cumsum(seg_first)
    local = (pd.Series(dist).groupby(segment).rolling(cfg.local_window, center=True, min_periods=1).median()
             .to_numpy())  # groupby-rolling keeps the groups' order: segments are contiguous and ascending
    m = np.fmax(med[t], local)
    scale = np.maximum(1.4826 * mad[t], 1e-6)
    z = (dist - m) / scale
    zs = (skip - m) / scale
    scored = cnt[t] >= cfg.min_pairs
    with np.errstate(invalid="ignore"):
        high = scored & (z > cfg.z) & (dist > cfg.ratio * m)
        skip_normal = ~((zs > cfg.z) & (skip > cfg.ratio * m))
    high_next = np.zeros_like(high)
    high_next[:-1] = high[1:] & ~seg_first[1:]
    spike = high & high_next & skip_normal & ~seg_last  # this box unlike both neighbours, which agree
    after_spike = np.zeros_like(spike)
    after_spike[1:] = spike[:-1] & ~seg_first[1:]
    flag = high & ~after_spike

    out["distance"][pos], out["skip"][pos], out["z"][pos], out["flag"][pos] = dist, skip, z, flag
    return out
