"""A job's track_summary and review queue from what its scoring tasks wrote, as pyarrow and numpy in one task.

    tracks = peer_scores(stats, cfg, TRACK_SUMMARY.file_schema())  # per track, compared with its class's
    queue = queue_entries(REVIEW_QUEUE.file_schema(), suspects, tracks, stats, frames, sequences, appearance, findings)

The scoring tasks (`jobs.quality.score_file`) write each track's statistics and the suspect rows (box_metrics
rows flagged, or with missing boxes before them: 1-3% of the boxes). Everything the track_summary and the review
queue need of a job is in those rows and a few columns of its frames, sequences and (when made) appearance flags
and model findings, and both compare only within a job (a track with the tracks of its class in the job; an
entry ranked within the job), so one task per job computes both in a pass over a few small tables, instead of a
dozen Spark jobs with their plans. The Spark forms (`jobs.quality.peer_scored`, `jobs.quality.review_queue`) are
the references these are tested equal to; of rows Spark's `first` or `dropDuplicates` would pick among
arbitrarily, these take the first in the order the sources are listed. Tables here have no job_name column (a
job's files lie in its partition folder).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gtlake.udfs.config import QualityConfig
from gtlake.udfs.tracks import sorted_codes, percentiles
from gtlake.vocabulary import PREDICTION_REASONS, REASON_WEIGHTS

TRACK_OUTLIER_SCORE = 1.0
MODEL_BOX = ("model_left", "model_top", "model_width", "model_height")
KEY = ("sequence_id", "frame_no", "object_id")  # one queue entry per (frame, object) of a job
TRACK = ("sequence_id", "object_id")
ENTRY = pa.schema([("sequence_id", pa.string()), ("frame_no", pa.int32()), ("object_id", pa.string()),
                   ("object_name", pa.string()), ("label", pa.string()), ("flags", pa.list_(pa.string())),
                   ("score", pa.float64()), ("model", pa.string()), *[(c, pa.float64()) for c in MODEL_BOX]])


def _floats(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)  # (null: NaN)


def peer_scores(stats: pa.Table, cfg: QualityConfig, schema: pa.Schema) -> pa.Table:
    """track_summary rows (of `schema`, its file columns: `TRACK_SUMMARY.file_schema()`) of one job's track statistics
    (`udfs.tracks.STATS_SCHEMA`), in their order: each track's iou_pred_p10 as a robust z-score among its peers (the
    job's tracks of its label with at least 10 boxes and an iou_pred_p10: their median, and their MAD counted as at
    least `track_outlier_min_spread`), given where the class has `min_peers` of them; track_outlier added to the flags
    of a track of 10 boxes or more that falls `track_outlier_z` below them. Percentiles as Spark's `percentile_approx`
    gives them when exact (`udfs.tracks.percentiles`): a class of fewer than 5,000 tracks."""
    codes, labels = sorted_codes(stats.column("label"))
    k = len(labels) + 1
    cls = np.where(codes < 0, k - 1, codes)  # a track of no label: a class of its own, with no peers
    x = _floats(stats.column("iou_pred_p10"))
    n_boxes = stats.column("n_boxes").to_numpy(zero_copy_only=False)
    peer = (n_boxes >= 10) & ~np.isnan(x) & (codes >= 0)
    med = percentiles(np.where(peer, x, np.nan), cls, k, 0.5)[cls]
    n_peers = np.bincount(cls[peer], minlength=k)[cls]
    mad = percentiles(np.where(peer, np.abs(x - med), np.nan), cls, k, 0.5)[cls]
    with np.errstate(invalid="ignore"):
        z = np.where(n_peers >= cfg.min_peers, (x - med) / (1.4826 * np.maximum(mad, cfg.track_outlier_min_spread)),
                     np.nan)
        outlier = (z < -cfg.track_outlier_z) & (n_boxes >= 10)
    flags = stats.column("box_flags").to_pylist()
    for i in np.flatnonzero(outlier):
        flags[i] = [*flags[i], "track_outlier"] if "track_outlier" not in flags[i] else flags[i]
    columns = {"peer_z": pa.array(z, pa.float64(), from_pandas=True), "flags": pa.array(flags, pa.list_(pa.string()))}
    return pa.Table.from_arrays([columns[f.name] if f.name in columns else stats.column(f.name).cast(f.type)
                                 for f in schema], schema=schema)


def _entries(rows: pa.Table, **constants: object) -> pa.Table:
    """`rows` as `ENTRY` rows: its columns of ENTRY's names, `constants` for others (one value each), nulls else."""
    n = rows.num_rows
    out = []
    for f in ENTRY:
        if f.name in constants:
            value = constants[f.name]
            given = isinstance(value, (pa.Array, pa.ChunkedArray))
            out.append(value.cast(f.type) if given else pa.array([value] * n, f.type))
        elif f.name in rows.column_names:
            out.append(rows.column(f.name).cast(f.type))
        else:
            out.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(out, schema=ENTRY)


def _holding(lists: pa.ChunkedArray, value: str) -> np.ndarray:
    """Per row of a list column, whether its list holds `value`."""
    out = np.zeros(len(lists), dtype=bool)
    flat = pc.list_flatten(lists)
    out[pc.list_parent_indices(lists).to_numpy()[pc.equal(flat, value).to_numpy(zero_copy_only=False)]] = True
    return out


def _flagged(rows: pa.Table) -> pa.Table:
    return rows.filter(pc.greater(pc.fill_null(pc.list_value_length(rows.column("flags")), 0), 0))


def _missing(suspects: pa.Table, tracks: pa.Table) -> pa.Table:
    """An entry per frame without a box before a suspect row (`missing_before`), the track's label (`tracks`)."""
    before = suspects.filter(pc.greater(pc.fill_null(suspects.column("missing_before"), 0), 0))
    n = before.column("missing_before").to_numpy(zero_copy_only=False).astype(np.int64)
    rows = np.repeat(np.arange(before.num_rows), n)
    step = np.arange(len(rows)) - np.repeat(np.cumsum(n) - n, n)  # 0 .. n-1 within each row's gap
    frame = before.column("frame_no").to_numpy().astype(np.int64)[rows] - np.repeat(n, n) + step
    taken = before.take(pa.array(rows, pa.int64()))
    label = _lookup(taken, tracks.select([*TRACK, "label"]), list(TRACK))["label"]
    return _entries(taken, frame_no=pa.array(frame, pa.int32()), flags=pa.array([["missing_box"]] * len(rows)),
                    score=REASON_WEIGHTS["missing_box"], label=label)


def _findings(findings: pa.Table, tracks: pa.Table) -> tuple[pa.Table, pa.Table]:
    """`prediction_findings` rows as entries: those about a labeled object (its name from its track, `tracks`) and
    the overlooked objects (one entry per model box on a frame, the first of those alike)."""
    reasons = findings.column("reason").to_pylist()
    weight = pa.array([REASON_WEIGHTS[r] if r in PREDICTION_REASONS else None for r in reasons], pa.float64())
    box = {f"model_{c}": findings.column(c) for c in ("left", "top", "width", "height")}
    rows = _entries(findings, flags=pa.array([[r] for r in reasons], pa.list_(pa.string())), score=weight, **box)
    labeled = pc.is_valid(rows.column("object_id"))
    about = rows.filter(labeled)
    about = about.set_column(ENTRY.get_field_index("object_name"), "object_name", _lookup(
        about, tracks.select([*TRACK, "object_name"]), list(TRACK))["object_name"])
    overlooked = rows.filter(pc.invert(labeled))
    group, _ = _groups(overlooked, ("sequence_id", "frame_no", *MODEL_BOX))
    first = np.full(int(group.max(initial=-1)) + 1, len(group), dtype=np.int64)
    np.minimum.at(first, group, np.arange(len(group)))  # each box's first row, in the findings' order
    return about, overlooked.take(pa.array(np.sort(first), pa.int64()))


def _groups(table: pa.Table, keys: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `table`, the number of its group of equal `keys` (nulls equal), groups in key order; and each
    group's first row in that order."""
    codes = []
    for key in keys:
        column = table.column(key)
        if pa.types.is_string(column.type):
            codes.append(sorted_codes(column)[0])
        else:
            codes.append(np.nan_to_num(_floats(column), nan=-np.inf))
    order = np.lexsort(codes[::-1])
    change = np.zeros(len(order), dtype=bool)
    if len(order):
        change[0] = True
        for c in codes:
            sc = c[order]
            change[1:] |= sc[1:] != sc[:-1]
    group = np.empty(len(order), dtype=np.int64)
    group[order] = np.cumsum(change) - 1
    return group, order[change]


def _first_valid(column: pa.ChunkedArray, group: np.ndarray, n_groups: int) -> pa.Array:
    """Per group, the first non-null value of `column` in row order (null where none)."""
    rows = np.arange(len(group))
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    first = np.full(n_groups, len(group), dtype=np.int64)
    np.minimum.at(first, group[valid], rows[valid])
    return column.take(pa.array(np.minimum(first, max(len(group) - 1, 0)), mask=first == len(group)))


def _merged(rows: pa.Table) -> pa.Table:
    """One row per (frame, object) of entry rows, in key order: the first name and label found, every reason once
    (sorted), the top score (as `_top`), and the smallest model box given (as Spark orders structs, nulls first)."""
    group, firsts = _groups(rows, KEY)
    k = len(firsts)
    top = np.full(k, np.nan)
    np.fmax.at(top, group, _floats(rows.column("score")))  # (a null score counts for nothing, as in Spark's max)
    flags = rows.column("flags").combine_chunks()
    flat = pc.list_flatten(flags)
    codes, names = sorted_codes(pa.chunked_array([flat], flat.type))
    known = codes >= 0  # (a null reason is none)
    pairs = np.unique(group[pc.list_parent_indices(flags).to_numpy()][known] * (len(names) + 1) + codes[known])
    owner, code = pairs // (len(names) + 1), pairs % (len(names) + 1)
    offsets = np.r_[0, np.cumsum(np.bincount(owner, minlength=k))]
    out = {c: rows.column(c).take(pa.array(firsts)) for c in KEY}
    out |= {"object_name": _first_valid(rows.column("object_name"), group, k),
            "label": _first_valid(rows.column("label"), group, k),
            "reasons": pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), names.take(pa.array(code))),
            "_top": pa.array(top, pa.float64(), from_pandas=True)}
    given = np.flatnonzero(rows.column("model").is_valid().to_numpy(zero_copy_only=False))
    model_rows = np.full(k, -1, dtype=np.int64)
    if len(given):
        model_codes, _ = sorted_codes(rows.column("model").take(pa.array(given)))
        boxes = [np.nan_to_num(_floats(rows.column(c).take(pa.array(given))), nan=-np.inf) for c in MODEL_BOX]
        order = np.lexsort((*boxes[::-1], model_codes, group[given]))
        g = group[given][order]
        first = np.r_[True, g[1:] != g[:-1]]
        model_rows[g[first]] = given[order][first]
    take = pa.array(np.maximum(model_rows, 0), mask=model_rows < 0)
    out |= {c: rows.column(c).take(take) for c in ("model", *MODEL_BOX)}
    return pa.table(out)


def _ranked(entries: pa.Table) -> pa.Table:
    """`entries` with their score (the top reason's, plus 0.25 per further reason) and rank (1 = first), sorted
    by rank: score descending, then sequence, frame, object (none last) and the model's box (none first)."""
    n_reasons = pc.list_value_length(entries.column("reasons")).to_numpy(zero_copy_only=False).astype(np.int64)
    score = _floats(entries.column("_top")) + 0.25 * (n_reasons - 1)
    seq, _ = sorted_codes(entries.column("sequence_id"))
    obj, _ = sorted_codes(entries.column("object_id"))
    obj = np.where(obj < 0, np.iinfo(np.int64).max, obj)
    boxes = [np.nan_to_num(_floats(entries.column(c)), nan=-np.inf) for c in MODEL_BOX]
    frame = entries.column("frame_no").to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.lexsort((*boxes[::-1], obj, frame, seq, -score))
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(1, len(order) + 1, dtype=np.int32)
    return (entries.append_column("score", pa.array(score, pa.float64()))
            .append_column("rank", pa.array(rank, pa.int32())).take(pa.array(order, pa.int64())))


def queue_entries(schema: pa.Schema, suspects: pa.Table, tracks: pa.Table, stats: pa.Table, frames: pa.Table,
                  sequences: pa.Table, appearance: pa.Table | None = None, findings: pa.Table | None = None) -> pa.Table:
    """One job's review queue (of `schema`, its file columns: `REVIEW_QUEUE.file_schema()`), sorted by rank: every suspect
    (frame, object) of its suspect rows (`suspects`: box_metrics rows flagged or with missing boxes before them), of its
    appearance flags (`embedding_metrics` rows) and of a model's findings (`prediction_findings` rows), all its reasons
    merged; a missing_box entry per frame without a box before a row; a track_outlier (`tracks`: `peer_scores` rows) on
    the track's box least like its own motion (`stats`: the tracks' statistics, `udfs.tracks`); an overlooked object an
    entry of its own, with the model's box. Each entry's frame_file from `frames` and its sequence's source_ref and
    labels_ref from `sequences` (the row whose labels were read)."""
    parts = [_entries(_flagged(suspects))]
    if appearance is not None:
        parts.append(_entries(_flagged(appearance)))
    overlooked = None
    if findings is not None:
        about, overlooked = _findings(findings, tracks)
        parts.append(about)
    parts.append(_missing(suspects, tracks))
    outlying = tracks.filter(pa.array(_holding(tracks.column("flags"), "track_outlier")))
    worst = outlying.select(list(TRACK)).join(
        stats.select([*TRACK, "worst_frame", "worst_name", "worst_label"]), list(TRACK), join_type="inner")
    parts.append(_entries(worst, frame_no=worst.column("worst_frame"), object_name=worst.column("worst_name"),
                          label=worst.column("worst_label"), flags=pa.array([["track_outlier"]] * worst.num_rows),
                          score=TRACK_OUTLIER_SCORE))
    merged = _merged(pa.concat_tables(parts))
    if overlooked is not None and overlooked.num_rows:
        merged = pa.concat_tables([merged, overlooked.rename_columns(
            {"flags": "reasons", "score": "_top"}).select(merged.column_names)])
    ranked = _ranked(merged)
    files = frames.select(["sequence_id", "frame_no", "frame_file"]).cast(pa.schema([
        ("sequence_id", pa.string()), ("frame_no", pa.int32()), ("frame_file", pa.string())]))
    read = sequences.filter(pc.fill_null(sequences.column("labels_read"), False))
    refs = read.group_by(["sequence_id"], use_threads=False).aggregate([
        ("source_ref", "first", pc.ScalarAggregateOptions(skip_nulls=False)),
        ("labels_ref", "first", pc.ScalarAggregateOptions(skip_nulls=False))]).rename_columns(
        {"source_ref_first": "source_ref", "labels_ref_first": "labels_ref"})
    found = {**_lookup(ranked, files, ["sequence_id", "frame_no"]), **_lookup(ranked, refs, ["sequence_id"])}
    return pa.Table.from_arrays([(found[f.name] if f.name in found else ranked.column(f.name)).cast(f.type)
                                 for f in schema], schema=schema)


def _lookup(rows: pa.Table, other: pa.Table, keys: list[str]) -> dict[str, pa.ChunkedArray]:
    """The other columns of `other` (unique `keys`) for each row of `rows`, in its order (null where none)."""
    index = rows.select(keys).append_column("_row", pa.array(np.arange(rows.num_rows), pa.int64()))
    joined = index.join(other, keys, join_type="left outer")
    joined = joined.take(pc.sort_indices(joined, [("_row", "ascending")]))
    return {c: joined.column(c) for c in other.column_names if c not in keys}
