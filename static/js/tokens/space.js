// Chapter 2's one-click demo: the same prompt with and without a trailing space. A space at the
// end becomes a lone "␣" token, the token this tokenizer makes before a digit ("In 1969" is
// In|␣|1|9|6|9), so the model expects a digit next instead of "␣Paris". Every number shown is
// read from POST /api/predict when the button is pressed (probabilities at temperature 1).

import { $, api, el, tokenChip } from "../api.js";
import { plainTokenLabel } from "../kit/chips.js";
import { loader } from "../kit/load.js";

const BASE = "The capital of France is";
const SHOWN = 20;     // predictions asked for: the digits among them are added up
const TOP = 3;        // predictions listed per prompt

const pct = (p) => `${(p * 100).toFixed(p >= 0.1 ? 0 : p >= 0.01 ? 1 : 2)}%`;
const quote = (s) => `“${s}”`;

function column(title, data) {
  const last = data.tokens[data.tokens.length - 1];
  return el("div", { cls: "space-col" }, [
    el("p", { cls: "space-title" }, [el("code", { text: title }), ` ends in the token `,
      tokenChip(last), ` (${data.tokens.length} tokens)`]),
    el("ol", { cls: "space-top" }, data.predictions.slice(0, TOP).map((p) =>
      el("li", {}, [tokenChip(p), ` ${pct(p.probability)}`]))),
  ]);
}

/** Both prompts at once, then the two columns and what they show, computed from the answers. */
async function ask(signal) {
  const body = { n_predictions: SHOWN, temperature: 1, top_k: 0, top_p: 1 };
  return Promise.all([
    api("/api/predict", { ...body, text: BASE, guess: " Paris" }, { signal }),
    api("/api/predict", { ...body, text: BASE + " ", guess: "Paris" }, { signal }),
  ]);
}

function draw([plain, spaced]) {
  const digits = spaced.predictions.filter((p) => /^[0-9]$/.test(p.text)).reduce((s, p) => s + p.probability, 0);
  const best = spaced.predictions[0];
  const paris = spaced.guess;
  const name = (t) => quote(plainTokenLabel(t));
  $("space-result").replaceChildren(
    el("div", { cls: "space-cols" }, [column(BASE, plain), column(BASE + "␣", spaced)]),
    el("p", { cls: "explain" }, [
      `Without the space, ${name(plain.predictions[0])} comes first (${pct(plain.predictions[0].probability)}). `
      + "With it, the text ends in a lone “␣” token, the token this tokenizer makes before a digit, so the "
      + `model expects a digit: ${name(best)} comes first (${pct(best.probability)}) and the digits among `
      + `the top ${SHOWN} take ${pct(digits)} of the probability. “Paris” written without its space (the space `
      + `is already there) is only #${paris.rank.toLocaleString("en")}, at ${pct(paris.token.probability)}. `
      + "So a prompt should not end in a space."]));
}

// An earlier answer is hidden, not left beside an error (the server busy, say).
const load = loader({
  run: ask, draw, views: ["space-result"], error: "space-error",
});

async function run() {
  const button = $("space-run");
  button.disabled = true;
  $("space-status").textContent = "Asking the model…";
  await load();
  $("space-status").textContent = "";
  button.disabled = false;
}

export function wireSpaceDemo() {
  $("space-run").addEventListener("click", run);
}
