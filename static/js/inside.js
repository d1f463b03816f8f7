// Chapter 4a, inside a layer: one token followed through one layer, every number from
// POST /api/inside (the prompt's own forward pass). State lives in the URL: text, layer, head,
// position (the token; -1 = the last) and key (the key row whose dot product is taken apart; -1 = the
// heaviest after the first token).

import { $, api, debounce, el, latest, plainTokenLabel, plotConfig, plotLayout, plotText, readState, svgEl, tokenChip,
  writeState } from "./api.js";
import { drawHeatmap } from "./kit/heatmap.js";
import { apiFirst } from "./kit/first.js";
import { loader } from "./kit/load.js";
import { touchWords } from "./kit/touch.js";
import { isNarrow, isTouch, plotly } from "./kit/plotly.js";

const EXAMPLES = [
  "The capital of France is",
  "I sat on the river bank",
  "When Mary and John went to the shop, John gave a drink to",
];
const DEFAULTS = { text: EXAMPLES[0], layer: 18, head: 1, position: -1, key: -1 };
const CLIP_RANK = 6;      // a strip's colours stop at its 6th-largest |entry|; the 5 above are listed
const TOP_NEURONS = 10;
const NEG = "#4453c7", POS = "#d9682b", KV_COLOURS = ["#4453c7", "#d9682b", "#1f8a5b", "#a23bb0", "#8a6d1f", "#c23b3b"];
const DIVERGING = [[0, NEG], [0.5, "#ffffff"], [1, POS]];

const state = readState(DEFAULTS);
let data = null;          // the /api/inside answer drawn
let headsBound = false;   // the heads chart's click handler is attached once
let Plotly = null;        // set before the first draw (the kit loads it beside the first request)

const save = () => writeState(state, DEFAULTS);
const tokenText = plainTokenLabel;  // a token in a sentence or a chart: hex bytes for a piece of a character
const fmt = (x, d = 3) => {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < 10 ** -d)) return x.toExponential(2);
  return x.toFixed(d);
};
const signed = (x, d = 2) => (x >= 0 ? "+" : "−") + fmt(Math.abs(x), d);
const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const byMagnitude = (v) => v.map((x, i) => [i, x]).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
const tokenAt = (j) => data.tokens[j];

// --- strips: 576-number vectors as colour rows ------------------------------------------------------

/** The colour limit of a vector: its CLIP_RANK-th largest |entry| (the few larger ones saturate and are listed). */
function clipOf(values) {
  const sizes = values.map(Math.abs).sort((a, b) => b - a);
  return sizes[Math.min(CLIP_RANK - 1, sizes.length - 1)] || 1;
}

/** The largest entries of each row, in words: a strip's text equivalent. */
const stripText = (rows) => rows.map((r) => `${r.name}: length ${fmt(norm(r.values), 1)}, largest entries `
  + byMagnitude(r.values).slice(0, 3).map(([i, x]) => `#${i} ${signed(x)}`).join(", ")).join("; ") + ".";

/** rows: [{name, values}]; shared: one colour scale for all rows (an addition reads as colours adding). */
function drawStrip(node, rows, { shared = false } = {}) {
  const clips = rows.map((r) => clipOf(r.values));
  const common = Math.max(...clips);
  const z = rows.map((r, k) => r.values.map((x) => Math.max(-1, Math.min(1, x / (shared ? common : clips[k])))));
  const n = rows[0].values.length;
  // Each row's name sits above it (annotations in the gap between rows), not on an axis.
  return drawHeatmap(node, {
    z, zmin: -1, zmax: 1, colorscale: DIVERGING, colorbar: false, gaps: false, trace: { ygap: 18 },
    height: 58 + rows.length * 48, label: node.getAttribute("aria-label"),
    hover: (k, i) => `${rows[k].name}\nentry #${i}: ${fmt(rows[k].values[i], 4)}`,
    describe: () => stripText(rows),
    layout: {
      margin: { l: 8, r: 8, t: 12, b: 40 },
      xaxis: { range: [-0.5, n - 0.5], showgrid: false, zeroline: false, title: { text: `entry (0 to ${n - 1})`, standoff: 8 },
        tickfont: { size: 10 } },
      yaxis: { showticklabels: false, ticks: "", range: [rows.length - 0.5, -0.5], showgrid: false, zeroline: false },
      annotations: rows.map((r, k) => ({ x: 0, y: k - 0.5, xref: "paper", yref: "y", xanchor: "left", yanchor: "bottom",
        yshift: -9, text: plotText(r.name), showarrow: false, font: { size: 11, color: "#1d2130" } })),
    },
  });
}

/** Under a strip: each row's entries beyond the colour limit (at most CLIP_RANK - 1), with their values. */
function drawTops(node, rows, { shared = false } = {}) {
  const common = Math.max(...rows.map((r) => clipOf(r.values)));
  node.replaceChildren(...rows.map((r) => {
    const clip = shared ? common : clipOf(r.values);
    const over = byMagnitude(r.values).filter(([, x]) => Math.abs(x) > clip).slice(0, CLIP_RANK - 1);
    const line = el("p", { cls: "top-line" }, [el("span", { cls: "top-name", text: r.name })]);
    if (!over.length) line.append(el("span", { cls: "muted", text: "none beyond the colour scale; largest " }),
      ...byMagnitude(r.values).slice(0, 1).map(([i, x]) => el("code", { text: `#${i} ${signed(x)}` })));
    for (const [i, x] of over) line.append(el("code", { cls: x >= 0 ? "pos" : "neg", text: `#${i} ${signed(x)}` }));
    line.append(el("span", { cls: "muted", text: ` · length ${fmt(norm(r.values), 1)}` }));
    return line;
  }));
}

// --- 1. the residual stream and RMSNorm --------------------------------------------------------------

function drawNorm1() {
  const tok = tokenText(tokenAt(data.position));
  const gains = data.norm1_gain;
  $("norm1-summary").replaceChildren(
    `Token “${tok}” entering layer ${data.layer}: its ${data.d_model} numbers have a root-mean-square of `,
    el("strong", { text: fmt(data.rms1, 3) }),
    `. RMSNorm divides every number by it, then multiplies each by its gain (this layer's gains run from ${fmt(Math.min(...gains), 2)} `
    + `to ${fmt(Math.max(...gains), 2)}).`);
  const rows = [{ name: "coming in (resid_pre)", values: data.resid_pre },
    { name: `÷ ${fmt(data.rms1, 2)}`, values: data.resid_pre.map((x) => x / data.rms1) },
    { name: "× gain = what attention reads (norm1)", values: data.norm1 }];
  drawStrip($("strip-norm1"), rows);
  drawTops($("norm1-top"), [rows[0], rows[2]]);
}

// --- 2. one head ---------------------------------------------------------------------------------------

function drawGqa() {
  const box = $("gqa");
  box.replaceChildren();
  for (let kv = 0; kv < data.n_kv_heads; kv++) {
    const group = el("div", { cls: "kv-group" + (kv === data.kv_head ? " active" : "") });
    group.style.borderColor = KV_COLOURS[kv % KV_COLOURS.length];
    const heads = el("div", { cls: "q-heads" });
    for (const h of data.heads.filter((x) => x.kv_head === kv)) {
      const b = el("button", { cls: "q-head" + (h.head === data.head ? " picked" : ""), text: `head ${h.head}`,
        attrs: { type: "button", "aria-pressed": String(h.head === data.head) } });
      b.addEventListener("click", () => { state.head = h.head; state.key = -1; update(); });
      heads.append(b);
    }
    group.append(heads, el("div", { cls: "kv-name", text: `key/value head ${kv}` }));
    box.append(group);
  }
  const mates = data.heads.filter((h) => h.kv_head === data.kv_head && h.head !== data.head).map((h) => h.head);
  $("gqa-text").replaceChildren("Grouped-query attention: query head ", el("strong", { text: String(data.head) }),
    " reads the keys and values of ", el("strong", { text: `key/value head ${data.kv_head}` }),
    `, the same ones heads ${mates.join(" and ")} read. Each of them asks its own query, so their weights can differ. `
    + `(The ${data.n_heads} query heads share ${data.n_kv_heads} key/value heads.)`);
}

/** Rows of head-sized vectors (the query and keys, or the weighted values) as one heatmap, with a line
 *  under row `lineAfter`. The columns keep Plotly's own numbered axis (0, 10, 20, ...). */
function drawVectors(node, rows, labels, { xTitle, lineAfter, describe, hoverLabels = labels }) {
  const max = Math.max(...rows.flat().map(Math.abs)) || 1;
  return drawHeatmap(node, {
    z: rows, y: labels, zmin: -max, zmax: max, colorscale: DIVERGING, colorbar: {}, gaps: false, trace: { ygap: 2 },
    height: Math.min(520, 90 + rows.length * 26), label: node.getAttribute("aria-label"),
    hover: (k, i, x) => `${hoverLabels[k]}\nnumber ${i}: ${fmt(x, 4)}`,
    shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: lineAfter + 0.5, y1: lineAfter + 0.5,
      line: { color: "#1d2130", width: 1.5 } }],
    describe,
    layout: { xaxis: { title: { text: xTitle, standoff: 10 }, automargin: true, showgrid: false, zeroline: false } },
  });
}

/** Token j's label, cut to 6 characters on a phone (the hover and the text equivalent name it in full). */
const shortToken = (j, narrow) => {
  const s = tokenText(tokenAt(j));
  return narrow && [...s].length > 6 ? [...s].slice(0, 5).join("") + "…" : s;
};

/** The largest |entries| of rows of numbers, as "label number i (value)". */
const largestCells = (rows, labels, k = 3) => rows.flatMap((r, i) => r.map((x, j) => [i, j, x]))
  .sort((a, b) => Math.abs(b[2]) - Math.abs(a[2])).slice(0, k)
  .map(([i, j, x]) => `${labels[i]} number ${j} (${signed(x)})`).join(", ");

function drawQk() {
  const p = data.position, narrow = isNarrow($("qk"));
  const xTitle = narrow ? `number (0 to ${data.d_head - 1})` : `number (0 to ${data.d_head - 1}); pairs are i and i + ${data.d_head / 2}`;
  const label = (full) => [`${narrow ? "q" : "query:"} ${shortToken(p, narrow && !full)}`,
    ...data.keys.map((_, j) => `${narrow ? "k" : "key #"}${j} ${shortToken(j, narrow && !full)}`)];
  const labels = label(false);
  const rows = [data.query, ...data.keys];
  return drawVectors($("qk"), rows, labels, { xTitle, lineAfter: 0, hoverLabels: label(true),
    describe: () => `The query of “${tokenText(tokenAt(p))}” (top row) and the keys of the ${data.keys.length} tokens up to it, `
      + `${data.d_head} numbers each. Largest: ${largestCells(rows, labels)}.` });
}

function drawRope() {
  const half = data.d_head / 2, p = data.position, q0 = data.query_unrotated, q = data.query;
  const lengths = Array.from({ length: half }, (_, k) => Math.hypot(q0[k], q0[k + half]));
  const strongest = lengths.map((l, k) => [k, l]).filter(([k]) => k !== 0).sort((a, b) => b[1] - a[1])[0][0];
  const pairs = [0, strongest];
  const svg = $("dials");
  svg.replaceChildren();
  const W = 380, H = 210, R = 66;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  pairs.forEach((k, n) => {
    const cx = 95 + n * 190, cy = 90;
    const scale = R / (Math.max(lengths[k], 1e-9));
    svg.append(svgEl("circle", { cx, cy, r: R, class: "dial" }));
    const arrow = (x, y, cls) => svg.append(svgEl("line", { x1: cx, y1: cy, x2: cx + x * scale, y2: cy - y * scale, class: cls }));
    arrow(q0[k], q0[k + half], "before");
    arrow(q[k], q[k + half], "after");
    const turns = data.rope_angles[k] / (2 * Math.PI);
    svg.append(svgEl("text", { x: cx, y: cy + R + 16, class: "dial-label", "text-anchor": "middle" },
      `pair ${k} (${k} & ${k + half})`));
    svg.append(svgEl("text", { x: cx, y: cy + R + 30, class: "dial-sub", "text-anchor": "middle" },
      `turned by ${fmt(data.rope_angles[k], 2)} rad` + (Math.abs(turns) >= 1 ? ` (${fmt(turns, 2)} turns)` : "")
      + (p > 0 && Math.abs(data.rope_angles[k]) < 0.05 ? ", too little to see" : "")));
    svg.append(svgEl("text", { x: cx, y: 12, class: "dial-sub", "text-anchor": "middle" },
      k === 0 ? "the fastest pair" : "the query's longest pair"));
  });
  // The angles of all pairs at this position (log scale: they span several powers of ten).
  const angles = data.rope_angles;
  const node = $("angles");
  if (p === 0) {
    Plotly.purge(node);
    node.replaceChildren(el("p", { cls: "explain", text: "At position 0 every angle is 0: the first token is not turned at all." }));
    node.style.minHeight = "0";
  } else {
    node.replaceChildren();
    node.style.minHeight = "";
    Plotly.react(node, [{ type: "bar", x: angles.map((_, k) => k), y: angles, marker: { color: NEG },
      hovertemplate: "pair %{x}: %{y:.4g} rad<extra></extra>" }], plotLayout({
      height: 220, margin: { l: 56, r: 10, t: 26, b: 40 },
      title: { text: `Angle of each pair at position ${p}`, font: { size: 13 }, x: 0.02 },
      xaxis: { title: { text: "pair", standoff: 2 } }, yaxis: { type: "log", title: { text: "radians", standoff: 2 }, exponentformat: "power" },
    }), { ...plotConfig, displayModeBar: false });
  }
  if (p === 0) {
    $("rope-text").textContent = "Grey: the query before turning; blue: after (the same here). Pick a later token to see "
      + "the pairs turn: each keeps its length; only its direction changes.";
    return;
  }
  $("rope-text").replaceChildren(`The followed token sits at position ${p}, so pair k is turned by ${p} × θ`,
    el("sub", { text: "k" }), `: pair 0 by ${fmt(angles[0], 2)} radians, pair ${half - 1} by only ${fmt(angles[half - 1], 6)}. `
    + "Grey: the query before turning; blue: after. Turning keeps each pair's length; only the direction changes, "
    + "so which keys line up with the query now depends on how far back they are.");
}

/** The key row taken apart: the URL's choice, else the heaviest key after the first token (the first often takes most). */
function pickedKey() {
  const n = data.weights.length;
  if (state.key >= 0 && state.key < n) return state.key;
  if (n === 1) return 0;
  let best = 1;
  for (let j = 1; j < n; j++) if (data.weights[j] > data.weights[best]) best = j;
  return best;
}

function drawScores() {
  const body = $("scores").querySelector("tbody");
  body.replaceChildren();
  const p = data.position, key = pickedKey();
  const top = Math.max(...data.scaled);
  const exps = data.scaled.map((s) => Math.exp(s - top));
  const sum = exps.reduce((a, b) => a + b, 0);
  // e^x of each scaled score (relative to the largest when they are too large to print), and their sum.
  // Whole numbers from 100 on, so the column fits a phone (the weights are computed from the exact values).
  const expFmt = (x) => (x >= 100 && x < 1e5 ? x.toFixed(0) : fmt(x, 3));
  const expLabel = (j) => expFmt(top > 40 ? exps[j] : Math.exp(data.scaled[j]));
  $("exp-head").textContent = top > 40 ? "e^(x − largest)" : "eˣ";
  $("exp-sum").textContent = `sum ${top > 40 ? expFmt(sum) : expFmt(Math.exp(top) * sum)}`;
  data.tokens.forEach((t, j) => {
    const tr = el("tr", { cls: (j === key ? "picked" : "") + (j > p ? " masked" : "") });
    const label = el("td", { cls: "tok-cell", title: `token #${j}` }, [tokenChip(t)]);
    if (j > p) {
      tr.append(label, el("td", { text: "—" }), el("td", { text: "−∞", title: "masked: this token comes later" }),
        el("td", { cls: "num", text: "0" }), el("td", {}, ["0", el("br"), el("span", { cls: "muted", text: "masked" })]));
    } else {
      const w = data.weights[j];
      const bar = el("span", { cls: "wbar" });
      bar.style.width = `${Math.max(0.5, w * 100)}%`;
      tr.append(label, el("td", { cls: "num", text: fmt(data.scores[j], 3) }), el("td", { cls: "num", text: fmt(data.scaled[j], 3) }),
        el("td", { cls: "num", text: expLabel(j) }),
        el("td", { cls: "wcell" }, [el("span", { cls: "wtrack" }, [bar]), el("span", { cls: "num", text: fmt(w, 4) })]));
      tr.tabIndex = 0;
      tr.title = "Take this dot product apart";
      const pick = () => { state.key = j; save(); drawScores(); drawDot(); };
      tr.addEventListener("click", pick);
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } });
    }
    body.append(tr);
  });
  const later = data.tokens.length - 1 - p;
  $("mask-note").textContent = later
    ? `The ${later === 1 ? "token" : `${later} tokens`} after “${tokenText(tokenAt(p))}” ${later === 1 ? "is" : "are"} masked: `
      + "a score of −∞, whose eˣ is 0, so the weight is 0."
    : `No token comes after “${tokenText(tokenAt(p))}”, so nothing is masked here: pick an earlier token above to see the mask.`;
}

function drawDot() {
  const key = pickedKey(), half = data.d_head / 2;
  const terms = data.query.map((q, i) => q * data.keys[key][i]);
  const total = terms.reduce((a, b) => a + b, 0);
  const tok = tokenText(tokenAt(key));
  Plotly.react($("dot"), [{ type: "bar", x: terms.map((_, i) => i), y: terms,
    marker: { color: terms.map((x) => (x >= 0 ? POS : NEG)) },
    hovertemplate: "number %{x}: query × key = %{y:.4f}<extra></extra>" }], plotLayout({
    height: 240, margin: { l: 50, r: 10, t: 30, b: 40 },
    title: { text: plotText(`query · key of “${tok}”, term by term`), font: { size: 13 }, x: 0.02 },
    xaxis: { title: { text: "number i: query[i] × key[i]", standoff: 2 } }, yaxis: { zeroline: true },
  }), { ...plotConfig, displayModeBar: false });
  const big = byMagnitude(terms).slice(0, 3);
  const pos = terms.filter((x) => x > 0).reduce((a, b) => a + b, 0), neg = terms.filter((x) => x < 0).reduce((a, b) => a + b, 0);
  $("dot-text").replaceChildren(`For “${tok}”: the ${data.d_head} products add up to `, el("strong", { text: fmt(total, 3) }),
    ` (positive terms ${signed(pos)}, negative ${signed(neg)}), the score in the table. The largest terms: `
    + big.map(([i, x]) => `number ${i} (${signed(x)}, pair ${i % half})`).join(", ") + ".");
}

const fetchChapter4 = latest((signal) => api("/api/attention", { text: state.text, layer: data.layer, head: data.head }, { signal }));

async function drawChapter4() {
  const node = $("chapter4");
  const p = data.position, tok = tokenText(tokenAt(p));
  const link = el("a", { text: "Open this head in chapter 4 →",
    attrs: { href: `/attention?${new URLSearchParams({ text: state.text, layer: data.layer, head: data.head, q: p === data.tokens.length - 1 ? -1 : p })}` } });
  node.replaceChildren(`These weights are row “${tok}” of chapter 4's heatmap for layer ${data.layer}, head ${data.head}. `, link);
  try {
    const answer = await fetchChapter4();
    if (!answer) return;
    const row = answer.weights[p];
    const same = data.weights.every((w, j) => w === row[j]) && row.slice(p + 1).every((w) => w === 0);
    const heaviest = data.weights.map((w, j) => [j, w]).sort((a, b) => b[1] - a[1])[0];
    node.replaceChildren(`Row “${tok}” of chapter 4's heatmap for layer ${data.layer}, head ${data.head}, as /api/attention sends it: `,
      el("strong", { text: same ? "the same numbers" : "different numbers (please report this)" }),
      ` (largest: ${fmt(heaviest[1], 4)} on “${tokenText(tokenAt(heaviest[0]))}”, which chapter 4 shows as `
      + `${(heaviest[1] * 100).toFixed(2)}% when you `, el("span", { text: "point at", attrs: { "data-touch": "tap" } }),
      " that cell). ", link);
    touchWords(node);  // a touch screen has no pointing: "tap"
    node.dataset.same = String(same);
  } catch (error) { /* the row above still stands; chapter 4's request failing is not this page's error */ }
}

function drawValues() {
  const p = data.position;
  const rows = data.values.map((v, j) => v.map((x) => x * data.weights[j]));
  rows.push(data.head_output);
  const narrow = isNarrow($("values"));
  // On a phone "0.12×␣Fran…" (weight × the token's value) leaves the columns their width; the hover says it in full.
  const label = (full) => [...data.values.map((_, j) => (narrow && !full ? `${fmt(data.weights[j], 2)}×${shortToken(j, true)}`
    : `${fmt(data.weights[j], narrow ? 2 : 3)} × ${narrow ? "v" : "value #"}${j} ${tokenText(tokenAt(j))}`)),
  narrow ? "= output" : "= head output (the sum)"];
  const labels = label(false);
  return drawVectors($("values"), rows, labels, { xTitle: `number (0 to ${data.d_head - 1})`, lineAfter: p, hoverLabels: label(true),
    describe: () => `Each token's value times its weight (${rows.length - 1} rows) and their sum, the head's output `
      + `(last row), ${data.d_head} numbers each. Largest: ${largestCells(rows, labels)}.` });
}

// --- 3. heads joined and added ------------------------------------------------------------------------

function drawHeads() {
  const heads = data.heads;
  Plotly.react($("heads"), [{ type: "bar", x: heads.map((h) => h.head), y: heads.map((h) => h.norm),
    marker: { color: heads.map((h) => KV_COLOURS[h.kv_head % KV_COLOURS.length]),
      line: { color: heads.map((h) => (h.head === data.head ? "#1d2130" : "rgba(0,0,0,0)")), width: 2.5 } },
    hovertemplate: "head %{x}: adds a vector of length %{y:.3f}<extra></extra>" }], plotLayout({
    height: 250, margin: { l: 50, r: 10, t: 30, b: 44 },
    title: { text: "Length of what each head adds", font: { size: 13 }, x: 0.02 },
    xaxis: { title: { text: "head", standoff: 4 }, tickvals: heads.map((h) => h.head), fixedrange: true },
    yaxis: { title: { text: "length", standoff: 2 } },
  }), { ...plotConfig, displayModeBar: false });
  if (!headsBound) {
    headsBound = true;
    $("heads").on("plotly_click", (e) => { const h = e.points?.[0]?.pointIndex; if (h !== undefined) { state.head = h; state.key = -1; update(); } });
  }
  const sumOfLengths = heads.reduce((s, h) => s + h.norm, 0);
  const longest = heads.reduce((a, b) => (b.norm > a.norm ? b : a));
  $("heads-text").replaceChildren(`Each head's ${data.d_head} numbers, through its ${data.d_head} columns of the output projection, `
    + `give a vector of ${data.d_model} numbers; the ${data.n_heads} vectors add up to attention's output. Head ${data.head} (outlined) adds length `,
    el("strong", { text: fmt(heads[data.head].norm, 2) }), `; the longest is head ${longest.head}'s (${fmt(longest.norm, 2)}). Together: length `,
    el("strong", { text: fmt(norm(data.attn_out), 2) }), `, less than the sum of their lengths (${fmt(sumOfLengths, 2)}) because they point `
    + `in different directions and partly cancel. Bar colours: the key/value head each reads. ${isTouch ? "Tap" : "Click"} a bar `
    + "to follow that head (or pick it with the buttons above).");
  const rows = [{ name: "coming in (resid_pre)", values: data.resid_pre }, { name: "+ attention's output (attn_out)", values: data.attn_out },
    { name: "= after attention (resid_mid)", values: data.resid_mid }];
  drawStrip($("strip-attn"), rows, { shared: true });
  drawTops($("attn-top"), rows, { shared: true });
}

// --- 4. the MLP ---------------------------------------------------------------------------------------------

function drawMlp() {
  const f = data.d_mlp;
  $("norm2-summary").replaceChildren(`The second RMSNorm divides the vector after attention by its root-mean-square, `,
    el("strong", { text: fmt(data.rms2, 3) }), `, and multiplies by its own gains; then the ${f.toLocaleString("en")} neurons.`);
  const top = byMagnitude(data.mlp_hidden).slice(0, TOP_NEURONS).map(([i]) => i);
  const topSet = new Set(top);
  const rest = data.mlp_gate_pre.map((_, i) => i).filter((i) => !topSet.has(i));
  // The curve joins the neurons' own (gate sum, SiLU) pairs in order: the model's numbers, not a formula redone here.
  const order = data.mlp_gate_pre.map((_, i) => i).sort((a, b) => data.mlp_gate_pre[a] - data.mlp_gate_pre[b]);
  Plotly.react($("silu"), [
    { type: "scatter", mode: "lines", x: order.map((i) => data.mlp_gate_pre[i]), y: order.map((i) => data.mlp_gate[i]),
      line: { color: "#b9bbc4", width: 1 },
      name: "SiLU(x) = x · sigmoid(x)", hoverinfo: "skip" },
    { type: "scatter", mode: "markers", x: rest.map((i) => data.mlp_gate_pre[i]), y: rest.map((i) => data.mlp_gate[i]),
      marker: { size: 4, color: NEG, opacity: 0.35 }, name: `all ${f.toLocaleString("en")} neurons`,
      text: rest.map((i) => `neuron ${i}`), hovertemplate: "%{text}<br>gate sum %{x:.3f} → SiLU %{y:.3f}<extra></extra>" },
    { type: "scatter", mode: "markers", x: top.map((i) => data.mlp_gate_pre[i]), y: top.map((i) => data.mlp_gate[i]),
      marker: { size: 8, color: POS }, text: top.map((i) => String(i)),
      name: `the ${TOP_NEURONS} most active`, hovertemplate: "neuron %{text}<br>gate sum %{x:.3f} → SiLU %{y:.3f}<extra></extra>" },
  ], plotLayout({
    height: 330, margin: { l: 50, r: 10, t: 30, b: 44 },
    title: { text: "Every neuron's gate: the sum, and after SiLU", font: { size: 13 }, x: 0.02 },
    xaxis: { title: { text: "gate sum (W_gate · norm2)", standoff: 2 } }, yaxis: { title: { text: "SiLU", standoff: 2 } },
    legend: { orientation: "h", y: -0.25, font: { size: 11 } },
  }), { ...plotConfig, displayModeBar: false });

  const body = $("neurons").querySelector("tbody");
  body.replaceChildren(...top.map((i) => el("tr", {}, [
    el("td", { cls: "num", text: String(i) }), el("td", { cls: "num", text: fmt(data.mlp_gate_pre[i], 3) }),
    el("td", { cls: "num", text: fmt(data.mlp_gate[i], 3) }), el("td", { cls: "num", text: fmt(data.mlp_up[i], 3) }),
    el("td", { cls: "num strong", text: fmt(data.mlp_hidden[i], 3) }),
  ])));
  const open = data.mlp_gate_pre.filter((x) => x > 0).length;
  const total = data.mlp_hidden.reduce((s, x) => s + Math.abs(x), 0);
  const share = top.reduce((s, i) => s + Math.abs(data.mlp_hidden[i]), 0) / (total || 1);
  $("neurons-text").replaceChildren(`Output = SiLU × up. The ${TOP_NEURONS} neurons with the largest outputs (by size) of all `
    + `${f.toLocaleString("en")}; together they hold ${(share * 100).toFixed(0)}% of the neurons' total size. `
    + `${open.toLocaleString("en")} of the ${f.toLocaleString("en")} gate sums are positive: SiLU lets them through (large ones almost `
    + "unchanged) and squashes the negative ones towards 0 (never below about −0.28). All neurons are in the chart and in the JSON.");
  const rows = [{ name: "after attention (resid_mid)", values: data.resid_mid }, { name: "+ the MLP's output (mlp_out)", values: data.mlp_out },
    { name: "= leaving the layer (resid_post)", values: data.resid_post }];
  drawStrip($("strip-mlp"), rows, { shared: true });
  drawTops($("mlp-top"), rows, { shared: true });
}

// --- 5. all layers --------------------------------------------------------------------------------------------

function drawLayers() {
  const list = $("layers");
  list.replaceChildren();
  const share = (x, of) => Math.min(100, (x / (of || 1)) * 100);
  for (const row of data.layers) {
    const bars = el("span", { cls: "lbars" });
    for (const [cls, value] of [["k-attn", row.attn], ["k-mlp", row.mlp]]) {
      const track = el("span", { cls: "ltrack" });
      const bar = el("span", { cls: `lbar ${cls}` });
      bar.style.width = `${share(value, row.resid_pre)}%`;
      track.append(bar);
      bars.append(track);
    }
    const li = el("li", { cls: row.layer === data.layer ? "picked" : "", attrs: { tabindex: "0", "data-layer": String(row.layer) },
      title: `Open layer ${row.layer}` }, [
      el("span", { cls: "lname", text: `layer ${row.layer}` }), bars,
      el("span", { cls: "lnums", text: `${fmt(row.resid_pre, 1)} +attn ${fmt(row.attn, 1)} +MLP ${fmt(row.mlp, 1)} → ${fmt(row.resid_post, 1)}` }),
    ]);
    const open = () => { state.layer = row.layer; update(); window.scrollTo({ top: 0, behavior: "smooth" }); };
    li.addEventListener("click", open);
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
    list.append(li);
  }
  const mlpMore = data.layers.filter((r) => r.mlp > r.attn).length;
  const biggest = data.layers.flatMap((r) => [[r.layer, "attention", r.attn], [r.layer, "MLP", r.mlp]])
    .sort((a, b) => b[2] - a[2])[0];
  const first = data.layers[0], last = data.layers[data.layers.length - 1];
  $("layers-text").replaceChildren(`For “${tokenText(tokenAt(data.position))}”, the vector's length goes from ${fmt(first.resid_pre, 1)} `
    + `(its embedding) to ${fmt(last.resid_post, 1)} after the last layer. The MLP added a longer vector than attention in `,
    el("strong", { text: `${mlpMore} of ${data.layers.length}` }), ` layers; the longest single addition was layer ${biggest[0]}'s ${biggest[1]} `
    + `(length ${fmt(biggest[2], 1)}). Lengths add like arrows, not like numbers: an addition pointing against the vector shortens it.`);
}

// --- controls and fetching ------------------------------------------------------------------------------------

function drawTokens() {
  const row = $("tokens");
  row.replaceChildren();
  data.tokens.forEach((t, i) => {
    const chip = tokenChip(t, { tag: "button", cls: i === data.position ? "picked" : "",
      title: `#${i} · id ${t.id}`, attrs: { type: "button", "aria-pressed": String(i === data.position) } });
    chip.addEventListener("click", () => { state.position = i === data.tokens.length - 1 ? -1 : i; state.key = -1; update(); });
    row.append(chip);
  });
}

function drawControls() {
  $("layer").value = String(data.layer);
  $("layer-out").textContent = String(data.layer);
  const select = $("head");
  if (select.options.length !== data.n_heads) {
    select.replaceChildren(...data.heads.map((h) => el("option", { text: `head ${h.head} (key/value head ${h.kv_head})`, attrs: { value: String(h.head) } })));
  }
  select.value = String(data.head);
}

async function drawAll(answer) {
  data = answer;
  Plotly = await plotly();
  $("views").hidden = false;
  drawControls();
  drawTokens();
  drawNorm1();
  drawGqa();
  drawQk();
  drawRope();
  drawScores();
  drawDot();
  drawValues();
  drawHeads();
  drawMlp();
  drawLayers();
  drawChapter4();
  const t = tokenText(tokenAt(data.position));
  $("status").textContent = `Following “${t}” (position ${data.position}, counted from 0, of ${data.tokens.length} tokens) `
    + `through layer ${data.layer}, head ${data.head}.`;
}

/** POST /api/inside for the state (the first time, the server's preload of its GET twin when it named this
 *  state: kit/first.js); a link from a longer text or another model (a position, layer or head out of
 *  range) follows the last token, or the nearest layer/head, instead. */
async function fetchInside(signal) {
  try {
    const body = { text: state.text, layer: state.layer, head: state.head, position: state.position < 0 ? null : state.position };
    return await apiFirst("/api/inside", body, body, { signal });
  } catch (error) {
    if (error.code !== "out_of_range" || !["position", "layer", "head"].includes(error.field)) throw error;
    if (error.field === "position") {
      if (state.position < 0) throw error;
      state.position = -1;
    } else {
      const nearest = Math.max(0, Math.min(error.limit, state[error.field]));
      if (nearest === state[error.field]) throw error;
      state[error.field] = nearest;
    }
    save();
    return fetchInside(signal);
  }
}

// A refused or failed text hides every view of the one before (and its token chips and status line).
const load = loader({
  run: fetchInside, draw: drawAll, views: ["views"], error: "error", charts: true,
  onError: () => { $("tokens").replaceChildren(); $("status").textContent = ""; },
});

function update() {
  save();
  return load();
}

function init() {
  $("prompt").value = state.text;
  for (const text of EXAMPLES) {
    const b = el("button", { text, attrs: { type: "button" } });
    b.addEventListener("click", () => { state.text = text; state.position = -1; state.key = -1; $("prompt").value = text; update(); });
    $("examples").append(b);
  }
  document.querySelectorAll("[data-clip-rank]").forEach((n) => { n.textContent = String(CLIP_RANK); });
  const typed = debounce(() => { state.text = $("prompt").value; state.position = -1; state.key = -1; update(); }, 350);
  $("prompt").addEventListener("input", typed);
  const slid = debounce(() => update(), 120);
  $("layer").addEventListener("input", () => { state.layer = Number($("layer").value); $("layer-out").textContent = String(state.layer); slid(); });
  $("head").addEventListener("change", () => { state.head = Number($("head").value); state.key = -1; update(); });
  $("layer").value = String(state.layer);
  $("layer-out").textContent = String(state.layer);
  update();
}

init();
