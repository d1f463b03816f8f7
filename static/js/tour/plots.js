// Small Plotly pictures shared by the tour's journey box and its chapter examples. Plotly is
// loaded by the kit when the first picture is drawn. A token reaches a chart only as its plain
// label (plainTokenLabel: hex bytes for a piece of a character), escaped with plotText (Plotly
// reads a subset of HTML in labels).

import { plainTokenLabel } from "../kit/chips.js";
import { el, plotText } from "../kit/dom.js";
import { drawHeatmap } from "../kit/heatmap.js";
import { plotConfig, plotLayout, plotly } from "../kit/plotly.js";
import { plotlyScale } from "../attention/colours.js";

export { plotText };

const ACCENT = "#4453c7";
const MONO = "ui-monospace, 'DejaVu Sans Mono', monospace";
// Small pictures: no mode bar and no zooming, so a click always means "this bar".
const staticConfig = { ...plotConfig, displayModeBar: false };
const still = (layout) => ({ ...layout, dragmode: false,
  xaxis: { ...layout.xaxis, fixedrange: true }, yaxis: { ...layout.yaxis, fixedrange: true } });

/** A phone-sized window (not merely a narrow column of a wide page): labels move into the charts. */
const phone = () => window.innerWidth < 560;

/** A percentage with sensible precision: 77%, 6.5%, 0.12%. */
export function percent(p) {
  const v = p * 100;
  return v >= 10 ? `${v.toFixed(0)}%` : v >= 1 ? `${v.toFixed(1)}%` : `${v.toFixed(2)}%`;
}

/** The chart's text equivalent: a visually hidden paragraph right after it (made once), which the
 *  chart names with aria-describedby, so a screen reader reaches what the picture shows. */
export function describeChart(node, text, label) {
  const id = `${node.id}-text`;
  let p = document.getElementById(id);
  if (!p) {
    p = el("p", { cls: "visually-hidden chart-text", attrs: { id } });
    node.after(p);
  }
  p.textContent = text;
  node.setAttribute("role", "figure");
  if (label) node.setAttribute("aria-label", label);
  node.setAttribute("aria-describedby", id);
}

/**
 * Horizontal bars of next-token probabilities, most probable at the top.
 * `onPick(prediction)` is called when a bar is clicked (optional); the same choice is offered to
 * the keyboard as buttons after the chart, shown when one of them has the focus.
 */
export async function drawBars(node, predictions, { height = 300, onPick } = {}) {
  const Plotly = await plotly();
  const narrow = phone();
  const rows = predictions.slice().reverse();
  const plain = rows.map((p) => plainTokenLabel(p));
  const labels = plain.map(plotText);
  const top = Math.max(...rows.map((p) => p.probability), 0.05);
  await Plotly.react(node, [{
    type: "bar", orientation: "h", x: rows.map((p) => p.probability), y: rows.map((_, i) => i),
    marker: { color: rows.map((_, i) => (i === rows.length - 1 ? ACCENT : "#8d97dd")) },
    // On a phone the token is written beside its bar (inside it when it fits) instead of as an axis
    // label, so the bars keep the width.
    text: rows.map((p, i) => (narrow ? `${labels[i]} ${percent(p.probability)}` : percent(p.probability))),
    textposition: narrow ? "auto" : "outside", insidetextanchor: "start", cliponaxis: false,
    textfont: narrow ? { family: MONO, size: 11 } : undefined,
    hovertext: rows.map((p, i) => `${labels[i]}<br>id ${p.id}<br>p = ${p.probability.toFixed(4)}`),
    hoverinfo: "text",
  }], still(plotLayout({
    height, margin: narrow ? { l: 6, r: 8, t: 6, b: 30 } : { l: 10, r: 50, t: 6, b: 30 },
    xaxis: { range: [0, Math.min(narrow ? 1.3 : 1, top * (narrow ? 1.6 : 1.25))], tickformat: ".0%",
      zeroline: false, gridcolor: "#ecece6" },
    yaxis: { tickvals: rows.map((_, i) => i), ticktext: labels, automargin: true, showticklabels: !narrow,
      tickfont: { family: MONO, size: 12 } },
    bargap: 0.25, uniformtext: narrow ? { mode: "show", minsize: 11 } : undefined,
  })), staticConfig);
  const ranked = rows.slice().reverse();
  describeChart(node, "Most probable next tokens: "
    + ranked.map((p) => `${plainTokenLabel(p)} ${percent(p.probability)}`).join(", ") + ".");
  // Bind the click once per node; it reads whichever rows are drawn now.
  node.tourBars = { rows, onPick };
  if (onPick && !node.tourBarsBound) {
    node.tourBarsBound = true;
    node.on("plotly_click", (event) => {
      const index = event.points?.[0]?.pointIndex;
      const { rows: drawn, onPick: pick } = node.tourBars;
      if (index !== undefined && drawn[index]) pick(drawn[index]);
    });
  }
  if (onPick) {
    const id = `${node.id}-choices`;
    let list = document.getElementById(id);
    if (!list) {
      list = el("ul", { cls: "bar-choices", attrs: { id, "aria-label": "Append one of these tokens" } });
      document.getElementById(`${node.id}-text`).after(list);
    }
    list.replaceChildren(...ranked.map((p) => {
      const button = el("button", { text: `Append ${plainTokenLabel(p)} (${percent(p.probability)})`, attrs: { type: "button" } });
      button.addEventListener("click", () => onPick(p));
      return el("li", {}, [button]);
    }));
  }
}

/** One head's attention as a lower-triangle heatmap (the kit's heatmap); `tokens` label both axes.
 *  `first`: the position in the text of tokens[0] when only the last tokens are shown (the caption
 *  names positions in the text, not in the picture). */
export function drawAttention(node, tokens, weights, { height = 300, label, first = 0 } = {}) {
  const z = weights.map((row, i) => row.map((w, j) => (j > i ? null : w)));
  const name = (k) => `#${first + k} ${plainTokenLabel(tokens[k])}`;
  const count = first ? `the last ${tokens.length} of ${first + tokens.length} tokens` : `${tokens.length} tokens`;
  return drawHeatmap(node, {
    z, x: tokens, y: tokens, xTitle: "looked at", yTitle: "looking", label, height,
    colorscale: plotlyScale, zmin: 0, zmax: 1, colorbar: false, format: percent,
    hover: (i, j, w) => `${plainTokenLabel(tokens[i])} looks at ${plainTokenLabel(tokens[j])}\nweight ${percent(w)}`,
    // The text's first token can only look at itself (always 100%): true but empty, so its row is
    // left out of "Strongest", as /attention leaves it out. It is at most one of the 4 largest cells.
    top: first ? 3 : 4,
    describe: (largest) => `${label}: ${count}. Strongest${first ? "" : " after the first token"}: ${largest
      .filter((c) => first || c.i > 0).slice(0, 3)
      .map((c) => `${name(c.i)} looks at ${name(c.j)} (${percent(c.v)})`).join("; ")}.`,
  });
}

/** Put a label below its point when a point close by already has its label above. */
function labelPositions(points) {
  const xs = points.map((p) => p.coords[0]), ys = points.map((p) => p.coords[1]);
  const spanX = Math.max(...xs) - Math.min(...xs) || 1, spanY = Math.max(...ys) - Math.min(...ys) || 1;
  const choices = ["top center", "bottom center", "middle right", "middle left"];
  const positions = [];
  points.forEach((_, i) => {
    const taken = new Set(positions.filter((_, j) =>
      Math.abs(xs[i] - xs[j]) < 0.15 * spanX && Math.abs(ys[i] - ys[j]) < 0.12 * spanY));
    positions.push(choices.find((c) => !taken.has(c)) || "top center");
  });
  return positions;
}

/** A label of at most `max` characters (whole code points): a long word ends in "…", so a label
 *  centred on a point near the edge of a small map is not cut off by it. */
export function shortLabel(text, max = 14) {
  const chars = Array.from(text);
  return chars.length > max ? `${chars.slice(0, max - 1).join("")}…` : text;
}

/** [min, max] of the values, widened by `share` of their span on each side. */
function padded(values, share) {
  const lo = Math.min(...values), hi = Math.max(...values);
  const pad = (hi - lo || 1) * share;
  return [lo - pad, hi + pad];
}

/** Words as labelled points on a 2D map; hover gives each whole word and its nearest tokens. */
export async function drawPoints(node, points, { height = 300 } = {}) {
  const Plotly = await plotly();
  // A leading space is part of the token looked up (" capital"), so it is shown: "␣capital".
  const word = (p) => p.word.replace(/^ /, "␣");
  const labels = points.map((p) => plotText(shortLabel(word(p))));
  const hover = points.map((p) => {
    const near = p.neighbours.map((n) => `${plotText(plainTokenLabel(n))} ${n.cosine.toFixed(2)}`).join(", ");
    const pieces = p.tokens.length > 1 ? ` (${p.tokens.map((t) => plotText(plainTokenLabel(t))).join(" + ")})` : "";
    return `${plotText(word(p))}${pieces}${near ? `<br>nearest: ${near}` : ""}`;
  });
  await Plotly.react(node, [{
    type: "scatter", mode: "markers+text", x: points.map((p) => p.coords[0]), y: points.map((p) => p.coords[1]),
    text: labels, textposition: labelPositions(points), hovertext: hover, hoverinfo: "text",
    textfont: { family: MONO, size: 12 }, marker: { size: 10, color: ACCENT, line: { color: "#fff", width: 1 } },
    cliponaxis: false,
  }], still(plotLayout({
    height, margin: { l: 20, r: 20, t: 20, b: 20 }, showlegend: false,
    // Room at the sides for the labels of the outermost points, which are centred on them.
    xaxis: { zeroline: false, showticklabels: false, gridcolor: "#ecece6", range: padded(points.map((p) => p.coords[0]), 0.18) },
    yaxis: { zeroline: false, showticklabels: false, gridcolor: "#ecece6" },
  })), staticConfig);
  describeChart(node, `${points.length} words as points, each with its nearest tokens: ` + points.map((p) =>
    `${word(p)} (${p.neighbours.map((n) => `${plainTokenLabel(n)} ${n.cosine.toFixed(2)}`).join(", ")})`).join("; ") + ".");
}

/** A small line chart: one or more series over x, with a y range and axis titles. */
export async function drawLines(node, series, { x, xTitle, yTitle, yRange, height = 200, yFormat } = {}) {
  const Plotly = await plotly();
  await Plotly.react(node, series.map((s) => ({
    type: "scatter", mode: "lines", x: x || s.y.map((_, i) => i), y: s.y, name: s.name,
    line: { color: s.color || ACCENT, width: 2.5 }, hovertemplate: s.hover || "%{y:.3f}<extra></extra>",
  })), still(plotLayout({
    height, margin: { l: phone() ? 42 : 50, r: 12, t: 8, b: 40 }, showlegend: series.length > 1,
    legend: { orientation: "h", y: 1.15, x: 0 },
    xaxis: { title: { text: xTitle, font: { size: 11 } }, zeroline: false, gridcolor: "#ecece6" },
    yaxis: { title: { text: yTitle, font: { size: 11 } }, range: yRange, zeroline: false, gridcolor: "#ecece6",
      tickformat: yFormat },
  })), staticConfig);
  const xs = x || series[0].y.map((_, i) => i);
  const round = (v) => (Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(3));
  describeChart(node, `${yTitle} against ${xTitle}: ` + series.map((s) => `${s.name} from ${round(s.y[0])} at ${xs[0]} `
    + `to ${round(s.y[s.y.length - 1])} at ${xs[s.y.length - 1]}, between ${round(Math.min(...s.y))} and `
    + `${round(Math.max(...s.y))}`).join("; ") + ".");
}
