"""Benchmark: the review page for 500 queue entries of 1080p frames, against decoding those frames alone.

    python bench/bench_review.py [--entries 500] [--sequences 12] [--frames 120] [--data bench-data]

On a sample rendered with --frames-images (bench-data/review-<sequences>x<frames>: its lake ingested and scored,
made if missing), a copy of the lake whose busiest job's queue is widened to --entries entries (real tracked
boxes of the job picked at random, so entries spread over its frames as a long queue does):
  * page: `gtlake review --top N` end to end in this process (queue, boxes and frames from DuckDB, sequence
    files, each frame image read and decoded once, every crop resized and encoded, the page written);
  * decode: every frame image the page needs, read and decoded once with PIL and nothing else (the floor of
    any page that shows those frames).
Prints seconds, the page's size, images decoded, and page / decode. Targets (issue 22): under a minute and under
10 MB for 500 entries.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _lake(data: str, sequences: int, frames: int) -> str:
    root = os.path.join(data, f"review-{sequences}x{frames}")
    lake = os.path.join(root, "lake")
    if os.path.isdir(os.path.join(lake, "review_queue")):
        return root
    shutil.rmtree(root, ignore_errors=True)
    gtlake = [sys.executable, "-m", "gtlake.cli"]
    subprocess.run([*gtlake, "sample", "--out", os.path.join(root, "sample"), "--sequences", str(sequences),
                    "--frames", str(frames), "--frames-images"], check=True, stdout=subprocess.DEVNULL)
    for step in (["ingest", "--input", os.path.join(root, "sample", "output")], ["quality"]):
        subprocess.run([*gtlake, *step, "--lake", lake], check=True, stdout=subprocess.DEVNULL)
    return root


def _widen(lake: str, job: str, n: int, seed: int = 0) -> None:
    """Replace `job`'s queue in `lake` by n entries: real boxes of the job, picked at random."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gtlake.lakesql import connect
    from gtlake.schemas import REVIEW_QUEUE

    con = connect(lake)
    rows = con.execute(f"""SELECT b.sequence_id, b.frame_no, b.frame_file, b.object_id, b.object_name, b.label,
                                  s.source_ref, s.labels_ref
                           FROM boxes b JOIN sequences s ON s.job_name = b.job_name AND s.sequence_id = b.sequence_id
                                                        AND s.labels_read
                           WHERE b.job_name = ? AND b.object_id IS NOT NULL
                           ORDER BY hash(b.sequence_id, b.frame_no, b.object_id, {seed}) LIMIT ?""", [job, n]).fetchall()
    reasons = ["off_path", "size_jump", "low_iou", "missing_box", "id_swap", "class_flip"]
    out = [{"sequence_id": s, "frame_no": f, "frame_file": ff, "object_id": o, "object_name": on, "label": lab,
            "reasons": [reasons[k % len(reasons)]], "score": 5.0 - k / n, "rank": k + 1, "source_ref": sr,
            "labels_ref": lr} for k, (s, f, ff, o, on, lab, sr, lr) in enumerate(rows)]
    folder = os.path.join(lake, "review_queue", f"job_name={job}")
    shutil.rmtree(folder)
    os.makedirs(folder)
    schema = pa.schema([f for f in REVIEW_QUEUE.arrow_schema() if f.name != "job_name"])
    pq.write_table(pa.Table.from_pylist(out, schema=schema), os.path.join(folder, "part-00000.parquet"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=500)
    ap.add_argument("--sequences", type=int, default=12)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--data", default=os.path.join(REPO, "bench-data"))
    args = ap.parse_args()

    from concurrent.futures import ThreadPoolExecutor

    from gtlake import review, storage
    from gtlake.frames import read_image
    from gtlake.lakesql import connect

    root = _lake(args.data, args.sequences, args.frames)
    lake = os.path.join(root, "lake-wide")
    shutil.rmtree(lake, ignore_errors=True)
    shutil.copytree(os.path.join(root, "lake"), lake)
    con = connect(lake)
    job = con.execute("""SELECT b.job_name FROM boxes b JOIN jobs j USING (job_name) WHERE j.role = 'labeling'
                         AND b.object_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""").fetchone()[0]
    _widen(lake, job, args.entries)
    frames_root = os.path.join(root, "sample", "input")
    out = os.path.join(root, "review.html")

    t0 = time.monotonic()
    text, stats = review.build(lake, job, args.entries, frames_root)
    storage.write_text_atomic(out, text)
    page_s = time.monotonic() - t0

    # The floor: the same images, read and decoded once each, nothing else.
    con = connect(lake)
    entries, _ = review.queue_entries(con, job, args.entries)
    boxes, files = review._near(con, job, entries)
    items = review.plan(entries, boxes, files)
    prefixes, _ = review._prefixes({e["source_ref"] for e in entries}, frames_root)
    uris = sorted({prefixes[it["source_ref"]] + p.frame_file for it in items for p in it["panels"] if p.frame_file})
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=review.THREADS) as pool:
        decoded = sum(not isinstance(img, str) for img in pool.map(read_image, uris))
    decode_s = time.monotonic() - t0

    size_mb = os.path.getsize(out) / 1e6
    print(f"review page bench {datetime.now(timezone.utc):%Y-%m-%d} ({os.cpu_count()} cores), job {job}:")
    print(f"  entries {stats['entries']}, panels {stats['panels']} ({stats['drawn']} drawn from images), "
          f"distinct frame images {stats['images']} ({stats['read']} read)")
    print(f"  page:   {page_s:6.1f} s, {size_mb:.1f} MB ({size_mb * 1e3 / max(1, stats['entries']):.1f} kB an entry)")
    print(f"  decode: {decode_s:6.1f} s ({decoded} images, {decoded / max(decode_s, 1e-9):.0f} a second)")
    print(f"  page / decode: {page_s / max(decode_s, 1e-9):.2f}x; targets: < 60 s, < 10 MB")


if __name__ == "__main__":
    main()
