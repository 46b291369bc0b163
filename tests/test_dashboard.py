"""The HTML dashboard, opened in a real headless Chromium: charts drawn, no JavaScript errors, KPI cards equal to
the SQL views, untrusted names shown as text, and a screenshot."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pyarrow as pa
import pytest

from gtlake.dashboard import build
from gtlake.lakesql import connect

pytestmark = pytest.mark.spark
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAYLOAD = "<img src=x onerror=alert(1)>"


def chromium(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium not found: `make test` installs Debian's chromium (apt-get install chromium)")
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--virtual-time-budget=30000", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def report(pipeline_lake, tmp_path_factory):
    """The page of a copy of the pipeline lake where one queued object's name is an HTML payload."""
    tmp = tmp_path_factory.mktemp("dash")
    lake = tmp / "lake"
    shutil.copytree(pipeline_lake["lake"], lake, ignore=shutil.ignore_patterns("_gtlake"))
    part = next((lake / "review_queue").glob("job_name=*/*.parquet"))
    t = pq.read_table(part)
    names = t.column("object_name").to_pylist()
    names[0] = PAYLOAD
    pq.write_table(t.set_column(t.schema.get_field_index("object_name"), "object_name", pa.array(names)), part)
    _a_later_quality_run_stopped_by_its_gate(lake)
    page = tmp / "report.html"
    page.write_text(build(str(lake)), encoding="utf-8")
    dom = chromium("--dump-dom", page.as_uri()).stdout
    return {"lake": lake, "page": page, "dom": dom, "tmp": tmp}


def _a_later_quality_run_stopped_by_its_gate(lake: Path) -> None:
    """What a quality run stopped by its data-quality gate commits (its findings and its failed runs row), with
    an example value in the finding's detail written by a worker."""
    from datetime import datetime, timezone

    from gtlake.schemas import RUNS, VALIDATIONS

    run_id, now = "29990101T000000Z-abcdef", datetime(2999, 1, 1, tzinfo=timezone.utc)
    rows = [{"run_id": run_id, "step": "quality", "scope": "input", "table_name": "boxes", "column_name": column,
             "rule": rule, "success": ok, "unexpected_count": 0 if ok else 1, "validated_at": now,
             "detail": "" if ok else f"1 of 900 rows break it, e.g. [{PAYLOAD}]"}
            for column, rule, ok in (("width", "values > 0", False), ("height", "values > 0", True))]
    pq.write_table(pa.Table.from_pylist(rows, schema=VALIDATIONS.arrow_schema()), lake / "validations" / f"{run_id}.parquet")
    run = {"run_id": run_id, "job": "quality", "started_at": now, "finished_at": now, "records_in": 0, "records_out": 0,
           "records_rejected": 0, "status": "failed", "input_uri": str(lake), "jobs_processed": [], "counts": "{}",
           "message": "data-quality gate: 2 rules on 1 tables (input boxes), 1 broken; nothing committed"}
    pq.write_table(pa.Table.from_pylist([run], schema=RUNS.arrow_schema()), lake / "runs" / f"{run_id}.parquet")


def test_every_chart_is_drawn_without_javascript_errors(report):
    dom = report["dom"]
    declared = re.findall(r'data-chart="([a-z-]+)"', dom)
    assert len(declared) >= 9 and "rubric-per-worker" in declared
    assert f'data-charts-drawn="{len(declared)}"' in dom
    for cid in declared:  # plotly marks a drawn chart's div and puts its SVG inside
        assert re.search(rf'<div id="{cid}" class="[^"]*js-plotly-plot', dom), cid
    assert dom.count('class="main-svg"') >= len(declared)
    assert re.search(r'<pre id="js-errors"></pre>', dom), re.search(r'<pre id="js-errors">([^<]*)</pre>', dom).group(1)
    page = report["page"].read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # plotly is inlined: the page opens offline


def test_kpi_cards_equal_the_sql_views(report):
    con = connect(str(report["lake"]))
    by_role = con.execute("SELECT * FROM label_quality_kpis").df().set_index("job_role")
    assert set(by_role.index) == {"labeling", "audit"}  # the sample audits its tracking jobs
    views = {**by_role.loc["labeling"].to_dict(), **con.execute("SELECT * FROM worker_kpis").df().iloc[0].to_dict(),
             "post_audit_flagged_share": by_role.loc["audit", "flagged_share"]}
    cards = {k: json.loads(html.unescape(v)) for k, v in re.findall(r'data-kpi="([a-z_]+)" data-value="([^"]*)"',
                                                                      report["dom"])}
    assert set(cards) == {"boxes", "sequences", "flagged_share", "iou_median", "post_audit_flagged_share", "workers",
                          "tasks", "wall_median_s", "adjustment_rate", "gate", "broken_rules"}
    for k, v in cards.items():
        if k not in ("gate", "broken_rules"):
            assert v == pytest.approx(float(views[k]), rel=1e-12), k
    assert (cards["gate"], cards["broken_rules"]) == ("failed", 1)


def test_data_quality_shows_the_last_check_of_each_step(report):
    dom = report["dom"]
    steps = dict(re.findall(r'<tr data-step="([a-z]+)" class="gate-([a-z]+)">', dom))
    assert steps == {"ingest": "passed", "workers": "passed", "embed": "passed", "audit": "passed",
                     "quality": "failed"}
    findings = re.search(r'<table id="validation-findings">.*?</table>', dom, re.S).group(0)
    assert "<td>boxes</td><td>width</td><td>values &gt; 0</td>" in findings and "height" not in findings


def test_untrusted_names_are_text(report):
    dom = report["dom"]
    assert html.escape(PAYLOAD, quote=False) in dom  # shown, as text
    assert not re.search(r'<img[^>]*src="?x', dom)  # never an element
    assert re.search(r'<pre id="js-errors"></pre>', dom)  # and alert() never ran into an error either


def test_screenshot_and_cli(report, tmp_path):
    shot = tmp_path / "dashboard.png"
    chromium("--window-size=1400,4200", f"--screenshot={shot}", report["page"].as_uri())
    assert shot.exists() and shot.stat().st_size > 50_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import sys
    r = subprocess.run([sys.executable, "-m", "gtlake.cli", "dashboard", "--lake", str(report["lake"]), "--out",
                        str(tmp_path / "r.html")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and (tmp_path / "r.html").stat().st_size > 3_000_000, r.stderr
    bad = subprocess.run([sys.executable, "-m", "gtlake.cli", "dashboard", "--lake", str(tmp_path / "none"), "--out",
                          str(tmp_path / "x.html")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no such folder" in bad.stderr
