// Chapter 5a: why this token? The target's logit split into the parts that wrote it (every head,
// every MLP, the embedding), checked by switching the strongest parts off, and each input token's
// saliency drawn on the token chips. Two requests: the direct parts first (quick), the saliency
// when it arrives (many forward and backward passes). State lives in the URL.
import { $, api, debounce, el, plainTokenLabel, readState, tokenChips, writeState } from "./api.js";
import { apiFirst } from "./kit/first.js";
import { drawHeatmap } from "./kit/heatmap.js";
import { loader } from "./kit/load.js";
import { model } from "./kit/model.js";
import { isNarrow, plotConfig, plotLayout, plotly } from "./kit/plotly.js";

const DEFAULTS = { text: "The capital of France is", mode: "text", target: -1, contrast: -1, method: "ig" };
const EXAMPLES = {
  text: ["The capital of France is", "The Eiffel Tower is in the city of", "1, 2, 3, 4,", "The opposite of hot is"],
  chat: ["What is the capital of France?", "Name a colour of the sky.", "What is 2 + 2?"],
};
const UP = "#c8372d", DOWN = "#2f5fc4";
const WATERFALL_PARTS = 10;

const state = readState(DEFAULTS);
let last = null;          // the direct answer drawn
let lastSaliency = null;  // its saliency, when it has arrived

const fmt = (v, digits = 2) => (v >= 0 ? "+" : "−") + Math.abs(v).toFixed(digits);
// A number without a plus sign, its minus the same "−" as fmt's (toFixed writes a hyphen-minus).
const num = (v, digits = 2) => {
  const size = Math.abs(v).toFixed(digits);
  return (v < 0 && Number(size) !== 0 ? "−" : "") + size;
};
const pct = (p) => (p >= 0.1 ? (100 * p).toFixed(0) : p >= 0.001 ? (100 * p).toFixed(1) : (100 * p).toPrecision(2)) + "%";
const shown = (t) => `“${plainTokenLabel(t)}”`;
const partName = (p) => (p.kind === "mlp" ? `MLP ${p.layer}` : `L${p.layer}H${p.head}`);

function request(extra) {
  const body = state.mode === "chat" ? { messages: [{ role: "user", content: state.text }] } : { text: state.text };
  if (state.target >= 0) body.target = state.target;
  if (state.contrast >= 0) body.contrast = state.contrast;
  return { ...body, ...extra };
}

/** The direct request's GET twin (GET /api/attribution), as app/views/first_request.py `why` names it from
 *  the page's URL: the server draws the waterfall from its answer into the page (app/pictures/why.py). */
function directQuery() {
  return { text: state.text, mode: state.mode === "chat" ? "chat" : null, target: state.target >= 0 ? state.target : null,
    contrast: state.contrast >= 0 ? state.contrast : null, saliency: false };
}

function save() { writeState(state, DEFAULTS); }

// --- the direct parts --------------------------------------------------------------------------

function drawPick(body) {
  const targets = $("targets");
  targets.replaceChildren();
  const candidates = [...body.top];
  if (!candidates.some((t) => t.id === body.target.id)) candidates.push(body.target);
  for (const t of candidates) {
    const b = el("button", { cls: "target" + (t.id === body.target.id ? " picked" : ""), attrs: { type: "button",
      "aria-pressed": String(t.id === body.target.id) }, title: `p = ${pct(t.probability)}, logit ${num(t.logit, 2)}` },
    [el("span", { cls: "tt", text: plainTokenLabel(t) }), el("span", { cls: "tp", text: pct(t.probability) })]);
    b.addEventListener("click", () => { state.target = t.id; if (state.contrast === t.id) state.contrast = -1; refresh(); });
    targets.append(b);
  }
  const select = $("contrast");
  select.replaceChildren(el("option", { text: "nothing (its logit alone)", attrs: { value: "" } }));
  const options = [...body.top];
  if (body.contrast && !options.some((t) => t.id === body.contrast.id)) options.push(body.contrast);
  for (const t of options) {
    if (t.id === body.target.id) continue;
    select.append(el("option", { text: `${plainTokenLabel(t)}  (${pct(t.probability)})`, attrs: { value: String(t.id) } }));
  }
  select.value = body.contrast ? String(body.contrast.id) : "";
}

function drawSum(body) {
  $("sum-panel").hidden = false;
  const what = body.contrast ? `logit(${shown(body.target)}) − logit(${shown(body.contrast)})`
    : `logit(${shown(body.target)})`;
  const nParts = 1 + body.parts.heads.length * body.parts.heads[0].length + body.parts.mlps.length;
  $("sum").replaceChildren(
    el("strong", { text: `${what} = ${num(body.total, 3)}` }),
    ` = the sum of ${nParts} parts (${num(body.parts_sum, 3)}): the embedding ${fmt(body.parts.embedding)}, ` +
    `${body.parts.heads.length * body.parts.heads[0].length} heads ${fmt(sum(body.parts.heads.flat()))}, ` +
    `${body.parts.mlps.length} MLPs ${fmt(sum(body.parts.mlps))}.`);
  $("scale-note").textContent = `The final RMSNorm divides the last vector by its root mean square (its length ` +
    `divided by the square root of its number of dimensions) and multiplies it by learned weights before ` +
    `the unembedding; here that is a factor of ${body.scale.toPrecision(3)}, frozen at this value so that the parts add up. ` +
    `Probability of ${shown(body.target)}: ${pct(body.target.probability)}.`;
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

/** The strongest parts pushing up and down, as words: the grid's text equivalent. */
function strongestText(body, k = 3) {
  const parts = [];
  body.parts.heads.forEach((row, l) => row.forEach((v, h) => parts.push({ name: `L${l}H${h}`, v })));
  body.parts.mlps.forEach((v, l) => parts.push({ name: `MLP ${l}`, v }));
  parts.sort((a, b) => b.v - a.v);
  const list = (ps) => ps.map((p) => `${p.name} ${fmt(p.v)}`).join(", ");
  return `Contribution of each head and MLP to the score of ${shown(body.target)}. Strongest up: `
    + `${list(parts.slice(0, k).filter((p) => p.v > 0))}; strongest down: ${list(parts.slice(-k).reverse().filter((p) => p.v < 0))}.`;
}

/** The grid's numbers as a table: one row per layer, the heads and the MLP across. */
function drawGridTable(body) {
  const nHeads = body.parts.heads[0].length;
  const table = $("grid-table");
  table.tHead.replaceChildren(el("tr", {}, [el("th", { text: "layer", attrs: { scope: "col" } }),
    ...[...Array(nHeads).keys()].map((h) => el("th", { text: `H${h}`, attrs: { scope: "col" } })),
    el("th", { text: "MLP", attrs: { scope: "col" } })]));
  const cell = (v) => el("td", { text: fmt(v), cls: v >= 0 ? "up" : "down" });
  table.tBodies[0].replaceChildren(...body.parts.heads.map((row, l) => el("tr", {}, [
    el("th", { text: `L${l}`, attrs: { scope: "row" } }), ...row.map(cell), cell(body.parts.mlps[l])])));
}

function drawGrid(body) {
  drawGridTable(body);
  const heads = body.parts.heads, mlps = body.parts.mlps;
  const nHeads = heads[0].length;
  const z = heads.map((row, l) => [...row, null, mlps[l]]);
  const x = [...Array(nHeads).keys()].map((h) => `H${h}`).concat(["", "MLP"]);
  const y = heads.map((_, l) => `L${l}`);
  const limit = Math.max(1e-6, ...z.flat().filter((v) => v !== null).map(Math.abs));
  return drawHeatmap($("grid"), {
    z, x, y, zmid: 0, zmin: -limit, zmax: limit, colorscale: [[0, DOWN], [0.5, "#f7f7f7"], [1, UP]], gaps: true,
    height: 560, label: "Contribution of each head and MLP, layers down, heads across",
    hover: (l, h, v) => (h < nHeads ? `layer ${l} head ${h}: ${fmt(v, 3)}` : `layer ${l} MLP: ${fmt(v, 3)}`),
    describe: () => strongestText(body),
    // Every column named, level (as before the kit): "H0" … "MLP" are short.
    layout: { xaxis: { tickvals: x.map((_, j) => j), ticktext: x, tickangle: 0, range: [-0.5, x.length - 0.5], automargin: true,
      showgrid: false, zeroline: false, tickfont: { size: 10 } } },
  });
}

function topParts(body, k) {
  const parts = [{ name: "embedding", v: body.parts.embedding }];
  body.parts.heads.forEach((row, l) => row.forEach((v, h) => parts.push({ name: `L${l}H${h}`, v })));
  body.parts.mlps.forEach((v, l) => parts.push({ name: `MLP ${l}`, v }));
  parts.sort((a, b) => Math.abs(b.v) - Math.abs(a.v));
  const top = parts.slice(0, k), rest = parts.slice(k);
  return { top, rest: sum(rest.map((p) => p.v)), restCount: rest.length };
}

/** The largest parts added up from 0, as floating bars (each starts where the one before ended),
 *  the rest in one bar and the total last: a waterfall drawn with the 2-D bar trace. */
async function drawWaterfall(body) {
  const { top, rest, restCount } = topParts(body, WATERFALL_PARTS);
  const node = $("waterfall"), narrow = isNarrow(node);
  const names = top.map((p) => p.name).concat([narrow ? "others" : `${restCount} others`, "total"]);
  const steps = top.map((p) => p.v).concat([rest]);
  const bases = [];
  let running = 0;
  for (const v of steps) { bases.push(running); running += v; }
  const values = [...steps, body.total];
  const colours = steps.map((v) => (v >= 0 ? UP : DOWN)).concat(["#1d2130"]);
  const labels = values.map((v, i) => (i === steps.length ? num(v) : fmt(v)));
  // Connectors: from the end of each bar down to the start of the next.
  const shapes = steps.map((v, i) => ({ type: "line", xref: "x", yref: "y", x0: bases[i] + v, x1: bases[i] + v,
    y0: i + 0.4, y1: i + 0.6, line: { color: "#9aa0ae", width: 1 } }));
  const Plotly = await plotly();
  await Plotly.react(node, [{
    type: "bar", orientation: "h", y: names, x: values, base: [...bases, 0], marker: { color: colours },
    text: labels, textposition: "outside", hovertext: labels, hoverinfo: "y+text", cliponaxis: false,
    textfont: { size: narrow ? 11 : 13 },
  }], plotLayout({ height: 420, margin: narrow ? { l: 8, r: 36, t: 10, b: 30 } : { l: 80, r: 50, t: 10, b: 30 },
    showlegend: false, shapes, yaxis: { autorange: "reversed", type: "category", automargin: true,
      tickfont: { size: narrow ? 11 : 13 } }, xaxis: { zeroline: true, title: { text: "score" } } }), plotConfig);
  $("waterfall-text").textContent = "From 0, the largest parts one by one: "
    + top.map((p) => `${p.name} ${fmt(p.v)}`).join(", ") + `; the ${restCount} others together ${fmt(rest)}; `
    + `total ${num(body.total, 2)}.`;
}

function drawCheck(body) {
  const check = body.check;
  $("check-panel").hidden = !check;
  if (!check) return;
  $("check-parts").textContent = `The attribution's ${check.parts.length} strongest pushers: ` +
    check.parts.map((p) => `${partName(p)} (${fmt(p.contribution)})`).join(", ") +
    ". Switch them off (their output set to zero at every position) and run the model again:";
  for (const key of ["predicted", "norm_only", "actual"]) {
    document.querySelector(`[data-check="${key}"]`).textContent = fmt(check[key]);
  }
  $("check-prob").textContent = `Probability of ${shown(body.target)}: ${pct(check.probability_before)} → ` +
    `${pct(check.probability_after)}; the most probable next token is then ${shown(check.top_after)} ` +
    `(${pct(check.top_after.probability)}).`;
  const normGap = check.norm_only - check.predicted, reactGap = check.actual - check.norm_only;
  const reacting = reactingWords(check.reacting);
  const rest = !reacting ? "No part still on comes after them, so nothing else reacts: the real change is the norm's."
    : `The rest, ${fmt(reactGap)}, is ${reacting.one ? "the part" : "the parts"} after them reacting (${reacting.text}): ` +
      `with these parts gone ${reacting.one ? "it reads" : "they read"} a different residual stream and ` +
      `${reacting.one ? "writes" : "write"} something else, which can make up for the loss or add to it.`;
  $("check-why").textContent = `Why they differ: the attribution freezes the final norm's factor; recomputing it ` +
    `alone moves the change by ${fmt(normGap)}. ${rest} So a part's number is its direct push, not what the model ` +
    `loses without it.`;
}

const andList = (items) => (items.length < 2 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`);
const layerSpan = (a, b) => (a === b ? `layer ${a}` : b === a + 1 ? `layers ${a} and ${b}` : `layers ${a}–${b}`);

/** The parts that react to the switched-off ones (check.reacting: per layer, its heads still on that
 *  react and whether its MLP does), in words: runs of whole layers, of heads only, of MLPs only
 *  merged ("layer 23's MLP, layers 24–27 and the heads of layers 28 and 29"); null when none react. */
function reactingWords(reacting) {
  if (!reacting.length) return null;
  const kindOf = (r) => (r.heads.length === model.n_heads ? (r.mlp ? "layer" : "heads")
    : r.heads.length === 0 ? "mlp" : `partial ${r.layer}`);
  const runs = [];
  for (const r of reacting) {
    const kind = kindOf(r), run = runs.at(-1);
    if (run && run.kind === kind && run.last === r.layer - 1) run.last = r.layer;
    else runs.push({ kind, first: r.layer, last: r.layer, r });
  }
  const words = runs.map(({ kind, first, last, r }) => {
    const one = first === last;
    if (kind === "layer") return layerSpan(first, last);
    if (kind === "heads") return one ? `layer ${first}'s heads` : `the heads of ${layerSpan(first, last)}`;
    if (kind === "mlp") return one ? `layer ${first}'s MLP` : `the MLPs of ${layerSpan(first, last)}`;
    const heads = `${r.heads.length} other head${r.heads.length === 1 ? "" : "s"}`;
    return r.mlp ? `layer ${first}'s MLP and its ${heads}` : `layer ${first}'s ${heads}`;
  });
  const heads = reacting.reduce((n, r) => n + r.heads.length, 0), mlps = reacting.filter((r) => r.mlp).length;
  return { text: andList(words), one: heads + mlps === 1, heads, mlps };
}

/** "the final norm and the 54 heads and 5 MLPs after them react", counted from reactingWords (one
 *  part named: "the final norm and layer 29's MLP react"). */
function reactingCount(reacting) {
  if (!reacting) return "the final norm reacts (no part still on comes after them)";
  if (reacting.one) return `the final norm and ${reacting.text} react`;
  const count = (n, noun) => `${n} ${noun}${n === 1 ? "" : "s"}`;
  const named = [reacting.heads && count(reacting.heads, "head"), reacting.mlps && count(reacting.mlps, "MLP")];
  return `the final norm and the ${named.filter(Boolean).join(" and ")} after them react`;
}

function drawCaveats(body) {
  const all = [body.parts.embedding, ...body.parts.heads.flat(), ...body.parts.mlps];
  const negative = all.filter((v) => v < 0);
  const positive = all.filter((v) => v > 0);
  $("cav-negative").replaceChildren(`Here ${negative.length} of ${all.length} parts push `, el("strong", { text: "down" }),
    ` (together ${fmt(sum(negative))}) and ${positive.length} push up (${fmt(sum(positive))}); the score,`,
    ` ${num(body.total, 2)}, is what is left after large pushes both ways.`);
  $("cav-frozen").replaceChildren("The parts add up only because the final norm's factor is ",
    el("strong", { text: "frozen" }), ` (at ${body.scale.toPrecision(3)} for this token). Take a part away and the ` +
    "factor changes too.");
  if (body.check) {
    $("cav-cause").replaceChildren("A large part is ", el("strong", { text: "not a cause" }), " on its own: it is the " +
      `last step of a chain. The ${body.check.parts.length} strongest parts predict a change of ` +
      `${fmt(body.check.predicted)}, but switching them off changes the score by ${fmt(body.check.actual)}, because ` +
      `${reactingCount(reactingWords(body.check.reacting))}.`);
  }
}

async function drawDirect(body) {
  last = body;
  lastSaliency = null;
  $("status").textContent = "";
  drawPick(body);
  drawSum(body);
  drawCheck(body);
  drawCaveats(body);
  tokenChips($("sal-tokens"), body.tokens);
  // The saliency of this text is still to come: nothing of an earlier text's stays up meanwhile.
  $("completeness").replaceChildren();
  $("baseline-gap").textContent = "";
  await Promise.all([drawGrid(body), drawWaterfall(body)]);
}

// --- saliency on the token chips ----------------------------------------------------------------

const UP_RGB = [200, 55, 45], DOWN_RGB = [47, 95, 196];
const luminance = (rgb) => {
  const [r, g, b] = rgb.map((c) => { const x = c / 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const INK_LUMINANCE = luminance([29, 33, 48]);  // --ink

/** A saliency chip's colour at strength `alpha` (over white) and a text colour readable on it
 *  (WCAG contrast 4.5): dark ink on light shades, white on dark ones; a middle shade on which
 *  neither reads is deepened until white does. */
function salColour(rgb, alpha) {
  for (let a = alpha; ; a = Math.min(1, a + 0.04)) {
    const mixed = rgb.map((c) => Math.round(255 - a * (255 - c)));
    const l = luminance(mixed);
    const background = `rgb(${mixed.join(", ")})`;
    if ((l + 0.05) / (INK_LUMINANCE + 0.05) >= 4.5) return { background, ink: "" };
    if (1.05 / (l + 0.05) >= 4.5 || a >= 1) return { background, ink: "#fff" };
  }
}

function drawSaliency() {
  const body = last, s = lastSaliency;
  if (!body || !s) return;
  const values = state.method === "gxi" ? s.gradient_x_input : s.integrated_gradients;
  const limit = Math.max(1e-9, ...values.map(Math.abs));
  tokenChips($("sal-tokens"), body.tokens);
  [...$("sal-tokens").children].forEach((chip, i) => {
    const v = values[i], a = Math.min(1, Math.abs(v) / limit);
    const { background, ink } = salColour(v >= 0 ? UP_RGB : DOWN_RGB, 0.08 + 0.8 * a);
    chip.style.background = background;
    chip.style.color = ink;
    chip.classList.add("sal");
    chip.title = `#${i} · ${fmt(v, 3)}`;
    chip.append(el("span", { cls: "sal-v", text: fmt(v, 1) }));
  });
  const gap = s.f_input - s.f_baseline;
  $("baseline-name").textContent = s.baseline;
  $("baseline-gap").textContent = `here the baseline already scores ${num(s.f_baseline, 2)} of your input's ` +
    `${num(s.f_input, 2)}: the shares split only that change`;
  const shares = [`Completeness: the ${body.tokens.length} shares add up to `,
    el("strong", { text: num(sum(s.integrated_gradients), 3) })];
  if (s.completeness === null) {
    // The server sends no ratio when the score is the same at the baseline and at the input.
    $("completeness").replaceChildren(...shares, `; the score is the same at the baseline and at your input ` +
      `(${num(s.f_input, 3)}), so there is no change for the shares to split and no ratio to check.`);
    return;
  }
  const ok = Math.abs(s.completeness - 1) <= 0.05;
  $("completeness").replaceChildren(...shares,
    `; the score moved by ${num(gap, 3)} from the baseline (${num(s.f_baseline, 2)}) to your input ` +
    `(${num(s.f_input, 2)}), so the ratio is `, el("strong", { text: num(s.completeness, 3) }),
    ` with ${s.steps} steps` + (ok ? " (within 5% of 1)." : ` (more than 5% off 1: the shares miss the change by `
      + `${Math.abs(sum(s.integrated_gradients) - gap).toFixed(3)}; ${s.steps} steps are too few for this path, so the `
      + "shares are rough)."));
}

// --- requests ---------------------------------------------------------------------------------------

// The direct parts (quick), then the saliency (many passes). A failed or refused text hides every
// view of the text before it; a failed saliency hides only its own line.
const saliency = loader({
  run: (signal) => api("/api/attribution", request({ check_parts: 0 }), { signal }),
  draw: (data) => { lastSaliency = data.saliency; $("sal-status").textContent = ""; drawSaliency(); },
  views: ["completeness"], error: "sal-error",
  onError: () => { $("sal-status").textContent = ""; },
});

const direct = loader({
  run: (signal) => apiFirst("/api/attribution", directQuery(), request({ saliency: false }), { signal }),
  draw: drawDirect, charts: true, error: "error",
  views: ["pick", "sum-panel", "why-grid", "check-panel", "saliency-panel"],
  onError: () => { saliency.cancel(); $("status").textContent = ""; $("sal-status").textContent = ""; last = null; },
});

async function refresh() {
  save();
  saliency.cancel();
  saliency.clear();
  $("status").textContent = "Taking the score apart…";
  $("sal-status").textContent = "";
  const body = await direct();
  if (!body) return;  // superseded, or failed (the loader shows why)
  $("sal-status").textContent = "Computing gradients along the path (a few seconds)…";
  await saliency();
}

function setMode(mode) {
  state.mode = mode;
  $("prompt-label").textContent = mode === "chat" ? "Your message (the model answers as the assistant)" : "Your text";
  const examples = $("examples");
  examples.replaceChildren();
  for (const example of EXAMPLES[mode]) {
    const b = el("button", { text: example, attrs: { type: "button" } });
    b.addEventListener("click", () => { $("prompt").value = state.text = example; state.target = state.contrast = -1; refresh(); });
    examples.append(b);
  }
}

function bind() {
  const prompt = $("prompt");
  prompt.value = state.text;
  setMode(state.mode);
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.checked = radio.value === state.mode;
    radio.addEventListener("change", () => {
      if (!radio.checked) return;
      setMode(radio.value);
      if (radio.value === "chat" && state.text === DEFAULTS.text) prompt.value = state.text = EXAMPLES.chat[0];
      if (radio.value === "text" && state.text === EXAMPLES.chat[0]) prompt.value = state.text = DEFAULTS.text;
      state.target = state.contrast = -1;
      refresh();
    });
  }
  prompt.addEventListener("input", debounce(() => {
    // An empty text goes to the server too: its refusal hides the earlier text's views.
    if (prompt.value === state.text) return;
    state.text = prompt.value; state.target = state.contrast = -1; refresh();
  }, 500));
  $("contrast").addEventListener("change", (e) => { state.contrast = e.target.value === "" ? -1 : Number(e.target.value); refresh(); });
  for (const radio of document.querySelectorAll('input[name="method"]')) {
    radio.checked = radio.value === state.method;
    radio.addEventListener("change", () => { if (radio.checked) { state.method = radio.value; save(); drawSaliency(); } });
  }
}

bind();
refresh();
