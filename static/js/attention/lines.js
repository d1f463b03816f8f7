// The lines view: the prompt written twice, side by side; lines from one query token (left)
// to the keys it attends to (right), stroke width proportional to the weight.

import { svgEl } from "../api.js";
import { plainTokenLabel } from "../kit/chips.js";
import { isTouch } from "../kit/plotly.js";

// Up to this many tokens every row is drawn; past it, only the rows that matter (see `rowsToDraw`).
const ALL_ROWS = 40;
const SHOWN_WEIGHT = 0.01;  // a key below 1% draws no line, so its row can fold away

/**
 * Which token rows to draw, in order: every row of a short text; for a long one the first token,
 * the query, the tokens just before it and every key it gives at least 1%, with each run of the
 * others folded into one row ({ gap: count, later }) so the picture stays a screen or two tall.
 */
export function rowsToDraw(n, row, query) {
  if (n <= ALL_ROWS) return Array.from({ length: n }, (_, i) => ({ index: i }));
  const keep = (i) => i === 0 || i === query || (i < query && (i >= query - 2 || row[i] >= SHOWN_WEIGHT));
  const rows = [];
  for (let i = 0; i < n;) {
    if (keep(i)) { rows.push({ index: i }); i += 1; continue; }
    let j = i;
    while (j < n && !keep(j) && (j > query) === (i > query)) j += 1;
    rows.push({ gap: j - i, later: i > query });
    i = j;
  }
  return rows;
}

/** Draw row `query` of `weights` for `tokens` into the svg; `onPick(i)` when a left token is clicked. */
export function drawLines(svg, tokens, weights, query, onPick) {
  const n = tokens.length;
  const row = weights[query];
  const rows = rowsToDraw(n, row, query);
  const rowH = rows.length > 60 ? 15 : 22;
  // Drawn at the width it is shown (640 at most), so its 13px text stays 13px on a phone instead of
  // being scaled down to half that.
  const width = Math.round(Math.max(300, Math.min(640, svg.clientWidth || 640)));
  const leftX = Math.round(width * 0.297);                  // right edge of the left column's text
  const rightX = width - Math.round(Math.min(190, width * 0.36));  // left edge of the right column's text
  const barWidth = width - rightX - 40;                     // room for the percentage at the right edge
  const height = rows.length * rowH + 34;
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("height", String(height));
  svg.append(svgEl("text", { x: leftX, y: 14, "text-anchor": "end", class: "col-title" }, "query (looks)"));
  svg.append(svgEl("text", { x: rightX, y: 14, class: "col-title" }, "keys (looked at)"));
  const at = new Map(rows.map((r, k) => [r.index, k]).filter(([i]) => i !== undefined));
  const y = (i) => 34 + at.get(i) * rowH;

  const lines = svgEl("g", { class: "links" });
  for (let j = 0; j <= query; j++) {
    const w = row[j];
    if (w < SHOWN_WEIGHT || !at.has(j)) continue;
    const line = svgEl("path", {
      d: `M ${leftX + 6} ${y(query) - 4} C ${(leftX + rightX) / 2} ${y(query) - 4}, ${(leftX + rightX) / 2} ${y(j) - 4}, ${rightX - 6} ${y(j) - 4}`,
      "stroke-width": (0.6 + 16 * w).toFixed(2), "stroke-opacity": (0.25 + 0.75 * w).toFixed(2),
    });
    line.append(svgEl("title", {}, `${(w * 100).toFixed(1)}%`));
    lines.append(line);
  }
  svg.append(lines);

  rows.forEach((r, k) => {
    if (r.gap) {
      const note = r.later ? `⋯ ${r.gap} later token${r.gap === 1 ? "" : "s"}: the query cannot see ${r.gap === 1 ? "it" : "them"} ⋯`
        : `⋯ ${r.gap} token${r.gap === 1 ? "" : "s"}, each under 1% ⋯`;
      svg.append(svgEl("text", { x: leftX, y: 34 + k * rowH, "text-anchor": "end", class: "gap" }, note));
      return;
    }
    const i = r.index, t = tokens[i];
    const label = plainTokenLabel(t);  // a piece of a character as its hex bytes, never "\uFFFD"
    const left = svgEl("text", { x: leftX, y: y(i), "text-anchor": "end",
      class: "tok-left" + (i === query ? " query" : "") + (i > query ? " later" : "") });
    left.textContent = label;
    left.append(svgEl("title", {}, `#${i}: ${isTouch ? "tap" : "click"} to look from here`));
    // A button for the keyboard too: Tab to a token, Enter or Space looks from it.
    left.setAttribute("tabindex", "0");
    left.setAttribute("role", "button");
    left.setAttribute("aria-label", `Look from token ${i + 1}, “${label}”`);
    left.addEventListener("click", () => onPick(i));
    left.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault();
      onPick(i);                                        // redraws the view: keep the focus on the pick
      svg.querySelector(".tok-left.query")?.focus();
    });
    svg.append(left);
    const w = i <= query ? row[i] : 0;
    if (w >= 0.005) {
      svg.append(svgEl("rect", { x: rightX - 3, y: y(i) - rowH + 6, width: barWidth, height: rowH - 2, rx: 3,
        class: "key-bar", "fill-opacity": Math.min(1, 0.15 + w).toFixed(2) }));
    }
    const right = svgEl("text", { x: rightX, y: y(i), class: "tok-right" + (i > query ? " later" : "") });
    right.textContent = label;
    svg.append(right);
    if (i <= query) {
      svg.append(svgEl("text", { x: width - 6, y: y(i), "text-anchor": "end", class: "pct" },
        `${(w * 100).toFixed(w < 0.1 ? 1 : 0)}%`));
    }
  });
}
