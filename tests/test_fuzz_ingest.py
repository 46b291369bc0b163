"""Fuzzing the whole ingest job: real fixture files, mutated by hypothesis (keys dropped or retyped, values nested
deep, huge numbers, invalid bytes, duplicated lines, links), in job folders beside intact jobs.

Every example is one ingest run: it must complete, balance per record kind, refuse only with known reasons (never
`parse_error`, which would mean a case no check foresaw), and leave the intact jobs exactly as a clean run does.
`make test` runs a few examples; `make fuzz` runs many (GTLAKE_FUZZ_EXAMPLES)."""
from __future__ import annotations

import json
import os
import shutil

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtlake.jobs.ingest import IngestConfig, run
from gtlake.records import REASONS
from gtlake.schemas import TABLES
from tests.conftest import GTJob, read_table

pytestmark = pytest.mark.spark

EXAMPLES = int(os.environ.get("GTLAKE_FUZZ_INGEST_EXAMPLES", "3"))
INTACT = ("intact-mot17", "intact-docs")
QUIET = {"log": lambda m: None}


def _fixture_job(root, name: str, fixtures_dir) -> None:
    """A job folder made of real files: the documentation's manifest and SeqLabel.json, and real worker responses."""
    docs = fixtures_dir / "aws-docs/sms-data-output/video-object-tracking"
    job = root / name
    (job / "manifests/output").mkdir(parents=True)
    text = (docs / "output.manifest").read_text().replace("labeling-job-name", name)
    (job / "manifests/output/output.manifest").write_text(text)
    (job / "annotations/consolidated-annotation/output/0").mkdir(parents=True)
    shutil.copy(docs / "SeqLabel.json", job / "annotations/consolidated-annotation/output/0/SeqLabel.json")
    ic = fixtures_dir / "amazon-sagemaker-examples/ground_truth_labeling_jobs/annotation_consolidation/ic_data"
    for src in sorted((ic / "worker-response" / "iteration-1").rglob("*.json"))[:3]:
        dst = job / "annotations/worker-response/iteration-1" / src.parent.name / "resp.json"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)


def _mot17_job(root, name: str, fixtures_dir) -> None:
    nb = fixtures_dir / "seed-notebook"
    GTJob(root, name)
    line = json.loads((nb / "derived-from-notebook/tracking_manifests/MOT17-13-SDP.manifest").read_text())
    ref = f"s3://bucket/{name}/annotations/consolidated-annotation/output/0/SeqLabel.json"
    line["Person"] = ref
    (root / name / "manifests/output/output.manifest").write_text(json.dumps(line) + "\n")
    dst = root / name / "annotations/consolidated-annotation/output/0/SeqLabel.json"
    dst.parent.mkdir(parents=True)
    shutil.copy(nb / "SeqLabel.json", dst)


# -- mutations of a JSON document --------------------------------------------------------------------------
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.just("x" * 70_000), st.just([]), st.just({}), st.just({"a": [1, {"b": None}]}),
    st.just(int("9" * 80)), st.just(json.loads("[" * 70 + "]" * 70)), st.just("\ud800"))


def _paths(doc, prefix=()):  # every (path, value) inside a JSON document
    yield prefix, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_json(draw, doc):
    """`doc` with a few of its values dropped, retyped or replaced."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p, _ in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(VALUES)
    return doc


def _dump(doc) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", errors="surrogatepass")


@st.composite
def mutated_bytes(draw, data: bytes):
    """Raw damage: a byte flipped to invalid UTF-8, the file cut, a BOM, a line duplicated."""
    kind = draw(st.sampled_from(["flip", "cut", "bom", "dup", "none"]))
    at = draw(st.integers(0, max(0, len(data) - 1)))
    if kind == "flip":
        return data[:at] + b"\xff" + data[at + 1:]
    if kind == "cut":
        return data[:at]
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    if kind == "dup":
        return data + b"\n" + data
    return data


@st.composite
def damaged_job(draw, fixtures_dir):
    """(what to write into a fresh job folder made of the fixture files): mutations of its three kinds of file."""
    docs = fixtures_dir / "aws-docs/sms-data-output/video-object-tracking"
    seqlabel = json.loads((docs / "SeqLabel.json").read_text())
    manifest = json.loads((docs / "output.manifest").read_text().replace("labeling-job-name", "JOBNAME"))
    ic = fixtures_dir / "amazon-sagemaker-examples/ground_truth_labeling_jobs/annotation_consolidation/ic_data"
    response = json.loads(sorted((ic / "worker-response" / "iteration-1").rglob("*.json"))[0].read_text())
    out = {}
    if draw(st.booleans()):
        out["labels"] = draw(mutated_bytes(_dump(draw(mutated_json(seqlabel)))))
    if draw(st.booleans()):
        out["manifest"] = draw(mutated_bytes(_dump(draw(mutated_json(manifest)))))
    if draw(st.booleans()):
        out["response"] = draw(mutated_bytes(_dump(draw(mutated_json(response)))))
    out["link"] = draw(st.sampled_from([None, "dangling", "loop"]))
    return out


def _write(root, name: str, fixtures_dir, damage: dict) -> None:
    _fixture_job(root, name, fixtures_dir)
    job = root / name
    labels = job / "annotations/consolidated-annotation/output/0/SeqLabel.json"
    if "labels" in damage:
        labels.write_bytes(damage["labels"])
    if "manifest" in damage:
        (job / "manifests/output/output.manifest").write_bytes(damage["manifest"].replace(b"JOBNAME", name.encode()))
    if "response" in damage:
        next((job / "annotations/worker-response").rglob("*.json")).write_bytes(damage["response"])
    if damage["link"]:
        labels.unlink()
        os.symlink(labels if damage["link"] == "loop" else labels.with_name("gone.json"), labels)


def _intact_rows(lake) -> dict[str, pd.DataFrame]:
    out = {}
    for table in TABLES:
        df = read_table(lake, table)
        if df is None or df.empty or "job_name" not in df.columns:
            continue
        df = df[df.job_name.isin(INTACT)].drop(columns=[c for c in ("run_id",) if c in df.columns])
        if len(df):
            out[table] = df.astype(str).sort_values(list(df.columns)).reset_index(drop=True)
    return out


@pytest.fixture(scope="module")
def baseline(spark, tmp_path_factory, fixtures_dir):
    root = tmp_path_factory.mktemp("fuzz") / "bucket"
    root.mkdir()
    _mot17_job(root, "intact-mot17", fixtures_dir)
    _fixture_job(root, "intact-docs", fixtures_dir)
    lake = root.parent / "clean"
    run(spark, IngestConfig(input=str(root), lake=str(lake)), **QUIET)
    return {"root": root, "rows": _intact_rows(lake), "n": [0]}


def test_fuzzed_job_folders_never_stop_a_run_nor_touch_intact_jobs(spark, baseline, fixtures_dir):
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(damaged_job(fixtures_dir), min_size=1, max_size=3))
    def one_run(damages):
        root = baseline["root"]
        baseline["n"][0] += 1
        names = [f"fuzz-{baseline['n'][0]}-{k}" for k in range(len(damages))]
        lake = root.parent / f"lake-{baseline['n'][0]}"
        try:
            for name, damage in zip(names, damages):
                _write(root, name, fixtures_dir, damage)
            result = run(spark, IngestConfig(input=str(root), lake=str(lake)), **QUIET)
            assert result.status == "succeeded" and not result.counts.unbalanced()
            rej = read_table(lake, "rejected")
            if rej is not None and not rej.empty:
                assert all(r in REASONS[k] for k, r in zip(rej.record_kind, rej.reason_code))
                assert "parse_error" not in set(rej.reason_code), rej[rej.reason_code == "parse_error"].detail.tolist()
                assert set(rej.job_name) <= set(names) | {"_input"}
            got = _intact_rows(lake)
            assert set(got) == set(baseline["rows"])
            for table, want in baseline["rows"].items():
                pd.testing.assert_frame_equal(got[table], want, obj=table)
        finally:
            for name in names:
                shutil.rmtree(root / name, ignore_errors=True)
            shutil.rmtree(lake, ignore_errors=True)

    one_run()
