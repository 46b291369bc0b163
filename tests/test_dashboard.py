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
from tests.conftest import CHROMIUM

pytestmark = pytest.mark.spark
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
                          "tasks", "wall_median_s", "adjustment_rate", "gate", "broken_rules", "refused_records",
                          "refused_jobs"}
    refused = con.execute("SELECT count(*), count(DISTINCT source_uri) FILTER (record_kind = 'job_folder') "
                          "FROM rejected").fetchone()
    assert (cards["refused_records"], cards["refused_jobs"]) == refused
    for k, v in cards.items():
        if k not in ("gate", "broken_rules", "refused_records", "refused_jobs"):
            assert v == pytest.approx(float(views[k]), rel=1e-12), k
    assert (cards["gate"], cards["broken_rules"]) == ("failed", 1)


def test_data_quality_shows_the_last_check_of_each_step(report):
    dom = report["dom"]
    steps = dict(re.findall(r'<tr data-step="([a-z]+)" class="gate-([a-z]+)">', dom))
    assert steps == {"ingest": "passed", "workers": "passed", "embed": "passed", "audit": "passed", "verdicts": "passed",
                     "predictions": "passed", "quality": "failed"}
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


@pytest.fixture(scope="module")
def tab(report, browser):
    """The report page open in its own tab, with the page errors it raised."""
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report["page"].as_uri())
    page.wait_for_selector("body[data-charts-drawn]")
    yield page, errors
    page.close()


def _cards(page) -> dict:
    return {k: json.loads(v) for k, v in page.eval_on_selector_all(
        "[data-kpi]", "els => els.map(e => [e.dataset.kpi, e.dataset.value])")}


def _traces(page, cid: str) -> list[dict]:
    return page.evaluate(f"""Array.from(document.getElementById('{cid}').data)
        .map(t => ({{name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])}}))""")


def _filter(page, **values) -> None:
    page.click("#f-clear")
    for key, value in values.items():
        sel = {"job": "#f-job", "worker": "#f-worker", "cls": "#f-class"}.get(key)
        if sel:
            page.select_option(sel, value)
        else:
            page.fill({"start": "#f-from", "end": "#f-to"}[key], value)
            page.dispatch_event({"start": "#f-from", "end": "#f-to"}[key], "change")


SEQ_WORKER = """(SELECT job_name, sequence_id, max_by(worker_id, submitted_at) AS worker_id FROM worker_responses
                 GROUP BY ALL)"""
SEQ_DAY = "(SELECT job_name, sequence_id, CAST(min(creation_time) AS date) AS day FROM sequences GROUP BY ALL)"


def _label_kpis(con, where: str) -> dict:
    b, s, f, med = con.execute(f"""
        SELECT count(*), count(DISTINCT m.job_name || '/' || m.sequence_id), count_if(len(m.flags) > 0) / count(*),
               median(m.iou_prev)
        FROM box_metrics m JOIN jobs j USING (job_name) LEFT JOIN {SEQ_WORKER} w USING (job_name, sequence_id)
        LEFT JOIN {SEQ_DAY} d USING (job_name, sequence_id)
        WHERE j.role <> 'audit' AND {where}""").fetchone()
    return {"boxes": b, "sequences": s, "flagged_share": f, "iou_median": med}


def test_filters_set_the_kpi_cards_to_the_sql_views_filtered_the_same_way(tab, report):
    page, errors = tab
    con = connect(str(report["lake"]))
    job, worker = con.execute(f"""SELECT m.job_name, w.worker_id FROM box_metrics m JOIN jobs j USING (job_name)
                                  JOIN {SEQ_WORKER} w USING (job_name, sequence_id) WHERE j.role = 'labeling'
                                  GROUP BY ALL ORDER BY count(*) DESC, 1, 2 LIMIT 1""").fetchone()
    label = con.execute("SELECT label FROM box_metrics WHERE job_name = ? GROUP BY 1 ORDER BY count(*), 1 LIMIT 1",
                        [job]).fetchone()[0]
    day = str(con.execute(f"SELECT min(day) FROM {SEQ_DAY} WHERE job_name = ?", [job]).fetchone()[0])
    for filters, where, task_where in (
            ({"job": job}, f"m.job_name = '{job}'", f"job_name = '{job}'"),
            ({"job": job, "worker": worker}, f"m.job_name = '{job}' AND w.worker_id = '{worker}'",
             f"job_name = '{job}' AND worker_id = '{worker}'"),
            ({"cls": label}, f"m.label = '{label}'", "true"),
            ({"start": day, "end": day}, f"d.day = DATE '{day}'", f"CAST(finished_at AS date) = DATE '{day}'")):
        _filter(page, **filters)
        cards, want = _cards(page), _label_kpis(con, where)
        assert (cards["boxes"], cards["sequences"]) == (want["boxes"], want["sequences"]), filters
        assert cards["flagged_share"] == pytest.approx(want["flagged_share"], rel=1e-9), filters
        assert abs(cards["iou_median"] - want["iou_median"]) <= 0.01, filters  # read from 0.01 bins
        n, workers, wall = con.execute(f"""SELECT count(*), count(DISTINCT worker_id),
            median(wall_seconds) FILTER (outcome = 'submitted') FROM worker_tasks WHERE {task_where}""").fetchone()
        assert (cards["tasks"], cards["workers"]) == (n, workers), filters
        assert cards["wall_median_s"] == pytest.approx(wall), filters
        if "cls" not in filters and "start" not in filters:
            adj = con.execute(f"""SELECT (sum(adjusted_boxes) + sum(added)) / nullif(sum(audited_boxes) + sum(added), 0)
                                  FROM worker_quality WHERE worker_id IS NOT NULL AND {task_where}""").fetchone()[0]
            assert cards["adjustment_rate"] == pytest.approx(adj), filters
    said = page.text_content("#f-said")
    assert said.startswith("filtered: from") and day in said
    _filter(page)
    by_role = con.execute("SELECT * FROM label_quality_kpis").df().set_index("job_role")
    assert _cards(page)["iou_median"] == pytest.approx(by_role.loc["labeling", "iou_median"], rel=1e-12)  # exact again
    assert page.text_content("#f-said") == "showing everything"
    assert not errors


def test_filters_redraw_the_charts_and_the_tables(tab, report):
    page, _ = tab
    con = connect(str(report["lake"]))
    labels = sorted(r[0] for r in con.execute("SELECT DISTINCT label FROM box_metrics").fetchall())
    assert sorted(t["name"] for t in _traces(page, "iou-by-class")) == labels
    _filter(page, cls=labels[0])
    assert [t["name"] for t in _traces(page, "iou-by-class")] == [labels[0]]
    shown = page.eval_on_selector_all("#review-queue tbody tr:not([hidden])", "rs => rs.map(r => r.dataset.label)")
    assert set(shown) <= {labels[0]}
    job = con.execute("SELECT job_name FROM jobs WHERE role = 'labeling' ORDER BY 1 LIMIT 1").fetchone()[0]
    _filter(page, job=job)
    (points,) = [t for t in _traces(page, "flagged-per-job") if t["x"]]
    assert len(points["x"]) == 1  # one point per job, no line across jobs
    want = con.execute("SELECT flagged_share FROM flags_over_time WHERE job_name = ?", [job]).fetchone()[0]
    assert points["y"][0] == pytest.approx(want)
    workers = {r[0] for r in con.execute("SELECT DISTINCT worker_id FROM worker_tasks WHERE job_name = ?",
                                         [job]).fetchall()}
    names = {t["name"] for t in _traces(page, "tasks-per-day")}
    assert len(names) == len(workers)
    _filter(page)
    # One short label per worker, the same on every chart, full ids on hover.
    bars = set(_traces(page, "wall-vs-active")[0]["x"])
    assert bars <= set(page.evaluate("Object.values(JSON.parse(document.getElementById('facts').textContent).workers)"))
    assert all(len(b) <= 9 for b in bars)


def test_the_precision_chart_is_the_check_precision_view(tab, report):
    page, _ = tab
    con = connect(str(report["lake"]))
    want = dict(con.execute("""SELECT reason, sum(mistakes) / nullif(sum(mistakes) + sum(fine), 0)
                               FROM check_precision GROUP BY 1""").fetchall())
    assert want  # the pipeline lake holds a simulated reviewer's verdicts
    (bars,) = _traces(page, "check-precision")
    got = dict(zip(bars["x"], bars["y"]))
    assert set(got) == set(want)
    for reason, p in want.items():
        assert got[reason] == (pytest.approx(p) if p is not None else None), reason


def test_the_refused_records_panel_counts_each_reason(report):
    con = connect(str(report["lake"]))
    want = con.execute("SELECT step, record_kind, reason_code, count(*) FROM rejected GROUP BY ALL").fetchall()
    table = re.search(r'<table id="refused-counts">.*?</table>', report["dom"], re.S)
    if not want:
        assert table is None and "Nothing refused" in report["dom"]
        return
    rows = re.findall(r"<tr><td>([a-z_]+)</td><td>([a-z_]+)</td><td>([a-z_]+)</td><td>(\d+)</td>", table.group(0))
    assert sorted((a, b, c, int(n)) for a, b, c, n in rows) == sorted(want)


def test_worker_labels_are_short_unique_and_the_same_everywhere():
    from gtlake.dashboard import worker_labels

    ids = ["private.us-east-1.aa0111111", "private.us-east-1.bb0111111", "private.us-east-1.cc0222222", "w1"]
    assert worker_labels(ids) == {"private.us-east-1.aa0111111": "\u2026a0111111", "private.us-east-1.bb0111111":
                                  "\u2026b0111111", "private.us-east-1.cc0222222": "\u2026222222", "w1": "w1"}
    assert worker_labels(reversed(ids + [None])) == worker_labels(ids)


def test_refused_job_folders_keep_the_gate_from_saying_passed(pipeline_lake, tmp_path):
    """A lake whose gates all passed but where whole job folders were refused does not show a green "passed"."""
    from gtlake.schemas import REJECTED

    lake = tmp_path / "lake"
    shutil.copytree(pipeline_lake["lake"], lake, ignore=shutil.ignore_patterns("_gtlake"))
    folder = lake / "rejected" / "job_name=_input" / "step=ingest"
    folder.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([f for f in REJECTED.arrow_schema() if f.name not in ("job_name", "step")])
    pq.write_table(pa.Table.from_pylist([
        {"run_id": "r", "source_uri": f"s3://gt/out/job-{k}/", "locator": "manifest", "record_kind": "job_folder",
         "reason_code": "empty_manifest", "detail": "no lines", "record": None} for k in range(5)], schema=schema),
        folder / "part-refused.parquet")
    page = build(str(lake))
    assert re.search(r'data-kpi="gate" data-value="&quot;refused input&quot;"', page)
    assert re.search(r'data-kpi="refused_jobs" data-value="5"', page)
    assert "5 job folders were refused whole" in page


def test_a_large_lake_gets_coarser_facts_and_the_same_counts(report, browser, monkeypatch, tmp_path):
    """Past MAX_SEQ_ROWS the label facts are per (job, class, worker, day): boxes and flagged shares stay exact,
    sequences are summed over classes, and the page says so."""
    import gtlake.dashboard as dashboard

    monkeypatch.setattr(dashboard, "MAX_SEQ_ROWS", 1)
    page_file = tmp_path / "coarse.html"
    page_file.write_text(dashboard.build(str(report["lake"])), encoding="utf-8")
    con = connect(str(report["lake"]))
    job = con.execute("SELECT job_name FROM jobs WHERE role = 'labeling' ORDER BY boxes DESC, 1 LIMIT 1").fetchone()[0]
    want = _label_kpis(con, f"m.job_name = '{job}'")
    per_class = con.execute("""SELECT sum(n) FROM (SELECT count(DISTINCT sequence_id) AS n FROM box_metrics
                               WHERE job_name = ? GROUP BY label)""", [job]).fetchone()[0]
    tab = browser.new_page()
    tab.goto(page_file.as_uri())
    tab.wait_for_selector("body[data-charts-drawn]")
    _filter(tab, job=job)
    cards, said = _cards(tab), tab.text_content("#f-said")
    tab.close()
    assert cards["boxes"] == want["boxes"] and cards["flagged_share"] == pytest.approx(want["flagged_share"])
    assert cards["sequences"] == per_class >= want["sequences"]
    assert "sequences are counted per class" in said
