// The network diagram of chapter 1, as SVG: neurons as circles shaded by their value, weights as
// lines (colour = sign, width = size). Built once per network shape, then only attributes change,
// so it can be redrawn on every animation frame of training.

import { isTouch } from "./kit/plotly.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 640, H = 440, R = 16;
const COLUMN_X = [92, 258, 424, 566];
const TITLES = [["9 inputs", "pixels"], ["hidden 1", "tanh"], ["hidden 2", "tanh"], ["4 outputs", "softmax"]];
export const POSITIVE = "#2f6fd6";
export const NEGATIVE = "#e0702e";

function svg(tag, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.append(node);
  return node;
}

function setTitle(node, text) {
  let title = node.querySelector("title");
  if (!title) title = svg("title", {}, node);
  title.textContent = text;
}

/** Grey for a value in -1..1, like a pixel: -1 black, 0 mid grey, 1 white. */
export function shade(v) {
  const g = Math.round(((Math.max(-1, Math.min(1, v)) + 1) / 2) * 255);
  return `rgb(${g},${g},${g})`;
}

/** A probability as a percentage that never rounds to an untrue 0% or 100%: softmax gives every
 *  output something, so a value within 0.05% of either end reads "<0.1%" or ">99.9%". */
export function probPct(p, digits = 1) {
  const lo = 10 ** -digits / 100;
  if (p > 0 && p < lo) return `<${(lo * 100).toFixed(digits)}%`;
  if (p < 1 && p > 1 - lo) return `>${(100 - lo * 100).toFixed(digits)}%`;
  return `${(p * 100).toFixed(digits)}%`;
}

export function edgeWidth(w) { return 0.5 + Math.min(Math.abs(w), 4) * 1.25; }

function fmt(v, digits = 2) {
  const s = v.toFixed(digits);
  return (s.startsWith("-") ? "−" + s.slice(1) : s).replace(/^−0\.0+$/, "0.00");
}

export function layerName(k, sizes) {
  return k === 0 ? "pixel" : k === sizes.length - 1 ? "output" : `hidden ${k}`;
}

/** A 3x3 mini grid (for input positions and output symbols) at x, y of the given cell size. */
export function miniGrid(parent, x, y, cell, pixels, highlight = -1) {
  const g = svg("g", { class: "mini-grid" }, parent);
  for (let i = 0; i < 9; i++) {
    const on = pixels ? pixels[i] > 0 : false;
    svg("rect", {
      x: x + (i % 3) * cell, y: y + Math.floor(i / 3) * cell, width: cell - 1, height: cell - 1, rx: 1,
      fill: i === highlight ? "#4453c7" : pixels ? (on ? "#fff" : "#2a2f45") : "#dfe1ea",
      stroke: pixels ? "#2a2f45" : "none", "stroke-width": pixels ? 0.6 : 0,
    }, g);
  }
  return g;
}

export class Diagram {
  /**
   * @param {SVGSVGElement} root
   * @param {{symbols: Array, onWeight: Function, onInput: Function}} options
   */
  constructor(root, { symbols, onWeight, onInput }) {
    this.root = root;
    this.symbols = symbols;
    this.onWeight = onWeight;
    this.onInput = onInput;
    this.sizes = null;
    this.squash = "tanh";  // the last hidden layer's squashing: "tanh" (-1..1) or "sigmoid" (0..1)
  }

  /** Name the last hidden layer's squashing function (the next draw rebuilds the titles). */
  setSquash(kind) {
    if (kind === this.squash) return;
    this.squash = kind;
    this.sizes = null;
  }

  positions(sizes) {
    return sizes.map((n, k) => {
      const gap = Math.min(44, (H - 90) / Math.max(1, n - 1));
      const top = 246 - (gap * (n - 1)) / 2;
      return Array.from({ length: n }, (_, i) => ({ x: COLUMN_X[k], y: top + i * gap }));
    });
  }

  build(sizes) {
    this.sizes = sizes;
    this.pos = this.positions(sizes);
    this.root.replaceChildren();
    this.root.setAttribute("viewBox", `0 0 ${W} ${H}`);
    sizes.forEach((n, k) => {
      const t = svg("text", { x: COLUMN_X[k], y: 18, class: "col-title", "text-anchor": "middle" }, this.root);
      t.textContent = TITLES[k][0].replace(/^\d+/, String(n));
      const sub = svg("text", { x: COLUMN_X[k], y: 33, class: "col-sub", "text-anchor": "middle" }, this.root);
      sub.textContent = k === sizes.length - 2 ? this.squash : TITLES[k][1];
    });

    const edges = svg("g", { class: "edges" }, this.root);
    this.selection = svg("g", { class: "selection" }, this.root);
    const hits = svg("g", { class: "hits" }, this.root);
    this.edges = []; this.hits = [];
    for (let k = 0; k < sizes.length - 1; k++) {
      const rows = [], hitRows = [];
      for (let to = 0; to < sizes[k + 1]; to++) {
        const row = [], hitRow = [];
        for (let from = 0; from < sizes[k]; from++) {
          const a = this.pos[k][from], b = this.pos[k + 1][to];
          const geometry = { x1: a.x + R, y1: a.y, x2: b.x - R, y2: b.y };
          row.push(svg("line", { ...geometry, class: "edge" }, edges));
          const hit = svg("line", { ...geometry, class: "edge-hit", "data-weight": `${k}.${to}.${from}`,
            tabindex: "-1" }, hits);
          hit.addEventListener("click", () => this.onWeight({ layer: k, to, from }));
          hitRow.push(hit);
        }
        rows.push(row); hitRows.push(hitRow);
      }
      this.edges.push(rows); this.hits.push(hitRows);
    }

    this.nodes = [];
    const nodes = svg("g", { class: "nodes" }, this.root);
    sizes.forEach((n, k) => {
      const column = [];
      for (let i = 0; i < n; i++) {
        const p = this.pos[k][i];
        const g = svg("g", { class: `node layer-${k}`, transform: `translate(${p.x},${p.y})` }, nodes);
        const circle = svg("circle", { r: R, class: "node-circle" }, g);
        const label = svg("text", { class: "node-value", "text-anchor": "middle", dy: "0.35em" }, g);
        if (k === 0) {
          g.classList.add("clickable");
          g.setAttribute("data-input", String(i));
          g.addEventListener("click", () => this.onInput(i));
          miniGrid(this.root, p.x - R - 38, p.y - 8, 5.5, null, i);
        }
        column.push({ g, circle, label });
      }
      this.nodes.push(column);
    });
    // Output labels: the symbol each output neuron stands for.
    this.outputLabels = this.symbols.map((s, i) => {
      const p = this.pos[sizes.length - 1][i];
      const g = svg("g", { class: "output-label" }, this.root);
      miniGrid(g, p.x + R + 8, p.y - 9, 6.3, s.pixels);
      const t = svg("text", { x: p.x + R + 30, y: p.y, dy: "0.35em", class: "output-name" }, g);
      t.textContent = s.label;
      return g;
    });
  }

  /** Redraw values: weights {layers:[{weights,biases}]}, activations per layer, selected {layer,to,from}. */
  draw(weights, activations, selected = null, sums = null) {
    const sizes = [weights.layers[0].weights[0].length, ...weights.layers.map((l) => l.biases.length)];
    if (!this.sizes || sizes.join() !== this.sizes.join()) this.build(sizes);
    const last = sizes.length - 1;

    weights.layers.forEach((layer, k) => {
      layer.weights.forEach((row, to) => row.forEach((w, from) => {
        const line = this.edges[k][to][from];
        line.setAttribute("stroke", w >= 0 ? POSITIVE : NEGATIVE);
        line.setAttribute("stroke-width", edgeWidth(w).toFixed(2));
        setTitle(this.hits[k][to][from], `weight ${fmt(w, 3)}: from ${layerName(k, sizes)} ${from + 1} ` +
          `to ${layerName(k + 1, sizes)} ${to + 1}. ${isTouch ? "Tap" : "Click"} to see how training changes it.`);
      }));
    });

    if (activations) {
      const winner = activations[last].indexOf(Math.max(...activations[last]));
      activations.forEach((values, k) => values.forEach((v, i) => {
        const { g, circle, label } = this.nodes[k][i];
        if (k === last) {
          circle.setAttribute("fill", `rgba(68, 83, 199, ${(0.08 + 0.92 * v).toFixed(3)})`);
          label.textContent = probPct(v, 0);
          label.setAttribute("fill", v > 0.45 ? "#fff" : "#1d2130");
          g.classList.toggle("winner", i === winner);
          setTitle(g, `output ${this.symbols[i].label}: probability ${probPct(v, 2)}` +
            (sums ? ` (sum ${fmt(sums[k - 1][i])} before softmax)` : ""));
        } else {
          circle.setAttribute("fill", shade(v));
          label.textContent = k === 0 ? (v > 0 ? "1" : v < 0 ? "−1" : "0") : fmt(v, 1);
          if (k === 0 && Math.abs(v) !== 1) label.textContent = fmt(v, 1);
          label.setAttribute("fill", v > 0.05 ? "#1d2130" : "#fff");
          const bias = k > 0 ? weights.layers[k - 1].biases[i] : null;
          setTitle(g, k === 0
            ? `pixel ${i + 1}: ${v > 0 ? "white" : v < 0 ? "black" : "grey"} (${fmt(v, 0)}). ${isTouch ? "Tap" : "Click"} to flip it.`
            : `hidden ${k}, neuron ${i + 1}: ` + (sums ? `weighted sum + bias = ${fmt(sums[k - 1][i])}, ` : "") +
              `${k === last - 1 ? this.squash : "tanh"} → ${fmt(v)} (bias ${fmt(bias)})`);
        }
      }));
    }

    this.selection.replaceChildren();
    for (const column of this.nodes) for (const n of column) n.g.classList.remove("selected-end");
    if (selected && selected.layer < last && selected.to < sizes[selected.layer + 1] && selected.from < sizes[selected.layer]) {
      const line = this.edges[selected.layer][selected.to][selected.from];
      const geometry = ["x1", "y1", "x2", "y2"].reduce((o, a) => ({ ...o, [a]: line.getAttribute(a) }), {});
      svg("line", { ...geometry, class: "edge-glow" }, this.selection);
      svg("line", { ...geometry, class: "edge-selected", stroke: line.getAttribute("stroke") }, this.selection);
      this.nodes[selected.layer][selected.from].g.classList.add("selected-end");
      this.nodes[selected.layer + 1][selected.to].g.classList.add("selected-end");
    }
  }
}
