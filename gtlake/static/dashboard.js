// gtlake dashboard: the charts the filters re-draw, from the page's facts (gtlake/dashboard.py writes them).
// Lake strings reach plotly escaped for its pseudo-HTML and reach the page through textContent only.
"use strict";
(function () {
  const F = JSON.parse(document.getElementById("facts").textContent);
  const ROLE = {}, CREATED = {};
  F.jobs.forEach((j) => { ROLE[j[0]] = j[1]; CREATED[j[0]] = j[2]; });
  const flt = { job: "", from: "", to: "", worker: "", cls: "" };
  const esc = (s) => String(s === null || s === undefined ? "" : s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const short = (w) => (w === null || w === undefined ? "unknown" : esc(F.workers[w] || w));
  const full = (w) => (w === null || w === undefined ? "unknown" : esc(w));
  const active = () => !!(flt.job || flt.from || flt.to || flt.worker || flt.cls);
  const inDays = (d) => (!flt.from && !flt.to) || (!!d && (!flt.from || d >= flt.from) && (!flt.to || d <= flt.to));
  const sum = (xs) => xs.reduce((a, b) => a + (b || 0), 0);
  const median = (xs) => {
    const v = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
    if (!v.length) return null;
    const m = Math.floor(v.length / 2);
    return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  };
  const group = (rows, key) => {
    const out = new Map();
    for (const r of rows) { const k = key(r); if (!out.has(k)) out.set(k, []); out.get(k).push(r); }
    return out;
  };
  const pct = (v, d) => (v === null || v === undefined || !isFinite(v) ? "\u2013" : (100 * v).toFixed(d) + "%");

  // Rows kept by the filters: [job, sequence, label, worker, day, boxes, flagged, hist] and the others.
  const seqRows = () => F.seq.filter((r) => (!flt.job || r[0] === flt.job) && (!flt.cls || r[2] === flt.cls)
    && (!flt.worker || r[3] === flt.worker) && inDays(r[4]));
  const taskRows = () => F.tasks.filter((r) => (!flt.job || r[0] === flt.job) && (!flt.worker || r[1] === flt.worker) && inDays(r[2]));
  const qualityRows = () => F.quality.filter((r) => (!flt.job || r[0] === flt.job) && (!flt.worker || r[1] === flt.worker));
  const rubricRows = () => F.rubric.filter((r) => (!flt.job || r[0] === flt.job) && (!flt.worker || r[2] === flt.worker));
  const verdictRows = () => F.verdicts.filter((r) => (!flt.job || r[0] === flt.job) && inDays(r[2])
    && (!flt.worker || r[3] === flt.worker) && (!flt.cls || r[4] === flt.cls));

  function histMedian(rows) {
    const counts = new Array(F.iou_bins).fill(0);
    for (const r of rows) for (const [b, n] of r[7]) counts[b] += n;
    const n = sum(counts);
    if (!n) return null;
    let c = 0;
    for (let b = 0; b < counts.length; b++) { c += counts[b]; if (c >= n / 2) return (b + 0.5) / F.iou_bins; }
    return null;
  }
  function adjustment(rows) {
    const den = sum(rows.map((r) => r[3])) + sum(rows.map((r) => r[5]));
    return den ? (sum(rows.map((r) => r[4])) + sum(rows.map((r) => r[5]))) / den : null;
  }

  // KPI cards: exact values from the SQL views when nothing is filtered, re-counted from the facts otherwise.
  const kpiInitial = {};
  document.querySelectorAll("[data-kpi]").forEach((el) => {
    kpiInitial[el.dataset.kpi] = [el.dataset.value, el.querySelector(".kpi-value").textContent];
  });
  function setKpi(key, value, shown) {
    const el = document.querySelector('[data-kpi="' + key + '"]');
    if (!el) return;
    el.dataset.value = JSON.stringify(value === undefined ? null : value);
    el.querySelector(".kpi-value").textContent = shown;
  }
  function kpis() {
    if (!active()) {
      for (const k in kpiInitial) setKpi(k, JSON.parse(kpiInitial[k][0]), kpiInitial[k][1]);
      return;
    }
    const rows = seqRows(), lab = rows.filter((r) => ROLE[r[0]] !== "audit"), post = rows.filter((r) => ROLE[r[0]] === "audit");
    const boxes = sum(lab.map((r) => r[5])), flagged = sum(lab.map((r) => r[6]));
    // Coarse facts (a large lake) carry each row's sequence count, summed here: a sequence of two classes counts
    // twice unless one class is picked.
    const seqs = F.coarse ? sum(lab.map((r) => r[8])) : new Set(lab.map((r) => r[0] + "/" + r[1])).size;
    const share = boxes ? flagged / boxes : null, med = histMedian(lab);
    setKpi("boxes", boxes, boxes.toLocaleString("en"));
    setKpi("sequences", seqs, seqs.toLocaleString("en"));
    setKpi("flagged_share", share, pct(share, 2));
    setKpi("iou_median", med, med === null ? "\u2013" : med.toFixed(2));
    const pb = sum(post.map((r) => r[5])), pshare = pb ? sum(post.map((r) => r[6])) / pb : null;
    setKpi("post_audit_flagged_share", pshare, pct(pshare, 2));
    const t = taskRows();
    const wall = median(t.filter((r) => r[3] === "submitted").map((r) => r[4]));
    setKpi("workers", new Set(t.map((r) => r[1])).size, new Set(t.map((r) => r[1])).size.toLocaleString("en"));
    setKpi("tasks", t.length, t.length.toLocaleString("en"));
    setKpi("wall_median_s", wall, (wall === null ? "\u2013" : (wall / 60).toFixed(1)) + " min");
    const adj = adjustment(qualityRows());
    setKpi("adjustment_rate", adj, pct(adj, 1));
  }

  const LAYOUT = { margin: { l: 60, r: 20, t: 50, b: 60 }, height: 380 };
  const layout = (title, extra) => Object.assign({}, LAYOUT, { title: { text: title } }, extra || {});
  const topWorkers = (rows, col, n) => [...group(rows, (r) => r[col]).entries()]
    .sort((a, b) => b[1].length - a[1].length || String(a[0]).localeCompare(String(b[0]))).slice(0, n).map((e) => e[0]);

  const charts = {
    "iou-by-class": () => {
      const rows = seqRows().filter((r) => ROLE[r[0]] !== "audit");
      const data = [...group(rows, (r) => r[2]).entries()].sort().map(([label, rs]) => {
        const bins = new Array(F.iou_bins / 2).fill(0);
        for (const r of rs) for (const [b, n] of r[7]) bins[Math.floor(b / 2)] += n;
        const n = sum(bins);
        return { type: "scatter", mode: "lines", name: esc(label), x: bins.map((_, i) => i / bins.length),
          y: bins.map((v) => (n ? v / n : 0)) };
      });
      return [data, layout("Frame-to-frame IoU by class, labeling jobs (share of boxes per 0.02 bin)",
        { xaxis: { title: { text: "IoU with the previous box" } }, yaxis: { title: { text: "share" } } }),
        rows.length ? "" : "No scored boxes for these filters."];
    },
    "flagged-per-job": () => {
      const per = group(seqRows(), (r) => r[0]);
      const byRole = group([...per.entries()], (e) => ROLE[e[0]] || "labeling");
      const data = [...byRole.entries()].sort().map(([role, jobs]) => ({
        type: "scatter", mode: "markers", name: esc(role), marker: { size: 10 },
        x: jobs.map((e) => CREATED[e[0]]), y: jobs.map((e) => sum(e[1].map((r) => r[6])) / Math.max(1, sum(e[1].map((r) => r[5])))),
        text: jobs.map((e) => esc(e[0])), hovertemplate: "%{text}<br>created %{x}: %{y:.2%} of boxes flagged<extra></extra>" }));
      return [data, layout("Share of boxes flagged per job, by the job's creation date (one point per job)",
        { yaxis: { tickformat: ".1%", rangemode: "tozero" }, xaxis: { type: "date", tickformat: "%Y-%m-%d" } }), per.size ? "" : "No jobs for these filters."];
    },
    "check-precision": () => {
      const rows = verdictRows();
      const per = [...group(rows, (r) => r[1]).entries()].sort();
      const count = (rs, v) => sum(rs.filter((r) => r[5] === v).map((r) => r[6]));
      const prec = per.map(([, rs]) => { const m = count(rs, "mistake"), f = count(rs, "fine"); return m + f ? m / (m + f) : null; });
      const judged = per.map(([, rs]) => sum(rs.map((r) => r[6])));
      return [[{ type: "bar", x: per.map((e) => esc(e[0])), y: prec, customdata: judged,
        text: prec.map((p) => pct(p, 0)), textposition: "auto",
        hovertemplate: "%{x}: %{y:.0%} of %{customdata} judged entries were mistakes<extra></extra>" }],
      layout("Checks as reviewers judged them: share of judged entries that were mistakes, per reason",
        { yaxis: { tickformat: ".0%", range: [0, 1] } }),
      rows.length ? "" : "No verdicts for these filters: review a job's queue with gtlake review, then gtlake verdicts."];
    },
    "tasks-per-day": () => {
      const rows = taskRows().filter((r) => r[2]);
      const keep = new Set(topWorkers(rows, 1, F.max_workers));
      const data = [...group(rows.filter((r) => keep.has(r[1])), (r) => r[1]).entries()].sort().map(([w, rs]) => {
        const days = [...group(rs, (r) => r[2]).entries()].sort();
        return { type: "bar", name: short(w), x: days.map((d) => d[0]), y: days.map((d) => d[1].length),
          hovertemplate: full(w) + "<br>%{x}: %{y} tasks<extra></extra>" };
      });
      return [data, layout("Tasks per worker per day", { barmode: "stack", xaxis: { type: "category" } }),
        keep.size === F.max_workers ? "the " + F.max_workers + " busiest workers" : (rows.length ? "" : "No worker tasks for these filters.")];
    },
    "wall-vs-active": () => {
      const rows = taskRows().filter((r) => r[3] === "submitted");
      const ws = topWorkers(rows, 1, F.max_workers), by = group(rows, (r) => r[1]);
      const x = ws.map(short), hover = ws.map(full);
      return [[{ type: "bar", name: "wall", x: x, y: ws.map((w) => median(by.get(w).map((r) => r[4])) / 60), hovertext: hover },
        { type: "bar", name: "active", x: x, y: ws.map((w) => median(by.get(w).map((r) => r[5])) / 60), hovertext: hover }],
      layout("Time per submitted task: wall vs active (median, minutes)", { barmode: "group" }), ""];
    },
    "adjustment-per-worker": () => {
      const per = [...group(qualityRows(), (r) => r[1]).entries()].map(([w, rs]) => [w, adjustment(rs), sum(rs.map((r) => r[6]))])
        .sort((a, b) => (b[1] === null) - (a[1] === null) || b[1] - a[1] || String(a[0]).localeCompare(String(b[0]))).slice(0, F.max_workers);
      const x = per.map((p) => short(p[0])), hover = per.map((p) => full(p[0]));
      return [[{ type: "bar", name: "adjustment rate", x: x, y: per.map((p) => p[1]), hovertext: hover },
        { type: "scatter", mode: "markers", name: "identity switches", x: x, y: per.map((p) => p[2]), yaxis: "y2", hovertext: hover }],
      layout("Share of boxes auditors touched, and identity switches, per worker",
        { yaxis: { tickformat: ".0%", title: { text: "adjustment rate" } },
          yaxis2: { overlaying: "y", side: "right", title: { text: "identity switches" } } }), per.length ? "" : "No audits for these filters."];
    },
    "rubric-per-worker": () => {
      const per = [...group(rubricRows(), (r) => r[2]).entries()].map(([w, rs]) => {
        const b = sum(rs.map((r) => r[4])), src = new Set(rs.map((r) => r[3]));
        return [w, b ? Math.max(0, 1 - sum(rs.map((r) => r[5])) / b) : null, src.size === 1 ? [...src][0] : "mixed"];
      }).sort((a, b) => a[1] - b[1] || String(a[0]).localeCompare(String(b[0]))).slice(0, F.max_workers);
      return [[{ type: "bar", x: per.map((p) => short(p[0])), y: per.map((p) => p[1]), text: per.map((p) => esc(p[2])),
        hovertext: per.map((p) => full(p[0])), hovertemplate: "%{hovertext}<br>%{y:.3f} (from %{text})<extra></extra>" }],
      layout("Rubric score per worker: 1 - penalties per box (omission and inaccurate box 100%, wrong label and " +
        "tracking error 20%, attributes 5%)", { yaxis: { title: { text: "rubric score" } } }),
      "from the audit's changes where an audit exists, else from the review queue's flags"];
    },
    "speed-vs-quality": () => {
      const active = group(taskRows().filter((r) => r[3] === "submitted"), (r) => r[1]);
      const per = [...group(qualityRows(), (r) => r[1]).entries()].map(([w, rs]) => {
        const secs = active.has(w) ? sum(active.get(w).map((r) => r[5])) : 0;
        return [w, secs ? sum(rs.map((r) => r[2])) / (secs / 3600) : null, adjustment(rs)];
      }).filter((p) => p[1] !== null);
      return [[{ type: "scatter", mode: "markers+text", x: per.map((p) => p[1]), y: per.map((p) => p[2]),
        text: per.map((p) => short(p[0])), textposition: "top center", hovertext: per.map((p) => full(p[0])) }],
      layout("Speed vs quality: boxes per active hour against adjustment rate",
        { xaxis: { title: { text: "boxes per active hour" } }, yaxis: { title: { text: "adjustment rate" }, tickformat: ".0%" } }), ""];
    },
    "returned-declined": () => {
      const rows = taskRows(), ws = topWorkers(rows, 1, F.max_workers), by = group(rows, (r) => r[1]);
      const rate = (w, o) => by.get(w).filter((r) => r[3] === o).length / by.get(w).length;
      const x = ws.map(short), hover = ws.map(full);
      return [[{ type: "bar", name: "returned", x: x, y: ws.map((w) => rate(w, "returned")), hovertext: hover },
        { type: "bar", name: "declined", x: x, y: ws.map((w) => rate(w, "declined")), hovertext: hover }],
      layout("Returned and declined tasks, per worker", { barmode: "group", yaxis: { tickformat: ".0%" } }), ""];
    },
    "audit-change-kinds": () => {
      const rows = F.changes.filter((r) => !flt.job || r[0] === flt.job || r[1] === flt.job);
      const totals = {};
      rows.forEach((r) => { totals[r[1]] = (totals[r[1]] || 0) + r[3]; });
      const data = [...group(rows, (r) => r[2]).entries()].sort().map(([kind, rs]) => ({ type: "bar", name: esc(kind),
        x: rs.map((r) => esc(r[1])), y: rs.map((r) => r[3] / totals[r[1]]), customdata: rs.map((r) => r[3]),
        hovertemplate: "%{x}: " + esc(kind) + " %{y:.1%} (%{customdata} boxes)<extra></extra>" }));
      return [data, layout("What auditors did to the boxes, per audit job (audit_change_kinds)",
        { barmode: "stack", yaxis: { tickformat: ".0%" } }), rows.length ? "" : "No audits for these filters."];
    },
    "audit-adjustment-by-class": () => {
      const rows = F.by_class.filter((r) => (!flt.job || r[0] === flt.job) && (!flt.cls || r[1] === flt.cls));
      const per = [...group(rows, (r) => r[1]).entries()].sort().map(([l, rs]) => [l, sum(rs.map((r) => r[3])) / Math.max(1, sum(rs.map((r) => r[2]))), sum(rs.map((r) => r[2]))]);
      return [[{ type: "bar", x: per.map((p) => esc(p[0])), y: per.map((p) => p[1]), customdata: per.map((p) => p[2]),
        hovertemplate: "%{x}: %{y:.1%} of %{customdata} worker boxes touched<extra></extra>" }],
      layout("Share of worker boxes auditors touched, per class (audit_adjustment_by_class)",
        { yaxis: { tickformat: ".0%" } }), rows.length ? "" : "No audits for these filters."];
    },
  };

  function tables() {
    const show = (tr) => (!flt.job || tr.dataset.job === flt.job) && (!flt.cls || tr.dataset.label === flt.cls)
      && (!flt.worker || tr.dataset.worker === undefined || tr.dataset.worker === flt.worker) && (tr.dataset.day === undefined || inDays(tr.dataset.day));
    document.querySelectorAll("#review-queue tbody tr, #track-quality tbody tr").forEach((tr) => { tr.hidden = !show(tr); });
  }

  let drawn = 0;
  function draw(first) {
    for (const id of Object.keys(charts)) {
      const el = document.getElementById(id);
      if (!el) continue;
      const [data, lay, said] = charts[id]();
      Plotly.react(el, data, lay, { displaylogo: false, responsive: true });
      document.getElementById(id + "-said").textContent = said;
      if (first) drawn += 1;
    }
    kpis();
    tables();
    const parts = [];
    if (flt.job) parts.push("job " + flt.job);
    if (flt.from || flt.to) parts.push("from " + (flt.from || "the start") + " to " + (flt.to || "today"));
    if (flt.worker) parts.push("worker " + flt.worker);
    if (flt.cls) parts.push("class " + flt.cls);
    document.getElementById("f-said").textContent = parts.length ? "filtered: " + parts.join(", ") +
      " (the heat map and the refused records are not filtered" + (F.coarse ? "; sequences are counted per class" : "") +
      (F.tasks_cut ? "; tasks past the first 100,000 are left out" : "") + ")" : "showing everything";
  }

  function options(id, values) {
    const sel = document.getElementById(id);
    for (const [value, text, title] of values) {
      const o = document.createElement("option");
      o.value = value; o.textContent = text; if (title) o.title = title;
      sel.append(o);
    }
  }
  options("f-job", F.jobs.map((j) => [j[0], j[0] + " (" + j[1] + ")"]));
  options("f-worker", Object.keys(F.workers).sort().map((w) => [w, F.workers[w], w]));
  options("f-class", [...new Set(F.seq.map((r) => r[2]).filter((x) => x !== null))].sort().map((c) => [c, c]));
  const inputs = { job: "f-job", from: "f-from", to: "f-to", worker: "f-worker", cls: "f-class" };
  for (const [k, id] of Object.entries(inputs)) {
    document.getElementById(id).addEventListener("change", (ev) => { flt[k] = ev.target.value; draw(false); });
  }
  document.getElementById("f-clear").addEventListener("click", () => {
    for (const [k, id] of Object.entries(inputs)) { flt[k] = ""; document.getElementById(id).value = ""; }
    draw(false);
  });
  draw(true);
  document.body.setAttribute("data-charts-drawn", String((window.gtlakeStaticCharts || 0) + drawn));
})();
