"""The writer lock: exactly one holder, whoever races for it, and a holder that lost it never commits."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys

import pytest

from gtlake.lake import Lake, LakeBusy, Move

WORKERS = 8
TRIALS = 100


def _racer(roots: list[str], start, attempted, done, wins) -> None:  # start, attempted, done, wins: multiprocessing objects
    """One of the racing processes: per trial, try the lock at the same moment as the others, hold it (if won)
    until every racer has tried, then let go."""
    for k, root in enumerate(roots):
        start.wait()
        lake = Lake(root)
        held = lake.lock()
        try:
            held.__enter__()
            won = True
        except LakeBusy:
            won = False
        if won:
            with wins.get_lock():
                wins[k] += 1
        attempted.wait()
        if won:
            held.__exit__(None, None, None)
        done.wait()


def _race(tmp_path, prepare) -> list[int]:
    roots = []
    for k in range(TRIALS):
        root = tmp_path / f"lake{k}"
        root.mkdir()
        prepare(root)
        roots.append(str(root))
    ctx = mp.get_context("fork")
    start, attempted, done = (ctx.Barrier(WORKERS, timeout=60) for _ in range(3))
    wins = ctx.Array("i", TRIALS)
    procs = [ctx.Process(target=_racer, args=(roots, start, attempted, done, wins)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    return list(wins)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.parametrize("lock", ["none", "empty", "dead_pid", "live_pid", "dead_owner_record"])
def test_eight_processes_racing_for_a_fresh_or_stale_lock_get_exactly_one_holder(tmp_path, lock):
    """100 trials each: a lake with no lock, or one a dead or older gtlake left behind (an empty file, a pid of
    a dead process, the pid of a live process that does not hold it, a dead run's owner record)."""
    dead = _dead_pid()
    texts = {"none": None, "empty": "", "dead_pid": str(dead), "live_pid": str(os.getppid()),
             "dead_owner_record": json.dumps({"host": "h", "pid": dead, "token": "t", "taken_at": 0})}

    def prepare(root):
        if texts[lock] is not None:
            (root / "_gtlake").mkdir()
            (root / "_gtlake" / "lock").write_text(texts[lock])

    assert _race(tmp_path, prepare) == [1] * TRIALS


def test_a_live_holder_is_named_and_the_lake_is_free_once_it_dies(tmp_path):
    lake = Lake(str(tmp_path))
    code = ("import sys, time; from gtlake.lake import Lake\n"
            "with Lake(sys.argv[1]).lock():\n    print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LakeBusy, match=rf"locked by process {holder.pid} on "):
            with lake.lock():
                pass
    finally:
        holder.kill()  # killed: no release ran, the kernel let go of its lock
        holder.wait()
    with lake.lock():
        record = json.loads(open(lake.path("_gtlake", "lock")).read())
        assert record["pid"] == os.getpid() and len(record["token"]) == 32 and record["host"]


def test_a_holder_whose_lock_file_was_replaced_does_not_commit(tmp_path):
    lake = Lake(str(tmp_path))
    src = lake.staging("r1", "boxes", "job_name=a")
    os.makedirs(src)
    open(os.path.join(src, "part-0.parquet"), "w").write("a")
    with lake.lock():
        os.unlink(lake.path("_gtlake", "lock"))
        with Lake(str(tmp_path)).lock():  # a second writer can now lock the new file
            with pytest.raises(LakeBusy, match="lost its lock"):
                lake.commit("r1", [Move(src, lake.path("boxes", "job_name=a"))], {}, step="ingest")
    assert not os.path.exists(lake.path("boxes", "job_name=a"))


def test_s3_takeover_of_a_stale_lock_is_won_by_exactly_one_of_two_runs(s3_endpoint, monkeypatch):
    """Two runs read the same stale lock; the second to take it over (If-Match on the stale ETag) is refused."""
    import time

    import boto3

    from gtlake import locks

    from tests.conftest import FAKE_AWS

    monkeypatch.setenv("GTLAKE_LOCK_STALE_SECONDS", "5")
    for k, v in FAKE_AWS.items():  # (its own: it ran only after another test had left these set)
        monkeypatch.setenv(k, v)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="lock-race")
    client.put_object(Bucket="lock-race", Key="lake/_gtlake/lock",
                      Body=json.dumps({"host": "dead", "pid": 1, "renewed_at": time.time() - 60}).encode())
    first = locks.S3Lock(client, "lock-race", "lake/_gtlake/lock", "lake")
    second = locks.S3Lock(client, "lock-race", "lake/_gtlake/lock", "lake")
    real_get = client.get_object

    def get_then_lose_the_race(**kw):
        resp = real_get(**kw)
        monkeypatch.setattr(client, "get_object", real_get)
        second.acquire()  # the other run takes the stale lock over between our read and our PUT
        return resp

    monkeypatch.setattr(client, "get_object", get_then_lose_the_race)
    with pytest.raises(LakeBusy, match="took over its stale lock first"):
        first.acquire()
    second.check()
    held = json.loads(real_get(Bucket="lock-race", Key="lake/_gtlake/lock")["Body"].read())
    assert held["token"] == second.record["token"]
    second.release()
    assert client.list_objects_v2(Bucket="lock-race", Prefix="lake/_gtlake/lock").get("KeyCount") == 0
