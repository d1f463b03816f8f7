// Chapter 5a: why this token? The target's logit split into the parts that wrote it (every head,
// every MLP, the embedding), checked by switching the strongest parts off, and each input token's
// saliency drawn on the token chips. Two requests: the direct parts first (quick), the saliency
// when it arrives (many forward and backward passes). State lives in the URL.
import { $, api, debounce, el, latest, plotConfig, plotLayout, plotText, readState, showError, tokenChips,
  writeState } from "./api.js";

const DEFAULTS = { text: "The capital of France is", mode: "text", target: -1, contrast: -1, method: "ig" };
const EXAMPLES = {
  text: ["The capital of France is", "The Eiffel Tower is in the city of", "1, 2, 3, 4,", "The opposite of hot is"],
  chat: ["What is the capital of France?", "Name a colour of the sky.", "What is 2 + 2?"],
};
const UP = "#c8372d", DOWN = "#2f5fc4";
const WATERFALL_PARTS = 10;

const state = readState(DEFAULTS);
let last = null;          // the direct answer drawn
let lastSaliency = null;  // its saliency, when it has arrived

const fmt = (v, digits = 2) => (v >= 0 ? "+" : "−") + Math.abs(v).toFixed(digits);
const pct = (p) => (p >= 0.1 ? (100 * p).toFixed(0) : p >= 0.001 ? (100 * p).toFixed(1) : (100 * p).toPrecision(2)) + "%";
const shown = (t) => `“${t.display}”`;
const partName = (p) => (p.kind === "mlp" ? `MLP ${p.layer}` : `L${p.layer}H${p.head}`);

function request(extra) {
  const body = state.mode === "chat" ? { messages: [{ role: "user", content: state.text }] } : { text: state.text };
  if (state.target >= 0) body.target = state.target;
  if (state.contrast >= 0) body.contrast = state.contrast;
  return { ...body, ...extra };
}

function save() { writeState(state, DEFAULTS); }

// --- the direct parts --------------------------------------------------------------------------

function drawPick(body) {
  const targets = $("targets");
  targets.replaceChildren();
  const candidates = [...body.top];
  if (!candidates.some((t) => t.id === body.target.id)) candidates.push(body.target);
  for (const t of candidates) {
    const b = el("button", { cls: "target" + (t.id === body.target.id ? " picked" : ""), attrs: { type: "button",
      "aria-pressed": String(t.id === body.target.id) }, title: `p = ${pct(t.probability)}, logit ${t.logit.toFixed(2)}` },
    [el("span", { cls: "tt", text: t.display }), el("span", { cls: "tp", text: pct(t.probability) })]);
    b.addEventListener("click", () => { state.target = t.id; if (state.contrast === t.id) state.contrast = -1; refresh(); });
    targets.append(b);
  }
  const select = $("contrast");
  select.replaceChildren(el("option", { text: "nothing (its logit alone)", attrs: { value: "" } }));
  const options = [...body.top];
  if (body.contrast && !options.some((t) => t.id === body.contrast.id)) options.push(body.contrast);
  for (const t of options) {
    if (t.id === body.target.id) continue;
    select.append(el("option", { text: `${t.display}  (${pct(t.probability)})`, attrs: { value: String(t.id) } }));
  }
  select.value = body.contrast ? String(body.contrast.id) : "";
}

function drawSum(body) {
  $("sum-panel").hidden = false;
  const what = body.contrast ? `logit(${shown(body.target)}) − logit(${shown(body.contrast)})`
    : `logit(${shown(body.target)})`;
  const nParts = 1 + body.parts.heads.length * body.parts.heads[0].length + body.parts.mlps.length;
  $("sum").replaceChildren(
    el("strong", { text: `${what} = ${body.total.toFixed(3)}` }),
    ` = the sum of ${nParts} parts (${body.parts_sum.toFixed(3)}): the embedding ${fmt(body.parts.embedding)}, ` +
    `${body.parts.heads.length * body.parts.heads[0].length} heads ${fmt(sum(body.parts.heads.flat()))}, ` +
    `${body.parts.mlps.length} MLPs ${fmt(sum(body.parts.mlps))}.`);
  $("scale-note").textContent = `The final RMSNorm divides the last vector by its root mean square (its length ` +
    `divided by the square root of its number of dimensions) and multiplies it by learned weights before ` +
    `the unembedding; here that is a factor of ${body.scale.toPrecision(3)}, frozen at this value so that the parts add up. ` +
    `Probability of ${shown(body.target)}: ${pct(body.target.probability)}.`;
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

function drawGrid(body) {
  const heads = body.parts.heads, mlps = body.parts.mlps;
  const nHeads = heads[0].length;
  const z = heads.map((row, l) => [...row, null, mlps[l]]);
  const x = [...Array(nHeads).keys()].map((h) => `H${h}`).concat([" ", "MLP"]);
  const y = heads.map((_, l) => `L${l}`);
  const text = heads.map((row, l) => [...row.map((v, h) => `layer ${l} head ${h}: ${fmt(v, 3)}`), "",
    `layer ${l} MLP: ${fmt(mlps[l], 3)}`]);
  const limit = Math.max(1e-6, ...z.flat().filter((v) => v !== null).map(Math.abs));
  const node = $("grid");
  window.Plotly.react(node, [{
    type: "heatmap", z, x, y, text, hoverinfo: "text", zmid: 0, zmin: -limit, zmax: limit, xgap: 1, ygap: 1,
    colorscale: [[0, DOWN], [0.5, "#f7f7f7"], [1, UP]], colorbar: { thickness: 10, len: 0.8 },
  }], plotLayout({ height: 560, margin: { l: 40, r: 10, t: 10, b: 30 }, yaxis: { autorange: "reversed", tickfont: { size: 10 } },
    xaxis: { side: "bottom", tickfont: { size: 10 } } }), plotConfig);
}

function topParts(body, k) {
  const parts = [{ name: "embedding", v: body.parts.embedding }];
  body.parts.heads.forEach((row, l) => row.forEach((v, h) => parts.push({ name: `L${l}H${h}`, v })));
  body.parts.mlps.forEach((v, l) => parts.push({ name: `MLP ${l}`, v }));
  parts.sort((a, b) => Math.abs(b.v) - Math.abs(a.v));
  const top = parts.slice(0, k), rest = parts.slice(k);
  return { top, rest: sum(rest.map((p) => p.v)), restCount: rest.length };
}

function drawWaterfall(body) {
  const { top, rest, restCount } = topParts(body, WATERFALL_PARTS);
  const names = top.map((p) => p.name).concat([`${restCount} others`, "total"]);
  const values = top.map((p) => p.v).concat([rest, body.total]);
  const measure = top.map(() => "relative").concat(["relative", "total"]);
  window.Plotly.react($("waterfall"), [{
    type: "waterfall", orientation: "h", y: names, x: values, measure,
    text: values.map((v, i) => (measure[i] === "total" ? v.toFixed(2) : fmt(v))), textposition: "outside",
    hoverinfo: "y+text", cliponaxis: false,
    increasing: { marker: { color: UP } }, decreasing: { marker: { color: DOWN } }, totals: { marker: { color: "#1d2130" } },
    connector: { line: { color: "#9aa0ae", width: 1 } },
  }], plotLayout({ height: 420, margin: { l: 80, r: 50, t: 10, b: 30 }, yaxis: { autorange: "reversed" },
    xaxis: { zeroline: true, title: { text: "score" } } }), plotConfig);
}

function drawCheck(body) {
  const check = body.check;
  $("check-panel").hidden = !check;
  if (!check) return;
  $("check-parts").textContent = `The attribution's ${check.parts.length} strongest pushers: ` +
    check.parts.map((p) => `${partName(p)} (${fmt(p.contribution)})`).join(", ") +
    ". Switch them off (their output set to zero at every position) and run the model again:";
  for (const key of ["predicted", "norm_only", "actual"]) {
    document.querySelector(`[data-check="${key}"]`).textContent = fmt(check[key]);
  }
  $("check-prob").textContent = `Probability of ${shown(body.target)}: ${pct(check.probability_before)} → ` +
    `${pct(check.probability_after)}; the most probable next token is then ${shown(check.top_after)} ` +
    `(${pct(check.top_after.probability)}).`;
  const normGap = check.norm_only - check.predicted, reactGap = check.actual - check.norm_only;
  $("check-why").textContent = `Why they differ: the attribution freezes the final norm's factor; recomputing it ` +
    `alone moves the change by ${fmt(normGap)}. The rest, ${fmt(reactGap)}, is the later layers reacting: with ` +
    `these parts gone they read a different residual stream and write something else, which can make up for ` +
    `the loss or add to it. So a part's number is its direct push, not what the model loses without it.`;
}

function drawCaveats(body) {
  const all = [body.parts.embedding, ...body.parts.heads.flat(), ...body.parts.mlps];
  const negative = all.filter((v) => v < 0);
  const positive = all.filter((v) => v > 0);
  $("cav-negative").replaceChildren(`Here ${negative.length} of ${all.length} parts push `, el("strong", { text: "down" }),
    ` (together ${fmt(sum(negative))}) and ${positive.length} push up (${fmt(sum(positive))}); the score,`,
    ` ${body.total.toFixed(2)}, is what is left after large pushes both ways.`);
  $("cav-frozen").replaceChildren("The parts add up only because the final norm's factor is ",
    el("strong", { text: "frozen" }), ` (at ${body.scale.toPrecision(3)} for this token). Take a part away and the ` +
    "factor changes too.");
  if (body.check) {
    $("cav-cause").replaceChildren("A large part is ", el("strong", { text: "not a cause" }), " on its own: it is the " +
      `last step of a chain. The ${body.check.parts.length} strongest parts predict a change of ` +
      `${fmt(body.check.predicted)}, but switching them off changes the score by ${fmt(body.check.actual)}, because ` +
      "the final norm and the later layers react.");
  }
}

function drawDirect(body) {
  last = body;
  drawPick(body);
  drawSum(body);
  drawGrid(body);
  drawWaterfall(body);
  drawCheck(body);
  drawCaveats(body);
  tokenChips($("sal-tokens"), body.tokens);
}

// --- saliency on the token chips ----------------------------------------------------------------

function drawSaliency() {
  const body = last, s = lastSaliency;
  if (!body || !s) return;
  const values = state.method === "gxi" ? s.gradient_x_input : s.integrated_gradients;
  const limit = Math.max(1e-9, ...values.map(Math.abs));
  tokenChips($("sal-tokens"), body.tokens);
  [...$("sal-tokens").children].forEach((chip, i) => {
    const v = values[i], a = Math.min(1, Math.abs(v) / limit);
    chip.style.background = v >= 0 ? `rgba(200, 55, 45, ${0.08 + 0.8 * a})` : `rgba(47, 95, 196, ${0.08 + 0.8 * a})`;
    chip.style.color = a > 0.55 ? "#fff" : "";
    chip.classList.add("sal");
    chip.title = `#${i} · ${fmt(v, 3)}`;
    chip.append(el("span", { cls: "sal-v", text: fmt(v, 1) }));
  });
  const gap = s.f_input - s.f_baseline;
  const ok = Math.abs(s.completeness - 1) <= 0.05;
  $("baseline-name").textContent = s.baseline;
  $("baseline-gap").textContent = `here the baseline already scores ${s.f_baseline.toFixed(2)} of your input's ` +
    `${s.f_input.toFixed(2)}: the shares split only that change`;
  $("completeness").replaceChildren(`Completeness: the ${body.tokens.length} shares add up to `,
    el("strong", { text: sum(s.integrated_gradients).toFixed(3) }),
    `; the score moved by ${gap.toFixed(3)} from the baseline (${s.f_baseline.toFixed(2)}) to your input ` +
    `(${s.f_input.toFixed(2)}), so the ratio is `, el("strong", { text: s.completeness.toFixed(3) }),
    ` with ${s.steps} steps` + (ok ? " (within 5% of 1)." : " (more than 5% off 1: the path is bumpy here; the shares are rough)."));
}

// --- requests ---------------------------------------------------------------------------------------

const fetchDirect = latest((signal) => api("/api/attribution", request({ saliency: false }), { signal }));
const fetchSaliency = latest((signal) => api("/api/attribution", request({ check_parts: 0 }), { signal }));

async function refresh() {
  save();
  showError($("error"), null);
  fetchSaliency.cancel();
  lastSaliency = null;
  $("status").textContent = "Taking the score apart…";
  $("sal-status").textContent = "";
  try {
    const body = await fetchDirect();
    if (!body) return;
    drawDirect(body);
    $("status").textContent = "";
    $("sal-status").textContent = "Computing gradients along the path (a few seconds)…";
    const withSaliency = await fetchSaliency();
    if (!withSaliency) return;
    lastSaliency = withSaliency.saliency;
    $("sal-status").textContent = "";
    drawSaliency();
  } catch (error) {
    $("status").textContent = "";
    $("sal-status").textContent = "";
    showError($("error"), error);
  }
}

function setMode(mode) {
  state.mode = mode;
  $("prompt-label").textContent = mode === "chat" ? "Your message (the model answers as the assistant)" : "Your text";
  const examples = $("examples");
  examples.replaceChildren();
  for (const example of EXAMPLES[mode]) {
    const b = el("button", { text: example, attrs: { type: "button" } });
    b.addEventListener("click", () => { $("prompt").value = state.text = example; state.target = state.contrast = -1; refresh(); });
    examples.append(b);
  }
}

function bind() {
  const prompt = $("prompt");
  prompt.value = state.text;
  setMode(state.mode);
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.checked = radio.value === state.mode;
    radio.addEventListener("change", () => {
      if (!radio.checked) return;
      setMode(radio.value);
      if (radio.value === "chat" && state.text === DEFAULTS.text) prompt.value = state.text = EXAMPLES.chat[0];
      if (radio.value === "text" && state.text === EXAMPLES.chat[0]) prompt.value = state.text = DEFAULTS.text;
      state.target = state.contrast = -1;
      refresh();
    });
  }
  prompt.addEventListener("input", debounce(() => {
    if (prompt.value === state.text || !prompt.value.trim()) return;
    state.text = prompt.value; state.target = state.contrast = -1; refresh();
  }, 500));
  $("contrast").addEventListener("change", (e) => { state.contrast = e.target.value === "" ? -1 : Number(e.target.value); refresh(); });
  for (const radio of document.querySelectorAll('input[name="method"]')) {
    radio.checked = radio.value === state.method;
    radio.addEventListener("change", () => { if (radio.checked) { state.method = radio.value; save(); drawSaliency(); } });
  }
}

bind();
refresh();
