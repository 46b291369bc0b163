"""`gtlake export`: COCO and MOTChallenge files read back with the reference readers (pycocotools' COCO API,
motmetrics' MOT loader) give the lake's boxes, tracks and classes; the audited and queue-only exports; refusals."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from gtlake import export
from gtlake.lakesql import connect
from tests.conftest import REPO

pytestmark = pytest.mark.spark

JOB = "street-tracking-b2"


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "gtlake.cli", "export", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def _lake_boxes(lake, job: str) -> pd.DataFrame:
    con = connect(str(lake))
    return con.execute('SELECT sequence_id, frame_no, object_id, label, "left", "top", width, height FROM boxes '
                       "WHERE job_name = ?", [job]).df()


def _same_boxes(got: pd.DataFrame, want: pd.DataFrame) -> None:
    keys = ["sequence_id", "frame_no", "object_id"]
    got, want = (d.sort_values(keys).reset_index(drop=True) for d in (got, want))
    assert len(got) == len(want) > 0
    assert got[keys + ["label"]].astype(str).values.tolist() == want[keys + ["label"]].astype(str).values.tolist()
    for c in ("left", "top", "width", "height"):
        assert np.allclose(got[c].to_numpy(float), want[c].to_numpy(float), rtol=0, atol=1e-9), c


def _read_mot(folder) -> pd.DataFrame:
    """Every gt.txt of an export through motmetrics' loader, mapped back to lake ids with gtlake-export.json."""
    import motmetrics as mm

    m = json.loads((folder / export.MAPPING).read_text())
    seqs = {s["folder"]: s for s in m["sequences"]}
    tracks = {t["track_id"]: t for t in m["tracks"]}
    cats = {c["id"]: c["name"] for c in m["categories"]}
    rows = []
    for name, s in seqs.items():
        assert (folder / name / "seqinfo.ini").read_text().startswith(f"[Sequence]\nname={name}\n")
        df = mm.io.loadtxt(str(folder / name / "gt" / "gt.txt"), fmt="mot16").reset_index()
        for r in df.itertuples(index=False):
            t = tracks[int(r.Id)]
            assert t["sequence_id"] == s["sequence_id"]
            rows.append({"sequence_id": s["sequence_id"], "frame_no": int(r.FrameId) - 1 + s["first_frame_no"],
                         "object_id": t["object_id"], "label": cats[int(r.ClassId)], "left": r.X, "top": r.Y,
                         "width": r.Width, "height": r.Height})
    return pd.DataFrame(rows)


def _read_coco(path) -> pd.DataFrame:
    from pycocotools.coco import COCO

    coco = COCO(str(path))
    videos = {v["id"]: v for v in coco.dataset["videos"]}
    rows = []
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.imgs[ann["image_id"]]
        rows.append({"sequence_id": videos[img["video_id"]]["gtlake_sequence_id"], "frame_no": img["gtlake_frame_no"],
                     "object_id": ann["gtlake_object_id"], "label": coco.cats[ann["category_id"]]["name"],
                     "left": ann["bbox"][0], "top": ann["bbox"][1], "width": ann["bbox"][2], "height": ann["bbox"][3],
                     "track_id": ann["track_id"]})
    return pd.DataFrame(rows)


def test_mot_export_reads_back_with_motmetrics(pipeline_lake, tmp_path):
    out = tmp_path / "mot"
    r = _cli("--lake", str(pipeline_lake["lake"]), "--job", JOB, "--format", "mot", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"export: {out}: mot, ")
    _same_boxes(_read_mot(out), _lake_boxes(pipeline_lake["lake"], JOB))
    first = next(p for p in sorted(out.iterdir()) if p.is_dir())
    line = (first / "gt" / "gt.txt").read_text().splitlines()[0].split(",")
    assert line[0] == "1" and line[6] == "1" and line[8] == "1"  # frames 1-based, every box counted, visible
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mot.tmp-")]


def test_coco_export_reads_back_with_pycocotools(pipeline_lake, tmp_path):
    out = tmp_path / "coco"
    r = _cli("--lake", str(pipeline_lake["lake"]), "--job", JOB, "--format", "coco", "--out", str(out))
    assert r.returncode == 0, r.stderr
    got = _read_coco(out / "annotations.json")
    _same_boxes(got, _lake_boxes(pipeline_lake["lake"], JOB))
    # one track number per lake object, never shared across sequences
    assert got.groupby("track_id")[["sequence_id", "object_id"]].nunique().max().max() == 1
    assert got.groupby(["sequence_id", "object_id"])["track_id"].nunique().max() == 1
    data = json.loads((out / "annotations.json").read_text())
    assert {"id", "file_name", "video_id", "frame_id"} <= set(data["images"][0])
    assert all(not i["file_name"].startswith(("/", "..")) for i in data["images"])


def test_audited_and_queue_only_exports(pipeline_lake, tmp_path):
    lake = pipeline_lake["lake"]
    con = connect(str(lake))
    audit = con.execute("SELECT job_name FROM jobs WHERE audited_job = ?", [JOB]).fetchone()[0]
    out = tmp_path / "audited"
    r = _cli("--lake", str(lake), "--job", JOB, "--format", "coco", "--out", str(out), "--audited")
    assert r.returncode == 0 and f"labels as audit job {audit} left them" in r.stdout, r.stderr
    rename = dict(con.execute("SELECT DISTINCT audit_sequence_id, sequence_id FROM audit_changes WHERE audit_job = ?",
                              [audit]).fetchall())
    want = _lake_boxes(lake, audit)
    want = want[want.sequence_id.isin(list(rename))].assign(sequence_id=lambda d: d.sequence_id.map(rename))
    _same_boxes(_read_coco(out / "annotations.json"), want)

    queue = con.execute("SELECT DISTINCT sequence_id, frame_no FROM review_queue WHERE job_name = ?", [JOB]).df()
    out = tmp_path / "queued"
    r = _cli("--lake", str(lake), "--job", JOB, "--format", "mot", "--out", str(out), "--queue-only")
    assert r.returncode == 0 and "frames of the review queue" in r.stdout, r.stderr
    everything = _lake_boxes(lake, JOB)
    keep = everything.merge(queue, on=["sequence_id", "frame_no"])
    _same_boxes(_read_mot(out), keep)  # frame numbers as in the whole export: the sequence's own first frame


def test_export_refusals(pipeline_lake, tmp_path):
    lake = str(pipeline_lake["lake"])
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    cases = [(["--job", "nope", "--format", "mot", "--out", str(tmp_path / "a")], "no job nope in the lake"),
             (["--job", JOB, "--format", "mot", "--out", str(full)], "is not an empty folder"),
             (["--job", JOB, "--format", "yolo", "--out", str(tmp_path / "b")], "invalid choice"),
             (["--job", "road-signs-detect", "--format", "coco", "--out", str(tmp_path / "c"), "--audited"],
              "has no audit job")]
    for args, said in cases:
        r = _cli("--lake", lake, *args)
        assert r.returncode == 2 and said in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert (full / "keep.txt").read_text() == "mine" and not (tmp_path / "a").exists()


def _labels(frame_file: str) -> export.Labels:
    boxes = pd.DataFrame({"sequence_id": ["j:0", "j:0"], "frame_no": [3, 4], "frame_file": [frame_file, "b.jpg"],
                          "object_id": ["o1", "o1"], "object_name": ["Car:1", "Car:1"], "label": ["Car", "Car"],
                          "left": [0.0, 10.5], "top": [2.0, 3.0], "width": [4.0, 5.0], "height": [6.0, 7.0],
                          "attributes": [[("occluded", "no")], None]})
    frames = pd.DataFrame({"sequence_id": ["j:0"] * 3, "frame_no": [2, 3, 4], "frame_file": ["z.jpg", frame_file, "b.jpg"],
                           "image_width": [640] * 3, "image_height": [480] * 3})
    sequences = pd.DataFrame({"sequence_id": ["j:0"], "data_object_index": [0], "source_ref": ["s3://b/seq.json"]})
    return export.Labels("../job one", boxes, frames, sequences)


def test_files_by_hand():
    labels = _labels("../../etc/passwd")
    texts = export.files(labels, "mot")
    (folder,) = {k.split("/")[0] for k in texts if k != export.MAPPING}
    assert folder == "job-one_0"  # a job name never becomes a path
    assert texts[f"{folder}/gt/gt.txt"] == "2,1,1,3,4,6,1,1,1\n3,1,11.5,4,5,7,1,1,1\n"
    assert "seqLength=3" in texts[f"{folder}/seqinfo.ini"] and "imWidth=640" in texts[f"{folder}/seqinfo.ini"]
    c = export.coco(labels)
    assert [i["file_name"] for i in c["images"]] == [f"{folder}/z.jpg", f"{folder}/frame-000003", f"{folder}/b.jpg"]
    assert [i["frame_id"] for i in c["images"]] == [0, 1, 2] and c["images"][0]["width"] == 640
    assert c["annotations"][0]["attributes"] == {"occluded": "no"} and c["annotations"][1]["attributes"] == {}
    assert c["annotations"][1]["bbox"] == [10.5, 3.0, 5.0, 7.0] and c["annotations"][1]["area"] == 35.0


def test_write_is_atomic_and_stays_inside(tmp_path):
    with pytest.raises(export.ExportError, match="leave the export folder"):
        export.write(str(tmp_path / "x"), {"ok.txt": "1", "../escaped.txt": "2"})
    assert not (tmp_path / "x").exists() and not (tmp_path / "escaped.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == []
    export.write(str(tmp_path / "y"), {"a/b.txt": "1"})
    assert (tmp_path / "y" / "a" / "b.txt").read_text() == "1"
    with pytest.raises(export.ExportError, match="not an empty folder"):
        export.write(str(tmp_path / "y"), {"c.txt": "2"})
