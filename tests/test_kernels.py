"""udfs.kernels on plain arrays with hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtlake.udfs import kernels as k


def arr(*v):
    return np.array(v, dtype=float)


def test_track_bounds():
    first, last = k.track_bounds(np.array([3, 3, 3, 7, 9, 9]))
    assert first.tolist() == [True, False, False, True, True, False]
    assert last.tolist() == [False, False, True, True, False, True]
    f0, l0 = k.track_bounds(np.array([], dtype=int))
    assert f0.size == 0 and l0.size == 0


def test_prev_and_next_never_cross_tracks():
    first, last = k.track_bounds(np.array([1, 1, 2, 2]))
    x = arr(10, 11, 20, 21)
    assert np.array_equal(k.prev(x, first), arr(np.nan, 10, np.nan, 20), equal_nan=True)
    assert np.array_equal(k.next_(x, last), arr(11, np.nan, 21, np.nan), equal_nan=True)


def test_iou_hand_computed():
    a = (arr(0, 0, 0, 0), arr(0, 0, 0, 0), arr(10, 10, 10, 10), arr(10, 10, 10, 10))
    b = (arr(5, 0, 20, 2), arr(0, 0, 0, 2), arr(10, 10, 10, 6), arr(10, 10, 10, 6))
    # half overlap: 50 / (100 + 100 - 50); identical; disjoint; b inside a: 36 / 100
    assert k.iou(a, b) == pytest.approx([1 / 3, 1.0, 0.0, 0.36])


def test_centre_shift_and_log_ratio():
    a = (arr(0), arr(0), arr(10), arr(10))
    b = (arr(5), arr(0), arr(10), arr(10))
    assert k.centre_shift(a, b) == pytest.approx([0.5])
    assert k.log_ratio(arr(125), arr(100)) == pytest.approx([math.log(1.25)])


def test_gaps_within_tracks_only():
    track = np.array([1, 1, 1, 1, 2, 2])
    first, _ = k.track_bounds(track)
    assert k.gaps(np.array([0, 1, 2, 5, 9, 10]), first).tolist() == [0, 0, 0, 2, 0, 0]


def test_interpolation_residual():
    track = np.zeros(5, dtype=int)
    first, last = k.track_bounds(track)
    frames = np.arange(5)
    # linear motion is predicted exactly; one frame off by 30 px shows a residual of 30 there
    assert np.array_equal(k.interpolation_residual(arr(0, 10, 20, 30, 40), frames, first, last),
                          arr(np.nan, 0, 0, 0, np.nan), equal_nan=True)
    r = k.interpolation_residual(arr(0, 10, 50, 30, 40), frames, first, last)
    assert r[2] == pytest.approx(30) and r[1] == pytest.approx(15) and r[3] == pytest.approx(15)
    # across a gap, neighbours are weighted by frame distance: frames 0, 1, 3 at x 0, 10, 30
    t3 = np.zeros(3, dtype=int)
    f3, l3 = k.track_bounds(t3)
    assert k.interpolation_residual(arr(0, 10, 30), np.array([0, 1, 3]), f3, l3)[1] == pytest.approx(0)


def test_rolling_median_deviation_per_track():
    track = np.array([1, 1, 1, 1, 1, 2, 2])
    dev = k.rolling_median_deviation(arr(1, 2, 100, 4, 5, 7, 9), track, window=3)
    # medians: [1.5, 2, 4, 5, 4.5] for track 1, [8, 8] for track 2
    assert dev == pytest.approx([0.5, 0, 96, 1, 0.5, 1, 1])
    full = k.rolling_median_deviation(arr(1, 2, 100, 4, 5, 7, 9), track, window=3, full=True)
    assert np.array_equal(full, arr(np.nan, 0, 96, 1, np.nan, np.nan, np.nan), equal_nan=True)


# Small integers (with NaN holes) make ties and repeated values common, where a median's choice shows.
_values = st.lists(st.one_of(st.integers(-5, 5).map(float), st.just(float("nan"))), min_size=0, max_size=40)


@pytest.mark.parametrize("n", range(1, 17))
def test_the_sorting_network_sorts_every_input_of_zeros_and_ones(n):
    """A comparator network that sorts every 0/1 input sorts every input (the 0-1 principle): all 2**n of them."""
    bits = (np.arange(2 ** n)[None, :] >> np.arange(n)[:, None]) & 1
    out = np.stack(k.sorted_columns(list(bits.astype(float))))
    assert np.array_equal(out, np.sort(bits, axis=0))


@pytest.mark.parametrize("n", [1, 2, 5, 11, 16])
def test_the_pruned_network_still_finds_the_wanted_positions(n):
    bits = (np.arange(2 ** n)[None, :] >> np.arange(n)[:, None]) & 1
    middle = n // 2
    assert len(k.sorting_network(n, (middle,))) <= len(k.sorting_network(n))
    out = k.sorted_columns(list(bits.astype(float)), only=(middle,))
    assert np.array_equal(out[middle], np.sort(bits, axis=0)[middle])


@pytest.mark.parametrize("n", [17, 23, 31])
def test_the_sorting_network_sorts_wide_windows(n):
    x = np.random.default_rng(n).integers(-3, 4, (n, 500)).astype(float)
    x[0, :7] = [np.inf, -np.inf, -0.0, 0.0, 1e300, -1e-300, 2.5]
    columns = list(x)
    assert np.array_equal(np.stack(k.sorted_columns(columns)), np.sort(x, axis=0))
    assert np.array_equal(np.stack(columns), x)  # the inputs untouched


@pytest.mark.parametrize("n", [5, 11])
def test_the_sorting_network_sorts_across_its_row_blocks(n):
    rows = 2 * k.NETWORK_ROWS + 17  # two whole blocks and a short one
    x = np.random.default_rng(n).integers(-50, 50, (n, rows)).astype(float)
    assert np.array_equal(np.stack(k.sorted_columns(list(x))), np.sort(x, axis=0))
    middle = k.sorted_columns(list(x), only=(n // 2,))[n // 2]
    assert np.array_equal(middle, np.sort(x, axis=0)[n // 2])


@settings(max_examples=200, deadline=None)
@given(_values, st.sampled_from([1, 3, 5, 11, 33]))
def test_centred_medians_are_pandas_rolling_medians_exactly(values, window):
    x = np.array(values, dtype=float)
    expected = pd.Series(x, dtype=float).rolling(window, center=True, min_periods=window).median().to_numpy()
    assert np.array_equal(k.centred_medians(x, window), expected, equal_nan=True)


@settings(max_examples=200, deadline=None)
@given(_values, st.sampled_from([1, 3, 5, 7, 11, 33]), st.integers(0, 2**31 - 1))
def test_segment_rolling_median_is_pandas_per_segment(values, window, seed):
    x = np.array(values, dtype=float)
    segment = np.sort(np.random.default_rng(seed).integers(0, 4, x.size))  # contiguous segments
    expected = (pd.Series(x, dtype=float).groupby(segment, sort=False)
                .rolling(window, center=True, min_periods=1).median().to_numpy())
    assert np.allclose(k.segment_rolling_median(x, segment, window), expected, equal_nan=True, rtol=0, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(-5, 5).map(float), st.just(float("nan")), st.just(float("inf")),
                          st.just(float("-inf"))), min_size=1, max_size=40),
       st.sampled_from([1, 3, 5, 11, 31]), st.integers(0, 2**31 - 1))
def test_segment_rolling_median_sorted_across_equals_sorted_by_rows(values, window, seed):
    """The narrow windows' network path gives what sorting each window's row gives, infinities included
    (where pandas, which takes them for missing, is no reference)."""
    x = np.array(values, dtype=float)
    segment = np.sort(np.random.default_rng(seed).integers(0, 4, x.size))
    assert np.array_equal(k._segment_rolling_median_sorted(x, segment, window),
                          k._segment_rolling_median_by_rows(x, segment, window), equal_nan=True)


def test_robust_scale_and_mode():
    track = np.array([1, 1, 1, 2, 2])
    s = k.robust_scale(arr(1, -2, 3, 0, 0), track, floor=0.5)
    assert s == pytest.approx([2 * 1.4826] * 3 + [0.5, 0.5])
    assert k.track_mode(np.array([0, 0, 1, 5, 5]), np.array([1, 1, 1, 2, 2])).tolist() == [0, 0, 0, 5, 5]


def test_same_key_pairs():
    a, b = k.same_key_pairs(np.array([5, 1, 5, 5, 2, 1]))
    assert sorted(zip(a.tolist(), b.tolist())) == sorted([(0, 2), (0, 3), (2, 3), (1, 5)])
    assert k.same_key_pairs(np.array([7]))[0].size == 0


def test_track_mode_ties_take_the_smallest():
    assert k.track_mode(np.array(["b", "a", "b", "a", "c"]), np.array([1, 1, 1, 1, 2])).tolist() == ["a"] * 4 + ["c"]


def test_camera_offsets_take_out_a_shake_shared_by_the_tracks_of_a_frame():
    f = np.tile(np.arange(8), 3)
    first, _ = k.track_bounds(np.repeat([0, 1, 2], 8))
    # three tracks: steady, steady the other way, accelerating; the camera jumps 5 px on frame 4 only
    x = np.concatenate([10 + 3.0 * np.arange(8), 100 - 2.0 * np.arange(8), 50 + 0.5 * np.arange(8) ** 2])
    x[f == 4] += 5
    (off,) = k.camera_offsets(f, first, (x,))
    shake = off.reshape(3, 8) - off.reshape(3, 8)[:, :1]  # (the offset is up to a smooth drift)
    assert np.allclose(shake[:, 4] - (shake[:, 3] + shake[:, 5]) / 2, 5.0)
    assert np.allclose(np.diff(shake[:, [0, 1, 2, 3]], 2), 0) and np.allclose(np.diff(shake[:, 5:], 2), 0)
    (none,) = k.camera_offsets(f[:16], first[:16], (x[:16],), min_tracks=3)  # two tracks: not the camera's
    assert np.allclose(none, 0)


def test_detrended_is_flat_for_steady_motion_and_keeps_a_wrong_stretch():
    n = 30
    f, first = np.arange(n), np.r_[True, np.zeros(n - 1, bool)]
    seg = np.zeros(n, int)
    x = 12.0 * f  # fast: 12 px a frame
    (flat,) = k.detrended((x,), f, first, seg, 11)
    assert np.allclose(flat, flat[0])
    bad = x.copy()
    bad[14:17] += 9  # a stretch of three frames 9 px off: less than one frame's motion
    (dev,) = k.rolling_median_deviations(k.detrended((bad,), f, first, seg, 11), seg, 11)
    assert np.all(dev[14:17] == pytest.approx(9.0)) and np.nanmax(np.r_[dev[:14], dev[17:]]) < 1e-9
    (raw,) = k.rolling_median_deviations((bad,), seg, 11)  # a plain median is fooled by the motion
    assert np.nanmax(raw[14:17]) < 9.0
