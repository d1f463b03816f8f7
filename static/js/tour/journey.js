// "Follow one prompt": one text shown as tokens, as points, as attention and as probabilities.
// State (text, layer, head, and the tokens picked from the bars) lives in the URL, and each view
// links into its chapter with the same text. All four views read the server's one cached analysis
// of the prompt. Fetching goes through the kit's loader: the latest request wins, the views are
// dimmed while it runs, and a failure never leaves the pictures of an earlier text beside its error.

import { $, api, debounce, el, plainTokenLabel, readState, tokenChips, writeState } from "../api.js";
import { isTouch } from "../kit/plotly.js";
import { loader, markFailed } from "../kit/load.js";
import { drawAttention, drawBars, drawPoints, percent } from "./plots.js";

// Layer 23, head 4 (counting from 0) is where " is" in the default prompt puts ~90% of its
// attention on " France": a head that looks up the thing the sentence is about.
const DEFAULTS = { text: "The capital of France is", layer: 23, head: 4, ids: "", from: -1 };
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
const PICK = isTouch ? "Tap a bar" : "Click a bar";

// What each view's explanation says when there is no picture to describe.
const GENERAL = {
  "points-explain": (m) => `Each word is a list of ${m.d_model} numbers; here they are flattened onto two axes `
    + "(PCA). Words used alike have vectors that point alike, but two axes keep only part of that.",
  "attention-explain": () => "Row = the token that looks, column = the token it looks at.",
  "predict-explain": (m) => `The model's probabilities for the next token, one for each of its `
    + `${m.vocab_size.toLocaleString("en")} tokens. ${PICK} to append that token and go one step further.`,
};
const MODEL_VIEWS = ["j-bars", "predict-explain", "j-attention", "attention-explain", "j-points", "points-explain"];
const REFUSED = "No picture for this text: see the message above.";

const quote = (s) => `“${s}”`;
const idsOf = (s) => String(s).split(",").filter((x) => /^\d+$/.test(x)).map(Number);

/** Hex bytes ("f0 9f") as numbers. */
const bytesOf = (hex) => (hex ? hex.split(" ").map((h) => parseInt(h, 16)) : []);

/** The picked tokens' bytes split into the text they make so far (whole characters) and the bytes
 *  still waiting for the rest of their character (a token can be a piece of one). */
function splitWhole(tokens) {
  const bytes = new Uint8Array(tokens.flatMap((t) => bytesOf(t.bytes)));
  const decoder = new TextDecoder("utf-8");
  const whole = decoder.decode(bytes, { stream: true });
  const used = new TextEncoder().encode(whole).length;
  return { whole, pending: bytes.length - Math.min(used, bytes.length) };
}

export class Journey {
  constructor(model) {
    this.model = model;
    this.state = readState(DEFAULTS);
    this.clamp();
    // Tokens picked from the bars, kept by id: sent as append_ids after the text they follow, so
    // the model reads exactly the token it wrote (a piece of a character has no text of its own).
    this.picked = idsOf(this.state.ids).map((id) => ({ id }));
    if (!this.picked.length || this.state.from < 0 || this.state.from > this.state.text.length) this.dropPicked();
    this.prompt = $("prompt");
    this.prompt.value = this.state.text;
    this.updateSoon = debounce(() => this.refresh(), 300);
    this.loadTokens = loader({
      run: (signal, body) => (body ? api("/api/tokenize", body, { signal }) : null),
      draw: (data) => data && this.drawTokens(data),
      views: ["j-tokens", "tokens-explain"],
      onError: () => { markFailed(["tokens-explain"], false); $("tokens-explain").textContent = REFUSED; },
    });
    this.loadModel = loader({
      run: (signal) => this.fetchModel(signal),
      draw: (data) => this.drawModel(data),
      views: MODEL_VIEWS, error: "error", charts: true,
      onError: () => this.clearModelViews(REFUSED),
    });
    this.loadAttention = loader({
      run: (signal) => api("/api/attention", this.request({ layer: this.state.layer, head: this.state.head }), { signal }),
      draw: (data) => this.drawAttention(data),
      views: ["j-attention", "attention-explain"], error: "error", charts: true,
      onError: () => this.clearModelViews(REFUSED),
    });
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
      // Typing makes the picked tokens' text plain text again (a piece still waiting for the rest
      // of its character is dropped: the box cannot hold it).
      this.dropPicked();
      this.state.text = this.prompt.value;
      this.save();
      this.updateSoon();
    });
    $("picked-clear").addEventListener("click", () => {
      this.state.text = this.state.text.slice(0, this.state.from);
      this.prompt.value = this.state.text;
      this.dropPicked();
      this.save();
      this.refresh();
    });
    this.save();
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
        if (this.hasText()) this.loadAttention();
      });
    }
    $("examples").replaceChildren(...EXAMPLES.map((text) => {
      const button = el("button", { text, attrs: { type: "button" } });
      button.addEventListener("click", () => this.setText(text));
      return button;
    }));
  }

  setText(text) {
    this.dropPicked();
    this.state.text = text;
    this.prompt.value = text;
    this.save();
    this.refresh();
  }

  // --- the picked tokens ----------------------------------------------------------------------

  dropPicked() {
    this.picked = [];
    this.state.ids = "";
    this.state.from = -1;
  }

  /** The text the picked tokens follow: the box's text before them. */
  base() {
    return this.picked.length ? this.state.text.slice(0, this.state.from) : this.state.text;
  }

  /** A request's prompt: the text, then the picked tokens by id. */
  request(extra = {}) {
    return this.picked.length ? { text: this.base(), append_ids: this.picked.map((t) => t.id), ...extra }
      : { text: this.state.text, ...extra };
  }

  hasText() {
    return this.picked.length > 0 || this.state.text.trim() !== "";
  }

  /** Append a token chosen from the bars: by id, its whole characters shown in the box. */
  pick(token) {
    if (!this.picked.length) this.state.from = this.state.text.length;
    this.picked.push({ id: token.id, text: token.text, display: token.display, bytes: token.bytes, partial: token.partial });
    this.showPicked();
    this.save();
    this.refresh();
  }

  /** The box shows the text and the picked tokens' whole characters; bytes still waiting for the
   *  rest of their character are shown beside it as a chip, in hex. */
  showPicked() {
    const known = this.picked.every((t) => t.bytes !== undefined);
    if (known && this.picked.length) {
      const { whole } = splitWhole(this.picked);
      this.state.text = this.state.text.slice(0, this.state.from) + whole;
      this.prompt.value = this.state.text;
    }
    const waiting = known ? splitWhole(this.picked).pending : 0;
    const box = $("picked");
    box.hidden = waiting === 0;
    if (waiting) {
      const hex = this.picked.flatMap((t) => bytesOf(t.bytes)).slice(-waiting)
        .map((b) => b.toString(16).padStart(2, "0")).join(" ");
      tokenChips($("picked-bytes"), [{ id: this.picked[this.picked.length - 1].id, text: "\ufffd", bytes: hex, partial: true }]);
    }
    this.state.ids = this.picked.map((t) => t.id).join(",");
  }

  save() {
    writeState(this.state, DEFAULTS);
    this.updateLinks();
  }

  updateLinks() {
    const q = (params) => `?${new URLSearchParams(params)}`;
    const text = this.state.text;
    $("link-tokens").href = `/tokens${q({ text })}`;
    $("link-predict").href = `/predict${q(this.picked.length ? { text: this.base(), steps: this.state.ids } : { text })}`;
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

  // --- loading --------------------------------------------------------------------------------

  async refresh() {
    this.updateLinks();
    const grid = document.querySelector(".journey-grid");
    grid.classList.add("busy");
    $("status").textContent = "The model is reading your text…";
    const tokens = this.loadTokens(this.picked.length ? null : { text: this.state.text });
    let model;
    if (this.hasText()) {
      model = this.loadModel();
    } else {
      this.loadModel.cancel();
      this.loadAttention.cancel();
      this.loadModel.clear();
      this.clearModelViews("Type some text above: the model needs at least one token to read.");
    }
    const mine = this.refreshes = (this.refreshes || 0) + 1;
    await Promise.all([tokens, model]);
    if (mine !== this.refreshes) return; // a newer refresh is still running
    grid.classList.remove("busy");
    $("status").textContent = "";
  }

  async fetchModel(signal) {
    this.loadAttention.cancel(); // this request brings the attention too
    // The three model views in parallel; the server computes the prompt's analysis once.
    const words = this.words();
    const [predicted, attention, points] = await Promise.all([
      api("/api/predict", this.request({ top_k: 10, temperature: 1, top_p: 1, n_predictions: 10 }), { signal }),
      api("/api/attention", this.request({ layer: this.state.layer, head: this.state.head }), { signal }),
      words.length >= MIN_POINTS
        // A map the server refuses (say, an odd word) should not hide the other three views.
        ? api("/api/embeddings/map", { sets: [], texts: words, method: "pca", dims: 2, mode: "static", neighbours: 3 }, { signal })
          .catch((error) => (error.name === "AbortError" ? Promise.reject(error) : { error }))
        : Promise.resolve(null),
    ]);
    return { predicted, attention, points, words };
  }

  async drawModel({ predicted, attention, points, words }) {
    if (this.picked.length) {
      // The picked tokens as the server read them (their bytes, after a reload from the URL).
      const n = this.picked.length;
      this.picked = predicted.tokens.slice(-n).map(({ id, text, display, bytes, partial }) => ({ id, text, display, bytes, partial }));
      this.showPicked();
      this.drawTokens({ tokens: predicted.tokens, count: predicted.tokens.length, characters: Array.from(this.state.text).length });
    } else {
      $("picked").hidden = true;
    }
    // A layer or head chosen while this request ran is drawn by its own request.
    const current = attention.layer === this.state.layer && attention.head === this.state.head;
    await Promise.all([this.drawPredictions(predicted), current ? this.drawAttention(attention) : null,
      this.drawPoints(points, words)]);
  }

  clearModelViews(message) {
    markFailed(MODEL_VIEWS, false);
    for (const id of ["j-bars", "j-attention", "j-points"]) {
      window.Plotly?.purge($(id));
      $(id).replaceChildren(el("p", { text: message, cls: "empty-view" }));
      $(id).removeAttribute("aria-describedby");
      $(`${id}-text`)?.replaceChildren();
    }
    // Back to the general explanations: the specific ones described the previous text.
    for (const [id, text] of Object.entries(GENERAL)) $(id).textContent = text(this.model);
  }

  // --- the four views -------------------------------------------------------------------------

  drawTokens(data) {
    const info = $("j-token-info");
    info.textContent = "";
    // A click or tap says what a hover's tooltip says (a touch screen has no hover).
    tokenChips($("j-tokens"), data.tokens, { onClick: (t, i) => {
      info.textContent = `Token #${i} ${quote(plainTokenLabel(t))}: id ${t.id}`
        + (t.partial ? `, a piece of a character (bytes ${t.bytes.toUpperCase()})` : "") + ".";
    } });
    const explain = $("tokens-explain");
    if (!data.count) {
      explain.textContent = "No text, no tokens.";
      return;
    }
    const spaced = data.tokens.find((t) => t.text.startsWith(" ") && t.text.trim() && !t.partial);
    explain.replaceChildren(
      el("strong", { text: `${data.count} token${data.count === 1 ? "" : "s"}` }),
      ` for ${data.characters} characters. ${isTouch ? "Tap" : "Hover over or click"} a token to see its id.`,
      spaced ? ` The space belongs to the token: ${quote(plainTokenLabel(spaced))} is id ${spaced.id}.` : "");
  }

  async drawPredictions(data) {
    const node = $("j-bars");
    node.querySelector(".empty-view")?.remove(); // never clear a live plot's own DOM
    await drawBars(node, data.predictions, { height: 300, onPick: (p) => this.pick(p) });
    const best = data.predictions[0];
    $("predict-explain").replaceChildren(
      el("strong", { text: quote(plainTokenLabel(best)) }), ` comes first with probability ${best.probability.toFixed(2)} `
      + `(${percent(best.probability)}). Every one of the ${this.model.vocab_size.toLocaleString("en")} tokens gets a `
      + "probability between 0 and 1; together they add up to 1. ",
      el("strong", { text: PICK }), " to append that token.",
      this.picked.some((t) => t.partial) ? " A token that is a piece of a character is shown by its bytes (hex) and "
        + "sent back by its id, so the model reads exactly the token it wrote." : "");
  }

  async drawAttention(data) {
    const node = $("j-attention");
    node.querySelector(".empty-view")?.remove(); // never clear a live plot's own DOM
    const n = data.tokens.length;
    const from = Math.max(0, n - HEATMAP_MAX);
    await drawAttention(node, data.tokens.slice(from), data.weights.slice(from).map((row) => row.slice(from)),
      { height: 300, label: `Attention weights of layer ${data.layer}, head ${data.head}`, first: from });

    const last = data.weights[n - 1];
    let top = 0;
    last.forEach((w, j) => { if (w > last[top]) top = j; });
    const parts = [
      `Row = the token looking, column = the token it looks at; each row adds up to 1. `,
      el("strong", { text: `Layer ${data.layer}, head ${data.head}` }),
      ` (counting from 0): the last token ${quote(plainTokenLabel(data.tokens[n - 1]))} puts ${percent(last[top])} of its `
      + `attention on ${quote(plainTokenLabel(data.tokens[top]))}${top === n - 1 ? " (itself)" : top === 0 ? " (the first token)" : ""}. `
      + `This head shares its keys and values with heads ${data.shares_kv_with.join(" and ")}.`,
    ];
    // The attention sink, explained where a learner first meets the dark first column.
    if (n >= 2) {
      const sink = data.weights.slice(1).reduce((sum, row) => sum + row[0], 0) / (n - 1);
      parts.push(" Averaged over the tokens after the first, this head puts ",
        el("strong", { text: percent(sink) }), ` of its attention on the first token, ${quote(plainTokenLabel(data.tokens[0]))}.`);
      if (sink >= 0.3) {
        parts.push(" That is an ", el("em", { text: "attention sink" }), ": each row must add up to 1, so a head "
          + "cannot look at nothing; the usual explanation is that a head with nothing useful to fetch for a token "
          + "parks the weight on the first token, which every token can see, whatever it says.");
      }
    }
    if (from > 0) parts.push(` Showing the last ${HEATMAP_MAX} of ${n} tokens.`);
    $("attention-explain").replaceChildren(...parts);
  }

  async drawPoints(data, words) {
    const node = $("j-points");
    if (!data || data.error) {
      window.Plotly?.purge(node);
      node.replaceChildren(el("p", { cls: "empty-view", text: data
        ? `No map for these words: ${data.error.message}`
        : `Type at least ${MIN_POINTS} different words to see them as points (now ${words.length}).` }));
      $("j-points-text")?.replaceChildren();
      $("points-explain").textContent = GENERAL["points-explain"](this.model);
      return;
    }
    node.querySelector(".empty-view")?.remove(); // never clear a live plot's own DOM
    await drawPoints(node, data.points, { height: 300 });
    const d = this.model.d_model;
    const long = this.allWords().filter((w) => Array.from(w.trimStart()).length > MAX_WORD_CHARS).length;
    const spaced = data.points.find((p) => p.word.startsWith(" "));
    const bare = data.points.find((p) => !p.word.startsWith(" ") && !/^\p{N}/u.test(p.word));
    const number = / \p{N}/u.test(this.state.text);
    $("points-explain").textContent = `Each word's embedding: ${d} numbers fixed before any context (for a word of `
      + "several tokens, the average of theirs), flattened onto the two directions in which these words differ most (PCA). "
      + `Words used alike have vectors that point alike, but two directions keep only part of the ${d} numbers: `
      + "two points close here need not be close in all of them. "
      + (spaced && bare ? `Each word is looked up as your text has it: ${quote(bare.word)} without a space `
        + `(${quote(`␣${bare.word}`)} would begin with a different token), ${quote(spaced.word.replace(/^ /, "␣"))} with `
        + "its space. " : "")
      + (number ? "A number is looked up without the space before it: the tokenizer keeps that space a token of its "
        + "own. " : "")
      + `${isTouch ? "Tap" : "Hover"} a point for its nearest tokens in all ${d}.`
      + (long ? ` ${long === 1 ? "One word is" : `${long} words are`} left out: the map takes words of at most `
        + `${MAX_WORD_CHARS} characters.` : "");
  }
}
