// Chapter 4, attention. State lives in the URL (text, layer, head, ...); every picture is
// drawn from the JSON API: /api/attention (one head, exact), /api/attention/all (every head,
// compact), /api/attention/senses (same word, different meaning: attention/senses.js), /api/predict (ablation).

import { $, api, debounce, el, readState, tokenChips, writeState } from "./api.js";
import { drawAblation, drawOffList, formatOff, offToRequest, parseOff } from "./attention/ablate.js";
import { decodeAllHeads } from "./attention/compact.js";
import { drawGqa, drawOverlap } from "./attention/gqa.js";
import { HeadGrid } from "./attention/grid.js";
import { drawAttentionHeatmap } from "./attention/heatmap.js";
import { drawProbe, drawProbeDefinitions, drawWorth, HeadRoles, probePath, ROLE_MARKS, ROLE_NAMES, roleFacts } from "./attention/roles.js";
import { drawLines } from "./attention/lines.js";
import { initSenses, SENSES_DEFAULTS } from "./attention/senses.js";
import { plainTokenLabel } from "./kit/chips.js";
import { apiFirst } from "./kit/first.js";
import { loader } from "./kit/load.js";
import { model } from "./kit/model.js";
import { isTouch } from "./kit/plotly.js";

const EXAMPLES = [
  "The capital of France is Paris. The capital of Italy is",
  "I sat on the river bank and watched the water. Later I paid the money into the bank.",
  "When Mary and John went to the shop, John gave a drink to",
  "1 2 3 4 5 6 1 2 3 4 5 6 1 2 3",
];
const DEFAULTS = {
  text: EXAMPLES[0], layer: 2, head: 1, avg: false, q: -1, off: "", probe: false, seq: 0, ...SENSES_DEFAULTS,
};

const state = readState(DEFAULTS);
const tapOrClick = isTouch ? "tap" : "click";  // a touch screen has no hover and no mouse
let tokens = [];
let weights = null;      // rows of the head shown in the heatmap (one head, or the layer's average)
let shown = null;        // the /api/attention answer drawn: its kv_head and shares_kv_with
let allHeads = null;     // decodeAllHeads(...) of the current text
let off = parseOff(state.off);
let roles = null;        // HeadRoles from GET /api/heads: every head's measured role

const save = () => writeState({ ...state, off: formatOff(off) }, DEFAULTS);
const clampView = () => {
  state.layer = Math.max(0, Math.min(model.n_layers - 1, Math.round(state.layer)));
  state.head = Math.max(0, Math.min(model.n_heads - 1, Math.round(state.head)));
};

// --- the one head: heatmap, facts, lines ----------------------------------------------------

function drawHeatmap() {
  const title = state.avg ? `Layer ${state.layer}: average of its ${model.n_heads} heads`
    : `Layer ${state.layer} · head ${state.head}`;
  drawAttentionHeatmap($("heatmap"), tokens, weights, { title });
  $("heatmap").dataset.layer = String(state.layer);
  $("heatmap").dataset.head = state.avg ? "avg" : String(state.head);
}

function headFacts() {
  const n = tokens.length;
  const node = $("head-facts");
  node.replaceChildren();
  if (shown.average) {
    node.append(el("strong", { text: "The layer's average. " }),
      `The mean of the ${shown.n_heads} heads of layer ${shown.layer} (from their exact weights).`);
  } else {
    node.append(el("strong", { text: `Layer ${shown.layer}, head ${shown.head}` }),
      ` reads key/value head ${shown.kv_head}, which it shares with heads ${shown.shares_kv_with.join(" and ")}.`);
  }
  if (n < 3) return;
  // The previous token is counted from the third token on: for the second token it is the
  // first token, and counting it twice would make the three shares add up to more than 100%.
  let sink = 0, self = 0, prev = 0;
  for (let i = 1; i < n; i++) { sink += weights[i][0]; self += weights[i][i]; if (i >= 2) prev += weights[i][i - 1]; }
  const pct = (x, count) => `${((x / count) * 100).toFixed(0)}%`;
  node.append(el("br"), `Averaged over the tokens after the first, this ${state.avg ? "layer" : "head"} puts `,
    el("strong", { text: pct(sink, n - 1) }), " of its attention on the first token and ",
    el("strong", { text: pct(self, n - 1) }), " on the token itself; from the third token on, ",
    el("strong", { text: pct(prev, n - 2) }), " goes to the token just before.");
  // The attention sink, explained where a learner first sees the dark first column.
  if (sink / (n - 1) >= 0.3) {
    node.append(" ", el("span", { cls: "sink-explain" }, [
      `That dark first column is an `, el("em", { text: "attention sink" }),
      `. Every row must add up to 1, so a head cannot look at nothing; the usual explanation is that a head with `
      + `nothing useful to fetch for a token parks the weight on the first token (here "${plainTokenLabel(tokens[0])}"), `
      + "which every token can see, whatever it says (more in the notes at the end of the page)."]));
  }
  if (!shown.average && roles) {
    const head = roles.get(shown.layer, shown.head);
    if (head) node.append(el("br"), roleFacts(head, roles.probes));
  }
}

function drawLinesView() {
  const q = state.q < 0 || state.q >= tokens.length ? tokens.length - 1 : state.q;
  tokenChips($("lines-tokens"), tokens, { onClick: (_, i) => pickQuery(i) });
  $("lines-tokens").children[q]?.classList.add("picked");
  drawLines($("lines"), tokens, weights, q, pickQuery);
  // Chapter 4a takes this row apart: open it on the same text, layer, head and token.
  const inside = { text: state.text, layer: state.layer, head: state.head };
  if (q < tokens.length - 1) inside.position = q;
  $("inside-link").href = `/inside?${new URLSearchParams(inside)}`;
}

function pickQuery(i) {
  state.q = i === tokens.length - 1 ? -1 : i;
  save();
  drawLinesView();
}

function drawHead() {
  drawHeatmap();
  headFacts();
  drawLinesView();
}

// --- fetching: every fetch -> draw goes through the kit's loader (kit/load.js) ---------------

// The views below the prompt describe one text; when there is no valid text (empty, too long,
// refused, server busy) they would describe the previous one, so they are hidden until the next answer.
function showPromptViews(on) {
  for (const section of document.querySelectorAll("[data-needs-prompt]")) section.hidden = !on;
  if (!on) {
    $("tokens").replaceChildren();
    $("status").textContent = "";
  }
}

function setTokens(list) {
  tokens = list;
  tokenChips($("tokens"), tokens, { onClick: (_, i) => { pickQuery(i); $("lines").scrollIntoView({ block: "nearest" }); } });
  $("status").textContent = `${tokens.length} token${tokens.length === 1 ? "" : "s"}: ${tapOrClick} one to see where it looks.`;
}

// One head, or with `average` the layer's mean of its heads' exact weights (taken by the server). The
// first one is the server's preload of GET /api/attention when it named this state (kit/first.js).
const showHead = loader({
  run: (signal) => apiFirst("/api/attention", { text: state.text, layer: state.layer, head: state.head, avg: state.avg },
    { text: state.text, layer: state.layer, head: state.head, average: state.avg }, { signal }),
  draw: (body) => {
    shown = body;
    setTokens(body.tokens);
    weights = body.weights;
    showPromptViews(true);
    return drawHead();
  },
  views: ["heatmap", "head-facts", "lines-tokens", "lines"], error: "error", charts: true,
  onError: () => showPromptViews(false),
});

const showAll = loader({
  run: (signal) => {
    $("grid-status").textContent = `Reading all ${model.n_layers * model.n_heads} heads…`;
    return api("/api/attention/all", { text: state.text }, { signal });
  },
  draw: (body) => {
    allHeads = decodeAllHeads(body);
    $("grid").hidden = false;
    grid.draw(allHeads);
    grid.select(state.layer, state.avg ? "avg" : state.head);
    $("grid-size").textContent = `${body.n_layers * body.n_heads} heads × ${allHeads.n * (allHeads.n + 1) / 2} weights = `
      + `${(allHeads.bytes / 1024).toFixed(1)} KB (${(body.data.length / 1024).toFixed(1)} KB as base64); `
      + `as JSON numbers it would be about ${((body.n_layers * body.n_heads * allHeads.n * allHeads.n * 9) / 1024).toFixed(0)} KB.`;
    const share = allHeads.sinkShare();
    $("sink-share").textContent = share === null ? ""
      : `In your text, averaged over all ${body.n_layers * body.n_heads} heads, the tokens after the first put `
        + `${(share * 100).toFixed(0)}% of their attention on the first token.`;
    return drawLayerViews();
  },
  views: ["grid", "grid-size", "gqa", "overlap"], error: "grid-status", charts: true,
  // Said for a reader of the page; the API's own message is addressed to programmers. Told apart by code.
  message: (error) => {
    if (error.code !== "too_long") return error.message;
    const limit = error.limit ?? model.limits?.max_all_heads_tokens;
    const count = error.actual;
    return `Your text has ${count ? count + " tokens, too many" : "too many tokens"} for this view: `
      + `every head at once is drawn for texts of ${limit ? `up to ${limit} tokens` : "fewer tokens"}. Shorten the text to see it; the heatmap `
      + "and the lines above show any head of this one.";
  },
  onError: () => {
    allHeads = null;
    grid.data = null;
    $("grid").hidden = true;
    $("sink-share").textContent = "";
    clearLayerViews($("grid-status").textContent);  // the heatmap above (a head or the layer's average) comes from /api/attention
  },
});

// Without every head of this text, the grouped-query views would show the previous text's heads.
function clearLayerViews(why) {
  $("gqa-layer").textContent = String(state.layer);
  $("gqa").replaceChildren();
  $("gqa").toggleAttribute("hidden", true);  // an SVG element has no .hidden
  if (window.Plotly) window.Plotly.purge($("overlap"));
  $("overlap").hidden = true;
  $("overlap-summary").textContent = why;
}

function drawLayerViews() {
  if (!allHeads) { $("gqa-layer").textContent = String(state.layer); return undefined; }
  $("gqa").toggleAttribute("hidden", false);
  $("overlap").hidden = false;
  $("gqa-layer").textContent = String(state.layer);
  drawGqa($("gqa"), allHeads, state.layer, state.avg ? -1 : state.head, (h) => openHead(state.layer, h, false));
  return drawOverlap($("overlap"), $("overlap-summary"), allHeads, state.layer);
}

const loadPredictions = loader({
  run: (signal) => api("/api/predict", { text: state.text, ablate: offToRequest(off), n_predictions: 10 }, { signal }),
  draw: (body) => {
    $("ablate-status").textContent = "";
    return drawAblation({ before: $("before"), after: $("after"), afterTitle: $("after-title"), summary: $("ablate-summary"),
      beforeText: $("before-text"), afterText: $("after-text") },
      body, off);
  },
  views: ["before", "after", "ablate-summary"], error: "ablate-error", charts: true,
  onError: () => { $("ablate-status").textContent = ""; },
});

function showPredictions() {
  $("ablate-status").textContent = off.size ? "Running the model with those heads off…" : "";
  drawOffList($("ablated-list"), off, (key) => { off.delete(key); offChanged(); });
  return loadPredictions();
}

function offChanged() {
  save();
  grid.setOff(off);
  showPredictions();
}

// --- measured head roles and the induction probe --------------------------------------------

// The heads' roles are the model's, not the text's: measured once (GET /api/heads), drawn once.
const showRoles = loader({
  run: (signal) => api("/api/heads", undefined, { signal }),
  draw: (body) => drawRoles(new HeadRoles(body)),
  error: "worth-list", message: (error) => `The heads' roles could not be measured: ${error.message}`,
});

function drawRoles(measured) {
  roles = measured;
  // An induction head shows little on most texts: open it on the probe built to show it.
  drawWorth($("worth-list"), roles, (h) => {
    if (h.role === "induction" && !state.probe) state.probe = true;
    openHead(h.layer, h.head);
  });
  drawProbeDefinitions($("probe-definitions"), roles);
  grid.setRoles(roles.marks());
  const counts = Object.keys(ROLE_MARKS).map((role) => [role, roles.named(role).length]);
  $("grid-roles").replaceChildren("Measured roles (on fixed probes, the same for every text): ",
    ...counts.flatMap(([role, count], k) => [k ? " and " : "",
      el("span", { cls: "role-mark", text: ROLE_MARKS[role].letter, attrs: { style: `background:${ROLE_MARKS[role].colour}` } }),
      ` ${count} ${ROLE_NAMES[role]}${count === 1 ? "" : "s"}`]),
    `; of the other ${roles.heads.length - counts.reduce((a, [, c]) => a + c, 0)} heads, `
    + `${roles.named("first_token").length} are first-token heads (half or more of their weight on the first token) and the rest have no single role.`);
  if (shown && !shown.average) headFacts();
}

let probeShown = null;     // the GET /api/heads/probe answer drawn
const loadProbe = loader({
  // The layer's head 0 when the layer's average is open.
  run: (signal) => api(probePath(state.layer, state.avg ? 0 : state.head, state.seq), undefined, { signal }),
  draw: (body) => {
    probeShown = body;
    return drawProbe({ view: $("probe-view"), heatmap: $("probe-heatmap"), caption: $("probe-caption") }, body);
  },
  views: ["probe-heatmap", "next-sequence"], error: "probe-error", charts: true,
});

function showProbe() {
  $("show-probe").textContent = state.probe ? "Hide the induction probe" : "Show this head on the induction probe";
  $("show-probe").setAttribute("aria-expanded", String(state.probe));
  $("probe-view").hidden = !state.probe;
  if (!state.probe) { loadProbe.cancel(); return; }
  state.seq = Math.max(0, Math.round(state.seq));
  loadProbe();
}

// --- controls -------------------------------------------------------------------------------

function setControls() {
  $("layer").max = String(model.n_layers - 1);
  $("layer").value = String(state.layer);
  $("layer-out").textContent = String(state.layer);
  $("head").value = state.avg ? "avg" : String(state.head);
}

function openHead(layer, head, scroll = true) {
  state.layer = layer;
  state.avg = head === "avg";
  if (!state.avg) state.head = head;
  clampView();
  save();
  setControls();
  grid.select(state.layer, state.avg ? "avg" : state.head);
  drawLayerViews();
  showHead();
  showProbe();
  if (scroll) $("one-head").scrollIntoView({ behavior: "smooth", block: "start" });
}

function textChanged({ keepQuery = false } = {}) {
  state.text = $("prompt").value;
  if (!keepQuery) state.q = -1;  // new text: the picked token may no longer exist
  save();
  if (!state.text.trim()) {
    for (const load of [showAll, loadPredictions]) load.cancel();
    showHead.fail(new Error("Type some text for the model to read."));  // hides the views, as a refused text does
    return;
  }
  $("status").textContent = "";
  allHeads = null;  // the previous text's heads must not be drawn as this text's layer average
  showHead();
  showAll();
  showPredictions();
}

const grid = new HeadGrid($("grid"), (layer, head) => openHead(layer, head));

function setupHeadSelect() {
  const select = $("head");
  select.replaceChildren();
  for (let h = 0; h < model.n_heads; h++) {
    select.append(el("option", { text: `${h} (key/value ${model.kv_head_of[h]})`, attrs: { value: String(h) } }));
  }
  select.append(el("option", { text: "average of the layer", attrs: { value: "avg" } }));
}

// --- start ------------------------------------------------------------------------------------

function init() {
  const prompt = $("prompt");
  prompt.value = state.text;
  prompt.addEventListener("input", debounce(textChanged, 350));
  for (const text of EXAMPLES) {
    const b = el("button", { text: text.length > 42 ? text.slice(0, 40) + "…" : text, title: text, attrs: { type: "button" } });
    b.addEventListener("click", () => { prompt.value = text; textChanged(); });
    $("examples").append(b);
  }
  setupHeadSelect();
  clampView();
  setControls();
  $("layer").addEventListener("input", () => { $("layer-out").textContent = $("layer").value; });
  $("layer").addEventListener("change", () => openHead(Number($("layer").value), state.avg ? "avg" : state.head, false));
  $("head").addEventListener("change", () => {
    const v = $("head").value;
    openHead(state.layer, v === "avg" ? "avg" : Number(v), false);
  });
  $("show-probe").addEventListener("click", () => { state.probe = !state.probe; save(); showProbe(); });
  $("next-sequence").addEventListener("click", () => {
    state.seq = (state.seq + 1) % (probeShown?.n_sequences ?? 1);
    save();
    showProbe();
  });
  showRoles();
  showProbe();
  const sinkNote = $("sink-note");
  sinkNote.append(" ", el("strong", { attrs: { id: "sink-share" } }));

  const runSenses = initSenses({ state, save });

  // Switch a head off.
  $("ablate-current").addEventListener("click", () => {
    if (state.avg) for (let h = 0; h < model.n_heads; h++) off.add(`${state.layer}.${h}`);
    else off.add(`${state.layer}.${state.head}`);
    offChanged();
  });
  $("ablate-layer").addEventListener("click", () => {
    for (let h = 0; h < model.n_heads; h++) off.add(`${state.layer}.${h}`);
    offChanged();
  });
  $("ablate-clear").addEventListener("click", () => { off.clear(); offChanged(); });
  grid.setOff(off);
  window.addEventListener("resize", debounce(() => {
    if (grid.data) grid.paint();
    if (weights) drawLinesView();  // the lines and the key/value diagram are drawn at the width they are shown
    if (allHeads) drawGqa($("gqa"), allHeads, state.layer, state.avg ? -1 : state.head, (h) => openHead(state.layer, h, false));
  }, 200));

  textChanged({ keepQuery: true });  // first draw: keep the token picked in a shared link (q)
  runSenses();
}

init();
