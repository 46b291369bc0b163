"""Per-track statistics of the detector's rows, as numpy over a whole table of them (many tracks at a time).

`track_stats` is what the quality job's track_summary is made of before the tracks are compared with their peers:
one row per (sequence, object) with its boxes' count, frame range, frame-to-frame IoU distribution and flags. The
values are Spark's for the same aggregation (`jobs.quality.track_stats_reference`, the reference this kernel is
tested equal to): percentiles as `percentile_approx` gives them wherever its summary is exact (fewer than 5,000
values a track; Ground Truth's video tasks hold at most 2,000 frames), rounding as Spark's `round` (half up on the
decimal text), and a most frequent value that is the smallest of those tied (Spark's `mode` picks any of them).
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gtlake.udfs.batches import run_starts

TRACK_KEYS = ("sequence_id", "object_id")
STATS_SCHEMA = pa.schema([
    ("sequence_id", pa.string()), ("object_id", pa.string()), ("object_name", pa.string()), ("label", pa.string()),
    ("n_boxes", pa.int32()), ("first_frame", pa.int32()), ("last_frame", pa.int32()),
    ("iou_mean", pa.float64()), ("iou_median", pa.float64()), ("iou_mode", pa.float64()),
    ("iou_min", pa.float64()), ("iou_p10", pa.float64()), ("iou_pred_p10", pa.float64()),
    ("flagged_boxes", pa.int32()), ("box_flags", pa.list_(pa.string())), ("missing_frames", pa.int32()),
    # the track's box least like its own motion (lowest iou_pred, missing last; of those, the first frame): where a
    # track_outlier is queued
    ("worst_frame", pa.int32()), ("worst_name", pa.string()), ("worst_label", pa.string()),
])


def round_half_up(x: np.ndarray, digits: int = 2) -> np.ndarray:
    """`x` rounded as Spark's `round` does a double: half up on its shortest decimal text (0.285 -> 0.29, where
    binary rounding gives 0.28), the result the double nearest the decimal (k / 10**digits). NaN stays NaN."""
    scale = 10.0 ** digits
    scaled = x * scale
    k = np.floor(scaled + 0.5)
    near = np.flatnonzero(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)  # a tie, or binary noise beside one
    q = Decimal(1).scaleb(-digits)
    for i in near:
        k[i] = float(Decimal(repr(float(x[i]))).quantize(q, rounding=ROUND_HALF_UP).scaleb(digits))
    return k / scale


def percentiles(values: np.ndarray, group: np.ndarray, n_groups: int, q: float) -> np.ndarray:
    """Per group (0..n_groups-1), the `q` percentile of its non-NaN values as Spark's `percentile_approx` gives it
    when exact: the ceil(q * n)-th smallest (NaN for a group without values)."""
    return percentiles_of(values, group, n_groups, (q,))[0]


def percentiles_of(values: np.ndarray, group: np.ndarray, n_groups: int, qs: tuple[float, ...]) -> list[np.ndarray]:
    """`percentiles` for each of `qs`, the values sorted within their groups once: by value, then (stable) by
    group, a radix sort where the groups are few (what `np.lexsort((v, g))` orders, faster)."""
    ok = ~np.isnan(values)
    v, g = values[ok], group[ok]
    by_value = np.argsort(v, kind="stable")
    groups = g[by_value]
    order = by_value[np.argsort(groups.astype(np.uint16) if n_groups <= 2**16 else groups, kind="stable")]
    counts = np.bincount(g, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    has = counts > 0
    ordered = v[order]
    out = []
    for q in qs:
        rank = np.maximum(np.ceil(q * counts).astype(np.int64), 1) - 1
        found = np.full(n_groups, np.nan)
        found[has] = ordered[starts[has] + rank[has]]
        out.append(found)
    return out


def modes(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group, the most frequent of its non-missing `values` (numbers: NaN missing; or integer codes: -1
    missing), the smallest of those tied; missing for a group without values."""
    missing = np.isnan(values) if values.dtype.kind == "f" else values < 0
    v, g = values[~missing], group[~missing]
    out = np.full(n_groups, np.nan if values.dtype.kind == "f" else -1, dtype=values.dtype)
    if not len(v):
        return out
    order = np.lexsort((v, g))
    v, g = v[order], g[order]
    new = np.r_[True, (g[1:] != g[:-1]) | (v[1:] != v[:-1])]
    starts = np.flatnonzero(new)
    counts = np.diff(np.r_[starts, len(v)])
    # Within each group the runs come by value, ascending: the first run with the group's largest count wins.
    run_group = g[starts]
    best = np.lexsort((np.arange(len(starts)), -counts, run_group))
    first = np.r_[True, run_group[best][1:] != run_group[best][:-1]]
    winners = best[first]
    out[run_group[winners]] = v[starts[winners]]
    return out


def lowest_rows(values: np.ndarray, frame: np.ndarray, group: np.ndarray, firsts: np.ndarray) -> np.ndarray:
    """Per group (contiguous runs of rows, starting at `firsts`), the row of its lowest value (NaN above every
    number), of those tied the lowest frame, the first of those: what `np.lexsort((frame, values, group))` puts
    first in each group, in a few passes over the rows instead of a sort."""
    v = np.where(np.isnan(values), np.inf, values)
    at_low = v == np.minimum.reduceat(v, firsts)[group]
    earliest = np.minimum.reduceat(np.where(at_low, frame, np.iinfo(np.int64).max), firsts)
    hit = np.flatnonzero(at_low & (frame == earliest[group]))
    return hit[np.r_[True, group[hit][1:] != group[hit][:-1]]]


def sorted_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Integer codes of a string column that order as its values do (-1: null), and the values, sorted."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    values = encoded.dictionary
    order = pc.array_sort_indices(values).to_numpy()
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values))
    codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    valid = encoded.indices.is_valid().to_numpy(zero_copy_only=False)
    return np.where(valid, rank[codes] if len(values) else -1, -1), values.take(pa.array(order))


def track_stats(metrics: pa.Table) -> pa.Table:
    """One row per track of `metrics` (detector rows: sequence_id, object_id, object_name, label, frame_no,
    iou_prev, iou_pred, flags; each track one contiguous run sorted by frame, as the detector emits them), of
    `STATS_SCHEMA`, in the tracks' order."""
    n = metrics.num_rows
    if n == 0:
        return STATS_SCHEMA.empty_table()
    start = run_starts(metrics, TRACK_KEYS)
    group = np.cumsum(start) - 1
    firsts = np.flatnonzero(start)
    k = len(firsts)
    frame = metrics.column("frame_no").to_numpy().astype(np.int64)
    iou = metrics.column("iou_prev").to_numpy(zero_copy_only=False).astype(float)
    pred = metrics.column("iou_pred").to_numpy(zero_copy_only=False).astype(float)
    counts = np.bincount(group, minlength=k)
    first_frame = np.minimum.reduceat(frame, firsts)
    last_frame = np.maximum.reduceat(frame, firsts)
    ok = ~np.isnan(iou)
    n_iou = np.bincount(group[ok], minlength=k)
    sums = np.bincount(group[ok], weights=iou[ok], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_iou > 0, sums / np.maximum(n_iou, 1), np.nan)
    low = np.full(k, np.inf)
    np.minimum.at(low, group[ok], iou[ok])
    low[n_iou == 0] = np.nan
    label_codes, labels = sorted_codes(metrics.column("label"))
    label_mode = modes(label_codes, group, k)
    n_flags = pc.list_value_length(metrics.column("flags")).to_numpy(zero_copy_only=False)
    flagged = np.nan_to_num(n_flags.astype(float)) > 0
    flag_lists: list[list[str]] = [[] for _ in range(k)]
    if flagged.any():
        rows = np.flatnonzero(flagged)
        lists = metrics.column("flags").take(pa.array(rows)).to_pylist()
        for g, names in zip(group[rows], lists):
            flag_lists[g].extend(names)
        flag_lists = [sorted(set(f)) for f in flag_lists]
    take = pa.array(firsts)
    iou_median, iou_p10 = percentiles_of(iou, group, k, (0.5, 0.1))
    worst = pa.array(lowest_rows(pred, frame, group, firsts))
    return pa.Table.from_arrays([
        metrics.column("sequence_id").take(take).cast(pa.string()),
        metrics.column("object_id").take(take).cast(pa.string()),
        metrics.column("object_name").take(take).cast(pa.string()),
        labels.take(pa.array(np.maximum(label_mode, 0), mask=label_mode < 0)).cast(pa.string()),
        pa.array(counts, pa.int32()), pa.array(first_frame, pa.int32()), pa.array(last_frame, pa.int32()),
        pa.array(mean, pa.float64(), from_pandas=True),
        pa.array(iou_median, pa.float64(), from_pandas=True),
        pa.array(modes(round_half_up(iou), group, k), pa.float64(), from_pandas=True),
        pa.array(low, pa.float64(), from_pandas=True),
        pa.array(iou_p10, pa.float64(), from_pandas=True),
        pa.array(percentiles(pred, group, k, 0.1), pa.float64(), from_pandas=True),
        pa.array(np.bincount(group[flagged], minlength=k), pa.int32()),
        pa.array(flag_lists, pa.list_(pa.string())),
        pa.array(last_frame - first_frame + 1 - counts, pa.int32()),
        pa.array(frame[worst.to_numpy()], pa.int32()),
        metrics.column("object_name").take(worst).cast(pa.string()),
        metrics.column("label").take(worst).cast(pa.string()),
    ], schema=STATS_SCHEMA)
