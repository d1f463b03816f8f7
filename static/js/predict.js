// Chapter 5: the next-token distribution, sampling controls, step-by-step generation,
// "guess first", surprise over the text and the logit lens. State lives in the URL:
// the prompt, the generated token ids (`steps`), the step being inspected (`at`) and the settings.
import { $, api, readState, writeState, debounce, el, showError, tokenChip, tokenLabel } from "./api.js";
import { plainTokenLabel } from "./kit/chips.js";
import { plotText } from "./kit/dom.js";
import { drawHeatmap } from "./kit/heatmap.js";
import { apiFirst } from "./kit/first.js";
import { loader, markFailed } from "./kit/load.js";
import { model } from "./kit/model.js";
import { isNarrow, isTouch, plotConfig, plotLayout, plotly } from "./kit/plotly.js";

const DEFAULTS = { text: "The capital of France is", steps: "", at: -1, temperature: 1, top_k: 10, top_p: 1,
  seed: 42, guess: false };
const EXAMPLES = ["The capital of France is", "Once upon a time, there was a", "1, 2, 3, 4,",
  "The opposite of hot is", "My favourite food is", "def add(a, b):\n    return"];
const SHOWN = 20;            // bars in the chart
// Columns of the logit-lens heatmap: on a phone fewer, so every column, the last (the model's answer)
// included, and the colour bar fit the screen with their names readable.
const lensPositions = () => (isNarrow($("lens")) ? 6 : 12);
const ACCENT = "#4453c7", BLOCKED = "#c9cbd6", WARM = "#d9682b";

const state = readState(DEFAULTS);
const tapOrClick = isTouch ? "tap" : "click";  // a touch screen has no hover and no mouse
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
    const chip = tokenChip(s, { tag: "button", cls: "step" + (i === state.at ? " selected" : ""),
      title: `Generated token ${i + 1} · id ${s.id}` + (s.partial ? " · a piece of a character, shown as its bytes" : "")
        + ` · ${tapOrClick} to see what else could have come here`,
      attrs: { type: "button", "aria-pressed": String(i === state.at) } });
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

/** A token as a bar label or hover: hex bytes for a piece of a character, never "\uFFFD" (escaped for Plotly). */
const barLabel = (p) => plotText(plainTokenLabel(p));

function drawChart(Plotly, data) {
  const preds = data.predictions;
  const chosen = inspecting() ? steps[state.at].id : null;
  const guessed = data.guess ? data.guess.token.id : null;
  const colour = (p) => (p.id === guessed ? WARM : p.allowed ? ACCENT : BLOCKED);
  const narrow = isNarrow($("chart"));
  const trace = {
    type: "bar", orientation: "h", x: preds.map((p) => p.probability), y: preds.map((_, i) => i),
    text: preds.map((p) => pct(p.probability)), textposition: "outside", cliponaxis: false, textfont: { size: narrow ? 11 : 13 },
    marker: { color: preds.map(colour), line: { color: preds.map((p) => (p.id === chosen ? "#1d2130" : "rgba(0,0,0,0)")), width: 3 } },
    customdata: preds.map((p) => [barLabel(p), p.id, p.logit.toFixed(2), chance(p.sample_probability), p.allowed ? "can be drawn" : "ruled out"]),
    hovertemplate: "<b>%{customdata[0]}</b> (id %{customdata[1]})<br>probability %{text} · logit %{customdata[2]}"
      + "<br>%{customdata[4]}: chance to be drawn %{customdata[3]}<extra></extra>",
  };
  // On a phone a long token is cut short on its axis (whole in the hover and the list below), so the
  // bars keep their width.
  const cut = (label) => (narrow && label.length > 7 ? label.slice(0, 6) + "…" : label);
  const ticks = preds.map((p) => (p.id === chosen ? "▶ " : "") + plotText(cut(plainTokenLabel(p))));
  Plotly.react("chart", [trace], plotLayout({
    height: 40 + preds.length * 24, margin: narrow ? { l: 4, r: 34, t: 10, b: 40 } : { l: 120, r: 50, t: 10, b: 40 }, bargap: 0.25,
    xaxis: { title: { text: "probability" }, tickformat: ".0%", rangemode: "tozero", range: [0, Math.max(...trace.x) * 1.15] },
    yaxis: { tickvals: trace.y, ticktext: ticks, autorange: "reversed", automargin: narrow,
      tickfont: { family: "ui-monospace, DejaVu Sans Mono, monospace", size: narrow ? 11 : 13 } },
  }), plotConfig);
  const chart = $("chart");
  if (!chart.dataset.clickBound) {  // Plotly's event API exists once the first plot is drawn
    chart.on("plotly_click", (event) => { if (event.points && event.points[0]) appendChosen(event.points[0].pointIndex); });
    chart.dataset.clickBound = "1";
  }
  // The bars as a list: what a screen reader reads, and the keyboard's way to append a token.
  $("chart-list").replaceChildren(...preds.map((p, i) => {
    const button = el("button", { cls: "secondary small", attrs: { type: "button" },
      text: `Append “${plainTokenLabel(p)}”` });
    button.addEventListener("click", () => appendChosen(i));
    // What a bar's hover says, for a touch screen (where a tap appends) and a screen reader.
    return el("li", {}, [button, ` ${pct(p.probability)} · logit ${p.logit.toFixed(2)} · `
      + (p.allowed ? `chance to be drawn ${chance(p.sample_probability)}` : "ruled out") + (p.id === chosen ? " (chosen here)" : "")]);
  }));
  $("chart-text").textContent = `The ${preds.length} most probable next tokens: `
    + preds.slice(0, 3).map((p) => `“${plainTokenLabel(p)}” ${pct(p.probability)}`).join(", ") + ", …";
  const draw = data.draw;
  document.querySelector('[data-stat="allowed"]').textContent = draw.allowed_count.toLocaleString();
  document.querySelector('[data-stat="mass"]').textContent =
    draw.allowed_count === model.vocab_size ? "100%" : pct(draw.allowed_mass);
  document.querySelector('[data-stat="entropy"]').textContent = draw.entropy_bits.toFixed(2);
}

function describeChosen(data) {
  const title = $("chart-title");
  if (!inspecting()) { title.textContent = "Next token"; return; }
  const s = steps[state.at];
  const rank = data.predictions.findIndex((p) => p.id === s.id);
  title.textContent = `Step ${state.at + 1}: what could have come instead of “${plainTokenLabel(s)}”`
    + (rank >= 0 ? ` (its rank: #${rank + 1})` : " (not among the top 20)");
}

function describeGuess(data) {
  const box = $("guess-result");
  if (!data.guess) { box.hidden = true; return; }
  const g = data.guess;
  const top = data.predictions[0];
  const word = g.rank === 1 ? "the model's favourite too!" : `ranked #${g.rank.toLocaleString()} of ${model.vocab_size.toLocaleString()}.`;
  box.replaceChildren(
    el("strong", { text: `Your guess “${plainTokenLabel(g.token)}” is ${word}` }),
    el("span", { text: ` The model gives it ${pct(g.token.probability)}; its top choice is “${plainTokenLabel(top)}” at ${pct(top.probability)}.`
      + (g.tokens_in_guess > 1 ? ` (Your guess is ${g.tokens_in_guess} tokens; only its first, “${plainTokenLabel(g.token)}”, is ranked.)` : "") }));
  box.hidden = false;
}

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

// The views that describe the text's distribution; a failed request hides them with the error (the
// surprise and the lens too, which are only asked for once the chart's request has succeeded).
const CHART_VIEWS = ["chart", "chart-more", "stats", "guess-result"];
const SURPRISE_VIEWS = ["surprise", "surprise-summary", "surprise-inspector"];
const LENS_VIEWS = ["lens", "lens-bottom", "lens-answer"];

// The GET twin's query for a request it can say (no generated steps, no guess): the first chart is the
// server's preload of it when it named this state (kit/first.js).
const chartQuery = (body) => (body.append_ids.length || body.guess ? null : { text: body.text,
  temperature: body.temperature, top_k: body.top_k, top_p: body.top_p, n_predictions: body.n_predictions });
const loadChart = loader({
  run: (signal, body) => apiFirst("/api/predict", chartQuery(body), body, { signal }),
  draw: async (data, body) => {
    if (learnBytes(data.tokens, body.append_ids.length)) renderTrail();
    drawChart(await plotly(), data);
    lastShown = data;
    describeChosen(data);
    describeGuess(data);
    // Chapter 5a explains the token at the top of these bars: open it on this text, not its default.
    $("why-link").href = `/why?text=${encodeURIComponent(chartText())}`;
  },
  views: CHART_VIEWS, error: "error", charts: true,
  onError: () => { lastShown = null; markFailed([...SURPRISE_VIEWS, ...LENS_VIEWS]); },
});

/** Draw the distribution for the text up to the step inspected; resolves to the answer, or undefined
 *  when it failed or a newer one replaced it. */
function refreshChart() {
  const text = chartText();
  const veiled = state.guess && !inspecting() && revealedFor !== text;
  $("guess-box").hidden = !veiled;
  $("chart").classList.toggle("veiled", veiled);
  $("chart-more").hidden = veiled;  // the list would give the answer away, as would the lens's last column
  $("lens").classList.toggle("veiled", veiled);
  if (lastLens) { describeLens(lastLens); $("lens-text").textContent = lensCaption(lastLens); }
  if (!veiled && revealedFor !== text) lastGuess = null;
  if (veiled) { $("guess-result").hidden = true; $("guess-input").value = ""; }
  const body = { ...readUpTo(chartSteps()), temperature: state.temperature, top_k: state.top_k, top_p: state.top_p, n_predictions: SHOWN };
  if (!veiled && lastGuess) body.guess = lastGuess;
  return loadChart(body);
}

// --- surprise and logit lens -----------------------------------------------------------------

function surpriseColour(bits) {
  // 0 bits (certain) -> green, 12+ bits (one in 4096) -> red, through yellow.
  const t = Math.min(1, bits / 12);
  return `hsl(${130 - 130 * t} 70% ${88 - 6 * t}%)`;
}

const loadSurprise = loader({
  run: (signal, body) => api("/api/surprise", body, { signal }),
  draw: drawSurprise, views: SURPRISE_VIEWS, error: "surprise-error",
});

function drawSurprise(data) {
  const box = $("surprise");
  const inspector = $("surprise-inspector");
  inspector.textContent = inspector.dataset.hint;
  box.replaceChildren();
  for (const t of data.tokens) {
    // The text as written; a piece of a character (no glyph of its own) as its hex bytes, never "\uFFFD".
    const span = el("span", { cls: "s-tok" + (t.special ? " special" : "") + (t.partial ? " partial" : ""),
      attrs: { tabindex: "0" } }, t.partial ? tokenLabel(t) : [t.text]);
    const name = `“${plainTokenLabel(t)}”`;
    if (t.probability === null) {
      span.title = `${name} · the first token: nothing came before it, so there is no prediction`;
    } else {
      span.style.background = surpriseColour(t.surprisal_bits);
      span.title = `${name} · probability ${pct(t.probability)} · surprisal ${t.surprisal_bits.toFixed(1)} bits`
        + ` · the model expected “${plainTokenLabel(t.expected)}” (${pct(t.expected.probability)})`;
    }
    // A tooltip needs a mouse: a tap, the keyboard's focus and the pointer all show it below the text too.
    const show = () => { inspector.textContent = span.title; };
    for (const type of ["mouseenter", "focus", "click"]) span.addEventListener(type, show);
    box.append(span);
  }
  $("surprise-summary").textContent = data.mean_surprisal_bits === null ? "Add a second token to see surprise."
    : `On average ${data.mean_surprisal_bits.toFixed(2)} bits per token: as unsure as choosing among `
      + `${Math.round(2 ** data.mean_surprisal_bits).toLocaleString()} equally likely tokens (the perplexity).`;
}

const loadLens = loader({
  run: (signal, body) => api("/api/logit-lens", { ...body, last: lensPositions() }, { signal }),
  draw: (data) => drawLens(data), views: LENS_VIEWS, error: "lens-error", charts: true,
});

/** What the lens shows for this text, in words, computed from the response: how often the bottom
 *  row names the token being read, and from which layer the model's answer tops the rows. */
function describeLens(data) {
  const name = (t) => `“${plainTokenLabel(t)}”`;
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

function drawLens(data) {
  lastLens = data;
  describeLens(data);
  const narrow = isNarrow($("lens"));
  const cut = narrow ? 5 : 9;
  const short = (t) => { const s = plainTokenLabel(t); return s.length > cut ? s.slice(0, cut - 1) + "…" : s; };
  // The kit draws row 0 at the top; the lens reads upwards, the embedding at the bottom: rows reversed.
  const rows = data.cells.map((row, l) => ({ row, l })).reverse();
  const reading = (j) => data.tokens[data.positions[j]];
  const following = (j) => data.tokens[data.positions[j] + 1];
  return drawHeatmap($("lens"), {
    z: rows.map(({ row }) => row.map((c) => c.probability)),
    // On a phone "L29" / "emb" instead of "layer 29" / "embed": the room goes to the columns.
    x: data.positions.map((p) => short(data.tokens[p])),
    y: rows.map(({ l }) => (narrow ? data.layers[l].replace(/^layer /, "L").replace(/^embed$/, "emb") : data.layers[l])),
    cellText: rows.map(({ row }) => row.map(short)),
    colorscale: [[0, "#f4f5fb"], [0.5, "#8f9be0"], [1, "#27318f"]], zmin: 0, zmax: 1,
    colorbar: { title: narrow ? "" : "probability", tickformat: ".0%" }, gaps: true, height: narrow ? 720 : 820,
    xTitle: "reading this token (position in the text)", label: "Logit lens: the token each layer predicts",
    hover: (i, j) => {
      const { row, l } = rows[i];
      const c = row[j];
      const next = following(j);
      return `${data.layers[l]}, reading “${plainTokenLabel(reading(j))}”\npredicts “${plainTokenLabel(c)}” (${pct(c.probability)})`
        + `\nthe actual next token “${next ? plainTokenLabel(next) : "?"}”: `
        + (c.target_probability === null ? "nothing (last token)" : pct(c.target_probability));
    },
    caption: "lens-text",
    describe: () => lensCaption(data),
  });
}

const isVeiled = () => $("lens").classList.contains("veiled");

/** The lens in words for a screen reader (#lens-text): what the notes beside it say of this text. */
const lensCaption = (data) => (isVeiled() ? "Hidden until you guess."
  : `Rows: the embedding and the ${data.layers.length - 1} layers; columns: the last ${data.positions.length} tokens read. `
    + `${$("lens-bottom").textContent} ${$("lens-answer").textContent}`);

// --- actions ---------------------------------------------------------------------------------

async function generate(n, greedy) {
  setBusy(true);
  try {
    const data = await api("/api/generate", { ...readUpTo(steps.length), max_new_tokens: n,
      temperature: greedy ? 0 : state.temperature, top_k: state.top_k, top_p: state.top_p,
      seed: state.seed + Math.max(drawn, steps.length), alternatives: 0 });
    drawn = Math.max(drawn, steps.length) + data.generated.length;
    steps.push(...data.generated.map(({ id, text, display, special, bytes, partial }) => ({ id, text, display, special, bytes, partial })));
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

/** Append the token of bar `index` (a click or tap on the bar, or its button in the list). */
function appendChosen(index) {
  if (!lastShown) return;
  const p = lastShown.predictions[index];
  if (!p) return;
  // Clicking while inspecting an earlier step rewrites history from there: "what if it had chosen this?"
  steps = steps.slice(0, inspecting() ? state.at : steps.length);
  steps.push({ id: p.id, text: p.text, display: p.display, special: false, bytes: p.bytes, partial: p.partial });
  state.at = -1;
  update();
}

/** The surprise and the lens of the text up to the step inspected (each its own request and error). */
function refreshBelow() {
  const body = readUpTo(chartSteps());
  return Promise.all([loadSurprise(body), loadLens(body)]);
}

async function update() {
  save();
  renderTrail();
  // The chart first: when the text is refused (too long, busy) there is no point asking twice more,
  // and loadChart's onError has hidden the surprise and the lens of the earlier text.
  if (await refreshChart()) await refreshBelow();
}

/** After a setting or a guess: the chart again, and below it what a failure had hidden. */
async function redrawChart() {
  if (await refreshChart() && $("lens").classList.contains("failed")) await refreshBelow();
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
  const redraw = debounce(redrawChart, 120);
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
    redrawChart();
  });
  $("guess-skip").addEventListener("click", () => { lastGuess = null; revealedFor = chartText(); redrawChart(); });
}

async function main() {
  bindControls();
  await restoreSteps();
  if (state.at >= steps.length) state.at = -1;
  await update();
}

main();
