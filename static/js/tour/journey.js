// "Follow one prompt": one text shown as tokens, as points, as attention and as probabilities.
// State (text, layer, head) lives in the URL, and each view links into its chapter with the
// same text. All four views read the server's one cached analysis of the prompt.

import { $, api, debounce, el, latest, readState, showError, tokenChips, writeState } from "../api.js";
import { drawBars, drawHeatmap, drawPoints, percent } from "./plots.js";

// Layer 23, head 4 (counting from 0) is where " is" in the default prompt puts ~90% of its
// attention on " France": a head that looks up the thing the sentence is about.
const DEFAULTS = { text: "The capital of France is", layer: 23, head: 4 };
const EXAMPLES = [
  "The capital of France is",
  "I sat on the river bank and watched the",
  "Once upon a time, there was a",
  "1, 2, 3, 4,",
  "The opposite of hot is",
];
const HEATMAP_MAX = 40;   // the heatmap shows at most the last 40 tokens (a readable picture)
const MAX_POINTS = 30;    // words placed on the map (the API allows 60)
const MIN_POINTS = 3;     // a map needs at least three different words
const MAX_WORD_CHARS = 40; // the longest word /api/embeddings/map takes

// What each view's explanation says when there is no picture to describe.
const GENERAL = {
  "points-explain": (m) => `Each word is a list of ${m.d_model} numbers; here they are flattened onto two axes `
    + "(PCA). Words used alike sit close together.",
  "attention-explain": () => "Row = the token that looks, column = the token it looks at.",
  "predict-explain": (m) => `The model's probabilities for the next token, one for each of its `
    + `${m.vocab_size.toLocaleString("en")} tokens. Click a bar to append that token and go one step further.`,
};

const shown = (t) => t.display ?? t.text;
const quote = (s) => `“${s}”`;

export class Journey {
  constructor(model) {
    this.model = model;
    this.state = readState(DEFAULTS);
    this.clamp();
    this.prompt = $("prompt");
    this.prompt.value = this.state.text;
    this.update = latest((signal) => this.fetchAll(signal));
    this.updateSoon = debounce(() => this.refresh(), 300);
  }

  clamp() {
    const { n_layers: L, n_heads: H } = this.model;
    const fix = (v, n, d) => (Number.isInteger(v) && v >= 0 && v < n ? v : Math.min(d, n - 1));
    this.state.layer = fix(this.state.layer, L, DEFAULTS.layer);
    this.state.head = fix(this.state.head, H, DEFAULTS.head);
  }

  start() {
    this.buildControls();
    this.prompt.addEventListener("input", () => {
      this.state.text = this.prompt.value;
      this.save();
      this.updateSoon();
    });
    this.refresh();
  }

  buildControls() {
    const options = (select, n, value) => {
      select.replaceChildren(...Array.from({ length: n }, (_, i) => el("option", { text: String(i), attrs: { value: i } })));
      select.value = String(value);
    };
    options($("j-layer"), this.model.n_layers, this.state.layer);
    options($("j-head"), this.model.n_heads, this.state.head);
    for (const [id, key] of [["j-layer", "layer"], ["j-head", "head"]]) {
      $(id).addEventListener("change", (e) => {
        this.state[key] = Number(e.target.value);
        this.save();
        this.refreshAttention();
      });
    }
    $("examples").replaceChildren(...EXAMPLES.map((text) => {
      const button = el("button", { text, attrs: { type: "button" } });
      button.addEventListener("click", () => this.setText(text));
      return button;
    }));
  }

  setText(text) {
    this.state.text = text;
    this.prompt.value = text;
    this.save();
    this.refresh();
  }

  save() {
    writeState(this.state, DEFAULTS);
    this.updateLinks();
  }

  updateLinks() {
    const q = (params) => `?${new URLSearchParams(params)}`;
    const text = this.state.text;
    $("link-tokens").href = `/tokens${q({ text })}`;
    $("link-predict").href = `/predict${q({ text })}`;
    $("link-attention").href = `/attention${q({ text, layer: this.state.layer, head: this.state.head })}`;
    const words = this.words();
    const plain = [...new Set(words.map((w) => w.trim()))];
    $("link-points").href = plain.length >= MIN_POINTS ? `/embeddings${q({ sets: "", words: plain.join(",") })}` : "/embeddings";
  }

  /** The prompt's distinct words (letters, digits, apostrophes), in order, for the map, each as the
   *  prompt has it: a word after a space keeps the space (" capital"), the first word has none
   *  ("The"), so the map looks up the prompt's own tokens. A number never takes the space before it
   *  (the tokenizer keeps that space a token of its own, "In 1969" is In|␣|1|9|6|9), so a number is looked
   *  up without it: " 2" would average the lone "␣" into the point. A word longer than the API takes is
   *  left out, not cut: a cut word is another word with another vector. */
  words() {
    return this.allWords().filter((w) => Array.from(w.trimStart()).length <= MAX_WORD_CHARS).slice(0, MAX_POINTS);
  }

  allWords() {
    const text = this.state.text;
    const found = [...text.matchAll(/[\p{L}\p{N}][\p{L}\p{N}'’-]*/gu)]
      .map((m) => (m.index > 0 && text[m.index - 1] === " " && !/^\p{N}/u.test(m[0]) ? " " : "") + m[0]);
    return [...new Set(found)];
  }

  async refresh() {
    this.updateLinks();
    const node = document.querySelector(".journey-grid");
    node.classList.add("busy");
    $("status").textContent = "The model is reading your text…";
    try {
      const done = await this.update();
      if (done === undefined) return; // a newer request replaced this one
      showError($("error"), null);
      $("status").textContent = "";
    } catch (error) {
      showError($("error"), error);
      $("status").textContent = "";
      // The pictures of the previous text would now answer a question nobody asked.
      this.clearModelViews("No picture for this text: see the message above.");
    } finally {
      node.classList.remove("busy");
    }
  }

  async fetchAll(signal) {
    const text = this.state.text;
    const tokenized = await api("/api/tokenize", { text }, { signal });
    this.drawTokens(tokenized);
    if (!text.trim()) {
      this.clearModelViews("Type some text above: the model needs at least one token to read.");
      return true;
    }
    // The three model views in parallel; the server computes the prompt's analysis once.
    const words = this.words();
    const [predicted, attention, points] = await Promise.all([
      api("/api/predict", { text, top_k: 10, temperature: 1, top_p: 1, n_predictions: 10 }, { signal }),
      api("/api/attention", { text, layer: this.state.layer, head: this.state.head }, { signal }),
      words.length >= MIN_POINTS
        // A map the server refuses (say, an odd word) should not hide the other three views.
        ? api("/api/embeddings/map", { sets: [], texts: words, method: "pca", dims: 2, mode: "static", neighbours: 3 }, { signal })
          .catch((error) => (error.name === "AbortError" ? Promise.reject(error) : { error }))
        : Promise.resolve(null),
    ]);
    this.drawPredictions(predicted);
    this.drawAttention(attention);
    this.drawPoints(points, words);
    return true;
  }

  async refreshAttention() {
    if (!this.state.text.trim()) return;
    try {
      const attention = await api("/api/attention", { text: this.state.text, layer: this.state.layer, head: this.state.head });
      this.drawAttention(attention);
      showError($("error"), null);
    } catch (error) {
      showError($("error"), error);
    }
  }

  clearModelViews(message) {
    for (const id of ["j-bars", "j-attention", "j-points"]) {
      window.Plotly.purge($(id));
      $(id).replaceChildren(el("p", { text: message, cls: "empty-view" }));
    }
    // Back to the general explanations: the specific ones described the previous text.
    for (const [id, text] of Object.entries(GENERAL)) $(id).textContent = text(this.model);
  }

  // --- the four views -------------------------------------------------------------------------

  drawTokens(data) {
    tokenChips($("j-tokens"), data.tokens);
    const explain = $("tokens-explain");
    if (!data.count) {
      explain.textContent = "No text, no tokens.";
      return;
    }
    const spaced = data.tokens.find((t) => t.text.startsWith(" ") && t.text.trim());
    explain.replaceChildren(
      el("strong", { text: `${data.count} token${data.count === 1 ? "" : "s"}` }),
      ` for ${data.characters} characters. Hover a token to see its id.`,
      spaced ? ` The space belongs to the token: ${quote(shown(spaced))} is id ${spaced.id}.` : "");
  }

  drawPredictions(data) {
    const node = $("j-bars");
    node.querySelector(".empty-view")?.remove(); // never clear a live plot's own DOM
    drawBars(node, data.predictions, { height: 300, onPick: (p) => this.setText(this.state.text + p.text) });
    const best = data.predictions[0];
    $("predict-explain").replaceChildren(
      el("strong", { text: quote(shown(best)) }), ` comes first with probability ${best.probability.toFixed(2)} `
      + `(${percent(best.probability)}). Every one of the ${this.model.vocab_size.toLocaleString("en")} tokens gets a `
      + "probability between 0 and 1; together they add up to 1. ",
      el("strong", { text: "Click a bar" }), " to append that token.");
  }

  drawAttention(data) {
    const node = $("j-attention");
    node.querySelector(".empty-view")?.remove(); // never clear a live plot's own DOM
    const n = data.tokens.length;
    const from = Math.max(0, n - HEATMAP_MAX);
    const tokens = data.tokens.slice(from);
    const weights = data.weights.slice(from).map((row) => row.slice(from));
    drawHeatmap(node, tokens, weights, { height: 300 });

    const group = this.model.n_heads / this.model.n_kv_heads;
    const sharing = Array.from({ length: this.model.n_heads }, (_, h) => h)
      .filter((h) => Math.floor(h / group) === data.kv_head && h !== data.head);
    const last = data.weights[n - 1];
    let top = 0;
    last.forEach((w, j) => { if (w > last[top]) top = j; });
    const parts = [
      `Row = the token looking, column = the token it looks at; each row adds up to 1. `,
      el("strong", { text: `Layer ${data.layer}, head ${data.head}` }),
      ` (counting from 0): the last token ${quote(shown(data.tokens[n - 1]))} puts ${percent(last[top])} of its `
      + `attention on ${quote(shown(data.tokens[top]))}${top === n - 1 ? " (itself)" : top === 0 ? " (the first token)" : ""}. `
      + `This head shares its keys and values with heads ${sharing.join(" and ")}.`,
    ];
    // The attention sink, explained where a learner first meets the dark first column.
    if (n >= 2) {
      const sink = data.weights.slice(1).reduce((sum, row) => sum + row[0], 0) / (n - 1);
      parts.push(" Averaged over the tokens after the first, this head puts ",
        el("strong", { text: percent(sink) }), ` of its attention on the first token, ${quote(shown(data.tokens[0]))}.`);
      if (sink >= 0.3) {
        parts.push(" That is an ", el("em", { text: "attention sink" }), ": each row must add up to 1, so a head "
          + "cannot look at nothing; the usual explanation is that a head with nothing useful to fetch for a token "
          + "parks the weight on the first token, which every token can see, whatever it says.");
      }
    }
    if (from > 0) parts.push(` Showing the last ${HEATMAP_MAX} of ${n} tokens.`);
    $("attention-explain").replaceChildren(...parts);
  }

  drawPoints(data, words) {
    const node = $("j-points");
    if (!data || data.error) {
      window.Plotly.purge(node);
      node.replaceChildren(el("p", { cls: "empty-view", text: data
        ? `No map for these words: ${data.error.message}`
        : `Type at least ${MIN_POINTS} different words to see them as points (now ${words.length}).` }));
      $("points-explain").textContent = GENERAL["points-explain"](this.model);
      return;
    }
    node.querySelector(".empty-view")?.remove(); // never clear a live plot's own DOM
    drawPoints(node, data.points, { height: 300 });
    const d = this.model.d_model;
    const long = this.allWords().filter((w) => Array.from(w.trimStart()).length > MAX_WORD_CHARS).length;
    const spaced = data.points.find((p) => p.word.startsWith(" "));
    const bare = data.points.find((p) => !p.word.startsWith(" ") && !/^\p{N}/u.test(p.word));
    const number = / \p{N}/u.test(this.state.text);
    $("points-explain").textContent = `Each word's embedding, ${d} numbers fixed before any context, flattened `
      + "onto the two directions in which these words differ most (PCA). Words used alike land close together. "
      + (spaced && bare ? `Each word is looked up as your text has it: ${quote(bare.word)} without a space `
        + `(${quote(`␣${bare.word}`)} would begin with a different token), ${quote(spaced.word.replace(/^ /, "␣"))} with `
        + "its space. " : "")
      + (number ? "A number is looked up without the space before it: the tokenizer keeps that space a token of its "
        + "own. " : "")
      + "Hover a point for its nearest tokens."
      + (long ? ` ${long === 1 ? "One word is" : `${long} words are`} left out: the map takes words of at most `
        + `${MAX_WORD_CHARS} characters.` : "");
  }
}
