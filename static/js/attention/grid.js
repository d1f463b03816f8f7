// The 30 x 9 grid of thumbnails (plus a per-layer average column) on one canvas: 300 plotly
// charts would take seconds, one canvas takes milliseconds.

import { rgb } from "./colours.js";
import { ROLE_MARKS } from "./roles.js";

const LABEL_W = 34;   // room for the layer numbers on the left
const HEADER_H = 34;  // room for the key/value group and head labels on top
const GAP = 4;
const GROUP_GAP = 8;  // extra space between key/value groups, so the grouping shows
const AVG_GAP = 14;

/** Paint one pattern (rows of weights) into an n x n ImageData-backed canvas. */
export function patternCanvas(rows) {
  const n = rows.length;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = Math.max(1, n);
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const k = (i * n + j) * 4;
      if (j > i) { image.data.set([246, 246, 243, 255], k); continue; }
      const [r, g, b] = rgb(rows[i][j]);
      image.data.set([r, g, b, 255], k);
    }
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

export class HeadGrid {
  /** `onPick(layer, head)`: head is "avg" for the average column. */
  constructor(canvas, onPick) {
    this.canvas = canvas;
    this.onPick = onPick;
    this.data = null;
    this.selected = { layer: 0, head: 0 };
    this.off = new Set();
    this.roles = new Map();  // "layer.head" -> measured role (GET /api/heads), marked on the thumbnail
    canvas.addEventListener("click", (e) => {
      const hit = this.hit(e);
      if (hit) this.onPick(hit.layer, hit.head);
    });
    // Keyboard: Tab to the grid, arrow keys move a dashed cursor (Home/End: first/last column,
    // PageUp/PageDown: 5 layers), Enter or Space opens the head under it.
    this.cursor = null;
    canvas.tabIndex = 0;
    canvas.addEventListener("focus", () => {
      if (!this.cursor) this.cursor = { ...this.selected };
      this.describeCursor();
      if (this.data) this.paint();
    });
    canvas.addEventListener("blur", () => { if (this.data) this.paint(); });
    canvas.addEventListener("keydown", (e) => this.key(e));
    canvas.addEventListener("mousemove", (e) => {
      const hit = this.hit(e);
      canvas.style.cursor = hit ? "pointer" : "default";
      canvas.title = hit ? this.describe(hit) : "";
    });
  }

  key(e) {
    if (!this.data || !this.cursor) return;
    const { nLayers, nHeads } = this.data;
    let { layer, head } = this.cursor;
    let column = head === "avg" ? nHeads : head;
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1],
      PageUp: [-5, 0], PageDown: [5, 0], Home: [0, -nHeads], End: [0, nHeads] };
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      this.onPick(layer, head);
      return;
    }
    if (!moves[e.key]) return;
    e.preventDefault();  // the arrows move the cursor, not the page
    layer = Math.max(0, Math.min(nLayers - 1, layer + moves[e.key][0]));
    column = Math.max(0, Math.min(nHeads, column + moves[e.key][1]));
    this.cursor = { layer, head: column === nHeads ? "avg" : column };
    this.describeCursor();
    this.paint();
  }

  describe({ layer, head }) {
    const role = this.roles.get(`${layer}.${head}`);
    return head === "avg" ? `Layer ${layer}: average of its ${this.data.nHeads} heads`
      : `Layer ${layer} · head ${head} (key/value head ${this.data.kvHeadOf[head]})`
        + (role ? `, measured: ${role === "induction" ? "an induction head" : "a previous-token head"}` : "");
  }

  /** Say which head the keyboard cursor is on (screen readers read the label of the focused canvas). */
  describeCursor() {
    if (!this.data || !this.cursor) return;
    const label = `Thumbnails of every head, layers down, heads across. Cursor on ${this.describe(this.cursor)}: arrow keys move, Enter opens it.`;
    this.canvas.setAttribute("aria-label", label);
    this.canvas.dataset.cursor = `${this.cursor.layer}.${this.cursor.head}`;
  }

  columnX(column) {
    const { nHeads, kvHeadOf } = this.data;
    const group = column < nHeads ? kvHeadOf[column] : kvHeadOf[nHeads - 1];
    return LABEL_W + column * (this.size + GAP) + group * GROUP_GAP + (column >= nHeads ? AVG_GAP : 0);
  }

  rowY(layer) { return HEADER_H + layer * (this.size + GAP); }

  hit(event) {
    if (!this.data) return null;
    const box = this.canvas.getBoundingClientRect();
    const x = (event.clientX - box.left) * (this.width / box.width);
    const y = (event.clientY - box.top) * (this.height / box.height);
    const layer = Math.floor((y - HEADER_H) / (this.size + GAP));
    if (layer < 0 || layer >= this.data.nLayers || y - this.rowY(layer) > this.size) return null;
    for (let c = 0; c <= this.data.nHeads; c++) {
      const x0 = this.columnX(c);
      if (x >= x0 && x <= x0 + this.size) return { layer, head: c === this.data.nHeads ? "avg" : c };
    }
    return null;
  }

  draw(data) {
    this.data = data;
    this.thumbs = [];
    for (let l = 0; l < data.nLayers; l++) {
      const row = [];
      for (let h = 0; h < data.nHeads; h++) row.push(patternCanvas(data.head(l, h)));
      row.push(patternCanvas(data.layerAverage(l)));
      this.thumbs.push(row);
    }
    this.paint();
  }

  select(layer, head) { this.selected = { layer, head }; this.cursor = { layer, head }; this.describeCursor(); if (this.data) this.paint(); }
  setOff(off) { this.off = off; if (this.data) this.paint(); }
  setRoles(roles) { this.roles = roles; if (this.data) this.paint(); }

  paint() {
    const { nLayers, nHeads, kvHeadOf } = this.data;
    // The grid's column is as wide as the canvas, so size from the panel, leaving room for the text.
    // On a narrow screen (attention.css stacks the text under the grid below 860px) the grid gets the
    // whole width of its panel and no more, so the average column is not cut off.
    const panel = this.canvas.closest(".panel");
    const stacked = window.matchMedia("(max-width: 860px)").matches;
    const available = !panel ? 480 : stacked ? this.canvas.parentElement.clientWidth : Math.max(300, panel.clientWidth - 360);
    this.size = Math.max(20, Math.min(52, Math.floor((available - LABEL_W - 2 * GROUP_GAP - AVG_GAP) / (nHeads + 1)) - GAP));
    this.width = this.columnX(nHeads) + this.size + 4;
    this.height = this.rowY(nLayers) + 2;
    const ratio = window.devicePixelRatio || 1;
    const c = this.canvas;
    c.width = Math.round(this.width * ratio);
    c.height = Math.round(this.height * ratio);
    c.style.width = `${this.width}px`;
    c.style.height = `${this.height}px`;
    // Where each thumbnail lies (CSS pixels), for scripts that drive the page, such as the browser tests.
    c.dataset.roles = JSON.stringify(Object.fromEntries(this.roles));  // the marked heads, for scripts and tests
    c.dataset.layout = JSON.stringify({ size: this.size,
      columns: Array.from({ length: nHeads + 1 }, (_, h) => this.columnX(h)),
      rows: Array.from({ length: nLayers }, (_, l) => this.rowY(l)) });
    const ctx = c.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    ctx.imageSmoothingEnabled = false;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";

    // Header: key/value groups, then head numbers.
    const groups = Math.max(...kvHeadOf) + 1;
    for (let g = 0; g < groups; g++) {
      const heads = kvHeadOf.map((k, h) => (k === g ? h : -1)).filter((h) => h >= 0);
      const x0 = this.columnX(heads[0]);
      const x1 = this.columnX(heads[heads.length - 1]) + this.size;
      ctx.fillStyle = "#e8eafb";
      ctx.fillRect(x0, 2, x1 - x0, 14);
      ctx.fillStyle = "#4453c7";
      ctx.textAlign = "center";
      // Shorter label when the group's three columns are too narrow for the full one.
      const label = [`key/value head ${g}`, `kv head ${g}`, `kv ${g}`].find((t) => ctx.measureText(t).width <= x1 - x0 - 4) || `${g}`;
      ctx.fillText(label, (x0 + x1) / 2, 9);
    }
    ctx.fillStyle = "#5d6374";
    for (let h = 0; h <= nHeads; h++) {
      ctx.fillText(h === nHeads ? "avg" : `h${h}`, this.columnX(h) + this.size / 2, 25);
    }
    ctx.textAlign = "right";
    for (let l = 0; l < nLayers; l++) ctx.fillText(`L${l}`, LABEL_W - 6, this.rowY(l) + this.size / 2);

    for (let l = 0; l < nLayers; l++) {
      for (let h = 0; h <= nHeads; h++) {
        const x = this.columnX(h);
        const y = this.rowY(l);
        ctx.drawImage(this.thumbs[l][h], x, y, this.size, this.size);
        ctx.strokeStyle = "#d8d8d0";
        ctx.lineWidth = 1;
        ctx.strokeRect(x + 0.5, y + 0.5, this.size - 1, this.size - 1);
        if (this.off.has(`${l}.${h}`)) {
          ctx.strokeStyle = "#c23b3b";
          ctx.lineWidth = 2;
          ctx.beginPath();
          ctx.moveTo(x + 3, y + 3); ctx.lineTo(x + this.size - 3, y + this.size - 3);
          ctx.moveTo(x + this.size - 3, y + 3); ctx.lineTo(x + 3, y + this.size - 3);
          ctx.stroke();
        }
        const mark = ROLE_MARKS[this.roles.get(`${l}.${h}`)];
        if (mark) {  // a measured role: a lettered badge in the thumbnail's top-right corner
          const r = Math.max(5, Math.min(9, this.size / 5));
          ctx.fillStyle = mark.colour;
          ctx.beginPath();
          ctx.arc(x + this.size - r, y + r, r, 0, 2 * Math.PI);
          ctx.fill();
          ctx.fillStyle = "#fff";
          ctx.textAlign = "center";
          ctx.font = `bold ${Math.round(r * 1.3)}px system-ui, sans-serif`;
          ctx.fillText(mark.letter, x + this.size - r, y + r + 0.5);
          ctx.font = "11px system-ui, sans-serif";
        }
      }
    }
    const { layer, head } = this.selected;
    if (layer < nLayers) {
      const column = head === "avg" ? nHeads : head;
      ctx.strokeStyle = "#d9682b";
      ctx.lineWidth = 3;
      ctx.strokeRect(this.columnX(column) - 2, this.rowY(layer) - 2, this.size + 4, this.size + 4);
    }
    if (this.cursor && document.activeElement === this.canvas) {  // the keyboard cursor, only while focused
      const column = this.cursor.head === "avg" ? nHeads : this.cursor.head;
      ctx.strokeStyle = "#1b1f2a";
      ctx.lineWidth = 2;
      ctx.setLineDash([4, 3]);
      ctx.strokeRect(this.columnX(column) - 5, this.rowY(this.cursor.layer) - 5, this.size + 10, this.size + 10);
      ctx.setLineDash([]);
    }
  }
}
