"""Every subcommand given bad values: one line (and the usage for an argument), never a traceback, nothing left
behind; the SQL sandbox; readers and a commit in progress."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gtlake.cli import build_parser
from tests.conftest import REPO

ENV = dict(os.environ, PYTHONPATH=str(REPO), PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)


def gtlake(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gtlake.cli", *args], capture_output=True, text=True, env=ENV,
                          timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """A small ingested lake, plus a file, a folder and config files to give as bad values."""
    from gtlake.jobs.ingest import IngestConfig
    from gtlake.jobs.ingest import run as ingest_run
    from gtlake.sample.generate import SampleParams, generate

    tmp = tmp_path_factory.mktemp("cli-errors")
    generate(str(tmp / "sample"), SampleParams(sequences=2, frames=12, objects=2, workers=2, seed=1, regime="street"))
    ingest_run(spark, IngestConfig(input=str(tmp / "sample" / "output"), lake=str(tmp / "lake")), log=lambda m: None)
    (tmp / "a-file").write_text("x")
    (tmp / "a-folder").mkdir()
    for name, text in {"fps0": '{"fps": 0}', "nan": '{"iou_min": NaN}', "negfps": '{"fps": -25}',
                       "notjson": "{fps:", "batch0": '{"batch_size": 0}'}.items():
        (tmp / f"{name}.json").write_text(text)
    (tmp / "weights.pth").write_bytes(b"not a state dict")
    return tmp


def _cases(t):  # t: the fixture's folder
    L, F, D = str(t / "lake"), str(t / "a-file"), str(t / "a-folder")
    inp = str(t / "sample" / "output")
    return {
        "sample": [(["sample", "--out", D, "--regime", "moon"], 2, "invalid choice: 'moon'"),
                   (["sample", "--out", D, "--omissions", "nan"], 2, "expected a number from 0 to 10, got nan")],
        "ingest": [(["ingest", "--input", inp, "--lake", F], 2, f"--lake {F}: not a folder"),
                   (["ingest", "--input", F, "--lake", L], 2, "no such folder")],
        "run": [(["run", "--input", inp, "--lake", L, "--config", str(t / "fps0.json")], 2,
                 "fps must be in (0, 1000], got 0.0")],
        "quality": [(["quality", "--lake", L, "--config", str(t / "fps0.json")], 2, "fps must be in (0, 1000]"),
                    (["quality", "--lake", L, "--config", str(t / "nan.json")], 2, "iou_min must be a number (finite), got nan"),
                    (["quality", "--lake", L, "--config", str(t / "negfps.json")], 2, "got -25.0"),
                    (["quality", "--lake", L, "--config", str(t / "notjson.json")], 2, "--config"),
                    (["quality", "--lake", L, "--config", str(t / "missing.json")], 2, "No such file"),
                    (["quality", "--lake", F], 2, "not a folder")],
        "embed": [(["embed", "--lake", L, "--weights", str(t / "weights.pth"), "--config", str(t / "batch0.json")], 2,
                   "batch_size must be in [1, 65536]"),
                  (["embed", "--lake", L, "--weights", str(t / "no.pth")], 2, "no such file")],
        "workers": [(["workers", "--lake", L, "--activity", str(t / "nothing")], 2, "no such folder")],
        "audit": [(["audit", "--lake", F], 2, "not a folder")],
        "validate": [(["validate", "--lake", F], 2, "not a folder")],
        "audit-request": [(["audit-request", "--lake", L, "--job", "x/../../../../tmp", "--out", D], 2,
                           "no such job in the lake"),
                          (["audit-request", "--lake", L, "--job", "no-such-job", "--out", D], 2, "no such job"),
                          (["audit-request", "--lake", L, "--job", _job(t), "--out", F], 2, "is a file")],
        "sql": [(["sql", "--lake", L, "--query", "SELECT cast('x' AS INTEGER)"], 1, "Conversion Error"),
                (["sql", "--lake", L, "--query", "SELEC 1"], 1, "Parser Error"),
                (["sql", "--lake", L, "--query", "SELECT * FROM no_such_table"], 1, "no_such_table"),
                (["sql", "--lake", L, "--query", "COPY (SELECT 1) TO 'out.csv'"], 1, "only SELECT statements"),
                (["sql", "--lake", L, "--query", f"COPY boxes TO '{L}/boxes/evil.parquet'"], 1, "only SELECT"),
                (["sql", "--lake", L, "--query", "SELECT * FROM read_csv('/etc/passwd')"], 1, "Permission Error"),
                (["sql", "--lake", L, "--query", "SELECT * FROM read_text('/etc/hostname')"], 1, "Permission Error"),
                (["sql", "--lake", L, "--query", f"ATTACH '{t}/x.db' AS x"], 1, "only SELECT"),
                (["sql", "--lake", L, "--query", "SET enable_external_access = true"], 1, "only SELECT"),
                (["sql", "--lake", L, "--query", "INSTALL httpfs"], 1, "only SELECT"),
                (["sql", "--lake", L, "--query", f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{L}/boxes/evil.csv'"], 1,
                 "only SELECT"),
                (["sql", "--lake", L, "--query", "SELECT 1; COPY (SELECT 1) TO 'x.csv'"], 1, "only SELECT"),
                (["sql", "--lake", F, "--query", "SELECT 1"], 2, "not a folder"),
                (["sql", "--lake", L, "--file", str(t / "no.sql")], 2, "--file"),
                (["sql", "--lake", L, "--view", "no_such_view"], 2, "no such view"),
                (["sql", "--lake", L, "--query", "SELECT left, top FROM boxes"], 1, 'quote them, "left", "top"')],
        "dashboard": [(["dashboard", "--lake", L, "--out", D], 2, "is a folder"),
                      (["dashboard", "--lake", L, "--out", str(t / "no" / "x.html")], 2, "does not exist"),
                      (["dashboard", "--lake", F, "--out", str(t / "d.html")], 2, "not a folder")],
        "review": [(["review", "--lake", L, "--job", "no-such-job", "--out", str(t / "r.html")], 2, "no review queue"),
                   (["review", "--lake", L, "--job", _job(t), "--out", D], 2, "is a folder"),
                   (["review", "--lake", L, "--job", _job(t), "--out", str(t / "r.html"), "--top", "0"], 2, "--top"),
                   (["review", "--lake", L, "--job", _job(t), "--out", str(t / "r.html"), "--frames-root",
                     str(t / "nothing")], 2, "no such folder")],
        "verdicts": [(["verdicts", "--lake", L, str(t / "none.json")], 2, "none.json: no such file"),
                     (["verdicts", "--lake", F, str(t / "a-file")], 2, "not a folder")],
        "athena": [(["athena", "deploy", "--database", "Bad-Name", "--workgroup", "w", "--lake", "s3://b/l",
                     "--dry-run"], 2, "must be lower-case"),
                   (["athena", "deploy", "--database", "gtlake", "--workgroup", "work group", "--lake", "s3://my-bucket/l",
                     "--dry-run"], 2, "must be 1-128 letters")],
        "predictions": [(["predictions", "--lake", L, "--job", "no-such-job", "--input", F], 2, "no such job in the lake"),
                        (["predictions", "--lake", L, "--job", _job(t), "--input", str(t / "nothing.jsonl")], 2,
                         "no such file or folder"),
                        (["predictions", "--lake", L, "--job", _job(t), "--input", F, "--config", str(t / "fps0.json")],
                         2, "unknown predictions settings: fps"),
                        (["predictions", "--lake", L, "--job", _job(t), "--input", F, "--format", "yolo"], 2,
                         "invalid choice: 'yolo'")],
        "export": [(["export", "--lake", L, "--job", "no-such-job", "--format", "mot", "--out", str(t / "x")], 2,
                    "no job no-such-job in the lake"),
                   (["export", "--lake", L, "--job", _job(t), "--format", "mot", "--out", F], 2,
                    "is not an empty folder"),
                   (["export", "--lake", F, "--job", _job(t), "--format", "coco", "--out", str(t / "x")], 2,
                    "not a folder")],
        "quicksight": [(["quicksight", "deploy", "--account-id", "12", "--region", "eu-west-1", "--dry-run"], 2,
                        "12 digits")],
        "deploy": [(["deploy", "--stack", "s", "--region", "eu-west-1", "--gt-output", "s3://gt-out/labels", "--lake", "s3://my-lake/lake",
                     "--kms-key-arn", "*", "--dry-run"], 2, "--kms-key-arn '*'")],
    }


def _job(t) -> str:
    return sorted(n[len("job_name="):] for n in os.listdir(t / "lake" / "sequences"))[0]


def test_each_bad_value_gets_one_line_and_no_traceback(lake):
    cases = _cases(lake)
    assert set(cases) == set(build_parser().commands)  # every subcommand walked
    before = sorted(os.listdir(lake))
    failures = []
    for command, items in cases.items():
        for args, code, message in items:
            r = gtlake(*args, cwd=str(lake / "a-folder"))
            last = (r.stderr.strip().splitlines() or [""])[-1]
            if r.returncode != code or "Traceback" in r.stderr or message not in last:
                failures.append((args, r.returncode, r.stderr[-600:]))
            elif code == 2 and "usage: gtlake" not in r.stderr:
                failures.append((args, "no usage", r.stderr[-300:]))
    assert failures == []
    assert sorted(os.listdir(lake)) == before  # nothing written beside: no dashboard .tmp, no out.csv, no x.db
    assert os.listdir(lake / "a-folder") == []
    assert not (lake / "lake" / "boxes" / "evil.parquet").exists() and not (lake / "lake" / "boxes" / "evil.csv").exists()


def test_a_reader_rolls_a_killed_commit_forward_or_says_the_lake_is_mid_commit(lake, tmp_path):
    import shutil

    copy = tmp_path / "lake"
    shutil.copytree(lake / "lake", copy)
    journal = {"run_id": "r-killed", "moves": [], "ledger": {}, "step": "ingest", "records": {}}
    (copy / "_gtlake" / "journal.json").write_text(json.dumps(journal))
    code = ("import sys, time; from gtlake.lake import Lake\n"
            "from gtlake import locks\n"
            "held = locks.LocalLock(sys.argv[1] + '/_gtlake/lock', 'lake'); held.acquire()\n"
            "print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(copy)], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = gtlake("sql", "--lake", str(copy), "--query", "SELECT count(*) AS n FROM boxes")
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert "is mid-commit (run r-killed" in r.stderr and "try again shortly" in r.stderr
    finally:
        holder.kill()
        holder.wait()
    r = gtlake("sql", "--lake", str(copy), "--query", "SELECT count(*) AS n FROM boxes")
    assert r.returncode == 0, r.stderr
    assert not (copy / "_gtlake" / "journal.json").exists()  # rolled forward by the reader
