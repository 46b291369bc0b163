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
    page = tmp / "report.html"
    page.write_text(build(str(lake)), encoding="utf-8")
    dom = chromium("--dump-dom", page.as_uri()).stdout
    return {"lake": lake, "page": page, "dom": dom, "tmp": tmp}


def test_every_chart_is_drawn_without_javascript_errors(report):
    dom = report["dom"]
    declared = re.findall(r'data-chart="([a-z-]+)"', dom)
    assert len(declared) >= 8
    assert f'data-charts-drawn="{len(declared)}"' in dom
    for cid in declared:  # plotly marks a drawn chart's div and puts its SVG inside
        assert re.search(rf'<div id="{cid}" class="[^"]*js-plotly-plot', dom), cid
    assert dom.count('class="main-svg"') >= len(declared)
    assert re.search(r'<pre id="js-errors"></pre>', dom), re.search(r'<pre id="js-errors">([^<]*)</pre>', dom).group(1)
    page = report["page"].read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # plotly is inlined: the page opens offline


def test_kpi_cards_equal_the_sql_views(report):
    con = connect(str(report["lake"]))
    views = {**con.execute("SELECT * FROM label_quality_kpis").df().iloc[0].to_dict(),
             **con.execute("SELECT * FROM worker_kpis").df().iloc[0].to_dict()}
    cards = {k: json.loads(html.unescape(v)) for k, v in re.findall(r'data-kpi="([a-z_]+)" data-value="([^"]*)"',
                                                                      report["dom"])}
    assert set(cards) == {"boxes", "sequences", "flagged_share", "iou_median", "workers", "tasks", "wall_median_s",
                          "adjustment_rate"}
    for k, v in cards.items():
        assert v == pytest.approx(float(views[k]), rel=1e-12), k


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
