// The live example of each chapter of the story: small requests to the same JSON API the
// chapter pages use, made when the example scrolls into view. Every number in a caption is
// read from the answer, never typed in.

import { $, api, el, plainTokenLabel, tokenChips } from "../api.js";
import { isTouch } from "../kit/plotly.js";
import { EXAMPLES as SENSE_EXAMPLES, gaps, MARGIN, swapWord } from "../attention/senses.js";
import { drawBars, drawLines, percent } from "./plots.js";

const quote = (s) => `“${s}”`;

function failed(caption, error) {
  caption.classList.add("error");
  caption.textContent = `This example could not be computed: ${error.message || error}`;
}

// --- 1. a neural network ------------------------------------------------------------------------

async function network() {
  const caption = $("net-caption");
  const data = await api("/api/network/dataset");
  $("net-symbols").replaceChildren(...data.symbols.map((s) => {
    const grid = el("div", { cls: "pixels", attrs: { role: "img", "aria-label": `the symbol ${s.label}` } },
      s.pixels.map((v) => el("span", { cls: v > 0 ? "on" : "off" })));
    return el("div", { cls: "symbol" }, [grid, el("span", { text: s.label, cls: "symbol-label" })]);
  }));
  const run = await api("/api/network/train", {});
  const epochs = run.loss.length - 1;
  await drawLines($("net-loss"), [{ y: run.loss, name: "loss", hover: "step %{x}: loss %{y:.3f}<extra></extra>" }],
    { xTitle: "steps of gradient descent", yTitle: "loss", height: 170 });
  const first = run.heldout_accuracy[0], last = run.heldout_accuracy[epochs];
  caption.replaceChildren(
    `Trained just now on this server: ${epochs} steps of gradient descent over ${data.train.length} drawings `
    + `(the ${data.symbols.length} symbols and noisy copies). The loss fell from ${run.loss[0].toFixed(2)} to `
    + `${run.loss[epochs].toFixed(3)}, and the network now names `,
    el("strong", { text: percent(last) }),
    ` of ${data.heldout.length} noisy drawings it never trained on (${percent(first)} before training).`);
}

// --- 2. tokens ----------------------------------------------------------------------------------

const TOKENS_EXAMPLE = "Unbelievably, 2025 pizzas 🍕 were eaten.";

async function tokens() {
  const data = await api("/api/tokenize", { text: TOKENS_EXAMPLE });
  // A click or tap says what a hover's tooltip says (a touch screen has no hover).
  tokenChips($("tok-example"), data.tokens, { onClick: (t, i) => {
    $("tok-info").textContent = `Token #${i} “${plainTokenLabel(t)}”: id ${t.id}`
      + (t.partial ? `, a piece of a character (bytes ${t.bytes.toUpperCase()})` : "") + ".";
  } });
  const word = TOKENS_EXAMPLE.split(",")[0];
  const pieces = data.tokens.filter((t) => t.start < word.length).length;
  const digits = data.tokens.filter((t) => /^\d$/.test(t.text)).length;
  const partial = data.tokens.filter((t) => t.partial).length;
  const parts = [el("strong", { text: `${data.count} tokens` }), ` for ${data.characters} characters. `];
  if (pieces > 1) parts.push(`The rare word ${quote(word)} is cut into ${pieces} pieces. `);
  if (digits) parts.push(`The number is ${digits} tokens, one per digit. `);
  const loneSpace = data.tokens.some((t, i) => t.text === " " && /^\d$/.test(data.tokens[i + 1]?.text ?? ""));
  if (loneSpace) parts.push("The space before it stays a token of its own (“␣”): a digit never takes a space. ");
  if (partial) parts.push(`The emoji is ${partial} tokens, each holding part of its bytes (shown as bytes, dashed). `);
  parts.push(`${isTouch ? "Tap" : "Hover over or click"} a token for its id.`);
  $("tok-caption").replaceChildren(...parts);
}

// --- 3. embeddings ------------------------------------------------------------------------------

async function embeddings() {
  const [near, analogy] = await Promise.all([
    api("/api/embeddings/neighbours", { word: "France", k: 4 }),
    api("/api/embeddings/analogy", { a: "puppy", b: "dog", c: "cat" }),
  ]);
  $("emb-neighbours").replaceChildren(el("span", { text: "Nearest to ", cls: "muted" }), el("strong", { text: "␣France" }),
    el("span", { text: ": ", cls: "muted" }),
    ...near.neighbours.flatMap((n, i) => [i ? ", " : "", el("code", { text: plainTokenLabel(n) }), ` ${n.cosine.toFixed(2)}`]));
  const best = analogy.results[0];
  // The nearest token of all is often an input itself (puppy − dog + cat is nearest to ␣puppy): say so.
  const first = analogy.with_inputs?.[0];
  const input = first && first.id !== best.id && first.cosine > best.cosine ? first : null;
  // The offsets compared are dog → puppy and cat → (the top result): the page's reading follows the model.
  const o = analogy.offsets;
  $("emb-analogy").replaceChildren(el("code", { text: "puppy − dog + cat" }), " lands nearest to ",
    ...(input ? [el("strong", { text: plainTokenLabel(input) }), ` itself (cosine ${input.cosine.toFixed(2)}); leaving out `
      + "the three words put in, nearest is "] : []),
    el("strong", { text: plainTokenLabel(best) }), ` (cosine ${best.cosine.toFixed(2)}). The steps ${o.first} and `
    + `${o.second} have cosine ${o.cosine.toFixed(2)}. Not all of that is meaning: dog → puppy also steps from a `
    + "common word toward rarer ones, a direction that cat → almost any rarer word shares, so even cat → a "
    + `word-like token about as common as ${analogy.answer} and with a vector about as long scores `
    + `${o.random_cosine.toFixed(2)} on average; ${o.second} still beats `
    + (o.random_beaten === 1 ? "each of" : `${percent(o.random_beaten)} of`)
    + ` ${o.random_count.toLocaleString("en")} such tokens.`);
  $("emb-caption").textContent = "Read just now from the model's own embedding table. Cosine similarity says how "
    + "alike two directions are: 1 means the same direction, 0 at right angles.";
}

// --- 4. attention -------------------------------------------------------------------------------

// The attention page's fair sense test on its first built-in example: "bank" compared with itself in
// sentences of the same sense and of the other sense, with a plain word in its place as the control.
const BANK = SENSE_EXAMPLES[0];

async function attention() {
  const senses = (word, groups) => api("/api/attention/senses", { word, groups });
  const swapped = BANK.groups.map((g) => g.map((s) => swapWord(s, BANK.word, BANK.control)));
  const [word, control] = await Promise.all([senses(BANK.word, BANK.groups), senses(BANK.control, swapped)]);
  const g = gaps(word);
  const gc = gaps(control);
  let d = 1;
  for (let k = 1; k < g.length; k++) if (g[k] - gc[k] > g[d] - gc[d]) d = k;
  const at = word.layers[d];
  const c = control.layers[d];
  await drawLines($("bank-plot"), [
    { y: word.layers.map((l) => l.within), name: "same sense", hover: "same sense, after %{x} layers: %{y:.2f}<extra></extra>" },
    { y: word.layers.map((l) => l.across), name: "other sense", color: "#d9682b",
      hover: "other sense, after %{x} layers: %{y:.2f}<extra></extra>" },
  ], { xTitle: "layers read (0 = the input embedding)", yTitle: "cosine", height: 190,
    // Head room above 1 keeps the lines clear of the legend, which wraps to two rows on a phone.
    yRange: [Math.min(...word.layers.map((l) => l.across)) - 0.03, 1.12] });
  const n = BANK.groups.map((grp) => grp.length);
  const fair = g[d] - gc[d] >= MARGIN;
  $("bank-caption").replaceChildren(
    `“${BANK.word}” in ${n[0]} river sentences and ${n[1]} money sentences, compared with itself. At the input every `
    + `“${BANK.word}” is the same vector. After ${d} layers, two banks of the same sense have an average cosine of `, el("strong", { text: at.within.toFixed(2) }),
    `; a river bank and a money bank `, el("strong", { text: at.across.toFixed(2) }),
    `. With “${BANK.control}” in its place the same sentences give ${c.within.toFixed(2)} and ${c.across.toFixed(2)}`
    + (fair ? `: the gap comes from what “${BANK.word}” means there, not only from what the sentences are about.`
      : `, a gap within ${MARGIN} of the word's: here it mostly reflects what the sentences are about.`));
}

// --- 5. next token ------------------------------------------------------------------------------

const PARIS = "The capital of France is";

async function predict() {
  const data = await api("/api/predict", { text: PARIS, n_predictions: 5 });
  await drawBars($("paris-bars"), data.predictions, { height: 190 });
  const best = data.predictions[0];
  $("paris-caption").replaceChildren(`After ${quote(PARIS)} the model gives `,
    el("strong", { text: quote(plainTokenLabel(best)) }), ` a probability of ${best.probability.toFixed(2)}; `
    + `the other ${(data.predictions.length - 1)} shown share ${percent(data.predictions.slice(1)
      .reduce((s, p) => s + p.probability, 0))}, and the remaining tokens of the vocabulary the rest.`);
}

// --- 6. chat ------------------------------------------------------------------------------------

const QUESTION = "What is the capital of France?";

async function chat() {
  const data = await api("/api/chat/template", { messages: [{ role: "user", content: QUESTION }] });
  tokenChips($("chat-example"), data.tokens);
  [...$("chat-example").children].forEach((chip, i) => {
    const t = data.tokens[i];
    if (!t.special && t.source === "template") chip.classList.add("template");
  });
  // We sent no system message: the server says which tokens are in a turn the template wrote on its own.
  const added = data.tokens.some((t) => t.added_turn);
  $("chat-caption").replaceChildren(`One question, ${quote(QUESTION)}, becomes `,
    el("strong", { text: `${data.count} tokens` }), `, ${data.special_count} of them special (dark). Grey tokens `
    + `were added by the model's own chat template${added ? ", including a default system message" : ""}; `
    + "the model answers by continuing after the last line.");
}

// --- loading when seen --------------------------------------------------------------------------

const EXAMPLES = { network, tokens, embeddings, attention, predict, chat };
const CAPTIONS = { network: "net-caption", tokens: "tok-caption", embeddings: "emb-caption",
  attention: "bank-caption", predict: "paris-caption", chat: "chat-caption" };

async function load(slug) {
  try {
    await EXAMPLES[slug]();
  } catch (error) {
    failed($(CAPTIONS[slug]), error);
  }
}

/** Compute each chapter's example when it first comes near the screen (all at once without IntersectionObserver). */
export function startExamples() {
  const chapters = [...document.querySelectorAll("#story .chapter")].filter((c) => EXAMPLES[c.dataset.slug]);
  if (!("IntersectionObserver" in window)) {
    chapters.forEach((c) => load(c.dataset.slug));
    return;
  }
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      observer.unobserve(entry.target);
      load(entry.target.dataset.slug);
    }
  }, { rootMargin: "300px 0px" });
  chapters.forEach((c) => observer.observe(c));
}
