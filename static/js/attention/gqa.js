// Grouped-query attention made visible: the layer's query heads (as thumbnails) wired to the
// key/value head each one reads, and how alike the heads' patterns are.

import { svgEl } from "../api.js";
import { drawHeatmap } from "../kit/heatmap.js";
import { isTouch } from "../kit/plotly.js";
import { overlap } from "./compact.js";
import { patternCanvas } from "./grid.js";

const GROUP_COLOURS = ["#4453c7", "#d9682b", "#1f8a5b", "#a23bb0", "#8a6d1f", "#c23b3b"];

/** The wiring diagram for one layer; clicking a query head calls onPick(head). */
export function drawGqa(svg, data, layer, selectedHead, onPick) {
  const { nHeads, kvHeadOf } = data;
  const groups = Math.max(...kvHeadOf) + 1;
  // Drawn at the width it is shown (560 at most), so its labels keep their size on a phone.
  const width = Math.round(Math.max(300, Math.min(560, svg.clientWidth || 560)));
  const boxWidth = Math.min(124, (width - 20) / groups - 8);
  const short = boxWidth < 120;  // a phone: "kv head 0" and "q0, q1, q2" fit its boxes
  const cell = Math.min(52, Math.floor((width - 20) / nHeads) - 8);
  const step = (width - 20) / nHeads;
  const qx = (h) => 10 + h * step + (step - cell) / 2;
  const gx = (g) => 10 + ((g + 0.5) * (width - 20)) / groups;
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} 220`);
  svg.append(svgEl("text", { x: 10, y: 14, class: "gqa-caption" }, `Layer ${layer}: ${nHeads} query heads`));
  for (let h = 0; h < nHeads; h++) {
    const g = kvHeadOf[h];
    // From below the head's label ("q0"), so the line does not run through it.
    svg.append(svgEl("path", { d: `M ${qx(h) + cell / 2} ${40 + cell} C ${qx(h) + cell / 2} ${130}, ${gx(g)} ${120}, ${gx(g)} 160`,
      stroke: GROUP_COLOURS[g % GROUP_COLOURS.length], "stroke-width": 2, fill: "none", "stroke-opacity": 0.7 }));
  }
  for (let h = 0; h < nHeads; h++) {
    const g = kvHeadOf[h];
    const link = svgEl("g", { class: "gqa-head" + (h === selectedHead ? " selected" : ""), tabindex: "0",
      role: "button", "aria-label": `q${h}: open layer ${layer} head ${h}` });
    link.append(svgEl("title", {}, `Layer ${layer} · head ${h}: reads key/value head ${g}. ${isTouch ? "Tap" : "Click"} to open.`));
    link.append(svgEl("image", { x: qx(h), y: 22, width: cell, height: cell, preserveAspectRatio: "none",
      href: patternCanvas(data.head(layer, h)).toDataURL(), style: "image-rendering: pixelated" }));
    link.append(svgEl("rect", { x: qx(h), y: 22, width: cell, height: cell, fill: "none",
      stroke: GROUP_COLOURS[g % GROUP_COLOURS.length], "stroke-width": h === selectedHead ? 4 : 2 }));
    link.append(svgEl("text", { x: qx(h) + cell / 2, y: 22 + cell + 13, "text-anchor": "middle", class: "gqa-label" }, `q${h}`));
    link.addEventListener("click", () => onPick(h));
    link.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") onPick(h); });
    svg.append(link);
  }
  for (let g = 0; g < groups; g++) {
    const colour = GROUP_COLOURS[g % GROUP_COLOURS.length];
    svg.append(svgEl("rect", { x: gx(g) - boxWidth / 2, y: 160, width: boxWidth, height: 40, rx: 8, fill: colour, "fill-opacity": 0.12,
      stroke: colour, "stroke-width": 2 }));
    svg.append(svgEl("text", { x: gx(g), y: 178, "text-anchor": "middle", class: "gqa-kv", fill: colour }, `${short ? "kv" : "key/value"} head ${g}`));
    const heads = kvHeadOf.map((k, h) => (k === g ? `q${h}` : null)).filter(Boolean).join(", ");
    svg.append(svgEl("text", { x: gx(g), y: 193, "text-anchor": "middle", class: "gqa-kv-sub" }, short ? heads : `shared by ${heads}`));
  }
}

/** The heads-by-heads overlap matrix of one layer, with the key/value groups outlined. */
export function drawOverlap(node, summaryNode, data, layer) {
  const { nHeads, kvHeadOf } = data;
  const heads = Array.from({ length: nHeads }, (_, h) => data.head(layer, h));
  const z = heads.map((a) => heads.map((b) => overlap(a, b)));
  let within = 0, withinN = 0, across = 0, acrossN = 0;
  for (let a = 0; a < nHeads; a++) {
    for (let b = a + 1; b < nHeads; b++) {
      if (kvHeadOf[a] === kvHeadOf[b]) { within += z[a][b]; withinN++; } else { across += z[a][b]; acrossN++; }
    }
  }
  const labels = heads.map((_, h) => `q${h}`);
  const groups = Math.max(...kvHeadOf) + 1;
  const shapes = [];
  for (let g = 0; g < groups; g++) {
    const members = kvHeadOf.map((k, h) => (k === g ? h : -1)).filter((h) => h >= 0);
    const lo = members[0] - 0.5, hi = members[members.length - 1] + 0.5;
    shapes.push({ type: "rect", x0: lo, x1: hi, y0: lo, y1: hi, line: { color: GROUP_COLOURS[g], width: 3 } });
  }
  const w = within / Math.max(1, withinN), a = across / Math.max(1, acrossN);
  const summary = `In layer ${layer}, heads that share a key/value head overlap by ${w.toFixed(2)} on average; `
    + `heads in different groups by ${a.toFixed(2)}. `
    + (w > a + 0.05 ? "Here heads of one group look at more alike tokens than heads of different groups, though not identically "
      + "(on one text; the first token, where most heads park weight, makes every pair overlap)."
      : "Here heads of one group look no more alike than heads of different groups: they see the same keys, and "
      + "their own queries decide.");
  // The caption below the chart (summaryNode) says what it shows in words, so it is the text equivalent.
  return drawHeatmap(node, {
    z, x: labels, y: labels, label: `Overlap between the ${nHeads} heads of layer ${layer}`,
    colorscale: [[0, "#ffffff"], [1, "#2a3ca0"]], zmin: 0, zmax: 1, colorbar: {}, height: 300, gaps: false,
    hover: (i, j, v) => `q${i} and q${j}: overlap ${v.toFixed(2)}`, shapes, caption: summaryNode,
    describe: () => summary,
  });
}
