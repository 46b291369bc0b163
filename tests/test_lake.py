"""The lake's commit protocol: staged partitions swap in atomically, interrupted commits roll forward."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gtlake.lake import Lake, LakeBusy, Move


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _read_tree(root):
    out = {}
    for d, _, files in os.walk(root):
        if "_gtlake" in os.path.relpath(d, root).split(os.sep):
            continue
        for f in files:
            out[os.path.relpath(os.path.join(d, f), root)] = open(os.path.join(d, f)).read()
    return out


def _stage_run(lake, run_id, job, text):
    src = lake.staging(run_id, "boxes", f"job_name={job}")
    _write(os.path.join(src, "part-0.parquet"), text)
    return [Move(src, lake.path("boxes", f"job_name={job}"))]


def test_commit_replaces_partitions_and_keeps_others(tmp_path):
    lake = Lake(str(tmp_path))
    with lake.lock():
        lake.commit("r1", _stage_run(lake, "r1", "a", "a1") + _stage_run(lake, "r1", "b", "b1"), {"a": {"fingerprint": "x"}})
    with lake.lock():
        moves = _stage_run(lake, "r2", "a", "a2") + [Move(None, lake.path("boxes", "job_name=b"))]
        lake.commit("r2", moves, {"a": {"fingerprint": "y"}})
    assert _read_tree(tmp_path) == {"boxes/job_name=a/part-0.parquet": "a2"}
    assert lake.ledger() == {"a": {"fingerprint": "y"}}
    assert not os.path.exists(lake.path("_gtlake", "journal.json"))


def test_run_killed_before_its_journal_leaves_the_lake_as_it_was(tmp_path):
    lake = Lake(str(tmp_path))
    with lake.lock():
        lake.commit("r1", _stage_run(lake, "r1", "a", "a1"), {})
    _stage_run(lake, "r2", "a", "half-written")  # a run that died while staging
    assert _read_tree(tmp_path) == {"boxes/job_name=a/part-0.parquet": "a1"}
    with lake.lock():  # the next writer cleans up
        pass
    assert not os.path.exists(lake.staging("r2"))
    assert _read_tree(tmp_path) == {"boxes/job_name=a/part-0.parquet": "a1"}


@pytest.mark.parametrize("applied", [0, 1, 2, 3])
def test_commit_interrupted_after_its_journal_rolls_forward(tmp_path, applied):
    """Simulate a crash after `applied` of the commit's steps; recovery must finish the commit."""
    lake = Lake(str(tmp_path))
    with lake.lock():
        lake.commit("r1", _stage_run(lake, "r1", "a", "a1") + _stage_run(lake, "r1", "b", "b1"), {})
    moves = _stage_run(lake, "r2", "a", "a2") + _stage_run(lake, "r2", "b", "b2")
    journal = {"run_id": "r2", "moves": [[m.src, m.dst] for m in moves], "ledger": {"a": {"fingerprint": "z"}}}
    _write(lake.path("_gtlake", "journal.json"), json.dumps(journal))
    steps = [(moves[0].dst, lake.path("_gtlake", "trash", "r2", "boxes", "job_name=a")), (moves[0].src, moves[0].dst),
             (moves[1].dst, lake.path("_gtlake", "trash", "r2", "boxes", "job_name=b"))]
    for src, dst in steps[:applied]:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.replace(src, dst)
    assert lake.recover() == "r2"
    assert _read_tree(tmp_path) == {"boxes/job_name=a/part-0.parquet": "a2", "boxes/job_name=b/part-0.parquet": "b2"}
    assert lake.ledger() == {"a": {"fingerprint": "z"}}
    assert not os.path.exists(lake.path("_gtlake", "trash"))


def test_lock_refuses_a_second_live_writer_and_takes_over_a_dead_ones(tmp_path):
    lake = Lake(str(tmp_path))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _write(lake.path("_gtlake", "lock"), str(other.pid))
        with pytest.raises(LakeBusy, match=str(other.pid)):
            with lake.lock():
                pass
    finally:
        other.kill()
        other.wait()
    with lake.lock():  # the holder is dead now
        assert open(lake.path("_gtlake", "lock")).read() == str(os.getpid())
    assert not os.path.exists(lake.path("_gtlake", "lock"))


def test_s3_lake_is_refused_clearly():
    with pytest.raises(ValueError, match="not supported yet"):
        Lake("s3://bucket/lake")
