// Chapter 4, attention. State lives in the URL (text, layer, head, ...); every picture is
// drawn from the JSON API: /api/attention (one head, exact), /api/attention/all (every head,
// compact), /api/attention/compare (same word, different context), /api/predict (ablation).

import { api, debounce, el, latest, plotConfig, plotLayout, readState, showError, tokenChips, writeState } from "./api.js";
import { drawAblation, drawOffList, formatOff, offToRequest, parseOff } from "./attention/ablate.js";
import { plotlyScale, plotText } from "./attention/colours.js";
import { decodeAllHeads } from "./attention/compact.js";
import { drawComparison, EXAMPLES as COMPARE_EXAMPLES, summarise } from "./attention/compare.js";
import { drawGqa, drawOverlap } from "./attention/gqa.js";
import { HeadGrid } from "./attention/grid.js";
import { drawLines } from "./attention/lines.js";

const EXAMPLES = [
  "The capital of France is Paris. The capital of Italy is",
  "I sat on the river bank and watched the water. Later I paid the money into the bank.",
  "When Mary and John went to the shop, John gave a drink to",
  "1 2 3 4 5 6 1 2 3 4 5 6 1 2 3",
];
const DEFAULTS = {
  text: EXAMPLES[0], layer: 2, head: 1, avg: false, q: -1,
  s1: COMPARE_EXAMPLES[0].sentences[0], s2: COMPARE_EXAMPLES[0].sentences[1], s3: "", s4: "",
  word: COMPARE_EXAMPLES[0].word, ctx: COMPARE_EXAMPLES[0].context, sink: false, off: "",
};

const $ = (id) => document.getElementById(id);
const state = readState(DEFAULTS);
let model = { n_layers: 30, n_heads: 9, n_kv_heads: 3 };
let tokens = [];
let weights = null;      // rows of the head shown in the heatmap (exact, or the decoded layer average)
let allHeads = null;     // decodeAllHeads(...) of the current text
let allHeadsRefused = null;  // the 413 error when the text is too long for every head at once
let averageExact = false;  // the layer average was taken from the exact weights, not the one-byte data
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
  const kv = Math.floor(state.head / (model.n_heads / model.n_kv_heads));
  const group = Array.from({ length: model.n_heads }, (_, h) => h)
    .filter((h) => Math.floor(h / (model.n_heads / model.n_kv_heads)) === kv && h !== state.head);
  if (state.avg) {
    node.append(el("strong", { text: "The layer's average. " }),
      `The mean of the ${model.n_heads} heads of layer ${state.layer}`
      + (averageExact ? " (from their exact weights)." : " (from the one-byte data, so within ±0.002)."));
  } else {
    node.append(el("strong", { text: `Layer ${state.layer}, head ${state.head}` }),
      ` reads key/value head ${kv}, which it shares with heads ${group.join(" and ")}.`);
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

const fetchHead = latest(async (signal) => {
  const body = await api("/api/attention", { text: state.text, layer: state.layer, head: state.head }, { signal });
  return body;
});
const fetchAll = latest((signal) => api("/api/attention/all", { text: state.text }, { signal }));
// A text too long for every head at once: the layer's average from its heads' exact weights, one by one.
const fetchAverage = latest(async (signal) => {
  let body = null;
  let sum = null;
  for (let h = 0; h < model.n_heads; h++) {
    body = await api("/api/attention", { text: state.text, layer: state.layer, head: h }, { signal });
    if (!sum) sum = body.weights.map((row) => Float64Array.from(row));
    else body.weights.forEach((row, i) => { for (let j = 0; j <= i; j++) sum[i][j] += row[j]; });
  }
  for (const row of sum) for (let j = 0; j < row.length; j++) row[j] /= model.n_heads;
  return { tokens: body.tokens, weights: sum };
});
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
  if (state.avg && allHeads) {
    weights = allHeads.layerAverage(state.layer);
    averageExact = false;
    showError($("error"), null);
    showPromptViews(true);
    drawHead();
    return;
  }
  if (state.avg && !allHeadsRefused) return;  // showAll draws it when every head has arrived
  $("heatmap").classList.add("busy");
  try {
    const body = await (state.avg ? fetchAverage() : fetchHead());
    averageExact = state.avg;
    if (!body) return;
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
  allHeadsRefused = null;
  $("grid-status").textContent = `Reading all ${model.n_layers * model.n_heads} heads…`;
  try {
    const body = await fetchAll();
    if (!body) return;
    allHeads = decodeAllHeads(body);
    $("grid").hidden = false;
    model = { ...model, n_layers: body.n_layers, n_heads: body.n_heads, n_kv_heads: body.n_kv_heads };
    if (state.avg) { setTokens(body.tokens); await showHead(); }
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
    const limit = model.limits?.max_all_heads_tokens;
    const tooLong = error.status === 413 && /all heads at once/.test(error.message);
    // Said for a reader of the page; the API's own message is addressed to programmers.
    const count = /(\d+) tokens long/.exec(error.message)?.[1];
    const why = tooLong ? `Your text has ${count ? count + " tokens, too many" : "too many tokens"} for this view: `
      + `every head at once is drawn for texts of ${limit ? `up to ${limit} tokens` : "fewer tokens"}. Shorten the text to see it; the heatmap `
      + "and the lines above show any head of this one." : error.message;
    $("grid-status").textContent = why;
    clearLayerViews(why);
    if (tooLong) {
      allHeadsRefused = error;
      if (state.avg) await showHead();  // the layer's average, from the exact weights instead
    } else if (state.avg) {  // the averaged heatmap is drawn from these heads: nothing to show
      showError($("error"), error);
      showPromptViews(false);
    }
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
    const kv = Math.floor(h / (model.n_heads / model.n_kv_heads));
    select.append(el("option", { text: `${h} (key/value ${kv})`, attrs: { value: String(h) } }));
  }
  select.append(el("option", { text: "average of the layer", attrs: { value: "avg" } }));
}

// --- same word, different context -------------------------------------------------------------

const sentenceKeys = ["s1", "s2", "s3", "s4"];

function sentenceInputs() {
  const box = $("sentences");
  const texts = sentenceKeys.map((k) => state[k]).filter((s, i) => i < 2 || s);
  box.replaceChildren();
  texts.forEach((text, i) => {
    const input = el("input", { cls: "sentence", attrs: { type: "text", maxlength: "400", spellcheck: "false",
      "aria-label": `Sentence ${i + 1}` } });
    input.value = text;
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") runCompare(); });
    const row = el("div", { cls: "sentence-row" }, [el("span", { cls: `dot s${i}`, text: String(i + 1) }), input]);
    if (i >= 2) {
      const remove = el("button", { cls: "secondary small", text: "×", title: "Remove this sentence", attrs: { type: "button" } });
      remove.addEventListener("click", () => { readCompareInputs(); state[sentenceKeys[i]] = ""; compactSentences(); sentenceInputs(); });
      row.append(remove);
    }
    box.append(row);
  });
  $("add-sentence").disabled = texts.length >= 4;
}

function compactSentences() {
  const texts = sentenceKeys.map((k) => state[k]).filter((s, i) => i < 2 || s);
  sentenceKeys.forEach((k, i) => { state[k] = texts[i] ?? ""; });
}

function readCompareInputs() {
  [...$("sentences").querySelectorAll("input.sentence")].forEach((input, i) => { state[sentenceKeys[i]] = input.value; });
  state.word = $("word").value;
  state.ctx = $("context").value;
}

let lastComparison = null;
const fetchCompare = latest((signal, body) => api("/api/attention/compare", body, { signal }));

async function runCompare() {
  readCompareInputs();
  save();
  const count = $("sentences").querySelectorAll("input.sentence").length;
  const body = {
    sentences: sentenceKeys.slice(0, count).map((k) => state[k]),
    word: state.word,
    context_words: state.ctx.split(",").map((s) => s.trim()).filter(Boolean),
  };
  $("compare-status").textContent = `Following the word through ${model.n_layers} layers…`;
  try {
    const result = await fetchCompare(body);
    if (!result) return;
    lastComparison = result;
    showError($("compare-error"), null);
    $("compare-results").hidden = false;
    drawCompare();
    $("compare-status").textContent = summarise(result);
  } catch (error) {
    $("compare-status").textContent = "";
    showError($("compare-error"), error);
  }
}

function drawCompare() {
  if (!lastComparison) return;
  drawComparison({ heatmaps: $("compare-heatmaps"), table: $("top-table"), cosine: $("cosine"),
    path: $("path") }, lastComparison, { hideSink: state.sink });
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

  // Same word, different context.
  $("word").value = state.word;
  $("context").value = state.ctx;
  $("hide-sink").checked = state.sink;
  sentenceInputs();
  $("add-sentence").addEventListener("click", () => {
    readCompareInputs();
    const free = sentenceKeys.findIndex((k, i) => i >= 2 && !state[k]);
    if (free < 0) return;
    state[sentenceKeys[free]] = "…";
    sentenceInputs();
    const inputs = $("sentences").querySelectorAll("input.sentence");
    inputs[inputs.length - 1].value = "";
    inputs[inputs.length - 1].focus();
  });
  $("run-compare").addEventListener("click", runCompare);
  for (const id of ["word", "context"]) $(id).addEventListener("keydown", (e) => { if (e.key === "Enter") runCompare(); });
  $("hide-sink").addEventListener("change", () => { state.sink = $("hide-sink").checked; save(); drawCompare(); });
  for (const ex of COMPARE_EXAMPLES) {
    const b = el("button", { text: ex.label, attrs: { type: "button" } });
    b.addEventListener("click", () => {
      sentenceKeys.forEach((k, i) => { state[k] = ex.sentences[i] ?? ""; });
      state.word = ex.word; state.ctx = ex.context;
      $("word").value = ex.word; $("context").value = ex.context;
      sentenceInputs();
      runCompare();
    });
    $("compare-examples").append(b);
  }

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
  runCompare();
}

init();
