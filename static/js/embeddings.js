// Chapter 3, embeddings: a word map, analogies and sentence similarity, all from the model's own
// vectors via /api/embeddings/*. State lives in the URL, so every view can be shared.
// User and model text reaches the page through textContent (the `el` helper) and reaches
// Plotly only escaped (Plotly reads a few HTML-like tags in its labels).

import { $, api, declutterLabels, debounce, el, plainTokenLabel, plotConfig, plotLayout, plotText, readState, showError,
  tokenChip, writeState } from "./api.js";
import { drawHeatmap } from "./kit/heatmap.js";
import { apiFirst } from "./kit/first.js";
import { loader } from "./kit/load.js";
import { isNarrow, isTouch, plotly, plotly3d } from "./kit/plotly.js";

const DEFAULT_SENTENCES = [
  "The cat sat on the mat.",
  "A kitten was resting on the rug.",
  "The stock market fell sharply today.",
  "Share prices dropped steeply this morning.",
  "I really enjoyed this film.",
  "The movie was wonderful.",
  "The cat fell off the market stall.",
];

// Pairs that share their words but not their meaning, then one that shares its meaning but few words:
// what a mean-pooled sentence vector measures (the reading under the heatmap is computed from them).
const OVERLAP_SENTENCES = [
  "The doctor treated the patient.",
  "The patient treated the doctor.",
  "I love this movie.",
  "I hate this movie.",
  "The cat sat on the mat.",
  "A kitten was resting on the rug.",
];
const OVERLAP_PAIRS = [
  { i: 0, j: 1, what: "the same words, who did what swapped" },
  { i: 2, j: 3, what: "one word changed, the opposite meaning" },
];
const PARAPHRASE = { i: 4, j: 5, what: "the same scene in other words" };

// "all 2,000", "none of 2,000", else a percentage that never rounds to 100% or 0% (1,999 of 2,000 is not all).
const shareOf = (share, count) => {
  const n = count.toLocaleString("en");
  if (share >= 1) return `all ${n}`;
  if (share <= 0) return `none of ${n}`;
  return `${Math.min(99, Math.max(1, Math.round(100 * share)))}% of ${n}`;
};

// Map views worth a look, each with what to look for (checked on this model's pictures).
const MAP_PRESETS = [
  { label: "Four kinds of word", view: { sets: "animals,countries,numbers,colours", method: "pca", mode: "static" },
    note: "Four tight groups from the input embeddings alone: nobody told the model that “seven” and “eight” "
      + "are both numbers; words used alike ended up alike." },
  { label: "Countries → capitals", view: { sets: "countries,capitals", method: "pca", mode: "static" },
    note: "Countries on one side, capitals on the other, and the country → capital lines look nearly parallel. "
      + "The picture exaggerates: PCA chose the axes along which countries and capitals differ most, so even wrong "
      + "pairs (France → Rome) would draw similar lines. Over all the numbers the offsets are much less alike "
      + "(the sentence under the map gives the numbers); Italy → Rome is the one least like the others." },
  { label: "Animals → their young (t-SNE)", view: { sets: "animals,young", method: "tsne", mode: "static" },
    note: "t-SNE keeps each word's nearest words near it, at the price of distorting the rest. The numbers "
      + "under the map are computed on all the numbers, not on the picture: the “young of” offsets are far less "
      + "alike than the country → capital ones, and only a little more alike than the same words paired at random "
      + "(each animal with another animal's young), with a few wrong pairings more alike still. The control under "
      + "the map comes out lower, but is no fair test here: five of the young are two tokens each, matched by a "
      + "piece commoner than the word (foal by ␣fo); matched as rare as kitten, the rarest young of one token, it "
      + "is as alike as the young offsets. So these numbers show no clear “young of” direction in this model's "
      + "input embeddings." },
  { label: "Hidden states, layer by layer", view: { sets: "countries,capitals", method: "pca", mode: "contextual", layer: 8 },
    note: "The same countries and capitals, after the model has read each one through 8 blocks. Move the layer "
      + "slider and watch the number under the map: how alike the country → capital offsets are changes from "
      + "layer to layer, and is not always higher than in the input embedding." },
];

const DEFAULTS = {
  sets: "animals,countries,numbers,colours", words: "", method: "pca", dims: 2, mode: "static", layer: 15, pooling: "mean", wl: true,
  a: "puppy", b: "dog", c: "cat", exp: "kitten", sent: DEFAULT_SENTENCES.join("\n"), slayer: 15,
};

// A fixed colour per set, so "Animals" is the same blue on every map.
const GROUP_COLOURS = { animals: "#4453c7", young: "#d9682b", countries: "#1f8a5b", capitals: "#c23b3b",
  numbers: "#8a4fbf", colours: "#b07d12", yours: "#1d2130" };
const ROLE_COLOURS = { a: "#4453c7", b: "#4453c7", c: "#d9682b", target: "#5d6374", answer: "#d9682b", result: "#9aa0b0" };

let state = readState(DEFAULTS);
const save = () => writeState(state, DEFAULTS);

/** A token ({text, bytes, partial}) as every page shows it: " dog" -> "␣dog", a piece of a character
 *  by its bytes ("E6 88"), whitespace and invisible characters visible. A neighbour that is a word of
 *  the map (no id) is shown as typed. */
const shown = (t) => (t.id === null ? t.text : plainTokenLabel(t));

// Plotly is loaded by the kit: the 2-D bundle, or the full one once a 3-D map is asked for. A chart
// drawn by one bundle is purged before the other draws it again (one Plotly per chart).
let Plotly = null;
const drawnWith = new WeakMap();
function sameBundle(node) {
  const before = drawnWith.get(node);
  if (before && before !== Plotly) { before.purge(node); delete node.dataset.wired; }
  drawnWith.set(node, Plotly);
}
const react = (node, traces, layout) => { sameBundle(node); return Plotly.react(node, traces, layout, plotConfig); };
const fixed = (x, n = 2) => Number(x).toFixed(n);
/** At most n characters (whole code points, so an emoji is never cut in half), "…" when cut. */
const shortLabel = (s, n = 28) => {
  const chars = Array.from(String(s));
  return chars.length > n ? `${chars.slice(0, n - 1).join("")}…` : String(s);
};
const splitWords = (s) => s.split(/[,\n]/).map((w) => w.trim()).filter(Boolean);

// --- word map ---------------------------------------------------------------------------------

let mapData = null;
let pinned = null;

function buildSetBoxes(sets) {
  const chosen = new Set(state.sets.split(",").filter(Boolean));
  $("set-boxes").replaceChildren(...sets.map((s) => {
    const box = el("input", { attrs: { type: "checkbox", value: s.name } });
    box.checked = chosen.has(s.name);
    box.addEventListener("change", () => {
      state.sets = [...document.querySelectorAll("#set-boxes input:checked")].map((b) => b.value).join(",");
      drawMapSoon();
    });
    const swatch = el("span", { cls: "swatch", attrs: { "aria-hidden": "true" } });
    swatch.style.background = GROUP_COLOURS[s.name] || GROUP_COLOURS.yours;
    return el("label", { cls: "set-box", title: s.words.join(", ") }, [box, swatch, el("span", { text: s.label })]);
  }));
}

function buildPresets() {
  $("map-presets").replaceChildren(...MAP_PRESETS.map((preset) => {
    const button = el("button", { text: preset.label, attrs: { type: "button" } });
    button.addEventListener("click", () => {
      Object.assign(state, { words: "", dims: 2, pooling: "mean", layer: DEFAULTS.layer }, preset.view);
      for (const box of document.querySelectorAll("#set-boxes input")) box.checked = state.sets.split(",").includes(box.value);
      drawMap();
    });
    return button;
  }));
}

/** The preset the current view is, if any: its note explains what to look for. */
function showPresetNote() {
  const current = MAP_PRESETS.find((p) => !state.words && state.dims === 2
    && Object.entries({ layer: DEFAULTS.layer, ...p.view }).every(([k, v]) => (k === "layer" && p.view.mode !== "contextual") || state[k] === v));
  for (const [i, b] of [...$("map-presets").children].entries()) b.setAttribute("aria-pressed", String(MAP_PRESETS[i] === current));
  $("preset-note").hidden = !current;
  $("preset-note").textContent = current ? current.note : "";
}

function syncMapControls() {
  $("method").value = state.method;
  $("pooling").value = state.pooling;
  $("word-like").checked = state.wl;
  $("own-words").value = splitWords(state.words).join(", ");
  for (const b of document.querySelectorAll("[data-dims]")) b.setAttribute("aria-pressed", String(+b.dataset.dims === state.dims));
  for (const b of document.querySelectorAll("[data-mode]")) b.setAttribute("aria-pressed", String(b.dataset.mode === state.mode));
  $("map-layer").value = state.layer;
  $("map-layer-out").textContent = state.layer;
  $("map-layer-pick").hidden = state.mode !== "contextual";
  readFirstPosition();
  $("word-like").closest("label").hidden = state.mode === "contextual";
  showPresetNote();
}

// A refused map (too many words, a word too long, the server busy) hides the earlier map, its
// neighbours and its pieces: they would stand beside the error as if they were the new words'.
// A first visit's map (before the layers are known, no words of the reader's own) is the server's
// preload of GET /api/embeddings/map when it named this state (kit/first.js).
const mapLoad = loader({
  run: (signal) => {
    const body = { sets: state.sets.split(",").filter(Boolean), words: splitWords(state.words), method: state.method,
      dims: state.dims, mode: state.mode, layer: layersKnown ? state.layer : null, pooling: state.pooling, neighbours: 10,
      word_like: state.wl };
    const query = layersKnown || body.words.length ? null : { sets: body.sets.join(","), method: body.method,
      dims: body.dims, mode: body.mode, pooling: body.pooling, wl: body.word_like, neighbours: body.neighbours };
    return apiFirst("/api/embeddings/map", query, body, { signal });
  },
  draw: showMap, charts: true, error: "map-error",
  views: ["map-plot", "map-labels-note", "neighbours-box", "several-summary", "pieces"],
  onError: () => { $("map-status").textContent = ""; mapData = null; },
});

function drawMap() {
  save();
  syncMapControls();
  $("map-status").textContent = state.method === "umap" ? "Computing… (UMAP's first use on the server compiles it, which takes a while)"
    : state.mode === "contextual" ? "Reading each word through the model…" : "Computing…";
  return mapLoad();
}

async function showMap(data) {
  // A 3-D map needs the full Plotly bundle, fetched the first time one is drawn.
  Plotly = data.dims === 3 ? await plotly3d() : await plotly();
  mapData = data;
  await plotMap(data);
  describeMap(data);
  showPieces(data);
  pinned = null;
  $("nb-word").replaceChildren(...data.points.map((p, i) => el("option", { text: p.word, attrs: { value: String(i) } })));
  showNeighbours(0);
}
const drawMapSoon = debounce(drawMap, 300);

function axisTitle(data, i) {
  const share = Math.round(100 * data.explained?.[i]);
  if (data.method === "pca") return data.dims === 3 ? `PC${i + 1} (${share}%)` : `PC${i + 1} (${share}% of the spread)`;
  return `${data.method === "tsne" ? "t-SNE" : "UMAP"} ${i + 1}`;
}

function hoverText(p, data) {
  const lines = [`<b>${plotText(p.word)}</b>  ${p.tokens.map((t) => plotText(shown(t))).join(" + ")}`];
  if (p.neighbours.length) {
    lines.push(data.neighbours_from === "vocabulary" ? "nearest tokens:" : "nearest words on the map:");
    for (const n of p.neighbours.slice(0, 6)) lines.push(`  ${plotText(shown(n))}  ${fixed(n.cosine)}`);
  }
  return lines.join("<br>");
}

function plotMap(data) {
  const three = data.dims === 3;
  const node = $("map-plot");
  const narrow = isNarrow(node);
  const type = three ? "scatter3d" : "scatter";
  const traces = [];
  if (data.pairs.length) {
    const line = { x: [], y: [], z: [] };
    for (const [i, j] of data.pairs) {
      for (const k of [i, j]) { line.x.push(data.points[k].coords[0]); line.y.push(data.points[k].coords[1]); line.z.push(data.points[k].coords[2]); }
      line.x.push(null); line.y.push(null); line.z.push(null);
    }
    const kinds = [];
    if (data.groups.young && data.groups.animals) kinds.push("animal → young");
    if (data.groups.capitals && data.groups.countries) kinds.push("country → capital");
    traces.push({ type, mode: "lines", name: narrow ? "pairs" : `pairs: ${kinds.join(", ")}`, x: line.x, y: line.y, ...(three ? { z: line.z } : {}),
      line: { color: "rgba(93,99,116,0.35)", width: 1.5 }, hoverinfo: "skip" });
  }
  for (const [group, label] of Object.entries(data.groups)) {
    const idx = data.points.map((p, i) => (p.group === group ? i : -1)).filter((i) => i >= 0);
    const pts = idx.map((i) => data.points[i]);
    traces.push({
      type, mode: "markers+text", name: plotText(label),
      x: pts.map((p) => p.coords[0]), y: pts.map((p) => p.coords[1]), ...(three ? { z: pts.map((p) => p.coords[2]) } : {}),
      text: pts.map((p) => plotText(shortLabel(p.word, 16))), textposition: "top center", customdata: idx, ...(three ? {} : { cliponaxis: false }),
      hovertext: pts.map((p) => hoverText(p, data)), hoverinfo: "text",
      marker: { size: three ? 5 : 10, color: GROUP_COLOURS[group] || GROUP_COLOURS.yours, line: { width: 1, color: "#fff" } },
      textfont: { size: 12, color: GROUP_COLOURS[group] || GROUP_COLOURS.yours },
    });
  }
  const axis = (i) => ({ title: { text: axisTitle(data, i) }, zeroline: false, showgrid: true, gridcolor: "#ecece6" });
  // On a phone the legend's entries are short and small, three to a line above the map, instead of one line
  // each.
  const layout = plotLayout({ height: 540, hovermode: "closest", showlegend: true,
    legend: { orientation: "h", x: 0, y: 1.01, yanchor: "bottom", ...(narrow ? { font: { size: 11 }, itemwidth: 30, x: -0.13, entrywidthmode: "fraction", entrywidth: 0.33 } : {}) },
    margin: narrow ? { l: 44, r: 6, t: 30, b: 40 } : { l: 50, r: 10, t: 30, b: 40 } });
  if (three) layout.scene = { xaxis: axis(0), yaxis: axis(1), zaxis: axis(2) };
  else {
    // Labels are centred on their points: leave room for those of the leftmost and rightmost words.
    const xs = data.points.map((p) => p.coords[0]);
    const lo = Math.min(...xs), hi = Math.max(...xs), pad = (narrow ? 0.2 : 0.1) * (hi - lo || 1);
    Object.assign(layout, { xaxis: { ...axis(0), range: [lo - pad, hi + pad] }, yaxis: axis(1) });
  }
  const labelled = traces.map((t, i) => (t.mode === "markers+text" ? i : -1)).filter((i) => i >= 0);
  mapLabels = three ? null : { traces: labelled, texts: labelled.map((i) => traces[i].text) };
  return react(node, traces, layout).then(() => {
    declutterMap();
    if (node.dataset.wired) return;
    node.dataset.wired = "1";
    // Zooming, panning or resizing moves the points apart or together: place the labels again.
    node.on("plotly_relayout", () => declutterMap());
    node.on("plotly_hover", (ev) => { const i = pointIndex(ev); if (i !== null) showNeighbours(i); });
    node.on("plotly_unhover", () => { if (pinned !== null) showNeighbours(pinned); });
    node.on("plotly_click", (ev) => { const i = pointIndex(ev); if (i !== null) { pinned = i; showNeighbours(i); } });
  });
}

let mapLabels = null;  // the 2D map's labelled traces and their full label texts

function declutterMap() {
  if (!mapLabels || !mapData) return;
  const hidden = declutterLabels($("map-plot"), mapLabels.traces, mapLabels.texts);
  $("map-labels-note").textContent = hidden
    ? `${hidden} label${hidden === 1 ? "" : "s"} would overlap others and ${hidden === 1 ? "is" : "are"} left out: `
      + (isTouch ? "tap a dot to read its word, or drag over a cluster to zoom in (double-tap to zoom back out)."
        : "point at a dot to read its word, or drag a box over a cluster to zoom in (double-click to zoom back out).")
    : "";
}

function pointIndex(ev) {
  const p = ev && ev.points && ev.points[0];
  return p && p.customdata !== undefined ? p.customdata : null;
}

function showNeighbours(i) {
  const p = mapData && mapData.points[i];
  if (!p) return;
  $("nb-word").value = String(i);
  const title = $("nb-title");
  title.replaceChildren("Nearest to ", el("span", { cls: "word", text: "␣" + p.word }));
  $("nb-hint").textContent = `${p.tokens.length === 1 ? "1 token" : `${p.tokens.length} tokens`}: `
    + p.tokens.map((t) => `${shown(t)} (id ${t.id})`).join(" + ");
  const max = Math.max(...p.neighbours.map((n) => n.cosine), 0.0001);
  $("nb-list").replaceChildren(...p.neighbours.map((n) => {
    const bar = el("span", { cls: "bar", attrs: { "aria-hidden": "true" } });
    bar.style.width = `${Math.max(0, (100 * n.cosine) / max)}%`;
    return el("li", {}, [el("span", { cls: "tok-text", text: shown(n) }), el("span", { cls: "cos", text: fixed(n.cosine) }), bar]);
  }));
  $("nb-source").textContent = mapData.neighbours_from === "vocabulary"
    ? `Cosine with all ${Number(document.body.dataset.vocabSize).toLocaleString("en")} rows of the embedding matrix${state.wl ? ", keeping only word-like tokens (a space, then letters): many rows are pieces such as “ling” or “/”. Untick the box to see them." : "."}`
    : `Cosine between the hidden states at layer ${mapData.layer} of the words on this map.`;
}

function describeMap(data) {
  const n = data.points.length;
  const what = data.mode === "static" ? "input embeddings"
    : `hidden states at layer ${data.layer} of ${$("map-layer").max}`;
  let text = `${n} words, ${what}, ${data.method === "pca" ? "PCA" : data.method === "tsne" ? "t-SNE" : "UMAP"} in ${data.dims}D.`;
  if (data.method === "pca") {
    const shownShare = data.explained.reduce((s, x) => s + x, 0);
    text += ` These ${data.dims} axes show ${Math.round(100 * shownShare)}% of how the words' vectors differ.`;
  }
  if (data.pairs_parallel !== null) {
    const drawn = linesParallel(data);
    // Read against the control, not against 0: offsets to other words are far from 0 in this model. The control's
    // partners are matched to the words they replace (pairs_random), as the sentence says.
    text += ` The ${data.pairs.length} pairs' offsets have an average cosine of ${fixed(data.pairs_parallel)} with each other`
      + " over all their numbers (1 = all parallel"
      + (data.pairs_random === null || data.pairs_random === undefined ? ")"
        : "; each first word paired instead with a random word-like token about as common as its partner and with a "
          + `vector about as long: ${fixed(data.pairs_random)})`)
      + (drawn === null ? "." : `; the lines drawn, ${fixed(drawn)} in this picture`
        + (drawn > data.pairs_parallel + 0.1 ? ", which makes them look more alike than they are." : "."));
  }
  $("map-status").textContent = text;
}

/** Mean cosine between the pairs' lines as drawn (their offsets in the map's own coordinates). */
function linesParallel(data) {
  const offsets = data.pairs.map(([i, j]) => data.points[j].coords.map((x, k) => x - data.points[i].coords[k]));
  const units = offsets.map((o) => { const n = Math.hypot(...o); return n > 0 ? o.map((x) => x / n) : null; });
  if (units.length < 2 || units.some((u) => u === null)) return null;
  let sum = 0;
  for (const [a, u] of units.entries()) for (const [b, v] of units.entries()) if (a !== b) sum += u.reduce((s, x, k) => s + x * v[k], 0);
  return sum / (units.length * (units.length - 1));
}

function showPieces(data) {
  const several = data.points.filter((p) => p.tokens.length > 1);
  $("several-summary").textContent = several.length
    ? `${several.length} of the ${data.points.length} words on the map take several tokens; each is drawn from `
      + (data.mode === "static" ? (data.pooling === "mean" ? "the mean of its tokens' input embeddings." : "its last token's input embedding alone.")
        : (data.pooling === "mean" ? `the mean of its tokens' hidden states at layer ${data.layer}.` : `its last token's hidden state at layer ${data.layer}.`))
    : `Every word on the map is a single token. Add a rarer word (try “duckling” or “tadpole”) to see one cut.`;
  const body = $("pieces").querySelector("tbody");
  body.replaceChildren(...several.map((p) => el("tr", {}, [
    el("td", { text: p.word }),
    el("td", {}, [el("div", { cls: "piece-row" },
      p.tokens.map((t) => tokenChip(t, { cls: "piece", title: `id ${t.id}` })))]),
  ])));
  $("pieces").hidden = several.length === 0;
}

function wireMapControls() {
  $("nb-word").addEventListener("change", (e) => { pinned = Number(e.target.value); showNeighbours(pinned); });
  $("method").addEventListener("change", (e) => { state.method = e.target.value; drawMap(); });
  $("pooling").addEventListener("change", (e) => { state.pooling = e.target.value; drawMap(); });
  $("word-like").addEventListener("change", (e) => { state.wl = e.target.checked; drawMap(); });
  $("own-words").addEventListener("input", (e) => { state.words = splitWords(e.target.value).join(","); drawMapSoon(); });
  $("map-layer").addEventListener("input", (e) => {
    state.layer = Number(e.target.value); $("map-layer-out").textContent = state.layer; readFirstPosition(); drawMapSoon();
  });
  for (const b of document.querySelectorAll("[data-dims]")) b.addEventListener("click", () => { state.dims = Number(b.dataset.dims); drawMap(); });
  for (const b of document.querySelectorAll("[data-mode]")) b.addEventListener("click", () => { state.mode = b.dataset.mode; drawMap(); });
}

// --- the first position (why contextual mode reads a prefix first) --------------------------------

let firstPosition = null;

const firstLoad = loader({
  run: (signal) => api("/api/embeddings/first-position", undefined, { signal }),
  draw: drawFirstPosition, charts: true, error: "first-error", views: ["first-plots", "first-reading"],
});

async function drawFirstPosition(answer) {
  firstPosition = answer;
  Plotly = await plotly();
  const layers = firstPosition.layers.map((r) => r.layer);
  const small = { height: 220, margin: { l: 50, r: 10, t: 30, b: 40 }, showlegend: true,
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" } };
  react($("first-length"), [{
    type: "scatter", mode: "lines+markers", x: layers, y: firstPosition.layers.map((r) => r.length_ratio),
    name: "first position ÷ the others (length)", line: { color: "#c23b3b" }, marker: { size: 4 },
    hovertemplate: "layer %{x}: %{y:.1f}× as long<extra></extra>",
  }], plotLayout({ ...small, xaxis: { title: { text: "layer" } },
    yaxis: { type: "log", title: { text: "× as long" } } }));
  react($("first-alike"), [
    { type: "scatter", mode: "lines", x: layers, y: firstPosition.layers.map((r) => r.alone_cosine),
      name: "words read alone", line: { color: "#c23b3b" }, hovertemplate: "layer %{x}: cosine %{y:.2f}<extra>alone</extra>" },
    { type: "scatter", mode: "lines", x: layers, y: firstPosition.layers.map((r) => r.prefixed_cosine),
      name: `after “${plotText(firstPosition.context_prefix)}”`, line: { color: "#4453c7" },
      hovertemplate: "layer %{x}: cosine %{y:.2f}<extra>after the prefix</extra>" },
  ], plotLayout({ ...small, xaxis: { title: { text: "layer" } },
    yaxis: { title: { text: "mean cosine" }, range: [0, 1.05] } }));
  readFirstPosition();
}

/** The measurement in words, at the map's layer: every number here is the model's own. */
function readFirstPosition() {
  if (!firstPosition) return;
  const rows = firstPosition.layers;
  const row = rows[Math.min(Math.max(0, state.layer), rows.length - 1)];
  const times = (r) => `${r.length_ratio >= 10 ? Math.round(r.length_ratio) : r.length_ratio.toFixed(1)}×`;
  const most = rows.reduce((a, r) => (r.length_ratio > a.length_ratio ? r : a));
  const least = rows.slice(1).reduce((a, r) => (r.length_ratio < a.length_ratio ? r : a));
  const words = firstPosition.words;
  $("first-reading").textContent = `Measured on ${words.length} words (“${firstPosition.context_prefix} ${words[0]}”, `
    + `“${firstPosition.context_prefix} ${words[1]}”, …). At layer ${row.layer} (the map's hidden-state layer), the first position's `
    + `vector is ${times(row)} as long as the other positions', and the words read alone, each in that first position, `
    + `have an average cosine of ${fixed(row.alone_cosine)} with each other, against ${fixed(row.prefixed_cosine)} `
    + `after the prefix. Over layers ${rows[1].layer} to ${rows[rows.length - 1].layer} the length ratio runs from ${times(least)} (layer ${least.layer}) to `
    + `${times(most)} (layer ${most.layer}).`;
}

// --- analogies --------------------------------------------------------------------------------

// A refused analogy (an empty or unknown word, the server busy) hides the earlier verdict, ranking and picture.
const analogyLoad = loader({
  run: (signal, body) => api("/api/embeddings/analogy", body, { signal }),
  draw: showAnalogy, charts: true, error: "analogy-error", views: ["verdict", "analogy-out"],
});

function syncAnalogyInputs() {
  $("an-a").value = state.a; $("an-b").value = state.b; $("an-c").value = state.c; $("an-expected").value = state.exp;
}

function runAnalogy() {
  save();
  const body = { a: state.a, b: state.b, c: state.c, k: 10, word_like: true };
  if (state.exp.trim()) body.expected = state.exp;
  return analogyLoad(body);
}

async function showAnalogy(data) {
  Plotly = await plotly();
  const expectedIds = new Set(data.expected && data.expected.tokens.length === 1 ? [data.expected.tokens[0].id] : []);
  $("analogy-results").querySelector("tbody").replaceChildren(...data.results.map((r) => {
    const bar = el("span", { cls: "bar", attrs: { "aria-hidden": "true" } });
    bar.style.width = `${Math.max(0, 100 * r.cosine)}%`;
    return el("tr", { cls: expectedIds.has(r.id) ? "hit" : "" }, [
      el("td", { text: String(r.rank) }), el("td", { cls: "tok-text", text: shown(r) }),
      el("td", { cls: "cos" }, [el("span", { text: fixed(r.cosine) }), bar])]);
  }));
  const top = data.results[0];
  const verdict = $("verdict");
  const formula = `${data.a.word} − ${data.b.word} + ${data.c.word}`;
  if (!data.expected) {
    verdict.className = "verdict";
    verdict.textContent = `${formula} lands nearest to ${shown(top)} (cosine ${fixed(top.cosine)}).`;
  } else if (data.correct && data.expected.tokens.length > 1) {
    // A word of several tokens has no row of its own: its mean vector is what ranked first, ahead of every
    // token, so the top token listed is another word.
    const e = data.expected;
    verdict.className = "verdict good";
    verdict.textContent = `✓ ${formula}: the expected “${e.word}” (${e.tokens.length} tokens, so its mean vector is `
      + `ranked) comes first, cosine ${fixed(e.cosine)}; the nearest single token is ${shown(top)} (${fixed(top.cosine)}).`;
  } else if (data.correct) {
    verdict.className = "verdict good";
    verdict.textContent = `✓ ${formula}: the nearest token is ${shown(top)}, as expected (cosine ${fixed(top.cosine)}).`;
  } else {
    const e = data.expected;
    const pieces = e.tokens.length > 1 ? ` (${e.tokens.length} tokens, so its mean vector is ranked)` : "";
    verdict.className = "verdict bad";
    verdict.textContent = `✗ ${formula}: this model's nearest token is ${shown(top)} (cosine ${fixed(top.cosine)}). `
      + `The expected “${e.word}”${pieces} ranks #${e.rank} with cosine ${fixed(e.cosine)}. This small model misses this one.`;
  }
  const wi = data.with_inputs.map((r) => `${shown(r)} (${fixed(r.cosine)})`).join(", ");
  $("with-inputs").textContent = `Without leaving the inputs out, the top three would be ${wi}.`;
  const o = data.offsets;
  // Read against the control (c → tokens matched to the answer), not against 0: in this model such offsets
  // score well above 0 for most analogies (cat → a token matched to kitten: about 0.46 against dog → puppy).
  // A word of several tokens is matched by its rarest token (highest id): say which.
  const pieces = data.expected ? data.expected.tokens : [top];
  const rarest = pieces.reduce((r, t) => (t.id > r.id ? t : r));
  const asCommon = pieces.length > 1
    ? `${shown(rarest)} (the rarest of ${data.answer}'s ${pieces.length} tokens)` : data.answer;
  $("offsets").textContent = `Offsets compared: ${o.first} and ${o.second} have cosine ${fixed(o.cosine)} `
    + `(1 would be exactly parallel), with lengths ${fixed(o.length_first)} and ${fixed(o.length_second)}. For `
    + `comparison, ${data.c.word} → a word-like token about as common as ${asCommon} and with a vector about as `
    + `long as ${data.answer}'s scores ${fixed(o.random_cosine)} on average${o.random_cosine >= 0.1 ? ", not 0" : ""}; `
    + `${o.second} beats ${shareOf(o.random_beaten, o.random_count)} such tokens (the nearest to ${data.answer} in both).`;
  return plotAnalogy(data);
}

function plotAnalogy(data) {
  const at = Object.fromEntries(data.points.filter((p) => p.role !== "result").map((p) => [p.role, p]));
  const corners = [at.b, at.a, at.target, at.c, at.b];
  const traces = [
    { type: "scatter", mode: "lines", x: corners.map((p) => p.x), y: corners.map((p) => p.y), hoverinfo: "skip",
      line: { color: "#b9bccb", dash: "dot", width: 1.5 }, showlegend: false },
    { type: "scatter", mode: "markers+text", showlegend: false, cliponaxis: false,
      x: data.points.map((p) => p.x), y: data.points.map((p) => p.y),
      // A long word (up to 40 characters) would run off the chart: cut it there, whole in the hover.
      text: data.points.map((p) => plotText(p.role === "target" ? "a − b + c" : shortLabel(p.label, 12))),
      textposition: data.points.map((p) => (p.role === "result" ? "bottom center" : "top center")),
      hovertext: data.points.map((p) => plotText(p.label)), hoverinfo: "text",
      textfont: { size: data.points.map((p) => (p.role === "result" ? 11 : 13)), color: data.points.map((p) => ROLE_COLOURS[p.role]) },
      marker: { size: data.points.map((p) => (p.role === "result" ? 7 : 11)), color: data.points.map((p) => ROLE_COLOURS[p.role]),
        symbol: data.points.map((p) => (p.role === "target" ? "x" : "circle")) } },
  ];
  // The two offsets as arrows: b -> a (dog -> puppy) and c -> answer (cat -> kitten).
  const arrow = (from, to, colour) => ({ x: to.x, y: to.y, ax: from.x, ay: from.y, xref: "x", yref: "y", axref: "x", ayref: "y",
    showarrow: true, arrowhead: 3, arrowsize: 1.2, arrowwidth: 2, arrowcolor: colour, text: "", standoff: 7, startstandoff: 7 });
  // Room beside the outermost points for their labels, which Plotly's autorange does not count.
  const xs = data.points.map((p) => p.x), lo = Math.min(...xs), hi = Math.max(...xs), pad = 0.15 * (hi - lo || 1);
  const layout = plotLayout({ height: 380, margin: { l: 30, r: 20, t: 20, b: 30 },
    xaxis: { zeroline: false, showticklabels: false, title: { text: "PC1" }, range: [lo - pad, hi + pad] },
    yaxis: { zeroline: false, showticklabels: false, title: { text: "PC2" }, scaleanchor: "x" },
    annotations: [arrow(at.b, at.a, ROLE_COLOURS.a), arrow(at.c, at.answer, ROLE_COLOURS.answer)] });
  return react($("analogy-plot"), traces, layout);
}

let analogyExamples = [];  // the server's ready-made analogies (/api/embeddings/sets)

function wireAnalogy() {
  $("analogy-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.a = $("an-a").value.trim(); state.b = $("an-b").value.trim(); state.c = $("an-c").value.trim();
    state.exp = $("an-expected").value.trim();
    const empty = ["a", "b", "c"].find((k) => !state[k]);
    if (empty) {
      analogyLoad.fail(new Error(`${empty} is empty: type a word, such as ${{ a: "puppy", b: "dog", c: "cat" }[empty]}.`));
      return;
    }
    runAnalogy();
  });
  $("analogy-examples").replaceChildren(...analogyExamples.map((ex) => {
    const button = el("button", { text: `${ex.a} − ${ex.b} + ${ex.c}`, attrs: { type: "button" } });
    button.addEventListener("click", () => {
      Object.assign(state, { a: ex.a, b: ex.b, c: ex.c, exp: ex.expected });
      syncAnalogyInputs();
      runAnalogy();
    });
    return button;
  }));
}

// --- sentences --------------------------------------------------------------------------------

const LOW_DEFAULT = $("sent-low").textContent;

// Refused sentences (none, too many, too long, the server busy) hide the earlier heatmap, map and readings.
const sentencesLoad = loader({
  run: (signal, body) => api("/api/embeddings/sentences", body, { signal }),
  draw: plotSentences, charts: true, error: "sent-error", views: ["sent-out", "sent-reading", "sent-overlap-reading"],
  onError: () => { $("sent-status").textContent = ""; $("sent-low").textContent = LOW_DEFAULT; },
});

function showSentLayer() {
  $("sent-layer").value = state.slayer;
  $("sent-layer-out").textContent = state.slayer;
  $("sent-layer-note").textContent = state.slayer === 0
    ? "Layer 0 is the input embedding: the average of the tokens' own vectors (all but the first), blind to their "
      + "order and context. Moving a word can still change its token: “Dogs” at the start is not “␣dogs”."
    : `After block ${state.slayer} of ${$("sent-layer").max}. Move the slider to see how the picture changes from `
      + "layer to layer.";
}

function runSentences() {
  save();
  showSentLayer();
  const sentences = state.sent.split("\n").map((s) => s.trim()).filter(Boolean);
  $("sent-status").textContent = "Reading each sentence through the model…";
  return sentencesLoad({ sentences, layer: layersKnown ? state.slayer : null });
}
const runSentencesSoon = debounce(runSentences, 400);

/** Each sentence's most similar other sentence, in words: the heatmap's text equivalent. */
function sentencesReading(data) {
  const parts = data.sentences.map((s, i) => {
    let best = -1;
    data.similarity[i].forEach((v, j) => { if (j !== i && (best < 0 || v > data.similarity[i][best])) best = j; });
    return `${i + 1} → ${best + 1} (${fixed(data.similarity[i][best])})`;
  });
  return data.sentences.length > 1 ? `Each sentence's most similar other sentence: ${parts.join(", ")}.` : "";
}

async function plotSentences(data) {
  Plotly = await plotly();
  $("sent-status").textContent = `${data.sentences.length} sentences, mean hidden state at layer ${data.layer}.`;
  const n = data.sentences.length;
  const names = data.sentences.map((s, i) => `${i + 1}. ${shortLabel(s.text)}`);
  const numbers = data.sentences.map((s, i) => `${i + 1}`);
  let low = 1;
  data.similarity.forEach((row, i) => row.forEach((v, j) => { if (i !== j) low = Math.min(low, v); }));
  // Words in common, next to the cosine: similarity from meaning, not from shared words.
  const wordsOf = data.sentences.map((s) => new Set(s.text.toLowerCase().match(/[\p{L}\p{N}']+/gu) || []));
  const common = (i, j) => [...wordsOf[i]].filter((w) => wordsOf[j].has(w));
  // On a phone the sentence labels would squeeze the cells until their numbers overlap: there the
  // rows are numbered like the columns, and cells too narrow for "0.96" show only their colour.
  const node = $("heatmap");
  const width = node.clientWidth;
  const narrow = width < 460;
  const cellWidth = (width - (narrow ? 40 : 210) - 80) / n;
  sameBundle(node);
  await drawHeatmap(node, {
    // Columns numbered (the rows carry the words); colours stretched from the lowest pair to 1.
    z: data.similarity, y: narrow ? numbers : names, zmin: low, zmax: 1, colorscale: "Blues", reversescale: true,
    colorbar: { title: "cosine" }, height: 440, gaps: false, label: "Cosine similarity of every pair of sentences",
    // The colour bar's title on top (not along its side) leaves the cells their width, as before the kit.
    trace: { colorbar: { title: { text: "cosine" }, thickness: 12 }, textfont: { size: 11 } },
    cellText: cellWidth >= 28 ? data.similarity.map((row) => row.map((v) => fixed(v))) : null,
    hover: (i, j, v) => {
      const shared = common(i, j);
      return `${data.sentences[i].text}\n${data.sentences[j].text}\ncosine ${fixed(v, 3)} · words in common: `
        + (i === j ? "all" : shared.length ? shared.join(", ") : "none");
    },
    caption: "sent-reading", describe: () => sentencesReading(data),
    // The sentences in the page's own font (as before the kit): narrower than monospace, so the cells keep their width.
    layout: { xaxis: { tickvals: numbers.map((_, j) => j), ticktext: numbers, tickangle: 0, range: [-0.5, n - 0.5], automargin: true,
      showgrid: false, zeroline: false, tickfont: { size: 12 } },
    yaxis: { tickvals: numbers.map((_, i) => i), ticktext: (narrow ? numbers : names).map(plotText), range: [n - 0.5, -0.5],
      automargin: true, showgrid: false, zeroline: false, tickfont: { size: 11 } } },
  });
  drawnWith.set(node, Plotly);

  const full = data.sentences.map((s) => plotText(s.text));
  await react($("sent-plot"), [{
    type: "scatter", mode: "markers+text", x: data.sentences.map((s) => s.x), y: data.sentences.map((s) => s.y),
    text: data.sentences.map((s, i) => `${i + 1}`), textposition: "top center", hovertext: full, hoverinfo: "text",
    marker: { size: 12, color: "#4453c7", line: { width: 1, color: "#fff" } }, textfont: { size: 13 }, cliponaxis: false,
  }], plotLayout({ height: 440, margin: { l: 50, r: 20, t: 10, b: 50 },
    xaxis: { title: { text: `PC1 (${Math.round(100 * data.explained[0])}%)` }, zeroline: false },
    yaxis: { title: { text: `PC2 (${Math.round(100 * data.explained[1])}%)` }, zeroline: false } }));

  const [li, lj] = lowestPair(data.similarity);
  $("sent-low").textContent = `here the lowest pair, ${li + 1} and ${lj + 1}, has cosine ${fixed(data.similarity[li][lj])}`;
  readOverlap(data);
}

function lowestPair(sim) {
  let best = [0, 1];
  sim.forEach((row, i) => row.forEach((v, j) => { if (i !== j && v < sim[best[0]][best[1]]) best = [i, j]; }));
  return best;
}

/** For the "same words, other meaning" sentences: the three pairs' cosines, and what they show. */
function readOverlap(data) {
  const node = $("sent-overlap-reading");
  const texts = data.sentences.map((s) => s.text);
  node.hidden = texts.join("\n") !== OVERLAP_SENTENCES.join("\n");
  if (node.hidden) return;
  const cos = ({ i, j }) => data.similarity[i][j];
  const pair = (p) => `${p.i + 1}–${p.j + 1} (${p.what}): ${fixed(cos(p), 3)}`;
  const overlapLow = Math.min(...OVERLAP_PAIRS.map(cos));
  const wins = overlapLow > cos(PARAPHRASE);
  node.className = `explain verdict ${wins ? "bad" : "good"}`;
  node.textContent = `At layer ${data.layer}: ${OVERLAP_PAIRS.map(pair).join("; ")}; ${pair(PARAPHRASE)}. `
    + (wins ? "The pairs that share their words but not their meaning score higher than the pair that shares its "
        + "meaning but not its words: this vector mostly measures word overlap."
      : "Here the paraphrase scores at least as high as a pair that only shares its words: at this layer the "
        + "vector sees some meaning past the word overlap.");
}

function wireSentences() {
  $("sentence-text").value = state.sent;
  $("sentence-text").addEventListener("input", (e) => { state.sent = e.target.value; save(); });
  $("sent-go").addEventListener("click", () => { state.sent = $("sentence-text").value; runSentences(); });
  $("sent-reset").addEventListener("click", () => {
    state.sent = DEFAULTS.sent; $("sentence-text").value = state.sent; runSentences();
  });
  $("sent-overlap").addEventListener("click", () => {
    state.sent = OVERLAP_SENTENCES.join("\n"); $("sentence-text").value = state.sent; runSentences();
  });
  $("sent-layer").addEventListener("input", (e) => {
    state.slayer = Number(e.target.value); $("sent-layer-out").textContent = state.slayer; runSentencesSoon();
  });
}

// --- start ------------------------------------------------------------------------------------

// The layers the sliders start at: the URL's, or (until /api/embeddings/sets has said which is the
// middle one) none, so that a request leaves the choice to the server.
let layersKnown = new URLSearchParams(window.location.search).has("layer");

function firstRequests() {
  drawMap();
  runAnalogy();
  runSentences();
  firstLoad();
}

async function start() {
  // A choice the API does not know (a hand-edited link) falls back to the default, not to an error.
  if (![2, 3].includes(state.dims)) state.dims = 2;
  for (const [key, allowed] of [["method", ["pca", "tsne", "umap"]], ["mode", ["static", "contextual"]],
    ["pooling", ["mean", "last"]]]) {
    if (!allowed.includes(state[key])) state[key] = DEFAULTS[key];
  }
  const inUrl = new URLSearchParams(window.location.search);
  const sets = api("/api/embeddings/sets");
  // A first visit (no sets or layers in the URL) needs nothing from the sets list to ask for its pictures:
  // they go out now, beside it, and the server picks its middle layer.
  const early = !["sets", "layer", "slayer"].some((key) => inUrl.has(key));
  syncAnalogyInputs();
  if (early) firstRequests();
  let info;
  try {
    info = await sets;
  } catch (error) {
    showError($("map-error"), error);
    return;
  }
  // Without a layer in the URL, both sliders start at the model's middle layer; the URL may name a
  // layer this model lacks, so keep it in range.
  for (const key of ["layer", "slayer"]) {
    if (!inUrl.has(key)) state[key] = info.default_layer;
    DEFAULTS[key] = info.default_layer;
  }
  layersKnown = true;
  for (const id of ["map-layer", "sent-layer"]) $(id).max = info.n_layers;
  state.layer = Math.min(Math.max(0, Math.round(state.layer)), info.n_layers);
  state.slayer = Math.min(Math.max(0, Math.round(state.slayer)), info.n_layers);
  const known = new Set(info.sets.map((s) => s.name));
  state.sets = state.sets.split(",").filter((name) => known.has(name)).join(",");
  $("prefix-shown").textContent = info.context_prefix;
  $("own-words").maxLength = info.limits.max_words * (info.limits.max_word_chars + 2);
  buildSetBoxes(info.sets);
  analogyExamples = info.analogies;
  buildPresets();
  wireMapControls();
  wireAnalogy();
  wireSentences();
  if (!early) {
    firstRequests();
    return;
  }
  // The requests already sent: only the controls learn the layers now.
  syncMapControls();
  showSentLayer();
}

start();
