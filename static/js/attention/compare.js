// "Same word, different context": the shared word's attention per layer in each sentence, its
// cosine similarity to the context words by depth, and its 2D path through the layers.

import { el, plotConfig, plotLayout } from "../api.js";
import { plotlyScale, plotText, SENTENCE_COLOURS } from "./colours.js";


export const EXAMPLES = [
  { label: "bank: river / money", sentences: ["I sat on the river bank", "I paid the money into the bank"],
    word: "bank", context: "river, money" },
  { label: "bat: baseball / cave", sentences: ["The baseball player swung his bat", "Deep in the dark cave hung a bat"],
    word: "bat", context: "baseball, cave" },
  { label: "spring: flowers / mattress", sentences: ["The flowers bloom every spring", "The old mattress had a broken spring"],
    word: "spring", context: "flowers, mattress" },
];

const depthLabel = (d) => (d === 0 ? "embedding" : `after layer ${d - 1}`);
// Depth d = 0 is the embedding, d = l + 1 is after layer l; ticks at E and layers 5, 10, ...
// (no tick at layer 0: it sits one step from E and the two labels ran together as "E0").
const depthTicks = (L) => {
  const vals = [0];
  for (let layer = 5; layer < L; layer += 5) vals.push(layer + 1);
  if (vals[vals.length - 1] !== L) vals.push(L);
  return { tickvals: vals, ticktext: vals.map((d) => (d === 0 ? "E" : `${d - 1}`)) };
};

function sentenceLabel(k) { return `sentence ${k + 1}`; }

/** Heatmap of the word's head-averaged attention, layers down, tokens across. */
function attentionHeatmap(node, s, k, word, hideSink) {
  const keys = s.tokens.slice(0, s.position + 1);
  const z = s.attention.map((row) => {
    if (!hideSink || row.length < 2) return row;
    const rest = row.slice(1).reduce((a, b) => a + b, 0) || 1;
    return [null, ...row.slice(1).map((w) => w / rest)];
  });
  const L = z.length;
  const labels = keys.map((t) => plotText(t.display ?? t.text));
  const hover = z.map((row, l) => row.map((w, j) =>
    `layer ${l}: "${plotText(word)}" → ${labels[j]}<br>${w === null ? "hidden" : (w * 100).toFixed(1) + "%"}`));
  window.Plotly.react(node, [{
    type: "heatmap", z, x: keys.map((_, j) => j), y: z.map((_, l) => l), zmin: 0, zmax: 1,
    colorscale: plotlyScale, text: hover, hoverinfo: "text", showscale: k === 0,
    colorbar: { thickness: 10, len: 0.8, tickformat: ".0%" },
  }], plotLayout({
    height: 460, margin: { l: 44, r: 10, t: 34, b: 90 },
    title: { text: `${sentenceLabel(k)}`, font: { size: 14, color: SENTENCE_COLOURS[k] }, x: 0.02 },
    xaxis: { tickvals: keys.map((_, j) => j), ticktext: labels, tickangle: -45, automargin: true },
    yaxis: { autorange: "reversed", title: { text: "layer" }, dtick: 5 },
  }), plotConfig);
}

/** Rows: layers; columns: sentences; cell: the most attended token other than the first and the word. */
function topTable(table, sentences) {
  table.replaceChildren();
  const head = el("tr", {}, [el("th", { text: "layer" }),
    ...sentences.map((_, k) => el("th", { text: sentenceLabel(k), attrs: { style: `color:${SENTENCE_COLOURS[k]}` } }))]);
  table.append(el("thead", {}, [head]));
  const body = el("tbody");
  const L = sentences[0].attention.length;
  for (let l = 0; l < L; l++) {
    const cells = sentences.map((s) => {
      let best = -1;
      for (let j = 1; j < s.position; j++) if (best < 0 || s.attention[l][j] > s.attention[l][best]) best = j;
      if (best < 0) return el("td", { text: "—" });
      const t = s.tokens[best];
      return el("td", {}, [el("span", { text: t.display ?? t.text, cls: "tok" }),
        el("span", { text: ` ${(s.attention[l][best] * 100).toFixed(0)}%`, cls: "pct" })]);
    });
    body.append(el("tr", {}, [el("td", { text: String(l) }), ...cells]));
  }
  table.append(body);
}

/** One chart per context word: a line per sentence, so the sentences can be compared directly. */
function cosineChart(node, body, c) {
  const L = body.n_layers;
  const x = Array.from({ length: L + 1 }, (_, d) => d);
  const traces = [];
  {
    c.similarity.forEach((ys, k) => traces.push({
      type: "scatter", mode: "lines", x, y: ys, name: `"${plotText(body.word)}" in ${sentenceLabel(k)}`,
      line: { color: SENTENCE_COLOURS[k], width: 2.5 },
      hovertemplate: `"${plotText(body.word)}" in ${sentenceLabel(k)} vs "${plotText(c.word)}" (from ${sentenceLabel(c.sentence)})`
        + "<br>%{customdata}: %{y:.3f}<extra></extra>",
      customdata: x.map(depthLabel),
    }));
  }
  window.Plotly.react(node, traces, plotLayout({
    height: 390, margin: { l: 54, r: 10, t: 36, b: 54 },
    title: { text: `"${plotText(body.word)}" vs "${plotText(c.word)}" (from ${sentenceLabel(c.sentence)})`, font: { size: 14 }, x: 0.02 },
    xaxis: { title: { text: "after layer (E = embedding)" }, tickangle: 0, ...depthTicks(L) },
    yaxis: { title: { text: "cosine similarity" } },
    legend: { orientation: "h", y: -0.3, font: { size: 11 } },
  }), plotConfig);
}

function betweenChart(node, body) {
  const L = body.n_layers;
  const x = Array.from({ length: L + 1 }, (_, d) => d);
  const traces = body.between.map((ys, i) => ({
    type: "scatter", mode: "lines+markers", x, y: ys, marker: { size: 4 },
    name: `${sentenceLabel(0)} vs ${sentenceLabel(i + 1)}`,
    line: { color: SENTENCE_COLOURS[i + 1], width: 2.5 },
    customdata: x.map(depthLabel), hovertemplate: "%{customdata}: %{y:.3f}<extra></extra>",
  }));
  window.Plotly.react(node, traces, plotLayout({
    height: 390, margin: { l: 54, r: 10, t: 36, b: 54 },
    title: { text: `"${plotText(body.word)}" in ${sentenceLabel(0)} vs itself in ${body.between.length === 1 ? sentenceLabel(1) : "the others"}`,
      font: { size: 14 }, x: 0.02 },
    xaxis: { title: { text: "after layer (E = embedding)" }, tickangle: 0, ...depthTicks(L) },
    yaxis: { title: { text: "cosine similarity" }, range: [Math.min(0, ...body.between.flat()) - 0.05, 1.05] },
    legend: { orientation: "h", y: -0.3, font: { size: 11 } },
  }), plotConfig);
}

function pathChart(node, body) {
  const L = body.n_layers;
  const traces = body.sentences.map((s, k) => ({
    type: "scatter", mode: "lines+markers+text", name: `${sentenceLabel(k)}: ${plotText(s.text)}`,
    x: s.path.map((p) => p[0]), y: s.path.map((p) => p[1]),
    text: s.path.map((_, d) => (d === 0 ? "E" : (d - 1) % 5 === 4 || d === L ? String(d - 1) : "")),
    textposition: "top center", textfont: { size: 10, color: SENTENCE_COLOURS[k] },
    marker: { size: s.path.map((_, d) => (d === 0 || d === L ? 10 : 6)), color: SENTENCE_COLOURS[k] },
    line: { color: SENTENCE_COLOURS[k], width: 2 },
    customdata: s.path.map((_, d) => depthLabel(d)), hovertemplate: "%{customdata}<extra></extra>",
  }));
  window.Plotly.react(node, traces, plotLayout({
    // Left margin wide enough that the axis title does not cover the minus signs of the tick labels;
    // the legend hangs below the axis title (anchored at its top) and grows downwards when it wraps.
    height: 460, margin: { l: 64, r: 10, t: 20, b: 40 },
    xaxis: { title: { text: `component 1 (${(body.explained[0] * 100).toFixed(0)}% of the spread)` }, zeroline: false },
    yaxis: { title: { text: `component 2 (${(body.explained[1] * 100).toFixed(0)}%)` }, zeroline: false },
    legend: { orientation: "h", y: -0.15, yanchor: "top", font: { size: 11 } },
  }), plotConfig);
}

/** Draw a whole /api/attention/compare response. */
export function drawComparison(nodes, body, { hideSink }) {
  nodes.heatmaps.replaceChildren();
  body.sentences.forEach((s, k) => {
    const node = el("div", { cls: "plot" });
    nodes.heatmaps.append(node);
    attentionHeatmap(node, s, k, body.word, hideSink);
  });
  nodes.heatmaps.style.setProperty("--columns", String(Math.min(body.sentences.length, 2)));
  topTable(nodes.table, body.sentences);
  nodes.cosine.replaceChildren();
  nodes.cosine.style.setProperty("--columns", String(Math.min(3, body.contexts.length + 1)));
  for (const c of body.contexts) {
    const node = el("div", { cls: "plot" });
    nodes.cosine.append(node);
    cosineChart(node, body, c);
  }
  const between = el("div", { cls: "plot" });
  nodes.cosine.append(between);
  betweenChart(between, body);
  pathChart(nodes.path, body);
}

/** One plain sentence about the last layer, true of whatever the model returned. */
export function summarise(body) {
  const L = body.n_layers;
  const parts = [];
  for (const c of body.contexts) {
    const finals = c.similarity.map((ys) => ys[L]);
    const best = finals.indexOf(Math.max(...finals));
    parts.push(`${parts.length ? "a" : "A"}fter the last layer, "${body.word}" is closest to "${c.word}" in ${sentenceLabel(best)} `
      + `(${finals.map((v) => v.toFixed(2)).join(" vs ")})`);
  }
  const between = body.between.map((ys) => ys[L].toFixed(2)).join(", ");
  return (parts.length ? parts.join("; ") + ". " : "")
    + `The word in ${sentenceLabel(0)} against itself in ${body.between.map((_, i) => sentenceLabel(i + 1)).join(", ")}: `
    + `1.00 at the embedding, ${between} after the last layer.`;
}
