"""Find suspect boxes in tracks (pandas in, pandas out; no loop over frames, rows or sequences).

`detect_boxes(boxes, config)` returns, for the boxes of any number of sequences, one metrics row per box, with
`flags` (named reasons) and a `score`, and one row per frame where a track is missing a box. A flag names the frame whose box is
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
* broken_track: a track that goes on where another of its class ended, under a new object id.
* attribute_flip: a label-category attribute that changes for a few frames inside a track and changes back.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gtlake.udfs import kernels as k
from gtlake.udfs.config import QualityConfig
from gtlake.vocabulary import REASON_WEIGHTS


def _segment_bounds(first: np.ndarray, last: np.ndarray, gap_before: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Track bounds split at occlusions (gaps longer than `max_gap`)."""
    long_gap = gap_before > max_gap
    seg_first = first | long_gap
    seg_last = last.copy()
    seg_last[:-1] |= long_gap[1:]
    return seg_first, seg_last


def _predictions(x: np.ndarray, frame_no: np.ndarray, first: np.ndarray,
                 last: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where a track's motion puts each value of x (an edge): interpolated between its two neighbours, carried on
    from the two boxes before it, and carried back from the two after it (NaN where the track has no such boxes)."""
    p1, p2 = k.prev(x, first), k.prev(k.prev(x, first), first)
    n1, n2 = k.next_(x, last), k.next_(k.next_(x, last), last)
    f = frame_no.astype(float)
    fp1, fp2 = k.prev(f, first), k.prev(k.prev(f, first), first)
    fn1, fn2 = k.next_(f, last), k.next_(k.next_(f, last), last)
    with np.errstate(invalid="ignore", divide="ignore"):
        between = p1 + (n1 - p1) * (f - fp1) / (fn1 - fp1)
        back = p1 + (p1 - p2) * (f - fp1) / (fp1 - fp2)
        ahead = n1 + (n1 - n2) * (f - fn1) / (fn1 - fn2)
    return between, back, ahead


def _edge_residual(x: np.ndarray, frame_no: np.ndarray, first: np.ndarray, last: np.ndarray,
                   predictions: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
    """How far x (an edge) is from where its track's motion puts it: the nearest of the three predictions
    (`_predictions`, or `predictions` made already). One wrong box is off all three; a box where the motion
    changes (a sharp turn, an annotator's keyframe at the end of an interpolated stretch) lies on the line through
    the boxes before it or after it."""
    found = predictions if predictions is not None else _predictions(x, frame_no, first, last)
    return np.fmin.reduce(np.stack([np.abs(x - p) for p in found]))


def _pairs_on_frames(frame_key: np.ndarray, cls: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (a, b) of pairs of masked boxes of one class on the same frame (`kernels.frame_keys`)."""
    pos = np.flatnonzero(mask)
    cls_code = pd.factorize(cls[mask])[0]  # (only which boxes share a class matters, not the codes' order)
    a, b = k.same_key_pairs(frame_key[mask].astype(np.int64) * (cls_code.max(initial=0) + 1) + cls_code)
    return pos[a], pos[b]


def _stabilized(f: np.ndarray, first: np.ndarray, box: k.Box, min_tracks: int, seq: np.ndarray) -> k.Box:
    """The boxes with the camera's jerks (shake, an abrupt pan) removed: `kernels.camera_offsets` of the centres,
    per sequence. (A camera's zoom is smooth in real footage, and smooth changes need no removal.)"""
    L, T, W, H = box
    ox, oy = k.camera_offsets(f, first, (L + W / 2, T + H / 2), min_tracks, seq)
    return L - ox, T - oy, W, H


def _predicted(box: k.Box, f: np.ndarray, first: np.ndarray, last: np.ndarray,
               per_edge: list[tuple[np.ndarray, ...]] | None = None) -> list[k.Box]:
    """Each box as its track's motion puts it, by the three predictions of `_predictions` of its edges (left, top,
    right, bottom; `per_edge` when made already)."""
    L, T, W, H = box
    per_edge = per_edge or [_predictions(e, f, first, last) for e in (L, T, L + W, T + H)]
    return [(x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in zip(*per_edge)]


def attribute_states(texts: pd.Series) -> list[np.ndarray]:
    """Per attribute key, a code of each box's value (a key a box lacks is a value of its own), from the boxes'
    attributes as JSON text: each attribute judged apart, so that one changing does not hide another's flip.
    Each distinct text is parsed once; text that is not a JSON object counts as one value of its own."""
    import json

    codes, uniques = pd.factorize(texts.where(texts.notna(), ""))
    parsed = []
    for text in uniques:
        try:
            value = json.loads(text) if text else {}
        except ValueError:
            value = {"": text}
        parsed.append(value if isinstance(value, dict) else {"": text})
    out = []
    for key in sorted({name for d in parsed for name in d}):
        per_text = pd.factorize(pd.Series([json.dumps(d.get(key, "\0missing"), sort_keys=True) for d in parsed]))[0]
        out.append(per_text[codes] if codes.size else codes)
    return out


def attribute_flips(state: np.ndarray, segment: np.ndarray, cfg: QualityConfig) -> np.ndarray:
    """Boxes in a short run (at most `attribute_flip_frames`) of one attribute state inside a track's stretch,
    between two runs of another single state, the longer of them at least `attribute_context` boxes: an attribute
    that changes for a few frames and changes back (also just before or after a real change of it, where the
    shorter run may be a single box). `state` codes the boxes' attributes (sorted by track, frame)."""
    n = state.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    starts = np.r_[True, (state[1:] != state[:-1]) | (segment[1:] != segment[:-1])]
    run = np.cumsum(starts) - 1
    first_of = np.flatnonzero(starts)
    length = np.diff(np.r_[first_of, n])
    run_state, run_seg = state[first_of], segment[first_of]
    before = np.r_[-1, run_state[:-1]]
    after = np.r_[run_state[1:], -1]
    same_seg = np.r_[False, run_seg[1:] == run_seg[:-1]] & np.r_[run_seg[:-1] == run_seg[1:], False]
    len_before, len_after = np.r_[0, length[:-1]], np.r_[length[1:], 0]
    flip = (same_seg & (length <= cfg.attribute_flip_frames) & (before == after) & (before != run_state)
            & (np.maximum(len_before, len_after) >= cfg.attribute_context))
    return flip[run]


def within_groups(group: np.ndarray, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (l, r) of positions of `left` and `right` (both ascending) whose `group` is the same, ordered by
    l then r; `group` is non-decreasing over the positions (boxes sorted by sequence)."""
    gl, gr = group[left], group[right]
    lo, hi = np.searchsorted(gr, gl, "left"), np.searchsorted(gr, gl, "right")
    count = hi - lo
    a = np.repeat(left, count)
    b = right[np.repeat(lo, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)]
    return a, b


def broken_tracks(f: np.ndarray, track: np.ndarray, first: np.ndarray, last: np.ndarray, cls: np.ndarray,
                  box: k.Box, tracked: np.ndarray, at_border: np.ndarray, right: np.ndarray, bottom: np.ndarray,
                  cfg: QualityConfig, seq: np.ndarray | None = None) -> np.ndarray:
    """The first box of each track that continues another track of its class under a new object id: it starts
    within `broken_gap_frames` of where the other ended, where that track's motion leads (IoU with the box carried
    on at its last velocity of at least `broken_iou`, a size within 1.5x); or, when the other left through the
    image border (moving out), it comes back in at that border where it left within `reentry_frames`, about its
    size. Each ended track is continued at most once (its best match). `right`, `bottom`: per box, its image's
    far edges as far as the boxes tell (inf when unknown); `seq`: per box, its sequence (boxes sorted by it; None
    for one sequence): tracks continue only tracks of their own sequence."""
    n = f.size
    out = np.zeros(n, dtype=bool)
    ends = np.flatnonzero(last & tracked)
    starts = np.flatnonzero(first & tracked)
    if ends.size == 0 or starts.size == 0:
        return out
    L, T, W, H = box
    vx = L - k.prev(L, first)
    vy = T - k.prev(T, first)
    steps = f - k.prev(f.astype(float), first)
    if seq is None:
        a, b = np.repeat(ends, starts.size), np.tile(starts, ends.size)
    else:
        a, b = within_groups(seq, ends, starts)
    d = f[b] - f[a]
    ok = (track[a] != track[b]) & (cls[a] == cls[b]) & (d >= 1)
    a, b, d = a[ok], b[ok], d[ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        va = np.nan_to_num(vx[a] / steps[a]), np.nan_to_num(vy[a] / steps[a])
        ratio = np.sqrt(W[b] * H[b] / (W[a] * H[a]))
    similar = (ratio <= 1.5) & (ratio >= 1 / 1.5)
    carried = (L[a] + va[0] * d, T[a] + va[1] * d, W[a], H[a])
    fit = k.iou(carried, tuple(x[b] for x in box))
    continued = similar & (d <= cfg.broken_gap_frames + 1) & (fit >= cfg.broken_iou)
    # Back through the border it left by: close to where it left (a quarter box), its size, moving out
    # of the picture there and back into it (the other way) on its return.
    vb = (np.nan_to_num((k.next_(L, last) - L)[b]), np.nan_to_num((k.next_(T, last) - T)[b]))
    to_centre = (np.where(np.isfinite(right), right / 2 - (L + W / 2), -(L + W / 2)),
                 np.where(np.isfinite(bottom), bottom / 2 - (T + H / 2), -(T + H / 2)))
    outward = va[0] * to_centre[0][a] + va[1] * to_centre[1][a] < 0
    inward = vb[0] * to_centre[0][b] + vb[1] * to_centre[1][b] > 0
    near = np.hypot(L[b] + W[b] / 2 - L[a] - W[a] / 2, T[b] + H[b] / 2 - T[a] - H[a] / 2) \
        <= 0.25 * np.sqrt(W[a] * H[a])  # (another object of the class, a lane over, is further)
    came_back = ((ratio <= 1.15) & (ratio >= 1 / 1.15) & at_border[a] & at_border[b] & near & outward & inward
                 & (d <= cfg.reentry_frames))
    hit = continued | came_back
    a, b, fit = a[hit], b[hit], np.nan_to_num(fit[hit]) + continued[hit]
    if a.size:
        order = np.lexsort((-fit, a))  # per ended track, its best continuation first
        a, b = a[order], b[order]
        best = np.r_[True, a[1:] != a[:-1]]
        out[b[best]] = True
    return out


_OCCLUSION = re.compile(r'"([^"]*(?:occlu|truncat|hidden|visib)[^"]*)"\s*:\s*"?([^",}]*)', re.IGNORECASE)
_NOT_OCCLUDED = {"", "none", "no", "false", "0", "0%", "n", "not occluded", "unoccluded", "fully visible", "visible",
                 "not_occluded", "fully_visible", "null"}


def says_hidden(text: object) -> bool:
    """Whether attributes as JSON text say the object is partly hidden (a key such as Occlusion, occluded,
    truncated with a value other than none/no/false/0, or a visibility key saying no or partly)."""
    if not isinstance(text, str):
        return False
    for key, value in _OCCLUSION.findall(text):
        value = value.strip().lower()
        if "visib" in key.lower():
            if value in ("no", "false", "0", "partial", "partly", "partially"):
                return True
        elif value not in _NOT_OCCLUDED:
            return True
    return False


def occlusion_marked(df: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Whether the boxes at `rows` carry an attribute saying the object is partly hidden (`says_hidden`); all
    False without an `attributes` column (the boxes' label-category attributes as JSON text). Looked at only for
    the few rows that need it."""
    if "attributes" not in df.columns or rows.size == 0:
        return np.zeros(rows.size, dtype=bool)
    texts = df["attributes"].to_numpy()[rows]
    return np.fromiter((says_hidden(t) for t in texts), dtype=bool, count=rows.size)


@dataclass(frozen=True)
class Attributes:
    """The boxes' label-category attributes, decoded once: per attribute key, a code of each box's value
    (`attribute_states`), and whether each box is marked partly hidden (`says_hidden`). Rows as the boxes'."""

    states: list[np.ndarray]
    hidden: np.ndarray

    def take(self, order: np.ndarray) -> "Attributes":
        """The same for the boxes in `order`."""
        return Attributes([s[order] for s in self.states], self.hidden[order])


def map_attributes(column: pa.Array | pa.ChunkedArray) -> Attributes:
    """`Attributes` straight from an Arrow map<string, string> column (what Spark hands a UDF): keys and values
    dictionary-encoded in Arrow, no JSON text and no Python object per box. The same codes and marks as the JSON
    text of each map gives (`attribute_states`, `says_hidden`): equal values, equal codes; a missing key is a
    value of its own; a box is marked where one of its (key, value) pairs says hidden."""
    import json

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    arr = pa.concat_arrays([arr]) if arr.offset else arr  # offsets from 0 into the children
    n = len(arr)
    lengths = np.diff(arr.offsets.to_numpy()) * arr.is_valid().to_numpy(zero_copy_only=False)
    start = arr.offsets.to_numpy()[:-1]
    entry = np.repeat(start, lengths) + (np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    row = np.repeat(np.arange(n), lengths)
    keys = pc.dictionary_encode(arr.keys.take(pa.array(entry, pa.int64()))) if entry.size else None
    if keys is None:
        return Attributes([], np.zeros(n, dtype=bool))
    items = pc.dictionary_encode(pc.fill_null(arr.items.take(pa.array(entry, pa.int64())), "\0null"))
    key_code, key_names = keys.indices.to_numpy(), keys.dictionary.to_pylist()
    value_code, values = items.indices.to_numpy(), items.dictionary.to_pylist()
    states = []
    for key in np.argsort(np.array(key_names, dtype=object), kind="stable"):
        state = np.full(n, -1, dtype=np.int64)  # (the key missing: a value of its own)
        mine = key_code == key
        state[row[mine]] = value_code[mine]
        states.append(state)
    pairs = np.unique(key_code * len(values) + value_code)
    hidden_pair = {int(p): says_hidden(json.dumps({key_names[p // len(values)]: None if values[p % len(values)]
                                                   == "\0null" else values[p % len(values)]},
                                                  ensure_ascii=False, separators=(",", ":")))
                   for p in pairs}
    says = np.zeros(int(pairs.max()) + 1, dtype=bool)
    says[pairs] = [hidden_pair[int(p)] for p in pairs]
    hidden = np.zeros(n, dtype=bool)
    hidden[row[says[key_code * len(values) + value_code]]] = True
    return Attributes(states, hidden)


def occlusion_onset(marked_at: Callable[[np.ndarray], np.ndarray], track: np.ndarray, ends: np.ndarray,
                    truncated: np.ndarray, context: int = 6) -> np.ndarray:
    """For each box ending a gap (`ends`), whether the track says it was hidden there: the box before the gap or
    this one is marked partly hidden (`marked_at` of row positions) while, within `context` boxes on that side, the track has
    an unmarked one (the marking begins or ends at the gap, as an object goes behind something and comes out). A
    track marked throughout (always half hidden) is still there to be boxed, and so is one cut by the image border
    (marked boxes at the border do not count: that is truncation, not occlusion)."""
    if ends.size == 0:
        return np.zeros(0, dtype=bool)
    n = track.size
    out = np.zeros(ends.size, dtype=bool)
    for anchor, direction in ((ends - 1, -1), (ends, 1)):
        rows = np.clip(anchor[:, None] + direction * np.arange(context + 1)[None, :], 0, n - 1)
        same = track[rows] == track[anchor][:, None]
        marked = marked_at(rows.ravel()).reshape(rows.shape) & ~truncated[rows]
        out |= marked[:, 0] & (~marked & same).any(axis=1)
    return out


COVERED = 0.8  # share of an object's box another box must cover for its missing box to be an occlusion


def covered_gaps(f: np.ndarray, track: np.ndarray, box: k.Box, gaps_after: np.ndarray) -> np.ndarray:
    """Per box that ends a gap (`gaps_after`), whether on a frame of that gap another track's box covers most
    (COVERED) of where the object was (its box interpolated across the gap): it went behind that object. (An
    object half covered is still there to be boxed.) `f`: frame keys (`kernels.frame_keys`)."""
    out = np.zeros(f.size, dtype=bool)
    ends = np.flatnonzero(gaps_after)
    if ends.size == 0:
        return out
    L, T, W, H = box
    reps = (f[ends] - f[ends - 1] - 1).astype(np.int64)
    owner = np.repeat(ends, reps)
    step = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps) + 1
    w = step / np.repeat(reps + 1, reps)
    frame = f[owner - 1] + step
    gap_box = tuple(x[owner - 1] + w * (x[owner] - x[owner - 1]) for x in box)
    missing = pd.DataFrame({"frame_no": frame, "owner": owner, "track": track[owner]})
    others = pd.DataFrame({"frame_no": f, "other": np.arange(f.size), "other_track": track})
    pairs = missing.reset_index().merge(others, on="frame_no", how="inner")
    pairs = pairs[pairs["other_track"] != pairs["track"]]
    if pairs.empty:
        return out
    i, j = pairs["index"].to_numpy(), pairs["other"].to_numpy()
    mine = tuple(x[i] for x in gap_box)
    theirs = tuple(x[j] for x in box)
    iw = np.minimum(mine[0] + mine[2], theirs[0] + theirs[2]) - np.maximum(mine[0], theirs[0])
    ih = np.minimum(mine[1] + mine[3], theirs[1] + theirs[3]) - np.maximum(mine[1], theirs[1])
    share = np.clip(iw, 0, None) * np.clip(ih, 0, None) / (mine[2] * mine[3])
    out[pairs["owner"].to_numpy()[share >= COVERED]] = True
    return out


SEQUENCE_KEYS = ("job_name", "sequence_id")  # what tells a batch's sequences apart, where present


def detect_sequence(boxes: pd.DataFrame, cfg: QualityConfig = QualityConfig()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`detect_boxes` of the boxes of one sequence (whatever their sequence_id says): the per-sequence path, kept
    as the reference the batch path is tested equal to."""
    return detect_boxes(boxes, cfg, by=())


def _in_track_order(seq: np.ndarray, object_id: pd.Series, frame_no: pd.Series) -> bool:
    """Whether rows already come in the order `detect_boxes` sorts them to (sequence, object, frame; no object
    missing): sorting them again, stably, would change nothing."""
    if len(seq) < 2 or object_id.isna().any():
        return len(seq) < 2
    obj, f = object_id.to_numpy(), frame_no.to_numpy()
    same_seq, same_obj = seq[1:] == seq[:-1], obj[1:] == obj[:-1]
    ahead = (seq[1:] > seq[:-1]) | (same_seq & ((obj[1:] > obj[:-1]) | (same_obj & (f[1:] >= f[:-1]))))
    return bool(ahead.all())


def detect_boxes(boxes: pd.DataFrame, cfg: QualityConfig = QualityConfig(), by: tuple[str, ...] = SEQUENCE_KEYS,
                 attributes: Attributes | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(metrics per box, missing boxes) for the boxes of any number of sequences, told apart by the columns `by`
    (those present): every check looks only within a box's own sequence. A box's `missing_before` counts the
    missing frames just before it (the rows of the second frame).

    `boxes` needs object_id, frame_no, class_id, left, top, width, height; other columns are carried. The
    attribute and occlusion checks read `attributes` (JSON text), or, when given, `attributes` decoded already
    (`map_attributes`, rows as `boxes`'). Boxes without an object_id (detection jobs) get metrics NaN and no
    track checks.
    """
    keys = [c for c in by if c in boxes.columns]
    seq_of = (boxes.groupby(keys, sort=False, dropna=False).ngroup().to_numpy() if keys
              else np.zeros(len(boxes), dtype=np.int64))
    df = boxes.reset_index(drop=True).assign(__seq=seq_of)
    if not _in_track_order(seq_of, df["object_id"], df["frame_no"]):  # (a clustered file's rows already are)
        df = df.sort_values(["__seq", "object_id", "frame_no"], kind="stable", na_position="last")
    if attributes is not None:
        attributes = attributes.take(df.index.to_numpy())
    df = df.reset_index(drop=True)
    seq = df.pop("__seq").to_numpy()
    n = len(df)

    def marked_at(rows: np.ndarray) -> np.ndarray:  # boxes marked partly hidden, at row positions
        return attributes.hidden[rows] if attributes is not None else occlusion_marked(df, rows)

    obj = df["object_id"].fillna("\0none").to_numpy()
    track = np.cumsum(np.r_[n > 0, (seq[1:] != seq[:-1]) | (obj[1:] != obj[:-1])][:n]) - 1
    tracked = df["object_id"].notna().to_numpy()
    first, last = k.track_bounds(track)
    f = df["frame_no"].to_numpy()
    fkey = k.frame_keys(f, seq)  # a box's frame, told apart from the other sequences' frames
    L, T, W, H = (df[c].to_numpy(dtype=float) for c in ("left", "top", "width", "height"))
    box = (L, T, W, H)
    pbox = tuple(k.prev(x, first) for x in box)
    gap = k.gaps(f, first)
    iou_prev = k.iou(box, pbox)
    seg_first, seg_last = _segment_bounds(first, last, gap, cfg.max_missing_gap)

    # Judge each track against its own motion, in the picture with the camera's jerks taken out.
    sbox = _stabilized(f, first, box, cfg.camera_min_tracks, seq)
    Ls, Ts, Ws, Hs = sbox
    segment = np.cumsum(seg_first)  # occlusion-free stretches of a track
    size = np.sqrt(Ws * Hs)
    tol = (cfg.residual_rel * size + cfg.residual_px) * cfg.motion_scale
    edges = (Ls, Ts, Ls + Ws, Ts + Hs)
    # An edge off the line through its neighbours (one wrong frame), or off its centred baseline median once the
    # track's steady motion is taken out (a wrong stretch of a few frames, which the line through corrupted
    # neighbours would miss, even on an object moving more pixels a frame than the stretch is off). One
    # wrong frame also pulls its neighbours' line residuals up by half: only a local peak counts.
    per_edge = [_predictions(e, f, seg_first, seg_last) for e in edges]  # (also the boxes `_predicted` below)
    line = np.fmax.reduce(np.stack([_edge_residual(e, f, seg_first, seg_last, p) for e, p in zip(edges, per_edge)]))
    baseline = np.fmax.reduce(np.stack(k.rolling_median_deviations(
        k.detrended(edges, f, first, segment, cfg.baseline_window), segment, cfg.baseline_window)))
    peak = line >= np.fmax(k.prev(line, seg_first), k.next_(line, seg_last))
    residual = np.fmax(np.where(peak | np.isnan(line), line, np.nan), baseline)
    norm = residual / tol
    typical = k.robust_scale(np.nan_to_num(norm), track, floor=cfg.residual_steady / cfg.residual_track_k)
    # Near where a track appears or disappears (image border or occluder), boxes legitimately grow or
    # shrink as the object comes into view: ask for twice the evidence there, and no size/IoU alarms.
    pos = pd.Series(np.ones(n)).groupby(segment).cumsum().to_numpy()
    from_end = pd.Series(np.ones(n))[::-1].groupby(segment[::-1]).cumsum()[::-1].to_numpy()
    entering = (pos <= cfg.edge_frames) | (from_end <= cfg.edge_frames)
    strictness = np.where(entering, 2.0, 1.0)
    off_path = (norm > strictness * cfg.residual_steady) & (norm > strictness * cfg.residual_track_k * typical)

    # IoU with where the track's motion puts the box (the best of `_predictions`), not with the previous box: a
    # fast object has a low IoU with its previous box on every frame. An edge within `quant_px` of where it should
    # be is never evidence (whole-pixel coordinates, a steady hand's noise).
    preds = _predicted(sbox, f, seg_first, seg_last, per_edge)
    iou_pred = np.fmax.reduce(np.stack([k.iou(sbox, p) for p in preds]))
    deviation = np.fmin.reduce(np.stack([np.fmax.reduce(np.stack([np.abs(a - b) for a, b in zip(
        edges, (p[0], p[1], p[0] + p[2], p[1] + p[3]))])) for p in preds]))
    lowest = np.nan_to_num(iou_pred, nan=1.0) <= np.fmin(np.nan_to_num(k.prev(iou_pred, seg_first), nan=1.0),
                                                          np.nan_to_num(k.next_(iou_pred, seg_last), nan=1.0))
    miss = 1.0 - np.nan_to_num(iou_pred, nan=1.0)
    typical_miss = k.robust_scale(miss, track, floor=0.02)
    low_iou = ((iou_pred < cfg.iou_min) & lowest & (deviation > cfg.quant_px)
               & (miss > cfg.iou_track_k * typical_miss) & ~entering)

    # The image size is not in the labels: its far edges are where boxes stop, trusted only when at least
    # two tracks reach them (a single track's largest extent is not an edge). Near edges are 0. Per sequence.
    def far_edge(right: np.ndarray) -> np.ndarray:
        edge = pd.Series(right).groupby(seq).transform("max").to_numpy()
        reaching = right >= edge - cfg.border_px
        reach = pd.Series(track[reaching]).groupby(seq[reaching]).nunique()
        return np.where(pd.Series(seq).map(reach).fillna(0).to_numpy() >= 2, edge, np.inf)

    right, bottom = far_edge(L + W), far_edge(T + H)
    at_border = ((L <= cfg.border_px) | (T <= cfg.border_px) | (L + W >= right - cfg.border_px)
                 | (T + H >= bottom - cfg.border_px))
    # Cut by the border, as far as an annotator's interpolated box tells (it lags behind where the object is).
    mw, mh = np.fmax(cfg.border_px, 0.2 * W), np.fmax(cfg.border_px, 0.2 * H)
    truncated = (L <= mw) | (T <= mh) | (L + W >= right - mw) | (T + H >= bottom - mh)
    # Size off its rolling medians by more than `size_change_max`, and a width or height off by more than whole-pixel
    # noise (`quant_px`): on a 25 px box one pixel on each edge is an 8% area change.
    log_area = np.log(Ws * Hs)
    short_dev = k.rolling_median_deviations((log_area, Ws, Hs), segment, cfg.window)
    long_dev = k.rolling_median_deviations((log_area, Ws, Hs), segment, cfg.baseline_window)
    size_dev = np.fmax(short_dev[0], long_dev[0])
    side_dev = np.fmax.reduce(np.stack(short_dev[1:] + long_dev[1:]))
    size_jump = ((size_dev > np.log1p(cfg.size_change_max)) & (side_dev > cfg.quant_px)
                 & ~at_border & ~entering)
    # ... nor where the track's own attributes say the object is partly hidden around it (its box shrinks to
    # what is visible).
    cand = np.flatnonzero(size_jump)
    if cand.size:
        near = np.clip(cand[:, None] + np.arange(-2, 3)[None, :], 0, n - 1)
        hidden = marked_at(near.ravel()).reshape(near.shape) & (track[near] == track[cand][:, None])
        size_jump[cand[hidden.any(axis=1)]] = False

    cls = df["class_id"].astype("string").fillna("").to_numpy()
    class_flip = (cls != k.track_mode(cls, track)) & tracked

    # Duplicates: same class, heavy overlap on most of the shorter track's frames (crossing objects
    # overlap only briefly); the shorter track's boxes are the suspects.
    n_boxes = pd.Series(track).map(pd.Series(track).value_counts()).to_numpy()
    duplicate = np.zeros(n, dtype=bool)
    a, b = _pairs_on_frames(fkey, cls, tracked)
    if a.size:
        heavy = k.iou(tuple(x[a] for x in box), tuple(x[b] for x in box)) >= cfg.duplicate_iou
        a, b = a[heavy], b[heavy]
        together = pd.Series(1, index=pd.MultiIndex.from_arrays([track[a], track[b]])).groupby(level=[0, 1]).transform("size")
        share = together.to_numpy() / np.minimum(n_boxes[a], n_boxes[b])
        keep = share >= cfg.duplicate_share
        a, b = a[keep], b[keep]
        duplicate[a[n_boxes[a] <= n_boxes[b]]] = True
        duplicate[b[n_boxes[b] <= n_boxes[a]]] = True

    # Identity swaps: among boxes that jumped, two on one frame of one class whose boxes each continue the other's
    # track far better (each track's motion carried on from its two previous boxes) than their own.
    # (A swap is a change of motion, which `_edge_residual` forgives: what jumped is off the track's past motion.)
    jumped = tracked & (gap == 0) & ~first & (np.nan_to_num(k.iou(sbox, preds[1]), nan=1.0) < cfg.iou_min)
    id_swap = np.zeros(n, dtype=bool)
    a, b = _pairs_on_frames(fkey, cls, jumped)
    if a.size:
        p1 = tuple(k.prev(x, first) for x in sbox)
        p2 = tuple(k.prev(x, first) for x in p1)
        ahead = tuple(np.where(np.isnan(x2), x1, 2 * x1 - x2) for x1, x2 in zip(p1, p2))
        cur_a, cur_b = tuple(x[a] for x in sbox), tuple(x[b] for x in sbox)
        ahead_a, ahead_b = tuple(x[a] for x in ahead), tuple(x[b] for x in ahead)
        gain = (k.iou(ahead_a, cur_b) + k.iou(ahead_b, cur_a)) - (k.iou(ahead_a, cur_a) + k.iou(ahead_b, cur_b))
        swapped = gain > cfg.swap_gain
        id_swap[a[swapped]] = id_swap[b[swapped]] = True

    attribute_flip = np.zeros(n, dtype=bool)
    states = attributes.states if attributes is not None else \
        attribute_states(df["attributes"]) if "attributes" in df.columns else []
    for state in states:
        attribute_flip |= attribute_flips(state, segment, cfg)
    attribute_flip &= tracked
    broken = broken_tracks(f, track, first, last, cls, sbox, tracked, at_border, right, bottom, cfg, seq)

    flags_by_reason = {"off_path": off_path & tracked, "low_iou": low_iou & tracked, "size_jump": size_jump & tracked,
                       "class_flip": class_flip, "duplicate_box": duplicate, "id_swap": id_swap,
                       "broken_track": broken, "attribute_flip": attribute_flip}
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
    out["iou_pred"] = np.where(tracked, iou_pred, np.nan)
    none: list[str] = []
    flags = [none] * n  # almost no box is flagged: build lists only for those that are
    for i in np.flatnonzero(matrix.any(axis=1)):
        flags[i] = list(names[matrix[i]])
    out["flags"] = flags
    out["score"] = score

    # Missing boxes: the frames inside short gaps, unless the track was a sliver at the image border on
    # either side of the gap (it left the picture for a moment: nothing to label), its boxes on either side say
    # it was occluded (an occlusion attribute), or another object's box covers where it was (it went behind it).
    med_w = pd.Series(W).groupby(track).transform("median").to_numpy()
    med_h = pd.Series(H).groupby(track).transform("median").to_numpy()
    sliver = at_border & ((W < 0.35 * med_w) | (H < 0.35 * med_h))
    short = tracked & (gap >= 1) & (gap <= cfg.max_missing_gap) & ~sliver & ~np.r_[False, sliver[:-1]]
    if short.any():
        short[np.flatnonzero(short)[occlusion_onset(marked_at, track, np.flatnonzero(short), truncated)]] = False
        short &= ~covered_gaps(fkey, track, box, short)
    out["missing_before"] = np.where(short, gap, 0).astype("int32")
    idx = np.flatnonzero(short)
    reps = gap[idx]
    missing = pd.DataFrame({
        **{c: np.repeat(df[c].to_numpy()[idx], reps) for c in keys},
        "object_id": np.repeat(df["object_id"].to_numpy()[idx], reps),
        "object_name": np.repeat(df["object_name"].to_numpy()[idx], reps) if "object_name" in df else None,
        "frame_no": np.repeat(f[idx] - reps, reps) + (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)),
    })
    missing["flags"] = [["missing_box"]] * len(missing)
    missing["score"] = REASON_WEIGHTS["missing_box"]
    return out, missing


DETECTOR_READS = ("object_id", "frame_no", "class_id", "left", "top", "width", "height")  # besides attributes


def detect_table(table: pa.Table, cfg: QualityConfig, schema: pa.Schema,
                 keys: tuple[str, ...] = SEQUENCE_KEYS) -> pa.Table:
    """`detect_boxes` over an Arrow table of whole sequences, each one contiguous run of `keys` (as
    `udfs.batches.whole_sequences` yields them), as a table of `schema`: only the columns the checks read become
    pandas; `attributes` (map<string, string>) is decoded in Arrow (`map_attributes`); every other column of
    `schema` that the table has is carried through in Arrow, never made Python objects."""
    from gtlake.udfs.batches import run_starts

    pdf = table.select(list(DETECTOR_READS)).to_pandas()
    pdf["_seq"] = np.cumsum(run_starts(table, keys)) - 1
    pdf["_row"] = np.arange(table.num_rows)
    attributes = None
    if "attributes" in table.column_names:
        if pa.types.is_map(table.schema.field("attributes").type):
            attributes = map_attributes(table.column("attributes"))
        else:
            pdf["attributes"] = table.column("attributes").to_pandas()
    out, _ = detect_boxes(pdf, cfg, by=("_seq",), attributes=attributes)
    rows = out["_row"].to_numpy()
    carried = table if np.array_equal(rows, np.arange(table.num_rows)) else table.take(pa.array(rows))
    computed = set(out.columns) - set(table.column_names)
    return pa.Table.from_arrays(
        [pa.array(out[f.name], type=f.type) if f.name in computed else carried.column(f.name).cast(f.type)
         for f in schema], schema=schema)
