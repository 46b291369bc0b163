"""The sample command: a realistic Ground Truth output tree with planted mistakes."""
from __future__ import annotations

import argparse
import os
import time

from gtlake.cli.common import positive, seed


def add_commands(sub: argparse._SubParsersAction, commands: dict) -> None:
    """Add this group's subcommands to `sub` (and to `commands`, name -> parser)."""
    s = sub.add_parser("sample", help="write a realistic Ground Truth output tree with planted mistakes",
                       description="Write sample Ground Truth output (video tracking jobs, one detection job, "
                                   "an audit job, worker responses, a worker-activity log export) under OUT, and "
                                   "the planted mistakes to OUT/planted.jsonl.")
    s.add_argument("--out", required=True, help="folder to write (created if missing)")
    s.add_argument("--sequences", type=positive, default=12, help="videos labeled by the tracking jobs (default 12)")
    s.add_argument("--frames", type=positive, default=120, help="frames per video (default 120)")
    s.add_argument("--objects", type=positive, default=10, help="objects simulated per video (default 10)")
    s.add_argument("--workers", type=positive, default=6, help="labelers in the work team (default 6)")
    s.add_argument("--seed", type=seed, default=7, help="random seed; same seed, same tree (default 7)")
    s.add_argument("--frames-images", action="store_true",
                   help="also render every frame as a JPEG beside its sequence file (OUT/input/videos/...), "
                        "for `gtlake embed`; about 25 ms a frame")
    from gtlake.sample.scene import REGIME_NAMES

    s.add_argument("--regime", choices=("mixed", *REGIME_NAMES), default="mixed",
                   help="kind of footage: street, sports (small fast objects), aerial (small slow ones), pan_zoom "
                        "(a moving camera), low_fps (6 fps), keyframes (sparse annotator keyframes), occlusion "
                        "(objects partly hidden); mixed (default): each video one of them in turn")
    s.add_argument("--omissions", type=_rate, default=0.6,
                   help="objects left out of a tracking video's labels (a whole track, or its first or last frames), "
                        "on average (default 0.6; 0: none); found only by a model's predictions (gtlake predictions)")
    s.set_defaults(handler=_sample)
    commands["sample"] = s


def _rate(text: str) -> float:
    """A finite number from 0 to 10."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value <= 10:  # (also refuses nan and inf)
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 10, got {text}")
    return value


def _sample(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from gtlake.sample.generate import SampleParams, generate

    t0 = time.monotonic()
    params = SampleParams(sequences=args.sequences, frames=args.frames, objects=args.objects,
                          workers=args.workers, seed=args.seed, frames_images=args.frames_images, regime=args.regime,
                          omissions=args.omissions)
    print(f"sample: writing {params} to {args.out}", flush=True)
    summary = generate(args.out, params)
    print(f"sample: {summary['jobs']} jobs, {summary['sequences']} sequences, {summary['boxes']} boxes, "
          f"{summary['planted']} planted mistakes in {time.monotonic() - t0:.1f}s")
    print(f"  Ground Truth output: {os.path.join(os.path.abspath(args.out), 'output')}")
    print(f"  planted mistakes:    {os.path.join(os.path.abspath(args.out), 'planted.jsonl')}")
    if summary["frame_images"]:
        print(f"  frame images:        {summary['frame_images']} under {os.path.join(os.path.abspath(args.out), 'input')}"
              " (--frames-root for gtlake embed)")
    return 0
