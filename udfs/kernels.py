"""Per-track label-quality kernels: numpy over whole arrays, no Python loop over frames or rows.

Inputs are the boxes of one or many tracks, sorted by (track, frame_no). `first[i]` is True where
box i starts a track and `last[i]` where it ends one, so neighbours never cross tracks. Boxes are
(left, top, width, height) in pixels; frame numbers are Ground Truth's `frame-no`.
"""
from __future__ import annotations

from functools import lru_cache

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
        return np.clip(inter / union, 0.0, 1.0)  # (rounding can put identical boxes a hair above 1)


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
        return rolling_median_deviations((x,), track, window)[0]
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
    import pandas as pd

    code, uniq = pd.factorize(values, sort=True, use_na_sentinel=False)  # codes in sorted order: argmax takes the smallest
    tcode = pd.factorize(track, sort=True)[0]
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


def frame_median(values: np.ndarray, frame_key: np.ndarray, valid: np.ndarray, min_count: int) -> np.ndarray:
    """Per box, the median of `values` over the valid boxes of its frame (0 where fewer than `min_count`).
    `frame_key` names a box's frame: its frame number, or a key of (sequence, frame) over many sequences."""
    import pandas as pd

    s = pd.Series(np.where(valid, values, np.nan))
    grouped = s.groupby(frame_key)
    med = grouped.transform("median").to_numpy()
    n = grouped.transform("count").to_numpy()
    return np.where(n >= min_count, np.nan_to_num(med), 0.0)


def frame_keys(frame_no: np.ndarray, sequence: np.ndarray | None) -> np.ndarray:
    """One int64 key per (sequence, frame) of boxes of many sequences (`sequence`: a code per box; None for one
    sequence): equal exactly for boxes on the same frame of the same sequence, and a key plus k is frame + k of
    the same sequence."""
    f = frame_no.astype(np.int64)
    if sequence is None or f.size == 0:
        return f
    lo = f.min()
    return sequence.astype(np.int64) * (f.max() - lo + 1) + (f - lo)


def camera_offsets(frame_no: np.ndarray, first: np.ndarray, xs: tuple[np.ndarray, ...],
                   min_tracks: int = 3, sequence: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Per box, the offset of each coordinate in `xs` that the camera's jerks (shake, an abrupt pan or zoom)
    added on its frame, to subtract before judging a track.

    A track's own motion is smooth, so its second difference over three consecutive frames is small; a camera
    that shakes, or starts or stops a pan, adds the same second difference to every track of the frame. Per frame,
    the median over tracks (at least `min_tracks`) of that second difference is the camera's; integrated twice
    over frames it is the offset, less its centred 25-frame mean (the drift that integrating leaves is smooth,
    and no check sees it). A steady pan needs no removal: it is smooth too. `sequence` (a code per box, boxes
    grouped by it) holds many sequences' boxes apart: each has its own camera.
    """
    import pandas as pd

    f = frame_no.astype(np.int64)
    seq = np.zeros(f.size, dtype=np.int64) if sequence is None else sequence.astype(np.int64)
    prev_f, prev2_f = prev(f.astype(float), first), prev(prev(f.astype(float), first), first)
    triple = (prev_f == f - 1) & (prev2_f == f - 2)  # three consecutive frames of one track
    key = frame_keys(f, None if sequence is None else seq)
    out = []
    if f.size == 0:
        return tuple(np.zeros(x.shape) for x in xs)
    # one value per frame (the boxes of a frame share it), on every frame from each sequence's first to its last
    codes, inverse = np.unique(seq, return_inverse=True)
    lo = np.full(codes.size, np.iinfo(np.int64).max)
    hi = np.full(codes.size, np.iinfo(np.int64).min)
    np.minimum.at(lo, inverse, f)
    np.maximum.at(hi, inverse, f)
    length = hi - lo + 1
    at = (np.cumsum(length) - length)[inverse] + f - lo[inverse]
    span_seq = np.repeat(np.arange(codes.size), length)
    for x in xs:
        acc = x - 2 * prev(x, first) + prev(prev(x, first), first)
        span = np.zeros(length.sum())
        span[at] = frame_median(np.nan_to_num(acc), key, triple, min_tracks)
        offset = np.concatenate([np.cumsum(np.cumsum(part)) for part in np.split(span, np.cumsum(length)[:-1])])
        mean = pd.Series(offset).groupby(span_seq, sort=False).rolling(25, center=True, min_periods=1).mean()
        out.append((offset - mean.to_numpy())[at])
    return tuple(out)


def detrended(xs: tuple[np.ndarray, ...], frame_no: np.ndarray, first: np.ndarray, segment: np.ndarray,
              window: int) -> tuple[np.ndarray, ...]:
    """Each x of `xs` less its track's own locally steady motion: the running sum, within each segment, of the
    centred rolling median (over `window` steps) of its frame-to-frame velocity. What is left is flat for steady
    motion, however fast, so that a median over it tells a wrong stretch of a few frames (its velocities are
    outliers of the window's) from motion; on the raw coordinate, a median of a steadily moving object is just its
    centre value."""
    import pandas as pd

    step = frame_no - prev(frame_no.astype(float), first)
    velocity = np.stack([segment_rolling_median(np.where(first, np.nan, (x - prev(x, first)) / step), segment,
                                                window) for x in xs], axis=1)
    travel = np.where(first[:, None], 0.0, np.nan_to_num(velocity * step[:, None]))
    travel[np.r_[True, segment[1:] != segment[:-1]]] = 0.0
    travelled = pd.DataFrame(travel).groupby(segment, sort=False).cumsum().to_numpy()
    return tuple(x - travelled[:, i] for i, x in enumerate(xs))


def rolling_median_deviations(xs: tuple[np.ndarray, ...], track: np.ndarray, window: int) -> tuple[np.ndarray, ...]:
    """`rolling_median_deviation(x, track, window, full=True)` of several arrays: NaN where the centred window
    reaches past the track's ends. Tracks are contiguous runs, so a window lies inside one track when both its ends
    do, and one pass of `centred_medians` over the whole array is right wherever it is kept."""
    if window % 2 == 0:
        raise ValueError(f"window must be odd, got {window}")
    h, n = window // 2, track.size
    idx = np.arange(n)
    inside = (idx >= h) & (idx + h < n)
    inside[inside] = track[idx[inside] - h] == track[idx[inside] + h]
    out = []
    for x in xs:
        med = centred_medians(x, window)
        med[~inside] = np.nan
        out.append(np.abs(x - med))
    return tuple(out)


def centred_medians(x: np.ndarray, window: int) -> np.ndarray:
    """The median of each full centred window of `window` (odd) values of x; NaN where the window is not full or
    holds a NaN (pandas' `rolling(window, center=True, min_periods=window).median()`, exactly: the median of an
    odd count is one of the values). A partial sort of each window (numpy), several times faster than a skip list
    for the windows of a few frames the checks use."""
    from numpy.lib.stride_tricks import sliding_window_view

    h, n = window // 2, x.size
    out = np.full(n, np.nan)
    if n < window:
        return out
    x = np.asarray(x, dtype=float)
    nan = np.isnan(x)
    if window <= NETWORK_MAX:  # the windows' columns are shifted slices of x: sorted across, not row by row
        m = n - window + 1
        out[h:n - h] = sorted_columns([x[j:j + m] for j in range(window)], only=(h,))[h]  # (NaN: its row only)
    else:
        out[h:n - h] = np.partition(sliding_window_view(x, window), h, axis=1)[:, h]
    if nan.any():
        holes = np.convolve(nan, np.ones(window), mode="valid") > 0
        out[h:n - h][holes] = np.nan
    return out


NETWORK_MAX = 31  # the widest window sorted by a network (`sorted_columns`); wider ones row by row
NETWORK_ROWS = 8192  # rows a network sorts at a time: a block's columns (8 bytes each) stay in cache


@lru_cache(maxsize=None)
def sorting_network(n: int, only: tuple[int, ...] | None = None) -> tuple[tuple[int, int], ...]:
    """The comparators (i < j: the smaller value to i) of Batcher's odd-even merge sort for `n` inputs, in order:
    O(n log^2 n) of them, each one vector operation over every window at once. `only`: the output positions
    wanted (a median: the middle one), the comparators none of them depends on left out."""
    pairs = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    if only is None:
        return tuple(pairs)
    wanted, kept = set(only), []
    for i, j in reversed(pairs):
        if i in wanted or j in wanted:
            kept.append((i, j))
            wanted |= {i, j}
    return tuple(reversed(kept))


def sorted_columns(columns: list[np.ndarray], only: tuple[int, ...] | None = None) -> list[np.ndarray]:
    """The columns (equal-length float arrays, one per position of a window) sorted across, row by row: row r of
    the k-th result is the k-th smallest of the columns' values at r (`sorting_network`; exact, the values
    only move); with `only`, just the results at those positions are (the others are not meaningful). A NaN
    spoils its own row only. The inputs are not changed. Rows go through in blocks of `NETWORK_ROWS`, so that a
    block's columns stay in the processor's cache across the network's passes."""
    network = sorting_network(len(columns), only)
    n = len(columns[0]) if columns else 0
    out = [np.empty(n) for _ in columns]
    for lo in range(0, n, NETWORK_ROWS):
        cols = [np.array(c[lo:lo + NETWORK_ROWS], dtype=float) for c in columns]
        room = np.empty(len(cols[0]))
        for i, j in network:
            np.minimum(cols[i], cols[j], out=room)
            np.maximum(cols[i], cols[j], out=cols[j])
            cols[i], room = room, cols[i]
        for k, c in enumerate(cols):
            if only is None or k in only:
                out[k][lo:lo + NETWORK_ROWS] = c
    return out


def _segment_rolling_median_sorted(x: np.ndarray, segment: np.ndarray, window: int) -> np.ndarray:
    """`segment_rolling_median` for a narrow window: each segment laid out with `window // 2` NaN between
    segments, so that a window around a value holds its own segment's values and NaN only; the windows' columns
    are shifted slices of that layout (NaN as +inf, which sorts last), sorted across (`sorted_columns`), and each
    value's median picked by its window's count of values (a full window: the middle)."""
    n, h = x.size, window // 2
    starts = np.r_[True, segment[1:] != segment[:-1]]
    at = np.arange(n) + h * np.cumsum(starts)  # each value's place in the padded layout
    padded = np.full(n + h * (int(starts.sum()) + 1), np.nan)
    padded[at] = x
    known = np.r_[0, np.cumsum(~np.isnan(padded))]
    count = known[at + h + 1] - known[at - h]  # the window's values that are not NaN
    filled = np.where(np.isnan(padded), np.inf, padded)
    m = filled.size - 2 * h  # windows centred on the layout's places h .. size - h - 1; row r is centred on r + h
    ordered = sorted_columns([filled[j:j + m] for j in range(window)], only=tuple(range(h + 1)))
    rows = at - h
    lower, upper = np.maximum(count - 1, 0) // 2, count // 2
    med = ordered[h][rows]
    with np.errstate(invalid="ignore"):
        for low in np.unique(lower[count < window]):  # windows cut by a segment's end, or holding NaN
            pick = np.flatnonzero((count < window) & (lower == low))
            high = upper[pick]
            med[pick] = (ordered[low][rows[pick]] + np.choose(high - high.min(), [
                ordered[k][rows[pick]] for k in range(high.min(), high.max() + 1)])) / 2
    return np.where(count > 0, med, np.nan)


def segment_rolling_median(x: np.ndarray, segment: np.ndarray, window: int) -> np.ndarray:
    """Per value, the median of the non-NaN values of x in its centred `window` that lie in its own segment (a
    code per value, segments contiguous): pandas' `groupby(segment).rolling(window, center=True,
    min_periods=1).median()` in the values' order, without a Python call per segment. NaN where the window holds
    no value; an even count takes the mean of the middle two."""
    n = x.size
    if n == 0:
        return np.zeros(0)
    if window <= NETWORK_MAX:
        return _segment_rolling_median_sorted(np.asarray(x, dtype=float), segment, window)
    return _segment_rolling_median_by_rows(x, segment, window)


def _segment_rolling_median_by_rows(x: np.ndarray, segment: np.ndarray, window: int) -> np.ndarray:
    """`segment_rolling_median` for any window: each value's window gathered as a row and sorted."""
    n, h = x.size, window // 2
    starts = np.r_[True, segment[1:] != segment[:-1]]
    lo = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    hi = np.minimum.accumulate(np.where(np.r_[segment[1:] != segment[:-1], True], np.arange(n), n - 1)[::-1])[::-1]
    idx = np.arange(n)[:, None] + np.arange(-h, h + 1)[None, :]
    values = np.where((idx >= lo[:, None]) & (idx <= hi[:, None]), x[np.clip(idx, 0, n - 1)], np.nan)
    ordered = np.sort(values, axis=1)  # NaN last
    count = (~np.isnan(values)).sum(axis=1)
    rows = np.arange(n)
    with np.errstate(invalid="ignore"):
        med = (ordered[rows, np.maximum(count - 1, 0) // 2] + ordered[rows, count // 2]) / 2
    return np.where(count > 0, med, np.nan)
