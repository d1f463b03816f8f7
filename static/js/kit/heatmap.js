// The one heatmap of the site (attention, learn, inside, embeddings, predict's logit lens, why,
// the key/value groups): labels through plainTokenLabel, tick labels thinned to the width there
// is, phone-aware margins, and a text equivalent naming the largest cells for screen readers.

import { plainTokenLabel, visibleControls } from "./chips.js";
import { el, plotText } from "./dom.js";
import { isNarrow, plotConfig, plotLayout, plotly } from "./plotly.js";

const MONO = "ui-monospace, 'DejaVu Sans Mono', monospace";

// A token object through plainTokenLabel; a string is a label already ("layer 29", "key #3 ␣France"):
// shown as given, only invisible characters made visible (its spaces are not a token's).
const labelOf = (v) => (v === null || v === undefined ? "" : typeof v === "object" ? plainTokenLabel(v)
  : typeof v === "string" ? visibleControls(v) : String(v));

/** Every k-th index of n so that labels keep `gap` px apart in `length` px (first one always). */
function thin(n, length, gap) {
  const step = Math.max(1, Math.ceil((n * gap) / Math.max(60, length)));
  return Array.from({ length: n }, (_, i) => i).filter((i) => i % step === 0);
}

/** The element holding the chart's text equivalent: `caption` if given, else a visually hidden
 *  paragraph right after the chart, made once. */
function captionNode(node, caption) {
  if (caption && typeof caption !== "boolean") return typeof caption === "string" ? document.getElementById(caption) : caption;
  const id = `${node.id || "heatmap"}-text`;
  let p = document.getElementById(id);
  if (!p) {
    p = el("p", { cls: "visually-hidden chart-text", attrs: { id } });
    node.after(p);
  }
  return p;
}

/**
 * Draw a heatmap into `node`; resolves when drawn. Options:
 * - z: rows of numbers (null = an empty cell, e.g. the future in causal attention)
 * - x, y: column and row labels: token objects (shown with plainTokenLabel) or label strings (shown as
 *   given: pass a token's text through plainTokenLabel first), escaped
 * - title, xTitle, yTitle, label (the chart's accessible name; default the title)
 * - colorscale ("Blues"), reversescale, zmin, zmax, zmid, colorbar ({title, tickformat}) or false
 * - format(v) -> text of a value in hovers and the caption (default 2 decimals)
 * - hover(i, j, v) -> plain text of a cell's hover (default "row · column: value"); escaped here
 * - cellText: rows of strings written in the cells; gaps (true when small); height (px)
 * - shapes, traces (extra Plotly traces, e.g. outlines), layout (extra layout, wins), trace (extra
 *   properties of the heatmap trace itself, wins: e.g. { ygap: 18 } for strips with room between rows)
 * - caption: element or id for the text equivalent (visible), default a visually hidden one;
 *   describe(top) -> the caption's text, given the largest cells [{i, j, v, row, column}];
 *   top: how many cells the default caption names (3)
 */
export async function drawHeatmap(node, opts) {
  const {
    z, x = [], y = [], title = "", xTitle = "", yTitle = "", label = "", colorscale = "Blues", reversescale = false,
    zmin, zmax, zmid, colorbar = {}, format = (v) => Number(v).toFixed(2), hover = null, cellText = null,
    gaps, height, shapes = [], traces = [], layout = {}, trace = {}, caption = null, describe = null, top = 3,
  } = opts;
  const Plotly = await plotly();
  const rows = z.length, cols = rows ? z[0].length : 0;
  const xs = Array.from({ length: cols }, (_, j) => labelOf(x[j] ?? j));
  const ys = Array.from({ length: rows }, (_, i) => labelOf(y[i] ?? i));
  const narrow = isNarrow(node);
  const width = node.clientWidth || window.innerWidth;
  const plotWidth = Math.max(100, width - (narrow ? 70 : 190));
  const xTicks = thin(cols, plotWidth, narrow ? 16 : 14);
  const h = height ?? Math.max(narrow ? 300 : 360, Math.min(760, 140 + rows * (narrow ? 16 : 20)));
  const yTicks = thin(rows, h - 140, 12);
  const fontSize = narrow || Math.max(rows, cols) > 24 ? 10 : 12;
  const hoverText = z.map((row, i) => row.map((v, j) => (v === null || v === undefined ? ""
    : plotText(hover ? hover(i, j, v) : `${ys[i]} · ${xs[j]}: ${format(v)}`).replace(/\n/g, "<br>"))));
  const gap = gaps ?? (rows < 30 && cols < 30);
  const data = [{
    type: "heatmap", z, x: xs.map((_, j) => j), y: ys.map((_, i) => i), zmin, zmax, zmid, colorscale, reversescale,
    text: hoverText, hoverinfo: "text", hoverongaps: false, xgap: gap ? 1 : 0, ygap: gap ? 1 : 0,
    showscale: colorbar !== false,
    // On a phone the colour bar lies above the plot, so the plot keeps the whole width.
    colorbar: colorbar === false ? undefined : narrow
      ? { orientation: "h", x: 0, xanchor: "left", y: 1.01, yanchor: "bottom", len: 0.6, thickness: 8,
        tickformat: colorbar.tickformat, tickfont: { size: fontSize },
        title: colorbar.title ? { text: plotText(colorbar.title), side: "right", font: { size: 11 } } : undefined }
      : { thickness: 12, tickformat: colorbar.tickformat, tickfont: { size: fontSize },
        title: colorbar.title ? { text: plotText(colorbar.title), side: "right" } : undefined },
    // A heatmap's texttemplate does not read customdata (the cells showed "-"): the cells' words go
    // in `text`, the hover in `hovertext` (which hoverinfo "text" prefers).
    ...(cellText ? { texttemplate: "%{text}", hovertext: hoverText, text: cellText.map((r) => r.map((s) => plotText(s ?? ""))),
      textfont: { size: 10 } } : {}),
    ...trace,
  }, ...traces];
  const axis = (ticks, labels, name) => ({
    zeroline: false, showgrid: false, automargin: true, tickvals: ticks, ticktext: ticks.map((k) => plotText(labels[k])),
    title: name ? { text: plotText(name), standoff: 6, font: { size: narrow ? 11 : 13 } } : undefined,
    tickfont: { family: MONO, size: fontSize },
  });
  await Plotly.react(node, data, plotLayout({
    height: h,
    margin: narrow ? { l: 4, r: 4, t: (title ? 30 : 6) + (colorbar === false ? 0 : 44), b: 6 }
      : { l: 20, r: 10, t: title ? 34 : 10, b: 20 },
    title: title ? { text: plotText(title), font: { size: narrow ? 13 : 15 }, x: 0.02 } : undefined,
    xaxis: { ...axis(xTicks, xs, xTitle), tickangle: cols > 6 || narrow ? -50 : 0, range: [-0.5, cols - 0.5] },
    yaxis: { ...axis(yTicks, ys, yTitle), range: [rows - 0.5, -0.5] },
    shapes,
    ...layout,
  }), plotConfig);

  // The text equivalent: what the picture says in words, reachable by a screen reader.
  const cells = [];
  z.forEach((row, i) => row.forEach((v, j) => { if (v !== null && v !== undefined && Number.isFinite(v)) cells.push({ i, j, v }); }));
  cells.sort((a, b) => b.v - a.v);
  const largest = cells.slice(0, top).map((c) => ({ ...c, row: ys[c.i], column: xs[c.j] }));
  const text = describe ? describe(largest)
    : `${label || title || "Heatmap"}: ${rows} rows × ${cols} columns. Largest: `
      + largest.map((c) => `${c.row} · ${c.column} ${format(c.v)}`).join("; ") + ".";
  const p = captionNode(node, caption);
  if (p) {
    p.textContent = text;
    if (!p.id) p.id = `${node.id || "heatmap"}-text`;
    node.setAttribute("aria-describedby", p.id);
  }
  node.setAttribute("role", "figure");
  node.setAttribute("aria-label", label || title || "Heatmap");
  return node;
}
