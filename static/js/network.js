// Chapter 1 page: draw on a 3x3 display, watch a tiny network answer, train it, and open up one
// gradient-descent step. The server keeps no state: this page holds the weights and sends them
// with every request; all maths (forward pass, training, gradients) happens in the API.

import { $, api, debounce, el, plotConfig, plotLayout, readState, writeState } from "./api.js";
import { apiFirst } from "./kit/first.js";
import { loader, markFailed } from "./kit/load.js";
import { model } from "./kit/model.js";
import { isTouch, plotly } from "./kit/plotly.js";
import { Diagram, NEGATIVE, POSITIVE, layerName, probPct } from "./network_diagram.js";

const DEFAULTS = { px: "010111010", lr: 0.5, epochs: 200, h1: 6, h2: 5, seed: 1, trained: false,
  target: -1, w: "0.0.4", squash: "tanh" };
const SQUASHES = ["tanh", "sigmoid"];  // the last hidden layer's squashing (model/network.py SQUASHES)
const ANIMATION_MS = 2600;

const state = readState(DEFAULTS);
const ERROR = "net-error";
let symbols = [], dataset = null, weights = null, lastTrain = null, animation = null, handEdited = false;

// --- small helpers ------------------------------------------------------------------------------

const pct = (p) => `${(p * 100).toFixed(1)}%`;  // shares of examples (exactly 100% is possible)
const SUPERSCRIPT = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };

/** A number with `d` decimals, or 2 significant digits when it is too small for that (0.00043, 4.3×10⁻⁹). */
function num(v, d = 3) {
  let s = v.toFixed(d);
  if (v !== 0 && Math.abs(v) < 10 ** -(d - 1)) {
    const e = Math.floor(Math.log10(Math.abs(v)));
    if (e >= -6) {
      s = v.toFixed(1 - e);
    } else {
      const [mantissa, exponent] = v.toExponential(1).split("e");
      s = `${mantissa}×10${[...String(Number(exponent))].map((c) => SUPERSCRIPT[c]).join("")}`;
    }
  }
  return s.startsWith("-") ? "−" + s.slice(1) : s;
}
const signed = (v, d = 3) => (v < 0 ? `(${num(v, d)})` : num(v, d));

/** "a → b" with just enough decimals that a change shows. */
function change(a, b, format) {
  for (let d = 1; d <= 6; d++) {
    const [x, y] = [format(a, d), format(b, d)];
    if (x !== y || d === 6) return `${x} → ${y}`;
  }
  return "";
}
const asPct = (p, d) => `${(p * 100).toFixed(d)}%`;

function pixels() { return [...state.px].map((c) => (c === "1" ? 1 : -1)); }
function pxString(values) { return values.map((v) => (v > 0 ? "1" : "0")).join(""); }

function selectedWeight() {
  const [layer, to, from] = String(state.w).split(".").map(Number);
  if (![layer, to, from].every(Number.isInteger) || !weights) return null;
  const rows = weights.layers[layer]?.weights;
  if (!rows || to < 0 || from < 0 || to >= rows.length || from >= rows[0].length) return null;
  return { layer, to, from };
}

function sizes() { return [9, ...weights.layers.map((l) => l.biases.length)]; }

function nodeName(k, i) {
  const s = sizes();
  if (k === 0) return `pixel ${i + 1}`;
  if (k === s.length - 1) return `output “${symbols[i].label}”`;
  return `${layerName(k, s)} neuron ${i + 1}`;
}

function mini(values, cls = "mini") {
  const grid = el("span", { cls, attrs: { "aria-hidden": "true" } });
  for (const v of values) grid.append(el("i", { cls: v > 0 ? "on" : "off" }));
  return grid;
}

function save() { writeState(state, DEFAULTS); }

// --- the drawing pad -------------------------------------------------------------------------------

function renderPad() {
  const pad = $("pad");
  if (!pad.children.length) {
    for (let i = 0; i < 9; i++) {
      const b = el("button", { cls: "pixel", attrs: { type: "button", "data-pixel": String(i) } });
      b.addEventListener("click", () => flip(i));
      pad.append(b);
    }
  }
  pixels().forEach((v, i) => {
    const b = pad.children[i];
    b.classList.toggle("on", v > 0);
    b.setAttribute("aria-pressed", String(v > 0));
    b.setAttribute("aria-label", `pixel ${i + 1}: ${v > 0 ? "white" : "black"}`);
  });
  const match = symbols.findIndex((s) => pxString(s.pixels) === state.px);
  for (const [i, b] of [...$("symbol-buttons").children].entries()) b.classList.toggle("active", i === match);
}

function setPixels(values) {
  state.px = pxString(values);
  save(); renderPad(); finishAnimation(); refresh();
}

function flip(i) {
  const values = pixels(); values[i] = -values[i]; setPixels(values);
}

// --- the answer: diagram and bars -------------------------------------------------------------------

let diagram;

function renderBars(probabilities) {
  const best = probabilities.indexOf(Math.max(...probabilities));
  const bars = $("bars");
  if (bars.children.length !== symbols.length) {
    bars.replaceChildren(...symbols.map((s) => el("div", { cls: "bar-row" }, [
      mini(s.pixels), el("span", { cls: "bar-label", text: s.label }),
      el("span", { cls: "bar-track" }, [el("span", { cls: "bar-fill" })]),
      el("span", { cls: "bar-value" }), el("span", { cls: "bar-badge", text: "answer" }),
    ])));
  }
  probabilities.forEach((p, i) => {
    const row = bars.children[i];
    row.classList.toggle("winner", i === best);
    row.querySelector(".bar-fill").style.width = `${(p * 100).toFixed(2)}%`;
    row.querySelector(".bar-value").textContent = probPct(p);
    row.setAttribute("data-probability", p.toFixed(6));
  });
  const untrained = !state.trained && !handEdited;
  $("verdict").replaceChildren(
    el("span", { text: "The network's answer: " }), el("strong", { text: symbols[best].label }),
    el("span", { text: ` with ${probPct(probabilities[best])} probability. ` }),
    el("span", { cls: "muted", text: untrained
      ? "The weights are still random, so this is a guess. Train the network below." : "" }));
}

/** The largest weight of the network shown, by size: training is free to leave -1..1. */
function describeWeightRange() {
  let largest = 0;
  for (const layer of weights.layers) for (const row of layer.weights) for (const w of row) {
    if (Math.abs(w) > Math.abs(largest)) largest = w;
  }
  $("weight-range").textContent = `the largest weight of the network above is now ${num(largest, 2)}`
    + (Math.abs(largest) > 1 ? ", outside the range it started in" : "");
}

/** The squashing function of hidden layer k (1 or 2): the last hidden layer's is the page's choice. */
function squashOf(k) { return k === sizes().length - 2 ? state.squash : "tanh"; }

function showSquash() {
  $("squash").value = state.squash;
  if (diagram) diagram.setSquash(state.squash);
  $("squash-note").textContent = state.squash === "sigmoid"
    ? "Now as in the usual telling: hidden 2 squashes with a sigmoid into 0 … 1 (its neurons shade from grey to "
      + "white). Train and compare the loss curve with tanh's."
    : "";
}

function draw(activations, sums = null) {
  diagram.draw(weights, activations, selectedWeight(), sums);
  describeWeightRange();
  renderBars(activations[activations.length - 1]);
  $("shape").textContent = sizes().join(" → ");
}

// The answer to the drawing. If the server cannot give it (busy, say), the diagram, the bars and the
// step below would show an earlier drawing's numbers: the loader hides them until the next answer.
const STEP_VIEWS = ["target-buttons", "error-table", "step-body"];
const loadAnswer = loader({
  run: (signal) => api("/api/network/predict", { pixels: pixels(), weights, squash: state.squash }, { signal }),
  draw: (out) => draw(out.activations, out.sums),
  views: ["diagram", "bars", "verdict"], error: ERROR,
  onError: () => markFailed(STEP_VIEWS),
});

async function refresh() {
  if (await loadAnswer()) await explain();
}

// --- training -------------------------------------------------------------------------------------------

const FIELDS = [
  // id, state key, label, min, max, whole number?
  ["lr", "lr", "Learning rate", 0.001, 5, false],
  ["epochs", "epochs", "Epochs", 1, 1000, true],
  ["h1", "h1", "Hidden 1", 1, 12, true],
  ["h2", "h2", "Hidden 2", 1, 12, true],
  ["seed", "seed", "Seed", 0, 2147483647, true],
];

/** Copy the form into the state; throws an Error naming the field when a value is out of range. */
function readForm() {
  const values = {};
  for (const [id, key, label, min, max, whole] of FIELDS) {
    const raw = $(id).value.trim();
    const v = Number(raw);
    if (raw === "" || !Number.isFinite(v) || v < min || v > max || (whole && !Number.isInteger(v))) {
      $(id).focus();
      throw new Error(`${label} must be ${whole ? "a whole number" : "a number"} from ${min} to ${max}; ` +
        `“${raw}” is not. Change it and try again.`);
    }
    values[key] = v;
  }
  Object.assign(state, values);
}

/** Copy the form into the state; false (and the error shown through `load`, as a failed request's
 *  would be) when a field is out of range. */
function formRead(load) {
  try {
    readForm();
    return true;
  } catch (error) {
    load.fail(error);
    return false;
  }
}

function fillForm() {
  $("lr").value = state.lr; $("lr-range").value = state.lr;
  $("epochs").value = state.epochs; $("epochs-range").value = state.epochs;
  $("h1").value = state.h1; $("h2").value = state.h2; $("seed").value = state.seed;
}

// Fresh weights. A failure leaves the page's network as it was (its views stay current), so only the
// error shows.
const loadInit = loader({
  run: (signal) => api("/api/network/init", { seed: state.seed, hidden: [state.h1, state.h2] }, { signal }),
  draw: (out) => {
    weights = out.weights;
    $("n-params").textContent = String(out.n_params);
  },
  error: ERROR,
});

async function reset() {
  finishAnimation();
  if (!formRead(loadInit)) return;
  state.trained = false; lastTrain = null; handEdited = false;
  save();
  if (!await loadInit()) return;
  $("train-status").textContent = `Fresh random weights from seed ${state.seed}.`;
  plotCurves(null); renderStats(null); markGalleries(null);
  await refresh();
}

// Changing a hidden size or the seed resets the weights once typing pauses.
const reshape = debounce(() => reset(), 300);

// A training run. One that fails (it diverged, the server is busy) changes nothing: the network, its
// curves and its answer stay those of the weights the page still holds, so only the error shows.
const loadTrain = loader({
  run: (signal) => api("/api/network/train", { seed: state.seed, hidden: [state.h1, state.h2],
    learning_rate: state.lr, epochs: state.epochs, pixels: pixels(), squash: state.squash }, { signal }),
  draw: async (result, { animate }) => {
    state.trained = true; handEdited = false;
    save();
    lastTrain = result;
    const params = result.weights.layers.reduce((n, l) => n + l.biases.length * (l.weights[0].length + 1), 0);
    $("n-params").textContent = String(params);
    if (animate) await play(result); else weights = result.weights;
    await finishTraining(result);
  },
  views: ["train-stats", "loss-plot", "acc-plot"], error: ERROR, charts: true,
  onError: () => {
    markFailed(["train-stats", "loss-plot", "acc-plot"], false);
    $("train-status").textContent = "";
  },
});

async function train({ animate = true } = {}) {
  reshape.cancel();  // training starts from the form's seed and sizes: a pending reset would undo it
  finishAnimation();
  if (!formRead(loadTrain)) return;
  const button = $("train");
  button.disabled = true;
  $("train-status").textContent = `Training for ${state.epochs} epochs…`;
  try {
    await loadTrain({ animate });
  } finally {
    button.disabled = false;
  }
}

function play(result) {
  return new Promise((resolve) => {
    const frames = result.snapshots;
    const step = Math.max(25, ANIMATION_MS / frames.length);
    let i = 0;
    const tick = () => {
      const snap = frames[i];
      weights = snap.weights;
      diagram.draw(weights, snap.activations, selectedWeight());
      renderBars(snap.activations[snap.activations.length - 1]);
      plotCurves(result, snap.epoch);
      renderStats(result, snap.epoch);
      i += 1;
      if (i < frames.length) animation.timer = setTimeout(tick, step);
      else { animation = null; resolve(); }
    };
    animation = { resolve, timer: null };
    tick();
  });
}

function finishAnimation() {
  if (!animation) return;
  clearTimeout(animation.timer);
  const { resolve } = animation;
  animation = null;
  resolve();
}

async function finishTraining(result) {
  weights = result.weights;
  plotCurves(result); renderStats(result); markGalleries(result);
  const held = result.heldout_accuracy[result.epochs];
  $("train-status").textContent = `Done: ${result.epochs} epochs at learning rate ${state.lr}. ` +
    `All four clean symbols ${result.clean_accuracy === 1 ? "right" : `${Math.round(result.clean_accuracy * 4)} of 4 right`}; ` +
    `${Math.round(held * dataset.heldout.length)} of ${dataset.heldout.length} held-out drawings right.`;
  await refresh();
}

function renderStats(result, upto = null) {
  const e = result ? (upto ?? result.epochs) : 0;
  $("stat-epoch").textContent = String(e);
  $("stat-loss").textContent = result ? num(result.loss[e], 3) : "–";
  $("stat-train").textContent = result ? pct(result.train_accuracy[e]) : "–";
  $("stat-held").textContent = result ? pct(result.heldout_accuracy[e]) : "–";
}

/** Bottom of the log-scale loss axis: fixed per run, so the axis holds still while the curve grows. */
function lossFloor(result) {
  if (!result) return -2;
  return Math.min(-1, Math.floor(Math.log10(Math.max(1e-6, Math.min(...result.loss))) * 2) / 2);
}

async function plotCurves(result, upto = null) {
  const Plotly = await plotly();
  const n = result ? (upto ?? result.epochs) + 1 : 0;
  const x = Array.from({ length: n }, (_, i) => i);
  const xmax = result ? result.epochs : state.epochs;
  const empty = !result ? [{ text: "Press Train to watch the loss fall", showarrow: false, x: 0.5, y: 0.5,
    xref: "paper", yref: "paper", font: { color: "#5d6374", size: 14 } }] : [];
  await Plotly.react("loss-plot", [{ x, y: result ? result.loss.slice(0, n) : [], mode: "lines", name: "loss",
    line: { color: "#d9682b", width: 2.5 }, hovertemplate: "epoch %{x}<br>loss %{y:.4f}<extra></extra>" }],
  plotLayout({ title: { text: "Training loss (log scale)", font: { size: 14 } }, height: 290,
    margin: { l: 52, r: 12, t: 36, b: 40 }, showlegend: false, annotations: empty,
    xaxis: { title: { text: "epoch" }, range: [0, xmax], zeroline: false },
    yaxis: { type: "log", range: [lossFloor(result), 0.7], title: { text: "loss" },
      tickvals: [1e-5, 1e-4, 1e-3, 0.01, 0.1, 1], ticktext: ["0.00001", "0.0001", "0.001", "0.01", "0.1", "1"] } }),
  plotConfig);
  await Plotly.react("acc-plot", [
    { x, y: result ? result.train_accuracy.slice(0, n) : [], mode: "lines", name: "training",
      line: { color: "#4453c7", width: 2.5 }, hovertemplate: "epoch %{x}<br>training %{y:.0%}<extra></extra>" },
    { x, y: result ? result.heldout_accuracy.slice(0, n) : [], mode: "lines", name: "held out",
      line: { color: "#1f8a5b", width: 2.5, dash: "dot" }, hovertemplate: "epoch %{x}<br>held out %{y:.0%}<extra></extra>" },
  ], plotLayout({ title: { text: "Examples answered right", font: { size: 14 } }, height: 290,
    margin: { l: 52, r: 12, t: 36, b: 40 }, annotations: empty,
    legend: { orientation: "h", x: 0.98, xanchor: "right", y: 0.06, yanchor: "bottom", bgcolor: "rgba(255,255,255,0.85)" },
    xaxis: { title: { text: "epoch" }, range: [0, xmax], zeroline: false },
    yaxis: { range: [0, 1.04], tickformat: ".0%" } }), plotConfig);
}

// --- the example galleries ----------------------------------------------------------------------------------

function renderGallery(container, examples) {
  container.replaceChildren();
  symbols.forEach((s, label) => {
    const row = el("div", { cls: "gallery-row" }, [el("span", { cls: "gallery-label", text: s.label })]);
    examples.forEach((ex, i) => {
      if (ex.label !== label) return;
      const flipped = ex.flipped.length ? `${ex.flipped.length} pixel${ex.flipped.length > 1 ? "s" : ""} flipped`
        : "clean";
      const b = el("button", { cls: "example", attrs: { type: "button", "data-index": String(i) },
        title: `${s.label}, ${flipped}. ${isTouch ? "Tap" : "Click"} to draw it.` }, [mini(ex.pixels, "mini example-grid")]);
      b.addEventListener("click", () => { state.target = -1; setPixels(ex.pixels); });
      row.append(b);
    });
    container.append(row);
  });
}

function markGalleries(result) {
  for (const [id, key] of [["gallery-train", "train"], ["gallery-held", "heldout"]]) {
    const predictions = result ? result[`${key}_predictions`] : null;
    for (const b of $(id).querySelectorAll(".example")) {
      const i = Number(b.dataset.index);
      const ex = dataset[key][i];
      b.classList.toggle("right", !!predictions && predictions[i] === ex.label);
      b.classList.toggle("wrong", !!predictions && predictions[i] !== ex.label);
      if (predictions && predictions[i] !== ex.label) b.title = `${symbols[ex.label].label}, but the network says ` +
        `${symbols[predictions[i]].label}. ${isTouch ? "Tap" : "Click"} to draw it.`;
    }
  }
}

// --- one gradient-descent step, in full ------------------------------------------------------------------

// One step of gradient descent for the drawing and the chosen weight; hidden when it fails, so a
// step of an earlier drawing never stands beside the error.
const loadStep = loader({
  run: (signal) => api("/api/network/gradient", stepRequest(), { signal }),
  draw: (out) => {
    renderTargets(out.target);
    renderErrorTable(out);
    renderStep(out);
  },
  views: STEP_VIEWS, error: ERROR,
});

function renderTargets(target) {
  const box = $("target-buttons");
  if (!box.children.length) {
    symbols.forEach((s, i) => {
      const b = el("button", { cls: "target", attrs: { type: "button", role: "radio", "data-target": String(i) } },
        [mini(s.pixels), el("span", { text: s.label })]);
      b.addEventListener("click", () => { state.target = i; save(); explain(); });
      box.append(b);
    });
  }
  [...box.children].forEach((b, i) => {
    b.classList.toggle("active", i === target);
    b.setAttribute("aria-checked", String(i === target));
  });
  const auto = state.target < 0;
  $("target-note").textContent = auto
    ? "Chosen for you: the symbol the drawing is closest to. Pick another to see the gradients change."
    : `You chose “${symbols[target].label}” as the right answer.`;
  $("target-auto").hidden = auto;
}

function renderErrorTable(out) {
  const rows = symbols.map((s, i) => el("tr", { cls: i === out.target ? "is-target" : "" }, [
    el("td", {}, [mini(s.pixels), el("span", { text: ` ${s.label}` })]),
    el("td", { cls: "num", text: probPct(out.probabilities[i]) }),
    el("td", { cls: "num", text: i === out.target ? "1" : "0" }),
    el("td", { cls: "num", text: num(out.error[i], 3) }),
  ]));
  $("error-table").replaceChildren(
    el("p", { cls: "loss-line" }, [
      el("span", { text: "Loss = −log(probability of the right answer) = −log(" }),
      el("strong", { text: out.probabilities[out.target].toFixed(out.probabilities[out.target] > 0.9995 ? 6 : 3) }), el("span", { text: ") = " }),
      el("strong", { cls: "loss-value", text: num(out.loss, 3) })]),
    el("table", { cls: "errors" }, [
      el("thead", {}, [el("tr", {}, ["output", "probability", "right answer", "error"].map((t) => el("th", { text: t })))]),
      el("tbody", {}, rows)]),
    el("p", { cls: "explain small-print", text: "The error of each output is its probability minus the right " +
      "answer (1 for the target symbol, 0 for the others). It is where backpropagation starts." }));
}

function card(label, value, note, cls = "") {
  return el("div", { cls: `calc-card ${cls}` }, [
    el("span", { cls: "calc-label", text: label }), el("b", { cls: "calc-value", text: value }),
    el("span", { cls: "calc-note", text: note })]);
}

const op = (t) => el("span", { cls: "calc-op", text: t, attrs: { "aria-hidden": "true" } });

// Gradient = input × δ, and at a hidden neuron δ = slope × the error flowing back, so a tiny gradient
// has one of four causes; the page names the one the numbers show (tests/claims/test_network.py restates it).
const TINY_GRADIENT = 1e-3, SURE = 0.99, SMALL_INPUT = 0.05, FLAT = 0.05;

/** Why this weight's gradient is tiny, read from the step's own numbers (not always "sure and right"). */
function whyTiny(w, out, from, to) {
  const p = out.probabilities[out.target];
  if (p > SURE) {
    return ` It is tiny because the network is already sure and right about this drawing (${probPct(p)} for the right `
      + "answer), so there is little left to fix: pick another right answer above, flip a pixel, or reset the weights "
      + "to see bigger steps.";
  }
  if (Math.abs(w.input) < SMALL_INPUT) {
    return ` It is tiny because the value arriving on this line is nearly 0 (${num(w.input, 3)}), so this weight hardly `
      + `changes ${to}'s sum, although the network is not sure yet (${probPct(p)} for the right answer).`;
  }
  if (w.slope !== null && w.slope !== undefined && w.slope < FLAT) {
    return ` It is tiny because ${to} is saturated: its sum sits where ${squashOf(w.layer + 1)} is almost flat `
      + `(slope ${num(w.slope, 3)}), so hardly any error gets through it, although the network is not sure yet `
      + `(${probPct(p)} for the right answer).`;
  }
  const small = w.slope === null || w.slope === undefined
    ? `${to}'s error is small (δ = probability − right answer = ${num(w.delta, 4)})`
    : `little of the error reaches ${to} (δ = ${num(w.delta, 4)})`;
  return ` It is tiny because ${small}, although the network is not sure yet (${probPct(p)} for the right answer).`;
}

function renderStep(out) {
  const body = $("step-body");
  const w = out.weight;
  if (!w) {
    body.replaceChildren(el("p", { cls: "empty-hint", text: "Click a line in the network diagram above to pick a weight." }));
    return;
  }
  const from = nodeName(w.layer, w.from), to = nodeName(w.layer + 1, w.to);
  const isOutput = w.slope === null || w.slope === undefined;
  const direction = w.gradient < 0 ? "raising this weight lowers the loss, so the step raises it"
    : w.gradient > 0 ? "raising this weight raises the loss, so the step lowers it"
    : "this weight does not affect the loss for this drawing, so it stays put";
  const swatch = el("i", { cls: "line-swatch" });
  swatch.style.background = w.weight >= 0 ? POSITIVE : NEGATIVE;

  const delta = isOutput
    ? el("p", { cls: "explain" }, [
      el("strong", { text: "δ at an output is its error: " }),
      el("span", { text: `probability − right answer = ${num(w.delta, 3)}.` })])
    : el("p", { cls: "explain" }, [
      el("strong", { text: "δ comes back from the layer above" }),
      el("span", { text: ` (the “back” in backpropagation): the errors δ of the ${w.layer + 1 === sizes().length - 2
        ? "outputs" : "next layer's neurons"} flow back along their weights, Σ w·δ = ${num(w.backflow, 3)}, ` +
        `times how steep ${squashOf(w.layer + 1)} is at ${to}, ${squashOf(w.layer + 1) === "sigmoid"
          ? "value × (1 − value)" : "1 − value²"} = ${num(w.slope, 3)}. So δ = ${num(w.slope, 3)} × ` +
        `${signed(w.backflow, 3)} = ${num(w.delta, 3)}.` })]);

  const better = w.loss_after < w.loss;
  const apply = el("button", { cls: "secondary", text: "Apply this update", attrs: { type: "button", id: "apply-step" } });
  apply.addEventListener("click", () => {
    weights.layers[w.layer].weights[w.to][w.from] = w.new_weight;
    handEdited = true;
    $("train-status").textContent = "You changed a weight by hand (the link keeps the seed and settings, not hand edits).";
    refresh();
  });

  body.replaceChildren(
    el("h3", {}, [swatch, el("span", { text: ` The weight from ${from} to ${to}` })]),
    el("div", { cls: "calc-row" }, [
      card("Input on this line", num(w.input, 3), w.layer === 0 ? `${from}, ${w.input > 0 ? "white" : "black"}` : `value of ${from}`),
      op("×"),
      card("δ = dLoss/d(sum)", num(w.delta, 4), `how the loss moves with ${to}'s sum`),
      op("="),
      card("Gradient dLoss/dw", num(w.gradient, 4), "how the loss moves with this weight", "accent"),
    ]),
    delta,
    el("div", { cls: "calc-row" }, [
      card("Weight now", num(w.weight, 4), "w"),
      op("−"),
      card("Learning rate × gradient", `${w.learning_rate} × ${signed(w.gradient, 4)}`, "a small step downhill"),
      op("="),
      card("New weight", num(w.new_weight, 4), "w − lr × gradient", "good"),
    ]),
    el("p", { cls: "explain" }, [el("span", { text: `The gradient is ${w.gradient < 0 ? "negative" : w.gradient > 0
      ? "positive" : "zero"}: ${direction}.` }), el("span", { text: Math.abs(w.gradient) < TINY_GRADIENT ? whyTiny(w, out, from, to) : "" })]),
    el("p", { cls: `outcome ${better ? "better" : ""}` }, [
      el("span", { text: "With only this weight updated, this drawing's loss goes " }),
      el("strong", { text: change(w.loss, w.loss_after, (v, d) => v.toFixed(d + 2)) }),
      el("span", { text: ` and the probability of “${symbols[out.target].label}” ` }),
      el("strong", { text: change(w.target_probability, w.target_probability_after, asPct) }),
      el("span", { text: ". Training does this for every weight at once, averaged over all examples, epoch after epoch." }),
    ]),
    el("div", { cls: "row tight" }, [apply,
      el("span", { cls: "explain small-print", text: "Apply it, and press again: the gradient is worked out afresh at the new weight, so the next "
        + "step may help more or less than this one." })]),
  );
}

function stepRequest() {
  const body = { pixels: pixels(), weights, learning_rate: state.lr, squash: state.squash };
  if (state.target >= 0 && state.target < symbols.length) body.target = state.target;
  const sel = selectedWeight();
  if (sel) body.weight = sel;
  return body;
}

async function explain() {
  if (weights) await loadStep();
}

/** Step to the previous (-1) or next (+1) weight, in order layer by layer: the keyboard's way to pick one. */
function cycleWeight(direction) {
  const all = [];
  weights.layers.forEach((layer, k) => layer.weights.forEach((row, to) => row.forEach((_, from) =>
    all.push({ layer: k, to, from }))));
  const current = selectedWeight();
  const i = current ? all.findIndex((r) => r.layer === current.layer && r.to === current.to && r.from === current.from) : -1;
  selectWeight(all[(i + direction + all.length) % all.length]);
}

function selectWeight(ref) {
  finishAnimation();
  state.w = `${ref.layer}.${ref.to}.${ref.from}`;
  save();
  refresh();
}

// --- start ----------------------------------------------------------------------------------------------------

function wireControls() {
  for (const [range, box] of [["lr-range", "lr"], ["epochs-range", "epochs"]]) {
    $(range).addEventListener("input", () => { $(box).value = $(range).value; });
    $(box).addEventListener("input", () => { $(range).value = $(box).value; });
  }
  for (const id of ["h1", "h2", "seed"]) $(id).addEventListener("input", reshape);
  $("squash").addEventListener("change", () => {
    state.squash = $("squash").value;
    showSquash();
    reset();  // weights trained for one squashing are not trained for the other
  });
  $("train-form").addEventListener("submit", (event) => { event.preventDefault(); train(); });
  $("reset").addEventListener("click", () => reset());
  $("target-auto").addEventListener("click", () => { state.target = -1; save(); explain(); });
  $("weight-prev").addEventListener("click", () => cycleWeight(-1));
  $("weight-next").addEventListener("click", () => cycleWeight(1));
  $("noise").addEventListener("click", () => flip(Math.floor(Math.random() * 9)));
  $("invert").addEventListener("click", () => setPixels(pixels().map((v) => -v)));
}

async function start() {
  // Anything else in the URL falls back to the defaults (it is only ever parsed, never shown as HTML).
  if (!/^[01]{9}$/.test(state.px)) state.px = DEFAULTS.px;
  if (!/^[0-2]\.\d{1,2}\.\d{1,2}$/.test(state.w)) state.w = DEFAULTS.w;
  if (!(Number.isInteger(state.target) && state.target >= -1 && state.target < 4)) state.target = -1;
  if (!SQUASHES.includes(state.squash)) state.squash = DEFAULTS.squash;
  // Numbers the form (and the API) would refuse, say h1=0 from a hand-edited link, fall back too,
  // so the page opens with a working network instead of an error.
  for (const [, key, , min, max, whole] of FIELDS) {
    const v = state[key];
    if (!(Number.isFinite(v) && v >= min && v <= max && (!whole || Number.isInteger(v)))) state[key] = DEFAULTS[key];
  }
  save();
  fillForm();
  wireControls();
  $("llm-params").textContent = model.n_params >= 1e6 ? `about ${Math.round(model.n_params / 1e6)} million`
    : model.n_params.toLocaleString("en");
  if (!await loadDataset()) return;
  diagram = new Diagram($("diagram"), { symbols, onWeight: selectWeight, onInput: flip });
  showSquash();
  renderPad();
  plotCurves(null); renderStats(null);
  if (state.trained) {
    await train({ animate: false });
  } else if (await loadInit()) {
    await refresh();
  }
  document.body.dataset.ready = "1";
}

// The symbols and the example drawings: everything below is built from them. The server draws the
// symbols' row into the page with this answer beside it (app/pictures/network.py): taken from there
// (kit/first.js), and the row's buttons replace the static one (replaceChildren removes it).
const loadDataset = loader({
  run: (signal) => apiFirst("/api/network/dataset", {}, undefined, { signal }),
  draw: (data) => {
    dataset = data;
    symbols = dataset.symbols;
    $("n-train").textContent = String(dataset.train.length);
    $("symbol-buttons").replaceChildren(...symbols.map((s) => {
      const b = el("button", { cls: "symbol-button", attrs: { type: "button", "data-symbol": s.name },
        title: `Draw a clean ${s.label}` }, [mini(s.pixels), el("span", { text: s.label })]);
      b.addEventListener("click", () => { state.target = -1; setPixels(s.pixels); });
      return b;
    }));
    renderGallery($("gallery-train"), dataset.train);
    renderGallery($("gallery-held"), dataset.heldout);
  },
  error: ERROR,
});

start();
