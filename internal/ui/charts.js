// The sweep pages' charts: plain SVG drawn from the page's data.json, no
// library, so the pages work offline. sweepPage and trialPage poll their
// data while it can still change.
"use strict";

const NS = "http://www.w3.org/2000/svg";
const W = 640, H = 320, M = {left: 64, right: 20, top: 34, bottom: 44};

function el(tag, attrs, parent, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function html(tag, attrs, parent, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function reset(svg, w, h) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  svg.setAttribute("viewBox", `0 0 ${w || W} ${h || H}`);
  svg.setAttribute("width", w || W);
  svg.setAttribute("height", h || H);
}

const pct = x => (100 * x).toFixed(2) + "%";
function bytes(n) {
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(2) + " MiB";
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + " KiB";
  return n + " B";
}
function num(x) {
  if (typeof x !== "number") return String(x);
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5)) return x.toExponential(2);
  return String(+x.toPrecision(4));
}

// scale maps [d0, d1] onto [r0, r1], in the logarithm when log is set.
function scale(d0, d1, r0, r1, log) {
  const f = log ? Math.log10 : (v => v);
  let a = f(d0), b = f(d1);
  if (!(b > a)) { const c = a; a = c - 0.5; b = c + 0.5; }
  return v => r0 + (f(v) - a) / (b - a) * (r1 - r0);
}

// ticks returns round values across [lo, hi]: powers of ten (with 2 and 5
// when there are few) in log, steps of 1, 2 or 5 × 10^k otherwise (and in
// a log range too narrow for three of those); steps of at least 1 when
// integer.
function ticks(lo, hi, log, integer) {
  const out = [];
  if (log) {
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of [1, 2, 5]) {
        const v = m * Math.pow(10, e);
        if (v >= lo && v <= hi) out.push(v);
      }
    }
    if (out.length < 3) return ticks(lo, hi, false, integer); // less than a decade
    return out.length > 8 ? out.filter(v => Math.abs(Math.log10(v) % 1) < 1e-9) : out;
  }
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / 5, p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = Math.max(integer ? 1 : 0, [1, 2, 5, 10].map(m => m * p).find(s => s >= raw));
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

// frame draws the axes of a plot of [x0, x1] × [y0, y1] and returns its
// scales.
function frame(svg, o) {
  const w = o.w || W, h = o.h || H;
  const sx = scale(o.x0, o.x1, M.left, w - M.right, o.xlog);
  const sy = scale(o.y0, o.y1, h - M.bottom, M.top, false);
  const g = el("g", {class: "axes", "font-size": 11, fill: "#444"}, svg);
  el("rect", {x: M.left, y: M.top, width: w - M.left - M.right, height: h - M.top - M.bottom, fill: "none", stroke: "#bbb"}, g);
  for (const v of ticks(o.x0, o.x1, o.xlog, o.xint)) {
    el("line", {x1: sx(v), x2: sx(v), y1: M.top, y2: h - M.bottom, stroke: "#eee"}, g);
    el("text", {x: sx(v), y: h - M.bottom + 14, "text-anchor": "middle"}, g, (o.xfmt || num)(v));
  }
  for (const v of ticks(o.y0, o.y1, false)) {
    el("line", {x1: M.left, x2: w - M.right, y1: sy(v), y2: sy(v), stroke: "#eee"}, g);
    el("text", {x: M.left - 6, y: sy(v) + 4, "text-anchor": "end"}, g, (o.yfmt || num)(v));
  }
  el("text", {x: (M.left + w - M.right) / 2, y: h - 8, "text-anchor": "middle"}, g, o.xlabel);
  el("text", {x: 14, y: (M.top + h - M.bottom) / 2, "text-anchor": "middle",
    transform: `rotate(-90 14 ${(M.top + h - M.bottom) / 2})`}, g, o.ylabel);
  return {sx, sy};
}

// legend draws entries [{label, color, line}] in the top margin, outside
// the data area, so it never covers a point.
function legend(svg, entries) {
  const g = el("g", {class: "legend", "font-size": 11}, svg);
  let x = M.left;
  for (const e of entries) {
    if (e.line) el("line", {x1: x, x2: x + 16, y1: 14, y2: 14, stroke: e.color, "stroke-width": 2}, g);
    else el("circle", {cx: x + 8, cy: 14, r: 4, fill: e.color}, g);
    el("text", {x: x + 22, y: 18}, g, e.label);
    x += 30 + 6.5 * e.label.length;
  }
}

function extent(vs) {
  let lo = Infinity, hi = -Infinity;
  for (const v of vs) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  return [lo, hi];
}

// pad widens [lo, hi] by a fraction of its span on both sides.
function pad([lo, hi], f) {
  const d = hi > lo ? (hi - lo) * f : Math.max(Math.abs(hi) * f, 1e-3);
  return [lo - d, hi + d];
}

function describe(t, axes) {
  const ps = axes.filter(a => a.name in t.values).map(a => `${a.name} ${num(t.values[a.name])}`);
  return `${t.id} (${t.epochs} epochs): ${t.genome}\n${ps.join(", ")}\naccuracy ${pct(t.accuracy)}, ${bytes(t.bytes)}, ` +
    `${t.params} params` + (t.latency_int8 > 0 ? `, int8 ${(1e6 * t.latency_int8).toFixed(1)} µs` : "");
}

// trialBase is the path of the sweep's trial pages (sweepPage sets it).
let trialBase = "";

function link(parent, trial) {
  return el("a", {href: `${trialBase}/${trial}`}, parent);
}

// history: each completed trial's accuracy by trial number, and the best
// so far.
function drawHistory(svg, d) {
  reset(svg);
  const ts = d.trials;
  if (!ts.length) return;
  const [x0, x1] = pad(extent(ts.map(t => t.index)), 0.03);
  const [y0, y1] = pad(extent(ts.map(t => t.accuracy)), 0.08);
  const {sx, sy} = frame(svg, {x0, x1, y0, y1, xint: true, xlabel: "trial", ylabel: "accuracy", yfmt: pct});
  legend(svg, [{label: "trial", color: "#6a8caf"}, {label: "best so far", color: "#c0392b", line: true}]);
  const g = el("g", {class: "points"}, svg);
  for (const t of ts) {
    const c = el("circle", {class: "pt", cx: sx(t.index), cy: sy(t.accuracy), r: 3.5, fill: "#6a8caf", "fill-opacity": 0.8}, link(g, t.id));
    el("title", {}, c, describe(t, d.axes));
  }
  const pts = [];
  ts.forEach((t, i) => {
    if (i > 0) pts.push(`${sx(t.index)},${sy(ts[i - 1].best_so_far)}`);
    pts.push(`${sx(t.index)},${sy(t.best_so_far)}`);
  });
  el("polyline", {id: "best-line", points: pts.join(" "), fill: "none", stroke: "#c0392b", "stroke-width": 2}, svg);
}

// pareto: accuracy against stored bytes (log), the front highlighted.
function drawPareto(svg, d) {
  reset(svg);
  const ts = d.trials;
  if (!ts.length) return;
  let [b0, b1] = extent(ts.map(t => Math.max(t.bytes, 1)));
  b0 /= 1.25; b1 *= 1.25;
  const [y0, y1] = pad(extent(ts.map(t => t.accuracy)), 0.08);
  const {sx, sy} = frame(svg, {x0: b0, x1: b1, y0, y1, xlog: true, xlabel: "stored bytes (log)", ylabel: "accuracy", xfmt: bytes, yfmt: pct});
  legend(svg, [{label: `trials (${ts.length})`, color: "#9aa5b1"}, {label: `Pareto front (${d.front.length})`, color: "#c0392b"}]);
  const byID = new Map(ts.map(t => [t.id, t]));
  const front = d.front.map(id => byID.get(id)).filter(Boolean);
  const pts = [];
  front.forEach((t, i) => {
    if (i > 0) pts.push(`${sx(Math.max(t.bytes, 1))},${sy(front[i - 1].accuracy)}`);
    pts.push(`${sx(Math.max(t.bytes, 1))},${sy(t.accuracy)}`);
  });
  el("polyline", {id: "front-line", points: pts.join(" "), fill: "none", stroke: "#c0392b", "stroke-width": 1.5, "stroke-dasharray": "4 3"}, svg);
  const g = el("g", {class: "points"}, svg);
  for (const t of [...ts.filter(t => !t.front), ...front]) {
    const c = el("circle", {class: t.front ? "pt front" : "pt", cx: sx(Math.max(t.bytes, 1)), cy: sy(t.accuracy),
      r: t.front ? 5 : 3.5, fill: t.front ? "#c0392b" : "#9aa5b1", stroke: "#fff"}, link(g, t.id));
    el("title", {}, c, describe(t, d.axes));
  }
}

// color maps u in [0, 1] from blue (low accuracy) to orange-red (high).
function color(u) {
  const a = [49, 54, 149], b = [253, 174, 97], c = [165, 0, 38];
  const [p, q, v] = u < 0.5 ? [a, b, u * 2] : [b, c, u * 2 - 1];
  return `rgb(${p.map((x, i) => Math.round(x + (q[i] - x) * v)).join(",")})`;
}

// axisScale returns where a value of axis a lies between y0 (bottom) and
// y1 (top), or null when the trial has none (inactive).
function axisScale(a, y0, y1) {
  if (a.type === "categorical") {
    const n = a.choices.length;
    const at = v => a.choices.findIndex(c => String(c) === String(v));
    return v => { const i = at(v); return i < 0 ? null : (n === 1 ? (y0 + y1) / 2 : y0 + i / (n - 1) * (y1 - y0)); };
  }
  const s = scale(a.low, a.high, y0, y1, a.type === "log");
  return v => (typeof v === "number" ? s(v) : null);
}

// parallel: one vertical axis per parameter and accuracy last; a line per
// trial, coloured by its accuracy. Inactive parameters sit on the n/a row.
function drawParallel(svg, d) {
  const ts = d.trials, axes = d.axes, n = axes.length + 1;
  const w = Math.max(W, 110 * n), h = 360, top = 40, bottom = h - 56, na = h - 30;
  reset(svg, w, h);
  if (!ts.length) return;
  const x = i => 50 + i * (w - 100) / Math.max(n - 1, 1);
  const [a0, a1] = extent(ts.map(t => t.accuracy));
  const acc = scale(a0, a1 > a0 ? a1 : a0 + 1e-9, bottom, top, false);
  const scales = axes.map(a => axisScale(a, bottom, top));
  const lines = el("g", {class: "lines", fill: "none", "stroke-width": 1.5, "stroke-opacity": 0.75}, svg);
  const sorted = [...ts].sort((p, q) => p.accuracy - q.accuracy);
  for (const t of sorted) {
    const pts = axes.map((a, i) => {
      const y = scales[i](t.values[a.name]);
      return `${x(i)},${y === null ? na : y}`;
    });
    pts.push(`${x(n - 1)},${acc(t.accuracy)}`);
    const u = a1 > a0 ? (t.accuracy - a0) / (a1 - a0) : 1;
    const l = el("polyline", {class: "pc-line", points: pts.join(" "), stroke: color(u)}, link(lines, t.id));
    el("title", {}, l, describe(t, axes));
  }
  const g = el("g", {class: "axes", "font-size": 10, fill: "#333"}, svg);
  axes.forEach((a, i) => {
    el("line", {x1: x(i), x2: x(i), y1: top, y2: bottom, stroke: "#555"}, g);
    el("text", {x: x(i), y: top - 12, "text-anchor": "middle", "font-weight": "bold"}, g, a.name + (a.type === "log" ? " (log)" : ""));
    const marks = a.type === "categorical" ? a.choices : (a.type === "log" ? [a.low, Math.sqrt(a.low * a.high), a.high] : [a.low, (a.low + a.high) / 2, a.high]);
    for (const v of marks) {
      const y = scales[i](v);
      if (y === null) continue;
      el("line", {x1: x(i) - 3, x2: x(i) + 3, y1: y, y2: y, stroke: "#555"}, g);
      el("text", {x: x(i) + 5, y: y + 3}, g, num(v));
    }
    el("text", {x: x(i) + 5, y: na + 3, fill: "#999"}, g, "n/a");
  });
  el("line", {x1: x(n - 1), x2: x(n - 1), y1: top, y2: bottom, stroke: "#555"}, g);
  el("text", {x: x(n - 1), y: top - 12, "text-anchor": "middle", "font-weight": "bold"}, g, "accuracy");
  for (const v of [a0, (a0 + a1) / 2, a1]) el("text", {x: x(n - 1) + 5, y: acc(v) + 3}, g, pct(v));
}

// importance: one bar per parameter, its share of the variance explained.
function drawImportance(svg, d, note) {
  const ps = d.importance.params;
  const h = Math.max(60, 26 * ps.length + 30);
  reset(svg, W, h);
  note.textContent = ps.length ? d.importance.method + ` (${d.importance.trials} trials).` :
    `Importance needs at least 8 completed trials (${d.importance.trials} so far).`;
  const left = 150, right = W - 170;
  const g = el("g", {"font-size": 11}, svg);
  ps.forEach((p, i) => {
    const y = 10 + 26 * i;
    el("text", {x: left - 8, y: y + 13, "text-anchor": "end"}, g, p.name);
    const bar = el("rect", {class: "imp-bar", x: left, y, width: Math.max(1, p.share * (right - left)), height: 18, fill: "#4a7ab0"}, g);
    el("title", {}, bar, `${p.name}: ${pct(p.share)} of the explained variance; explains ${pct(p.variance_explained)} of accuracy's variance alone (${p.bins} bins)`);
    el("text", {x: left + p.share * (right - left) + 6, y: y + 13}, g, `${pct(p.share)} (ε² ${p.variance_explained.toFixed(3)})`);
  });
}

function fillTable(table, rows, cells) {
  const body = table.tBodies[0];
  while (body.rows.length) body.deleteRow(0);
  for (const r of rows) {
    const tr = html("tr", {}, body);
    cells(r).forEach((c, i) => {
      const td = html("td", {}, tr);
      if (i === 0) html("a", {href: `${trialBase}/${c}`}, td, c); else td.textContent = c;
    });
  }
}

// poll fetches url's JSON and hands it to show, again every period ms
// until show returns a final message, writing the state into live.
function poll(url, period, live, show) {
  async function load() {
    let d;
    try {
      const r = await fetch(url, {cache: "no-store"});
      if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
      d = await r.json();
    } catch (e) {
      live.textContent = `update failed: ${e.message}; retrying`;
      setTimeout(load, period);
      return;
    }
    const final = show(d);
    if (final) {
      live.textContent = final;
      return;
    }
    live.textContent = `live: updated ${new Date().toLocaleTimeString()}, every ${period / 1000} s.`;
    setTimeout(load, period);
  }
  load();
}

// sweepPage draws a sweep's page from url (its data.json) and polls it
// every period ms until the sweep is done or cancelled; trials is the path
// of its trial pages.
function sweepPage(url, trials, period) {
  const $ = id => document.getElementById(id);
  trialBase = trials;
  poll(url, period, $("live"), d => {
    $("status").textContent = d.status;
    $("counts").textContent = `${d.counts.completed} completed, ${d.counts.failed} failed, ${d.counts.pending} pending`;
    $("charts").hidden = d.trials.length === 0;
    drawHistory($("history"), d);
    drawPareto($("pareto-chart"), d);
    drawParallel($("parallel"), d);
    drawImportance($("importance"), d, $("importance-note"));
    const byID = new Map(d.trials.map(t => [t.id, t]));
    fillTable($("front"), d.front.map(id => byID.get(id)), t => [t.id, pct(t.accuracy), t.bytes, t.params, t.genome]);
    const best = [...d.trials].sort((a, b) => b.accuracy - a.accuracy).slice(0, 10);
    fillTable($("best"), best, t => [t.id, t.epochs, pct(t.accuracy), t.bytes, t.genome]);
    return d.final && `sweep ${d.status}: not updating.`;
  });
}

// drawCurve plots series [{key, label, color}] of a trial's epochs, with a
// dashed line where fine-tuning after pruning starts.
function drawCurve(svg, curve, series, ylabel, yfmt) {
  reset(svg);
  const have = series.filter(s => curve.some(e => typeof e[s.key] === "number"));
  if (!curve.length || !have.length) return;
  const vals = have.flatMap(s => curve.map(e => e[s.key]).filter(v => typeof v === "number"));
  const [y0, y1] = pad(extent(vals), 0.08);
  const [x0, x1] = curve.length > 1 ? [curve[0].epoch, curve[curve.length - 1].epoch] : [curve[0].epoch - 0.5, curve[0].epoch + 0.5];
  const {sx, sy} = frame(svg, {x0, x1, y0, y1, xint: true, xlabel: "epoch", ylabel, yfmt});
  legend(svg, have.map(s => ({label: s.label, color: s.color, line: true})));
  const ft = curve.find(e => e.phase === "fine-tune");
  if (ft) {
    const x = sx(ft.epoch - 0.5);
    el("line", {class: "phase", x1: x, x2: x, y1: M.top, y2: H - M.bottom, stroke: "#888", "stroke-dasharray": "4 3"}, svg);
    el("text", {x: x + 4, y: M.top + 12, "font-size": 10, fill: "#666"}, svg, "pruned; fine-tuning");
  }
  for (const s of have) {
    const pts = curve.filter(e => typeof e[s.key] === "number").map(e => `${sx(e.epoch)},${sy(e[s.key])}`);
    el("polyline", {id: s.id, points: pts.join(" "), fill: "none", stroke: s.color, "stroke-width": 2}, svg);
    const g = el("g", {}, svg);
    for (const e of curve.filter(e => typeof e[s.key] === "number")) {
      const c = el("circle", {cx: sx(e.epoch), cy: sy(e[s.key]), r: 3, fill: s.color}, g);
      el("title", {}, c, `epoch ${e.epoch} (${e.phase}): ${s.label} ${yfmt(e[s.key])}`);
    }
  }
}

// trialPage draws a trial's learning curve from url and polls it every
// period ms while the trial is still to be decided.
function trialPage(url, period) {
  const $ = id => document.getElementById(id);
  poll(url, period, $("live"), d => {
    $("status").textContent = d.status;
    const run = d.runs.length ? d.runs[d.runs.length - 1] : null;
    const curve = run && run.curve ? run.curve : [];
    $("curve-note").textContent = curve.length ? `attempt ${run.attempt}: ${curve.length} epochs` + (run.resumed_from ? `, resumed from the checkpoint of epoch ${run.resumed_from}` : "") + "." :
      "No learning curve: the trial has not finished an attempt, or its evaluator does not train (table).";
    drawCurve($("loss"), curve, [{key: "train_loss", label: "training loss", color: "#c0392b", id: "loss-line"}], "loss", num);
    drawCurve($("accuracy"), curve, [{key: "train_acc", label: "training accuracy", color: "#6a8caf", id: "train-acc-line"},
      {key: "test_acc", label: "test accuracy", color: "#27ae60", id: "test-acc-line"}], "accuracy", pct);
    return d.final && `trial ${d.status}: not updating.`;
  });
}
