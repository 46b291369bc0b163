"""`gtlake dashboard`: the Label quality, Worker performance, Audits, Refused records and Data quality sheets as
one self-contained HTML page, with filters (job, date range, worker, class) that re-draw every chart.

Data comes from the SQL views (DuckDB over the lake, `gtlake.lakesql`), charts are plotly with its JavaScript
inlined (no network when the page is viewed). Everything from the lake is untrusted: table cells are
HTML-escaped, chart data travels as JSON with `<`, `>` and `&` escaped, and chart labels are escaped for
plotly's own HTML-like markup. Large lakes stay viewable: distributions are aggregated in SQL, the heat map
shows one sequence with at most HEAT_OBJECTS tracks and HEAT_FRAMES frame columns, tables are capped, and the
page says when something was cut.
"""
from __future__ import annotations

import html
from datetime import datetime, timezone
from decimal import Decimal

from gtlake.safejson import for_script

QUEUE_ROWS = 200
HEAT_OBJECTS = 40
HEAT_FRAMES = 400
MAX_WORKERS = 30
IOU_BINS = 100  # the IoU histograms the filters re-count (a filtered median is read to 0.01)
MAX_TASK_ROWS = 100_000  # worker tasks shipped to the page for its filters; beyond, the page says it is cut
MAX_SEQ_ROWS = 20_000  # (sequence, class) rows of label facts; beyond, they are per (job, class, worker, day)
# Low IoU red, high green (ColorBrewer RdYlGn; plotly.js has no such named scale, so it is spelled out).
_RED_TO_GREEN = [[0.0, "rgb(165,0,38)"], [0.25, "rgb(244,109,67)"], [0.5, "rgb(254,224,139)"],
                 [0.75, "rgb(166,217,106)"], [1.0, "rgb(0,104,55)"]]


def _label(text: object) -> str:
    """A string for plotly labels: its pseudo-HTML (<b>, <a>, ...) shown as text."""
    return html.escape("" if text is None else str(text), quote=False)


def _clean(values) -> list:  # noqa: ANN001
    out = []
    for v in values:
        try:
            bad = v is None or v != v  # NaN
        except (TypeError, ValueError):
            bad = False
        out.append(None if bad else (v.item() if hasattr(v, "item") else v))
    return out


def _num(v: object, fmt: str) -> str:
    return "–" if v is None or v != v else format(v, fmt)


class _Page:
    def __init__(self) -> None:
        self.charts: list[tuple[str, dict]] = []
        self.parts: list[str] = []

    def chart(self, cid: str, title: str, data: list[dict], layout: dict | None = None, note: str = "") -> None:
        lay = {"title": {"text": title}, "margin": {"l": 60, "r": 20, "t": 50, "b": 60}, "height": 380, **(layout or {})}
        self.charts.append((cid, {"data": data, "layout": lay}))
        extra = f'<p class="note">{html.escape(note)}</p>' if note else ""
        self.parts.append(f'<div class="card chart"><div id="{cid}" class="plot" data-chart="{cid}"></div>{extra}</div>')

    def filtered(self, cid: str, note: str = "") -> None:
        """A chart the page's script draws from the facts, and re-draws when a filter changes."""
        extra = f'<p class="note">{html.escape(note)}</p>' if note else ""
        self.parts.append(f'<div class="card chart"><div id="{cid}" class="plot" data-chart="{cid}" '
                          f'data-filtered="1"></div><p class="note" id="{cid}-said"></p>{extra}</div>')

    def empty(self, title: str, why: str) -> None:
        self.parts.append(f'<div class="card"><h3>{html.escape(title)}</h3><p class="note">{html.escape(why)}</p></div>')


def _kpis(items: list[tuple[str, str, object, str]]) -> str:
    cells = "".join(
        f'<div class="kpi" data-kpi="{key}" data-value="{html.escape(for_script(_clean([v])[0]))}"><div class="kpi-value">'
        f'{html.escape(shown)}</div><div class="kpi-label">{html.escape(label)}</div></div>'
        for key, label, v, shown in items)
    return f'<div class="kpis">{cells}</div>'


def worker_labels(ids) -> dict[str, str]:  # noqa: ANN001 - an iterable of worker ids
    """One short label per worker, the same on every chart: the id's last 6 characters (more where two workers
    would share them), with a leading ellipsis when cut."""
    ids = sorted({str(i) for i in ids if i is not None})
    out: dict[str, str] = {}
    for n in range(6, 65):
        tails: dict[str, list[str]] = {}
        for i in ids:
            if i not in out:
                tails.setdefault(i[-n:], []).append(i)
        for tail, owners in tails.items():
            if len(owners) == 1:
                out[owners[0]] = tail if len(owners[0]) <= n else "\u2026" + tail
        if len(out) == len(ids):
            break
    return {i: out.get(i, i) for i in ids}


def _facts(con) -> dict:  # noqa: ANN001 - duckdb connection
    """What the page's filters re-draw every chart from: rows at the finest grain each chart needs, with the
    job, day, worker and class they are filtered on (README: Dashboards)."""
    def rows(sql: str) -> list[list]:
        return [[float(v) if isinstance(v, Decimal) else v for v in _clean(r)] for r in con.execute(sql).fetchall()]

    base = """WITH w AS (SELECT job_name, sequence_id, max_by(worker_id, submitted_at) AS worker_id
                           FROM worker_responses GROUP BY ALL),
                   d AS (SELECT job_name, sequence_id, CAST(CAST(min(creation_time) AS date) AS varchar) AS day
                         FROM sequences GROUP BY ALL),
                   m AS (SELECT m.*, w.worker_id, d.day FROM box_metrics m LEFT JOIN w USING (job_name, sequence_id)
                         LEFT JOIN d USING (job_name, sequence_id))"""
    n_seq = con.execute(f"{base} SELECT count(*) FROM (SELECT DISTINCT job_name, sequence_id, label FROM m)").fetchone()[0]
    # Per sequence and class, where the lake is small enough; else per job, class, worker and day (the sequence
    # count is then summed over classes, and the page says so).
    coarse = n_seq > MAX_SEQ_ROWS
    key = "NULL" if coarse else "sequence_id"
    seq = rows(f"""{base} SELECT job_name, {key}, label, worker_id, day, count(*) AS boxes,
                          count_if(len(flags) > 0) AS flagged, count(DISTINCT sequence_id) AS sequences
                   FROM m GROUP BY ALL ORDER BY ALL""")
    hist: dict[tuple, list] = {}
    for *k, b, n in con.execute(f"""{base}
            SELECT job_name, {key}, label, worker_id, day, least(floor(iou_prev * {IOU_BINS}), {IOU_BINS - 1})::int,
                   count(*)
            FROM m WHERE iou_prev IS NOT NULL GROUP BY ALL ORDER BY ALL""").fetchall():
        hist.setdefault(tuple(k), []).append([b, n])
    seq = [r[:7] + [hist.get(tuple(r[:5]), []), r[7]] for r in seq]
    jobs = rows("""SELECT j.job_name, coalesce(j.role, 'labeling'),
                          CAST((SELECT CAST(min(creation_time) AS date) FROM sequences s
                                WHERE s.job_name = j.job_name AND NOT s.inherited) AS varchar)
                   FROM jobs j ORDER BY 1""")
    tasks = rows("""SELECT job_name, worker_id, CAST(CAST(finished_at AS date) AS varchar), outcome, wall_seconds,
                           active_seconds FROM worker_tasks ORDER BY ALL""")
    quality = rows("""SELECT job_name, worker_id, boxes, audited_boxes, adjusted_boxes, added, id_switches
                      FROM worker_quality WHERE worker_id IS NOT NULL ORDER BY ALL""")
    rubric = rows("""SELECT job_name, sequence_id, worker_id, source, boxes, penalty FROM rubric_scores
                     WHERE level = 'sequence' AND worker_id IS NOT NULL ORDER BY ALL""")
    verdicts = rows("""WITH w AS (SELECT job_name, sequence_id, max_by(worker_id, submitted_at) AS worker_id
                                  FROM worker_responses GROUP BY ALL),
                            l AS (SELECT job_name, sequence_id, object_id, any_value(label) AS label FROM box_metrics
                                  GROUP BY ALL)
                       SELECT v.job_name, r.reason, CAST(CAST(v.decided_at AS date) AS varchar), w.worker_id, l.label,
                              v.verdict, count(*)
                       FROM review_verdicts v CROSS JOIN UNNEST(v.reasons) AS r(reason)
                       LEFT JOIN w USING (job_name, sequence_id) LEFT JOIN l USING (job_name, sequence_id, object_id)
                       GROUP BY ALL ORDER BY ALL""")
    changes = rows("""SELECT source_job, audit_job, change, count(*) FROM audit_changes GROUP BY ALL ORDER BY ALL""")
    by_class = rows("""SELECT job_name, label, worker_boxes, touched FROM audit_adjustment_by_class ORDER BY ALL""")
    workers = {r[3] for r in seq} | {r[1] for r in tasks} | {r[1] for r in quality} | {r[2] for r in rubric}
    return {"seq": seq, "coarse": coarse, "jobs": jobs, "tasks": tasks[:MAX_TASK_ROWS], "tasks_cut": len(tasks) > MAX_TASK_ROWS,
            "quality": quality, "rubric": rubric, "verdicts": verdicts, "changes": changes, "by_class": by_class,
            "workers": worker_labels(workers), "iou_bins": IOU_BINS, "max_workers": MAX_WORKERS}


def build(lake: str, title: str = "gtlake: label quality and workers", problems: list[str] | None = None) -> str:
    """The dashboard page for the lake at `lake`, as HTML text. Damaged lake files are left out, named on the
    page and appended to `problems` (when given)."""
    from gtlake.lakesql import connect

    found: list[str] = []
    con = connect(lake, found)
    if problems is not None:
        problems += found
    q = lambda sql: con.execute(sql).df()  # noqa: E731
    page = _Page()
    if found:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in found)
        page.parts.append(f'<section id="damaged"><h2>Damaged lake files</h2><p class="note">{len(found)} files '
                          f'could not be read and are left out of every chart below; <code>gtlake validate</code> '
                          f'lists what differs from what was committed.</p><ul>{items}</ul></section>')
    facts = _facts(con)
    page.parts.append(_filters(facts))

    # -- Label quality --------------------------------------------------------------------------------
    by_role = q("SELECT * FROM label_quality_kpis").set_index("job_role")
    none = {"boxes": 0, "sequences": 0, "flagged_share": None, "iou_median": None}
    k = by_role.loc["labeling"] if "labeling" in by_role.index else none
    post = by_role.loc["audit"] if "audit" in by_role.index else none
    roles = q("SELECT * FROM jobs_by_role").set_index("role")
    order = {"labeling": 0, "audit": 1}
    counted = ", ".join(f"{int(roles.loc[r, 'jobs'])} {r}" for r in sorted(roles.index, key=lambda r: (order.get(r, 2), r)))
    page.parts.append('<section id="label-quality"><h2>Label quality</h2>')
    page.parts.append(f'<p class="note">The labeling jobs\' boxes (the lake holds {html.escape(counted or "no")} jobs). '
                      'Audit jobs\' corrected labels are scored apart, as a post-audit check.</p>')
    page.parts.append(_kpis([
        ("boxes", "boxes scored", int(k["boxes"]), f"{int(k['boxes']):,}"),
        ("sequences", "sequences", int(k["sequences"]), f"{int(k['sequences']):,}"),
        ("flagged_share", "share of boxes flagged", k["flagged_share"], _num(k["flagged_share"], ".2%")),
        ("iou_median", "median frame-to-frame IoU", k["iou_median"], _num(k["iou_median"], ".3f")),
        ("post_audit_flagged_share", f"post-audit check: share of {int(post['boxes']):,} audited boxes still flagged",
         post["flagged_share"], _num(post["flagged_share"], ".2%")),
    ]))
    page.filtered("iou-by-class")
    page.filtered("flagged-per-job")
    page.filtered("check-precision", "How often each reason was right, as reviewers judged it (gtlake verdicts): "
                  "mistakes / (mistakes + fine); unsure verdicts are not counted")
    n_queue = int(q("SELECT count(*) AS n FROM review_queue_for_audit")["n"][0])
    queue = q(f"""SELECT r.*, w.worker_id FROM review_queue_for_audit r LEFT JOIN (
                    SELECT job_name, sequence_id, max_by(worker_id, submitted_at) AS worker_id FROM worker_responses
                    GROUP BY ALL) w USING (job_name, sequence_id)
                  ORDER BY score DESC, job_name, rank LIMIT {QUEUE_ROWS}""")
    queue["score"] = queue["score"].round(2)
    queue["object_name"] = queue["object_name"].where(queue["object_id"].notna(), "(not labeled: overlooked)")
    cols = ["job_name", "rank", "score", "reasons", "sequence_id", "frame_no", "frame_file", "object_name", "label"]
    cut = (f'<p class="note">The {len(queue)} highest scores of {n_queue:,} entries (filters apply to these); '
           f'the rest: gtlake sql --view review_queue_for_audit, or a job\'s page: gtlake review.</p>'
           if n_queue > len(queue) else "")
    attrs = lambda r: (f' data-job="{html.escape(str(r["job_name"]))}" data-label="{html.escape(str(r["label"]))}"'  # noqa: E731
                       f' data-worker="{html.escape(str(r["worker_id"] or ""))}"'
                       f' data-day="{html.escape(str(r["job_created"] or ""))}"')
    page.parts.append(f'<div class="card"><h3>Review queue ({n_queue:,} frame/object entries)</h3>{cut}'
                      + _table("review-queue", queue, cols, attrs) + "</div>")
    _heatmap(con, q, page)
    page.parts.append("</section>")

    # -- Worker performance ---------------------------------------------------------------------------
    w = q("SELECT * FROM worker_kpis").iloc[0]
    page.parts.append('<section id="worker-performance"><h2>Worker performance</h2>')
    page.parts.append('<p class="note">Worker labels are the last characters of each worker id, the same on every '
                      'chart; hover for the full id. The class filter does not apply to tasks.</p>')
    page.parts.append(_kpis([
        ("workers", "workers", int(w["workers"]), f"{int(w['workers']):,}"),
        ("tasks", "tasks", int(w["tasks"]), f"{int(w['tasks']):,}"),
        ("wall_median_s", "median wall time per task", w["wall_median_s"], _num((w["wall_median_s"] or 0) / 60, ".1f") + " min"),
        ("adjustment_rate", "boxes auditors touched", w["adjustment_rate"], _num(w["adjustment_rate"], ".1%")),
    ]))
    for cid in ("tasks-per-day", "wall-vs-active", "adjustment-per-worker", "rubric-per-worker", "speed-vs-quality",
                "returned-declined"):
        page.filtered(cid)
    page.parts.append("</section>")

    # -- Audits ---------------------------------------------------------------------------------------
    page.parts.append('<section id="audits"><h2>Audits</h2><p class="note">What auditors changed in the jobs '
                      'they audited (the audited job is the one the job filter names).</p>')
    page.filtered("audit-change-kinds")
    page.filtered("audit-adjustment-by-class")
    tracks = q(f"""SELECT job_name, sequence_id, object_name, label, n_boxes, missing_frames, round(iou_median, 3) AS
                          iou_median, round(peer_z, 2) AS peer_z, flagged_boxes, flags
                   FROM track_quality WHERE job_role = 'labeling' AND flagged
                   ORDER BY flagged_boxes DESC, job_name, sequence_id, object_name LIMIT {QUEUE_ROWS}""")
    page.parts.append('<div class="card"><h3>Tracks with flagged boxes, most flagged first (track_quality)</h3>'
                      + _table("track-quality", tracks, list(tracks.columns),
                               lambda r: f' data-job="{html.escape(str(r["job_name"]))}"'
                                         f' data-label="{html.escape(str(r["label"]))}"') + "</div>")
    page.parts.append("</section>")
    _refused(q, page)
    _data_quality(q, page)
    return _html(title, page, facts)


def _filters(facts: dict) -> str:
    return """<div id="filters" class="card"><b>Filters</b>
<label>Job <select id="f-job"><option value="">all jobs</option></select></label>
<label>From <input id="f-from" type="date"></label> <label>to <input id="f-to" type="date"></label>
<label>Worker <select id="f-worker"><option value="">all workers</option></select></label>
<label>Class <select id="f-class"><option value="">all classes</option></select></label>
<button id="f-clear" type="button">Clear</button> <span id="f-said" class="note">showing everything</span></div>"""


def _heatmap(con, q, page: "_Page") -> None:  # noqa: ANN001 - duckdb connection and build's query function
    top = q("""SELECT job_name, sequence_id, count(*) AS n FROM review_queue GROUP BY ALL
               ORDER BY n DESC, job_name, sequence_id LIMIT 1""")
    if not len(top):
        return
    job, seq = top["job_name"][0], top["sequence_id"][0]
    cells = con.execute("""SELECT object_name, object_id, frame_no, iou_prev FROM box_metrics
                           WHERE job_name = ? AND sequence_id = ? ORDER BY object_name, frame_no""", [job, seq]).df()
    objs = list(dict.fromkeys(cells["object_id"]))[:HEAT_OBJECTS]
    cells = cells[cells["object_id"].isin(objs)]
    lo, hi = int(cells["frame_no"].min()), int(cells["frame_no"].max())
    step = max(1, -(-(hi - lo + 1) // HEAT_FRAMES))
    cells = cells.assign(col=(cells["frame_no"] - lo) // step)
    grid = cells.groupby(["object_id", "col"])["iou_prev"].min().unstack()  # the worst IoU of each column
    names = cells.drop_duplicates("object_id").set_index("object_id")["object_name"]
    notes = ["one sequence: the filters do not change it"]
    if step > 1:
        notes.append(f"each column is {step} frames (their lowest IoU)")
    if len(objs) == HEAT_OBJECTS:
        notes.append(f"first {HEAT_OBJECTS} tracks")
    page.chart("iou-heatmap", f"IoU over frames, per object: {_label(seq)} (most queued sequence)", [{
        "type": "heatmap", "z": [_clean(grid.loc[o].reindex(range(int(cells['col'].max()) + 1))) for o in grid.index],
        "x": [lo + c * step for c in range(int(cells["col"].max()) + 1)],
        "y": [_label(names[o]) for o in grid.index], "colorscale": _RED_TO_GREEN, "zmin": 0, "zmax": 1,
        "colorbar": {"title": {"text": "IoU"}}}],
        {"height": max(380, 22 * len(grid) + 120), "xaxis": {"title": {"text": "frame"}},
         "yaxis": {"automargin": True}},
        note="; ".join(notes))


def _refused(q, page: "_Page") -> None:  # noqa: ANN001 - build's query function
    """What the steps refused: counts by step, kind and reason, whole jobs refused, and examples."""
    page.parts.append('<section id="refused"><h2>Refused records</h2>')
    counts = q("""SELECT step, record_kind, reason_code, count(*) AS records, count(DISTINCT job_name) AS jobs
                  FROM rejected GROUP BY ALL ORDER BY records DESC, step, record_kind, reason_code""")
    whole = q("SELECT count(DISTINCT source_uri) AS n FROM rejected WHERE record_kind = 'job_folder'")["n"][0]
    total = int(counts["records"].sum()) if len(counts) else 0
    page.parts.append(_kpis([
        ("refused_records", "records refused (every step)", total, f"{total:,}"),
        ("refused_jobs", "job folders refused whole", int(whole), f"{int(whole):,}"),
    ]))
    if not total:
        page.empty("Refused records", "Nothing refused: every record read is in a lake table.")
        page.parts.append("</section>")
        return
    page.parts.append('<div class="card"><h3>Refused, by step, kind and reason</h3>'
                      + _table("refused-counts", counts, list(counts.columns)) + "</div>")
    examples = q("""SELECT step, record_kind, reason_code, job_name, source_uri, locator, left(detail, 200) AS detail
                    FROM (SELECT *, row_number() OVER (PARTITION BY step, record_kind, reason_code
                                                       ORDER BY job_name, source_uri, locator) AS n FROM rejected)
                    WHERE n <= 3 ORDER BY step, record_kind, reason_code, n""")
    page.parts.append('<div class="card"><h3>Examples (three of each reason; all of them: gtlake sql --query '
                      '"SELECT * FROM rejected")</h3>' + _table("refused-examples", examples, list(examples.columns))
                      + "</div>")
    page.parts.append("</section>")


def _table(table_id: str, df, cols: list[str], row_attrs=None) -> str:  # noqa: ANN001 - a pandas DataFrame
    """An HTML table of `cols` of `df`, every cell escaped (lake values can be worker-written)."""
    def cell(v: object) -> str:
        return "" if v is None or (isinstance(v, float) and v != v) else html.escape(str(v))

    rows = "".join(f"<tr{row_attrs(r) if row_attrs else ''}>" + "".join(f"<td>{cell(r[c])}</td>" for c in cols)
                   + "</tr>" for _, r in df.iterrows())
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    return f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def _data_quality(q, page: _Page) -> None:  # noqa: ANN001 - the query function of `build`
    """The last data-quality check of each step and the rules it found broken."""
    page.parts.append('<section id="data-quality"><h2>Data quality</h2>')
    status = q("SELECT * FROM validation_status ORDER BY validated_at DESC, step")
    if not len(status):
        page.empty("Data-quality checks", "No checks recorded yet: each job checks what it reads and what it "
                                          "commits; gtlake validate checks the whole lake.")
        page.parts.append("</section>")
        return
    status = status.assign(validated_at=status["validated_at"].astype(str).str[:19])
    refused_jobs = int(q("SELECT count(DISTINCT source_uri) AS n FROM rejected WHERE record_kind = 'job_folder'")["n"][0])
    worst = "failed" if (status["gate"] == "failed").any() else "warned" if (status["gate"] == "warned").any() else \
        "refused input" if refused_jobs else "passed"
    page.parts.append(_kpis([
        ("gate", "data-quality gates (last check of each step)", worst, worst),
        ("broken_rules", "rules broken in those checks", int(status["broken"].sum()), f"{int(status['broken'].sum()):,}"),
    ]))
    attrs = lambda r: f' data-step="{html.escape(str(r["step"]))}" class="gate-{html.escape(str(r["gate"]))}"'  # noqa: E731
    if refused_jobs:
        page.parts.append(f'<p class="note warn">{refused_jobs} job folders were refused whole (see Refused records): '
                          'the gates passed on what was read, not on everything given.</p>')
    page.parts.append('<div class="card"><h3>Last check of each step</h3>'
                      '<p class="note">passed: every rule held; failed: the run committed nothing but its findings; '
                      'warned: broken rules recorded, the run committed (--on-failure warn)</p>'
                      + _table("validation-status", status, ["step", "gate", "validated_at", "tables", "rules", "broken",
                                                             "run_status", "run_id"], attrs) + "</div>")
    broken = q("SELECT * FROM validation_findings ORDER BY step, table_name, rule LIMIT 200")
    if len(broken):
        page.parts.append('<div class="card"><h3>Broken rules</h3>' + _table(
            "validation-findings", broken, ["step", "scope", "table_name", "column_name", "rule", "unexpected_count",
                                            "detail"]) + "</div>")
    page.parts.append("</section>")


def _html(title: str, page: _Page, facts: dict) -> str:
    from importlib import resources

    from plotly.offline import get_plotlyjs

    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    specs = for_script({cid: spec for cid, spec in page.charts})
    script = resources.files("gtlake").joinpath("static", "dashboard.js").read_text(encoding="utf-8")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<script>window.gtlakeErrors = []; window.addEventListener("error", function (e) {{
  window.gtlakeErrors.push(String(e.message)); var n = document.getElementById("js-errors");
  if (n) {{ n.textContent = window.gtlakeErrors.join("\\n"); }} }});</script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0 24px 40px; color: #222; background: #f6f7f9; }}
nav a {{ margin-right: 16px; }} h2 {{ margin-top: 32px; }}
#filters {{ position: sticky; top: 0; z-index: 5; display: flex; gap: 14px; flex-wrap: wrap; align-items: center; }}
.kpis {{ display: flex; gap: 16px; flex-wrap: wrap; }}
.kpi {{ background: #fff; border-radius: 8px; padding: 16px 20px; min-width: 180px; box-shadow: 0 1px 3px #0002; }}
.kpi-value {{ font-size: 28px; font-weight: 600; }} .kpi-label {{ color: #666; }}
.card {{ background: #fff; border-radius: 8px; margin: 16px 0; padding: 8px 12px; box-shadow: 0 1px 3px #0002; }}
.scroll {{ max-height: 420px; overflow: auto; }} table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border-bottom: 1px solid #eee; padding: 3px 8px; text-align: left; white-space: nowrap; }}
.note {{ color: #666; font-size: 13px; }} .warn {{ color: #9a3412; }}
tr.gate-failed td {{ background: #fde0dc; }} tr.gate-warned td {{ background: #fff4cc; }}
</style>
<script>{get_plotlyjs()}</script>
</head><body>
<h1>{html.escape(title)}</h1>
<nav><a href="#label-quality">Label quality</a><a href="#worker-performance">Worker performance</a>
<a href="#audits">Audits</a><a href="#refused">Refused records</a><a href="#data-quality">Data quality</a>
<span class="note">made {made} from the lake's SQL views</span></nav>
<pre id="js-errors"></pre>
{"".join(page.parts)}
<script type="application/json" id="facts">{for_script(facts)}</script>
<script>
(function () {{
  var specs = {specs}; var drawn = 0;
  Object.keys(specs).forEach(function (id) {{
    Plotly.newPlot(id, specs[id].data, specs[id].layout, {{displaylogo: false, responsive: true}});
    drawn += 1; }});
  window.gtlakeStaticCharts = drawn;
}})();
</script>
<script>{script}</script>
</body></html>
"""
