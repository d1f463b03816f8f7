// "Same word, different meaning": the fair test of whether the model tells a word's senses apart.
// The word is compared with *itself*: in sentences of the same sense (within) and of another
// sense (across), layer by layer (POST /api/attention/senses). Two controls run the same
// measurement where there are no senses to tell apart: a plain word put in the word's place in
// the same sentences, and the same sentences dealt into mixed groups. Then which heads look
// from the word at each group's sense words, against the plain word (POST /api/attention/senses/heads).
// Every sentence of a summary is computed here from the responses.

import { $, api, el, showError } from "../api.js";
import { plainTokenLabel } from "../kit/chips.js";
import { plotText } from "../kit/dom.js";
import { loader } from "../kit/load.js";
import { plotConfig, plotLayout } from "../kit/plotly.js";
import { SENTENCE_COLOURS } from "./colours.js";
import EXAMPLES from "./senses_examples.json" with { type: "json" };

export { EXAMPLES };

/** The word "separates" at a depth when its gap (within − across) beats both controls' gaps by this. */
export const MARGIN = 0.05;
/** A head counts as evidence when, on average, it looks at the sense words this much more from the
 *  word than from the control word, and more in every single sentence. */
export const HEAD_MARGIN = 0.1;
export const MAX_GROUPS = 4;

const GROUP_KEYS = ["g1", "g2", "g3", "g4"];
const CUE_KEYS = ["c1", "c2", "c3", "c4"];
const first = EXAMPLES[0];

/** URL state of this section, defaulting to the first example (merged into the page's defaults). */
export const SENSES_DEFAULTS = {
  sw: first.word, sc: first.control,
  ...Object.fromEntries(GROUP_KEYS.map((k, i) => [k, (first.groups[i] ?? []).join("\n")])),
  ...Object.fromEntries(CUE_KEYS.map((k, i) => [k, (first.cues[i] ?? []).join(", ")])),
};

// --- pure helpers (exported for tests and the tour) ------------------------------------------

const wordPattern = (word) => new RegExp(
  `(?<![\\p{L}\\p{N}_])${word.trim().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![\\p{L}\\p{N}_])`, "giu");

/** The sentence with every whole-word occurrence of `word` replaced (a capital first letter kept),
 *  as the server's model.senses.swap_word does. */
export function swapWord(text, word, replacement) {
  return text.replace(wordPattern(word), (m) => (m[0] !== m[0].toLowerCase()
    ? replacement[0].toUpperCase() + replacement.slice(1) : replacement));
}

/** The same sentences dealt into mixed groups: take them in turn from each group (1st of every group,
 *  2nd of every group, ...) and deal the k-th into group (k + row) mod G, so each mixed group holds
 *  sentences of several senses. */
export function mixGroups(groups) {
  const G = groups.length;
  const flat = [];
  for (let i = 0; i < Math.max(...groups.map((g) => g.length)); i++) {
    for (const g of groups) if (i < g.length) flat.push(g[i]);
  }
  const out = groups.map(() => []);
  flat.forEach((s, k) => out[((k % G) + Math.floor(k / G)) % G].push(s));
  return out;
}

/** within − across at every depth (null where there is no within pair). */
export const gaps = (body) => body.layers.map((l) => (l.within === null || l.across === null ? null : l.within - l.across));

/** The depths where the word's gap beats every control's gap by MARGIN. */
export function separation(word, controls) {
  const g = gaps(word);
  const cs = controls.map(gaps);
  const depths = [];
  g.forEach((x, d) => {
    if (x === null || cs.some((c) => c[d] === null)) return;
    if (x - Math.max(...cs.map((c) => c[d])) >= MARGIN) depths.push(d);
  });
  return depths;
}

export const depthName = (d) => (d === 0 ? "the input embedding" : `layer ${d - 1}`);
const pct = (x) => `${(x * 100).toFixed(0)}%`;

/** One or two plain sentences about the test, true of the responses they are computed from. */
export function summariseSenses(word, control, mixed) {
  const g = gaps(word);
  if (g.every((x) => x === null)) {
    return `Each group has a single sentence, so there is nothing to compare "${word.word}" with inside a group: `
      + "put two or more sentences in a group.";
  }
  const L = word.layers.length - 1;
  const depths = separation(word, [control, mixed]);
  if (!depths.length) {
    return `After no layer is "${word.word}" more alike within a group than across by ${MARGIN} more than in the `
      + "controls: with these sentences the test does not show the model telling the senses apart.";
  }
  const from = depths[0];
  const unbroken = depths.length === L + 1 - from;
  let best = depths[0];
  for (const d of depths) if (g[d] > g[best]) best = d;
  const at = word.layers[best];
  const c = control.layers[best];
  return `"${word.word}" in sentences of one sense is more alike than across senses, by at least ${MARGIN} more than `
    + `in either control, after ${depths.length} of the ${L} layers: `
    + (unbroken ? `every layer from layer ${from - 1} on.` : `first after layer ${from - 1}, last after layer ${depths[depths.length - 1] - 1}.`)
    + ` The widest gap is after layer ${best - 1}: cosine ${at.within.toFixed(2)} within vs ${at.across.toFixed(2)} across `
    + `("${control.word}" in the same place: ${c.within.toFixed(2)} vs ${c.across.toFixed(2)}).`;
}

/** The heads that pass the control: HEAD_MARGIN more on average, and more in every sentence. */
export const evidenceHeads = (heads) => heads.heads.filter((h) => h.difference >= HEAD_MARGIN && h.lowest_difference > 0);

export function summariseHeads(heads) {
  const strong = evidenceHeads(heads);
  const m = heads.mean_head;
  const avg = `The average head: ${pct(m.word_to_cues)} from "${heads.word}", ${pct(m.control_to_cues)} from `
    + `"${heads.control}", while it puts ${pct(m.word_to_first)} of the word's attention on the first token.`;
  if (!strong.length) {
    return `No head looks at the sense words at least ${HEAD_MARGIN} more from "${heads.word}" than from "${heads.control}" `
      + `in the same sentences, and more in every sentence. ${avg}`;
  }
  const top = strong[0];
  return `${strong.length} head${strong.length === 1 ? "" : "s"} look${strong.length === 1 ? "s" : ""} at the sense words `
    + `more from "${heads.word}" than from "${heads.control}" in every sentence, by ${HEAD_MARGIN} or more on average. `
    + `The strongest, layer ${top.layer} · head ${top.head}, puts ${pct(top.word_to_cues)} of the word's attention on them, `
    + `${pct(top.control_to_cues)} from "${heads.control}". ${avg}`;
}

const headKey = (h) => `${h.layer}.${h.head}`;

/** The control for switching heads off: as many heads as pass, spread evenly over the rest of the ranking. */
export function otherHeads(heads, n) {
  const strong = new Set(evidenceHeads(heads).map(headKey));
  const rest = heads.heads.filter((h) => !strong.has(headKey(h)));
  return Array.from({ length: Math.min(n, rest.length) }, (_, k) => rest[Math.floor(((k + 0.5) * rest.length) / n)]);
}

const meanGap = (body, depths) => depths.reduce((sum, d) => sum + gaps(body)[d], 0) / depths.length;

/** Does switching off the heads that pass take the gap away? Computed from the three answers. */
export function summariseAblation(word, control, mixed, off, others) {
  const depths = separation(word, [control, mixed]);
  const n = off.ablated.length;
  if (!depths.length || !n) return "";
  const base = meanGap(word, depths);
  const without = meanGap(off, depths);
  const rel = (base - without) / base;
  const verdict = rel >= 0.5 ? "removes most of the gap" : rel >= 0.2 ? "narrows the gap"
    : rel <= -0.2 ? "widens the gap" : "leaves the gap about as it was";
  return `Switching off the ${n} head${n === 1 ? "" : "s"} that pass, in every sentence, ${verdict}: averaged over the `
    + `${depths.length} layers where "${word.word}" beats the controls, the gap goes from ${base.toFixed(2)} to ${without.toFixed(2)} `
    + `(switching off ${others.ablated.length} other heads instead: ${meanGap(others, depths).toFixed(2)}).`
    + (Math.abs(rel) < 0.2 ? " Looking is not carrying: the sense also reaches the word by other routes (other heads, the MLPs)." : "");
}

// --- drawing ------------------------------------------------------------------------------------

const depthTicks = (L) => {
  const vals = [0];
  for (let layer = 5; layer < L; layer += 5) vals.push(layer + 1);
  if (vals[vals.length - 1] !== L) vals.push(L);
  return { tickvals: vals, ticktext: vals.map((d) => (d === 0 ? "E" : `${d - 1}`)) };
};
const xAxis = (L) => ({ title: { text: "after layer (E = input embedding)" }, tickangle: 0, ...depthTicks(L) });
const depthLabels = (L) => Array.from({ length: L + 1 }, (_, d) => (d === 0 ? "input embedding" : `after layer ${d - 1}`));

function withinAcrossChart(node, word) {
  const L = word.layers.length - 1;
  const x = word.layers.map((l) => l.layer);
  const w = plotText(word.word);
  const line = (key, name, colour, dash) => ({
    type: "scatter", mode: "lines", x, y: word.layers.map((l) => l[key]), name, customdata: depthLabels(L),
    line: { color: colour, width: 2.5, dash }, hovertemplate: `${name}<br>%{customdata}: %{y:.3f}<extra></extra>`,
  });
  window.Plotly.react(node, [
    line("within", `"${w}" vs "${w}", same sense`, SENTENCE_COLOURS[0]),
    line("across", `"${w}" vs "${w}", other sense`, SENTENCE_COLOURS[1], "dot"),
  ], plotLayout({
    height: 380, margin: { l: 54, r: 10, t: 36, b: 90 },
    title: { text: `"${w}" against itself`, font: { size: 14 }, x: 0.02 },
    xaxis: xAxis(L), yaxis: { title: { text: "mean cosine similarity" } },
    legend: { orientation: "h", y: -0.3, yanchor: "top", font: { size: 11 } },
  }), plotConfig);
}

function gapChart(node, word, control, mixed, depths) {
  const L = word.layers.length - 1;
  const x = word.layers.map((l) => l.layer);
  const trace = (body, name, colour, width, dash) => ({
    type: "scatter", mode: "lines", x, y: gaps(body), name, customdata: depthLabels(L),
    line: { color: colour, width, dash }, hovertemplate: `${name}<br>%{customdata}: %{y:.3f}<extra></extra>`,
  });
  const all = [gaps(word), gaps(control), gaps(mixed)].flat().filter((v) => v !== null);
  const traces = [
    trace(word, `"${plotText(word.word)}"`, SENTENCE_COLOURS[0], 3),
    trace(control, `control: "${plotText(control.word)}" in its place`, "#6b7280", 2, "dash"),
    trace(mixed, "control: mixed groups", "#9ca3af", 2, "dot"),
  ];
  if (depths.length) {
    traces.push({ type: "scatter", mode: "markers", x: depths, y: depths.map((d) => gaps(word)[d]),
      name: "beats both controls", marker: { color: SENTENCE_COLOURS[0], size: 6, symbol: "circle-open" },
      hoverinfo: "skip" });
  }
  window.Plotly.react(node, traces, plotLayout({
    height: 380, margin: { l: 54, r: 10, t: 36, b: 90 },
    title: { text: "Gap (same − other sense) and controls", font: { size: 14 }, x: 0.02 },
    xaxis: xAxis(L),
    yaxis: { title: { text: "within − across" }, range: [Math.min(-0.05, ...all) - 0.02, Math.max(0.1, ...all) + 0.03],
      zeroline: true },
    legend: { orientation: "h", y: -0.3, yanchor: "top", font: { size: 11 } },
  }), plotConfig);
}

function ablationChart(node, word, off, others) {
  const L = word.layers.length - 1;
  const x = word.layers.map((l) => l.layer);
  const trace = (body, name, colour, width, dash) => ({
    type: "scatter", mode: "lines", x, y: gaps(body), name, customdata: depthLabels(L),
    line: { color: colour, width, dash }, hovertemplate: `${name}<br>%{customdata}: %{y:.3f}<extra></extra>`,
  });
  window.Plotly.react(node, [
    trace(word, "every head on", SENTENCE_COLOURS[0], 3),
    trace(off, `the ${off.ablated.length} heads that pass, off`, "#d9682b", 2, "dash"),
    trace(others, `${others.ablated.length} other heads off`, "#9ca3af", 2, "dot"),
  ], plotLayout({
    height: 370, margin: { l: 54, r: 10, t: 36, b: 90 },
    title: { text: `The gap for "${plotText(word.word)}", heads switched off`, font: { size: 14 }, x: 0.02 },
    xaxis: xAxis(L), yaxis: { title: { text: "within − across" }, zeroline: true },
    // Anchored at its top below the axis title, so a legend that wraps on a phone grows downwards.
    legend: { orientation: "h", y: -0.3, yanchor: "top", font: { size: 11 } },
  }), plotConfig);
}

function headList(node, heads) {
  node.replaceChildren();
  const strong = new Set(evidenceHeads(heads).map((h) => `${h.layer}.${h.head}`));
  const count = Math.min(12, Math.max(8, strong.size));
  const bar = (value, cls) => el("span", { cls: `sh-bar ${cls}`, attrs: { style: `width:${(value * 100).toFixed(1)}%` } });
  const rows = [...heads.heads.slice(0, count), { layer: null, head: null, ...heads.mean_head, average: true }];
  for (const h of rows) {
    const name = h.average ? "average head" : `layer ${h.layer} · head ${h.head}`;
    const passes = !h.average && strong.has(`${h.layer}.${h.head}`);
    node.append(el("li", { cls: passes ? "passes" : h.average ? "average" : "" }, [
      el("span", { cls: "name", text: name }),
      el("span", { cls: "sh-bars" }, [
        el("span", { cls: "sh-track" }, [bar(h.word_to_cues, "word")]),
        el("span", { cls: "sh-track" }, [bar(h.control_to_cues, "control")]),
      ]),
      el("span", { cls: "nums", text: `${pct(h.word_to_cues)} vs ${pct(h.control_to_cues)}` }),
      el("span", { cls: "verdict", text: h.average ? "" : passes ? "passes" : "not in every sentence" }),
    ]));
  }
}

/** Sentences with the sense words the heads were measured on, and the word, marked. */
function cueSentences(node, heads) {
  node.replaceChildren();
  for (const s of heads.sentences) {
    const line = el("li", { attrs: { style: `border-left-color:${SENTENCE_COLOURS[s.group]}` } });
    s.tokens.forEach((t, i) => {
      const cls = i === s.token_index ? "tok word" : s.cue_tokens.includes(i) ? "tok cue" : "tok";
      // The sentence as written; a piece of a character (no glyph of its own) as its hex bytes, never "\uFFFD".
      line.append(el("span", { cls, text: t.partial ? plainTokenLabel(t) : t.text }));
    });
    node.append(line);
  }
}

// --- the form and the run -------------------------------------------------------------------------

/** Wire the section: `state` is the page's URL state (holding SENSES_DEFAULTS' keys), `save` writes it.
 *  Returns the function that runs the test. */
export function initSenses({ state, save }) {
  const lines = (s) => s.split("\n").map((x) => x.trim()).filter(Boolean);
  const words = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
  async function fetchAll(signal, req) {
    const senses = (word, groups) => api("/api/attention/senses", { word, groups }, { signal });
    const swapped = req.groups.map((g) => g.map((s) => swapWord(s, req.word, req.control)));
    // All three run at once, but an error is reported in this order: a sentence missing the word is
    // the learner's to fix, and the control's request would otherwise fail first naming the control word.
    const settled = await Promise.allSettled([senses(req.word, req.groups),
      senses(req.control, swapped), senses(req.word, mixGroups(req.groups))]);
    const failed = settled.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    const [word, control, mixed] = settled.map((r) => r.value);
    let heads = null;
    let headsError = null;
    let off = null;
    let others = null;
    if (req.cues.every((c) => c.length)) {
      try {
        heads = await api("/api/attention/senses/heads", req, { signal });
      } catch (error) {
        if (error.name === "AbortError") throw error;
        headsError = error;
      }
    }
    const passing = heads ? evidenceHeads(heads) : [];
    if (passing.length) {  // do the heads that look at the sense words carry the sense? switch them off
      const pick = (hs) => hs.map((h) => ({ layer: h.layer, head: h.head }));
      [off, others] = await Promise.all([
        api("/api/attention/senses", { word: req.word, groups: req.groups, ablate: pick(passing) }, { signal }),
        api("/api/attention/senses", { word: req.word, groups: req.groups, ablate: pick(otherHeads(heads, passing.length)) },
          { signal })]);
    }
    return { word, control, mixed, heads, headsError, off, others };
  }

  function groupCount() {
    let n = 2;
    GROUP_KEYS.forEach((k, i) => { if (state[k].trim()) n = Math.max(n, i + 1); });
    return n;
  }

  function drawForm() {
    const box = $("sense-groups");
    box.replaceChildren();
    const n = groupCount();
    for (let i = 0; i < n; i++) {
      const text = el("textarea", { cls: "group-text", attrs: { rows: "3", spellcheck: "false",
        "aria-label": `Sense ${i + 1}: sentences, one per line` } });
      text.value = state[GROUP_KEYS[i]];
      const cues = el("input", { cls: "group-cues", attrs: { type: "text", spellcheck: "false", maxlength: "200",
        "aria-label": `Sense ${i + 1}: the words that give it its sense`, placeholder: "sense words, e.g. river, stream" } });
      cues.value = state[CUE_KEYS[i]];
      const head = el("div", { cls: "group-head" }, [
        el("span", { cls: `dot s${i}`, text: String(i + 1) }), el("strong", { text: `Sense ${i + 1}` }),
        el("span", { cls: "small", text: " one sentence per line" })]);
      if (i >= 2) {
        const remove = el("button", { cls: "secondary small", text: "×", title: "Remove this group",
          attrs: { type: "button", "aria-label": `Remove sense ${i + 1}` } });
        remove.addEventListener("click", () => {
          readForm();
          for (let k = i; k < MAX_GROUPS; k++) {
            state[GROUP_KEYS[k]] = state[GROUP_KEYS[k + 1]] ?? "";
            state[CUE_KEYS[k]] = state[CUE_KEYS[k + 1]] ?? "";
          }
          save();
          drawForm();
        });
        head.append(remove);
      }
      box.append(el("div", { cls: "sense-group", attrs: { style: `border-top-color:${SENTENCE_COLOURS[i]}` } },
        [head, text, el("label", { cls: "small", text: "Sense words (before the word): " }), cues]));
    }
    $("add-group").disabled = n >= MAX_GROUPS;
    $("sense-word").value = state.sw;
    $("sense-control").value = state.sc;
  }

  function readForm() {
    const texts = [...document.querySelectorAll("#sense-groups .group-text")];
    const cues = [...document.querySelectorAll("#sense-groups .group-cues")];
    GROUP_KEYS.forEach((k, i) => { state[k] = texts[i] ? lines(texts[i].value).join("\n") : ""; });
    CUE_KEYS.forEach((k, i) => { state[k] = cues[i] ? words(cues[i].value).join(", ") : ""; });
    state.sw = $("sense-word").value.trim();
    state.sc = $("sense-control").value.trim();
  }

  async function run() {
    readForm();
    save();
    const n = groupCount();
    const req = { word: state.sw, control: state.sc,
      groups: GROUP_KEYS.slice(0, n).map((k) => lines(state[k])),
      cues: CUE_KEYS.slice(0, n).map((k) => words(state[k])) };
    $("senses-status").textContent = `Reading ${req.groups.flat().length} sentences three ways, through every layer…`;
    $("senses").dataset.state = "busy";
    await load(req);
  }

  function draw(out) {
    $("senses-results").hidden = false;
    const depths = separation(out.word, [out.control, out.mixed]);
    withinAcrossChart($("senses-chart"), out.word);
    gapChart($("senses-gap"), out.word, out.control, out.mixed, depths);
    $("senses-status").textContent = "";
    $("senses-summary").textContent = summariseSenses(out.word, out.control, out.mixed);
    $("senses-heads-part").hidden = !out.heads && !out.headsError;
    $("senses-ablate-part").hidden = !out.off;
    if (out.off) {
      ablationChart($("senses-ablate"), out.word, out.off, out.others);
      $("senses-ablate-summary").textContent = summariseAblation(out.word, out.control, out.mixed, out.off, out.others);
    }
    if (out.heads) {
      $("senses-heads-summary").textContent = summariseHeads(out.heads);
      headList($("senses-heads"), out.heads);
      cueSentences($("senses-cue-sentences"), out.heads);
      showError($("senses-heads-error"), null);
    } else {
      $("senses-heads-summary").textContent = "";
      $("senses-heads").replaceChildren();
      $("senses-cue-sentences").replaceChildren();
      showError($("senses-heads-error"), out.headsError);
    }
    $("senses").dataset.state = "done";
  }

  // The results of earlier sentences are hidden when a run fails, not left beside its error.
  const load = loader({
    run: fetchAll, draw, views: ["senses-results"], error: "senses-error", charts: true,
    onError: () => { $("senses-status").textContent = ""; $("senses").dataset.state = "error"; },
  });

  drawForm();
  $("add-group").addEventListener("click", () => {
    readForm();
    const n = groupCount();
    if (n >= MAX_GROUPS) return;
    state[GROUP_KEYS[n]] = " ";  // a placeholder so the new group shows; cleared below
    drawForm();
    state[GROUP_KEYS[n]] = "";
    const areas = document.querySelectorAll("#sense-groups .group-text");
    areas[n].value = "";
    areas[n].focus();
  });
  $("run-senses").addEventListener("click", run);
  for (const id of ["sense-word", "sense-control"]) {
    $(id).addEventListener("keydown", (e) => { if (e.key === "Enter") run(); });
  }
  for (const ex of EXAMPLES) {
    const b = el("button", { text: ex.label, attrs: { type: "button" } });
    b.addEventListener("click", () => {
      state.sw = ex.word;
      state.sc = ex.control;
      GROUP_KEYS.forEach((k, i) => { state[k] = (ex.groups[i] ?? []).join("\n"); });
      CUE_KEYS.forEach((k, i) => { state[k] = (ex.cues[i] ?? []).join(", "); });
      drawForm();
      run();
    });
    $("senses-examples").append(b);
  }
  return run;  // the page runs it once its own views have asked for their text
}
