"""The slow path of labels files: what Spark's JSON reader refused whole, read in Python so that one bad value
costs only the frame, box or shape holding it (pure Python, run on executors).

Spark's reader (Jackson) refuses a whole file for one byte of invalid UTF-8, one number of more than 1,000
digits, one string of more than 20 MB, nesting deeper than 1,000 levels or one value of an unexpected JSON type.
`repair` parses such a file with `gtlake.safejson` (invalid bytes kept, numbers kept as text), marks each record
that cannot be stored with `_gtlake_reason` / `_gtlake_detail` / `_gtlake_record`, normalizes every position the
raw schema (`seqlabel.seqlabel_schema(typed=False)`) reads as an array or a struct, and returns one line of JSON
that Spark always reads: the marked records are refused with those reasons by `seqlabel`'s checks, the rest are
read exactly as a clean file's would be.

Image bounding-box labels (inline in the manifest) take the same path: `image_document` writes them in the
SeqLabel shape, one frame per image.
"""
from __future__ import annotations

import posixpath

from gtlake import safejson
from gtlake.records import RECORD_MAX_CHARS, unforeseen

SHAPE_KEYS = ("annotations", "polylines", "polygons", "keypoints")
FRAME_LISTS = ("tracking-annotations", "detection-annotations")
PATH, REASON, DETAIL, RECORD = "_gtlake_path", "_gtlake_reason", "_gtlake_detail", "_gtlake_record"
IMAGE_WIDTH, IMAGE_HEIGHT = "_gtlake_image_width", "_gtlake_image_height"
_OURS = "_gtlake_"


def _marked(value: object, reason: str, detail: str, keep: dict | None = None) -> dict:
    return {**(keep or {}), REASON: reason, DETAIL: detail, RECORD: safejson.record_text(value, RECORD_MAX_CHARS)}


def _theirs(obj: dict) -> dict:
    """`obj` without keys that could pass for gtlake's own marks (a file cannot refuse its own records)."""
    return {k: v for k, v in obj.items() if not (isinstance(k, str) and k.startswith(_OURS))}


def _shape(shape: object, key: str) -> dict:
    """A box, polyline, polygon or keypoint as the raw schema reads it, marked when it cannot be stored."""
    if not isinstance(shape, dict):
        return _marked(shape, "not_an_object", f"expected a JSON object in {key}, found {type(shape).__name__}")
    shape = _theirs(shape)
    bad = safejson.problem(shape)
    if bad:
        return _marked(shape, *bad, keep=_scalars(safejson.clean(shape)))
    vertices = shape.get("vertices")
    if vertices is not None and not (isinstance(vertices, list) and all(isinstance(v, dict) for v in vertices)):
        return _marked(shape, "invalid_vertices", "vertices must be a list of {x, y} objects",
                       keep={k: v for k, v in shape.items() if k != "vertices"})
    return shape


def _scalars(obj: object) -> dict:
    """What of a refused record is kept for its locator: its fields that are not lists (names, ids)."""
    return {k: v for k, v in obj.items() if not isinstance(v, list)} if isinstance(obj, dict) else {}


def _frame(frame: object) -> dict:
    """A frame as the raw schema reads it, marked when it (not one of its shapes) cannot be stored."""
    if not isinstance(frame, dict):
        return _marked(frame, "not_an_object", f"expected a JSON object for a frame, found {type(frame).__name__}")
    frame = _theirs(frame)
    own = {k: v for k, v in frame.items() if k not in SHAPE_KEYS}
    bad = safejson.problem(own)
    if bad:
        return _marked(frame, *bad, keep=_scalars(safejson.clean(own)))
    lists = {k: frame[k] for k in SHAPE_KEYS if frame.get(k) is not None}
    wrong = [k for k, v in lists.items() if not isinstance(v, list)]
    if wrong:
        return _marked(frame, "invalid_shape_list", f"{', '.join(wrong)} must be a list of objects", keep=own)
    return {**own, **{k: [_shape(s, k) for s in v] for k, v in lists.items()}}


def repair_document(doc: object, path: str) -> dict:
    """The parsed labels document `doc` of the file at `path`, normalized and marked (see the module)."""
    if not isinstance(doc, dict):
        return {PATH: path, REASON: "unexpected_structure", DETAIL: f"expected a JSON object, found "
                f"{type(doc).__name__}", RECORD: safejson.record_text(doc, RECORD_MAX_CHARS)}
    out: dict = {PATH: path}
    for key in FRAME_LISTS:
        frames = doc.get(key)
        if frames is None:
            continue
        if not isinstance(frames, list):
            return {PATH: path, REASON: "unexpected_structure", DETAIL: f"{key} must be a list of frames",
                    RECORD: safejson.record_text(doc, RECORD_MAX_CHARS)}
        out[key] = [_frame(f) for f in frames]
    return out


def repair(data: bytes, path: str) -> str:
    """One line of JSON, always readable with the raw schema, for the labels file `data` at `path`."""
    try:
        doc = safejson.loads(safejson.decode(data))
    except safejson.BadDocument as e:
        reason = "nesting_too_deep" if e.reason == "nesting_too_deep" else "malformed_labels_file"
        out = {PATH: path, REASON: reason, DETAIL: e.detail, RECORD: safejson.record_text(data, RECORD_MAX_CHARS)}
    else:
        try:
            out = repair_document(doc, path)
        except Exception as e:  # noqa: BLE001 - a gap in the checks costs the file, never the run
            out = {PATH: path, REASON: "parse_error", DETAIL: unforeseen(e),
                   RECORD: safejson.record_text(data, RECORD_MAX_CHARS)}
    return safejson.dumps(out)


def repair_files(paths: list[str]) -> list[str]:
    """`repair` of each file (a storage path) on an executor; a file that cannot be read any more is refused."""
    from gtlake.storage import read_bytes

    out = []
    for path in paths:
        try:
            data = read_bytes(path)
        except Exception as e:  # noqa: BLE001 - one unreadable file costs that file
            out.append(safejson.dumps({PATH: path, REASON: "unreadable", DETAIL: unforeseen(e)}))
            continue
        out.append(repair(data, path))
    return out


def image_document(labels: dict, metadata: dict, source_ref: str, key: str) -> str:
    """An image bounding-box job's inline labels (`{"image_size": [...], "annotations": [...]}`, validated by the
    manifest parser) as a one-frame labels document: frame 0 is the image, `class_id` becomes `class-id`, and
    the metadata's `objects[i]` (confidence) joins box i's attributes."""
    objects = metadata.get("objects") if isinstance(metadata.get("objects"), list) else []
    boxes = []
    for i, box in enumerate(labels.get("annotations") or []):
        if isinstance(box, dict):
            box = dict(box)
            if "class-id" not in box and "class_id" in box:
                box["class-id"] = box.pop("class_id")
            extra = objects[i] if i < len(objects) and isinstance(objects[i], dict) else {}
            attrs = box.get("label-category-attributes")
            if extra and (attrs is None or isinstance(attrs, dict)):
                box["label-category-attributes"] = {**extra, **(attrs or {})}
        boxes.append(box)
    doc = repair_document({"detection-annotations": [
        {"frame-no": 0, "frame": posixpath.basename(source_ref), "annotations": boxes}]}, key)
    size = next((s for s in labels.get("image_size") or [] if isinstance(s, dict)), {})
    for frame in doc["detection-annotations"]:  # marks of gtlake's own, added after the repair that strips them
        frame[IMAGE_WIDTH], frame[IMAGE_HEIGHT] = size.get("width"), size.get("height")
    return safejson.dumps(doc)
