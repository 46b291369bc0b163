"""What an auditor changed in one sequence, and the worker's tracking errors against the auditor.

Pure numpy/pandas, no Spark: `compare_sequence(worker, auditor)` takes the boxes of one sequence
as the labeling worker drew them and as the auditor left them, and returns one row per box pair
or unpaired box with

* the **change** the auditor made (pairing by object-id first, then by overlap):
  unchanged, moved, resized, relabeled, reidentified, added, deleted;
* the **CLEAR MOT** events (Bernardin & Stiefelhagen 2008) with the auditor as ground truth and the
  worker as hypothesis: match / switch / miss per auditor box, false positive per worker box,
  fragmentations; the matching is motmetrics' (keep last frame's correspondences when IoU >= 0.5,
  then a min-cost assignment on 1 - IoU), so the counts equal `motmetrics` 1.4.0's;
* **IDF1** (Ristani et al. 2016): whether each auditor box is an identity true positive under the
  one-to-one track assignment that maximizes them.

Sums of these per-row flags give MOTA, IDF1, switches, misses, false positives, fragmentations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment


MOT_EVENTS = ("match", "switch", "miss")
BOX_COLUMNS = ["frame_no", "object_id", "label", "left", "top", "width", "height"]


@dataclass(frozen=True)
class AuditConfig:
    """Tolerances of the comparison."""

    match_iou: float = 0.5  # overlap for two boxes to be "the same box" (CLEAR MOT's and the pairing's threshold)
    tolerance_px: float = 0.5  # an edge or size that moved less than this is unchanged (rounding, not an edit)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of `a` (n x 4: left, top, width, height) with every box of `b` (m x 4)."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, dtype=float).reshape(-1, 4)[None, :, :]
    lo = np.maximum(a[..., :2], b[..., :2])
    hi = np.minimum(a[..., :2] + a[..., 2:], b[..., :2] + b[..., 2:])
    inter = np.prod(np.maximum(hi - lo, 0.0), axis=-1)
    union = np.prod(np.maximum(a[..., 2:], 0), axis=-1) + np.prod(np.maximum(b[..., 2:], 0), axis=-1) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inter > 0, inter / union, 0.0)


def _assign(costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min-cost assignment where NaN means "may not pair" (motmetrics' treatment, for identical results)."""
    if costs.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    valid = np.isfinite(costs)
    if not valid.any():
        return np.zeros(0, int), np.zeros(0, int)
    finite = costs.copy()
    if not valid.all():
        c = np.abs(costs[valid]).max() + 1
        finite = np.where(valid, costs, 2 * min(costs.shape) * c + 1)
    rows, cols = linear_sum_assignment(finite)
    keep = valid[rows, cols]
    return rows[keep], cols[keep]


def _frames(frame_no: np.ndarray) -> dict[int, np.ndarray]:
    order = np.argsort(frame_no, kind="stable")
    f = frame_no[order]
    cuts = np.flatnonzero(np.diff(f)) + 1
    return {int(g[0]): idx for g, idx in zip(np.split(f, cuts), np.split(order, cuts)) if g.size}


def _pair_boxes(w_ids: np.ndarray, a_ids: np.ndarray, iou: np.ndarray, thr: float) -> list[tuple[int, int]]:
    """Pairs (worker i, auditor j) in one frame: same id and overlapping; then by overlap; then same id."""
    pairs: list[tuple[int, int]] = []
    used_w = np.zeros(len(w_ids), bool)
    used_a = np.zeros(len(a_ids), bool)
    same = w_ids[:, None] == a_ids[None, :]
    for i, j in zip(*np.nonzero(same & (iou >= thr))):
        pairs.append((int(i), int(j)))
        used_w[i] = used_a[j] = True
    free = ~used_w[:, None] & ~used_a[None, :]
    cand = np.where(free & (iou >= thr), -iou, np.nan)
    for i, j in zip(*_assign(cand)):
        pairs.append((int(i), int(j)))
        used_w[i] = used_a[j] = True
    for i, j in zip(*np.nonzero(same & ~used_w[:, None] & ~used_a[None, :])):
        pairs.append((int(i), int(j)))
        used_w[i] = used_a[j] = True
    return pairs


class _Clear:
    """motmetrics' MOTAccumulator.update, reduced to what the counts need (max_switch_time = inf)."""

    def __init__(self) -> None:
        self.m: dict = {}

    def update(self, oids: np.ndarray, hids: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Events of one frame: per object 0 miss / 1 match / 2 switch, its partner's index, per hypothesis matched."""
        no, nh = len(oids), len(hids)
        event = np.zeros(no, np.int8)
        partner = np.full(no, -1)
        h_used = np.zeros(nh, bool)
        if no and nh:
            o_used = np.zeros(no, bool)
            for i in range(no):
                hprev = self.m.get(oids[i])
                if hprev is None:
                    continue
                js = np.flatnonzero(~h_used & (hids == hprev))
                if js.size and np.isfinite(dist[i, js[0]]):
                    j = js[0]
                    o_used[i] = h_used[j] = True
                    event[i], partner[i] = 1, j
            d = dist.copy()
            d[o_used, :] = np.nan
            d[:, h_used] = np.nan
            for i, j in zip(*_assign(d)):
                o, h = oids[i], hids[j]
                event[i] = 2 if (o in self.m and self.m[o] != h) else 1
                partner[i] = j
                o_used[i] = h_used[j] = True
                self.m[o] = h
        return event, partner, h_used


def compare_sequence(worker: pd.DataFrame, auditor: pd.DataFrame, cfg: AuditConfig = AuditConfig()) -> pd.DataFrame:
    """One row per paired or unpaired box of one sequence (see the module docstring).

    Both frames need BOX_COLUMNS; an `attributes` column (anything comparable) is compared when present.
    Row order: by frame, then pairs, deleted and added boxes.
    """
    w = worker.reset_index(drop=True)
    a = auditor.reset_index(drop=True)
    wb = w[["left", "top", "width", "height"]].to_numpy(float)
    ab = a[["left", "top", "width", "height"]].to_numpy(float)
    w_ids = w["object_id"].to_numpy(object)
    a_ids = a["object_id"].to_numpy(object)
    wf, af = _frames(w["frame_no"].to_numpy()), _frames(a["frame_no"].to_numpy())
    empty = np.zeros(0, int)

    row_w: list[np.ndarray] = []  # per frame: worker row, auditor row (-1: none) and IoU of each output row
    row_a: list[np.ndarray] = []
    row_iou: list[np.ndarray] = []
    gt_event = np.zeros(len(a), np.int8)
    gt_iou = np.full(len(a), np.nan)
    fp = np.ones(len(w), bool)
    valid_a: list[np.ndarray] = []  # auditor rows and worker rows overlapping >= match_iou: IDF1's co-occurrences
    valid_w: list[np.ndarray] = []
    clear = _Clear()
    for f in sorted(set(wf) | set(af)):
        wi, ai = wf.get(f, empty), af.get(f, empty)
        iou = iou_matrix(ab[ai], wb[wi]) if wi.size and ai.size else np.zeros((ai.size, wi.size))
        ok = iou >= cfg.match_iou
        # CLEAR MOT: auditor boxes are the objects, worker boxes the hypotheses.
        event, partner, h_used = clear.update(a_ids[ai], w_ids[wi], np.where(ok, 1.0 - iou, np.nan))
        gt_event[ai] = event
        has = partner >= 0
        gt_iou[ai[has]] = iou[np.flatnonzero(has), partner[has]]
        fp[wi[h_used]] = False
        r, c = np.nonzero(ok)
        valid_a.append(ai[r])
        valid_w.append(wi[c])
        # What the auditor changed: pairs, then the worker's unpaired (deleted) and the auditor's (added).
        pairs = np.array(_pair_boxes(w_ids[wi], a_ids[ai], iou.T, cfg.match_iou), int).reshape(-1, 2)
        pw, pa = pairs[:, 0], pairs[:, 1]
        lone_w = np.setdiff1d(np.arange(wi.size), pw)
        lone_a = np.setdiff1d(np.arange(ai.size), pa)
        row_w += [wi[pw], wi[lone_w], np.full(lone_a.size, -1)]
        row_a += [ai[pa], np.full(lone_w.size, -1), ai[lone_a]]
        row_iou += [iou[pa, pw], np.full(lone_w.size + lone_a.size, np.nan)]

    # Fragmentations: within an auditor track's tracked span, each switch from tracked to missed.
    frag = np.zeros(len(a), bool)
    if len(a):
        order = np.lexsort((a["frame_no"].to_numpy(), pd.factorize(a_ids)[0]))
        codes = pd.factorize(a_ids)[0][order]
        missed = gt_event[order] == 0
        for tr in np.split(np.arange(order.size), np.flatnonzero(np.diff(codes)) + 1):
            hit = np.flatnonzero(~missed[tr])
            if hit.size < 2:
                continue
            span = tr[hit[0]: hit[-1] + 1]
            starts = np.flatnonzero(missed[span][1:] & ~missed[span][:-1]) + 1
            frag[order[span[starts]]] = True

    # IDF1: the one-to-one track assignment with the most co-occurring overlaps.
    id_tp = np.zeros(len(a), bool)
    a_rows = np.concatenate(valid_a) if valid_a else np.zeros(0, int)
    if a_rows.size:
        vp = pd.DataFrame({"a_row": a_rows, "h": w_ids[np.concatenate(valid_w)], "o": a_ids[a_rows]})
        tps = vp.groupby(["o", "h"]).size()
        os_, hs = tps.index.get_level_values(0).unique(), tps.index.get_level_values(1).unique()
        mat = np.zeros((len(os_), len(hs)))
        mat[os_.get_indexer(tps.index.get_level_values(0)), hs.get_indexer(tps.index.get_level_values(1))] = tps.to_numpy()
        r, c = linear_sum_assignment(mat, maximize=True)
        assigned = pd.DataFrame({"o": os_[r], "h": hs[c]})
        hit = vp.merge(assigned, on=["o", "h"], how="left", indicator=True)["_merge"].eq("both").to_numpy()
        id_tp[a_rows[hit]] = True

    rw = np.concatenate(row_w).astype(int) if row_w else np.zeros(0, int)
    ra = np.concatenate(row_a).astype(int) if row_a else np.zeros(0, int)
    has_w, has_a = rw >= 0, ra >= 0
    both = has_w & has_a

    def take(df: pd.DataFrame, idx: np.ndarray, col: str) -> np.ndarray:
        return _pick(df[col].to_numpy(object if df[col].dtype == object else float), idx)

    out = pd.DataFrame({"frame_no": np.where(has_w, take(w, rw, "frame_no"), take(a, ra, "frame_no")).astype(np.int64)})
    out["object_id"] = take(w, rw, "object_id")
    out["audit_object_id"] = take(a, ra, "object_id")
    out["label"] = take(w, rw, "label")
    out["audit_label"] = take(a, ra, "label")
    for col in ("left", "top", "width", "height"):
        out[col] = take(w, rw, col)
        out[f"audit_{col}"] = take(a, ra, col)
    tol = cfg.tolerance_px
    moved = both & (_translated(out["left"], out["width"], out["audit_left"], out["audit_width"], tol)
                    | _translated(out["top"], out["height"], out["audit_top"], out["audit_height"], tol))
    resized = both & ((np.abs(out["width"] - out["audit_width"]) > tol)
                      | (np.abs(out["height"] - out["audit_height"]) > tol)).to_numpy()
    relabeled = both & (out["label"].to_numpy(object) != out["audit_label"].to_numpy(object))
    reid = both & (out["object_id"].to_numpy(object) != out["audit_object_id"].to_numpy(object))
    change = np.select([~has_a, ~has_w, reid, relabeled, resized, moved],
                       ["deleted", "added", "reidentified", "relabeled", "resized", "moved"], "unchanged")
    out["change"] = change
    out["moved"] = moved
    out["resized"] = resized
    out["relabeled"] = relabeled
    out["reidentified"] = reid
    if "attributes" in w.columns and "attributes" in a.columns:
        wa, aa = take(w, rw, "attributes"), take(a, ra, "attributes")
        out["attributes_changed"] = both & np.array([_norm(x) != _norm(y) for x, y in zip(wa, aa)], bool)
    else:
        out["attributes_changed"] = False
    out["iou"] = np.concatenate(row_iou).astype(float) if row_iou else np.zeros(0)
    ev = _pick(gt_event.astype(float), ra)
    out["mot_gt"] = np.select([ev == 0, ev == 1, ev == 2], list(("miss", "match", "switch")), None)
    out["mot_fp"] = pd.array(_pick(fp, rw), dtype="boolean")
    out["mot_iou"] = _pick(gt_iou, ra).astype(float)
    out["mot_fragment"] = pd.array(_pick(frag, ra), dtype="boolean")
    out["id_tp"] = pd.array(_pick(id_tp, ra), dtype="boolean")
    return out


def _pick(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """values[idx] where idx >= 0, None (object array) or NaN (float array) elsewhere."""
    out = np.full(idx.size, np.nan if values.dtype.kind == "f" else None, dtype=float if values.dtype.kind == "f" else object)
    out[idx >= 0] = values[idx[idx >= 0]]
    return out


def _translated(lo: pd.Series, size: pd.Series, lo2: pd.Series, size2: pd.Series, tol: float) -> np.ndarray:
    """Both edges of one axis moved the same way by more than `tol` (a shift, not one edge dragged)."""
    d1 = (lo2 - lo).to_numpy(float)
    d2 = (lo2 + size2 - lo - size).to_numpy(float)
    return (np.sign(d1) == np.sign(d2)) & (np.minimum(np.abs(d1), np.abs(d2)) > tol)


def _norm(x: object) -> object:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    if isinstance(x, dict):
        return tuple(sorted(x.items()))
    if isinstance(x, (list, tuple, np.ndarray)):
        return tuple(sorted(tuple(p) if isinstance(p, (list, tuple)) else p for p in x))
    return x


def summarize(rows: pd.DataFrame) -> dict:
    """CLEAR MOT and IDF1 numbers from `compare_sequence` rows (of one sequence or many)."""
    gt = rows["audit_object_id"].notna()
    hyp = rows["object_id"].notna()
    n_gt, n_hyp = int(gt.sum()), int(hyp.sum())
    misses = int((rows["mot_gt"] == "miss").sum())
    switches = int((rows["mot_gt"] == "switch").sum())
    fps = int(rows["mot_fp"].fillna(False).astype(bool).sum())
    matched = rows["mot_gt"].isin(["match", "switch"])
    idtp = int(rows["id_tp"].fillna(False).astype(bool).sum())
    return {
        "gt_boxes": n_gt, "worker_boxes": n_hyp, "matches": int(matched.sum()), "misses": misses,
        "false_positives": fps, "id_switches": switches,
        "fragmentations": int(rows["mot_fragment"].fillna(False).astype(bool).sum()),
        "mota": 1.0 - (misses + switches + fps) / n_gt if n_gt else float("nan"),
        "motp_iou": float(rows.loc[matched, "mot_iou"].mean()) if matched.any() else float("nan"),
        "idtp": idtp, "idf1": 2 * idtp / (n_gt + n_hyp) if n_gt + n_hyp else float("nan"),
    }
