// Chapter 4, attention. State lives in the URL (text, layer, head, ...); every picture is
// drawn from the JSON API: /api/attention (one head, exact), /api/attention/all (every head,
// compact), /api/attention/senses (same word, different meaning: attention/senses.js), /api/predict (ablation).

import { api, debounce, el, latest, plotConfig, plotLayout, readState, showError, tokenChips, writeState } from "./api.js";
import { drawAblation, drawOffList, formatOff, offToRequest, parseOff } from "./attention/ablate.js";
import { plotlyScale, plotText } from "./attention/colours.js";
import { decodeAllHeads } from "./attention/compact.js";
import { drawGqa, drawOverlap } from "./attention/gqa.js";
import { HeadGrid } from "./attention/grid.js";
import { drawLines } from "./attention/lines.js";
import { initSenses, SENSES_DEFAULTS } from "./attention/senses.js";

const EXAMPLES = [
  "The capital of France is Paris. The capital of Italy is",
  "I sat on the river bank and watched the water. Later I paid the money into the bank.",
  "When Mary and John went to the shop, John gave a drink to",
  "1 2 3 4 5 6 1 2 3 4 5 6 1 2 3",
];
const DEFAULTS = {
  text: EXAMPLES[0], layer: 2, head: 1, avg: false, q: -1, off: "", ...SENSES_DEFAULTS,
};

const $ = (id) => document.getElementById(id);
const state = readState(DEFAULTS);
let model = { n_layers: 30, n_heads: 9, n_kv_heads: 3 };
let tokens = [];
let weights = null;      // rows of the head shown in the heatmap (one head, or the layer's average)
let shown = null;        // the /api/attention answer drawn: its kv_head and shares_kv_with
let allHeads = null;     // decodeAllHeads(...) of the current text
let off = parseOff(state.off);

const save = () => writeState({ ...state, off: formatOff(off) }, DEFAULTS);
const clampView = () => {
  state.layer = Math.max(0, Math.min(model.n_layers - 1, Math.round(state.layer)));
  state.head = Math.max(0, Math.min(model.n_heads - 1, Math.round(state.head)));
};

// --- the one head: heatmap, facts, lines ----------------------------------------------------

function drawHeatmap() {
  const n = tokens.length;
  const labels = tokens.map((t) => plotText(t.display ?? t.text));
  const z = weights.map((row, i) => Array.from(row, (w, j) => (j > i ? null : w)));
  const hover = z.map((row, i) => row.map((w, j) => (w === null ? ""
    : `query #${i} ${labels[i]}<br>key #${j} ${labels[j]}<br>weight ${(w * 100).toFixed(2)}%`)));
  const step = Math.max(1, Math.ceil(n / 40));
  const ticks = tokens.map((_, i) => i).filter((i) => i % step === 0);
  // Columns are narrower than rows on a phone: label every k-th column so the slanted labels keep
  // about 14px apart (the plot area is the chart's width less the row labels and the colour bar).
  const plotWidth = Math.max(100, $("heatmap").clientWidth - 190);
  const xStep = Math.max(step, Math.ceil((n * 14) / plotWidth));
  const xTicks = tokens.map((_, i) => i).filter((i) => i % xStep === 0);
  const title = state.avg ? `Layer ${state.layer}: average of its ${model.n_heads} heads`
    : `Layer ${state.layer} · head ${state.head}`;
  window.Plotly.react($("heatmap"), [{
    type: "heatmap", z, x: tokens.map((_, j) => j), y: tokens.map((_, i) => i), zmin: 0, zmax: 1,
    colorscale: plotlyScale, text: hover, hoverinfo: "text", hoverongaps: false, xgap: n < 30 ? 1 : 0, ygap: n < 30 ? 1 : 0,
    colorbar: { thickness: 12, tickformat: ".0%", title: { text: "weight", side: "right" } },
  }], plotLayout({
    height: Math.max(460, Math.min(760, 140 + n * 20)), margin: { l: 20, r: 10, t: 34, b: 20 },
    title: { text: title, font: { size: 15 }, x: 0.02 },
    xaxis: { zeroline: false, showgrid: false, tickvals: xTicks, ticktext: xTicks.map((i) => labels[i]), tickangle: -50, automargin: true,
      title: { text: "key: the token looked at", standoff: 6 }, side: "bottom",
      tickfont: { family: "ui-monospace, 'DejaVu Sans Mono', monospace", size: n > 24 ? 10 : 12 } },
    yaxis: { zeroline: false, showgrid: false, tickvals: ticks, ticktext: ticks.map((i) => labels[i]), autorange: "reversed", automargin: true,
      title: { text: "query: the token looking", standoff: 6 },
      tickfont: { family: "ui-monospace, 'DejaVu Sans Mono', monospace", size: n > 24 ? 10 : 12 } },
  }), plotConfig);
  $("heatmap").dataset.layer = String(state.layer);
  $("heatmap").dataset.head = state.avg ? "avg" : String(state.head);
}

function headFacts() {
  const n = tokens.length;
  const node = $("head-facts");
  node.replaceChildren();
  if (shown.average) {
    node.append(el("strong", { text: "The layer's average. " }),
      `The mean of the ${shown.n_heads} heads of layer ${shown.layer} (from their exact weights).`);
  } else {
    node.append(el("strong", { text: `Layer ${shown.layer}, head ${shown.head}` }),
      ` reads key/value head ${shown.kv_head}, which it shares with heads ${shown.shares_kv_with.join(" and ")}.`);
  }
  if (n < 3) return;
  // The previous token is counted from the third token on: for the second token it is the
  // first token, and counting it twice would make the three shares add up to more than 100%.
  let sink = 0, self = 0, prev = 0;
  for (let i = 1; i < n; i++) { sink += weights[i][0]; self += weights[i][i]; if (i >= 2) prev += weights[i][i - 1]; }
  const pct = (x, count) => `${((x / count) * 100).toFixed(0)}%`;
  node.append(el("br"), `Averaged over the tokens after the first, this ${state.avg ? "layer" : "head"} puts `,
    el("strong", { text: pct(sink, n - 1) }), " of its attention on the first token and ",
    el("strong", { text: pct(self, n - 1) }), " on the token itself; from the third token on, ",
    el("strong", { text: pct(prev, n - 2) }), " goes to the token just before.");
}

function drawLinesView() {
  const q = state.q < 0 || state.q >= tokens.length ? tokens.length - 1 : state.q;
  tokenChips($("lines-tokens"), tokens, { onClick: (_, i) => pickQuery(i) });
  $("lines-tokens").children[q]?.classList.add("picked");
  drawLines($("lines"), tokens, weights, q, pickQuery);
}

function pickQuery(i) {
  state.q = i === tokens.length - 1 ? -1 : i;
  save();
  drawLinesView();
}

function drawHead() {
  drawHeatmap();
  headFacts();
  drawLinesView();
}

// --- fetching -------------------------------------------------------------------------------

// One head, or with `average` the layer's mean of its heads' exact weights (taken by the server).
const fetchHead = latest((signal) => api("/api/attention",
  { text: state.text, layer: state.layer, head: state.head, average: state.avg }, { signal }));
const fetchAll = latest((signal) => api("/api/attention/all", { text: state.text }, { signal }));
const fetchPredict = latest((signal) => api("/api/predict",
  { text: state.text, ablate: offToRequest(off), n_predictions: 10 }, { signal }));

// The views below the prompt describe one text; when there is no valid text (empty, too long,
// refused) they would describe the previous one, so they are hidden until the next answer.
function showPromptViews(on) {
  for (const section of document.querySelectorAll("[data-needs-prompt]")) section.hidden = !on;
  if (!on) {
    $("tokens").replaceChildren();
    $("status").textContent = "";
  }
}

function setTokens(list) {
  tokens = list;
  tokenChips($("tokens"), tokens, { onClick: (_, i) => { pickQuery(i); $("lines").scrollIntoView({ block: "nearest" }); } });
  $("status").textContent = `${tokens.length} token${tokens.length === 1 ? "" : "s"}: click one to see where it looks.`;
}

async function showHead() {
  $("heatmap").classList.add("busy");
  try {
    const body = await fetchHead();
    if (!body) return;
    shown = body;
    setTokens(body.tokens);
    weights = body.weights;
    showError($("error"), null);
    showPromptViews(true);
    drawHead();
  } catch (error) {
    showError($("error"), error);
    showPromptViews(false);
  } finally {
    $("heatmap").classList.remove("busy");
  }
}

async function showAll() {
  $("grid-status").textContent = `Reading all ${model.n_layers * model.n_heads} heads…`;
  try {
    const body = await fetchAll();
    if (!body) return;
    allHeads = decodeAllHeads(body);
    $("grid").hidden = false;
    model = { ...model, n_layers: body.n_layers, n_heads: body.n_heads, n_kv_heads: body.n_kv_heads };
    grid.draw(allHeads);
    grid.select(state.layer, state.avg ? "avg" : state.head);
    $("grid-status").textContent = "";
    $("grid-size").textContent = `${body.n_layers * body.n_heads} heads × ${allHeads.n * (allHeads.n + 1) / 2} weights = `
      + `${(allHeads.bytes / 1024).toFixed(1)} KB (${(body.data.length / 1024).toFixed(1)} KB as base64); `
      + `as JSON numbers it would be about ${((body.n_layers * body.n_heads * allHeads.n * allHeads.n * 9) / 1024).toFixed(0)} KB.`;
    drawLayerViews();
    const share = allHeads.sinkShare();
    $("sink-share").textContent = share === null ? ""
      : `In your text, averaged over all ${body.n_layers * body.n_heads} heads, the tokens after the first put `
        + `${(share * 100).toFixed(0)}% of their attention on the first token.`;
  } catch (error) {
    allHeads = null;
    grid.data = null;
    $("grid").hidden = true;
    $("sink-share").textContent = "";
    const limit = error.limit ?? model.limits?.max_all_heads_tokens;
    const tooLong = error.code === "too_long";
    // Said for a reader of the page; the API's own message is addressed to programmers.
    const count = error.actual;
    const why = tooLong ? `Your text has ${count ? count + " tokens, too many" : "too many tokens"} for this view: `
      + `every head at once is drawn for texts of ${limit ? `up to ${limit} tokens` : "fewer tokens"}. Shorten the text to see it; the heatmap `
      + "and the lines above show any head of this one." : error.message;
    $("grid-status").textContent = why;
    clearLayerViews(why);  // the heatmap above (a head or the layer's average) comes from /api/attention
  }
}

// Without every head of this text, the grouped-query views would show the previous text's heads.
function clearLayerViews(why) {
  $("gqa-layer").textContent = String(state.layer);
  $("gqa").replaceChildren();
  $("gqa").toggleAttribute("hidden", true);  // an SVG element has no .hidden
  window.Plotly.purge($("overlap"));
  $("overlap").hidden = true;
  $("overlap-summary").textContent = why;
}

function drawLayerViews() {
  if (!allHeads) { $("gqa-layer").textContent = String(state.layer); return; }
  $("gqa").toggleAttribute("hidden", false);
  $("overlap").hidden = false;
  $("gqa-layer").textContent = String(state.layer);
  drawGqa($("gqa"), allHeads, state.layer, state.avg ? -1 : state.head, (h) => openHead(state.layer, h, false));
  drawOverlap($("overlap"), $("overlap-summary"), allHeads, state.layer);
}

async function showPredictions() {
  $("ablate-status").textContent = off.size ? "Running the model with those heads off…" : "";
  try {
    const body = await fetchPredict();
    if (!body) return;
    showError($("ablate-error"), null);
    $("ablate-status").textContent = "";
    drawAblation({ before: $("before"), after: $("after"), afterTitle: $("after-title"), summary: $("ablate-summary") },
      body, off);
  } catch (error) {
    $("ablate-status").textContent = "";
    showError($("ablate-error"), error);
  }
  drawOffList($("ablated-list"), off, (key) => { off.delete(key); offChanged(); });
}

function offChanged() {
  save();
  grid.setOff(off);
  showPredictions();
}

// --- controls -------------------------------------------------------------------------------

function setControls() {
  $("layer").max = String(model.n_layers - 1);
  $("layer").value = String(state.layer);
  $("layer-out").textContent = String(state.layer);
  $("head").value = state.avg ? "avg" : String(state.head);
}

function openHead(layer, head, scroll = true) {
  state.layer = layer;
  state.avg = head === "avg";
  if (!state.avg) state.head = head;
  clampView();
  save();
  setControls();
  grid.select(state.layer, state.avg ? "avg" : state.head);
  drawLayerViews();
  showHead();
  if (scroll) $("one-head").scrollIntoView({ behavior: "smooth", block: "start" });
}

function textChanged({ keepQuery = false } = {}) {
  state.text = $("prompt").value;
  if (!keepQuery) state.q = -1;  // new text: the picked token may no longer exist
  save();
  if (!state.text.trim()) {
    for (const fetcher of [fetchHead, fetchAll, fetchPredict]) fetcher.cancel();
    showError($("error"), new Error("Type some text for the model to read."));
    showPromptViews(false);
    return;
  }
  $("status").textContent = "";
  allHeads = null;  // the previous text's heads must not be drawn as this text's layer average
  showHead();
  showAll();
  showPredictions();
}

const grid = new HeadGrid($("grid"), (layer, head) => openHead(layer, head));

function setupHeadSelect() {
  const select = $("head");
  select.replaceChildren();
  for (let h = 0; h < model.n_heads; h++) {
    const kv = model.kv_head_of?.[h];  // from /api/model; the first draw, before it answers, leaves it out
    select.append(el("option", { text: kv === undefined ? String(h) : `${h} (key/value ${kv})`, attrs: { value: String(h) } }));
  }
  select.append(el("option", { text: "average of the layer", attrs: { value: "avg" } }));
}

// --- start ------------------------------------------------------------------------------------

function init() {
  const prompt = $("prompt");
  prompt.value = state.text;
  prompt.addEventListener("input", debounce(textChanged, 350));
  for (const text of EXAMPLES) {
    const b = el("button", { text: text.length > 42 ? text.slice(0, 40) + "…" : text, title: text, attrs: { type: "button" } });
    b.addEventListener("click", () => { prompt.value = text; textChanged(); });
    $("examples").append(b);
  }
  setupHeadSelect();
  clampView();
  setControls();
  $("layer").addEventListener("input", () => { $("layer-out").textContent = $("layer").value; });
  $("layer").addEventListener("change", () => openHead(Number($("layer").value), state.avg ? "avg" : state.head, false));
  $("head").addEventListener("change", () => {
    const v = $("head").value;
    openHead(state.layer, v === "avg" ? "avg" : Number(v), false);
  });
  // The heads worth a look are described on the first example: show them on it.
  for (const b of document.querySelectorAll("[data-goto]")) {
    b.addEventListener("click", () => {
      const [l, h] = b.dataset.goto.split(",").map(Number);
      const otherText = prompt.value !== EXAMPLES[0];
      if (otherText) prompt.value = EXAMPLES[0];
      openHead(l, h);
      if (otherText) textChanged();
    });
  }
  const sinkNote = $("sink-note");
  sinkNote.append(" ", el("strong", { attrs: { id: "sink-share" } }));

  const runSenses = initSenses({ state, save });

  // Switch a head off.
  $("ablate-current").addEventListener("click", () => {
    if (state.avg) for (let h = 0; h < model.n_heads; h++) off.add(`${state.layer}.${h}`);
    else off.add(`${state.layer}.${state.head}`);
    offChanged();
  });
  $("ablate-layer").addEventListener("click", () => {
    for (let h = 0; h < model.n_heads; h++) off.add(`${state.layer}.${h}`);
    offChanged();
  });
  $("ablate-clear").addEventListener("click", () => { off.clear(); offChanged(); });
  grid.setOff(off);
  window.addEventListener("resize", debounce(() => { if (grid.data) grid.paint(); }, 200));

  api("/api/model").then((info) => {
    model = info;
    setupHeadSelect();
    clampView();
    setControls();
  }).catch(() => {});
  textChanged({ keepQuery: true });  // first draw: keep the token picked in a shared link (q)
  runSenses();
}

init();
