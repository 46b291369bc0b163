"""The fast path of SeqLabel files: pyarrow's JSON reader and Arrow arithmetic, in the tasks that read the files.

    flat = flatten(data, LabelsMeta(...))   # a Flat (frames and boxes rows), or a str: why not this file

Most labels files are clean: every frame and box passes its checks. For those, this module gives exactly the
rows the Spark path (`jobs.seqlabel`) gives, from pyarrow's C++ reader (about 1 CPU-µs a box against Spark's
reader, explode and per-row checks). A file it cannot prove clean and identical is left to the Spark path whole,
so every refusal (its reason, detail, locator and record) is still made there, by one code:

* the file's shape must be one the reader types exactly as Spark's does: one document, one frame list, no
  polylines, polygons or keypoints, texts as strings, geometry as numbers, `frame-no` and `class-id` as
  integers or their texts, attribute values as texts, integers or booleans (what Spark keeps as the value's
  JSON text), each value of one type throughout the file; a `null` reads as an absent value in both, except in
  an attribute object, where Spark keeps the key (a key the text shows and the row lacks: Spark's way);
* every check of `seqlabel.with_frames` and `with_boxes` must pass (lengths, numbers, ids, classes, duplicates);
* what pyarrow loses must not matter or is taken from the file's text: no number written with more characters
  than a stored number may have (Spark refuses those from the text), no `-0` where an integer becomes text; and
  each attribute object's keys in the file's order (Spark keeps each object's own order, pyarrow's inferred
  struct one order for all): the objects are found on the text in document order, each distinct one read once,
  and must match the rows one for one.

`tests/test_seqlabel_arrow.py` holds both paths equal on the fixtures, the samples and generated documents.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from gtlake.safejson import BOM, MAX_NUMBER_CHARS, MAX_STRING_CHARS
from gtlake.schemas import BOXES, FRAMES

FRAME_LISTS = ("tracking-annotations", "detection-annotations")
SHAPE_KEYS = ("polylines", "polygons", "keypoints")
GEOMETRY = ("left", "top", "width", "height")
TEXTS = ("object-id", "object-name")
INT_MAX = 2**31 - 1
TRACKING = "groundtruth/video-object-tracking"

_NUMBER_CHARS = bytes(1 if chr(i) in "-+.0123456789eE" else 0 for i in range(256))  # bytes.translate table
_LONG_NUMBER = b"\x01" * (MAX_NUMBER_CHARS + 1)  # a run of number characters a number may not have
_NEGATIVE_ZERO = re.compile(rb"-0(?![.0-9A-Za-z])")
_STRING = re.compile(rb'"((?:[^"\\]|\\.)*)"(\s*:)?')  # a JSON string, and whether a colon follows (a key)


def _objects(key: str) -> tuple[re.Pattern, re.Pattern]:
    """The bodies of the file's `key` objects (without nested objects): written compactly, and with spaces."""
    return (re.compile(rb'"' + key.encode() + rb'":\{([^{}]*)\}'),
            re.compile(rb'"' + key.encode() + rb'"\s*:\s*\{([^{}]*)\}'))


_ATTRIBUTE_OBJECTS = {k: _objects(k) for k in ("frame-attributes", "label-category-attributes")}


@dataclass(frozen=True)
class LabelsMeta:
    """What a labels file's rows carry from its sequence (`seqlabel.SEQ_COLS`)."""

    job_name: str
    sequence_id: str
    task_type: str | None
    class_map: dict[str, str] | None
    source_uri: str


@dataclass(frozen=True)
class Flat:
    """A clean file's rows: `frames` (FRAMES' columns, by frame) and `boxes` (BOXES' columns, in the clustered
    order: by object, nulls first, then frame), and how many frames and boxes the file lists (counted from its
    lists, not from the rows)."""

    frames: pa.Table
    boxes: pa.Table
    listed_frames: int
    listed_boxes: int


class _NotClean(Exception):
    """The file goes the Spark way; the message says why."""


def _need(ok: bool, why: str) -> None:
    if not ok:
        raise _NotClean(why)


def _fields(struct: pa.StructArray) -> dict[str, pa.Array]:
    """A struct's fields by name, each with the struct's own nulls (an absent key); a key no record has is not
    there."""
    return dict(zip((f.name for f in struct.type), struct.flatten()))


def _present(a: pa.Array | None) -> bool:
    return a is not None and not pa.types.is_null(a.type)


def _as_text(a: pa.Array, what: str, data: bytes, integers: bool = True) -> pa.Array:
    """A value Spark reads as its JSON text: strings as they are; integers (and booleans) as their text."""
    t = a.type
    if pa.types.is_string(t):
        return a
    if integers and (pa.types.is_integer(t) or pa.types.is_boolean(t)):
        _need(not pa.types.is_integer(t) or not _NEGATIVE_ZERO.search(data), f"{what}: -0 written as a number")
        return a.cast(pa.string())
    raise _NotClean(f"{what} is {t}")


def _lengths(a: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.utf8_length(a), 0).to_numpy(zero_copy_only=False).astype(np.int64)


def _short(a: pa.Array, what: str) -> None:
    _need(not len(a) or int(pc.max(pc.fill_null(pc.utf8_length(a), 0)).as_py() or 0) <= MAX_STRING_CHARS,
          f"{what} longer than a stored value may be")


def _key_ranks(data: bytes, key: str, names: list[str], valid: np.ndarray) -> np.ndarray:
    """Where each of `names` stands among the keys of each row's `key` object as the file writes it (rows x
    names; -1 where the row's object lacks the key): the order Spark keeps in a map, which pyarrow's struct loses.
    The file's `key` objects are found on its text in document order, the rows' order (each distinct object's
    keys read once); a file whose text scan does not match its rows one for one goes the Spark way."""
    objects = int(valid.sum())
    compact, spaced = _ATTRIBUTE_OBJECTS[key]
    found = compact.findall(data)  # (the common, compact form first: a third faster than allowing spaces)
    if len(found) != objects:
        found = spaced.findall(data)
    _need(len(found) == objects, f"{key}: objects the text scan cannot follow")
    out = np.full((len(valid), len(names)), -1, np.int64)
    if not found:
        return out
    encoded = pc.dictionary_encode(pa.array(found, pa.binary()))
    where = {n: i for i, n in enumerate(names)}
    table = np.full((len(encoded.dictionary), len(names)), -1, np.int64)
    for d, body in enumerate(encoded.dictionary.to_pylist()):
        keys = [m.group(1) for m in _STRING.finditer(body) if m.group(2)]
        for r, k in enumerate(keys):
            j = where.get(json.loads(b'"' + k + b'"') if b"\\" in k else k.decode(), -1)
            _need(j >= 0 and table[d, j] < 0, f"{key}: keys the text scan cannot follow")
            table[d, j] = r
    out[valid] = table[encoded.indices.to_numpy(zero_copy_only=False)]
    return out


def _attribute_map(struct: pa.Array | None, n: int, what: str, key: str, data: bytes) -> tuple[pa.Array, np.ndarray]:
    """(map<string,string> of an attribute object per row, its keys in the file's order; its keys' and values'
    characters per row)."""
    typ = pa.map_(pa.string(), pa.string())
    if not _present(struct):
        return pa.nulls(n, typ), np.zeros(n, np.int64)
    _need(pa.types.is_struct(struct.type), f"{what} is {struct.type}")
    names = [f.name for f in struct.type]
    valid = struct.is_valid().to_numpy(zero_copy_only=False)
    children = [_as_text(c, f"{what}.{k}", data) for k, c in zip(names, struct.flatten())]
    ranks = _key_ranks(data, key, names, valid)
    present = np.zeros((n, len(names)), bool)
    chars = np.zeros(n, np.int64)
    for j, (k, c) in enumerate(zip(names, children)):
        present[:, j] = c.is_valid().to_numpy(zero_copy_only=False)
        chars += present[:, j] * len(k) + _lengths(c)
    _need(bool(((ranks >= 0) == present).all()), f"{key}: keys the text scan cannot follow")
    rows, cols = np.nonzero(present)
    order = np.lexsort((ranks[rows, cols], rows))  # each row's keys in the file's order
    rows, cols = rows[order], cols[order]
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    items = pa.concat_arrays(children) if children else pa.array([], pa.string())
    keys = pa.array(names, pa.string()).take(pa.array(cols))
    values = items.take(pa.array(cols.astype(np.int64) * n + rows))
    return pa.MapArray.from_arrays(pa.array(offsets), keys, values, type=typ, mask=pa.array(~valid)), chars


def _numbers(a: pa.Array | None, what: str) -> np.ndarray:
    """A geometry value as float64; only numbers (a text Spark would cast is left to it)."""
    _need(_present(a) and (pa.types.is_integer(a.type) or pa.types.is_floating(a.type)), f"{what} is not a number")
    _need(a.null_count == 0, f"{what} missing")
    v = a.cast(pa.float64()).to_numpy(zero_copy_only=False)
    _need(bool(np.isfinite(v).all()), f"{what} not finite")
    return v


def _frame_numbers(a: pa.Array | None) -> np.ndarray:
    _need(_present(a) and a.null_count == 0, "a frame without frame-no")
    if pa.types.is_string(a.type):
        _short(a, "frame-no")
        try:
            a = a.cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise _NotClean("frame-no text that is not an integer") from None
    _need(pa.types.is_integer(a.type), f"frame-no is {a.type}")
    v = a.to_numpy(zero_copy_only=False).astype(np.int64)
    _need(bool(((v >= 0) & (v <= INT_MAX)).all()), "frame-no out of range")
    _need(len(np.unique(v)) == len(v), "a frame-no listed twice")
    return v


def _frames_list(doc: pa.Table) -> pa.Array:
    lists = [k for k in FRAME_LISTS if k in doc.column_names]
    _need(len(lists) == 1, "no frame list, or both")
    column = doc.column(lists[0]).combine_chunks()
    if pa.types.is_null(column.type):
        raise _NotClean("a null frame list")
    _need(pa.types.is_list(column.type) and column.null_count == 0, "the frame list is not a list")
    frames = pc.list_flatten(column)
    if pa.types.is_null(frames.type) and len(frames) == 0:
        return pa.array([], pa.struct([]))
    _need(pa.types.is_struct(frames.type), "frames are not objects")
    return frames


def _parse(data: bytes) -> pa.Table:
    _need(not data.startswith(BOM), "a byte-order mark")
    try:  # pyarrow's reader takes any bytes into its strings
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise _NotClean("invalid UTF-8") from None
    _need(_LONG_NUMBER not in data.translate(_NUMBER_CHARS), "a number (or digits) longer than a stored number may be")
    try:
        doc = pj.read_json(pa.py_buffer(data), read_options=pj.ReadOptions(block_size=len(data) + 1, use_threads=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError, ValueError) as e:
        raise _NotClean(f"pyarrow: {str(e)[:120]}") from None
    _need(doc.num_rows == 1, f"{doc.num_rows} JSON documents")
    try:  # the reader's arrays, offsets and texts checked whole (a null box in a list of boxes once made a bad one)
        doc.validate(full=True)
    except pa.ArrowInvalid as e:
        raise _NotClean(f"pyarrow made an invalid table: {str(e)[:120]}") from None
    return doc


def _frame_files(fields: dict[str, pa.Array], n: int) -> pa.Array:
    frame_file = fields.get("frame")
    if not _present(frame_file):
        return pa.nulls(n, pa.string())
    _need(pa.types.is_string(frame_file.type), f"frame is {frame_file.type}")
    _short(frame_file, "frame")
    return frame_file


def _frames(fields: dict[str, pa.Array], n: int, meta: LabelsMeta, data: bytes, boxes_listed: np.ndarray,
            fno: np.ndarray, frame_file: pa.Array) -> pa.Table:
    attrs, chars = _attribute_map(fields.get("frame-attributes"), n, "frame-attributes", "frame-attributes",
                                  data)
    _need(not (chars > MAX_STRING_CHARS).any(), "frame-attributes longer than a stored value may be")
    count = pa.array(boxes_listed.astype(np.int32))
    columns = {
        "sequence_id": pa.array([meta.sequence_id] * n, pa.string()), "frame_no": pa.array(fno.astype(np.int32)),
        "frame_file": frame_file, "frame_attributes": attrs, "shape_count": count, "listed_shapes": count,
        "image_width": pa.nulls(n, pa.int32()), "image_height": pa.nulls(n, pa.int32()),
        "source_uri": pa.array([meta.source_uri] * n, pa.string()), "job_name": pa.array([meta.job_name] * n, pa.string()),
    }
    table = pa.table([columns[f.name] for f in FRAMES.arrow_schema()], schema=FRAMES.arrow_schema())
    return table.take(pa.array(np.argsort(fno, kind="stable")))


def _boxes(lists: pa.ListArray, listed: np.ndarray, meta: LabelsMeta, data: bytes, fno: np.ndarray,
           frame_file: pa.Array) -> pa.Table:
    boxes = pc.list_flatten(lists)
    n = len(boxes)
    schema = BOXES.arrow_schema()
    if n == 0:
        return schema.empty_table()
    _need(pa.types.is_struct(boxes.type), "boxes are not objects")
    parent = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    first = np.zeros(len(listed), np.int64)  # each frame's first box in the flattened boxes
    np.cumsum(listed[:-1], out=first[1:])
    box_index = np.arange(n, dtype=np.int64) - first[parent]
    fields = _fields(boxes)
    geometry = {k: _numbers(fields.get(k), k) for k in GEOMETRY}
    _need(bool(((geometry["width"] > 0) & (geometry["height"] > 0)).all()), "a box of no size")
    texts = {}
    for k in TEXTS:
        a = fields.get(k)
        if not _present(a):
            a = pa.nulls(n, pa.string())
        _need(pa.types.is_string(a.type), f"{k} is {a.type}")
        _short(a, k)
        texts[k] = a
    class_id = fields.get("class-id")
    class_id = _as_text(class_id, "class-id", data) if _present(class_id) else pa.nulls(n, pa.string())
    _short(class_id, "class-id")
    ids = texts["object-id"]
    if meta.task_type == TRACKING:
        _need(ids.null_count == 0 and not pc.any(pc.equal(ids, "")).as_py(), "a tracking box without object-id")
    label = pa.nulls(n, pa.string())
    if meta.class_map:
        keys = pa.array(list(meta.class_map), pa.string())
        at = pc.index_in(class_id, value_set=keys)
        _need(at.null_count == 0, "a class-id not in the class map")
        label = pa.array(list(meta.class_map.values()), pa.string()).take(at)
    attrs, chars = _attribute_map(fields.get("label-category-attributes"), n, "label-category-attributes",
                                  "label-category-attributes", data)
    _need(not (chars > MAX_STRING_CHARS).any(), "attributes longer than a stored value may be")
    columns = {
        "sequence_id": pa.array([meta.sequence_id] * n, pa.string()),
        "frame_no": pa.array(fno[parent].astype(np.int32)), "frame_file": frame_file.take(pa.array(parent)),
        "object_id": ids, "object_name": texts["object-name"], "class_id": class_id, "label": label,
        **{k: pa.array(v) for k, v in geometry.items()}, "attributes": attrs,
        "box_index": pa.array(box_index.astype(np.int32)),
        "source_uri": pa.array([meta.source_uri] * n, pa.string()), "job_name": pa.array([meta.job_name] * n, pa.string()),
    }
    table = pa.table([columns[f.name] for f in schema], schema=schema)
    table = table.take(pc.sort_indices(table, [(k, "ascending") for k in BOXES.cluster_by[1:]],
                                       null_placement="at_start"))
    # An id used twice on a frame (the later box is refused): neighbours in this order (frame-nos are unique).
    ids, frames = table["object_id"].combine_chunks(), table["frame_no"].combine_chunks()
    twice = pc.and_(pc.equal(ids.slice(1), ids.slice(0, n - 1)), pc.equal(frames.slice(1), frames.slice(0, n - 1)))
    _need(not pc.any(pc.fill_null(twice, False)).as_py(), "an object-id twice on a frame")
    return table


def flatten(data: bytes, meta: LabelsMeta) -> Flat | str:
    """The rows of a clean labels file (`Flat`), or why the file goes the Spark way (a short text)."""
    try:
        frames = _frames_list(_parse(data))
        n = len(frames)
        fields = _fields(frames)
        _need(not any(k in fields for k in SHAPE_KEYS), "shapes (polylines, polygons, keypoints)")
        fno = _frame_numbers(fields.get("frame-no")) if n else np.zeros(0, np.int64)
        lists = fields.get("annotations")
        if not _present(lists):
            lists = pa.array([[]] * n, pa.list_(pa.struct([])))
        _need(pa.types.is_list(lists.type), f"annotations is {lists.type}")
        listed = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        frame_file = _frame_files(fields, n)
        table = _frames(fields, n, meta, data, listed, fno, frame_file)
        boxes = _boxes(lists, listed, meta, data, fno, frame_file)
    except _NotClean as e:
        return str(e)
    except pa.ArrowException as e:  # a shape this module did not foresee: Spark's way, never a wrong row
        return f"pyarrow: {type(e).__name__}: {str(e)[:120]}"
    return Flat(table, boxes, n, int(listed.sum()))
