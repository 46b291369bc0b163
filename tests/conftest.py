"""Shared test fixtures: one local SparkSession, a Ground Truth tree builder, a lake reader."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = (REPO.parent / "shared" / "fixtures").resolve()


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole run (2 cores here)."""
    from gtlake.spark import get_spark

    session = get_spark("gtlake-tests", shuffle_partitions=2)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """../shared/fixtures: real Ground Truth files (see its NOTICE.md)."""
    if not FIXTURES.is_dir():
        pytest.fail(f"shared fixtures not found at {FIXTURES}; the repository expects ../shared beside it")
    return FIXTURES


class GTJob:
    """Writes one labeling job folder the way Ground Truth lays it out."""

    def __init__(self, root: Path, name: str):
        self.name = name
        self.root = root / name
        (self.root / "manifests" / "output").mkdir(parents=True, exist_ok=True)

    def manifest(self, lines: list) -> "GTJob":
        """Write output.manifest; dict lines are dumped as JSON, str lines written as they are."""
        text = "".join((json.dumps(l, ensure_ascii=False) if isinstance(l, dict) else l) + "\n" for l in lines)
        (self.root / "manifests" / "output" / "output.manifest").write_text(text, encoding="utf-8")
        return self

    def labels(self, index: int, content) -> "GTJob":
        """Write annotations/consolidated-annotation/output/<index>/SeqLabel.json (dict or raw str)."""
        path = self.root / "annotations" / "consolidated-annotation" / "output" / str(index) / "SeqLabel.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False),
                        encoding="utf-8")
        return self

    def response(self, index: int, content, name: str = "2021-03-08_23:06:49.json", iteration: int = 1) -> "GTJob":
        """Write a worker-response file (dict or raw str)."""
        path = self.root / "annotations" / "worker-response" / f"iteration-{iteration}" / str(index) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
        return self

    def ref(self, index: int) -> str:
        """The S3 URI Ground Truth would write for the labels of data object `index`."""
        return f"s3://bucket/out/{self.name}/annotations/consolidated-annotation/output/{index}/SeqLabel.json"

    def line(self, index: int, attr: str = "vehicles-ref", task: str = "groundtruth/video-object-tracking",
             class_map: dict | None = None, **meta) -> dict:
        """A manifest line for data object `index` whose labels are at ref(index)."""
        m = {"class-map": class_map or {"0": "car", "1": "bus"}, "job-name": f"labeling-job/{self.name}",
             "human-annotated": "yes", "creation-date": "2021-09-29T05:50:35.566000", "type": task, **meta}
        return {"source-ref": f"s3://bucket/in/video{index}_seq.json", attr: self.ref(index), f"{attr}-metadata": m}


def box(left=10, top=20, width=30, height=40, cls="0", oid="a", name="car:1", **attrs) -> dict:
    """A SeqLabel box."""
    return {"height": height, "width": width, "top": top, "left": left, "class-id": cls,
            "label-category-attributes": attrs, "object-id": oid, "object-name": name}


def frame(no, boxes, file=None, **attrs) -> dict:
    """A SeqLabel frame."""
    f = {"frame-no": no, "frame": file or f"{int(no) + 1:06d}.jpg", "annotations": boxes}
    if attrs:
        f["frame-attributes"] = attrs
    return f


@pytest.fixture
def gt_tree(tmp_path):
    """A factory of job folders under tmp_path/output."""
    root = tmp_path / "output"
    root.mkdir()

    def make(name: str) -> GTJob:
        return GTJob(root, name)

    make.root = root
    return make


def read_table(lake: str | Path, table: str):
    """A lake table as a pandas DataFrame (Hive partitions as columns), or an empty one."""
    path = Path(lake) / table
    if not path.exists() or not any(path.iterdir()):
        return None
    fmt = ds.dataset(str(path), format="parquet", partitioning="hive")
    return fmt.to_table().to_pandas()


def lake_snapshot(lake: str | Path) -> dict[str, tuple[int, int]]:
    """Every data file of the lake (outside _gtlake and the run logs `runs` and `validations`, which every run
    adds a file to) with its size and mtime."""
    out = {}
    for dirpath, _, files in os.walk(lake):
        rel = os.path.relpath(dirpath, lake)
        if rel.startswith(("_gtlake", "runs", "validations")):
            continue
        for f in files:
            st = os.stat(os.path.join(dirpath, f))
            out[os.path.join(rel, f)] = (st.st_size, st.st_mtime_ns)
    return out


# moto accepts any key pair; these name no real account.
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "gtlake-test-fake", "AWS_SECRET_ACCESS_KEY": "gtlake-test-fake",
            "AWS_DEFAULT_REGION": "us-east-1"}


CHROMIUM = "/usr/bin/chromium"  # Debian's (`make browser`); Playwright never downloads one


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright, one per test module (one sync_playwright per thread at a time)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium not found: `make test` installs Debian's chromium (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    """A moto S3 server on 127.0.0.1 for the test session; stopped afterwards."""
    port = _free_port()
    server = os.path.join(os.path.dirname(sys.executable), "moto_server")
    proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("moto_server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def pipeline_lake(spark, tmp_path_factory):
    """A sample (every tracking job audited) ingested, embedded, scored, with its activity export read, audits
    compared, a simulated model's predictions for the audited jobs read (and the queue re-ranked with its
    findings), and a simulated reviewer's verdicts on every queue entry imported. The sample has no frame images
    (rendering them is test_embed's job), so every embedding_metrics row here says image_missing: the tables, gates
    and views still see the table.

    Shared by the worker/audit, validation, dashboard and SQL tests, which only read it (a test that writes works
    on a copy): they pass in any order.
    """
    import shutil

    from gtlake.jobs.audit import AuditJobConfig
    from gtlake.jobs.audit import run as audit_run
    from gtlake.jobs.ingest import IngestConfig
    from gtlake.jobs.ingest import run as ingest_run
    from gtlake.jobs.quality import QualityJobConfig
    from gtlake.jobs.quality import run as quality_run
    from gtlake.jobs.workers import WorkersConfig
    from gtlake.jobs.workers import run as workers_run
    from gtlake.sample.generate import SampleParams, generate

    import torch

    from gtlake.jobs.embed import EmbedJobConfig
    from gtlake.jobs.embed import run as embed_run
    from gtlake.udfs.embeddings import seeded_state_dict

    quiet = {"log": lambda m: None}
    tmp = tmp_path_factory.mktemp("pipeline")
    # Street footage throughout: the workers' ranking below compares labelers on footage of one kind (a mixed
    # sample's regimes would weigh in too); the quality tests score the mixed regimes.
    summary = generate(str(tmp / "sample"), SampleParams(sequences=12, frames=80, objects=8, workers=6, seed=2,
                                                         regime="street"))
    lake = tmp / "lake"
    ingest_run(spark, IngestConfig(input=str(tmp / "sample" / "output"), lake=str(lake)), **quiet)
    torch.save(seeded_state_dict(0), tmp / "resnet18-seeded.pth")
    embed_run(spark, EmbedJobConfig(lake=str(lake), weights=str(tmp / "resnet18-seeded.pth"),
                                    frames_root=str(tmp / "sample" / "input")), **quiet)
    quality_run(spark, QualityJobConfig(lake=str(lake)), **quiet)
    activity = tmp / "activity"
    shutil.copytree(tmp / "sample" / "worker-activity", activity)
    workers = workers_run(spark, WorkersConfig(lake=str(lake), activity=str(activity)), **quiet)
    audit = audit_run(spark, AuditJobConfig(lake=str(lake)), **quiet)
    # A (simulated) model's predictions for every audited tracking job, and what they say of its labels, which
    # re-rank the review queue (as `gtlake predictions` does).
    from gtlake.jobs.predictions import PredictionsConfig
    from gtlake.jobs.predictions import run as predictions_run
    from gtlake.lakesql import connect
    from gtlake.sample.predictions import main as simulate_predictions

    audited = [j for (j,) in connect(str(lake)).execute(
        "SELECT DISTINCT audited_job FROM jobs WHERE role = 'audit' ORDER BY 1").fetchall()]
    predicted = audited[0]
    for job in reversed(audited):  # the first last: its result is the one the tests read
        simulate_predictions(["--lake", str(lake), "--job", job, "--sample", str(tmp / "sample"),
                              "--out", str(tmp / "predictions.jsonl")])
        predictions = predictions_run(spark, PredictionsConfig(lake=str(lake), job=job,
                                                               input=str(tmp / "predictions.jsonl"), model="sim"),
                                      **quiet)
    quality_run(spark, QualityJobConfig(lake=str(lake)), **quiet)
    audit = audit_run(spark, AuditJobConfig(lake=str(lake)), **quiet)  # its worker_quality reads the new queue
    # A (simulated) reviewer judged every queue entry on review pages and their verdicts were imported.
    import json
    from datetime import datetime, timezone

    from gtlake.jobs.verdicts import VerdictsConfig
    from gtlake.jobs.verdicts import run as verdicts_run
    from gtlake.sample.reviewer import for_lake

    files = []
    for (job,) in connect(str(lake)).execute("SELECT DISTINCT job_name FROM review_queue ORDER BY 1").fetchall():
        files.append(tmp / f"verdicts-{job}.json")
        files[-1].write_text(json.dumps(for_lake(str(lake), str(tmp / "sample"), job,
                                                 at=datetime(2026, 11, 20, 9, tzinfo=timezone.utc))))
    verdicts = verdicts_run(spark, VerdictsConfig(lake=str(lake), files=[str(f) for f in files]), **quiet)
    return {"tmp": tmp, "lake": lake, "sample": tmp / "sample", "activity": activity, "summary": summary,
            "workers": workers, "audit": audit, "verdicts": verdicts, "predictions": predictions,
            "predicted_job": predicted}


RUBRIC_PENALTY = {"omissions": 1.0, "inaccurate": 1.0, "wrong_labels": 0.2, "tracking_errors": 0.2,
                  "attribute_errors": 0.05}


def rubric_reference(tables: dict):
    """The rubric_scores view's sequence rows computed with pandas from the lake's tables (for the SQL tests)."""
    import pandas as pd

    rows = []
    changes = tables.get("audit_changes")
    audited = set()
    if changes is not None and len(changes):
        for (job, seq), g in changes.groupby(["source_job", "sequence_id"]):
            audited.add((job, seq))
            rows.append({"job_name": job, "sequence_id": seq, "source": "audit", "boxes": int((g.change != "added").sum()),
                         "omissions": int((g.change == "added").sum()),
                         "inaccurate": int(g.change.isin(["moved", "resized", "deleted"]).sum()),
                         "wrong_labels": int((g.change == "relabeled").sum()),
                         "tracking_errors": int((g.change == "reidentified").sum()),
                         "attribute_errors": int((g.attributes_changed & (g.change == "unchanged")).sum())})
    order = [("omissions", {"missing_box", "overlooked"}),
             ("inaccurate", {"off_path", "low_iou", "size_jump", "duplicate_box", "appearance_change", "badly_located"}),
             ("wrong_labels", {"class_flip", "class_disagrees"}), ("tracking_errors", {"id_swap", "broken_track"}),
             ("attribute_errors", {"attribute_flip"})]
    queue, metrics, jobs = tables["review_queue"], tables["box_metrics"], tables["jobs"]
    labeling = set(jobs[jobs.role != "audit"].job_name)
    for (job, seq), g in metrics.groupby(["job_name", "sequence_id"]):
        if job not in labeling or (job, seq) in audited:
            continue
        row = {"job_name": job, "sequence_id": seq, "source": "flags", "boxes": len(g), **{c: 0 for c, _ in order}}
        q = queue[(queue.job_name == job) & (queue.sequence_id == seq)] if queue is not None else []
        for reasons in (q.reasons if len(q) else []):
            for column, names in order:
                if set(reasons) & names:
                    row[column] += 1
                    break
        rows.append(row)
    out = pd.DataFrame(rows)
    out["penalty"] = sum(out[c] * p for c, p in RUBRIC_PENALTY.items())
    out["rubric_score"] = (1 - out["penalty"] / out["boxes"].where(out["boxes"] > 0)).clip(lower=0)
    return out
