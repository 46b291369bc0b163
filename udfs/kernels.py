"""Per-track label-quality kernels: numpy over whole arrays, no Python loop over frames or rows.

Inputs are the boxes of one or many tracks, sorted by (track, frame_no). `first[i]` is True where
box i starts a track and `last[i]` where it ends one, so neighbours never cross tracks. Boxes are
(left, top, width, height) in pixels; frame numbers are Ground Truth's `frame-no`.
"""
from __future__ import annotations

import numpy as np

Box = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # left, top, width, height


def track_bounds(track: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, last): where each run of equal track codes starts and ends (input sorted by track)."""
    n = track.size
    change = np.ones(n + 1, dtype=bool)
    if n:
        change[1:n] = track[1:] != track[:-1]
    return change[:n], change[1:]


def prev(x: np.ndarray, first: np.ndarray) -> np.ndarray:
    """x of the previous box of the same track (NaN at a track's first box)."""
    out = np.empty(x.shape, dtype=float)
    out[1:] = x[:-1]
    out[first] = np.nan
    return out


def next_(x: np.ndarray, last: np.ndarray) -> np.ndarray:
    """x of the next box of the same track (NaN at a track's last box)."""
    out = np.empty(x.shape, dtype=float)
    out[:-1] = x[1:]
    out[last] = np.nan
    return out


def iou(a: Box, b: Box) -> np.ndarray:
    """Intersection over union of boxes a[i] and b[i] (continuous pixel coordinates; NaN stays NaN)."""
    ax1, ay1, aw, ah = a
    bx1, by1, bw, bh = b
    iw = np.minimum(ax1 + aw, bx1 + bw) - np.maximum(ax1, bx1)
    ih = np.minimum(ay1 + ah, by1 + bh) - np.maximum(ay1, by1)
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = aw * ah + bw * bh - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union


def centre_shift(a: Box, b: Box) -> np.ndarray:
    """Distance between the centres of a[i] and b[i], in units of the boxes' mean size (sqrt of area)."""
    acx, acy = a[0] + a[2] / 2, a[1] + a[3] / 2
    bcx, bcy = b[0] + b[2] / 2, b[1] + b[3] / 2
    size = (np.sqrt(a[2] * a[3]) + np.sqrt(b[2] * b[3])) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.hypot(acx - bcx, acy - bcy) / size


def log_ratio(x: np.ndarray, x_ref: np.ndarray) -> np.ndarray:
    """log(x / x_ref): symmetric size change (+0.22 is 25% larger, -0.22 about 20% smaller)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(x / x_ref)


def gaps(frame_no: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Frames a track is absent for just before each box (0 = seen on the previous frame; 0 at a track start)."""
    g = np.zeros(frame_no.shape, dtype=np.int64)
    g[1:] = frame_no[1:] - frame_no[:-1] - 1
    g[first] = 0
    return g


def interpolation_residual(x: np.ndarray, frame_no: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """|x[i] - linear interpolation of its two neighbours at frame_no[i]| (NaN at track ends).

    Smooth motion, however fast, is predicted by its neighbours; one wrong frame is not. Neighbours
    across a gap are interpolated by frame distance.
    """
    xp, xn = prev(x, first), next_(x, last)
    fp, fn = prev(frame_no.astype(float), first), next_(frame_no.astype(float), last)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = (frame_no - fp) / (fn - fp)
    return np.abs(x - (xp + w * (xn - xp)))


def rolling_median_deviation(x: np.ndarray, track: np.ndarray, window: int = 5, full: bool = False) -> np.ndarray:
    """|x - centred rolling median of x over `window` boxes of the same track|.

    Near track ends the window is shorter, or, with `full`, the result is NaN there (a one-sided
    median lags behind a moving coordinate).
    """
    import pandas as pd

    if full:
        # Tracks are contiguous runs: a window lies inside one track when both its ends do, so one
        # rolling median over the whole array (pandas' C loop) is right wherever it is kept.
        if window % 2 == 0:
            raise ValueError(f"window must be odd, got {window}")
        med = pd.Series(x).rolling(window, center=True, min_periods=window).median().to_numpy()
        h, n = window // 2, x.size
        idx = np.arange(n)
        inside = (idx >= h) & (idx + h < n)
        inside[inside] = track[idx[inside] - h] == track[idx[inside] + h]
        med[~inside] = np.nan
        return np.abs(x - med)
    med = pd.Series(x).groupby(track, sort=False).transform(
        lambda s: s.rolling(window, center=True, min_periods=1).median())
    return np.abs(x - med.to_numpy())


def robust_scale(x: np.ndarray, track: np.ndarray, floor: float) -> np.ndarray:
    """Per box, its track's robust spread of x: 1.4826 * median absolute value, at least `floor`."""
    import pandas as pd

    s = pd.Series(np.abs(x)).groupby(track, sort=False).transform("median").to_numpy() * 1.4826
    return np.maximum(np.nan_to_num(s, nan=floor), floor)


def track_mode(values: np.ndarray, track: np.ndarray) -> np.ndarray:
    """Per box, the most frequent value of its track (ties: the smallest)."""
    if values.size == 0:
        return values.copy()
    uniq, code = np.unique(values, return_inverse=True)  # codes in sorted order: argmax takes the smallest
    tcode = np.unique(track, return_inverse=True)[1]
    counts = np.zeros((tcode.max() + 1, uniq.size), dtype=np.int64)
    np.add.at(counts, (tcode, code), 1)
    return uniq[counts.argmax(axis=1)][tcode]


def same_key_pairs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs (a, b), a < b in sorted order, of entries with equal keys (numpy only)."""
    order = np.argsort(key, kind="stable")
    k = key[order]
    n = k.size
    if n < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(k[1:] != k[:-1]) + 1]
    ends = np.r_[starts[1:], n]
    group_end = np.repeat(ends, ends - starts)
    later = group_end - np.arange(n) - 1  # partners after each entry in its group
    a = np.repeat(np.arange(n), later)
    first_of = np.repeat(np.cumsum(later) - later, later)
    b = a + 1 + (np.arange(a.size) - first_of)
    return order[a], order[b]
