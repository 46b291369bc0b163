"""Find suspect boxes in one sequence's tracks (pandas in, pandas out; no loop over frames or rows).

`detect_sequence(boxes, config)` returns one metrics row per box, with `flags` (named reasons) and a
`score`, and one row per frame where a track is missing a box. A flag names the frame whose box is
suspect, never a pair index. The checks, each relative to the track's own behaviour so that fast
objects and noisy-but-consistent annotators do not raise alarms:

* off_path: an edge is far from the straight line through its neighbours (smooth motion, however
  fast, lies on it; one wrong frame does not). At track and occlusion ends, the line through the two
  boxes on the inner side is used.
* low_iou: frame-to-frame IoU under `iou_min` and well under the track's typical IoU.
* size_jump: area off its rolling median by more than `size_change_max` (not at the image border,
  where clipping changes sizes legitimately).
* missing_box: a gap of at most `max_missing_gap` frames inside a track (longer gaps are occlusions).
* class_flip: a class different from the rest of the track's.
* duplicate_box: two boxes of one class overlapping heavily on one frame (the shorter track's is flagged).
* id_swap: two tracks whose boxes fit the previous frame far better exchanged than as labeled.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from gtlake.udfs import kernels as k
from gtlake.udfs.config import QualityConfig

REASON_WEIGHTS = {
    "id_swap": 4.0, "duplicate_box": 3.0, "class_flip": 3.0, "missing_box": 3.0,
    "off_path": 2.0, "size_jump": 2.0, "appearance_change": 2.0, "low_iou": 1.5, "track_outlier": 1.0,
}  # appearance_change comes from `gtlake embed` (udfs.appearance), merged into the queue by the quality job


def _segment_bounds(first: np.ndarray, last: np.ndarray, gap_before: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Track bounds split at occlusions (gaps longer than `max_gap`)."""
    long_gap = gap_before > max_gap
    seg_first = first | long_gap
    seg_last = last.copy()
    seg_last[:-1] |= long_gap[1:]
    return seg_first, seg_last


def _edge_residual(x: np.ndarray, frame_no: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Interpolation residual inside segments; extrapolation from the inner side at segment ends."""
    r = k.interpolation_residual(x, frame_no, first, last)
    p1, p2 = k.prev(x, first), k.prev(k.prev(x, first), first)
    n1, n2 = k.next_(x, last), k.next_(k.next_(x, last), last)
    f = frame_no.astype(float)
    fp1, fp2 = k.prev(f, first), k.prev(k.prev(f, first), first)
    fn1, fn2 = k.next_(f, last), k.next_(k.next_(f, last), last)
    with np.errstate(invalid="ignore", divide="ignore"):
        back = np.abs(x - (p1 + (p1 - p2) * (f - fp1) / (fp1 - fp2)))
        fwd = np.abs(x - (n1 + (n1 - n2) * (f - fn1) / (fn1 - fn2)))
    r = np.where(last & ~first, back, r)
    r = np.where(first & ~last, fwd, r)
    return r


def _pairs_on_frames(frame_no: np.ndarray, cls: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (a, b) of pairs of masked boxes of one class on the same frame."""
    pos = np.flatnonzero(mask)
    cls_code = np.unique(cls[mask], return_inverse=True)[1]
    a, b = k.same_key_pairs(frame_no[mask].astype(np.int64) * (cls_code.max(initial=0) + 1) + cls_code)
    return pos[a], pos[b]


def detect_sequence(boxes: pd.DataFrame, cfg: QualityConfig = QualityConfig()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(metrics per box, missing boxes) for one sequence's boxes. A box's `missing_before` counts the
    missing frames just before it (the rows of the second frame).

    `boxes` needs object_id, frame_no, class_id, left, top, width, height; other columns are carried.
    Boxes without an object_id (detection jobs) get metrics NaN and no track checks.
    """
    df = boxes.sort_values(["object_id", "frame_no"], kind="stable", na_position="last").reset_index(drop=True)
    n = len(df)
    track = pd.factorize(df["object_id"].fillna("\0none"))[0]
    tracked = df["object_id"].notna().to_numpy()
    first, last = k.track_bounds(track)
    f = df["frame_no"].to_numpy()
    L, T, W, H = (df[c].to_numpy(dtype=float) for c in ("left", "top", "width", "height"))
    box = (L, T, W, H)
    pbox = tuple(k.prev(x, first) for x in box)
    gap = k.gaps(f, first)
    iou_prev = k.iou(box, pbox)
    seg_first, seg_last = _segment_bounds(first, last, gap, cfg.max_missing_gap)

    segment = np.cumsum(seg_first)  # occlusion-free stretches of a track
    size = np.sqrt(W * H)
    tol = (cfg.residual_rel * size + cfg.residual_px) * cfg.motion_scale
    edges = (L, T, L + W, T + H)
    # An edge off the line through its neighbours (one wrong frame), or off its centred baseline median
    # (a wrong stretch of a few frames, which the line through corrupted neighbours would miss). One
    # wrong frame also pulls its neighbours' line residuals up by half: only a local peak counts.
    line = np.fmax.reduce(np.stack([_edge_residual(e, f, seg_first, seg_last) for e in edges]))
    baseline = np.fmax.reduce(np.stack([k.rolling_median_deviation(e, segment, cfg.baseline_window, full=True)
                                        for e in edges]))
    peak = line >= np.fmax(k.prev(line, seg_first), k.next_(line, seg_last))
    residual = np.fmax(np.where(peak | np.isnan(line), line, np.nan), baseline)
    norm = residual / tol
    typical = k.robust_scale(np.nan_to_num(norm), track, floor=1.0 / cfg.residual_track_k)
    # Near where a track appears or disappears (image border or occluder), boxes legitimately grow or
    # shrink as the object comes into view: ask for twice the evidence there, and no size/IoU alarms.
    pos = pd.Series(np.ones(n)).groupby(segment).cumsum().to_numpy()
    from_end = pd.Series(np.ones(n))[::-1].groupby(segment[::-1]).cumsum()[::-1].to_numpy()
    entering = (pos <= cfg.edge_frames) | (from_end <= cfg.edge_frames)
    strictness = np.where(entering, 2.0, 1.0)
    off_path = (norm > strictness) & (norm > strictness * cfg.residual_track_k * typical)

    typical_iou = pd.Series(iou_prev).groupby(track).transform("median").to_numpy()
    low_pair = (iou_prev < cfg.iou_min) & (iou_prev < typical_iou - cfg.iou_drop) & (gap <= cfg.max_missing_gap)
    # A low pair (i-1, i) whose box i-1 was the odd one out (i-2 and i agree) names i-1, not i.
    skip = k.iou(box, tuple(k.prev(k.prev(x, first), first) for x in box))
    prev_was_spike = np.nan_to_num(skip) >= typical_iou - cfg.iou_drop
    low_iou = low_pair & ~prev_was_spike & ~entering

    # The image size is not in the labels: its far edges are where boxes stop, trusted only when at least
    # two tracks reach them (a single track's largest extent is not an edge). Near edges are 0.
    def far_edge(right: np.ndarray) -> float:
        if not n:
            return np.inf
        edge = np.nanmax(right)
        reach = np.unique(track[right >= edge - cfg.border_px])
        return edge if reach.size >= 2 else np.inf

    at_border = ((L <= cfg.border_px) | (T <= cfg.border_px) | (L + W >= far_edge(L + W) - cfg.border_px)
                 | (T + H >= far_edge(T + H) - cfg.border_px))
    log_area = np.log(W * H)
    size_dev = np.fmax(k.rolling_median_deviation(log_area, segment, cfg.window, full=True),
                       k.rolling_median_deviation(log_area, segment, cfg.baseline_window, full=True))
    size_jump = (size_dev > np.log1p(cfg.size_change_max)) & ~at_border & ~entering

    cls = df["class_id"].astype("string").fillna("").to_numpy()
    class_flip = (cls != k.track_mode(cls, track)) & tracked

    # Duplicates: same class, heavy overlap on most of the shorter track's frames (crossing objects
    # overlap only briefly); the shorter track's boxes are the suspects.
    n_boxes = pd.Series(track).map(pd.Series(track).value_counts()).to_numpy()
    duplicate = np.zeros(n, dtype=bool)
    a, b = _pairs_on_frames(f, cls, tracked)
    if a.size:
        heavy = k.iou(tuple(x[a] for x in box), tuple(x[b] for x in box)) >= cfg.duplicate_iou
        a, b = a[heavy], b[heavy]
        together = pd.Series(1, index=pd.MultiIndex.from_arrays([track[a], track[b]])).groupby(level=[0, 1]).transform("size")
        share = together.to_numpy() / np.minimum(n_boxes[a], n_boxes[b])
        keep = share >= cfg.duplicate_share
        a, b = a[keep], b[keep]
        duplicate[a[n_boxes[a] <= n_boxes[b]]] = True
        duplicate[b[n_boxes[b] <= n_boxes[a]]] = True

    # Identity swaps: among boxes that jumped, two on one frame that fit each other's previous box.
    jumped = tracked & (gap == 0) & ~first & (off_path | (iou_prev < typical_iou - cfg.iou_drop))
    id_swap = np.zeros(n, dtype=bool)
    a, b = _pairs_on_frames(f, cls, jumped)
    if a.size:
        cur_a, cur_b = tuple(x[a] for x in box), tuple(x[b] for x in box)
        prev_a, prev_b = tuple(x[a] for x in pbox), tuple(x[b] for x in pbox)
        gain = (k.iou(prev_a, cur_b) + k.iou(prev_b, cur_a)) - (k.iou(prev_a, cur_a) + k.iou(prev_b, cur_b))
        swapped = gain > cfg.swap_gain
        id_swap[a[swapped]] = id_swap[b[swapped]] = True

    flags_by_reason = {"off_path": off_path & tracked, "low_iou": low_iou & tracked, "size_jump": size_jump & tracked,
                       "class_flip": class_flip, "duplicate_box": duplicate, "id_swap": id_swap}
    names = np.array(list(flags_by_reason))
    matrix = np.stack(list(flags_by_reason.values()), axis=1) if n else np.zeros((0, len(names)), dtype=bool)
    weights = np.array([REASON_WEIGHTS[r] for r in names])
    severity = np.clip(np.nan_to_num(norm / np.maximum(cfg.residual_track_k * typical, 1.0)), 0, 10) / 10
    score = matrix @ weights + np.where(matrix.any(axis=1), severity, 0.0)

    out = df.copy()
    out["iou_prev"] = np.where(tracked, iou_prev, np.nan)
    out["center_shift"] = np.where(tracked, k.centre_shift(box, pbox), np.nan)
    out["area_change"] = np.where(tracked, k.log_ratio(W * H, pbox[2] * pbox[3]), np.nan)
    out["aspect_change"] = np.where(tracked, k.log_ratio(W / H, pbox[2] / pbox[3]), np.nan)
    out["gap_before"] = np.where(tracked & ~first, gap, 0).astype("int32")
    out["residual"] = np.where(tracked, norm, np.nan)
    none: list[str] = []
    flags = [none] * n  # almost no box is flagged: build lists only for those that are
    for i in np.flatnonzero(matrix.any(axis=1)):
        flags[i] = list(names[matrix[i]])
    out["flags"] = flags
    out["score"] = score

    # Missing boxes: the frames inside short gaps, unless the track was a sliver at the image border on
    # either side of the gap (it left the picture for a moment: nothing to label).
    med_w = pd.Series(W).groupby(track).transform("median").to_numpy()
    med_h = pd.Series(H).groupby(track).transform("median").to_numpy()
    sliver = at_border & ((W < 0.35 * med_w) | (H < 0.35 * med_h))
    short = tracked & (gap >= 1) & (gap <= cfg.max_missing_gap) & ~sliver & ~np.r_[False, sliver[:-1]]
    out["missing_before"] = np.where(short, gap, 0).astype("int32")
    idx = np.flatnonzero(short)
    reps = gap[idx]
    missing = pd.DataFrame({
        "object_id": np.repeat(df["object_id"].to_numpy()[idx], reps),
        "object_name": np.repeat(df["object_name"].to_numpy()[idx], reps) if "object_name" in df else None,
        "frame_no": np.repeat(f[idx] - reps, reps) + (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)),
    })
    missing["flags"] = [["missing_box"]] * len(missing)
    missing["score"] = REASON_WEIGHTS["missing_box"]
    return out, missing
