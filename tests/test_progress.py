"""Progress lines from Spark's status tracker: plain lines in a log, one line kept up to date on a terminal."""
from __future__ import annotations

import io
import re
import time

import pytest

from gtlake.progress import Snapshot, line, spark_progress

pytestmark = pytest.mark.spark


def _slow(rows):
    time.sleep(0.4)
    yield sum(1 for _ in rows)


def test_a_log_gets_plain_lines_of_tasks_done(spark):
    said: list[str] = []
    with spark_progress(spark, "quality", every_s=0.05, log=said.append):
        assert sum(spark.sparkContext.parallelize(range(80), 8).mapPartitions(_slow).collect()) == 80
    assert said, "a run of several seconds says how far it is"
    counts = [tuple(map(int, re.match(r"quality: (\d+)/(\d+) tasks of 1 stage, \d+s$", s).groups())) for s in said]
    assert all(total == 8 for _, total in counts) and [d for d, _ in counts] == sorted(d for d, _ in counts)
    assert len(set(said)) == len(said)  # a line only when something moved


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_line_rewritten_then_cleared(spark):
    out = _Terminal()
    with spark_progress(spark, "ingest", stream=out, every_s=0.05):
        spark.sparkContext.parallelize(range(40), 4).mapPartitions(_slow).collect()
    text = out.getvalue()
    assert "\n" not in text and text.count("\r") >= 2 and "ingest: " in text and text.endswith("\r")
    assert text.rsplit("\r", 2)[-2].strip() == ""  # the last write blanks the line


def test_quick_work_says_nothing(spark):
    said: list[str] = []
    with spark_progress(spark, "embed", every_s=30, log=said.append):
        spark.range(10).count()
    assert said == []
    assert line("embed", Snapshot(2, 3, 10), 61.4) == "embed: 3/10 tasks of 2 stages, 61s"
