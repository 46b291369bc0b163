"""The clustered boxes layout and the batch detector over it: whole sequences per task without a shuffle, a
sequence cut by a batch edge carried over, results equal to the per-sequence reference."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from gtlake.jobs.common import read_partitions
from gtlake.jobs.files import Footers, clustered_files, data_files, non_null_rows, whole_files
from gtlake.jobs.quality import box_metrics, box_metrics_per_sequence
from gtlake.lake import Lake
from gtlake.schemas import BOXES
from gtlake.udfs.batches import NotClustered, whole_sequences
from gtlake.udfs.config import QualityConfig
from gtlake.udfs.detect import detect_boxes, detect_sequence

KEYS = ["job_name", "sequence_id"]


def _stream(sizes: list[int], cut: list[int]) -> tuple[pa.Table, list[pa.RecordBatch]]:
    """Sequences of the given sizes (two jobs), as record batches cut at the positions `cut`."""
    jobs = [("a" if i % 3 else "b") for i, n in enumerate(sizes) for _ in range(n)]
    seqs = [f"s{i}" for i, n in enumerate(sizes) for _ in range(n)]
    table = pa.table({"job_name": jobs, "sequence_id": seqs, "row": np.arange(len(seqs))})
    edges = sorted({c for c in cut if 0 < c < table.num_rows})
    bounds = [0, *edges, table.num_rows]
    return table, [b for lo, hi in zip(bounds, bounds[1:]) for b in table.slice(lo, hi - lo).to_batches()]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=12), st.lists(st.integers(0, 400), max_size=15),
       st.integers(1, 60))
def test_whole_sequences_regroups_any_cut_stream(sizes, cut, min_rows):
    table, batches = _stream(sizes, cut)
    out = list(whole_sequences(batches, KEYS, min_rows))
    assert pa.concat_tables(out).column("row").to_pylist() == table.column("row").to_pylist()  # nothing lost
    seen = [set(t.column("sequence_id").to_pylist()) for t in out]
    assert all(not (x & y) for i, x in enumerate(seen) for y in seen[i + 1:])  # no sequence in two tables


def test_whole_sequences_refuses_a_stream_that_is_not_clustered():
    table = pa.table({"job_name": ["a"] * 6, "sequence_id": ["s1", "s1", "s2", "s2", "s1", "s1"]})
    with pytest.raises(NotClustered, match="s1.*comes back"):
        list(whole_sequences(table.to_batches(max_chunksize=2), KEYS, 2))
    with pytest.raises(NotClustered):  # within one table too
        list(whole_sequences(table.to_batches(), KEYS, 100))


def _boxes(n_seq: int, seed: int = 0) -> pd.DataFrame:
    """A few sequences of moving boxes, with a mistake here and there, in no particular order."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_seq):
        for o in range(4):
            x0, v = rng.uniform(0, 500), rng.uniform(-8, 8)
            for f in range(40):
                if rng.random() < 0.05:
                    continue  # missing boxes and gaps
                jump = 60.0 if rng.random() < 0.03 else 0.0
                rows.append(("j", f"j:{s}", f, f"o{o}", f"car:{o}", "0", x0 + v * f + jump, 100.0 + 50 * o,
                             40.0, 30.0, None))
    df = pd.DataFrame(rows, columns=["job_name", "sequence_id", "frame_no", "object_id", "object_name",
                                     "class_id", "left", "top", "width", "height", "attributes"])
    return df.sample(frac=1, random_state=seed).reset_index(drop=True)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    key = ["job_name", "sequence_id", "object_id", "frame_no"]
    a, b = a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
    a["flags"], b["flags"] = a["flags"].map(tuple), b["flags"].map(tuple)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_batch_detector_equals_each_sequence_alone():
    boxes = _boxes(6)
    batch, missing = detect_boxes(boxes, QualityConfig())
    alone = [detect_sequence(g, QualityConfig()) for _, g in boxes.groupby(KEYS)]
    _same(batch, pd.concat([m for m, _ in alone]))
    assert (batch["flags"].map(len) > 0).any() and len(missing) == sum(len(m) for _, m in alone) > 0


def _metrics(df):
    return df.withColumn("flags", F.array_sort("flags"))


@pytest.mark.spark
def test_ingest_writes_boxes_clustered_and_says_so(pipeline_lake):
    lake = Lake(str(pipeline_lake["lake"]))
    ingested = lake.ledger("ingest")
    root = Path(pipeline_lake["lake"]) / "boxes"
    files = sorted(root.glob("job_name=*/*.parquet"))
    owner: dict[tuple, Path] = {}
    for path in files:
        job = path.parent.name.split("=", 1)[1]
        assert ingested[job]["layout"]["boxes"] == list(BOXES.cluster_by)
        rows = pq.read_table(path, columns=list(BOXES.cluster_by)).to_pandas()
        keys = list(zip(rows["sequence_id"], rows["object_id"].fillna(""), rows["frame_no"]))
        assert keys == sorted(keys), path  # sorted by sequence, object, frame
        for seq in set(rows["sequence_id"]):
            assert owner.setdefault((job, seq), path) == path  # a sequence lies in one file
    assert len(owner) > 10
    assert all(clustered_files(lake, data_files(lake, lake.path("boxes", f"job_name={j}"))) for j in ingested if not j.startswith("_"))


def test_one_run_reads_each_footer_once_and_gets_the_same_answers(pipeline_lake, monkeypatch):
    lake = Lake(str(pipeline_lake["lake"]))
    files = data_files(lake, lake.path("boxes", f"job_name={sorted(lake.ledger('ingest'))[-1]}"))
    fresh = (clustered_files(lake, files), non_null_rows(lake, files, "object_id"))
    opened: list[str] = []
    real_open = lake.fs.open_input_file
    monkeypatch.setattr(lake, "fs", type("CountingFS", (), {"open_input_file": lambda self, p: (
        opened.append(p), real_open(p))[1]})())
    footers = Footers(lake)
    assert (clustered_files(lake, files, footers=footers), non_null_rows(lake, files, "object_id", footers)) == fresh
    assert fresh[0] and fresh[1] > 0
    assert sorted(opened) == sorted(f.path for f in files)  # one read per file for both questions


@pytest.mark.spark
def test_clustered_scan_equals_the_per_sequence_reference_even_with_tiny_splits(spark, pipeline_lake, tmp_path):
    lake = Lake(str(pipeline_lake["lake"]))
    jobs = sorted(j for j in lake.ledger("ingest") if not j.startswith("_"))
    # The same files, in the same order, in row groups of 200 rows: a scan would cut them anywhere.
    own = tmp_path / "boxes"
    for path in (Path(pipeline_lake["lake"]) / "boxes").glob("job_name=*/*.parquet"):
        target = own / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pq.read_table(path), target, row_group_size=200)
    read = lambda: spark.read.option("basePath", str(own)).parquet(str(own))
    cfg = QualityConfig()
    reference = _metrics(read().transform(box_metrics_per_sequence(cfg)))
    files = list(own.glob("*/*.parquet"))
    spark.conf.set("spark.sql.files.maxPartitionBytes", "4096")  # a user's setting that splits files
    cost = spark.conf.get("spark.sql.files.openCostInBytes")

    def tasks_per_file() -> set[int]:
        return {r["n"] for r in read().select(F.input_file_name().alias("f"), F.spark_partition_id().alias("p"))
                .groupBy("f").agg(F.countDistinct("p").alias("n")).collect()}

    try:
        assert tasks_per_file() != {1}  # it does split them
        with whole_files(spark, [f.stat().st_size for f in files]):
            assert tasks_per_file() == {1}  # each file read whole by one task...
            assert read().rdd.getNumPartitions() <= spark.sparkContext.defaultParallelism + 1 < len(files)  # packed
            batch = _metrics(read().transform(box_metrics(cfg))).persist()
            assert_df_equality(batch, reference, ignore_row_order=True, ignore_nullable=True)
    finally:
        assert spark.conf.get("spark.sql.files.maxPartitionBytes") == "4096"  # the settings are restored
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert spark.conf.get("spark.sql.files.openCostInBytes") == cost
    assert batch.where(F.size("flags") > 0).count() > 0 and len(jobs) > 1


@pytest.mark.spark
def test_boxes_not_clustered_are_shuffled_first_or_refused(spark, pipeline_lake, tmp_path):
    lake = Lake(str(pipeline_lake["lake"]))
    boxes = read_partitions(spark, lake, "boxes", sorted(j for j in lake.ledger("ingest") if not j.startswith("_")))
    scattered = tmp_path / "scattered"  # rows of each sequence spread over several files
    boxes.repartition(3).write.parquet(str(scattered))
    read = lambda: spark.read.parquet(str(scattered))
    cfg = QualityConfig()
    reference = _metrics(read().transform(box_metrics_per_sequence(cfg)))
    here = Lake(str(tmp_path))
    assert not clustered_files(here, data_files(here, str(scattered)))  # the footers tell: sequences in several files
    with whole_files(spark, [f.stat().st_size for f in scattered.glob("*.parquet")]):
        shuffled = _metrics(read().transform(box_metrics(cfg, clustered=False)))
        assert_df_equality(shuffled, reference, ignore_row_order=True, ignore_nullable=True)
        with pytest.raises(Exception, match="NotClustered"):
            read().transform(box_metrics(cfg, clustered=True)).count()


@pytest.mark.spark
def test_quality_copies_boxes_into_the_layout_for_a_lake_without_it(spark, pipeline_lake, tmp_path):
    from gtlake.jobs.quality import QualityJobConfig, run

    lake_dir = tmp_path / "lake"
    shutil.copytree(pipeline_lake["lake"], lake_dir)
    for entry in (lake_dir / "_gtlake" / "ledger" / "ingest").glob("*.json"):
        data = json.loads(entry.read_text())
        data.pop("layout", None)  # as an older gtlake wrote it
        entry.write_text(json.dumps(data))
    shutil.rmtree(lake_dir / "_gtlake" / "ledger" / "quality")
    said: list[str] = []
    run(spark, QualityJobConfig(lake=str(lake_dir)), log=said.append)
    assert any("not clustered: copied in sequence order first" in m for m in said)
    read = lambda root, table: spark.read.parquet(str(root / table)).drop("run_id", "scored_at")
    assert_df_equality(_metrics(read(lake_dir, "box_metrics")), _metrics(read(Path(pipeline_lake["lake"]), "box_metrics")),
                       ignore_row_order=True, ignore_nullable=True)
    for table in ("track_summary", "review_queue"):
        assert_df_equality(read(lake_dir, table), read(Path(pipeline_lake["lake"]), table), ignore_row_order=True,
                           ignore_nullable=True)


@pytest.mark.spark
def test_clustered_boxes_reach_the_detector_without_a_shuffle(spark, pipeline_lake):
    root = str(Path(pipeline_lake["lake"]) / "boxes")
    boxes = spark.read.option("basePath", root).parquet(root)

    def plan(df) -> str:
        return df._jdf.queryExecution().executedPlan().toString()

    clustered = plan(boxes.transform(box_metrics(QualityConfig())))
    assert "MapInArrow" in clustered and "Exchange" not in clustered and "Sort" not in clustered
    assert "Exchange" in plan(boxes.transform(box_metrics(QualityConfig(), clustered=False)))


@pytest.mark.spark
def test_keys_are_proved_unique_from_the_files_only_when_they_are(spark, tmp_path):
    from gtlake.jobs.files import unique_in_files

    def write(folder: str, name: str, seqs: list[str], frames: list[int]) -> None:
        path = tmp_path / folder / "job_name=j" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"sequence_id": seqs, "frame_no": frames, "object_id": ["o"] * len(seqs)}), path)

    lake = Lake(str(tmp_path))
    keys = ("sequence_id", "frame_no", "object_id")
    write("ok", "a.parquet", ["s1", "s1", "s2"], [0, 1, 0])
    write("ok", "b.parquet", ["s3", "s4"], [0, 0])
    assert unique_in_files(spark, lake, str(tmp_path / "ok"), keys) == {("job_name", *keys)}
    write("twice", "a.parquet", ["s1", "s1", "s2"], [0, 0, 0])  # a key twice in a file
    write("overlap", "a.parquet", ["s1", "s3"], [0, 0])
    write("overlap", "b.parquet", ["s2"], [0])  # s2 lies within a's range: the footers cannot tell
    for folder in ("twice", "overlap"):
        assert unique_in_files(spark, lake, str(tmp_path / folder), keys) == frozenset()
    assert unique_in_files(spark, lake, str(tmp_path / "ok"), ("frame_no", "object_id")) == frozenset()


def test_unique_rows_from_the_order_and_else_by_grouping():
    from gtlake.jobs.files import strictly_ascending, unique_rows

    keys = ("sequence_id", "object_id", "frame_no")

    def table(rows):
        return pa.table({k: [r[i] for r in rows] for i, k in enumerate(keys)})

    ordered = table([("s1", "a", 0), ("s1", "a", 3), ("s1", "b", 1), ("s2", "a", 0)])
    assert strictly_ascending(ordered, keys) and unique_rows(ordered, keys)
    twice = table([("s1", "a", 0), ("s1", "a", 0), ("s2", "a", 0)])
    assert not strictly_ascending(twice, keys) and not unique_rows(twice, keys)
    shuffled = table([("s2", "a", 0), ("s1", "b", 1), ("s1", "a", 0)])  # unique, not in order: grouped
    assert not strictly_ascending(shuffled, keys) and unique_rows(shuffled, keys)
    apart = table([("s1", "a", 0), ("s2", "a", 0), ("s1", "a", 0)])  # a key twice, not neighbours
    assert not unique_rows(apart, keys)
    missing = table([("s1", None, 0), ("s1", None, 0)])  # missing values count as equal
    assert not strictly_ascending(missing, keys) and not unique_rows(missing, keys)
    assert unique_rows(table([]), keys) and unique_rows(table([("s1", "a", 0)]), keys)


@pytest.mark.spark
def test_scoring_tasks_give_the_gate_verdicts_of_the_rows_they_write(spark, pipeline_lake, tmp_path):
    """Each scoring task evaluates the box_metrics suite's row-level rules and its keys on the rows it writes:
    on the sample every such rule holds (the gate then reads the staged rows for nothing but their schema), and
    the verdicts agree with the one-pass Spark verdicts on the rows written."""
    import pyarrow.fs as pafs

    from gtlake.jobs.filepass import numbered
    from gtlake.jobs.quality import score_file
    from gtlake.validation import SUITES, fast_verdicts, held_rules, merge_broken, rule_key

    lake = Lake(str(pipeline_lake["lake"]))
    files = numbered([(p.name, f) for p in sorted(Path(lake.table_path("boxes")).iterdir()) if p.is_dir()
                      for f in data_files(lake, str(p))])
    out = tmp_path / "scored"
    done = [score_file(pafs.LocalFileSystem(), f, QualityConfig(), str(out / "m"), str(out / "t")) for f in files]
    assert done and all(d["unique"] for d in done)
    held = held_rules(merge_broken([d["broken"] for d in done]))
    rules = SUITES["box_metrics"]()
    settled = {rule_key(r) for r in rules if r.counts_rows and not r.refs and r.rule != "unique key"}
    assert held == settled  # every row-level rule decided by the tasks: no pass over the rows
    written = spark.read.parquet(f"file://{out / 'm'}")
    assert all(ok for r, ok in zip(rules, fast_verdicts(written, rules)) if rule_key(r) in held)


@pytest.mark.spark
def test_the_queue_from_the_suspect_rows_equals_the_queue_from_every_row(spark, pipeline_lake):
    from gtlake.jobs.quality import UDF_SCHEMA, review_queue, track_stats_reference

    lake = Lake(str(pipeline_lake["lake"]))
    jobs = sorted(j for j in lake.ledger("ingest") if not j.startswith("_"))
    metrics, tracks, frames, sequences = (read_partitions(spark, lake, t, jobs) for t in (
        "box_metrics", "track_summary", "frames", "sequences"))
    suspects = metrics.where((F.size("flags") > 0) | (F.col("missing_before") > 0)).select(*UDF_SCHEMA.names)
    # Outliers by a looser bar than the default's (the sample's careful tracks have none): the queue places each on
    # the track's worst box, found among every row or, from the suspect rows, by the tracks' statistics.
    loose = F.col("peer_z") < -1.5
    tracks = tracks.withColumn("flags", F.when(loose, F.array_union("flags", F.array(F.lit("track_outlier"))))
                               .otherwise(F.col("flags")))
    assert tracks.where(F.array_contains("flags", "track_outlier") & (F.size("flags") == 1)).count() > 0
    assert 0 < suspects.count() < metrics.count() / 2
    everything = review_queue(metrics, tracks, frames, sequences)
    assert_df_equality(review_queue(suspects, tracks, frames, sequences, worst=track_stats_reference(metrics)),
                       everything, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.spark
def test_each_jobs_track_summary_and_queue_equal_the_spark_forms(spark, pipeline_lake):
    """What the job's finishing tasks wrote (`udfs.queue`, one task per job) equals the Spark references on the
    committed rows: track_summary as `peer_scored` of the Spark statistics, the review queue as `review_queue`
    of box_metrics with the appearance flags and the model's findings that applied (audit jobs not queued)."""
    from gtlake.jobs.embed import current_runs
    from gtlake.jobs.quality import audit_jobs, current_predictions, peer_scored, review_queue, track_stats_reference

    lake = Lake(str(pipeline_lake["lake"]))
    ingested = lake.ledger("ingest")
    jobs = sorted(j for j in ingested if not j.startswith("_"))
    metrics, tracks, queue, frames, sequences = (read_partitions(spark, lake, t, jobs) for t in (
        "box_metrics", "track_summary", "review_queue", "frames", "sequences"))
    reference = peer_scored(track_stats_reference(metrics), QualityConfig())
    tied = [c for c in reference.columns if c != "iou_mode"]  # Spark's mode picks any of those tied (test_tracks)
    assert_df_equality(tracks.select(*tied), reference.select(*tied), ignore_row_order=True, ignore_nullable=True,
                       allow_nan_equality=True)
    predicted = sorted(current_predictions(lake.ledger("predictions"), ingested))
    embedded = sorted(current_runs(lake.ledger("embed"), ingested))
    assert predicted and embedded  # the lake has both, so both sources are read
    findings = read_partitions(spark, lake, "prediction_findings", predicted)
    appearance = read_partitions(spark, lake, "embedding_metrics", embedded)
    audits = audit_jobs(read_partitions(spark, lake, "jobs", jobs))
    expected = review_queue(metrics, reference, frames, sequences, appearance, findings).where(
        ~F.col("job_name").isin(audits))
    assert queue.where(F.array_contains("reasons", "overlooked")).count() > 0
    assert_df_equality(queue.select(*expected.columns), expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.spark
def test_the_queue_kernel_equals_review_queue_with_outliers_appearance_flags_and_findings(spark, pipeline_lake):
    """`udfs.queue.queue_entries` on one job's suspect rows and statistics equals the Spark `review_queue` on the
    same rows, with what the committed lake lacks: track outliers (a looser bar), appearance flags on boxes that
    have other reasons and on boxes that have none, a model's findings on labeled objects (two on one entry: the
    smaller model box kept) and overlooked objects (one repeated: kept once)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from gtlake.jobs.quality import UDF_SCHEMA, current_predictions, review_queue
    from gtlake.schemas import EMBEDDING_METRICS, PREDICTION_FINDINGS, REVIEW_QUEUE
    from gtlake.udfs.queue import queue_entries
    from gtlake.udfs.tracks import track_stats

    lake = Lake(str(pipeline_lake["lake"]))
    job = sorted(current_predictions(lake.ledger("predictions"), lake.ledger("ingest")))[0]  # a labelers' job
    metrics = pq.read_table(lake.path("box_metrics", f"job_name={job}")).sort_by(
        [("sequence_id", "ascending"), ("object_id", "ascending"), ("frame_no", "ascending")])
    stats = track_stats(metrics)
    tracks = pq.read_table(lake.path("track_summary", f"job_name={job}"))
    z = tracks.column("peer_z").to_pylist()
    low = sorted(v for v in z if v is not None)[2]  # the three tracks furthest below their peers: outliers here
    tracks = tracks.set_column(tracks.schema.get_field_index("flags"), "flags", pa.array(
        [f + ["track_outlier"] if v is not None and v <= low else f for f, v in
         zip(tracks.column("flags").to_pylist(), z)], pa.list_(pa.string())))
    assert 0 < sum("track_outlier" in f for f in tracks.column("flags").to_pylist()) < tracks.num_rows
    flagged = metrics.filter(pa.array([bool(f) for f in metrics.column("flags").to_pylist()]))
    plain = metrics.filter(pa.array([not f for f in metrics.column("flags").to_pylist()]))
    appear = pa.concat_tables([flagged.slice(0, 5), plain.slice(0, 5)]).select(
        ["sequence_id", "frame_no", "object_id", "object_name", "label"])
    columns = EMBEDDING_METRICS.file_schema()
    appearance = pa.Table.from_pylist(
        [{**r, "flags": ["appearance_change"], "score": 2.0} for r in appear.to_pylist()]
        + [{**r, "flags": [], "score": 0.0} for r in plain.slice(5, 3).select(appear.column_names).to_pylist()],
        schema=pa.schema([columns.field(c) for c in (*appear.column_names, "flags", "score")]))
    about = flagged.slice(0, 2).to_pylist()
    box = {"score": 0.9, "frames": 1, "evidence": 1.0, "model": "m", "model_label": "x"}
    findings = ([{**{k: r[k] for k in ("sequence_id", "frame_no", "object_id", "label")}, "reason": reason,
                  "left": left, "top": 1.0, "width": 5.0, "height": 5.0, **box}
                 for r in about for reason, left in (("badly_located", 30.0), ("class_disagrees", 10.0))]
                + [{"sequence_id": about[0]["sequence_id"], "frame_no": f, "object_id": None, "label": "Car",
                    "reason": "overlooked", "left": 40.0 + f % 2, "top": 2.0, "width": 9.0, "height": 9.0, **box}
                   for f in (3, 3, 4, 5)])
    findings = pa.Table.from_pylist(findings, schema=PREDICTION_FINDINGS.file_schema())
    frames = pq.read_table(lake.path("frames", f"job_name={job}"), columns=["sequence_id", "frame_no", "frame_file"])
    sequences = pq.read_table(lake.path("sequences", f"job_name={job}"),
                              columns=["sequence_id", "source_ref", "labels_ref", "labels_read"])
    suspects = metrics.filter(pa.array([bool(f) or (m or 0) > 0 for f, m in zip(
        metrics.column("flags").to_pylist(), metrics.column("missing_before").to_pylist())]))
    ours = queue_entries(REVIEW_QUEUE.file_schema(), suspects, tracks, stats, frames, sequences, appearance, findings)

    def frame(table: pa.Table):  # a Spark DataFrame of the rows (nulls as nulls), with the job
        table = table.append_column("job_name", pa.array([job] * table.num_rows))
        return spark.createDataFrame(table.to_pylist(), from_arrow_schema(table.schema))

    theirs = review_queue(
        frame(suspects.select([n for n in UDF_SCHEMA.names if n != "job_name"])), frame(tracks), frame(frames),
        frame(sequences), frame(appearance), frame(findings), worst=frame(stats))
    expected = theirs.select(*REVIEW_QUEUE.names).drop("job_name")
    got = spark.createDataFrame(ours.to_pylist(), expected.schema)
    assert ours.column("rank").to_pylist() == list(range(1, ours.num_rows + 1))
    for reason in ("track_outlier", "appearance_change", "badly_located", "overlooked", "missing_box"):
        assert got.where(F.array_contains("reasons", reason)).count() > 0, reason
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
