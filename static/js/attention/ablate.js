// "Switch a head off": POST /api/predict with `ablate`, the next-token probabilities with every
// head on (baseline) and with the chosen heads off, side by side.

import { el } from "../api.js";
import { plainTokenLabel } from "../kit/chips.js";
import { plotText } from "../kit/dom.js";
import { isNarrow, plotConfig, plotLayout, plotly } from "../kit/plotly.js";

/** "3.2,5.1" <-> Set of "layer.head" keys (the URL form of the list). */
export function parseOff(text) {
  return new Set(String(text || "").split(",").map((s) => s.trim()).filter((s) => /^\d+\.\d+$/.test(s)));
}
export function formatOff(off) {
  return [...off].sort((a, b) => {
    const [la, ha] = a.split(".").map(Number), [lb, hb] = b.split(".").map(Number);
    return la - lb || ha - hb;
  }).join(",");
}
export function offToRequest(off) {
  return [...off].map((k) => { const [layer, head] = k.split(".").map(Number); return { layer, head }; });
}

/** A token as a bar label: hex bytes for a piece of a character, never "\uFFFD" (escaped for Plotly). */
const barLabel = (p) => plotText(plainTokenLabel(p));

function bars(Plotly, node, predictions, colourOf) {
  const shown = predictions.slice(0, 10);
  const y = shown.map((_, i) => i);
  // On a phone a long token is cut short on its axis (whole in the hover), so the bars keep their width.
  const narrow = isNarrow(node);
  const cut = (label) => (narrow && label.length > 7 ? label.slice(0, 6) + "…" : label);
  Plotly.react(node, [{
    type: "bar", orientation: "h", x: shown.map((p) => p.probability), y,
    marker: { color: shown.map((p) => colourOf(p.id)) },
    text: shown.map((p) => `${(p.probability * 100).toFixed(1)}%`), textposition: "outside", cliponaxis: false,
    textfont: { size: narrow ? 11 : 13 },
    hovertext: shown.map((p) => `${barLabel(p)} (id ${p.id})<br>p = ${(p.probability * 100).toFixed(2)}%, logit ${p.logit.toFixed(2)}`),
    hoverinfo: "text",
  }], plotLayout({
    height: 330, margin: narrow ? { l: 4, r: 36, t: 6, b: 36 } : { l: 110, r: 50, t: 6, b: 36 },
    xaxis: { range: [0, 1], tickformat: ".0%", title: { text: "probability of the next token" } },
    yaxis: { tickvals: y, ticktext: shown.map((p) => plotText(cut(plainTokenLabel(p)))), autorange: "reversed",
      automargin: narrow, tickfont: { family: "ui-monospace, 'DejaVu Sans Mono', monospace", size: narrow ? 11 : 13 } },
  }), plotConfig);
}

/** In words, for a screen reader: the top predictions of one chart. */
const describeBars = (predictions) => predictions.slice(0, 3)
  .map((p) => `“${plainTokenLabel(p)}” ${(p.probability * 100).toFixed(1)}%`).join(", ");

/** Draw a predict response: baseline left, ablated right (or the same list on both sides). */
export async function drawAblation(nodes, body, off) {
  const Plotly = await plotly();
  const baseline = body.baseline || body.predictions;
  const top = new Set(baseline.slice(0, 10).map((p) => p.id));
  const colourOf = (id) => (id === baseline[0].id ? "#4453c7" : top.has(id) ? "#9fb0ff" : "#d9682b");
  bars(Plotly, nodes.before, baseline, colourOf);
  nodes.beforeText.textContent = `Most probable next tokens with every head on: ${describeBars(baseline)}.`;
  if (!off.size) {
    nodes.afterTitle.textContent = "Heads switched off: none yet";
    Plotly.purge(nodes.after);
    nodes.afterText.textContent = "";
    nodes.after.replaceChildren(el("p", { cls: "placeholder",
      text: "Switch a head off (buttons above, or pick one in the grid first) to see what the model predicts without it." }));
    nodes.summary.textContent = "";
    return;
  }
  // A placeholder may be in the node, or an earlier chart: emptying a plotted node leaves Plotly's state behind and
  // the next react draws nothing, so purge it first and draw afresh.
  Plotly.purge(nodes.after);
  nodes.after.replaceChildren();
  nodes.afterTitle.textContent = `${off.size} head${off.size === 1 ? "" : "s"} switched off`;
  bars(Plotly, nodes.after, body.predictions, colourOf);
  nodes.afterText.textContent = `With those heads off: ${describeBars(body.predictions)}.`;
  const before = baseline[0];
  const after = body.predictions[0];
  const sameAfter = body.predictions.find((p) => p.id === before.id);
  const beforeText = `"${plainTokenLabel(before)}" ${(before.probability * 100).toFixed(1)}%`;
  nodes.summary.textContent = after.id === before.id
    ? `The top prediction stays ${beforeText} → ${(after.probability * 100).toFixed(1)}%. `
      + "Orange bars are tokens that were not in the top 10 before."
    : `The top prediction changes: ${beforeText} becomes "${plainTokenLabel(after)}" ${(after.probability * 100).toFixed(1)}%`
      + (sameAfter ? ` ("${plainTokenLabel(before)}" ${sameAfter.probability > before.probability ? "rises" : "falls"} to `
        + `${(sameAfter.probability * 100).toFixed(1)}%).` : ".")
      + " Orange bars are tokens that were not in the top 10 before.";
  // A head switched off can *raise* the top answer: say why, from this result.
  if (sameAfter && sameAfter.probability > before.probability) {
    const heads = off.size === 1 ? "this head" : "these heads";
    nodes.summary.textContent += ` Switching ${heads} off raised "${plainTokenLabel(before)}": with ${heads} on, the model gives `
      + "it less. Heads do not all vote for the final answer; what these write (and what the rest of the model makes of "
      + "it) pushes against it, or for its rivals. And switching off is not a clean removal: what comes after the heads "
      + "(the MLPs, any later layers and the final normalisation) reacts to the missing output, so part of any change "
      + "is that reaction, not only what the heads themselves wrote.";
  }
}

/** The chips of the heads switched off; clicking one switches it back on. */
export function drawOffList(node, off, onRemove) {
  node.replaceChildren();
  if (!off.size) {
    node.append(el("span", { cls: "muted", text: "No head is switched off." }));
    return;
  }
  for (const key of formatOff(off).split(",")) {
    const [layer, head] = key.split(".");
    const chip = el("button", { cls: "off-chip", text: `layer ${layer} · head ${head} ×`,
      title: "Switch this head back on", attrs: { type: "button" } });
    chip.addEventListener("click", () => onRemove(key));
    node.append(chip);
  }
}
