"""Plant labeling mistakes of known kinds at known places (pure numpy, no I/O).

A sequence's labels are held as a columnar box table (`Boxes`): one entry per box, with the
index of the identity (object-id) it carries. Each planter edits a copy and returns what it did,
so tests and benchmarks can score a detector against the truth.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gtlake.sample.scene import IMAGE_HEIGHT, IMAGE_WIDTH

PLANT_KINDS = (
    "shrunk",
    "grown",
    "shifted",
    "edge_dragged",
    "deleted_box",
    "id_swap",
    "class_flip",
    "duplicate_box",
    "attribute_flip",
    "broken_track",
)
PLANT_WEIGHTS = np.array([0.12, 0.10, 0.14, 0.12, 0.12, 0.08, 0.08, 0.08, 0.08, 0.08])
# Omissions: what no check of the labels alone can find (there is no track to check), only a model's predictions
# (`gtlake predictions`: overlooked). Planted apart from the kinds above, from a stream of their own.
OMISSION_KINDS = ("omitted_track", "omitted_span")


@dataclass
class Boxes:
    """Columnar labels of one sequence: parallel arrays, one entry per box."""

    frame_no: np.ndarray
    ident: np.ndarray  # index into the sequence's identities
    cls: np.ndarray  # class-id (int)
    left: np.ndarray
    top: np.ndarray
    width: np.ndarray
    height: np.ndarray
    occluded: np.ndarray  # attribute value per box

    def take(self, mask_or_idx: np.ndarray) -> "Boxes":
        """The boxes selected by a mask or index array."""
        return Boxes(**{k: v[mask_or_idx] for k, v in self.__dict__.items()})

    def copy(self) -> "Boxes":
        """A deep copy."""
        return Boxes(**{k: v.copy() for k, v in self.__dict__.items()})

    def append(self, other: "Boxes") -> "Boxes":
        """These boxes followed by `other`'s."""
        return Boxes(**{k: np.concatenate([v, getattr(other, k)]) for k, v in self.__dict__.items()})

    def __len__(self) -> int:
        return int(self.frame_no.size)


@dataclass(frozen=True)
class Plant:
    """One planted mistake: which identities, on which frames (Ground Truth frame-no)."""

    kind: str
    idents: tuple[int, ...]
    frames: tuple[int, ...]
    detail: dict = field(default_factory=dict)
    before: Boxes | None = None  # the boxes as they were, for an auditor to restore


def _interior_rows(boxes: Boxes, margin: int) -> np.ndarray:
    """Rows whose identity is also labeled on each of the `margin` frames before and after."""
    key = boxes.ident.astype(np.int64) * 1_000_000 + boxes.frame_no
    ok = np.ones(len(boxes), dtype=bool)
    for d in range(1, margin + 1):
        ok &= np.isin(key - d, key) & np.isin(key + d, key)
    return np.flatnonzero(ok)


def _rows_of(boxes: Boxes, ident: int, first: int, n: int) -> np.ndarray:
    """Rows of `ident` on frames first .. first+n-1."""
    return np.flatnonzero((boxes.ident == ident) & (boxes.frame_no >= first) & (boxes.frame_no < first + n))


def _clip(boxes: Boxes, rows: np.ndarray) -> None:
    x1 = np.clip(boxes.left[rows], 0, IMAGE_WIDTH - 2)
    y1 = np.clip(boxes.top[rows], 0, IMAGE_HEIGHT - 2)
    x2 = np.clip(boxes.left[rows] + boxes.width[rows], x1 + 2, IMAGE_WIDTH)
    y2 = np.clip(boxes.top[rows] + boxes.height[rows], y1 + 2, IMAGE_HEIGHT)
    boxes.left[rows], boxes.top[rows] = x1, y1
    boxes.width[rows], boxes.height[rows] = x2 - x1, y2 - y1


MIN_VISIBLE_PX = 3.0  # a planted mistake moves an edge at least this far: a reviewer's eye (and the checks') floor


def _at_least(d: float, size: np.ndarray) -> np.ndarray:
    """The move `d` (a share of `size`), made at least MIN_VISIBLE_PX pixels, in pixels."""
    return np.sign(d) * np.maximum(np.abs(d) * size, MIN_VISIBLE_PX)


def _moved(kind: str, l, t, w, h, d: float, f: float, choice: str) -> tuple:  # noqa: ANN001 - float arrays
    """The boxes (left, top, width, height) after the planted change: `d` a signed share of the size for a shift
    or a drag along `choice` (axis or edge), `f` the scale of a shrink or growth."""
    l, t, w, h = l.copy(), t.copy(), w.copy(), h.copy()
    if kind in ("shrunk", "grown"):
        cx, cy = l + w / 2, t + h / 2
        w2, h2 = np.maximum(2.0, w + _at_least(f - 1, w)), np.maximum(2.0, h + _at_least(f - 1, h))
        return np.round(cx - w2 / 2), np.round(cy - h2 / 2), np.round(w2), np.round(h2)
    dw, dh = _at_least(d, w), _at_least(d, h)
    if kind == "shifted":
        return (np.round(l + dw), t, w, h) if choice == "x" else (l, np.round(t + dh), w, h)
    if choice == "left":
        return np.round(l - dw), t, np.round(w + dw), h
    if choice == "right":
        return l, t, np.round(w + dw), h
    if choice == "top":
        return l, np.round(t - dh), w, np.round(h + dh)
    return l, t, w, np.round(h + dh)


def plant_geometry(boxes: Boxes, kind: str, row: int, rng: np.random.Generator) -> Plant:
    """Shrink, grow, shift or drag one edge of a box on 1-3 consecutive frames, by at least MIN_VISIBLE_PX.
    A shift or drag that the image border would undo (a box touching it) goes the other way."""
    n = int(rng.integers(1, 4))
    ident, first = int(boxes.ident[row]), int(boxes.frame_no[row])
    rows = _rows_of(boxes, ident, first, n)
    before = boxes.take(rows)
    l, t = boxes.left[rows].astype(float), boxes.top[rows].astype(float)
    w, h = boxes.width[rows].astype(float), boxes.height[rows].astype(float)
    f = d = 0.0
    choice = ""
    if kind in ("shrunk", "grown"):
        f = rng.uniform(0.55, 0.8) if kind == "shrunk" else rng.uniform(1.3, 1.65)
        detail: dict = {"scale": round(float(f), 3)}
    elif kind == "shifted":
        choice = "x" if rng.random() < 0.6 else "y"
        d = rng.uniform(0.3, 0.6) * rng.choice([-1, 1])
    else:
        choice = str(rng.choice(["left", "right", "top", "bottom"]))
        d = rng.uniform(0.3, 0.6) * rng.choice([-1, 1])
    for sign in (1.0, -1.0):
        boxes.left[rows], boxes.top[rows], boxes.width[rows], boxes.height[rows] = \
            _moved(kind, l, t, w, h, sign * d, f, choice)
        _clip(boxes, rows)
        edges = np.abs(np.stack([boxes.left[rows] - l, boxes.top[rows] - t, boxes.left[rows] + boxes.width[rows] - l - w,
                                 boxes.top[rows] + boxes.height[rows] - t - h]))
        if (edges.max(axis=0) >= MIN_VISIBLE_PX).all():
            break
    d *= sign
    if kind == "shifted":
        detail = {"axis": choice, "shift_of_size": round(float(d), 3)}
    elif kind == "edge_dragged":
        detail = {"edge": choice, "drag_of_size": round(float(d), 3)}
    return Plant(kind, (ident,), tuple(int(f) for f in boxes.frame_no[rows]), detail, before)


def plant_id_swap(boxes: Boxes, row: int, rng: np.random.Generator,
                  busy: frozenset[int] = frozenset()) -> Plant | None:
    """Swap the identity of the object at `row` with the nearest same-class object from that frame on.

    Objects in `busy` (a mistake is planted later in their track) are never the other one: the swap would move
    that mistake to another identity, and the record would name a mistake that is not where it says.
    """
    frame, ident, cls = int(boxes.frame_no[row]), int(boxes.ident[row]), int(boxes.cls[row])
    same = np.flatnonzero((boxes.frame_no == frame) & (boxes.cls == cls) & (boxes.ident != ident)
                          & ~np.isin(boxes.ident, list(busy)))
    if same.size == 0:
        return None
    cx = boxes.left + boxes.width / 2
    other_row = same[np.argmin(np.abs(cx[same] - cx[row]))]
    other = int(boxes.ident[other_row])
    later = boxes.frame_no >= frame
    a, b = later & (boxes.ident == ident), later & (boxes.ident == other)
    boxes.ident[a], boxes.ident[b] = other, ident
    return Plant("id_swap", (ident, other), (frame,), {})


def plant_class_flip(boxes: Boxes, row: int, class_ids: np.ndarray, rng: np.random.Generator) -> Plant:
    """Give one box another of the job's class-ids than the rest of its track."""
    old = int(boxes.cls[row])
    before = boxes.take(np.array([row]))
    boxes.cls[row] = int(rng.choice(class_ids[class_ids != old]))
    return Plant("class_flip", (int(boxes.ident[row]),), (int(boxes.frame_no[row]),), {"from": old, "to": int(boxes.cls[row])}, before)


def plant_duplicate(boxes: Boxes, row: int, new_ident: int, rng: np.random.Generator) -> tuple[Boxes, Plant]:
    """Add a second, slightly offset box over the object at `row`, under a new identity."""
    dup = boxes.take(np.array([row]))
    dup.ident[:] = new_ident
    dup.left[:] = np.round(dup.left + rng.uniform(-0.06, 0.06) * dup.width)
    dup.top[:] = np.round(dup.top + rng.uniform(-0.06, 0.06) * dup.height)
    out = boxes.append(dup)
    _clip(out, np.array([len(out) - 1]))
    plant = Plant("duplicate_box", (new_ident, int(boxes.ident[row])), (int(boxes.frame_no[row]),), {})
    return out, plant


def _steady_attribute(boxes: Boxes, row: int, before: int, after: int) -> bool:
    """Whether the row's track keeps the row's attribute value from `before` frames before it to `after` after."""
    f = boxes.frame_no[row]
    near = (boxes.ident == boxes.ident[row]) & (boxes.frame_no >= f - before) & (boxes.frame_no <= f + after)
    return bool((boxes.occluded[near] == boxes.occluded[row]).all())


def plant_attribute_flip(boxes: Boxes, row: int, rng: np.random.Generator) -> Plant:
    """Set the Occlusion attribute of 1-3 consecutive boxes of a track to another value than before and after."""
    n = int(rng.integers(1, 4))
    ident, first = int(boxes.ident[row]), int(boxes.frame_no[row])
    rows = _rows_of(boxes, ident, first, n)
    before = boxes.take(rows)
    old = str(boxes.occluded[row])
    new = str(rng.choice([v for v in ("none", "partial", "heavy") if v != old]))
    boxes.occluded[rows] = new
    return Plant("attribute_flip", (ident,), tuple(int(f) for f in boxes.frame_no[rows]),
                 {"attribute": "Occlusion", "from": old, "to": new}, before)


def plant_broken_track(boxes: Boxes, row: int, new_ident: int, rng: np.random.Generator) -> Plant:
    """Re-create a track under a new identity from `row` on, as a worker who lost it and started it again
    (0-2 frames dropped at the break)."""
    ident, frame = int(boxes.ident[row]), int(boxes.frame_no[row])
    dropped = int(rng.integers(0, 3))
    gone = (boxes.ident == ident) & (boxes.frame_no >= frame) & (boxes.frame_no < frame + dropped)
    later = (boxes.ident == ident) & (boxes.frame_no >= frame + dropped)
    boxes.ident[later] = new_ident
    keep = ~gone
    for name, value in boxes.take(keep).__dict__.items():
        setattr(boxes, name, value)
    return Plant("broken_track", (new_ident, ident), (frame + dropped,), {"dropped_frames": dropped})


def plant_mistakes(
    boxes: Boxes, n_mistakes: int, class_ids: np.ndarray, next_ident: int, rng: np.random.Generator
) -> tuple[Boxes, list[Plant], int]:
    """Plant up to `n_mistakes` mistakes at distinct places; returns boxes, plants, next free identity."""
    boxes = boxes.copy()
    plants: list[Plant] = []
    used: list[tuple[int, int]] = []  # (ident, frame) near which something is already planted
    for _ in range(n_mistakes):
        candidates = _interior_rows(boxes, margin=3)
        for i, f in used:
            near = (boxes.ident[candidates] == i) & (np.abs(boxes.frame_no[candidates] - f) <= 8)
            candidates = candidates[~near]
        if candidates.size == 0:
            break
        row = int(rng.choice(candidates))
        kind = str(rng.choice(PLANT_KINDS, p=PLANT_WEIGHTS))
        if kind in ("id_swap", "broken_track") and any(
                i == boxes.ident[row] and f >= boxes.frame_no[row] - 8 for i, f in used):
            continue  # it would give the identity of a mistake planted later in the track to another object
        if kind == "attribute_flip" and not _steady_attribute(boxes, row, before=3, after=5):
            continue  # at a real change of the attribute a flip would only move the change: no mistake to see
        plant: Plant | None
        if kind in ("shrunk", "grown", "shifted", "edge_dragged"):
            plant = plant_geometry(boxes, kind, row, rng)
        elif kind == "deleted_box":
            plant = Plant("deleted_box", (int(boxes.ident[row]),), (int(boxes.frame_no[row]),), {},
                          boxes.take(np.array([row])))
            boxes = boxes.take(np.arange(len(boxes)) != row)
        elif kind == "id_swap":
            busy = frozenset(i for i, f in used if f >= boxes.frame_no[row] - 8)
            plant = plant_id_swap(boxes, row, rng, busy)
        elif kind == "class_flip":
            plant = plant_class_flip(boxes, row, class_ids, rng)
        elif kind == "attribute_flip":
            plant = plant_attribute_flip(boxes, row, rng)
        elif kind == "broken_track":
            plant = plant_broken_track(boxes, row, next_ident, rng)
            next_ident += 1
        else:
            boxes, plant = plant_duplicate(boxes, row, next_ident, rng)
            next_ident += 1
        if plant is None:
            continue
        plants.append(plant)
        used.extend((i, f) for i in plant.idents for f in plant.frames)
    return boxes, plants, next_ident


def plant_omissions(boxes: Boxes, n: int, busy: set[int], rng: np.random.Generator,
                    span: tuple[int, int] = (6, 15)) -> tuple[Boxes, list[Plant]]:
    """Leave up to `n` objects (not among `busy`, those of other plants) out of the labels, as a worker who never
    saw them: a whole track (`omitted_track`), or its first or last `span` frames (`omitted_span`: a track started
    late or given up early, at least 10 frames left). Each plant's `before` holds the boxes left out (what an
    auditor adds back) and its detail their [frame, left, top, width, height]."""
    boxes = boxes.copy()
    plants: list[Plant] = []
    free = [int(i) for i in np.unique(boxes.ident) if int(i) not in busy]
    for ident in rng.permutation(free)[:n]:
        rows = np.flatnonzero(boxes.ident == ident)
        rows = rows[np.argsort(boxes.frame_no[rows])]
        kind = "omitted_track" if rng.random() < 0.4 or len(rows) < span[1] + 10 else "omitted_span"
        if kind == "omitted_span":
            k = int(rng.integers(span[0], span[1] + 1))
            rows = rows[:k] if rng.random() < 0.5 else rows[-k:]
        gone = boxes.take(rows)
        detail = {"boxes": [[int(f), float(l), float(t), float(w), float(h)] for f, l, t, w, h in zip(
            gone.frame_no, gone.left, gone.top, gone.width, gone.height)]}
        plants.append(Plant(kind, (int(ident),), tuple(int(f) for f in gone.frame_no), detail, gone))
        boxes = boxes.take(~np.isin(np.arange(len(boxes)), rows))
    return boxes, plants


def correct(planted: Boxes, plants: list[Plant], keep: list[bool]) -> Boxes:
    """An auditor's fix: undo each plant where `keep` is True, latest first.

    Identity swaps and duplicates are fixed track-wide; local mistakes frame by frame.
    """
    fixed = planted.copy()
    for plant, do_fix in reversed(list(zip(plants, keep))):
        if not do_fix:
            continue
        if plant.kind == "duplicate_box":
            fixed = fixed.take(fixed.ident != plant.idents[0])
        elif plant.kind == "broken_track":
            fixed.ident[fixed.ident == plant.idents[0]] = plant.idents[1]
        elif plant.kind == "id_swap":
            a, b = plant.idents
            later = fixed.frame_no >= plant.frames[0]
            ma, mb = later & (fixed.ident == a), later & (fixed.ident == b)
            fixed.ident[ma], fixed.ident[mb] = b, a
        elif plant.kind in ("deleted_box", *OMISSION_KINDS):
            fixed = fixed.append(plant.before)
        else:
            for k in range(len(plant.before)):
                dst = np.flatnonzero((fixed.ident == plant.before.ident[k]) & (fixed.frame_no == plant.before.frame_no[k]))
                for col in ("cls", "left", "top", "width", "height", "occluded"):
                    getattr(fixed, col)[dst] = getattr(plant.before, col)[k]
    return fixed


def refine(labels: Boxes, truth: dict[int, Boxes], skip: set[int], rng: np.random.Generator,
           rel: float = 0.06, px: float = 2.0, diligence: float = 0.85) -> Boxes:
    """An auditor's precision pass: a box visibly off its object is redrawn tight.

    "Visibly off": an edge further from the true one than `px` pixels and `rel` of the box's size
    on that axis. The auditor redraws most of them (`diligence`) with a steady hand (0.4 px).
    Identities in `skip` (mistakes the auditor left alone) are not touched.
    """
    out = labels.copy()
    for ident, true in truth.items():
        if ident in skip:
            continue
        rows = np.flatnonzero(out.ident == ident)
        pos = np.searchsorted(true.frame_no, out.frame_no[rows])
        ok = (pos < len(true)) & (true.frame_no[np.minimum(pos, len(true) - 1)] == out.frame_no[rows])
        rows, pos = rows[ok], pos[ok]
        if rows.size == 0:
            continue
        lab = np.stack([out.left[rows], out.top[rows], out.left[rows] + out.width[rows], out.top[rows] + out.height[rows]])
        tru = np.stack([true.left[pos], true.top[pos], true.left[pos] + true.width[pos], true.top[pos] + true.height[pos]])
        size = np.stack([true.width[pos], true.height[pos]] * 2)
        off = (np.abs(lab - tru) > np.maximum(px, rel * size)).any(axis=0)
        fix = off & (rng.random(rows.size) < diligence)
        r = rows[fix]
        if r.size == 0:
            continue
        edges = tru[:, fix] + rng.normal(0.0, 0.4, (4, r.size))
        x1 = np.clip(np.round(edges[0]), 0, IMAGE_WIDTH - 2)
        y1 = np.clip(np.round(edges[1]), 0, IMAGE_HEIGHT - 2)
        x2 = np.clip(np.round(edges[2]), x1 + 2, IMAGE_WIDTH)
        y2 = np.clip(np.round(edges[3]), y1 + 2, IMAGE_HEIGHT)
        out.left[r], out.top[r] = x1.astype(out.left.dtype), y1.astype(out.top.dtype)
        out.width[r], out.height[r] = (x2 - x1).astype(out.width.dtype), (y2 - y1).astype(out.height.dtype)
    return out
