"""Data-quality gates inside the jobs: a lake damaged by hand is caught before a job uses it, and a job whose
output breaks a rule commits nothing (`--on-failure fail`) or commits and records it (`warn`)."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from gtlake import cli, seals
from gtlake.jobs import quality
from gtlake.jobs.audit import AuditJobConfig
from gtlake.jobs.audit import run as audit_run
from gtlake.jobs.gate import SEALED
from gtlake.jobs.ingest import IngestConfig
from gtlake.jobs.ingest import run as ingest_run
from gtlake.jobs.quality import QualityJobConfig
from gtlake.lake import Lake
from gtlake.records import ValidationFailed
from gtlake.sample.generate import SampleParams, generate
from tests.conftest import lake_snapshot, read_table

pytestmark = pytest.mark.spark
QUIET = {"log": lambda m: None}


@pytest.fixture(scope="module")
def ingested(spark, tmp_path_factory):
    """A small sample, ingested (its own output gate passed), not yet scored."""
    tmp = tmp_path_factory.mktemp("gates")
    generate(str(tmp / "sample"), SampleParams(sequences=3, frames=40, objects=4, workers=3, seed=5))
    lake = tmp / "lake"
    result = ingest_run(spark, IngestConfig(input=str(tmp / "sample" / "output"), lake=str(lake)), **QUIET)
    assert result.status == "succeeded"
    return lake


@pytest.fixture
def lake(ingested, tmp_path):
    copy = tmp_path / "lake"
    shutil.copytree(ingested, copy)
    return copy


def _edit_first_file(lake, table: str, column: str, value) -> None:
    """Change one value of a committed file, as a person with a Parquet editor would (Hadoop's checksum goes)."""
    part = next(p for p in sorted((lake / table).rglob("*.parquet")))
    t = pq.read_table(part)
    values = t.column(column).to_pylist()
    values[0] = value
    t = t.set_column(t.schema.get_field_index(column), column, pc.cast(values, t.schema.field(column).type))
    pq.write_table(t, part)
    (part.parent / f".{part.name}.crc").unlink(missing_ok=True)


def _garble_first_file(lake, table: str) -> None:
    part = next(p for p in sorted((lake / table).rglob("*.parquet")))
    part.write_bytes(b"this is not parquet")
    (part.parent / f".{part.name}.crc").unlink(missing_ok=True)


def test_ingest_checked_its_output_before_committing(ingested):
    checked = read_table(ingested, "validations")
    assert set(checked.step) == {"ingest"} and set(checked.scope) == {"output"}
    assert set(checked.table_name) == {"sequences", "boxes", "frames", "jobs"} and checked.success.all()
    assert ("job_name, sequence_id", "exists in sequences") in set(zip(checked.column_name, checked.rule))
    assert (checked[checked.rule == "values > 0"].unexpected_count == 0).all()


def test_a_damaged_input_stops_the_job_and_commits_only_the_findings(spark, lake):
    _edit_first_file(lake, "boxes", "width", -1.0)
    before = lake_snapshot(lake)
    with pytest.raises(ValidationFailed) as stopped:
        quality.run(spark, QualityJobConfig(lake=str(lake)), **QUIET)
    assert "nothing committed" in str(stopped.value)
    assert len(stopped.value.findings) == 1
    assert stopped.value.findings[0].message().startswith("boxes.width: values > 0: FAILED - 1 of ")

    assert lake_snapshot(lake) == before  # no box_metrics, track_summary, review_queue: only the run logs
    runs = read_table(lake, "runs")
    failed = runs[runs.job == "quality"]
    assert list(failed.status) == ["failed"] and failed.message.iloc[0].startswith("data-quality gate: ")
    found = read_table(lake, "validations")
    found = found[found.step == "quality"]
    assert set(found.scope) == {"input"} and set(found.table_name) == {"sequences", "boxes", "frames", "jobs"}
    bad = found[~found.success]
    assert list(zip(bad.table_name, bad.column_name, bad.rule, bad.unexpected_count)) == [
        ("boxes", "width", "values > 0", 1)]

    # the ledger did not move: once warned past, the same jobs are scored, and the findings recorded again
    result = quality.run(spark, QualityJobConfig(lake=str(lake), on_failure="warn"), **QUIET)
    assert result.status == "succeeded" and result.jobs_processed
    assert (lake / "review_queue").is_dir()
    runs = read_table(lake, "runs")
    warned = runs[(runs.job == "quality") & (runs.status == "succeeded")]
    assert "committed anyway" in warned.message.iloc[0]
    found = read_table(lake, "validations")
    last = found[found.run_id == result.run_id]
    assert set(last.scope) == {"input", "output"}
    bad = last[~last.success]
    assert ("boxes", "width", "values > 0") in set(zip(bad.table_name, bad.column_name, bad.rule))


def test_what_an_earlier_gate_validated_is_not_checked_again_while_its_files_are_unchanged(spark, lake):
    ingested = {j: e for j, e in Lake(str(lake)).ledger("ingest").items() if not j.startswith("_")}
    assert all(set(e["seals"]) == {"sequences", "boxes", "frames", "jobs"} for e in ingested.values())

    result = quality.run(spark, QualityJobConfig(lake=str(lake)), **QUIET)
    found = read_table(lake, "validations")
    found = found[found.run_id == result.run_id]
    inputs = found[found.scope == "input"]
    assert list(zip(inputs.table_name, inputs.rule, inputs.success)) == [
        ("sequences", SEALED, True), ("boxes", SEALED, True), ("frames", SEALED, True), ("jobs", SEALED, True)]
    assert {e["run_id"] for e in ingested.values()} <= set(re.findall(r"\S+-[0-9a-f]{6}", inputs.detail.iloc[1]))
    outputs = found[found.scope == "output"]  # what the run wrote is always checked in full
    assert set(outputs.table_name) == {"box_metrics", "review_queue"} and len(outputs) > 20
    scored = Lake(str(lake)).ledger("quality")
    written = {j: {t for t in ("box_metrics", "review_queue") if (lake / t / f"job_name={j}").is_dir()} for j in scored}
    assert {j: set(e["seals"]) for j, e in scored.items()} == written  # a job with no rows has nothing to seal
    assert {"box_metrics", "review_queue"} in written.values()
    assert result.checks.startswith(f"{len(found)} rules on 6 tables (input boxes, input frames, input jobs, "
                                    "input sequences, output box_metrics")


def test_any_change_to_a_sealed_partition_breaks_its_seal(lake):
    lk = Lake(str(lake))
    jobs = sorted(j for j in lk.ledger("ingest") if not j.startswith("_"))
    assert seals.sealed_by(lk, "boxes", jobs) and seals.sealed_by(lk, "sequences", jobs)

    # one bit flipped mid-file, same size and same modification time: a content change all the same
    part = next(p for p in sorted((lake / "boxes").rglob("*.parquet")))
    st = os.stat(part)
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 1
    part.write_bytes(bytes(data))
    os.utime(part, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert seals.sealed_by(lk, "boxes", jobs) is None
    assert seals.sealed_by(lk, "sequences", jobs)  # the other tables keep theirs

    seq = next(p for p in sorted((lake / "sequences").rglob("*.parquet")))
    shutil.copy(seq, seq.parent / "extra.parquet")  # a file added by hand
    assert seals.sealed_by(lk, "sequences", jobs) is None
    assert seals.sealed_by(lk, "sequences", []) is None and seals.sealed_by(lk, "shapes", jobs) is None


def _buggy_kernel(monkeypatch, bug) -> None:
    """Make the quality job's scoring tasks write `bug(rows)` instead of each file's box_metrics rows (a kernel
    bug), with the verdicts a task makes on the rows it writes (`score_file`) made on those: the gate must find
    the bug from them."""
    from gtlake.jobs.files import unique_rows
    from gtlake.validation import broken_rules

    real = quality._score

    def buggy(run, cfg, files, roots):
        real(run, cfg, files, roots)
        done = []
        for path in sorted(Path(run.staged["box_metrics"]).rglob("*.parquet")):
            rows = bug(pq.ParquetFile(path).read())
            pq.write_table(rows, path)
            done.append({"broken": broken_rules("box_metrics", rows, {"job_name": path.parent.name.split("=", 1)[1]}),
                         "unique": unique_rows(rows, quality.METRICS_FILE_KEY)})
        return quality.Verdicts.of(done)

    monkeypatch.setattr(quality, "_score", buggy)


def test_an_output_breaking_a_rule_is_not_committed(spark, lake, monkeypatch):
    def bug(t):  # one IoU out of [0, 1]
        return t.set_column(t.schema.get_field_index("iou_prev"), "iou_prev",
                            pc.if_else(pc.equal(t["frame_no"], 7), 1.5, t["iou_prev"]))

    _buggy_kernel(monkeypatch, bug)
    with pytest.raises(ValidationFailed) as stopped:
        quality.run(spark, QualityJobConfig(lake=str(lake)), **QUIET)
    assert {(f.table, f.column, f.rule) for f in stopped.value.findings} == {
        ("box_metrics", "iou_prev", "values >= 0 and <= 1")}
    assert not (lake / "box_metrics").exists() and not (lake / "review_queue").exists()
    assert not list((lake / "_gtlake").glob("staging/*"))  # the run's staged output is gone
    found = read_table(lake, "validations")
    found = found[found.step == "quality"]
    assert set(found.scope) == {"input", "output"}
    assert not found[found.scope == "input"].success.eq(False).any()

    # warned past, the broken table is committed unsealed: whoever reads it next checks it in full
    quality.run(spark, QualityJobConfig(lake=str(lake), on_failure="warn"), **QUIET)
    scored = Lake(str(lake)).ledger("quality")
    assert not any("box_metrics" in e["seals"] for e in scored.values())
    assert any("review_queue" in e["seals"] for e in scored.values())


def test_a_key_written_twice_breaks_the_unique_rule_the_files_could_not_prove(spark, lake, monkeypatch):
    def bug(t):  # a track's second box written with its first box's frame
        frames = t["frame_no"].to_pylist()
        assert t["object_id"][0] == t["object_id"][1]
        frames[1] = frames[0]
        i = t.schema.get_field_index("frame_no")
        return t.set_column(i, "frame_no", pa.array(frames, t.schema.field(i).type))

    _buggy_kernel(monkeypatch, bug)
    with pytest.raises(ValidationFailed) as stopped:
        quality.run(spark, QualityJobConfig(lake=str(lake)), **QUIET)
    assert {(f.table, f.column, f.rule) for f in stopped.value.findings} == {
        ("box_metrics", "job_name, sequence_id, frame_no, object_id", "unique key")}


def test_an_unreadable_table_stops_the_job_even_when_warned(spark, lake):
    _garble_first_file(lake, "boxes")
    with pytest.raises(ValidationFailed) as stopped:
        quality.run(spark, QualityJobConfig(lake=str(lake), on_failure="warn"), **QUIET)
    assert [(f.table, f.rule) for f in stopped.value.findings] == [("boxes", "readable")]
    assert not (lake / "box_metrics").exists()

    _garble_first_file(lake, "sequences")  # read by the audit job before anything else
    with pytest.raises(ValidationFailed) as stopped:
        audit_run(spark, AuditJobConfig(lake=str(lake), on_failure="warn"), **QUIET)
    assert [(f.table, f.rule) for f in stopped.value.findings] == [("sequences", "readable")]
    assert "parquet" in stopped.value.findings[0].detail.lower()


def test_an_unknown_on_failure_setting_is_refused_before_any_work(spark, lake):
    with pytest.raises(ValueError, match="on_failure must be one of fail, warn"):
        quality.run(spark, QualityJobConfig(lake=str(lake), on_failure="ignore"), **QUIET)
    assert not (lake / "box_metrics").exists() and read_table(lake, "runs").job.tolist() == ["ingest"]


def test_cli_names_the_broken_rule_and_exits_1(lake, capsys):
    _edit_first_file(lake, "boxes", "height", 0.0)
    code = cli.main(["quality", "--lake", str(lake)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "nothing committed" in err and "boxes.height: values > 0: FAILED - 1 of" in err
    assert f"{lake}/validations" in err
    assert cli.main(["quality", "--lake", str(lake), "--on-failure", "warn"]) == 0
    out = capsys.readouterr().out
    assert "boxes.height: values > 0: FAILED" in out
    assert re.search(r"data-quality checks: \d+ rules on 6 tables \(input boxes, input frames, input jobs, "
                     r"input sequences, output box_metrics, output review_queue\), 1 broken; committed anyway "
                     r"\(--on-failure warn\)", out), out
