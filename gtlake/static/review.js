// gtlake review page (gtlake/review.py writes the data). Lake strings are shown with textContent only.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("data").textContent);
  const OWN = "#ff2d2d", STRIP_OWN = "#ffd400", OTHER = "rgba(255,255,255,0.6)", PATH = "rgba(0,200,255,0.85)";
  const MODEL = "#00e5ff";  // a model's box: an overlooked object, or where the model puts a labeled one
  const KEY = "gtlake-review:" + DATA.job_name + ":" + (DATA.queue_run_id || "");
  const entries = DATA.entries;
  const cards = [];
  let verdicts = {};
  let current = -1;

  // An entry is its object on its frame; an overlooked one (no object) is the model's box on its frame.
  function entryKey(e) { return [e.sequence_id, e.frame_no, e.object_id === null ? "" : e.object_id,
    e.object_id === null && e.model_box ? e.model_box.join(",") : ""].join("\u0001"); }
  function el(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
  }
  function shortWorker(w) { return w ? (w.length > 14 ? "\u2026" + w.slice(-10) : w) : "unknown"; }

  try { verdicts = JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch (err) { verdicts = {}; }
  function keep() { try { localStorage.setItem(KEY, JSON.stringify(verdicts)); } catch (err) { /* file: pages may lack storage */ } }

  // Draw one panel: the frame crop (when embedded) or a plain canvas, the boxes, and on the main panel the path.
  function draw(canvas, panel, entry, main) {
    const ctx = canvas.getContext("2d");
    const w = panel.window, s = panel.w / (w[2] - w[0]);
    const X = (x) => (x - w[0]) * s, Y = (y) => (y - w[1]) * s;
    function overlay() {
      if (main && entry.path.length > 1) {
        ctx.strokeStyle = PATH; ctx.lineWidth = 1.5; ctx.setLineDash([]);
        ctx.beginPath();
        entry.path.forEach((p, i) => { if (i) ctx.lineTo(X(p[1]), Y(p[2])); else ctx.moveTo(X(p[1]), Y(p[2])); });
        ctx.stroke();
        ctx.fillStyle = PATH;
        entry.path.forEach((p) => { ctx.beginPath(); ctx.arc(X(p[1]), Y(p[2]), p[0] === entry.frame_no ? 3 : 1.5, 0, 7); ctx.fill(); });
      }
      const order = panel.boxes.slice().sort((a, b) => (b[4] === 1) - (a[4] === 1));  // other objects first
      for (const b of order) {
        if (b[4] === 1) { ctx.strokeStyle = OTHER; ctx.lineWidth = 1; ctx.setLineDash([]); }
        else if (b[4] === 2) { ctx.strokeStyle = OWN; ctx.lineWidth = 2; ctx.setLineDash([6, 4]); }
        else if (b[4] === 3) { ctx.strokeStyle = MODEL; ctx.lineWidth = 2; ctx.setLineDash([3, 3]); }
        else { ctx.strokeStyle = main ? OWN : STRIP_OWN; ctx.lineWidth = main ? 3 : 2; ctx.setLineDash([]); }
        ctx.strokeRect(X(b[0]), Y(b[1]), b[2] * s, b[3] * s);
      }
      ctx.setLineDash([]);
      canvas.dataset.drawn = "1";
    }
    if (panel.image) {
      const img = new Image();
      img.onload = () => { ctx.drawImage(img, 0, 0, panel.w, panel.h); overlay(); };
      img.onerror = () => { plain(); };
      img.src = panel.image;
    } else {
      plain();
    }
    function plain() {
      ctx.fillStyle = "#2b2f36"; ctx.fillRect(0, 0, panel.w, panel.h);
      ctx.strokeStyle = "rgba(255,255,255,0.08)"; ctx.lineWidth = 1;
      for (let x = 0; x < panel.w; x += 16) { ctx.beginPath(); ctx.moveTo(x + 0.5, 0); ctx.lineTo(x + 0.5, panel.h); ctx.stroke(); }
      for (let y = 0; y < panel.h; y += 16) { ctx.beginPath(); ctx.moveTo(0, y + 0.5); ctx.lineTo(panel.w, y + 0.5); ctx.stroke(); }
      canvas.dataset.plain = "1";
      overlay();
    }
  }

  function card(entry, i) {
    const c = el("section", "entry");
    c.id = "entry-" + i; c.dataset.index = i; c.tabIndex = -1;
    const head = el("div", "head");
    head.append(el("span", "rank", "#" + entry.rank), el("span", "score", "score " + entry.score.toFixed(2)),
      el("span", "label", entry.label || "?"),
      el("span", "name", entry.object_id === null ? "not labeled (" + (entry.model || "model") + ")"
        : entry.object_name || entry.object_id || ""),
      el("span", "frame", "frame " + entry.frame_no));
    const worker = el("span", "worker", "worker " + shortWorker(entry.worker_id));
    worker.title = entry.worker_id || "unknown";
    head.append(worker);
    const seq = el("div", "seq", entry.sequence_id + (entry.frame_file ? " \u00b7 " + entry.frame_file : ""));
    const reasons = el("ul", "reasons");
    for (const r of entry.reasons) {
      const li = el("li", null, DATA.reason_words[r] || r);
      li.dataset.reason = r;
      reasons.append(li);
    }
    const pics = el("div", "pics");
    const strip = el("div", "strip");
    for (const p of entry.panels) {
      const main = p.frame_no === entry.frame_no;
      const fig = el("figure", main ? "main" : "film");
      const cv = document.createElement("canvas");
      cv.width = p.w; cv.height = p.h; cv.dataset.frame = p.frame_no;
      if (main) cv.className = "main-canvas";
      fig.append(cv, el("figcaption", null, (main ? "frame " : "") + p.frame_no + (p.problem ? " (" + p.problem + ")" : "")));
      (main ? pics : strip).append(fig);
      draw(cv, p, entry, main);
    }
    pics.append(strip);
    const buttons = el("div", "verdict");
    for (const v of DATA.verdicts) {
      const b = el("button", "v-" + v, v);
      b.type = "button"; b.dataset.verdict = v;
      b.addEventListener("click", () => { mark(i, v); select(i, false); });
      buttons.append(b);
    }
    c.append(head, seq, reasons, pics, buttons);
    c.addEventListener("click", () => select(i, false));
    return c;
  }

  function mark(i, v) {
    const e = entries[i], k = entryKey(e);
    if (verdicts[k] && verdicts[k].verdict === v) delete verdicts[k];  // a second press takes it back
    else verdicts[k] = { verdict: v, decided_at: new Date().toISOString() };
    keep(); paint(i); tally();
  }
  function paint(i) {
    const v = verdicts[entryKey(entries[i])];
    cards[i].dataset.verdict = v ? v.verdict : "";
    for (const b of cards[i].querySelectorAll(".verdict button")) b.classList.toggle("on", !!v && b.dataset.verdict === v.verdict);
  }

  function visible() { return cards.map((c, i) => i).filter((i) => !cards[i].hidden); }
  function select(i, scroll) {
    if (current >= 0 && cards[current]) cards[current].classList.remove("current");
    current = i;
    if (i < 0) return;
    cards[i].classList.add("current");
    if (scroll) cards[i].scrollIntoView({ block: "center" });
  }
  function step(d) {
    const vis = visible();
    if (!vis.length) return;
    const at = vis.indexOf(current);
    const next = at < 0 ? vis[d > 0 ? 0 : vis.length - 1] : vis[Math.min(vis.length - 1, Math.max(0, at + d))];
    select(next, true);
  }

  const fReason = document.getElementById("f-reason"), fClass = document.getElementById("f-class"),
    fWorker = document.getElementById("f-worker"), fScore = document.getElementById("f-score");
  function options(select, values, label) {
    for (const v of [...new Set(values)].sort()) {
      const o = document.createElement("option");
      o.value = v; o.textContent = label ? label(v) : v;
      select.append(o);
    }
  }
  function filter() {
    const r = fReason.value, c = fClass.value, w = fWorker.value, s = parseFloat(fScore.value) || 0;
    entries.forEach((e, i) => {
      cards[i].hidden = !((!r || e.reasons.includes(r)) && (!c || e.label === c) && (!w || (e.worker_id || "") === w) && e.score >= s);
    });
    if (current >= 0 && cards[current].hidden) select(-1, false);
    tally();
  }
  function tally() {
    const vis = visible();
    const judged = vis.filter((i) => verdicts[entryKey(entries[i])]).length;
    document.getElementById("count").textContent = "showing " + vis.length + " of " + entries.length + ", " + judged + " judged";
  }

  function save() {
    const who = document.getElementById("reviewer");
    const name = who.value.trim();
    const said = document.getElementById("saved");
    if (!name) { said.textContent = "enter your name first"; who.focus(); return; }
    const list = [];
    entries.forEach((e) => {
      const v = verdicts[entryKey(e)];
      if (!v) return;
      const one = { sequence_id: e.sequence_id, frame_no: e.frame_no, object_id: e.object_id, reasons: e.reasons,
        score: e.score, rank: e.rank, verdict: v.verdict, decided_at: v.decided_at };
      if (e.object_id === null) one.model_box = e.model_box;  // what tells overlooked objects of a frame apart
      list.push(one);
    });
    const doc = { format: DATA.format, job_name: DATA.job_name, queue_run_id: DATA.queue_run_id, reviewer: name,
      saved_at: new Date().toISOString(), verdicts: list };
    const blob = new Blob([JSON.stringify(doc, null, 1)], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "verdicts-" + DATA.job_name.replace(/[^A-Za-z0-9-]/g, "_") + "-" + doc.saved_at.replace(/[^0-9]/g, "").slice(0, 14) + ".json";
    document.body.append(a); a.click(); a.remove();
    said.textContent = list.length + " verdicts saved; import them with gtlake verdicts";
  }

  const main = document.getElementById("entries");
  entries.forEach((e, i) => { const c = card(e, i); cards.push(c); main.append(c); paint(i); });
  if (!entries.length) main.append(el("p", "empty", "The queue of this job is empty: nothing to review."));
  options(fReason, entries.flatMap((e) => e.reasons), (r) => r);
  options(fClass, entries.map((e) => e.label).filter((x) => x));
  options(fWorker, entries.map((e) => e.worker_id).filter((x) => x), shortWorker);
  for (const f of [fReason, fClass, fWorker, fScore]) f.addEventListener("input", filter);
  document.getElementById("save").addEventListener("click", save);
  document.addEventListener("keydown", (ev) => {
    if (ev.target && (ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT")) return;
    const k = ev.key;
    if (k === "j" || k === "ArrowDown" || k === "ArrowRight") { step(1); ev.preventDefault(); }
    else if (k === "k" || k === "ArrowUp" || k === "ArrowLeft") { step(-1); ev.preventDefault(); }
    else if ((k === "m" || k === "f" || k === "u") && current >= 0) mark(current, { m: "mistake", f: "fine", u: "unsure" }[k]);
    else if (k === "s") save();
  });
  filter();
  if (entries.length) select(0, false);
  document.body.dataset.ready = "1";
})();
