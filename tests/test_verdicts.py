"""`gtlake verdicts`: the parser of a verdicts file (untrusted: each refusal by hand, anything at all as a property),
then the job on a copy of the pipeline lake: stored, merged (a reviewer's later verdict replaces theirs, another
reviewer's stands beside it), imported once, refusals balanced, a damaged lake noticed, and the check_precision
view computed by hand."""
from __future__ import annotations

import json
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtlake.cli import main
from gtlake.integrity import LakeDamaged
from gtlake.jobs.verdicts import FORMAT, VerdictsConfig, parse_file, run
from gtlake.lakesql import connect
from gtlake.records import REASONS

JOBS = {"job-a": {"job-a:0", "job-a:1"}}
GOOD = {"sequence_id": "job-a:0", "frame_no": 3, "object_id": "o1", "reasons": ["off_path"], "score": 2.5,
        "rank": 1, "verdict": "mistake", "decided_at": "2026-12-01T10:00:00.000Z"}


def doc(*verdicts, **over) -> bytes:
    d = {"format": FORMAT, "job_name": "job-a", "queue_run_id": "20261201T000000Z-abcdef", "reviewer": "Dana",
         "saved_at": "2026-12-01T11:00:00Z", "verdicts": list(verdicts), **over}
    return json.dumps(d).encode()


def test_a_good_file_gives_its_rows():
    got = parse_file(doc(GOOD, {**GOOD, "frame_no": 4, "verdict": "fine", "reasons": [], "score": None}), "f.json",
                     JOBS)
    assert got.job == "job-a" and got.listed == 2 and not got.rejects
    assert [(r["frame_no"], r["verdict"], r["reviewer"]) for r in got.rows] == [(3, "mistake", "Dana"), (4, "fine", "Dana")]
    assert got.rows[0]["decided_at"].isoformat() == "2026-12-01T10:00:00+00:00"
    assert len(got.rows[0]["verdicts_file"]) == 16


@pytest.mark.parametrize("data, reason", [
    (b"", "empty_file"), (b"{nope", "invalid_json"), (b"[1]", "not_an_object"), (b"[" * 100000, "nesting_too_deep"),
    (doc(format="something/2"), "unsupported_format"), (doc(job_name="other"), "unknown_job"),
    (doc(job_name=None), "unknown_job"), (doc(reviewer=""), "invalid_reviewer"), (doc(reviewer="a\nb"), "invalid_reviewer"),
    (doc(reviewer="x" * 129), "invalid_reviewer"), (doc(queue_run_id=7), "invalid_queue_run_id"),
    (doc(verdicts={"a": 1}), "invalid_verdict_list"),
])
def test_a_file_that_is_not_a_verdicts_file_is_refused_whole(data, reason):
    got = parse_file(data, "f.json", JOBS)
    assert got.job is None and got.rows == [] and got.listed == 0
    (r,) = got.rejects
    assert (r.record_kind, r.reason_code, r.locator) == ("verdicts_file", reason, "file")
    assert reason in REASONS["verdicts_file"]


@pytest.mark.parametrize("change, reason", [
    ({"sequence_id": "job-b:0"}, "unknown_sequence"), ({"frame_no": -1}, "invalid_frame_no"),
    ({"frame_no": True}, "invalid_frame_no"), ({"frame_no": 2.5}, "invalid_frame_no"),
    ({"object_id": ""}, "missing_object_id"), ({"verdict": "maybe"}, "invalid_verdict"),
    ({"decided_at": "yesterday"}, "invalid_timestamp"), ({"decided_at": "2026-12-01T10:00:00"}, "invalid_timestamp"),
    ({"decided_at": "3026-12-01T10:00:00Z"}, "invalid_timestamp"), ({"reasons": ["made_up"]}, "invalid_reasons"),
    ({"score": "high"}, "invalid_score"), ({"rank": -2}, "invalid_rank"), ({"object_id": "x" * 70000}, "oversized_value"),
    ({"object_id": None}, "missing_object_id"),  # only an overlooked entry has no object, and it has a model box
    ({"object_id": None, "reasons": ["overlooked"]}, "missing_object_id"),
    ({"object_id": None, "reasons": ["overlooked"], "model_box": [1, 2, 0, 4]}, "missing_object_id"),
    ({"object_id": None, "reasons": ["overlooked"], "model_box": [1, 2, "3", 4]}, "missing_object_id"),
])
def test_a_bad_verdict_is_refused_alone(change, reason):
    got = parse_file(doc(GOOD, {**GOOD, "frame_no": 9, **change}), "f.json", JOBS)
    assert got.job == "job-a" and len(got.rows) == 1 and got.listed == 2
    (r,) = got.rejects
    assert (r.record_kind, r.reason_code, r.locator, r.job_name) == ("verdict", reason, "verdicts[1]", "job-a")
    assert reason in REASONS["verdict"]


def test_an_overlooked_entry_is_told_apart_by_the_models_box():
    """No object: the verdict keeps the model's box, and two overlooked objects on one frame are two verdicts."""
    over = {**GOOD, "object_id": None, "reasons": ["overlooked"], "model_box": [10, 20.5, 30, 40]}
    got = parse_file(doc(over, {**over, "model_box": [300, 20, 30, 40]}, {**over, "verdict": "fine"}, GOOD), "f.json",
                     JOBS)
    assert [(r["object_id"], r["model_left"], r["model_top"], r["model_width"], r["model_height"]) for r in got.rows] == [
        (None, 10.0, 20.5, 30.0, 40.0), (None, 300.0, 20.0, 30.0, 40.0), ("o1", None, None, None, None)]
    assert [r.reason_code for r in got.rejects] == ["duplicate_verdict"]  # the same box on the same frame again


def test_the_same_entry_twice_in_a_file_keeps_the_first():
    got = parse_file(doc(GOOD, {**GOOD, "verdict": "fine"}, "text"), "f.json", JOBS)
    assert [r["verdict"] for r in got.rows] == ["mistake"]
    assert [r.reason_code for r in got.rejects] == ["duplicate_verdict", "not_an_object"]


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=20)
verdict_like = st.fixed_dictionaries({}, optional={k: json_values | st.just(v) for k, v in GOOD.items()})


@settings(max_examples=int(os.environ.get("GTLAKE_FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(verdict_like | json_values, max_size=6), st.binary(max_size=40))
def test_any_file_is_read_or_refused_and_the_counts_balance(verdicts, noise):
    for data in (doc(*verdicts), noise, doc(*verdicts)[: len(noise)]):
        got = parse_file(data, "f.json", JOBS)
        kinds = {r.record_kind for r in got.rejects}
        if got.job is None:
            assert len(got.rejects) == 1 and kinds == {"verdicts_file"} and not got.rows
        else:
            assert got.listed == len(got.rows) + len(got.rejects) and kinds <= {"verdict"}
        assert all(r.reason_code in REASONS[r.record_kind] for r in got.rejects)


@pytest.fixture
def lake(pipeline_lake, tmp_path):
    dst = tmp_path / "lake"
    shutil.copytree(pipeline_lake["lake"], dst)
    return dst


def _entries(lake, n: int) -> tuple[str, list[dict]]:
    con = connect(str(lake))
    job = con.execute("SELECT job_name FROM review_queue GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()[0]
    rows = con.execute("""SELECT sequence_id, frame_no, object_id, reasons, score, rank FROM review_queue
                          WHERE job_name = ? AND object_id IS NOT NULL ORDER BY rank LIMIT ?""", [job, n]).fetchall()
    return job, [{"sequence_id": s, "frame_no": f, "object_id": o, "reasons": list(r), "score": sc, "rank": k}
                 for s, f, o, r, sc, k in rows]


def _file(path, job: str, reviewer: str, verdicts: list[dict]):
    path.write_bytes(json.dumps({"format": FORMAT, "job_name": job, "queue_run_id": None, "reviewer": reviewer,
                                 "verdicts": verdicts}).encode())
    return str(path)


def test_verdicts_are_stored_merged_and_imported_once(lake, tmp_path, spark):
    job, entries = _entries(lake, 4)
    assert len(entries) == 4
    before = connect(str(lake)).execute("SELECT count(*) FROM review_verdicts WHERE job_name = ?", [job]).fetchone()[0]
    at = "2026-12-01T10:00:00Z"
    first = _file(tmp_path / "a1.json", job, "ana", [{**e, "verdict": v, "decided_at": at}
                                                     for e, v in zip(entries, ("mistake", "mistake", "fine", "unsure"))]
                  + [{"sequence_id": "nowhere", "frame_no": 1, "object_id": "x", "verdict": "fine", "decided_at": at}])
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    r1 = run(spark, VerdictsConfig(lake=str(lake), files=[first, str(bad), str(tmp_path / "gone.json")]),
             log=lambda m: None)
    assert r1.status == "succeeded" and r1.stored == before + 4  # beside the simulated reviewer's
    c = r1.counts.as_dict()
    assert c["verdicts_file"] == {"in": 3, "out": 1, "rejected": 2} and c["verdict"] == {"in": 5, "out": 4, "rejected": 1}
    con = connect(str(lake))
    refused = con.execute("""SELECT record_kind, reason_code, job_name FROM rejected WHERE step = 'verdicts'
                             ORDER BY 1, 2""").fetchall()
    assert refused == [("verdict", "unknown_sequence", job), ("verdicts_file", "invalid_json", "_input"),
                       ("verdicts_file", "unreadable", "_input")]
    # The same file again: imported once. Ana changes her mind on one entry later; Ben judges the first.
    later = "2026-12-02T09:00:00Z"
    second = _file(tmp_path / "a2.json", job, "ana", [{**entries[1], "verdict": "fine", "decided_at": later},
                                                      {**entries[0], "verdict": "fine", "decided_at": "2026-11-30T09:00:00Z"}])
    ben = _file(tmp_path / "b.json", job, "ben", [{**entries[0], "verdict": "fine", "decided_at": later}])
    r2 = run(spark, VerdictsConfig(lake=str(lake), files=[first, second, ben]), log=lambda m: None)
    assert r2.already == 1 and r2.stored == before + 5
    con = connect(str(lake))
    got = con.execute("""SELECT reviewer, queue_rank, verdict FROM review_verdicts WHERE job_name = ?
                         AND reviewer IN ('ana', 'ben') ORDER BY reviewer, queue_rank""", [job]).fetchall()
    ranks = [e["rank"] for e in entries]
    assert got == [("ana", ranks[0], "mistake"),  # her earlier verdict stands: the second file's is older
                   ("ana", ranks[1], "fine"), ("ana", ranks[2], "fine"), ("ana", ranks[3], "unsure"),
                   ("ben", ranks[0], "fine")]
    # Rejections are kept across runs (the second run refused nothing new).
    assert con.execute("SELECT count(*) FROM rejected WHERE step = 'verdicts'").fetchone()[0] == 3
    r3 = run(spark, VerdictsConfig(lake=str(lake), files=[first, second, ben]), log=lambda m: None)
    assert r3.status == "no_new_input" and r3.already == 3
    # check_precision by hand: per reason, mistakes / (mistakes + fine), unsure apart.
    stored = con.execute("SELECT reasons, verdict FROM review_verdicts WHERE job_name = ?", [job]).fetchall()
    want = {}
    for reasons, verdict in stored:
        for reason in reasons:
            w = want.setdefault(reason, {"mistake": 0, "fine": 0, "unsure": 0})
            w[verdict] += 1
    view = con.execute("""SELECT reason, sum(judged), sum(mistakes), sum(fine), sum(unsure), sum(mistakes) /
                          nullif(sum(mistakes) + sum(fine), 0) FROM check_precision WHERE job_name = ?
                          GROUP BY reason ORDER BY reason""", [job]).fetchall()
    assert [(r, j, m, f, u) for r, j, m, f, u, _ in view] == [
        (r, sum(w.values()), w["mistake"], w["fine"], w["unsure"]) for r, w in sorted(want.items())]
    for r, _, m, f, _, p in view:
        assert p == (pytest.approx(m / (m + f)) if m + f else None)
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM check_precision)").fetchall())
    assert types["mistakes"] == "BIGINT" and types["judged"] == "BIGINT"


def test_a_verdicts_partition_removed_by_hand_is_noticed(lake, tmp_path, spark):
    job, entries = _entries(lake, 1)
    at = "2026-12-01T10:00:00Z"
    run(spark, VerdictsConfig(lake=str(lake), files=[_file(tmp_path / "1.json", job, "ana",
                                                           [{**entries[0], "verdict": "fine", "decided_at": at}])]),
        log=lambda m: None)
    shutil.rmtree(lake / "review_verdicts" / f"job_name={job}")
    with pytest.raises(LakeDamaged):
        run(spark, VerdictsConfig(lake=str(lake), files=[_file(tmp_path / "2.json", job, "ben",
                                                               [{**entries[0], "verdict": "fine", "decided_at": at}])]),
            log=lambda m: None)


def test_the_command_refuses_a_missing_file_with_usage(lake, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["verdicts", "--lake", str(lake), str(tmp_path / "nope.json")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "nope.json: no such file" in err and "usage:" in err and "Traceback" not in err


def test_the_sample_reviewer_calls_planted_mistakes_mistakes():
    from datetime import datetime, timezone

    from gtlake.sample.reviewer import UNSURE_EVERY, verdicts

    planted = [{"sequence_id": "job-a:0", "object_ids": ["o1"], "frames": [10]}]
    entries = [{"sequence_id": "job-a:0", "frame_no": f, "object_id": o, "reasons": ["off_path"], "score": 2.0,
                "rank": k + 1} for k, (f, o) in enumerate([(11, "o1"), (12, "o1"), (10, "o2")] + [(50 + i, "o3") for i in range(6)])]
    d = verdicts(entries, planted, "job-a", "sim", None, datetime(2026, 12, 1, tzinfo=timezone.utc))
    got = [v["verdict"] for v in d["verdicts"]]
    assert got[:3] == ["mistake", "fine", "fine"]  # within a frame of the plant, on its object only
    assert got[UNSURE_EVERY - 1] == "unsure" and got.count("unsure") == 1
    parsed = parse_file(json.dumps(d).encode(), "sim.json", JOBS)  # what the page saves, the job reads
    assert not parsed.rejects and len(parsed.rows) == len(entries)
