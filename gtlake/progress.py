"""Progress of a long step, from Spark's own status tracker: how many tasks of the running stages are done.

Every step's work runs inside `spark_progress`. A daemon thread on the driver polls `statusTracker()`; on a
terminal it keeps one line up to date on stderr (`\\r`, cleared at the end), in a log (Glue, CloudWatch, a
redirected run) it writes a plain line at most every `every_s` seconds, only when something moved. A step whose
Spark work takes less than the first interval prints nothing at all.
"""
from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, TextIO

TERMINAL_EVERY_S = 1.0
LOG_EVERY_S = 30.0


@dataclass(frozen=True)
class Snapshot:
    """The running stages' tasks at one moment."""

    stages: int
    done: int
    total: int


def snapshot(tracker) -> Snapshot:  # noqa: ANN001 - pyspark StatusTracker
    """Tasks done and in all of the active stages (a stage that finished between the two calls is skipped)."""
    done = total = stages = 0
    for sid in tracker.getActiveStageIds():
        info = tracker.getStageInfo(sid)
        if info is None:
            continue
        stages += 1
        done += info.numCompletedTasks
        total += info.numTasks
    return Snapshot(stages, done, total)


def line(what: str, snap: Snapshot, elapsed_s: float) -> str:
    """`<what>: <done>/<total> tasks of <n> stage(s), <elapsed>s`."""
    stages = f"{snap.stages} stage{'s' if snap.stages != 1 else ''}"
    return f"{what}: {snap.done}/{snap.total} tasks of {stages}, {elapsed_s:.0f}s"


@contextmanager
def spark_progress(spark, what: str, stream: TextIO | None = None, every_s: float | None = None,  # noqa: ANN001
                   log: Callable[[str], None] | None = None) -> Iterator[None]:
    """Report the Spark work done inside the block: on a terminal one line kept up to date on `stream` (stderr),
    elsewhere a line through `log` (or on `stream`) every `every_s` seconds while stages run."""
    stream = stream or sys.stderr
    terminal = bool(getattr(stream, "isatty", lambda: False)())
    every = every_s if every_s is not None else (TERMINAL_EVERY_S if terminal else LOG_EVERY_S)
    tracker = spark.sparkContext.statusTracker()
    stop = threading.Event()
    shown = {"width": 0}
    t0 = time.monotonic()

    def poll() -> None:
        last = None
        while not stop.wait(every):
            try:
                snap = snapshot(tracker)
            except Exception:  # noqa: BLE001 - the context is stopping; progress is only ever a courtesy
                return
            if snap.stages == 0 or snap == last:
                continue
            last = snap
            text = line(what, snap, time.monotonic() - t0)
            if terminal:
                stream.write("\r" + text.ljust(shown["width"]))
                shown["width"] = len(text)
                stream.flush()
            elif log is not None:
                log(text)
            else:
                stream.write(text + "\n")
                stream.flush()

    thread = threading.Thread(target=poll, name=f"gtlake-progress-{what}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        if terminal and shown["width"]:
            stream.write("\r" + " " * shown["width"] + "\r")
            stream.flush()
