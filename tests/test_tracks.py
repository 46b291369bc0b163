"""Per-track statistics over a whole table of detector rows (`udfs.tracks`), against hand-computed values and
against the Spark aggregation they replace in the quality job."""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from chispa import assert_df_equality
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from gtlake.jobs.filepass import FileWork, file_groups
from gtlake.jobs.quality import STATS_SPARK_SCHEMA, track_stats_reference
from gtlake.schemas import TRACK_SUMMARY
from gtlake.udfs.queue import peer_scores
from gtlake.udfs.tracks import STATS_SCHEMA, modes, percentiles, round_half_up, track_stats

NAN = math.nan


def _rows(tracks: list[tuple[str, str, list]]) -> pa.Table:
    """Detector rows of tracks given as (sequence, object, [(frame, label, iou_prev, iou_pred, flags)])."""
    cols: dict[str, list] = {c: [] for c in ("sequence_id", "object_id", "object_name", "label", "frame_no",
                                               "iou_prev", "iou_pred", "flags")}
    for seq, obj, boxes in tracks:
        for frame, label, iou, pred, flags in boxes:
            for c, v in zip(cols, (seq, obj, f"{label}:{obj}", label, frame, iou, pred, flags)):
                cols[c].append(v)
    return pa.table({**cols, "frame_no": pa.array(cols["frame_no"], pa.int32()),
                     "flags": pa.array(cols["flags"], pa.list_(pa.string()))})


def test_percentiles_are_the_ceil_rank_value_spark_gives():
    v = np.array([0.5, 0.1, NAN, 0.9, 0.3, 0.7, 0.2])
    g = np.array([0, 0, 0, 0, 1, 1, 1])
    # group 0: 0.1 0.5 0.9 (NaN skipped): 10th percentile rank ceil(0.3) = 1st, median ceil(1.5) = 2nd
    assert percentiles(v, g, 3, 0.1)[:2].tolist() == [0.1, 0.2]
    assert percentiles(v, g, 3, 0.5)[:2].tolist() == [0.5, 0.3]
    assert math.isnan(percentiles(v, g, 3, 0.5)[2])  # a group without values
    # ten values: the 10th percentile is the smallest; eleven: the second smallest (rank ceil(1.1))
    assert percentiles(np.arange(21.0), np.repeat([0, 1], [10, 11]), 2, 0.1).tolist() == [0.0, 11.0]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.one_of(st.integers(-3, 3).map(float), st.just(NAN))), max_size=60),
       st.sampled_from([5, 70_000]))
def test_percentiles_sorted_once_are_those_of_a_lexsort(rows, n_groups):
    """Several percentiles from one sort within groups (radix by group where they are few) equal the ceil-rank
    values of a plain lexsort, groups in any order, empty groups NaN."""
    from gtlake.udfs.tracks import percentiles_of

    g = np.array([r[0] for r in rows], dtype=np.int64)
    v = np.array([r[1] for r in rows], dtype=float)
    found = percentiles_of(v, g, n_groups, (0.1, 0.5, 1.0))
    for q, got in zip((0.1, 0.5, 1.0), found):
        want = np.full(n_groups, np.nan)
        for grp in range(5):
            vals = np.sort(v[(g == grp) & ~np.isnan(v)])
            if vals.size:
                want[grp] = vals[max(math.ceil(q * vals.size), 1) - 1]
        assert np.array_equal(got, want, equal_nan=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.one_of(st.sampled_from([0.0, -0.0, 0.5, 1.0]), st.just(NAN)),
                          st.integers(0, 6)), min_size=1, max_size=40))
def test_lowest_rows_are_those_a_lexsort_puts_first(rows):
    """Per track, the row of the lowest value (NaN last), ties by frame then by order, as np.lexsort finds it:
    tracks of several rows, ties, all-NaN tracks, frames in any order."""
    from gtlake.udfs.tracks import lowest_rows

    sizes = [r[0] for r in rows]
    group = np.repeat(np.arange(len(sizes)), sizes)
    rng = np.random.default_rng(len(rows))
    values = np.array([rows[g][1] if rng.random() < 0.7 else float(rng.integers(0, 3)) / 2 for g in group])
    frame = rng.integers(0, 4, group.size).astype(np.int64)
    firsts = np.r_[0, np.cumsum(sizes)[:-1]]
    by_sort = np.lexsort((frame, np.where(np.isnan(values), np.inf, values), group))
    expected = by_sort[np.r_[0, np.flatnonzero(np.diff(group[by_sort])) + 1]]
    assert np.array_equal(lowest_rows(values, frame, group, firsts), expected)


def test_round_half_up_rounds_the_decimal_text_as_spark_does():
    x = np.array([0.285, 0.125, 0.934, 0.005, 2.675, 0.9999, NAN])
    out = round_half_up(x)
    assert out[:6].tolist() == [0.29, 0.13, 0.93, 0.01, 2.68, 1.0]  # numpy's round gives 0.28, 0.12, 2.67
    assert math.isnan(out[6])


def test_modes_take_the_smallest_of_values_tied():
    v = np.array([0.9, 0.8, 0.8, 0.9, 0.7, NAN, NAN])
    g = np.array([0, 0, 0, 0, 0, 1, 1])
    out = modes(v, g, 3)
    assert out[0] == 0.8 and math.isnan(out[1]) and math.isnan(out[2])
    codes = np.array([2, 1, 1, -1, 3])
    assert modes(codes, np.array([0, 0, 0, 1, 1]), 2).tolist() == [1, 3]


def test_track_stats_by_hand():
    t = _rows([("s", "a", [(0, "Car", None, None, []), (1, "Car", 0.9, 0.95, []), (2, "Car", 0.9, 0.9, []),
                           (4, "Bus", 0.7, 0.6, ["off_path"])]),
               ("s", "b", [(0, "Car", None, None, ["size_jump"]), (1, "Car", 0.5, 0.8, ["low_iou", "size_jump"])])])
    out = track_stats(t).to_pylist()
    assert out[0] == {"sequence_id": "s", "object_id": "a", "object_name": "Car:a", "label": "Car", "n_boxes": 4,
                      "first_frame": 0, "last_frame": 4, "iou_mean": pytest.approx(2.5 / 3), "iou_median": 0.9,
                      "iou_mode": 0.9, "iou_min": 0.7, "iou_p10": 0.7, "iou_pred_p10": 0.6, "flagged_boxes": 1,
                      "box_flags": ["off_path"], "missing_frames": 1,
                      "worst_frame": 4, "worst_name": "Bus:a", "worst_label": "Bus"}  # its lowest iou_pred
    assert out[1]["box_flags"] == ["low_iou", "size_jump"] and out[1]["flagged_boxes"] == 2
    assert out[1]["worst_frame"] == 1  # a missing iou_pred comes last
    assert track_stats(t.slice(0, 0)).schema == STATS_SCHEMA


@pytest.mark.spark
def test_track_stats_equal_the_spark_aggregation(spark):
    rng = np.random.default_rng(5)
    tracks = []
    for i in range(150):
        n = int(rng.integers(1, 120))
        values = np.round(rng.uniform(0, 1, n), int(rng.integers(2, 5)))  # repeats, and ties at the third decimal
        labels = ["Car"] * n
        if i % 7 == 0:
            labels[: n // 3] = ["Bus"] * (n // 3)  # a class flip for a third of the track: no tie
        tracks.append((f"s{i // 10}", f"o{i:03d}", [
            (f, labels[f], None if f == 0 or rng.random() < 0.1 else float(values[f]),
             None if rng.random() < 0.2 else float(rng.uniform(0, 1)),
             ["off_path"] if rng.random() < 0.05 else []) for f in range(n) if f == 0 or rng.random() > 0.1]))
    table = _rows(tracks)
    ours = spark.createDataFrame(track_stats(table).append_column("job_name", pa.array(["j"] * 150)).to_pylist(),
                                 STATS_SPARK_SCHEMA)
    table = table.append_column("job_name", pa.array(["j"] * table.num_rows))
    metrics = spark.createDataFrame(table.to_pylist(), from_arrow_schema(table.schema))
    spark_stats = track_stats_reference(metrics).select(*STATS_SPARK_SCHEMA.names)
    # iou_mode: Spark's mode picks any of the values tied; ours the smallest, of the same count
    assert_df_equality(ours.drop("iou_mode"), spark_stats.drop("iou_mode"), ignore_row_order=True,
                       ignore_nullable=True, allow_nan_equality=True)
    counts = (metrics.where(F.col("iou_prev").isNotNull()).groupBy("object_id", F.round("iou_prev", 2).alias("m"))
              .count())
    picked = lambda df: (df.select("object_id", F.col("iou_mode").alias("m")).join(counts, ["object_id", "m"], "left")
                         .select("object_id", F.coalesce("count", F.lit(0)).alias("count")))
    assert_df_equality(picked(ours), picked(spark_stats), ignore_row_order=True, ignore_nullable=True)
    assert ours.join(spark_stats.select("object_id", F.col("iou_mode").alias("theirs")), "object_id") \
        .where(F.col("iou_mode") > F.col("theirs")).count() == 0


def test_peers_by_window_equal_peers_joined(spark):
    """The track_summary's peer statistics as window aggregates over each (job, label) equal the per-class
    aggregates joined back: classes big and small (min_peers), short tracks (no peer), tracks without a label or
    without iou_pred_p10, ties; the outliers flagged the same."""
    from gtlake.jobs.quality import peer_scored, peer_scored_joined
    from gtlake.udfs.config import QualityConfig

    rng = np.random.default_rng(11)
    rows = []
    for i in range(400):
        job = "a" if i % 3 else "b"
        label = [None, "Car", "Ped", "Bus"][int(rng.integers(0, 4))] if i % 50 else "Rare"
        p10 = None if rng.random() < 0.1 else float(np.round(rng.uniform(0.8, 1) if rng.random() > 0.05 else 0.05, 2))
        n = int(rng.integers(1, 40))
        flags = ["off_path"] if rng.random() < 0.1 else []
        rows.append((f"{job}:{i % 20}", f"o{i}", f"{label}:{i}", label, n, 0, n + 2, 0.5, 0.5, 0.5, 0.1, 0.2, p10,
                     len(flags), flags, 2, 1, f"{label}:{i}", label, job))
    tracks = spark.createDataFrame(rows, STATS_SPARK_SCHEMA)
    stats = pa.Table.from_pylist([dict(zip(STATS_SPARK_SCHEMA.names, r)) for r in rows],
                                 schema=STATS_SCHEMA.append(pa.field("job_name", pa.string())))
    for cfg in (QualityConfig(), QualityConfig(min_peers=30)):
        window, joined = peer_scored(tracks, cfg), peer_scored_joined(tracks, cfg)
        assert window.where(F.array_contains("flags", "track_outlier")).count() > 0 or cfg.min_peers == 30
        assert_df_equality(window, joined, ignore_row_order=True, ignore_nullable=True, allow_nan_equality=True)
        # The finishing task's kernel, one job at a time (udfs.queue.peer_scores), gives the same rows.
        ours = [r | {"job_name": job} for job in ("a", "b") for r in peer_scores(
            stats.filter(pc.equal(stats.column("job_name"), job)), cfg, TRACK_SUMMARY.file_schema()).to_pylist()]
        assert_df_equality(spark.createDataFrame(ours, window.schema), window, ignore_row_order=True,
                           ignore_nullable=True, allow_nan_equality=True)


def test_a_good_track_among_near_perfect_peers_is_no_outlier(spark):
    """Slow vehicles follow their motion almost perfectly (iou_pred_p10 0.98, MAD well under 0.01): a track at
    0.93 is a good track, not one for review; a track at 0.6 is far below them (the peers' deviation is counted
    as at least track_outlier_min_spread, 0.05)."""
    from gtlake.jobs.quality import peer_scored, peer_scored_joined
    from gtlake.udfs.config import QualityConfig

    p10 = [0.98 + 0.002 * (i % 5) for i in range(30)] + [0.93, 0.6]
    rows = [("j:0", f"o{i}", f"Car:{i}", "Car", 50, 0, 49, 0.9, 0.9, 0.9, 0.5, 0.8, x, 0, [], 0, 3, f"Car:{i}", "Car",
             "j") for i, x in enumerate(p10)]
    tracks = spark.createDataFrame(rows, STATS_SPARK_SCHEMA)
    for scored in (peer_scored(tracks, QualityConfig()), peer_scored_joined(tracks, QualityConfig())):
        outliers = {r["object_id"] for r in scored.where(F.array_contains("flags", "track_outlier")).collect()}
        assert outliers == {"o31"}
    tight = peer_scored(tracks, QualityConfig(track_outlier_min_spread=0.01))  # the floor before: both called
    assert tight.where(F.array_contains("flags", "track_outlier")).count() == 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10_000_000), max_size=30), st.integers(1, 8))
def test_file_groups_hold_every_file_once_and_balance_the_sizes(sizes, parallelism):
    files = [FileWork(i, "job_name=j", f"/x/{i}", s) for i, s in enumerate(sizes)]
    groups = file_groups(files, parallelism, task_bytes=4_000_000)
    assert sorted(f.index for g in groups for f in g) == list(range(len(files)))
    assert all([f.index for f in g] == sorted(f.index for f in g) for g in groups)
    if files:
        assert len(groups) >= min(len(files), parallelism)
        loads = [sum(f.size for f in g) for g in groups]
        assert max(loads) <= sum(sizes) / len(groups) + max(sizes)  # greedy: within one file of the mean
