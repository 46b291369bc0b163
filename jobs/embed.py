"""The embed job: box crops -> ResNet-18 embeddings -> embedding_metrics (appearance_change flags).

    run(spark, EmbedJobConfig(lake="lake", weights="s3://models/resnet18-f37072fd.pth", frames_root=None))

1. Each sequence's frame images are found the way Ground Truth finds them: the `prefix` of its
   sequence file (`sequences.source_ref`) + the frame's file name (`boxes.frame_file`). With
   `frames_root`, every `s3://<bucket>/<key>` is read as `<frames_root>/<key>` instead (a local
   mirror of the input bucket, or another prefix).
2. `mapInPandas` (Spark's iterator-of-batches pattern): each Python worker loads the model once
   (the weights travel as a broadcast, no worker downloads anything), decodes each frame once,
   crops and resizes every box on it (`udfs.crops`) and embeds the crops in batches
   (`udfs.embeddings`), on CUDA when the worker has it.
3. `applyInPandas` per sequence: distances between consecutive crops of each track, robust
   outliers (`udfs.appearance`) -> one `embedding_metrics` row per tracked box, flagged or not.

A box whose image is missing or unreadable, or that lies wholly outside its image, keeps its row
with that `crop_status` and no distance: every tracked box read is a row written. Only jobs whose
boxes, weights, settings or frames root changed since the last embed run are redone. The quality
job merges the flags into `review_queue` (reason `appearance_change`); `gtlake embed` runs it after.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from gtlake import integrity, storage
from gtlake.frames import UNSAFE_FRAME_FILE, read_image, sequence_prefix
from gtlake.jobs.common import read_partitions, sequence_refs
from gtlake.jobs.runner import Outcome, Run, Step
from gtlake.records import Counts
from gtlake.schemas import EMBEDDING_METRICS
from gtlake.udfs.appearance import REASON, AppearanceConfig, appearance_flags
from gtlake.vocabulary import REASON_WEIGHTS

NAME = "embed"
BOX_COLS = ["job_name", "sequence_id", "frame_no", "frame_file", "object_id", "object_name", "label",
            "left", "top", "width", "height"]
EMBED_SCHEMA = T.StructType(  # what mapInPandas hands on: the box's metrics columns so far, and its embedding
    [EMBEDDING_METRICS.spark_schema()[c] for c in (*BOX_COLS[:7], "image_uri", "crop_status", "crop_clipped")]
    + [T.StructField("embedding", T.ArrayType(T.FloatType(), containsNull=False), True)])
_MODELS: dict[tuple[str, str, int], object] = {}  # per Python worker: (weights digest, device, batch) -> Embedder


@dataclass(frozen=True)
class EmbedJobConfig:
    """The lake, the weights file, where the frames are, and the settings of the check."""

    lake: str
    weights: str  # a torchvision-format ResNet-18 state dict: local path or s3:// URI
    frames_root: str | None = None  # read s3://<bucket>/<key> images and sequence files as <frames_root>/<key>
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)
    device: str = "auto"  # auto (cuda when the worker has it), cpu or cuda
    run_id: str | None = None
    on_failure: str = "fail"


@dataclass
class EmbedResult:
    """What a run did."""

    run_id: str
    status: str
    counts: Counts
    jobs_processed: list[str]
    model: str = ""
    crops: dict[str, int] = field(default_factory=dict)  # crop_status -> boxes
    flagged: int = 0
    seconds: float = 0.0
    checks: str = ""
    check_seconds: float = 0.0


def _prefixes(spark: SparkSession, sequences: DataFrame, frames_root: str | None,
              log: Callable[[str], None]) -> DataFrame:
    """(job_name, sequence_id, prefix) of every labeled sequence; sequence files read in parallel."""
    refs = sequence_refs(sequences).select("job_name", "sequence_id", "source_ref").toPandas()
    unique = sorted(set(refs["source_ref"].dropna()))
    with ThreadPoolExecutor(max_workers=16) as pool:
        found = dict(zip(unique, pool.map(lambda r: sequence_prefix(r, frames_root), unique)))
    problems = [p for _, p in found.values() if p]
    if problems:
        log(f"embed: {len(problems)} of {len(unique)} sequence files unreadable or without a prefix; their frames "
            f"are looked for beside them (e.g. {problems[0]})")
    refs["prefix"] = [found[r][0] if isinstance(r, str) else None for r in refs["source_ref"]]
    schema = T.StructType([T.StructField(c, T.StringType(), True) for c in ("job_name", "sequence_id", "prefix")])
    return spark.createDataFrame(refs[["job_name", "sequence_id", "prefix"]], schema)


def embed_rows(pdf: pd.DataFrame, embedder, crop_size: int) -> pd.DataFrame:  # noqa: ANN001 - udfs.embeddings.Embedder
    """Embed the crops of the boxes in `pdf` (rows with image_uri, left, top, width, height): each image
    read once, crops embedded `embedder.batch_size` at a time. Adds crop_status, crop_clipped, embedding."""
    from gtlake.udfs.crops import crop_boxes
    from gtlake.udfs.embeddings import EMBEDDING_DIM

    n = len(pdf)
    vectors = np.zeros((n, EMBEDDING_DIM), np.float32)
    status = np.full(n, "ok", dtype=object)
    clipped = np.full(n, np.nan)
    uris = pdf["image_uri"].to_numpy(dtype=object)
    order = np.argsort(np.where(pd.isna(uris), "", uris).astype(str), kind="stable")
    pending_rows: list[np.ndarray] = []
    pending_crops: list[np.ndarray] = []

    def flush() -> None:
        if pending_rows:
            rows = np.concatenate(pending_rows)
            vectors[rows] = embedder.embed(np.concatenate(pending_crops))
            pending_rows.clear()
            pending_crops.clear()

    sorted_uris = uris[order]
    starts = np.flatnonzero(np.r_[True, sorted_uris[1:] != sorted_uris[:-1]]) if n else np.zeros(0, int)
    for s, e in zip(starts, np.r_[starts[1:], n]):
        rows = order[s:e]
        uri = sorted_uris[s]
        image = read_image(uri) if isinstance(uri, str) and uri else "image_missing"
        if isinstance(image, str):
            status[rows] = image
            continue
        b = pdf.iloc[rows]
        crops, clip, ok = crop_boxes(image, b["left"].to_numpy(float), b["top"].to_numpy(float),
                                     b["width"].to_numpy(float), b["height"].to_numpy(float), crop_size)
        clipped[rows] = clip
        status[rows[~ok]] = "outside_image"
        pending_rows.append(rows[ok])
        pending_crops.append(crops[ok])
        if sum(r.size for r in pending_rows) >= embedder.batch_size:
            flush()
    flush()
    out = pdf.drop(columns=["left", "top", "width", "height"])
    out["crop_status"] = status
    out["crop_clipped"] = clipped
    out["embedding"] = list(vectors)
    return out


def _embedder(weights: bytes, digest: str, device: str, batch_size: int, threads: int):  # noqa: ANN202
    """The worker's Embedder for these weights (loaded on first use, then kept for the worker's life)."""
    import torch

    from gtlake.udfs.embeddings import Embedder, load_resnet18, pick_device

    key = (digest, device, batch_size)
    if key not in _MODELS:
        torch.set_num_threads(threads)
        _MODELS[key] = Embedder(load_resnet18(weights, digest), pick_device(device), batch_size)
    return _MODELS[key]


def _embed_udf(weights_bc, digest: str, cfg: AppearanceConfig, device: str,  # noqa: ANN001 - Broadcast
               threads: int) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    cols = [f.name for f in EMBED_SCHEMA.fields]

    def apply(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        embedder = _embedder(weights_bc.value, digest, device, cfg.batch_size, threads)
        for pdf in batches:
            yield embed_rows(pdf, embedder, cfg.crop_size)[cols]

    return apply


def appearance_metrics(pdf: pd.DataFrame, cfg: AppearanceConfig, model: str) -> pd.DataFrame:
    """embedding_metrics rows of one sequence's embedded boxes (columns of EMBED_SCHEMA)."""
    df = pdf.sort_values(["object_id", "frame_no"], kind="stable").reset_index(drop=True)
    ok = (df["crop_status"] == "ok").to_numpy()
    vectors = (np.stack(df["embedding"].to_numpy()) if len(df) else np.zeros((0, 1), np.float32))
    found = appearance_flags(pd.factorize(df["object_id"])[0], df["frame_no"].to_numpy(), vectors, ok, cfg)
    out = df.drop(columns=["embedding"])
    out["appearance_distance"] = found["distance"]
    out["appearance_skip"] = found["skip"]
    out["appearance_z"] = found["z"]
    out["flags"] = [[REASON] if f else [] for f in found["flag"]]
    out["score"] = np.where(found["flag"], REASON_WEIGHTS[REASON], 0.0)
    out["model"] = model
    return out.reindex(columns=EMBEDDING_METRICS.names)


def embedding_metrics(spark: SparkSession, boxes: DataFrame, prefixes: DataFrame, weights: bytes, digest: str,
                      cfg: AppearanceConfig, device: str = "auto") -> DataFrame:
    """One embedding_metrics row per tracked box of `boxes` (the Spark plan; nothing runs until it is written)."""
    parallelism = spark.sparkContext.defaultParallelism
    threads = max(1, (os.cpu_count() or 1) // max(1, parallelism))  # one torch thread per concurrent task
    tracked = (boxes.where(F.col("object_id").isNotNull()).select(*BOX_COLS)
               .join(F.broadcast(prefixes), ["job_name", "sequence_id"], how="left")
               # a frame file name that could leave its prefix (`..`, absolute, a scheme) is not read: image_missing
               .withColumn("image_uri", F.when(~F.col("frame_file").rlike(UNSAFE_FRAME_FILE),
                                               F.concat(F.col("prefix"), F.col("frame_file")))).drop("prefix"))
    weights_bc = spark.sparkContext.broadcast(weights)
    embedded = (tracked.repartition(max(1, 2 * parallelism), "job_name", "sequence_id")
                .sortWithinPartitions("image_uri")  # boxes of one frame together: each image decoded once
                .mapInPandas(_embed_udf(weights_bc, digest, cfg, device, threads), EMBED_SCHEMA))
    return embedded.groupBy("job_name", "sequence_id").applyInPandas(
        lambda pdf: appearance_metrics(pdf, cfg, digest), EMBEDDING_METRICS.spark_schema())


def fingerprint(ingest_entry: dict, digest: str, cfg: AppearanceConfig, frames_root: str | None) -> str:
    """What an embed run of a job depends on: its ingest run, the weights, the settings and where the frames are."""
    text = json.dumps({"ingest_run": ingest_entry.get("run_id"), "model": digest, "config": asdict(cfg),
                       "frames_root": frames_root}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def current_runs(embedded: dict[str, dict], ingested: dict[str, dict]) -> dict[str, str]:
    """job -> the embed run whose embedding_metrics apply to the job now (made from its current boxes).

    `embedded` and `ingested` are the embed and ingest ledgers; a job re-ingested since its embed run
    has none (its flags name boxes that may no longer exist) until embed runs again."""
    return {j: e["run_id"] for j, e in embedded.items()
            if e.get("ingest_run") and e.get("ingest_run") == ingested.get(j, {}).get("run_id")}


def read_weights(uri: str) -> bytes:
    """The bytes of a weights file (local path or s3:// URI); WeightsError when it cannot be read."""
    from gtlake.udfs.embeddings import WeightsError

    try:
        return storage.read_bytes(uri)
    except FileNotFoundError:
        raise WeightsError(f"weights file not found: {uri}") from None
    except Exception as e:  # noqa: BLE001 - boto3/OS errors: said in one line
        raise WeightsError(f"cannot read weights {uri}: {type(e).__name__}: {e}") from None


def _load_model(weights: str) -> tuple[bytes, str]:
    from gtlake.udfs.embeddings import load_resnet18, weights_digest

    data = read_weights(weights)
    load_resnet18(data, weights)  # a wrong file fails here, in one line, before any Spark work
    return data, weights_digest(data)


def _work(run: Run, config: EmbedJobConfig) -> Outcome:
    """Embed every tracked box of the jobs whose boxes (or weights, settings) changed since the last embed run."""
    spark, lake, gate, cfg = run.spark, run.lake, run.gate, config.appearance
    weights, digest = run.context["weights"], run.context["digest"]
    ingested = lake.ledger("ingest")
    done = lake.ledger(NAME)
    jobs = sorted(j for j in ingested if not j.startswith("_") and done.get(j, {}).get("fingerprint")
                  != fingerprint(ingested[j], digest, cfg, config.frames_root))
    run.say(f"model {digest}, {len(jobs)} jobs to embed ({len(ingested)} ingested)")
    if not jobs:
        return run.unchanged(model=digest)
    integrity.require(lake, ("sequences", "boxes"), jobs, run.name)  # else no boxes = no rows
    with_boxes = [j for j in jobs if lake.isdir(lake.path("boxes", f"job_name={j}"))]
    crops: dict[str, int] = {}
    flagged = 0
    if with_boxes:
        sequences = gate.read("sequences", lambda: read_partitions(spark, lake, "sequences", with_boxes),
                              jobs=with_boxes)
        boxes = gate.read("boxes", lambda: read_partitions(spark, lake, "boxes", with_boxes),
                          refs={"sequences": sequences}, jobs=with_boxes)
        gate.enforce()
        prefixes = _prefixes(spark, sequences, config.frames_root, run.log)
        run.stage(embedding_metrics(spark, boxes, prefixes, weights, digest, cfg, config.device), EMBEDDING_METRICS)
        n_in = boxes.where(F.col("object_id").isNotNull()).count()
        tally = run.staged_rows("embedding_metrics", ("crop_status", "score"))  # score > 0: flagged
        for (status, score), n in sorted(tally.items()):
            crops[str(status)] = crops.get(str(status), 0) + int(n)
            flagged += int(n) if score else 0
        n_out = sum(crops.values())
        run.counts.add("tracked_box", seen=n_in, out=n_out)
        run.balance(f"{n_in} tracked boxes read but {n_out} embedded")
        gate.check_staged("embedding_metrics", run.staged["embedding_metrics"])
    note = ", ".join(f"{k} {v}" for k, v in crops.items())
    run.replace("embedding_metrics", jobs)
    now = datetime.now(timezone.utc).isoformat()
    ledger = {j: {"fingerprint": fingerprint(ingested[j], digest, cfg, config.frames_root), "run_id": run.run_id,
                  "ingest_run": ingested[j].get("run_id"), "model": digest, "embedded_at": now} for j in jobs}
    return Outcome(jobs, ledger, message=f"crops: {note}" if note else None,
                   result={"model": digest, "crops": crops, "flagged": flagged})


def _prepare(config: EmbedJobConfig) -> dict:
    weights, digest = _load_model(config.weights)  # a wrong file fails here, before the lock and any Spark work
    return {"weights": weights, "digest": digest}


STEP = Step(NAME, reads=("sequences", "boxes"), writes=("embedding_metrics",), work=_work, result=EmbedResult,
            prepare=_prepare)


def run(spark: SparkSession, config: EmbedJobConfig, log: Callable[[str], None] = print) -> EmbedResult:
    """Embed every tracked box of the jobs whose boxes (or weights, settings) changed (`STEP`, `jobs.runner`)."""
    return STEP.run(spark, config, log)
