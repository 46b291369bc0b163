"""The lake's commit protocol: staged partitions swap in atomically, interrupted commits roll forward."""
from __future__ import annotations

import json
import os

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
        lake.commit("r1", _stage_run(lake, "r1", "a", "a1") + _stage_run(lake, "r1", "b", "b1"), {"a": {"fingerprint": "x"}}, step="ingest")
    with lake.lock():
        moves = _stage_run(lake, "r2", "a", "a2") + [Move(None, lake.path("boxes", "job_name=b"))]
        lake.commit("r2", moves, {"a": {"fingerprint": "y"}}, step="ingest")
    assert _read_tree(tmp_path) == {"boxes/job_name=a/part-0.parquet": "a2"}
    assert lake.ledger("ingest") == {"a": {"fingerprint": "y"}}
    assert not os.path.exists(lake.path("_gtlake", "journal.json"))


def test_run_killed_before_its_journal_leaves_the_lake_as_it_was(tmp_path):
    lake = Lake(str(tmp_path))
    with lake.lock():
        lake.commit("r1", _stage_run(lake, "r1", "a", "a1"), {}, step="ingest")
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
        lake.commit("r1", _stage_run(lake, "r1", "a", "a1") + _stage_run(lake, "r1", "b", "b1"), {}, step="ingest")
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
    assert lake.ledger("ingest") == {"a": {"fingerprint": "z"}}
    assert not os.path.exists(lake.path("_gtlake", "trash"))


# -- the same contract on S3 (moto server on loopback) ---------------------------------------------------


@pytest.fixture()
def s3_lake(s3_endpoint, monkeypatch):
    """An empty lake under s3://<fresh bucket>/lake on the local S3 endpoint, and a boto3 client."""
    import uuid

    import boto3

    from gtlake import storage
    from tests.conftest import FAKE_AWS

    for k, v in {**FAKE_AWS, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(k, v)
    storage.s3_client.cache_clear()
    storage.s3_filesystem.cache_clear()
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    yield Lake(f"s3://{bucket}/lake"), client, bucket
    storage.s3_client.cache_clear()
    storage.s3_filesystem.cache_clear()


def _s3_tree(client, bucket, prefix="lake/"):
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"][len(prefix):]
            if not key.startswith("_gtlake/"):
                out[key] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
    return out


def _s3_stage(lake, run_id, job, files):
    src = lake.staging(run_id, "boxes", f"job_name={job}")
    for name, text in files.items():
        lake.write_bytes(f"{src}/{name}", text.encode())
    return [Move(src, lake.path("boxes", f"job_name={job}"))]


def _crash_after(lake, n):
    """Make the lake's n-th object copy or delete request raise, as a killed process would stop there."""
    left = [n]

    def counted(real, one_call):
        def op(arg, *rest):
            for item in ([arg] if one_call else [[p] for p in arg] or [[]]):
                if left[0] == 0:
                    raise KeyboardInterrupt("killed")
                left[0] -= 1
                real(item, *rest) if one_call else real(item)
        return op
    lake.store.copy = counted(lake.store.copy, True)
    lake.store.delete = counted(lake.store.delete, False)


def test_s3_commit_replaces_partitions_and_keeps_others(s3_lake):
    lake, client, bucket = s3_lake
    assert lake.display() == f"s3://{bucket}/lake" and lake.uri(lake.path("boxes")).endswith(f"://{bucket}/lake/boxes")
    with lake.lock():
        lake.commit("r1", _s3_stage(lake, "r1", "a", {"part-1": "a1", "part-2": "a1b"}) +
                    _s3_stage(lake, "r1", "b", {"part-1": "b1"}), {"a": {"fingerprint": "x"}}, step="ingest")
    assert _s3_tree(client, bucket) == {"boxes/job_name=a/part-1": "a1", "boxes/job_name=a/part-2": "a1b",
                                        "boxes/job_name=b/part-1": "b1"}
    with lake.lock():
        moves = _s3_stage(lake, "r2", "a", {"part-3": "a2"}) + [Move(None, lake.path("boxes", "job_name=b"))]
        lake.commit("r2", moves, {"a": {"fingerprint": "y"}}, step="ingest")
    assert _s3_tree(client, bucket) == {"boxes/job_name=a/part-3": "a2"}
    assert lake.ledger("ingest") == {"a": {"fingerprint": "y"}}
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="lake/_gtlake/").get("Contents", [])]
    # no journal, staging or lock left; the records of what is in place
    assert keys == ["lake/_gtlake/files/_adopted.json", "lake/_gtlake/files/boxes/job_name=a.json",
                    "lake/_gtlake/ledger/ingest/a.json"]


def test_s3_run_killed_before_its_journal_leaves_the_lake_as_it_was(s3_lake):
    lake, client, bucket = s3_lake
    with lake.lock():
        lake.commit("r1", _s3_stage(lake, "r1", "a", {"part-1": "a1"}), {}, step="ingest")
    _s3_stage(lake, "r2", "a", {"part-9": "half-written"})
    assert _s3_tree(client, bucket) == {"boxes/job_name=a/part-1": "a1"}
    with lake.lock():
        pass
    assert not lake.exists(lake.staging("r2"))
    assert _s3_tree(client, bucket) == {"boxes/job_name=a/part-1": "a1"}


@pytest.mark.parametrize("ops", range(10))
def test_s3_commit_killed_after_its_journal_rolls_forward(s3_lake, ops):
    """Kill the commit after `ops` object copies/deletes (every point of a 2-partition commit); the next
    writer finishes it, whatever was half-done, and nothing is duplicated or lost."""
    lake, client, bucket = s3_lake
    with lake.lock():
        lake.commit("r1", _s3_stage(lake, "r1", "a", {"part-1": "a1", "part-2": "a1b"}) +
                    _s3_stage(lake, "r1", "b", {"part-1": "b1"}), {}, step="ingest")
    moves = _s3_stage(lake, "r2", "a", {"part-3": "a2"}) + _s3_stage(lake, "r2", "b", {"part-1": "b2", "part-4": "b2b"})
    _crash_after(lake, ops)
    try:
        lake.commit("r2", moves, {"a": {"fingerprint": "z"}}, step="ingest")
        crashed = False
    except KeyboardInterrupt:
        crashed = True
    decided_not_done = lake.exists(lake.path("_gtlake", "journal.json"))
    assert crashed or not decided_not_done
    after = Lake(lake.display())
    assert after.recover() == ("r2" if decided_not_done else None)
    assert _s3_tree(client, bucket) == {"boxes/job_name=a/part-3": "a2", "boxes/job_name=b/part-1": "b2",
                                        "boxes/job_name=b/part-4": "b2b"}
    assert after.ledger("ingest") == {"a": {"fingerprint": "z"}}
    assert not after.exists(after.path("_gtlake", "journal.json"))
    assert not after.exists(after.path("_gtlake", "staging"))


def test_s3_lock_is_exclusive_renewed_while_held_and_taken_over_when_stale(s3_lake, monkeypatch):
    import json as _json
    import time as _time

    lake, client, bucket = s3_lake
    monkeypatch.setenv("GTLAKE_LOCK_STALE_SECONDS", "2")
    with lake.lock():
        first = _json.loads(lake.read_bytes(lake.path("_gtlake", "lock")))
        _time.sleep(2.5)  # longer than the stale time: only the renewals keep it held
        with pytest.raises(LakeBusy, match="locked by"):
            with Lake(lake.display()).lock():
                pass
        assert _json.loads(lake.read_bytes(lake.path("_gtlake", "lock")))["renewed_at"] > first["renewed_at"]
    assert not lake.exists(lake.path("_gtlake", "lock"))
    # a lock left by a run that died (no renewal for longer than the stale time) is taken over
    dead = {"holder": "glue-worker:1", "renewed_at": _time.time() - 3}
    client.put_object(Bucket=bucket, Key="lake/_gtlake/lock", Body=_json.dumps(dead).encode())
    with lake.lock():
        assert "glue-worker" not in lake.read_bytes(lake.path("_gtlake", "lock")).decode()
