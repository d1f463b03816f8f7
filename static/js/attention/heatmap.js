// One head's attention weights (row = query, column = key) drawn by the kit's one heatmap
// (kit/heatmap.js): the page's main heatmap, the induction probe's, and chapter 4b's (learn.js).
// What is attention's own is here: the future masked, the hover's words and the caption's numbers.

import { plainTokenLabel } from "../kit/chips.js";
import { drawHeatmap } from "../kit/heatmap.js";
import { plotlyScale } from "./colours.js";

const pct = (w) => `${(w * 100).toFixed(w < 0.1 ? 1 : 0)}%`;

/** In words, from the weights: where the tokens after the first look, for a screen reader. */
export function describeAttention(tokens, weights, title) {
  const n = tokens.length;
  const label = (i) => `“${plainTokenLabel(tokens[i])}”`;
  if (n < 2) return `${title}: one token, which can only look at itself.`;
  let sink = 0;
  const cells = [];
  for (let i = 1; i < n; i++) {
    sink += weights[i][0];
    for (let j = 1; j <= i; j++) cells.push({ i, j, w: weights[i][j] });
  }
  cells.sort((a, b) => b.w - a.w);
  // Positions too: a word that occurs twice is two rows.
  const largest = cells.slice(0, 3).map(({ i, j, w }) => `#${i} ${label(i)} looks at #${j} ${label(j)} ${pct(w)}`);
  return `${title}: ${n} tokens. The tokens after the first put ${pct(sink / (n - 1))} of their attention on the `
    + `first token, ${label(0)}, on average. Largest weights elsewhere: ${largest.join("; ")}.`;
}

/** Draw `weights` (rows, lower triangle) for `tokens` into `node`; `outline` marks cells [[i, j], ...].
 *  Resolves once drawn. */
export function drawAttentionHeatmap(node, tokens, weights, { title = "", outline = null } = {}) {
  const n = tokens.length;
  const z = weights.map((row, i) => Array.from(row, (w, j) => (j > i ? null : w)));
  const labels = tokens.map(plainTokenLabel);
  const plotWidth = Math.max(100, node.clientWidth - 190);
  const traces = outline?.length ? [{
    type: "scatter", mode: "markers", x: outline.map(([, j]) => j), y: outline.map(([i]) => i),
    marker: { symbol: "square-open", color: "#d9682b", size: Math.max(5, Math.min(14, plotWidth / n)), line: { width: 1.5 } },
    hoverinfo: "skip", showlegend: false,
  }] : [];
  return drawHeatmap(node, {
    z, x: tokens, y: tokens, title, label: title ? `Attention heatmap, ${title}` : "Attention heatmap",
    xTitle: "key: the token looked at", yTitle: "query: the token looking",
    colorscale: plotlyScale, zmin: 0, zmax: 1, colorbar: { title: "weight", tickformat: ".0%" },
    format: (w) => `${(w * 100).toFixed(2)}%`,
    hover: (i, j, w) => `query #${i} ${labels[i]}\nkey #${j} ${labels[j]}\nweight ${(w * 100).toFixed(2)}%`,
    gaps: n < 30, height: Math.max(460, Math.min(760, 140 + n * 20)), traces,
    describe: () => describeAttention(tokens, weights, title || "Attention"),
  });
}
