"""A model's predictions as a second opinion on one sequence's labels: what the labelers left out, boxes the model
puts clearly elsewhere, and classes it disagrees with (`gtlake predictions` stores them, `jobs.quality` queues
them).

Pure numpy/pandas, no Spark, two passes so that the thresholds come from the lake itself:

1. `match_sequence(labels, predictions)`: per frame, each prediction paired with at most one label by IoU (an
   assignment that prefers a label of the prediction's class, then the larger overlap; pairs below `match_iou`
   never form). Run over every sequence of a job.
2. `calibrate(matches)`: per class, the model's own behaviour on this lake, from its predictions that match a
   label of their class: "confident" is a score at least the `matched_quantile` quantile of theirs (as sure as
   nine in ten of its detections that the labels confirm, so it means what it means for this model on this
   footage, not 0.5; a precision-based cut would be dragged down by the very omissions it is meant to find), and
   the typical offset between its boxes and the labels it clearly overlaps (median and robust spread of the worst
   edge's offset over the box's size).
3. `second_opinion(labels, predictions, matches, calibration)`: the findings of one sequence:
   * `overlooked`: confident unmatched predictions that form a chain over at least `overlooked_frames` frames (by
     the model's track id when it gives one, else linked frame to frame by overlap): an object nobody labeled, or
     the part of a track that was not labeled. Named by the chain's most confident frame (among its confident
     frames where it touches no label of its class, when it has such frames) and the predicted box;
     there is no object id. A single confident false detection never chains.
   * `badly_located`: a label whose same-class prediction overlaps it clearly (IoU >= `clear_iou`) but whose worst
     edge is off by far more than the model's typical offset on that class (median + `offset_k` robust sigmas) and
     by more than `offset_floor_px` pixels (whole-pixel rounding is never evidence).
   * `class_disagrees`: a track whose clearly overlapping confident predictions name another class on at least
     `disagree_share` of its matched frames (and on at least `disagree_frames` frames).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from gtlake.udfs.config import check_ranges, number_overrides
from gtlake.udfs.matching import _assign, _frames, iou_matrix

LABEL_COLUMNS = ["frame_no", "object_id", "label", "left", "top", "width", "height"]
PREDICTION_COLUMNS = ["frame_no", "label", "score", "left", "top", "width", "height", "track_id"]
FINDING_COLUMNS = ["reason", "frame_no", "object_id", "label", "model_label", "left", "top", "width", "height",
                   "score", "frames", "evidence"]
REASONS = ("overlooked", "badly_located", "class_disagrees")
SIZE_PX = 2.0  # sizes (sqrt of area) this close are similar whatever their ratio: a model's pixel of jitter


@dataclass(frozen=True)
class PredictionConfig:
    """How predictions are read against the labels (README: *Label quality*, a model's second opinion)."""

    match_iou: float = 0.3  # a prediction and a label of one frame pair only at or above this overlap
    clear_iou: float = 0.4  # "overlaps it clearly": badly_located and class_disagrees judge only such pairs
    matched_quantile: float = 0.1  # a class's threshold: this quantile of the scores of its label-confirmed predictions
    min_calibration: int = 20  # matched predictions a class needs for its own threshold, else default_threshold
    default_threshold: float = 0.5
    thresholds: tuple[tuple[str, float], ...] = ()  # (class, score) overrides of the calibrated thresholds
    overlooked_frames: int = 3  # frames a chain of confident unmatched predictions needs to be an overlooked object
    chain_share: float = 0.5  # unmatched predictions scored at least this share of the threshold are chained (a
    # real object the model is briefly unsure of stays one chain), and a chain needs overlooked_frames confident ones
    link_iou: float = 0.3  # chaining unmatched predictions that carry no track id: overlap with the chain's last box
    link_distance: float = 1.0  # ... or a centre within this many box sizes per frame (a small fast object)
    link_px: float = 16.0  # ... or within this many pixels per frame (a tiny fast object: 5 px moving 12 a frame)
    link_gap: int = 5  # ... at most this many frames later (crossing another object, a few misses)
    offset_k: float = 4.0  # badly_located: offset beyond the class's median + k robust sigmas ...
    offset_floor_px: float = 2.0  # ... and beyond this many pixels on the worst edge
    disagree_share: float = 0.6  # class_disagrees: share of a track's clearly matched frames naming another class
    disagree_frames: int = 3

    RANGES: ClassVar[dict[str, tuple[float, float, bool]]] = {
        "match_iou": (0, 1, True), "clear_iou": (0, 1, True), "matched_quantile": (0, 1, False),
        "min_calibration": (1, 1e9, False), "default_threshold": (0, 1, False), "overlooked_frames": (1, 1e6, False),
        "chain_share": (0, 1, False), "link_iou": (0, 1, True), "link_distance": (0, 100, False),
        "link_px": (0, 1e4, False), "link_gap": (1, 1e6, False), "offset_k": (0, 1e3, True), "offset_floor_px": (0, 1e4, False),
        "disagree_share": (0, 1, True), "disagree_frames": (1, 1e6, False)}

    def __post_init__(self) -> None:
        check_ranges(self, self.RANGES)
        for pair in self.thresholds:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[0], str)
                    and isinstance(pair[1], (int, float)) and not isinstance(pair[1], bool) and 0 <= pair[1] <= 1):
                raise ValueError(f"thresholds: [class, score from 0 to 1] pairs, not {pair!r}")

    @classmethod
    def from_json(cls, text: str) -> "PredictionConfig":
        """A config from a JSON object of overrides (numbers, and `thresholds`: [[class, score], ...]); unknown
        keys, wrong types or values out of range raise ValueError."""
        data = json.loads(text)
        pairs = data.pop("thresholds", ()) if isinstance(data, dict) else ()
        if not isinstance(pairs, list) and pairs != ():
            raise ValueError("thresholds: a list of [class, score] pairs")
        return cls(**number_overrides(cls, json.dumps(data), "predictions"),
                   thresholds=tuple(tuple(p) if isinstance(p, list) else p for p in pairs))


@dataclass(frozen=True)
class Calibration:
    """What `calibrate` learned of the model on this lake: per class, the confidence threshold and the typical
    offset of its boxes from the labels (median, robust sigma of the worst edge's offset over sqrt(area))."""

    thresholds: dict[str, float]
    offsets: dict[str | tuple[str, int], tuple[float, float]]  # by class, and by (class, size_bin) where known
    default_threshold: float = 0.5

    def threshold(self, label: str) -> float:
        """The score at or above which a prediction of `label` is confident."""
        return self.thresholds.get(label, self.default_threshold)

    def offset(self, label: str, size_px: float) -> tuple[float, float] | None:
        """(median, robust sigma) of the model's relative offset for boxes of `label` about `size_px` big: its
        size bin's when calibrated (small boxes wander more, relative to their size), else the class's."""
        return self.offsets.get((label, size_bin(size_px))) or self.offsets.get(label)


def size_bin(size_px: float) -> int:
    """Octave of a box's size (sqrt of its area): 0 below 16 px, then 16-32, 32-64, 64-128, 128 and up."""
    return int(np.clip(np.floor(np.log2(max(size_px, 1.0) / 8.0)), 0, 4))


def _boxes(df: pd.DataFrame) -> np.ndarray:
    return df[["left", "top", "width", "height"]].to_numpy(float)


def edge_offsets(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(worst edge's offset in pixels, that offset over sqrt of b's area) of boxes a against boxes b (n x 4)."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    edges_a = np.stack([a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]], axis=1)
    edges_b = np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1)
    px = np.abs(edges_a - edges_b).max(axis=1)
    return px, px / np.sqrt(np.maximum(b[:, 2] * b[:, 3], 1.0))


def match_sequence(labels: pd.DataFrame, predictions: pd.DataFrame, cfg: PredictionConfig = PredictionConfig()
                   ) -> pd.DataFrame:
    """One row per prediction of the sequence (in `predictions`' order): `label_index` (the row position in
    `labels` of the label it pairs with, -1 for none), `iou`, `same_class`, and the prediction's `label`, `score`."""
    n = len(predictions)
    out_label = np.full(n, -1, dtype=np.int64)
    out_iou = np.zeros(n)
    if n and len(labels):
        lab_frames = _frames(labels["frame_no"].to_numpy())
        lab_boxes, lab_class = _boxes(labels), labels["label"].astype(str).to_numpy()
        pred_boxes, pred_class = _boxes(predictions), predictions["label"].astype(str).to_numpy()
        for frame, p_idx in _frames(predictions["frame_no"].to_numpy()).items():
            l_idx = lab_frames.get(frame)
            if l_idx is None:
                continue
            iou = iou_matrix(pred_boxes[p_idx], lab_boxes[l_idx])
            same = pred_class[p_idx][:, None] == lab_class[l_idx][None, :]
            cost = np.where(iou >= cfg.match_iou, -(iou + same), np.nan)  # a same-class pair always wins
            for i, j in zip(*_assign(cost)):
                out_label[p_idx[i]], out_iou[p_idx[i]] = l_idx[j], iou[i, j]
    lab_class_all = labels["label"].astype(str).to_numpy() if len(labels) else np.array([], dtype=object)
    matched = out_label >= 0
    same_class = np.zeros(n, bool)
    same_class[matched] = lab_class_all[out_label[matched]] == predictions["label"].astype(str).to_numpy()[matched]
    return pd.DataFrame({"label_index": out_label, "iou": out_iou, "same_class": same_class,
                         "label": predictions["label"].astype(str).to_numpy(),
                         "score": predictions["score"].to_numpy(float)})


def calibrate(matches: pd.DataFrame, offsets: pd.DataFrame | None = None, cfg: PredictionConfig = PredictionConfig()
              ) -> Calibration:
    """Per-class thresholds from every sequence's `match_sequence` rows (concatenated), and per-class offsets from
    `offsets` (`pair_offsets` of every sequence: per class, and per class and size octave). A class (or octave)
    with fewer than `min_calibration` pairs takes the default threshold (or the class's offset)."""
    thresholds: dict[str, float] = {}
    for label, g in matches.groupby("label"):
        hits = (g["label_index"].to_numpy() >= 0) & g["same_class"].to_numpy()
        if hits.sum() < cfg.min_calibration:
            continue
        thresholds[str(label)] = float(np.quantile(g["score"].to_numpy(float)[hits], cfg.matched_quantile))
    thresholds.update({str(k): float(v) for k, v in cfg.thresholds})
    spread: dict[str, tuple[float, float]] = {}
    if offsets is not None and len(offsets):
        bins = [size_bin(x) for x in offsets["size_px"].to_numpy(float)]
        for key, g in [*offsets.groupby("label"), *offsets.assign(_bin=bins).groupby(["label", "_bin"])]:
            v = g["offset_rel"].to_numpy(float)
            if len(v) >= cfg.min_calibration:
                med = float(np.median(v))
                k = str(key) if not isinstance(key, tuple) else (str(key[0]), int(key[1]))
                spread[k] = (med, float(1.4826 * np.median(np.abs(v - med))))
    return Calibration(thresholds, spread, cfg.default_threshold)


def pair_offsets(labels: pd.DataFrame, predictions: pd.DataFrame, matches: pd.DataFrame,
                 cfg: PredictionConfig = PredictionConfig()) -> pd.DataFrame:
    """The clear same-class pairs of one sequence: label row, prediction row, label, offset_px, offset_rel (the
    label's worst edge against the prediction, over sqrt of the prediction's area), size_px (that sqrt)."""
    keep = (matches["label_index"].to_numpy() >= 0) & matches["same_class"].to_numpy() & \
        (matches["iou"].to_numpy() >= cfg.clear_iou)
    p_rows = np.flatnonzero(keep)
    l_rows = matches["label_index"].to_numpy()[keep]
    px, rel = edge_offsets(_boxes(labels)[l_rows], _boxes(predictions)[p_rows]) if p_rows.size else (
        np.zeros(0), np.zeros(0))
    pb = _boxes(predictions)[p_rows]
    return pd.DataFrame({"label_row": l_rows, "prediction_row": p_rows,
                         "label": predictions["label"].astype(str).to_numpy()[p_rows], "offset_px": px,
                         "offset_rel": rel, "size_px": np.sqrt(np.maximum(pb[:, 2] * pb[:, 3], 0.0))})


def _near(a: np.ndarray, b: np.ndarray, reach: np.ndarray, reach_px: np.ndarray | float = 0.0) -> np.ndarray:
    """Whether each box of `a` is within `reach` (in units of sqrt of b's area, per pair) or `reach_px` pixels of
    each box of `b`, centre to centre, and of a similar size (areas within a factor 2, or sizes within `SIZE_PX`):
    a small fast object overlaps little, and a tiny one (a ball, a far helmet) moves several of its sizes a frame."""
    ca, cb = a[:, :2] + a[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2
    size = np.sqrt(np.maximum(b[:, 2] * b[:, 3], 1.0))
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=-1)
    area_a, area_b = (a[:, 2] * a[:, 3])[:, None], (b[:, 2] * b[:, 3])[None, :]
    similar = ((np.maximum(area_a, area_b) <= 2 * np.maximum(np.minimum(area_a, area_b), 1e-9))
               | (np.abs(np.sqrt(area_a) - np.sqrt(area_b)) <= SIZE_PX))  # a pixel on each side of a 4 px box
    return ((dist <= reach * size[None, :]) | (dist <= reach_px)) & similar


def _touching_own_class(labels: pd.DataFrame, predictions: pd.DataFrame) -> np.ndarray:
    """Per prediction, whether it overlaps (IoU > 0) a label of its own class on its frame."""
    out = np.zeros(len(predictions), dtype=bool)
    if not len(labels) or not len(predictions):
        return out
    lab_frames = _frames(labels["frame_no"].to_numpy())
    lab_boxes, lab_class = _boxes(labels), labels["label"].astype(str).to_numpy()
    pred_boxes, pred_class = _boxes(predictions), predictions["label"].astype(str).to_numpy()
    for f, idx in _frames(predictions["frame_no"].to_numpy()).items():
        mine = lab_frames.get(f)
        if mine is not None:
            same = pred_class[idx][:, None] == lab_class[mine][None, :]
            out[idx] = ((iou_matrix(pred_boxes[idx], lab_boxes[mine]) > 0) & same).any(axis=1)
    return out


def _chains(predictions: pd.DataFrame, rows: np.ndarray, cfg: PredictionConfig) -> list[np.ndarray]:
    """Chains of prediction rows: by track id where the model gave one, else linked frame to frame (same class,
    IoU >= link_iou with the chain's last box, at most link_gap frames later; one assignment per frame)."""
    chains: list[list[int]] = []
    tracks = predictions["track_id"].to_numpy(object) if "track_id" in predictions else np.full(len(predictions), None)
    with_id = [r for r in rows if tracks[r] is not None and tracks[r] == tracks[r]]
    by_track: dict[tuple, list[int]] = {}
    for r in with_id:
        by_track.setdefault((str(predictions["label"].iat[r]), str(tracks[r])), []).append(int(r))
    chains += list(by_track.values())
    free = np.array(sorted(set(rows.tolist()) - set(with_id)), dtype=np.int64)
    if free.size:
        frame = predictions["frame_no"].to_numpy()[free]
        boxes, classes = _boxes(predictions)[free], predictions["label"].astype(str).to_numpy()[free]
        open_: list[list[int]] = []  # indexes into free
        for f, idx in sorted(_frames(frame).items()):
            live = [c for c in open_ if f - frame[c[-1]] <= cfg.link_gap]
            if live:
                last = np.array([c[-1] for c in live])
                iou = iou_matrix(boxes[idx], boxes[last])
                same = classes[idx][:, None] == classes[last][None, :]
                gap = (f - frame[last])[None, :]
                near = _near(boxes[idx], boxes[last], gap * cfg.link_distance, gap * cfg.link_px)
                cost = np.where(((iou >= cfg.link_iou) | near) & same, -iou - 1e-3 * ~near, np.nan)
                taken = set()
                for i, j in zip(*_assign(cost)):
                    live[j].append(int(idx[i]))
                    taken.add(int(i))
                new = [[int(idx[i])] for i in range(len(idx)) if i not in taken]
            else:
                new = [[int(i)] for i in idx]
            open_ += new
        chains += [[int(free[i]) for i in c] for c in open_]
    return [np.array(c, dtype=np.int64) for c in chains]


def second_opinion(labels: pd.DataFrame, predictions: pd.DataFrame, matches: pd.DataFrame, calibration: Calibration,
                   cfg: PredictionConfig = PredictionConfig()) -> pd.DataFrame:
    """The findings of one sequence (FINDING_COLUMNS): `overlooked` (object_id null, the predicted box),
    `badly_located` and `class_disagrees` (the label's object and frame, the model's box). `score` is the
    model's confidence at that frame, `frames` how many frames back the finding, `evidence` how far past its
    threshold it is (overlooked: mean score over the threshold; badly_located: robust z of the offset;
    class_disagrees: share of the track's matched frames)."""
    out: list[dict] = []
    if not len(predictions):
        return pd.DataFrame(columns=FINDING_COLUMNS)
    score = predictions["score"].to_numpy(float)
    pred_class = predictions["label"].astype(str).to_numpy()
    confident = score >= np.array([calibration.threshold(c) for c in pred_class])
    unmatched = matches["label_index"].to_numpy() < 0
    frames = predictions["frame_no"].to_numpy()
    floor = score >= cfg.chain_share * np.array([calibration.threshold(c) for c in pred_class])
    touching = _touching_own_class(labels, predictions)
    for chain in _chains(predictions, np.flatnonzero(floor & unmatched), cfg):
        n_frames = len(np.unique(frames[chain[confident[chain]]]))
        if n_frames < cfg.overlooked_frames:
            continue
        # Named by its most confident frame among the confident ones where it touches no label of its class
        # (where the labels stop, a tiny object's prediction may miss the last label by a pixel and chain on into
        # the unlabeled frames; other objects may overlap it anywhere in a crowd).
        sure = chain[confident[chain]]
        best = sure[np.argmax(score[sure] - 2.0 * touching[sure])]
        out.append({"reason": "overlooked", "frame_no": int(frames[best]), "object_id": None,
                    "label": pred_class[best], "model_label": pred_class[best],
                    **_box(predictions, best), "score": float(score[best]), "frames": n_frames,
                    "evidence": float(score[chain].mean() / max(calibration.threshold(pred_class[best]), 1e-9))})
    pairs = pair_offsets(labels, predictions, matches, cfg)
    if len(pairs):
        conf = confident[pairs["prediction_row"].to_numpy()]
        for k, p in enumerate(pairs.itertuples(index=False)):
            med_sigma = calibration.offset(p.label, p.size_px)
            if med_sigma is None or not conf[k] or p.offset_px <= cfg.offset_floor_px:
                continue
            med, sigma = med_sigma
            z = (p.offset_rel - med) / max(sigma, 1e-6)
            if z > cfg.offset_k:
                lab = labels.iloc[int(p.label_row)]
                out.append({"reason": "badly_located", "frame_no": int(lab["frame_no"]),
                            "object_id": lab["object_id"], "label": str(lab["label"]), "model_label": p.label,
                            **_box(predictions, int(p.prediction_row)), "score": float(score[p.prediction_row]),
                            "frames": 1, "evidence": float(z)})
    clear = (matches["label_index"].to_numpy() >= 0) & (matches["iou"].to_numpy() >= cfg.clear_iou)
    if clear.any():
        rows = np.flatnonzero(clear)
        lab_rows = matches["label_index"].to_numpy()[rows]
        objects = labels["object_id"].to_numpy(object)[lab_rows]
        other = confident[rows] & ~matches["same_class"].to_numpy()[rows]
        for obj in pd.unique(objects):
            mine = objects == obj
            n_other = int(other[mine].sum())
            if n_other < cfg.disagree_frames or n_other / mine.sum() < cfg.disagree_share:
                continue
            names, counts = np.unique(pred_class[rows[mine & other]], return_counts=True)
            said = names[np.argmax(counts)]
            pick = rows[mine & other][pred_class[rows[mine & other]] == said]
            best = pick[np.argmax(score[pick])]
            lab = labels.iloc[int(matches["label_index"].iat[best])]
            out.append({"reason": "class_disagrees", "frame_no": int(lab["frame_no"]), "object_id": obj,
                        "label": str(lab["label"]), "model_label": str(said), **_box(predictions, int(best)),
                        "score": float(score[best]), "frames": n_other, "evidence": float(n_other / mine.sum())})
    return pd.DataFrame(out, columns=FINDING_COLUMNS)


def _box(predictions: pd.DataFrame, row: int) -> dict:
    r = predictions.iloc[int(row)]
    return {"left": float(r["left"]), "top": float(r["top"]), "width": float(r["width"]), "height": float(r["height"])}
