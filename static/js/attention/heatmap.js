// One head's attention weights as a plotly heatmap (row = query, column = key), shared by the
// page's main heatmap and the induction probe's.

import { plotConfig, plotLayout } from "../api.js";
import { plotlyScale, plotText } from "./colours.js";

const MONO = "ui-monospace, 'DejaVu Sans Mono', monospace";

/** Draw `weights` (rows, lower triangle) for `tokens` into `node`; `outline` marks cells [[i, j], ...]. */
export function drawAttentionHeatmap(node, tokens, weights, { title = "", outline = null } = {}) {
  const n = tokens.length;
  const labels = tokens.map((t) => plotText(t.display ?? t.text));
  const z = weights.map((row, i) => Array.from(row, (w, j) => (j > i ? null : w)));
  const hover = z.map((row, i) => row.map((w, j) => (w === null ? ""
    : `query #${i} ${labels[i]}<br>key #${j} ${labels[j]}<br>weight ${(w * 100).toFixed(2)}%`)));
  const step = Math.max(1, Math.ceil(n / 40));
  const ticks = tokens.map((_, i) => i).filter((i) => i % step === 0);
  // Columns are narrower than rows on a phone: label every k-th column so the slanted labels keep
  // about 14px apart (the plot area is the chart's width less the row labels and the colour bar).
  const plotWidth = Math.max(100, node.clientWidth - 190);
  const xStep = Math.max(step, Math.ceil((n * 14) / plotWidth));
  const xTicks = tokens.map((_, i) => i).filter((i) => i % xStep === 0);
  const traces = [{
    type: "heatmap", z, x: tokens.map((_, j) => j), y: tokens.map((_, i) => i), zmin: 0, zmax: 1,
    colorscale: plotlyScale, text: hover, hoverinfo: "text", hoverongaps: false, xgap: n < 30 ? 1 : 0, ygap: n < 30 ? 1 : 0,
    colorbar: { thickness: 12, tickformat: ".0%", title: { text: "weight", side: "right" } },
  }];
  if (outline?.length) {
    traces.push({ type: "scatter", mode: "markers", x: outline.map(([, j]) => j), y: outline.map(([i]) => i),
      marker: { symbol: "square-open", color: "#d9682b", size: Math.max(5, Math.min(14, plotWidth / n)), line: { width: 1.5 } },
      hoverinfo: "skip", showlegend: false });
  }
  window.Plotly.react(node, traces, plotLayout({
    height: Math.max(460, Math.min(760, 140 + n * 20)), margin: { l: 20, r: 10, t: 34, b: 20 },
    title: { text: title, font: { size: 15 }, x: 0.02 },
    xaxis: { zeroline: false, showgrid: false, tickvals: xTicks, ticktext: xTicks.map((i) => labels[i]), tickangle: -50, automargin: true,
      title: { text: "key: the token looked at", standoff: 6 }, side: "bottom", range: [-0.5, n - 0.5],
      tickfont: { family: MONO, size: n > 24 ? 10 : 12 } },
    yaxis: { zeroline: false, showgrid: false, tickvals: ticks, ticktext: ticks.map((i) => labels[i]), range: [n - 0.5, -0.5], automargin: true,
      title: { text: "query: the token looking", standoff: 6 },
      tickfont: { family: MONO, size: n > 24 ? 10 : 12 } },
  }), plotConfig);
}
