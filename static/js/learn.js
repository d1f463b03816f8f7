// Chapter 4b: a tiny transformer trained live (POST /api/learn, streamed), then SmolLM2's
// induction heads (GET /api/heads, GET /api/heads/probe) switched off (POST /api/learn/knockout).
// Every number the page states is read from those answers.

import { $, api, apiError, el, plotConfig, plotLayout, readState, sseEvents, writeState } from "./api.js";
import { drawAttentionHeatmap } from "./attention/heatmap.js";
import { drawProbe, HeadRoles, probePath } from "./attention/roles.js";
import { tokenChip } from "./kit/chips.js";
import { inlineFirst } from "./kit/first.js";
import { loader, markFailed, markStale } from "./kit/load.js";
import { plotly } from "./kit/plotly.js";

const DEFAULTS = { seed: 0, steps: 500, lr: 0.003, layers: 2, heads: 4 };
const state = readState(DEFAULTS);
const fmt = (x, d = 2) => Number(x).toFixed(d);
const pct = (x) => `${Math.round(x * 100)}%`;
const headName = (h) => `layer ${h.layer} · head ${h.head}`;
const LAYER_COLOURS = [["#1f8a5b", "#5cb88a", "#0f5e3c", "#93d3b0"], ["#d9682b", "#4453c7", "#a23bb0", "#b8860b"]];
const headColour = (layer, head) => LAYER_COLOURS[layer % 2][head % 4];
const phone = () => window.matchMedia("(max-width: 640px)").matches;

let run = null;        // { config, steps, logs, first } of the run on screen (first: the server's first picture's)
const CURVES = ["loss-plot", "induction-plot", "previous-plot"];

// --- controls ----------------------------------------------------------------------------------

function fillForm() {
  for (const input of document.querySelectorAll('input[name="layers"]')) input.checked = Number(input.value) === state.layers;
  for (const key of ["heads", "steps", "lr", "seed"]) $(key).value = state[key];
}

function readForm() {
  const layers = Number(document.querySelector('input[name="layers"]:checked')?.value ?? DEFAULTS.layers);
  return { seed: Math.trunc(Number($("seed").value)), steps: Math.trunc(Number($("steps").value)),
    lr: Number($("lr").value), layers, heads: Math.trunc(Number($("heads").value)) };
}

function setRunning(on) {
  $("train").disabled = on;
  $("stop").hidden = !on;
}

// --- training ----------------------------------------------------------------------------------

/** The run, streamed: progress is drawn as it arrives; resolves to the final answer. A refusal
 *  (another run going on, `training_busy`) or a run that diverged rejects with the error's `code`. */
async function stream(signal, body) {
  const response = await fetch("/api/learn", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...body, stream: true }), signal });
  if (!response.ok) throw await apiError(response);
  for await (const { event, data } of sseEvents(response)) {
    if (event === "start") started(data);
    else if (event === "progress") progressed(data);
    else if (event === "done") return data;
    else if (event === "error") throw Object.assign(new Error(data.detail), { code: data.code });
  }
  throw new Error("The server ended the run without an answer; train again.");
}

// The readings and "what grew" describe a finished run: while a new one trains they are hidden (a
// reading of the earlier run beside the new curves would not be about them), and after a failure
// the curves of the earlier run are hidden too, so nothing earlier stands beside the error.
const loadRun = loader({
  run: (signal, body) => stream(signal, body),
  draw: (result) => finished(result),
  views: ["loss-reading", "heads-reading", "after"], error: "learn-error", charts: true,
  onError: () => {
    markStale(CURVES, false);
    markFailed(CURVES);
    $("status").textContent = "";
    $("progress").value = 0;
  },
});

async function train() {
  Object.assign(state, readForm());
  writeState(state, DEFAULTS);
  $("after").hidden = true;
  for (const id of ["loss-reading", "heads-reading"]) $(id).textContent = "";
  $("status").textContent = "Asking the server to start…";
  $("progress").value = 0;
  // The earlier run's curves, until this run's first numbers arrive; the first picture's curves are this
  // run's own start, not greyed.
  if (!run?.first) markStale(CURVES);
  setRunning(true);
  const mine = (train.calls = (train.calls || 0) + 1);
  await loadRun({ ...state });
  if (mine === train.calls) setRunning(false);
}

function stop() {
  loadRun.cancel();  // aborting the request stops the training on the server too
  $("status").textContent = "Stopped: the server stopped training too.";
  markStale(CURVES, false);
  setRunning(false);
}

function started({ config, steps }, first = false) {
  // The stream of the run the first picture showed goes on from it (its step 0 comes again, the same).
  const same = run?.first && JSON.stringify(run.config) === JSON.stringify(config);
  run = { config, steps, logs: same ? run.logs : [], first };
  markStale(CURVES, false);
  markFailed(CURVES, false);
  $("n-ctx").textContent = config.n_ctx;
  $("vocab").textContent = `${config.vocab} possible tokens`;
  for (const node of document.querySelectorAll(".vocab-n")) node.textContent = config.vocab;
  $("segment").textContent = `${config.segment[0]} to ${config.segment[1]}`;
  $("uniform").textContent = fmt(config.uniform_loss);
  $("batch").textContent = config.batch;
  $("log-every").textContent = config.log_every;
  $("probe-period").textContent = config.probe_period;
  $("progress").max = config.steps;
  $("status").textContent = `Training a ${config.layers}-layer model with ${config.heads} heads per layer `
    + `(${config.n_params.toLocaleString("en")} weights)…`;
  drawCurves();
}

function progressed(log) {
  run.logs = run.logs.filter((g) => g.step < log.step);  // a step the first picture already showed: replaced
  run.logs.push(log);
  $("progress").value = log.step;
  $("status").textContent = `Step ${log.step} of ${run.config.steps} · ${fmt(log.seconds, 1)} s · `
    + `loss on repeats ${fmt(log.loss_repeat)}, first time ${fmt(log.loss_first)}`;
  drawCurves();
}

function finished(result) {
  $("progress").value = result.config.steps;
  const last = result.steps[result.steps.length - 1];
  $("status").textContent = result.stopped
    ? `Stopped at step ${last} after ${fmt(result.seconds, 1)} s.`
    : `Done: ${result.config.steps} steps in ${fmt(result.seconds, 1)} s on this server.`;
  drawCurves();
  readCurves(result);
  drawAfter(result);
}

// --- the curves --------------------------------------------------------------------------------

async function drawCurves() {
  const Plotly = await plotly();
  const { logs, config } = run;
  const x = logs.map((g) => g.step);
  const range = [0, config.steps];
  const legend = { orientation: "h", x: 0, y: -0.28, yanchor: "top" };
  // A lone measurement (step 0, before the second) is a dot: a line needs two.
  const mode = x.length === 1 ? "markers" : "lines";
  const loss = Plotly.react($("loss-plot"), [
    { x, y: logs.map((g) => g.loss_first), name: "first time (unpredictable)", mode, line: { color: "#8a8fa3", width: 2.5 },
      marker: { color: "#8a8fa3", size: 9 }, cliponaxis: false },
    { x, y: logs.map((g) => g.loss_repeat), name: "repeats (copyable)", mode, line: { color: "#d9682b", width: 3 },
      marker: { color: "#d9682b", size: 9 }, cliponaxis: false },
    { x: range, y: [config.uniform_loss, config.uniform_loss], name: `uniform guess, ln ${config.vocab}`, mode: "lines",
      line: { color: "#4453c7", dash: "dot", width: 1.5 }, hoverinfo: "skip" },
  ], plotLayout({ height: 340, margin: { l: 60, r: 20, t: 20, b: 100 }, xaxis: { title: { text: "training step" }, range }, legend,
    yaxis: { title: { text: "loss (nats per token)" }, rangemode: "tozero" } }), plotConfig);
  // The server's first picture (app/pictures/learn.py), once Plotly has drawn its own.
  loss.then(() => $("loss-plot").querySelector("[data-first-picture]")?.remove());
  for (const [node, key, title] of [["induction-plot", "induction", "induction score"], ["previous-plot", "previous_token", "previous-token score"]]) {
    const traces = [];
    for (let l = 0; l < config.layers; l += 1) {
      for (let h = 0; h < config.heads; h += 1) {
        traces.push({ x, y: logs.map((g) => g[key][l][h]), name: `L${l} H${h}`, mode,
          line: { color: headColour(l, h), width: 2, dash: l === 0 ? "dot" : "solid" },
          marker: { color: headColour(l, h), size: 7 }, cliponaxis: false,
          hovertemplate: `layer ${l} · head ${h}<br>step %{x}<br>${title} %{y:.2f}<extra></extra>` });
      }
    }
    if (key === "induction") {
      traces.push({ x: range, y: [config.threshold, config.threshold], name: "induction head from here", mode: "lines",
        line: { color: "#1d2130", dash: "dash", width: 1 }, hoverinfo: "skip" });
    }
    Plotly.react($(node), traces, plotLayout({ height: 400, margin: { l: 50, r: 10, t: 34, b: 150 },
      title: { text: title, font: { size: 14 }, x: 0.02 },
      xaxis: { title: { text: "training step" }, range }, yaxis: { range: [0, 1], tickformat: ".0%" },
      legend: { ...legend, y: -0.25, font: { size: 11 } } }), plotConfig);
  }
}

/** Where the repeats' loss fell fastest between two measurements: the phase change. */
function steepestDrop(result) {
  let best = 1;
  for (let i = 1; i < result.steps.length; i += 1) {
    const drop = result.loss_repeat[i - 1] - result.loss_repeat[i];
    if (drop > result.loss_repeat[best - 1] - result.loss_repeat[best]) best = i;
  }
  return best;
}

function readCurves(result) {
  const n = result.steps.length;
  const first = result.loss_first[n - 1], repeat = result.loss_repeat[n - 1];
  if (n < 3) { $("loss-reading").textContent = ""; $("heads-reading").textContent = ""; return; }
  const i = steepestDrop(result);
  const reading = [`At step 0 the repeats were as hard as the first time (${fmt(result.loss_repeat[0])} and `
    + `${fmt(result.loss_first[0])}). At step ${result.steps[n - 1]}: first time ${fmt(first)}, repeats ${fmt(repeat)}.`];
  if (repeat < 0.5 * first) {
    // How much faster than its average fall before it: "sudden" from three times on.
    const during = (result.loss_repeat[i - 1] - result.loss_repeat[i]) / (result.steps[i] - result.steps[i - 1]);
    const before = (result.loss_repeat[0] - result.loss_repeat[i - 1]) / Math.max(1, result.steps[i - 1]);
    const times = before > 0 ? during / before : Infinity;
    reading.push(` The repeats' loss fell fastest between steps ${result.steps[i - 1]} and ${result.steps[i]} `
      + `(from ${fmt(result.loss_repeat[i - 1])} to ${fmt(result.loss_repeat[i])})`
      + (times >= 3 ? `, ${Number.isFinite(times) ? `${Math.round(times)} times as fast as on average before`
        : "after no fall at all before"}: a sudden drop, the “phase change” when copying starts to work.` : "."));
  } else {
    reading.push(" The repeats' loss ended above half the first time's: the model did not learn to copy"
      + (result.config.layers === 1 ? " (one layer cannot: see below)." : " in this run; try more steps or another seed."));
  }
  const uniform = result.config.uniform_loss;
  reading.push(first > uniform
    ? ` The first time ends a little above the uniform guess (${fmt(uniform)}): nothing can predict those tokens, and `
      + "the trained model's guesses there are slightly worse than not guessing at all."
    : ` The first time stays near the uniform guess (${fmt(uniform)}): nothing can predict those tokens.`);
  $("loss-reading").textContent = reading.join("");

  const fin = result.final;
  const parts = [];
  if (fin.induction_head) {
    const h = fin.induction_head;
    const curve = result.heads.find((c) => c.layer === h.layer && c.head === h.head).induction;
    const crossed = curve.findIndex((s) => s >= result.config.threshold);
    const grown = result.heads.filter((c) => c.induction[c.induction.length - 1] >= result.config.threshold);
    const layers = [...new Set(grown.map((c) => c.layer))];
    parts.push(el("strong", { text: grown.length === 1 ? "One head became an induction head"
      : `${grown.length} heads became induction heads` }),
      ` (${grown.length === 1 ? "in" : "all in"} layer ${layers.join(" and ")}${grown.length === result.config.heads && layers.length === 1 ? ": every head of that layer" : ""}). `
      + `The strongest, ${headName(h)}, crossed ${pct(result.config.threshold)} at step ${result.steps[crossed]} and ended at `
      + `${pct(h.score)}. `);
  } else {
    parts.push(el("strong", { text: "No head became an induction head" }),
      ` (the best: ${headName(fin.best_head)}, ${pct(fin.best_head.score)}; one counts from ${pct(result.config.threshold)}). `);
  }
  const p = fin.previous_token_head;
  const pCurve = result.heads.find((c) => c.layer === p.layer && c.head === p.head).previous_token;
  parts.push(`In layer 0, head ${p.head} has the highest previous-token score: from ${pct(pCurve[0])} to ${pct(p.score)}. `
    + previousVersusChance(p.score, fin, result.config.threshold));
  if (result.config.layers === 1) {
    parts.push(" With one layer there is no earlier layer to tell a position which token came before it, so no head "
      + "can look for “the token after the earlier copy”.");
  }
  $("heads-reading").replaceChildren(...parts);
}

/** The best layer-0 head's previous-token score against its controls (fin.previous_even: attention spread
 *  evenly over the tokens so far; fin.previous_two_back: the same head two tokens back), and named a
 *  previous-token head only from the probes' threshold, as GET /api/heads names the real model's. */
function previousVersusChance(score, fin, threshold) {
  const times = score / fin.previous_even;
  const small = (x) => (x > 0 && x < 0.005 ? "under 1%" : pct(x));
  const chance = `Attention spread evenly over the tokens so far would give ${pct(fin.previous_even)}`
    + (times >= 2 ? `: it looks one token back ${Math.round(times)} times as much as that, and puts ${small(fin.previous_two_back)} `
      + "two tokens back." : `: it looks one token back less than ${times >= 1 ? "twice as much as that" : "that"}.`);
  const role = score >= threshold
    ? ` With at least ${pct(threshold)} of its attention there, it is a previous-token head by the rule the probes `
      + "use for the real model's heads."
    : ` It is under the ${pct(threshold)} the probes ask of a previous-token head, so this page does not call it one.`;
  return chance + role;
}

// --- before / after --------------------------------------------------------------------------------

// The chips are shaded rgba(68, 83, 199, p) over the row's backdrop; their text takes whichever ink,
// black or white, contrasts more with the colour that results (WCAG 2 contrast ratio), since a
// fixed cut such as p > 0.5 leaves white on a shade still too light to read. Black, not the page's
// --ink: around p = 0.8 neither --ink nor white reaches 4.5:1, while black or white always does.
const SHADE = [68, 83, 199];
const DARK_INK = [0, 0, 0];
const WHITE = [255, 255, 255];

function luminance(rgb) {
  const [r, g, b] = rgb.map((c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** The first opaque background behind `node`, as [r, g, b] (white when none is set). */
function backdrop(node) {
  for (let n = node; n && n.nodeType === 1; n = n.parentElement) {
    const m = getComputedStyle(n).backgroundColor.match(/[\d.]+/g);
    if (m && (m.length < 4 || Number(m[3]) === 1)) return m.slice(0, 3).map(Number);
  }
  return WHITE;
}

/** The ink, black or white, that reads better on the shade of opacity `alpha` over `under`. */
function inkOn(alpha, under = WHITE) {
  const shade = SHADE.map((c, i) => alpha * c + (1 - alpha) * under[i]);
  return contrast(WHITE, shade) > contrast(DARK_INK, shade) ? "#fff" : "#000";
}

function chips(node, sample, guesses, label) {
  const { tokens, start, period } = sample;
  const under = backdrop(node);
  node.replaceChildren(...tokens.map((t, i) => {
    const p = i === 0 ? null : guesses.probability[i - 1];
    const about = p !== null
      ? `token ${t} at position ${i}: probability ${pct(p)} just before it came; top guess ${guesses.predicted[i - 1]}`
      : `token ${t} at position 0: nothing came before it`;
    // A button, so a tap or the keyboard says what a hover's tooltip says.
    const chip = tokenChip({ text: String(t) }, { tag: "button", cls: `toy-tok${i >= start && i < start + period
      ? " first-copy" : ""}`, title: about, attrs: { type: "button" } });
    chip.addEventListener("click", () => { $("chip-info").textContent = `${label}: ${about}.`; });
    if (p !== null) {
      const alpha = Math.max(0.04, p);
      chip.style.background = `rgba(${SHADE.join(", ")}, ${alpha})`;
      chip.style.color = inkOn(alpha, under);
    }
    return chip;
  }));
}

/** How many repeated tokens (after the first copy) the top guess gets right. */
function rightOnRepeats(sample, guesses) {
  const { tokens, start, period } = sample;
  let right = 0, count = 0;
  for (let i = start + period; i < tokens.length - 1; i += 1) {
    count += 1;
    if (guesses.predicted[i] === tokens[i + 1]) right += 1;
  }
  return { right, count };
}

function meanOn(pattern, rows, column) {
  const values = rows.map((i) => pattern[i][column(i)]);
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** The keys holding the token that followed an earlier copy of query i's token: i+1-period, i+1-2·period, … */
function followers(sample, i) {
  const keys = [];
  for (let j = i + 1 - sample.period; j - 1 >= sample.start; j -= sample.period) keys.push(j);
  return keys;
}

function drawAfter(result) {
  const fin = result.final, sample = fin.sample;
  $("after").hidden = false;
  chips($("before-row"), sample, sample.before, "Before training");
  chips($("after-row"), sample, sample.after, "After training");
  $("chip-info").textContent = "";
  const before = rightOnRepeats(sample, sample.before), after = rightOnRepeats(sample, sample.after);
  $("sample-reading").textContent = `After the first copy, ${after.count} tokens can be copied. The untrained model's top `
    + `guess was right for ${before.right} of them; the trained model's for ${after.right}.`;
  drawExample(sample);

  const tokens = sample.tokens.map((t) => ({ display: String(t) }));
  const n = tokens.length;
  const repeats = Array.from({ length: n - sample.start - sample.period }, (_, k) => sample.start + sample.period + k);
  const stripe = repeats.flatMap((i) => followers(sample, i).map((j) => [i, j]));
  const back = Array.from({ length: n - 1 }, (_, k) => [k + 1, k]);
  const best = fin.best_head, prev = fin.previous_token_head;
  drawAttentionHeatmap($("induction-pattern"), tokens, fin.pattern,
    { title: `${fin.induction_head ? "Induction head" : "Best induction score"}: L${best.layer} H${best.head}`, outline: stripe });
  drawAttentionHeatmap($("previous-pattern"), tokens, fin.previous_pattern,
    { title: `Best previous-token score in layer 0: L0 H${prev.head}`, outline: back });
  $("induction-pattern").setAttribute("aria-label", `Attention of ${headName(best)} on the fresh sequence`);
  $("previous-pattern").setAttribute("aria-label", `Attention of ${headName(prev)} on the fresh sequence`);
  const onStripe = repeats.map((i) => followers(sample, i).reduce((sum, j) => sum + fin.pattern[i][j], 0))
    .reduce((a, b) => a + b, 0) / repeats.length;
  const onBack = meanOn(fin.previous_pattern, back.map(([i]) => i), (i) => i - 1);
  $("pattern-reading").textContent = `Outlined on the left: for every token after the first copy, the tokens that `
    + `followed the same token in its earlier copies (${sample.period - 1} tokens back, one less than the period of `
    + `${sample.period}; then ${2 * sample.period - 1} back, …). `
    + `On this sequence ${headName(best)} puts on average ${pct(onStripe)} of such a token's attention on them`
    + (fin.induction_head ? ": the diagonal stripes are the copying." : ", and no stripe stands out: this model does not copy.")
    + ` Outlined on the right: the token just before, ${backReading(fin.previous_pattern, headName(prev))}`;
}

const ordinal = (n) => `${n}${n % 100 >= 11 && n % 100 <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] || "th"}`;
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The previous-token head's weight one token back, token by token (row i's weight on token i − 1): its
 *  average alone hides how it is spread, and a trained head splits the tokens (at the defaults the 2nd to
 *  about the 23rd put nearly all their attention there, the tokens after them almost none). */
function backReading(pattern, name) {
  const back = pattern.slice(1).map((row, k) => row[k]);          // back[k]: token k + 1's weight on token k
  const most = back.flatMap((v, k) => (v > 0.5 ? [k + 1] : []));  // 0-based positions putting over half there
  const rest = back.filter((v) => v <= 0.5);
  const said = `where ${name} puts ${pct(mean(back))} of a token's attention on average`;
  if (!most.length) return `${said}; no token puts over half of it there.`;
  if (!rest.length) return `${said}, and every token puts over half of it there (at least ${pct(Math.min(...back))}).`;
  const first = most[0], last = most[most.length - 1];
  const who = most.length === 1 ? `only the ${ordinal(first + 1)} token puts`
    : last - first + 1 === most.length ? `the ${ordinal(first + 1)} to the ${ordinal(last + 1)} token each put`
      : `${most.length} of the ${back.length} tokens after the first put`;
  const share = pct(mean(most.map((i) => back[i - 1]))) + (most.length === 1 ? "" : " on average");
  const others = rest.length === 1 ? `the other one puts ${pct(rest[0])}` : `the other ${rest.length} put ${pct(mean(rest))} on average`;
  return `${said}, but not evenly: ${who} over half of it there (${share}); ${others}.`;
}

function drawExample(sample) {
  const { tokens, start, period } = sample;
  $("example").replaceChildren(...tokens.map((t, i) => {
    return tokenChip({ text: String(t) }, { cls: i < start ? "toy-tok" : i < start + period ? "toy-tok first-copy" : "toy-tok repeat" });
  }));
  $("example-note").textContent = `A fresh sequence: ${start} random token${start === 1 ? "" : "s"}, then a segment of ${period} (underlined), `
    + `then the same ${period} again and again (shaded) to the end.`;
}

// --- the real model ------------------------------------------------------------------------------

const fromHeads = (body) => new HeadRoles(body);
const probeNodes = { view: $("probe-view"), heatmap: $("probe-heatmap"), caption: $("probe-caption") };

// One head on the induction probe: a failure hides the head shown before (its caption would name it).
const loadProbe = loader({
  run: (signal, h) => api(probePath(h.layer, h.head, 0), undefined, { signal }),
  draw: (body) => drawProbe(probeNodes, body),
  views: ["probe-view"], error: "probe-error", charts: true,
});

function showProbe(h, button) {
  for (const b of document.querySelectorAll("#real-heads button")) b.setAttribute("aria-pressed", String(b === button));
  return loadProbe(h);
}

const loadRoles = loader({
  run: (signal) => api("/api/heads", undefined, { signal }).then(fromHeads),
  draw: (roles) => drawRealHeads(roles),
  views: ["real-heads"], error: "real-error",
});

function drawRealHeads(roles) {
  const heads = roles.named("induction");
  if (!heads.length) {
    $("real-heads").replaceChildren(el("p", { text: "The probe names no induction head in this model." }));
    return;
  }
  const buttons = heads.map((h) => {
    const b = el("button", { cls: "secondary small", text: `Layer ${h.layer} · head ${h.head}: ${pct(h.scores.induction)}`,
      attrs: { type: "button", "aria-pressed": "false", "data-head": `${h.layer}.${h.head}` },
      title: `induction score ${fmt(h.scores.induction, 3)}, previous-token score ${fmt(h.scores.previous_token, 3)}` });
    b.addEventListener("click", () => showProbe(h, b));
    return b;
  });
  const total = roles.heads.length;
  $("real-heads").replaceChildren(el("div", { cls: "head-buttons" }, buttons), el("p", { cls: "explain small-print",
    text: `The probe names ${heads.length} of the ${total} heads induction heads (percent: their induction `
      + "score). Pick one to see its attention on the probe; as in the tiny model, the copying is a stripe one column "
      + "short of a period left of the diagonal (the token after the earlier copy)." }));
  showProbe(heads[0], buttons[0]);
}

// The knockout: a failure hides an earlier result (it would stand beside the error as if current).
const loadKnockout = loader({
  run: (signal) => api("/api/learn/knockout", {}, { signal }),
  draw: (r) => drawKnockout(r),
  views: ["knockout-plot", "knockout-reading"], error: "knockout-error", charts: true,
});

async function knockout() {
  $("knockout").disabled = true;
  $("knockout-status").textContent = "Running the model with heads switched off…";
  await loadKnockout();
  $("knockout-status").textContent = "";
  $("knockout").disabled = false;
}

async function drawKnockout(r) {
  const Plotly = await plotly();
  const names = r.heads.map((h) => `${h.layer}.${h.head}`).join(", ");
  const labels = ["all heads on", `${r.heads.length} induction heads off`,
    ...r.random_heads.map((_, k) => `${r.heads.length} random heads off (${k + 1})`)];
  const values = [r.loss_all_on, r.loss_heads_off, ...r.loss_random_off];
  const hovers = ["", `off: ${names}`, ...r.random_heads.map((hs) => `off: ${hs.map((h) => `${h.layer}.${h.head}`).join(", ")}`)];
  const colours = ["#4453c7", "#d9682b", ...r.random_heads.map(() => "#8a8fa3")];
  $("knockout-plot").hidden = false;
  await Plotly.react($("knockout-plot"), [
    { type: "bar", orientation: "h", y: labels, x: values, marker: { color: colours }, text: values.map((v) => fmt(v)),
      textposition: "auto", hovertext: hovers, hoverinfo: "x+text", name: "second copy" },
    { type: "scatter", mode: "lines", y: [labels[0], labels[labels.length - 1]], x: [r.loss_first, r.loss_first],
      line: { color: "#1d2130", dash: "dash" }, name: "first copy, all on (nothing to copy)", hoverinfo: "skip" },
  ], plotLayout({ height: 120 + 42 * labels.length, margin: { l: 10, r: 20, t: 10, b: 60 },
    xaxis: { title: { text: "loss on the second copy (nats per token)" }, rangemode: "tozero" },
    yaxis: { autorange: "reversed", automargin: true }, legend: { orientation: "h", y: -0.35 } }), plotConfig);
  const worstRandom = Math.max(...r.loss_random_off);
  const verdict = r.loss_heads_off > worstRandom
    ? `more than any of the ${r.random_heads.length} random draws (at most ${fmt(worstRandom)})`
    : `but one random draw raised it as much or more (${fmt(worstRandom)}): the probe's heads are not the whole story`;
  $("knockout-reading").textContent = `On ${r.sequences} sequences of ${r.period} random tokens written twice: with all `
    + `heads on, the second copy costs ${fmt(r.loss_all_on)} nats per token against ${fmt(r.loss_first)} for the first copy, `
    + `so the model copies. Switching off the ${r.heads.length} induction heads (${names}) raises it to `
    + `${fmt(r.loss_heads_off)}, ${verdict}.`;
}

// --- start ---------------------------------------------------------------------------------------

/** The first picture: the run's start and its untrained model measured at step 0 (the stream's first two
 *  events), which the server wrote into the page for these settings (GET /api/learn/start, drawn there by
 *  app/pictures/learn.py), drawn at once; the run's own stream then goes on from it. */
function drawFirst() {
  const first = inlineFirst("/api/learn/start", readForm());
  if (!first) return;
  started(first.start, true);
  progressed(first.progress);
}

fillForm();
drawFirst();
$("controls").addEventListener("submit", (event) => { event.preventDefault(); train(); });
$("stop").addEventListener("click", stop);
$("knockout").addEventListener("click", knockout);
train();
loadRoles();
