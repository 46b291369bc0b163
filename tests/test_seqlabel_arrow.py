"""The Arrow path of SeqLabel files (`jobs.seqlabel_arrow`): hand-computed rows, what it leaves to Spark, and the
same rows as the Spark path (`jobs.seqlabel`) on the fixtures and on generated documents, clean or not."""
from __future__ import annotations

import json
import random
import uuid

import pytest
from pyspark.sql import functions as F

from gtlake.jobs import seqlabel
from gtlake.jobs.seqlabel_arrow import Flat, LabelsMeta, flatten
from gtlake.schemas import BOXES, FRAMES

TRACKING = "groundtruth/video-object-tracking"
META = LabelsMeta("job-a", "job-a:0", TRACKING, {"0": "car", "1": "person"}, "/in/0/SeqLabel.json")


def _doc(frames: list, key: str = "tracking-annotations") -> bytes:
    return json.dumps({key: frames}).encode()


def _box(oid="a", cls="0", left=1, top=2, width=3, height=4, **attrs) -> dict:
    b = {"height": height, "width": width, "top": top, "left": left, "class-id": cls, "object-id": oid,
         "object-name": f"car:{oid}"}
    if attrs:
        b["label-category-attributes"] = attrs
    return b


def test_a_clean_file_gives_hand_computed_rows():
    """Integers become their text where Spark keeps the JSON text (class-id, attribute values)."""
    data = _doc([
        {"frame-no": "3", "frame": "f3.jpg", "frame-attributes": {"weather": "fog", "n": 2},
         "annotations": [_box("a", cls=0, left=1.5, occluded="no", parked=True), _box("b", cls=1)]},
        {"frame-no": "0", "frame": "f0.jpg", "annotations": []},
        {"frame-no": "7", "annotations": [_box("a", cls=0, width=10, height=20, occluded="yes")]},
    ])
    flat = flatten(data, META)
    assert isinstance(flat, Flat), flat
    assert (flat.listed_frames, flat.listed_boxes) == (3, 3)
    frames = flat.frames.to_pylist()  # by frame
    assert [(f["frame_no"], f["frame_file"], f["shape_count"], f["listed_shapes"]) for f in frames] == [
        (0, "f0.jpg", 0, 0), (3, "f3.jpg", 2, 2), (7, None, 1, 1)]
    assert frames[1]["frame_attributes"] == [("weather", "fog"), ("n", "2")] and frames[0]["frame_attributes"] is None
    assert flat.frames.schema == FRAMES.arrow_schema() and flat.boxes.schema == BOXES.arrow_schema()
    boxes = flat.boxes.to_pylist()  # by object, then frame
    assert [(b["frame_no"], b["frame_file"], b["object_id"], b["box_index"], b["class_id"], b["label"])
            for b in boxes] == [(3, "f3.jpg", "a", 0, "0", "car"), (7, None, "a", 0, "0", "car"),
                                (3, "f3.jpg", "b", 1, "1", "person")]
    assert [(b["left"], b["top"], b["width"], b["height"]) for b in boxes][:2] == [(1.5, 2.0, 3.0, 4.0),
                                                                                  (1.0, 2.0, 10.0, 20.0)]
    assert [b["attributes"] for b in boxes] == [[("occluded", "no"), ("parked", "true")], [("occluded", "yes")], None]
    assert {(b["job_name"], b["sequence_id"], b["source_uri"]) for b in boxes} == {
        ("job-a", "job-a:0", "/in/0/SeqLabel.json")}


@pytest.mark.parametrize("data, why", [
    (_doc([{"frame-no": "0", "annotations": [_box(occluded=None)]}]), "is null"),
    (_doc([{"frame-no": "0", "annotations": [_box(occluded=None), _box("b", occluded="no")]}]), "text scan"),
    (_doc([{"frame-no": "0", "annotations": [None]}]), "boxes are not objects"),
    (_doc([{"frame-no": "0", "annotations": [None, _box()]}]), "invalid table"),
    (_doc([None]), "frames are not objects"),
    (_doc([None, {"frame-no": "0", "annotations": []}]), "pyarrow"),
    (b'{"tracking-annotations": null}', "null frame list"),
    (b"\xef\xbb\xbf" + _doc([]), "byte-order mark"),
    (_doc([]) + b"\n" + _doc([]), "2 JSON documents"),
    (b'{"tracking-annotations": [{"frame-no": "0", "annotations": [{"left": 1' + b"0" * 70 + b"}]}]}",
     "longer than a stored number"),
    (_doc([{"frame-no": "0", "annotations": [_box(cls=-0)]}]).replace(b'"class-id": 0', b'"class-id": -0'), "-0"),
    (b'{"tracking-annotations": [{"frame-no": "0", "annotations": [{"left": 1, "top": 1, "width": 1, "height": 1, '
     b'"object-id": "a", "class-id": "0", "label-category-attributes": {"a": "{"}}]}]}', "text scan"),
    (_doc([{"frame-no": "0", "annotations": [], "polygons": [{"vertices": [{"x": 1, "y": 2}]}]}]), "shapes"),
    (_doc([{"frame-no": "0", "annotations": []}, {"frame-no": "0", "annotations": []}]), "twice"),
    (_doc([{"frame-no": "1.5", "annotations": []}]), "not an integer"),
    (_doc([{"frame-no": "-1", "annotations": []}]), "out of range"),
    (_doc([{"annotations": []}]), "without frame-no"),
    (_doc([{"frame-no": "0", "annotations": [_box("a"), _box("a")]}]), "object-id twice"),
    (_doc([{"frame-no": "0", "annotations": [_box("")]}]), "without object-id"),
    (_doc([{"frame-no": "0", "annotations": [_box(cls="9")]}]), "not in the class map"),
    (_doc([{"frame-no": "0", "annotations": [_box(width=0)]}]), "no size"),
    (_doc([{"frame-no": "0", "annotations": [_box(left="12")]}]), "not a number"),
    (_doc([{"frame-no": "0", "annotations": [_box(occluded={"deep": "x"})]}]), "struct"),
    (_doc([{"frame-no": "0", "annotations": [_box(score=0.5)]}]), "double"),
    (json.dumps({"tracking-annotations": [], "detection-annotations": []}).encode(), "both"),
    (json.dumps({"version": 1}).encode(), "no frame list"),
    (b'{"tracking-annotations": [{"frame-no": "0", "frame": "\xff"}]}', "UTF-8"),
    (b'{"tracking-annotations": [{"frame-no": "0", "frame": "a\tb"}]}', "pyarrow"),
    (b"   ", "0 JSON documents"),
])
def test_what_it_leaves_to_the_spark_path(data, why):
    out = flatten(data, META)
    assert isinstance(out, str) and why in out, out


# -- both paths, on documents clean and not --------------------------------------------------------------------
POOL = ["occluded", "color", "type", "truncated"]


def _number(rng: random.Random):
    return rng.choice([rng.randint(0, 1900), round(rng.uniform(0, 1900), rng.randint(0, 4)), rng.uniform(0, 1900),
                       rng.randint(1, 60)])


def _attrs(rng: random.Random, shuffle: float, kinds: dict):
    """Attributes of a random subset of POOL's keys, each key's values of one kind in a file (`kinds`), now and
    then another kind or order."""
    keys = [k for k in POOL if rng.random() < 0.5]
    if rng.random() < shuffle:
        rng.shuffle(keys)
    values = {"text": ["no", "yes", 'Straße "nass"', "a\\b"], "int": [3, 0, 12], "bool": [True, False]}
    return {k: rng.choice(values[kinds[k] if rng.random() > 0.01 else "int"]) for k in keys}


def _random_doc(rng: random.Random) -> tuple[bytes, LabelsMeta]:
    """A labels document and its sequence: mostly clean, each kind of flaw now and then."""
    def flaw(p: float) -> bool:
        return rng.random() < p

    frame_no_text = flaw(0.8)
    shuffle = 0.02
    kinds = {k: rng.choice(["text", "text", "int", "bool"]) for k in POOL}
    frames = []
    for i in rng.sample(range(40), rng.randint(0, 8)):
        boxes = []
        for j in range(rng.randint(0, 6)):
            b = {"height": _number(rng), "width": _number(rng), "top": _number(rng), "left": _number(rng),
                 "class-id": rng.choice(["0", "1"]) if not flaw(0.02) else rng.choice([1, "7", 0]),
                 "object-id": str(uuid.UUID(int=rng.getrandbits(128))) if not flaw(0.02) else rng.choice(["", "x"]),
                 "object-name": f"car:{j}"}
            if flaw(0.02):
                b["width"] = rng.choice([0, -3, "5"])
            if flaw(0.7):
                b["label-category-attributes"] = _attrs(rng, shuffle, kinds)
            if flaw(0.05):
                del b[rng.choice(list(b))]
            boxes.append(b)
        f = {"frame-no": str(i) if frame_no_text else i, "frame": f"{i:06d}.jpg", "annotations": boxes}
        if flaw(0.5):
            f["frame-attributes"] = _attrs(rng, shuffle, kinds)
        if flaw(0.02):
            f["frame-no"] = rng.choice(["x", "1.0", -2])
        if flaw(0.03):
            del f["annotations"]
        frames.append(f)
    if frames and flaw(0.03):
        frames.append(dict(frames[0]))
    key = "tracking-annotations" if flaw(0.9) else "detection-annotations"
    text = json.dumps({key: frames}, indent=rng.choice([None, 2]), ensure_ascii=flaw(0.5))
    for target, null in (('"frame"', '"frame": null, "x"'), ('"object-id"', '"object-id": null, "y"'),
                         ('"class-id"', '"class-id": null, "y"'), ('"frame-attributes"', '"frame-attributes": null, "z"'),
                         ('"label-category-attributes"', '"label-category-attributes": null, "z"'),
                         ('"annotations"', '"annotations": null, "z"'), ('"occluded": ', '"occluded": null, "w": ')):
        if flaw(0.04):
            text = text.replace(target, null, 1)
    task = TRACKING if key == "tracking-annotations" else "groundtruth/video-object-detection"
    cmap = rng.choice([{"0": "car", "1": "person"}, None, {}])
    return text.encode(), LabelsMeta("job-a", "", task, cmap, "")


def _spark_rows(spark, paths: dict[str, LabelsMeta]):
    """(frames by path, boxes by path, whether the path has a refusal) from the Spark path."""
    refs = spark.createDataFrame([(p, m.job_name, m.sequence_id, m.task_type, m.class_map, p)
                                  for p, m in paths.items()],
                                 "_path string, job_name string, sequence_id string, task_type string, "
                                 "class_map map<string,string>, source_uri string")
    raw = seqlabel.read_labels(spark, ["file://" + p for p in paths]).withColumn(
        "_path", seqlabel.storage_path(F.col("_path")))
    fr = seqlabel.with_frames(raw.join(refs, on="_path"), typed=True).cache()
    boxes = seqlabel.with_boxes(fr).cache()
    refused = {r["source_uri"] for r in fr.where(F.col("file_reason").isNotNull()).select("source_uri").collect()}
    refused |= {r["source_uri"] for r in seqlabel.listed_frames(fr).where(F.col("frame_reason").isNotNull())
                .select("source_uri").collect()}
    refused |= {r["source_uri"] for r in boxes.where(F.col("reason").isNotNull()).select("source_uri").collect()}
    refused |= set(paths) - {r["_path"] for r in fr.select("_path").distinct().collect()}
    frames = seqlabel.frames_table(fr, boxes.groupBy("job_name", "sequence_id", "frame_no")
                                   .agg(F.count(F.lit(1)).alias("shape_count")))
    out: list[dict[str, list]] = []
    for df, table in ((frames, FRAMES), (boxes, BOXES)):  # maps as their entries: a collected map loses its order
        rows: dict[str, list] = {}
        for r in df.select(*[F.map_entries(c.name).alias(c.name) if c.type.ddl.startswith("map") else c.name
                             for c in table.columns]).collect():
            rows.setdefault(r["source_uri"], []).append(_norm(r.asDict(), table.names))
        out.append(rows)
    return out[0], out[1], refused


def _norm(row: dict, names: list[str]) -> tuple:
    """A row as a tuple, maps as their (key, value) pairs in order (Spark's entries and Arrow's pairs alike)."""
    return tuple([tuple(e) for e in v] if isinstance(v, list) else v for v in (row[n] for n in names))


def test_both_paths_give_the_same_rows(spark, tmp_path, fixtures_dir):
    """Every file the Arrow path takes is one Spark refuses nothing of, and its rows are Spark's exactly (maps in
    the same key order); the fixtures' files and most generated ones are taken."""
    rng = random.Random(21)
    docs: dict[str, tuple[bytes, LabelsMeta]] = {}
    for f in sorted(fixtures_dir.rglob("SeqLabel.json")):
        docs[f"fixture-{len(docs)}"] = (f.read_bytes(), LabelsMeta("job-a", "", TRACKING, {"0": "car", "1": "Pedestrian",
                                                                                            "2": "Vehicle"}, ""))
    for i in range(240):
        docs[f"gen-{i}"] = _random_doc(rng)
    paths: dict[str, LabelsMeta] = {}
    for name, (data, meta) in docs.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(data)
        paths[str(path)] = LabelsMeta(meta.job_name, name, meta.task_type, meta.class_map, str(path))
    frames, boxes, refused = _spark_rows(spark, paths)
    taken = 0
    for path, meta in paths.items():
        flat = flatten(open(path, "rb").read(), meta)
        if isinstance(flat, str):
            continue
        taken += 1
        assert path not in refused, f"the Arrow path took {path}, where Spark refuses a record"
        assert sorted((_norm(r, FRAMES.names) for r in flat.frames.to_pylist()), key=repr) == sorted(frames.get(path, []), key=repr), path
        assert sorted((_norm(r, BOXES.names) for r in flat.boxes.to_pylist()), key=repr) == sorted(boxes.get(path, []), key=repr), path
        assert flat.listed_boxes == len(boxes.get(path, []))
    fixtures = [p for p in paths if "fixture-" in p]
    assert all(isinstance(flatten(open(p, "rb").read(), paths[p]), Flat) for p in fixtures)
    assert taken >= len(paths) // 3, f"only {taken} of {len(paths)} files taken by the Arrow path"
    assert len(refused) >= 20, "the generated documents should hold flaws Spark refuses"


# -- ingest's packing of the Arrow path's pieces into the staged tables ---------------------------------------
def test_packs_cut_each_jobs_sequences_in_byte_order_into_runs_of_about_equal_rows():
    from gtlake.jobs.ingest import Piece, packs

    pieces = [Piece("j", f"j:{i}", f"b{i}", None, 150_000) for i in (2, 10, 1, 3, 11, 4)] + [
        Piece("a", "a:0", "x", None, 5)]
    runs = packs(pieces, cores=2)
    assert [[p.sequence_id for p in r] for r in runs] == [["a:0"], ["j:1", "j:10", "j:11"], ["j:2", "j:3", "j:4"]]


def test_counts_agree_when_each_frames_shape_count_is_its_boxes():
    import pyarrow as pa

    from gtlake.jobs.ingest import counts_agree

    boxes = pa.table({"frame_no": pa.array([0, 0, 2, 5], pa.int32())})
    frames = pa.table({"frame_no": pa.array([0, 1, 2], pa.int32()), "shape_count": pa.array([2, 0, 1], pa.int32())})
    assert counts_agree(frames, boxes)
    assert not counts_agree(frames.set_column(1, "shape_count", pa.array([2, 1, 1], pa.int32())), boxes)
    assert not counts_agree(frames, boxes.slice(0, 1))
    assert counts_agree(frames.set_column(1, "shape_count", pa.array([0, 0, 0], pa.int32())), boxes.slice(0, 0))


def test_a_packing_task_says_which_rules_held_on_what_it_wrote(tmp_path):
    """The packed files hold the pieces in order; a frame whose shape_count is not its boxes leaves the count
    rule to the gate's own query, as a broken row-level rule leaves that rule."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import fs as pafs

    from gtlake.jobs.filepass import FileWork
    from gtlake.jobs.ingest import Piece, pack_file
    from gtlake.validation import SHAPE_COUNT_RULE

    def piece(seq: str, counts: list[int], boxes_on: list[int]) -> Piece:
        data = json.dumps({"tracking-annotations": [
            {"frame-no": str(f), "annotations": [_box(f"o{k}") for k in range(boxes_on.count(f))]}
            for f in range(len(counts))]}).encode()
        flat = flatten(data, LabelsMeta("j", seq, TRACKING, None, seq))
        frames = flat.frames.drop_columns(["job_name"])
        frames = frames.set_column(frames.schema.get_field_index("shape_count"), "shape_count",
                                   pa.array(counts, pa.int32()))
        paths = (str(tmp_path / f"{seq}-frames.arrow"), str(tmp_path / f"{seq}-boxes.arrow"))
        for path, table in zip(paths, (frames, flat.boxes.drop_columns(["job_name"]))):
            with pa.ipc.new_file(path, table.schema) as w:
                w.write_table(table)
        return Piece("j", seq, paths[1], paths[0], flat.boxes.num_rows)

    roots = {"boxes": str(tmp_path / "boxes"), "frames": str(tmp_path / "frames")}
    good = [[piece("j:0", [1, 2], [0, 1, 1]), piece("j:1", [0, 1], [1])]]
    out = pack_file(pafs.LocalFileSystem(), FileWork(0, "job_name=j", "", 4), good, roots)
    assert out["frames"]["broken"][SHAPE_COUNT_RULE] is False and out["boxes"]["unique"] and out["frames"]["unique"]
    assert out["boxes"]["broken"]["width: values > 0"] is False
    written = pq.read_table(tmp_path / "boxes/job_name=j/part-00000.parquet")
    assert written["sequence_id"].to_pylist() == ["j:0"] * 3 + ["j:1"]
    runs = [*good, [piece("j:2", [1, 1], [0, 1, 1])]]
    out = pack_file(pafs.LocalFileSystem(), FileWork(1, "job_name=j", "", 3), runs, roots)
    assert out["frames"]["broken"][SHAPE_COUNT_RULE] is True
