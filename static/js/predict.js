// Chapter 5: the next-token distribution, sampling controls, step-by-step generation,
// "guess first", surprise over the text and the logit lens. State lives in the URL:
// the prompt, the generated token ids (`steps`), the step being inspected (`at`) and the settings.
import { $, api, readState, writeState, debounce, latest, el, showError, plotConfig, plotLayout, plotText, tokenLabel } from "./api.js";

const DEFAULTS = { text: "The capital of France is", steps: "", at: -1, temperature: 1, top_k: 10, top_p: 1,
  seed: 42, guess: false };
const EXAMPLES = ["The capital of France is", "Once upon a time, there was a", "1, 2, 3, 4,",
  "The opposite of hot is", "My favourite food is", "def add(a, b):\n    return"];
const SHOWN = 20;            // bars in the chart
const LENS_POSITIONS = 12;   // columns of the logit-lens heatmap
const ACCENT = "#4453c7", BLOCKED = "#c9cbd6", WARM = "#d9682b";

const state = readState(DEFAULTS);
let steps = [];              // generated tokens after the prompt: {id, text, display, special}
let drawn = 0;               // tokens sampled since the last Clear: Undo keeps it, so a redraw gets a new seed
let revealedFor = null;      // in guess mode, the text whose distribution has been revealed
let lastGuess = null;
let lastShown = null;        // the prediction response the chart shows (a bar click maps into it)
let lastLens = null;         // the logit-lens response drawn (its notes are redrawn when a guess is revealed)

// --- text and steps --------------------------------------------------------------------------

const textUpTo = (n) => state.text + steps.slice(0, n).map((s) => s.text).join("");
const inspecting = () => state.at >= 0 && state.at < steps.length;
const chartSteps = () => (inspecting() ? state.at : steps.length);
const chartText = () => textUpTo(chartSteps());
// What the model reads: the typed text, then the generated tokens by id, exactly as it wrote them.
// (Joined as text they would be re-tokenized, and a token that is a piece of a character, as in
// an emoji, would come back as the replacement character U+FFFD instead.)
const readUpTo = (n) => ({ text: state.text, append_ids: steps.slice(0, n).map((s) => s.id) });

function save() {
  state.steps = steps.map((s) => s.id).join(",");
  writeState(state, DEFAULTS);
}

async function restoreSteps() {
  const ids = state.steps.split(",").filter((s) => /^\d+$/.test(s)).map(Number);
  if (!ids.length) return;
  try {
    const data = await api("/api/detokenize", { ids });
    steps = data.tokens.map(({ id, text, display, special, bytes, partial }) => ({ id, text, display, special, bytes, partial }));
  } catch (error) {
    showError($("error"), new Error(`The generated tokens in the link could not be restored: ${error.message}`));
    steps = [];
  }
}

function renderTrail() {
  const trail = $("trail");
  trail.replaceChildren(el("span", { text: state.text, cls: "prompt-text" }));
  steps.forEach((s, i) => {
    const chip = el("button", { cls: "step" + (s.special ? " special" : "") + (s.partial ? " partial" : "") + (i === state.at ? " selected" : ""),
      title: `Generated token ${i + 1} · id ${s.id}` + (s.partial ? " · a piece of a character, shown as its bytes" : "")
        + " · click to see what else could have come here",
      attrs: { type: "button", "aria-pressed": String(i === state.at) } }, tokenLabel(s));
    chip.addEventListener("click", () => { state.at = i === state.at ? -1 : i; update(); });
    trail.append(chip);
  });
  const next = el("button", { text: "next ?", cls: "step next" + (inspecting() ? "" : " selected"),
    title: "The token the model is choosing now", attrs: { type: "button" } });
  next.addEventListener("click", () => { state.at = -1; update(); });
  trail.append(next);
  $("trail-hint").hidden = steps.length === 0;
  $("undo").disabled = $("clear").disabled = steps.length === 0;
}

// --- the distribution ------------------------------------------------------------------------

// A softmax probability: never an untrue 100% or 0% (softmax gives every token something, even
// where float32 rounds it to exactly 1 or 0, as at a low temperature), and no exponents.
const pct = (p) => (p > 0.999 ? ">99.9%" : p >= 0.001 ? `${(p * 100).toFixed(1)}%`
  : p >= 1e-6 ? `${(p * 100).toPrecision(2)}%` : "<0.0001%");
// A chance to be drawn after top-k/top-p: a token ruled out has exactly 0, the only one left exactly 1.
const chance = (p) => (p === 0 ? "0%" : p === 1 ? "100%" : pct(p));

function drawChart(data) {
  const preds = data.predictions;
  const chosen = inspecting() ? steps[state.at].id : null;
  const guessed = data.guess ? data.guess.token.id : null;
  const colour = (p) => (p.id === guessed ? WARM : p.allowed ? ACCENT : BLOCKED);
  const trace = {
    type: "bar", orientation: "h", x: preds.map((p) => p.probability), y: preds.map((_, i) => i),
    text: preds.map((p) => pct(p.probability)), textposition: "outside", cliponaxis: false,
    marker: { color: preds.map(colour), line: { color: preds.map((p) => (p.id === chosen ? "#1d2130" : "rgba(0,0,0,0)")), width: 3 } },
    customdata: preds.map((p) => [plotText(p.display), p.id, p.logit.toFixed(2), chance(p.sample_probability), p.allowed ? "can be drawn" : "ruled out"]),
    hovertemplate: "<b>%{customdata[0]}</b> (id %{customdata[1]})<br>probability %{text} · logit %{customdata[2]}"
      + "<br>%{customdata[4]}: chance to be drawn %{customdata[3]}<extra></extra>",
  };
  const ticks = preds.map((p) => (p.id === chosen ? "▶ " : "") + plotText(p.display));
  Plotly.react("chart", [trace], plotLayout({
    height: 40 + preds.length * 24, margin: { l: 120, r: 50, t: 10, b: 40 }, bargap: 0.25,
    xaxis: { title: { text: "probability" }, tickformat: ".0%", rangemode: "tozero", range: [0, Math.max(...trace.x) * 1.15] },
    yaxis: { tickvals: trace.y, ticktext: ticks, autorange: "reversed", tickfont: { family: "ui-monospace, DejaVu Sans Mono, monospace" } },
  }), plotConfig);
  const chart = $("chart");
  if (!chart.dataset.clickBound) {  // Plotly's event API exists once the first plot is drawn
    chart.on("plotly_click", (event) => { if (event.points && event.points[0]) appendChosen(event.points[0]); });
    chart.dataset.clickBound = "1";
  }
  const draw = data.draw;
  document.querySelector('[data-stat="allowed"]').textContent = draw.allowed_count.toLocaleString();
  document.querySelector('[data-stat="mass"]').textContent =
    draw.allowed_count === Number(document.body.dataset.vocabSize) ? "100%" : pct(draw.allowed_mass);
  document.querySelector('[data-stat="entropy"]').textContent = draw.entropy_bits.toFixed(2);
}

function describeChosen(data) {
  const title = $("chart-title");
  if (!inspecting()) { title.textContent = "Next token"; return; }
  const s = steps[state.at];
  const rank = data.predictions.findIndex((p) => p.id === s.id);
  title.textContent = `Step ${state.at + 1}: what could have come instead of “${s.display}”`
    + (rank >= 0 ? ` (its rank: #${rank + 1})` : " (not among the top 20)");
}

function describeGuess(data) {
  const box = $("guess-result");
  if (!data.guess) { box.hidden = true; return; }
  const g = data.guess;
  const top = data.predictions[0];
  const word = g.rank === 1 ? "the model's favourite too!" : `ranked #${g.rank.toLocaleString()} of ${Number(document.body.dataset.vocabSize).toLocaleString()}.`;
  box.replaceChildren(
    el("strong", { text: `Your guess “${g.token.display}” is ${word}` }),
    el("span", { text: ` The model gives it ${pct(g.token.probability)}; its top choice is “${top.display}” at ${pct(top.probability)}.`
      + (g.tokens_in_guess > 1 ? ` (Your guess is ${g.tokens_in_guess} tokens; only its first, “${g.token.display}”, is ranked.)` : "") }));
  box.hidden = false;
}

const fetchPrediction = latest((signal, body) => api("/api/predict", body, { signal }));

/** Generated tokens arrive as ids and text; the server's reading of them (`tokens`, ending with
 *  the `appended` ones) adds their bytes, so a piece of an emoji can be drawn as its bytes.
 *  Returns whether a chip changed. */
function learnBytes(tokens, appended) {
  let changed = false;
  tokens.slice(tokens.length - appended).forEach((t, i) => {
    const s = steps[i];
    if (s && s.id === t.id && s.bytes === undefined) {
      Object.assign(s, { bytes: t.bytes, partial: t.partial });
      changed ||= t.partial;
    }
  });
  return changed;
}

async function refreshChart() {
  const text = chartText();
  const veiled = state.guess && !inspecting() && revealedFor !== text;
  $("guess-box").hidden = !veiled;
  $("chart").classList.toggle("veiled", veiled);
  $("lens").classList.toggle("veiled", veiled);  // its last column would give the answer away
  if (lastLens) describeLens(lastLens);
  if (!veiled && revealedFor !== text) lastGuess = null;
  if (veiled) { $("guess-result").hidden = true; $("guess-input").value = ""; }
  const body = { ...readUpTo(chartSteps()), temperature: state.temperature, top_k: state.top_k, top_p: state.top_p, n_predictions: SHOWN };
  if (!veiled && lastGuess) body.guess = lastGuess;
  const data = await fetchPrediction(body);
  if (!data) return;
  if (learnBytes(data.tokens, body.append_ids.length)) renderTrail();
  drawChart(data);
  lastShown = data;
  describeChosen(data);
  describeGuess(data);
  // Chapter 5a explains the token at the top of these bars: open it on this text, not its default.
  $("why-link").href = `/why?text=${encodeURIComponent(text)}`;
}

// --- surprise and logit lens -----------------------------------------------------------------

/** Dim a view while its data is on the way, so an old picture is never taken for the new text. */
async function whileBusy(node, promise) {
  node.classList.add("busy");
  try { return await promise; } finally { node.classList.remove("busy"); }
}

function surpriseColour(bits) {
  // 0 bits (certain) -> green, 12+ bits (one in 4096) -> red, through yellow.
  const t = Math.min(1, bits / 12);
  return `hsl(${130 - 130 * t} 70% ${88 - 6 * t}%)`;
}

const fetchSurprise = latest((signal, body) => api("/api/surprise", body, { signal }));

async function refreshSurprise() {
  const box = $("surprise");
  const data = await whileBusy(box, fetchSurprise(readUpTo(chartSteps())));
  if (!data) return;
  box.replaceChildren();
  for (const t of data.tokens) {
    const span = el("span", { text: t.text, cls: "s-tok" + (t.special ? " special" : "") });
    if (t.probability === null) {
      span.title = `“${t.display}” · the first token: nothing came before it, so there is no prediction`;
    } else {
      span.style.background = surpriseColour(t.surprisal_bits);
      span.title = `“${t.display}” · probability ${pct(t.probability)} · surprisal ${t.surprisal_bits.toFixed(1)} bits`
        + ` · the model expected “${t.expected.display}” (${pct(t.expected.probability)})`;
    }
    box.append(span);
  }
  $("surprise-summary").textContent = data.mean_surprisal_bits === null ? "Add a second token to see surprise."
    : `On average ${data.mean_surprisal_bits.toFixed(2)} bits per token: as unsure as choosing among `
      + `${Math.round(2 ** data.mean_surprisal_bits).toLocaleString()} equally likely tokens (the perplexity).`;
}

const fetchLens = latest((signal, body) => api("/api/logit-lens", { ...body, last: LENS_POSITIONS }, { signal }));

/** What the lens shows for this text, in words, computed from the response: how often the bottom
 *  row names the token being read, and from which layer the model's answer tops the rows. */
function describeLens(data) {
  const name = (t) => `“${t.display}”`;
  const bottom = data.cells[0], last = data.cells.length - 1;
  const misses = data.positions.map((p, j) => ({ read: data.tokens[p], named: bottom[j] }))
    .filter(({ read, named }) => read.id !== named.id);
  const m = data.positions.length;
  const shown = m === data.tokens.length ? `the ${m} positions` : `the ${m} positions shown`;
  const bottomText = misses.length === 0 ? `In this text it names the token being read at every one of ${shown}.`
    : `In this text it names the token being read at ${m - misses.length} of ${shown}; `
      + misses.slice(0, 3).map(({ read, named }) => `at ${name(read)} it names ${name(named)}`).join(", ")
      + (misses.length > 3 ? `, and ${misses.length - 3} more` : "") + ".";
  $("lens-bottom").textContent = bottomText;
  const j = m - 1, answer = data.cells[last][j];
  const rows = data.cells.map((row) => row[j].id === answer.id);
  const first = rows.indexOf(true);
  let from = last;
  while (from > 0 && rows[from - 1]) from -= 1;
  const where = (l) => (data.layers[l] === "embed" ? "the embedding" : data.layers[l]);
  $("lens-answer").textContent = $("lens").classList.contains("veiled") ? ""
    : `At the last position it is ${name(answer)} (${pct(answer.probability)}). `
      + (from === last ? `No earlier row has it on top${first < last ? ` for good (it tops ${where(first)} and drops off again)` : ""}.`
        : `It first tops a row at ${where(first)}${first === from ? " and stays on top from there" : ` and stays on top from ${where(from)} on`}.`);
}

async function refreshLens() {
  const data = await whileBusy($("lens"), fetchLens(readUpTo(chartSteps())));
  if (!data) return;
  lastLens = data;
  describeLens(data);
  const short = (s) => plotText(s.length > 9 ? s.slice(0, 8) + "…" : s);
  const z = data.cells.map((row) => row.map((c) => c.probability));
  const text = data.cells.map((row) => row.map((c) => short(c.display)));
  const custom = data.cells.map((row, l) => row.map((c, j) => [data.layers[l], plotText(data.tokens[data.positions[j]].display),
    plotText(c.display), pct(c.probability), c.target_probability === null ? "nothing (last token)" : pct(c.target_probability),
    data.positions[j] + 1 < data.tokens.length ? plotText(data.tokens[data.positions[j] + 1].display) : "?"]));
  const x = data.positions;
  Plotly.react("lens", [{
    type: "heatmap", z, x, y: data.layers.map((_, i) => i), text, texttemplate: "%{text}", textfont: { size: 10 },
    customdata: custom, colorscale: [[0, "#f4f5fb"], [0.5, "#8f9be0"], [1, "#27318f"]], zmin: 0, zmax: 1,
    colorbar: { title: { text: "probability" }, tickformat: ".0%", thickness: 12 }, xgap: 1, ygap: 1,
    hovertemplate: "<b>%{customdata[0]}</b>, reading “%{customdata[1]}”<br>predicts “%{customdata[2]}” (%{customdata[3]})"
      + "<br>the actual next token “%{customdata[5]}”: %{customdata[4]}<extra></extra>",
  }], plotLayout({
    height: 820, margin: { l: 70, r: 20, t: 10, b: 70 },
    xaxis: { tickvals: x, ticktext: x.map((p) => short(data.tokens[p].display)), tickangle: -30, side: "bottom",
      title: { text: "reading this token (position in the text)" }, tickfont: { family: "ui-monospace, DejaVu Sans Mono, monospace" } },
    yaxis: { tickvals: data.layers.map((_, i) => i), ticktext: data.layers, title: { text: "" }, dtick: 1 },
  }), plotConfig);
}

// --- actions ---------------------------------------------------------------------------------

async function generate(n, greedy) {
  setBusy(true);
  try {
    const data = await api("/api/generate", { ...readUpTo(steps.length), max_new_tokens: n,
      temperature: greedy ? 0 : state.temperature, top_k: state.top_k, top_p: state.top_p,
      seed: state.seed + Math.max(drawn, steps.length), alternatives: 0 });
    drawn = Math.max(drawn, steps.length) + data.generated.length;
    steps.push(...data.generated.map(({ id, text, display, special }) => ({ id, text, display, special })));
    state.at = -1;
    await update();
    if (data.stop_reason === "stop_token") $("status").textContent = "The model ended the text with an end token.";
  } catch (error) {
    showError($("error"), error);
  } finally {
    setBusy(false);
  }
}

function setBusy(busy) {
  for (const id of ["greedy", "sample", "sample10"]) $(id).disabled = busy;
  $("status").textContent = busy ? "The model is writing…" : "";
}

function appendChosen(point) {
  if (!lastShown) return;
  const p = lastShown.predictions[point.pointIndex];
  if (!p) return;
  // Clicking while inspecting an earlier step rewrites history from there: "what if it had chosen this?"
  steps = steps.slice(0, inspecting() ? state.at : steps.length);
  steps.push({ id: p.id, text: p.text, display: p.display, special: false });
  state.at = -1;
  update();
}

async function update() {
  save();
  renderTrail();
  showError($("error"), null);
  $("chart").classList.add("busy");
  try {
    await refreshChart();
    await Promise.all([refreshSurprise(), refreshLens()]);
  } catch (error) {
    showError($("error"), error);
  } finally {
    $("chart").classList.remove("busy");
  }
}

function bindControls() {
  const prompt = $("prompt");
  prompt.value = state.text;
  const onType = debounce(() => {
    if (prompt.value === state.text) return;
    state.text = prompt.value; steps = []; state.at = -1; update();
  }, 350);
  prompt.addEventListener("input", onType);
  for (const example of EXAMPLES) {
    const b = el("button", { text: example.replace("\n", " ⏎ "), attrs: { type: "button" } });
    b.addEventListener("click", () => { prompt.value = state.text = example; steps = []; state.at = -1; update(); });
    $("examples").append(b);
  }
  const ranges = { temperature: (v) => (v === 0 ? "0 (greedy)" : v.toFixed(2)), top_k: (v) => (v === 0 ? "off" : String(v)),
    top_p: (v) => (v >= 1 ? "1 (off)" : v.toFixed(2)) };
  const redraw = debounce(() => refreshChart().catch((e) => showError($("error"), e)), 120);
  for (const [name, format] of Object.entries(ranges)) {
    const input = $(name), out = $(`${name}-out`);
    input.value = state[name];
    out.textContent = format(state[name]);
    input.addEventListener("input", () => {
      state[name] = Number(input.value);
      out.textContent = format(state[name]);
      save();
      redraw();
    });
  }
  const seed = $("seed");
  seed.value = state.seed;
  seed.addEventListener("change", () => {
    const v = Math.trunc(Number(seed.value));
    state.seed = Number.isFinite(v) && v >= 0 ? v : DEFAULTS.seed;
    seed.value = state.seed;
    save();
  });
  $("greedy").addEventListener("click", () => generate(1, true));
  $("sample").addEventListener("click", () => generate(1, false));
  $("sample10").addEventListener("click", () => generate(10, false));
  $("undo").addEventListener("click", () => { steps.pop(); state.at = -1; update(); });
  $("clear").addEventListener("click", () => { steps = []; drawn = 0; state.at = -1; update(); });
  const mode = $("guess-mode");
  mode.checked = state.guess;
  mode.addEventListener("change", () => { state.guess = mode.checked; revealedFor = null; lastGuess = null; update(); });
  $("guess-form").addEventListener("submit", (event) => {
    event.preventDefault();
    let guess = $("guess-input").value;
    if (!guess.trim()) { $("guess-input").focus(); return; }
    const text = chartText();
    if (!/\s$/.test(text) && !/^\s/.test(guess)) guess = " " + guess;
    lastGuess = guess;
    revealedFor = text;
    refreshChart().catch((e) => showError($("error"), e));
  });
  $("guess-skip").addEventListener("click", () => { lastGuess = null; revealedFor = chartText(); refreshChart().catch((e) => showError($("error"), e)); });
}

async function main() {
  bindControls();
  await restoreSteps();
  if (state.at >= steps.length) state.at = -1;
  await update();
}

main();
