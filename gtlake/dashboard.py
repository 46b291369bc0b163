"""`gtlake dashboard`: the Label quality and Worker performance sheets as one self-contained HTML page.

Data comes from the SQL views (DuckDB over the lake, `gtlake.lakesql`), charts are plotly with its JavaScript
inlined (no network when the page is viewed). Everything from the lake is untrusted: table cells are
HTML-escaped, chart data travels as JSON with `<`, `>` and `&` escaped, and chart labels are escaped for
plotly's own HTML-like markup. Large lakes stay viewable: distributions are aggregated in SQL, the heat map
shows one sequence with at most HEAT_OBJECTS tracks and HEAT_FRAMES frame columns, tables are capped, and the
page says when something was cut.
"""
from __future__ import annotations

import html
import json
from datetime import datetime, timezone

QUEUE_ROWS = 200
HEAT_OBJECTS = 40
HEAT_FRAMES = 400
MAX_WORKERS = 30
# Low IoU red, high green (ColorBrewer RdYlGn; plotly.js has no such named scale, so it is spelled out).
_RED_TO_GREEN = [[0.0, "rgb(165,0,38)"], [0.25, "rgb(244,109,67)"], [0.5, "rgb(254,224,139)"],
                 [0.75, "rgb(166,217,106)"], [1.0, "rgb(0,104,55)"]]


def _label(text: object) -> str:
    """A string for plotly labels: its pseudo-HTML (<b>, <a>, ...) shown as text."""
    return html.escape("" if text is None else str(text), quote=False)


def _js(obj: object) -> str:
    return json.dumps(obj, default=str, allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e").replace(
        "&", "\\u0026")


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

    def empty(self, title: str, why: str) -> None:
        self.parts.append(f'<div class="card"><h3>{html.escape(title)}</h3><p class="note">{html.escape(why)}</p></div>')


def _kpis(items: list[tuple[str, str, object, str]]) -> str:
    cells = "".join(
        f'<div class="kpi" data-kpi="{key}" data-value="{html.escape(_js(_clean([v])[0]))}"><div class="kpi-value">'
        f'{html.escape(shown)}</div><div class="kpi-label">{html.escape(label)}</div></div>'
        for key, label, v, shown in items)
    return f'<div class="kpis">{cells}</div>'


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

    # -- Label quality --------------------------------------------------------------------------------
    by_role = q("SELECT * FROM label_quality_kpis").set_index("job_role")
    none = {"boxes": 0, "sequences": 0, "flagged_share": None, "iou_median": None}
    k = by_role.loc["labeling"] if "labeling" in by_role.index else none
    post = by_role.loc["audit"] if "audit" in by_role.index else none
    page.parts.append('<section id="label-quality"><h2>Label quality</h2>')
    page.parts.append('<p class="note">Labeling jobs. Audit jobs\' corrected labels are scored apart, as a '
                      'post-audit check.</p>')
    page.parts.append(_kpis([
        ("boxes", "boxes scored", int(k["boxes"]), f"{int(k['boxes']):,}"),
        ("sequences", "sequences", int(k["sequences"]), f"{int(k['sequences']):,}"),
        ("flagged_share", "share of boxes flagged", k["flagged_share"], _num(k["flagged_share"], ".2%")),
        ("iou_median", "median frame-to-frame IoU", k["iou_median"], _num(k["iou_median"], ".3f")),
        ("post_audit_flagged_share", f"post-audit check: share of {int(post['boxes']):,} audited boxes still flagged",
         post["flagged_share"], _num(post["flagged_share"], ".2%")),
    ]))
    hist = q("""SELECT label, least(floor(iou_prev * 50), 49) / 50.0 AS bin, count(*) AS n
                FROM box_metrics WHERE iou_prev IS NOT NULL GROUP BY ALL ORDER BY label, bin""")
    if len(hist):
        page.chart("iou-by-class", "Frame-to-frame IoU by class (share of boxes per 0.02 bin)", [
            {"type": "scatter", "mode": "lines", "name": _label(lab), "x": _clean(g["bin"]),
             "y": _clean(g["n"] / g["n"].sum())} for lab, g in hist.groupby("label")],
            {"xaxis": {"title": {"text": "IoU with the previous box"}}, "yaxis": {"title": {"text": "share"}}})
    else:
        page.empty("Frame-to-frame IoU by class", "No scored boxes yet: run gtlake quality.")
    trend = q("SELECT * FROM flags_over_time ORDER BY job_role, job_created, job_name")
    if len(trend):
        page.chart("flagged-over-time", "Share of boxes flagged, by job creation date (one line per job role)", [{
            "type": "scatter", "mode": "markers+lines", "name": _label(role), "x": _clean(g["job_created"].astype(str)),
            "y": _clean(g["flagged_share"]), "text": [_label(j) for j in g["job_name"]],
            "hovertemplate": "%{text}<br>%{x}: %{y:.2%}<extra></extra>"} for role, g in trend.groupby("job_role")],
            {"yaxis": {"tickformat": ".1%"}})
    n_queue = int(q("SELECT count(*) AS n FROM review_queue_for_audit")["n"][0])
    queue = q(f"SELECT * FROM review_queue_for_audit ORDER BY score DESC, job_name, rank LIMIT {QUEUE_ROWS}")
    cols = ["job_name", "rank", "score", "reasons", "sequence_id", "frame_no", "frame_file", "object_name", "label"]
    cut = (f'<p class="note">Showing the {len(queue)} highest scores of {n_queue:,} entries; '
           f'the rest: gtlake sql --view review_queue_for_audit.</p>' if n_queue > len(queue) else "")
    page.parts.append(f'<div class="card"><h3>Review queue ({n_queue:,} frame/object entries)</h3>{cut}'
                      + _table("review-queue", queue, cols) + "</div>")
    top = q("""SELECT job_name, sequence_id, count(*) AS n FROM review_queue GROUP BY ALL
               ORDER BY n DESC, job_name, sequence_id LIMIT 1""")
    if len(top):
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
        notes = []
        if step > 1:
            notes.append(f"each column is {step} frames (their lowest IoU)")
        if len(objs) == HEAT_OBJECTS:
            notes.append(f"first {HEAT_OBJECTS} tracks")
        page.chart("iou-heatmap", f"IoU over frames, per object: {_label(seq)} (most queued sequence)", [{
            "type": "heatmap", "z": [_clean(grid.loc[o].reindex(range(int(cells['col'].max()) + 1))) for o in grid.index],
            "x": [lo + c * step for c in range(int(cells["col"].max()) + 1)],
            "y": [_label(names[o]) for o in grid.index], "colorscale": _RED_TO_GREEN, "zmin": 0, "zmax": 1,
            "colorbar": {"title": {"text": "IoU"}}}],
            {"height": max(380, 22 * len(grid) + 120), "xaxis": {"title": {"text": "frame"}}},
            note="; ".join(notes))
    page.parts.append("</section>")

    # -- Worker performance ---------------------------------------------------------------------------
    w = q("SELECT * FROM worker_kpis").iloc[0]
    page.parts.append('<section id="worker-performance"><h2>Worker performance</h2>')
    page.parts.append(_kpis([
        ("workers", "workers", int(w["workers"]), f"{int(w['workers']):,}"),
        ("tasks", "tasks", int(w["tasks"]), f"{int(w['tasks']):,}"),
        ("wall_median_s", "median wall time per task", w["wall_median_s"], _num((w["wall_median_s"] or 0) / 60, ".1f") + " min"),
        ("adjustment_rate", "boxes auditors touched", w["adjustment_rate"], _num(w["adjustment_rate"], ".1%")),
    ]))
    busiest = q(f"""SELECT worker_id FROM worker_daily_tasks GROUP BY worker_id ORDER BY sum(tasks) DESC, worker_id
                    LIMIT {MAX_WORKERS}""")["worker_id"].tolist()
    daily = q("SELECT * FROM worker_daily_tasks ORDER BY day")
    if len(daily):
        daily = daily[daily["worker_id"].isin(busiest)]
        page.chart("tasks-per-day", "Tasks per worker per day", [
            {"type": "bar", "name": _label(wid), "x": _clean(g["day"].astype(str)), "y": _clean(g["tasks"])}
            for wid, g in daily.groupby("worker_id")], {"barmode": "stack"},
            note=f"the {MAX_WORKERS} busiest workers" if len(busiest) == MAX_WORKERS else "")
    else:
        page.empty("Tasks per worker per day", "No worker tasks yet: run gtlake workers.")
    times = q(f"SELECT * FROM worker_task_times ORDER BY tasks DESC, worker_id LIMIT {MAX_WORKERS}")
    if len(times):
        ids = [_label(x) for x in times["worker_id"]]
        page.chart("wall-vs-active", "Time per submitted task: wall vs active (median, minutes)", [
            {"type": "bar", "name": "wall", "x": ids, "y": _clean(times["wall_median_s"] / 60)},
            {"type": "bar", "name": "active", "x": ids, "y": _clean(times["active_median_s"] / 60)}],
            {"barmode": "group"})
    qual = q(f"SELECT * FROM worker_quality_summary ORDER BY adjustment_rate DESC NULLS LAST, worker_id LIMIT {MAX_WORKERS}")
    if len(qual):
        ids = [_label(x) for x in qual["worker_id"]]
        page.chart("adjustment-per-worker", "Share of boxes auditors touched, and identity switches, per worker", [
            {"type": "bar", "name": "adjustment rate", "x": ids, "y": _clean(qual["adjustment_rate"])},
            {"type": "scatter", "mode": "markers", "name": "identity switches", "x": ids, "y": _clean(qual["id_switches"]),
             "yaxis": "y2"}],
            {"yaxis": {"tickformat": ".0%", "title": {"text": "adjustment rate"}},
             "yaxis2": {"overlaying": "y", "side": "right", "title": {"text": "identity switches"}}})
    rubric = q(f"""SELECT worker_id, source, boxes, penalty, rubric_score FROM rubric_scores WHERE level = 'worker'
                   ORDER BY rubric_score, worker_id LIMIT {MAX_WORKERS}""")
    if len(rubric):
        ids = [_label(x) for x in rubric["worker_id"]]
        page.chart("rubric-per-worker", "Rubric score per worker: 1 - penalties per box (omission and inaccurate box "
                   "100%, wrong label and tracking error 20%, attributes 5%)", [{
                       "type": "bar", "x": ids, "y": _clean(rubric["rubric_score"]),
                       "text": [_label(s) for s in rubric["source"]],
                       "hovertemplate": "%{x}<br>%{y:.4f} (from %{text})<extra></extra>"}],
                   {"yaxis": {"title": {"text": "rubric score"}}},
                   note="from the audit's changes where an audit exists, else from the review queue's flags")
    board = q("SELECT * FROM worker_leaderboard WHERE boxes_per_hour IS NOT NULL")
    if len(board):
        page.chart("speed-vs-quality", "Speed vs quality: boxes per active hour against adjustment rate", [{
            "type": "scatter", "mode": "markers+text", "x": _clean(board["boxes_per_hour"]),
            "y": _clean(board["adjustment_rate"]), "text": [_label(x)[-6:] for x in board["worker_id"]],
            "textposition": "top center", "hovertext": [_label(x) for x in board["worker_id"]]}],
            {"xaxis": {"title": {"text": "boxes per active hour"}}, "yaxis": {"title": {"text": "adjustment rate"},
                                                                             "tickformat": ".0%"}})
    outcomes = q(f"""SELECT worker_id, sum(tasks) AS tasks, sum(returned_rate * tasks) / sum(tasks) AS returned_rate,
                            sum(declined_rate * tasks) / sum(tasks) AS declined_rate
                     FROM worker_outcomes GROUP BY worker_id ORDER BY tasks DESC, worker_id LIMIT {MAX_WORKERS}""")
    if len(outcomes):
        ids = [_label(x) for x in outcomes["worker_id"]]
        page.chart("returned-declined", "Returned and declined tasks, per worker", [
            {"type": "bar", "name": "returned", "x": ids, "y": _clean(outcomes["returned_rate"])},
            {"type": "bar", "name": "declined", "x": ids, "y": _clean(outcomes["declined_rate"])}],
            {"barmode": "group", "yaxis": {"tickformat": ".0%"}})
    page.parts.append("</section>")
    _data_quality(q, page)
    return _html(title, page)


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
    worst = "failed" if (status["gate"] == "failed").any() else "warned" if (status["gate"] == "warned").any() else "passed"
    page.parts.append(_kpis([
        ("gate", "data-quality gates (last check of each step)", worst, worst),
        ("broken_rules", "rules broken in those checks", int(status["broken"].sum()), f"{int(status['broken'].sum()):,}"),
    ]))
    attrs = lambda r: f' data-step="{html.escape(str(r["step"]))}" class="gate-{html.escape(str(r["gate"]))}"'  # noqa: E731
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


def _html(title: str, page: _Page) -> str:
    from plotly.offline import get_plotlyjs

    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    specs = _js({cid: spec for cid, spec in page.charts})
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<script>window.gtlakeErrors = []; window.addEventListener("error", function (e) {{
  window.gtlakeErrors.push(String(e.message)); var n = document.getElementById("js-errors");
  if (n) {{ n.textContent = window.gtlakeErrors.join("\\n"); }} }});</script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0 24px 40px; color: #222; background: #f6f7f9; }}
nav a {{ margin-right: 16px; }} h2 {{ margin-top: 32px; }}
.kpis {{ display: flex; gap: 16px; flex-wrap: wrap; }}
.kpi {{ background: #fff; border-radius: 8px; padding: 16px 20px; min-width: 180px; box-shadow: 0 1px 3px #0002; }}
.kpi-value {{ font-size: 28px; font-weight: 600; }} .kpi-label {{ color: #666; }}
.card {{ background: #fff; border-radius: 8px; margin: 16px 0; padding: 8px 12px; box-shadow: 0 1px 3px #0002; }}
.scroll {{ max-height: 420px; overflow: auto; }} table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border-bottom: 1px solid #eee; padding: 3px 8px; text-align: left; white-space: nowrap; }}
.note {{ color: #666; font-size: 13px; }}
tr.gate-failed td {{ background: #fde0dc; }} tr.gate-warned td {{ background: #fff4cc; }}
</style>
<script>{get_plotlyjs()}</script>
</head><body>
<h1>{html.escape(title)}</h1>
<nav><a href="#label-quality">Label quality</a><a href="#worker-performance">Worker performance</a>
<a href="#data-quality">Data quality</a>
<span class="note">made {made} from the lake's SQL views</span></nav>
<pre id="js-errors"></pre>
{"".join(page.parts)}
<script>
(function () {{
  var specs = {specs}; var drawn = 0;
  Object.keys(specs).forEach(function (id) {{
    Plotly.newPlot(id, specs[id].data, specs[id].layout, {{displaylogo: false, responsive: true}});
    drawn += 1; }});
  document.body.setAttribute("data-charts-drawn", String(drawn));
}})();
</script>
</body></html>
"""
