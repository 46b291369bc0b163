"""Benchmark: crops/s of the appearance check, against the original method's per-crop loop, in one process.

    python bench/bench_embed.py [--sequences 3] [--frames 60] [--crop-size 224] [--data bench-data] [--device cpu]

On a sample rendered with --frames-images (bench-data/embed-<sequences>x<frames>, made if missing), with a
seeded ResNet-18 (speed does not depend on the weights' values):
  * job: `gtlake embed` end to end (frame decode, crop, resize, batched inference in mapInPandas, distances
    and flags per track, staged, checked, committed), its ledger cleared first so it really runs;
  * batched: the same crops through `Embedder` in this process (64 a forward pass, torch on every core):
    the model's own throughput, what the job's Spark and I/O overhead is measured against;
  * naive: the original notebook's way, one crop at a time (crop by array slicing, resize, one forward pass
    each), on the first crops until 20 s pass; its crops/s is extrapolated from those.
Prints crops/s of each and the ratios. With --device cuda (where a GPU is) the job and the batched model run
there; the naive loop stays as the notebook ran it.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import time
from datetime import datetime, timezone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sequences", type=int, default=3)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--crop-size", type=int, default=224)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--data", default=os.path.join(REPO, "bench-data"))
    args = ap.parse_args()

    import numpy as np
    import torch
    from PIL import Image

    from gtlake.jobs.embed import EmbedJobConfig, run as embed
    from gtlake.jobs.ingest import IngestConfig, run as ingest
    from gtlake.sample.generate import SampleParams, generate
    from gtlake.spark import get_spark
    from gtlake.udfs.appearance import AppearanceConfig
    from gtlake.frames import decode_image
    from gtlake.udfs.crops import crop_boxes
    from gtlake.udfs.embeddings import Embedder, load_resnet18, pick_device, seeded_state_dict

    root = os.path.join(args.data, f"embed-{args.sequences}x{args.frames}")
    sample, lake, weights = os.path.join(root, "sample"), os.path.join(root, "lake"), os.path.join(root, "w.pth")
    spark = get_spark("bench-embed")
    if not os.path.exists(os.path.join(root, "ready")):
        shutil.rmtree(root, ignore_errors=True)
        generate(sample, SampleParams(sequences=args.sequences, frames=args.frames, seed=7, frames_images=True))
        torch.save(seeded_state_dict(0), weights)
        ingest(spark, IngestConfig(input=os.path.join(sample, "output"), lake=lake), log=lambda m: None)
        open(os.path.join(root, "ready"), "w").close()
    cfg = AppearanceConfig(crop_size=args.crop_size)

    # job: end to end, as `gtlake embed` runs it (without the quality re-rank)
    shutil.rmtree(os.path.join(lake, "_gtlake", "ledger", "embed"), ignore_errors=True)
    t0 = time.monotonic()
    result = embed(spark, EmbedJobConfig(lake=lake, weights=weights, frames_root=os.path.join(sample, "input"),
                                         appearance=cfg, device=args.device), log=lambda m: None)
    job_s = time.monotonic() - t0
    n_crops = result.crops.get("ok", 0)

    # The crops of the first-level tracking jobs, read here once for the in-process measurements.
    import pandas as pd

    metrics = pd.read_parquet(os.path.join(lake, "embedding_metrics"))
    metrics = metrics[metrics["crop_status"] == "ok"]
    boxes = pd.read_parquet(os.path.join(lake, "boxes"), columns=["job_name", "sequence_id", "frame_no", "object_id",
                                                                   "left", "top", "width", "height"])
    rows = metrics.merge(boxes.astype({"job_name": str}), on=["job_name", "sequence_id", "frame_no", "object_id"])
    rows = rows[~rows["job_name"].str.endswith("-audit")].head(1500)
    crops = []
    for uri, g in rows.groupby("image_uri", sort=False):
        c, _, ok = crop_boxes(decode_image(open(uri, "rb").read()), g["left"], g["top"], g["width"], g["height"],
                              args.crop_size)
        crops.append(c[ok])
    crops = np.concatenate(crops)
    buf = io.BytesIO()
    torch.save(seeded_state_dict(0), buf)
    model = load_resnet18(buf.getvalue())
    torch.set_num_threads(os.cpu_count() or 1)
    emb = Embedder(model, pick_device(args.device), cfg.batch_size)
    emb.embed(crops[:8])  # warm-up
    t0 = time.monotonic()
    emb.embed(crops)
    batched_s = time.monotonic() - t0

    # naive: the notebook's loop: slice the frame array, resize, one forward pass per crop
    cpu_model = load_resnet18(buf.getvalue())
    t0, done = time.monotonic(), 0
    images: dict[str, np.ndarray] = {}
    for r in rows.itertuples():
        img = images.setdefault(r.image_uri, np.array(Image.open(r.image_uri)))
        crop = img[int(r.top):int(r.top + r.height), int(r.left):int(r.left + r.width), :]
        x = np.array(Image.fromarray(crop).resize((args.crop_size, args.crop_size)))
        with torch.no_grad():
            cpu_model.features(torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32) / 255.0))
        done += 1
        if time.monotonic() - t0 > 20:
            break
    naive_s = time.monotonic() - t0

    job_rate, batched_rate, naive_rate = n_crops / job_s, len(crops) / batched_s, done / naive_s
    out = {"date": datetime.now(timezone.utc).date().isoformat(), "device": str(pick_device(args.device)),
           "cpus": os.cpu_count(), "torch": torch.__version__, "crop_size": args.crop_size,
           "job": {"crops": n_crops, "seconds": round(job_s, 1), "crops_per_s": round(job_rate, 1),
                   "flagged": result.flagged},
           "batched_model": {"crops": int(len(crops)), "seconds": round(batched_s, 1), "crops_per_s": round(batched_rate, 1)},
           "naive_loop": {"crops": done, "seconds": round(naive_s, 1), "crops_per_s": round(naive_rate, 1)},
           "job_vs_naive": round(job_rate / naive_rate, 2), "job_vs_batched_model": round(job_rate / batched_rate, 2)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
