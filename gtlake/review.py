"""`gtlake review`: a job's review queue as one self-contained, offline HTML page, with the frames drawn.

    page = build(lake="lake", job="vehicles-day-2026-10", top=200, frames_root=None)

Per queue entry (the first `top` by rank, said on the page): the frame cropped around the object with the
suspect box drawn, the same object's boxes on the frames just before and after (a filmstrip of `STRIP` frames
each side), other objects' boxes faint, the track's path, the reasons in words and the score rounded. A box the
queue says is missing (`missing_box`) is drawn dashed where its neighbours put it; a model's box (overlooked: an
object nobody labeled; badly_located, class_disagrees) dashed in cyan beside the labels.

Frames are found as Ground Truth finds them (`gtlake.frames`: the sequence file's prefix + the frame's file,
under `frames_root` when given, local or `s3://` through boto3). Each frame image is decoded once, whatever
number of entries show it, cropped and resized for each, and embedded as a small JPEG. An entry whose images
cannot be read is still a picture: the page draws its boxes and path on a plain canvas, and says so.

The page has filters (reason, class, worker, lowest score), keyboard navigation (j/k or the arrow keys; m, f, u
to mark mistake / fine / unsure; s to save) and keeps the reviewer's verdicts in the browser until they are
saved as a JSON file (`VERDICTS_FORMAT`), which `gtlake verdicts` stores in the lake (`jobs.verdicts`).

Everything from the lake is untrusted: it travels as JSON with `<`, `>` and `&` escaped and the page shows it
only through `textContent`, never as markup.
"""
from __future__ import annotations

import base64
import html
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources

from gtlake.frames import frame_path, load_image, sequence_prefix
from gtlake.vocabulary import QUEUE_REASONS, VERDICTS
from gtlake.safejson import for_script

TOP = 200  # queue entries on a page by default
STRIP = 2  # filmstrip frames on each side of the entry's frame
PATH_FRAMES = 30  # the track's path is drawn over this many frames on each side
MAIN_PX = 320  # longest side of an entry's main crop, pixels
STRIP_PX = 104  # longest side of a filmstrip crop
MIN_WINDOW_PX = 64.0  # smallest side of the cropped region, frame pixels (a 4 px box is shown 5x, not 80x)
PAD = 0.8  # region around the object's boxes, as a share of their larger side, on each side
ASPECT = 4 / 3  # the region is widened or heightened to this width / height
JPEG_QUALITY = 72
# The page loads nothing: images are data URIs, its script and style are inline; it cannot send anything anywhere.
CSP = "default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
VERDICTS_FORMAT = "gtlake-review-verdicts/1"
THREADS = 8  # frame images read and decoded at once (reading waits on disk or S3; PIL decodes without the GIL)

REASON_WORDS = {
    "id_swap": "identity swap: two tracks fit each other's motion better with their boxes exchanged",
    "duplicate_box": "duplicate: another box of the class covers this object on most of its frames",
    "class_flip": "class flip: the box's class differs from its track's usual class",
    "missing_box": "missing box: the track has a short gap here (no box on this frame)",
    "off_path": "off path: an edge is off where the track's own motion puts it",
    "size_jump": "size jump: the area is off its track's rolling median",
    "appearance_change": "appearance change: the crop stops looking like the track's other crops",
    "broken_track": "broken track: a new object id starts where another track of its class ended",
    "low_iou": "low overlap with the box the track's motion predicts",
    "track_outlier": "track outlier: the whole track follows its motion much worse than its class peers",
    "attribute_flip": "attribute flip: an attribute changes for a few frames and changes back",
    "overlooked": "overlooked: the model sees an object here over several frames that nobody labeled (cyan dashed "
                  "box): a mistake means a box should be added",
    "badly_located": "badly located: the model's box (cyan dashed) overlaps this label but is far off its usual offset",
    "class_disagrees": "class disagrees: the model names another class on most of this track's frames",
}
assert set(REASON_WORDS) == set(QUEUE_REASONS), "every queue reason needs its words"


@dataclass
class Panel:
    """One drawn frame of an entry: its region of the frame (x0, y0, x1, y1 in frame pixels), its canvas size,
    the boxes on it, and the embedded crop (a data URI) once made."""

    sequence_id: str
    frame_no: int
    frame_file: str | None
    window: tuple[float, float, float, float]
    longest: int
    boxes: list[list] = field(default_factory=list)  # [left, top, width, height, kind] of every box on the frame;
    image: str | None = None  # kind 0: this object, 1: another, 2: where the missing box is expected, 3: the model's
    problem: str | None = None

    def size(self) -> tuple[int, int]:
        """The canvas (width, height) of the panel: the region scaled to `longest` on its longer side."""
        w, h = self.window[2] - self.window[0], self.window[3] - self.window[1]
        s = self.longest / max(w, h)
        return max(1, round(w * s)), max(1, round(h * s))

    def as_json(self) -> dict:
        w, h = self.size()
        return {"frame_no": self.frame_no, "window": [round(v, 2) for v in self.window], "w": w, "h": h,
                "boxes": [[round(float(v), 2) for v in b[:4]] + [b[4]] for b in self.boxes if _overlaps(b, self.window)],
                "image": self.image,
                "problem": self.problem}


def window_around(boxes: list[tuple[float, float, float, float]], image: tuple[int, int] | None = None
                  ) -> tuple[float, float, float, float]:
    """The region to crop around an object's boxes (left, top, width, height): their union, padded by PAD of their
    larger side, at least MIN_WINDOW_PX a side, widened to ASPECT, and moved inside the image when its size is
    known (a region larger than the image is the image)."""
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    pad = PAD * max(max(b[2], b[3]) for b in boxes)
    w, h = max(x1 - x0 + 2 * pad, MIN_WINDOW_PX), max(y1 - y0 + 2 * pad, MIN_WINDOW_PX)
    w, h = max(w, h * ASPECT), max(h, w / ASPECT)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = cx - w / 2, cy - h / 2
    if image is not None:
        iw, ih = image
        w, h = min(w, iw), min(h, ih)
        left, top = min(max(left, 0.0), iw - w), min(max(top, 0.0), ih - h)
    return left, top, left + w, top + h


def expected_box(track: dict[int, tuple], frame: int) -> tuple | None:
    """Where the object's box would be on `frame`, from its nearest boxes before and after (linear), or None."""
    before = [f for f in track if f < frame]
    after = [f for f in track if f > frame]
    if not before or not after:
        return None
    a, b = max(before), min(after)
    t = (frame - a) / (b - a)
    return tuple(pa + t * (pb - pa) for pa, pb in zip(track[a], track[b]))


def _rows(con, sql: str, params: list) -> list[dict]:  # noqa: ANN001 - duckdb connection
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def queue_entries(con, job: str, top: int) -> tuple[list[dict], int]:  # noqa: ANN001 - duckdb connection
    """The job's first `top` queue entries by rank, with the sequence's worker (the last to submit it), and the
    number of entries the job's queue holds."""
    total = con.execute("SELECT count(*) FROM review_queue WHERE job_name = ?", [job]).fetchone()[0]
    rows = _rows(con, """
        SELECT q.sequence_id, q.frame_no, q.frame_file, q.object_id, q.object_name, q.label, q.reasons, q.score,
               q.rank, q.model, q.model_left, q.model_top, q.model_width, q.model_height, q.source_ref, w.worker_id
        FROM review_queue q
        LEFT JOIN (SELECT sequence_id, max_by(worker_id, submitted_at) AS worker_id FROM worker_responses
                   WHERE job_name = ? GROUP BY sequence_id) w ON w.sequence_id = q.sequence_id
        WHERE q.job_name = ? ORDER BY q.rank LIMIT ?""", [job, job, top])
    return rows, int(total)


def _near(con, job: str, entries: list[dict]) -> tuple[list[dict], dict]:  # noqa: ANN001 - duckdb connection
    """Boxes of the entries' sequences within PATH_FRAMES of an entry's frame, and every frame's file."""
    import pandas as pd

    wanted = pd.DataFrame({"sequence_id": [e["sequence_id"] for e in entries],
                           "frame_no": [int(e["frame_no"]) for e in entries]}).drop_duplicates()
    con.register("_review_wanted", wanted)
    try:
        boxes = _rows(con, f"""
            SELECT DISTINCT b.sequence_id, b.frame_no, b.frame_file, b.object_id, b."left", b."top", b.width, b.height
            FROM boxes b JOIN _review_wanted w ON b.sequence_id = w.sequence_id
             AND b.frame_no BETWEEN w.frame_no - {PATH_FRAMES} AND w.frame_no + {PATH_FRAMES}
            WHERE b.job_name = ?""", [job])
        files = _rows(con, """
            SELECT f.sequence_id, f.frame_no, f.frame_file FROM frames f
            WHERE f.job_name = ? AND f.sequence_id IN (SELECT sequence_id FROM _review_wanted)""", [job])
    finally:
        con.unregister("_review_wanted")
    frame_files = {(r["sequence_id"], int(r["frame_no"])): r["frame_file"] for r in files}
    return boxes, frame_files


def model_box(entry: dict) -> tuple | None:
    """The model's box of a queue entry (left, top, width, height), when a model's finding gave it a reason."""
    edges = tuple(entry.get(f"model_{c}") for c in ("left", "top", "width", "height"))
    return edges if all(isinstance(v, (int, float)) for v in edges) else None


def plan(entries: list[dict], boxes: list[dict], frame_files: dict) -> list[dict]:
    """The page's entries: each queue row with its panels (its frame, then STRIP frames each side where the
    sequence lists them) and its track's path; pure (no images yet)."""
    on_frame: dict[tuple[str, int], list[dict]] = {}
    tracks: dict[tuple[str, str], dict[int, tuple]] = {}
    for b in boxes:
        f = int(b["frame_no"])
        on_frame.setdefault((b["sequence_id"], f), []).append(b)
        if b["object_id"] is not None:
            tracks.setdefault((b["sequence_id"], b["object_id"]), {})[f] = (b["left"], b["top"], b["width"], b["height"])
    out = []
    for e in entries:
        seq, obj, f = e["sequence_id"], e["object_id"], int(e["frame_no"])
        track = tracks.get((seq, obj), {}) if obj is not None else {}
        frames = [g for g in range(f - STRIP, f + STRIP + 1) if g == f or (seq, g) in frame_files or (seq, g) in on_frame]
        expected = expected_box(track, f) if f not in track and obj is not None else None
        model = model_box(e)
        own = [track[g] for g in frames if g in track] + ([expected] if expected else []) + ([model] if model else [])
        if not own:  # no box of the object near its entry: its nearest ones say where it is
            near = sorted(track, key=lambda g: abs(g - f))[:2]
            own = [track[g] for g in near] or [(0.0, 0.0, MIN_WINDOW_PX, MIN_WINDOW_PX)]
        window = window_around(own)
        panels = []
        for g in frames:
            p = Panel(seq, g, frame_files.get((seq, g)) or (e["frame_file"] if g == f else None), window,
                      MAIN_PX if g == f else STRIP_PX)
            p.boxes = [[b["left"], b["top"], b["width"], b["height"], 0 if obj is not None and b["object_id"] == obj
                        else 1] for b in on_frame.get((seq, g), [])]
            if g == f and expected is not None:
                p.boxes.append([*expected, 2])
            if g == f and model is not None:
                p.boxes.append([*model, 3])
            panels.append(p)
        path = [[g, round(t[0] + t[2] / 2, 1), round(t[1] + t[3] / 2, 1)] for g, t in sorted(track.items())]
        out.append({**e, "panels": panels, "path": path})
    return out


def _overlaps(box: tuple, window: tuple) -> bool:
    return box[0] < window[2] and box[0] + box[2] > window[0] and box[1] < window[3] and box[1] + box[3] > window[1]


def _jpeg(img) -> str:  # noqa: ANN001 - a PIL image
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def embed_crops(items: list[dict], prefixes: dict[str, str], problems: list[str] | None = None) -> dict[str, int]:
    """Crop every panel from its frame image (each image read and decoded once, in THREADS at a time), in place;
    the number of images wanted and read. Why images could not be read is said in `problems` (when given)."""
    from PIL import Image

    by_image: dict[str, list[Panel]] = {}
    for it in items:
        prefix = prefixes.get(it["source_ref"])
        for p in it["panels"]:
            uri = frame_path(prefix, p.frame_file) if prefix is not None else None
            if uri is None:
                p.problem = ("sequence file not found" if prefix is None else "no frame file" if not p.frame_file
                             else "frame file refused: its name leaves the sequence's folder")
                continue
            by_image.setdefault(uri, []).append(p)

    failed: dict[str, tuple[int, str]] = {}
    lock = threading.Lock()

    def crop(uri: str) -> bool:
        img, status, why = load_image(uri)
        panels = by_image[uri]
        if img is None:
            for p in panels:
                p.problem = status.replace("_", " ")
            with lock:
                n, _ = failed.get(status, (0, ""))
                failed[status] = (n + 1, f"{uri}: {why}")
            return False
        for p in panels:
            p.window = _inside(p.window, img.width, img.height)
            p.image = _jpeg(img.resize(p.size(), Image.Resampling.BILINEAR, box=p.window))
        return True

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        read = sum(pool.map(crop, sorted(by_image)))
    for status, (n, example) in sorted(failed.items()):
        if problems is not None:
            problems.append(f"{n} of {len(by_image)} frame images {status.replace('image_', '')}, drawn on a plain canvas "
                            f"(e.g. {example}); --frames-root reads them from a local mirror")
    return {"images": len(by_image), "read": read}


def _inside(window: tuple, iw: int, ih: int) -> tuple[float, float, float, float]:
    """`window` moved inside an iw x ih image, its size kept (cut to the image when larger)."""
    w, h = min(window[2] - window[0], iw), min(window[3] - window[1], ih)
    left, top = min(max(window[0], 0.0), iw - w), min(max(window[1], 0.0), ih - h)
    return left, top, left + w, top + h


def _prefixes(source_refs: set[str], frames_root: str | None) -> tuple[dict[str, str], list[str]]:
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        found = dict(zip(sorted(source_refs), pool.map(lambda r: sequence_prefix(r, frames_root), sorted(source_refs))))
    return {r: p for r, (p, _) in found.items()}, [why for _, why in found.values() if why]


def build(lake: str, job: str, top: int = TOP, frames_root: str | None = None,
          problems: list[str] | None = None) -> tuple[str, dict]:
    """The review page of `job`'s queue in the lake at `lake` (HTML text), and what it holds (entries, images
    read, ...). Damaged lake files and unreadable sequence files are said in `problems` (when given)."""
    from gtlake.lake import Lake
    from gtlake.lakesql import connect

    found: list[str] = []
    con = connect(lake, found)
    entries, total = queue_entries(con, job, top)
    boxes, frame_files = _near(con, job, entries) if entries else ([], {})
    items = plan(entries, boxes, frame_files)
    refs = {e["source_ref"] for e in entries if isinstance(e["source_ref"], str) and e["source_ref"]}
    prefixes, unread = _prefixes(refs, frames_root)
    if unread:
        found.append(f"{len(unread)} of {len(refs)} sequence files unreadable or without a prefix; their frames are "
                     f"looked for beside them (e.g. {unread[0]})")
    stats = embed_crops(items, prefixes, found)
    panels = [p for it in items for p in it["panels"]]
    stats.update(entries=len(items), queued=total, panels=len(panels), drawn=sum(p.image is not None for p in panels))
    if problems is not None:
        problems += found
    run_id = Lake(lake).ledger("quality").get(job, {}).get("run_id")
    data = {"format": VERDICTS_FORMAT, "job_name": job, "queue_run_id": run_id, "total": total,
            "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "frames_root": frames_root, "reason_words": REASON_WORDS, "verdicts": list(VERDICTS),
            "entries": [{"sequence_id": it["sequence_id"], "frame_no": int(it["frame_no"]),
                         "object_id": it["object_id"], "object_name": it["object_name"], "label": it["label"],
                         "reasons": list(it["reasons"] if it["reasons"] is not None else []),
                         "score": round(float(it["score"]), 2), "rank": int(it["rank"]), "worker_id": it["worker_id"],
                         "frame_file": it["frame_file"], "path": it["path"], "model": it["model"],
                         "model_box": list(model_box(it) or ()) or None,
                         "panels": [p.as_json() for p in it["panels"]]} for it in items]}
    return _html(job, data, stats, found), stats


def _html(job: str, data: dict, stats: dict, problems: list[str]) -> str:
    static = resources.files("gtlake").joinpath("static")
    css = static.joinpath("review.css").read_text(encoding="utf-8")
    script = static.joinpath("review.js").read_text(encoding="utf-8")
    shown = (f"top {stats['entries']} of {stats['queued']} queue entries (by rank)" if stats["entries"] < stats["queued"]
             else f"all {stats['entries']} queue entries")
    images = (f"{stats['drawn']} of {stats['panels']} frames drawn from their images" if stats["panels"] else "")
    notes = "".join(f"<li>{html.escape(p)}</li>" for p in problems[:20])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>gtlake review: {html.escape(job)}</title><style>{css}</style></head>
<body>
<header><h1>Review queue: <span id="job">{html.escape(job)}</span></h1>
<p class="sub" id="shown">{html.escape(shown)}; {html.escape(images)}. Keys: j / k (or arrows) next / previous,
m mistake, f fine, u unsure, s save.</p>
{f'<ul class="problems">{notes}</ul>' if notes else ''}
<div class="bar">
<label>Reason <select id="f-reason"><option value="">all</option></select></label>
<label>Class <select id="f-class"><option value="">all</option></select></label>
<label>Worker <select id="f-worker"><option value="">all</option></select></label>
<label>Score at least <input id="f-score" type="number" step="0.25" min="0" value="0"></label>
<span id="count"></span>
<label>Reviewer <input id="reviewer" type="text" maxlength="128" placeholder="your name"></label>
<button id="save" type="button">Save verdicts</button> <span id="saved"></span>
</div></header>
<main id="entries"></main>
<script type="application/json" id="data">{for_script(data)}</script>
<script>{script}</script>
</body></html>
"""
