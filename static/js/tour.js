// The tour at "/": the model's numbers (kit/model.js: GET /api/model's answer in the page), progress ticks for the chapters
// visited, the follow-one-prompt journey and each chapter's live example.

import { $ } from "./api.js";
import { model } from "./kit/model.js";
import { markVisited, resetVisited, visited } from "./progress.js";
import { startExamples } from "./tour/chapters.js";
import { Journey } from "./tour/journey.js";

/** Write the model's numbers into every [data-fact] element of the page. */
function showFacts(model) {
  const facts = {
    ...model,
    group: model.n_heads / model.n_kv_heads,
    n_params_m: (model.n_params / 1e6).toFixed(1),
  };
  for (const node of document.querySelectorAll("[data-fact]")) {
    const value = facts[node.dataset.fact];
    if (value === undefined) continue;
    node.textContent = typeof value === "number" ? value.toLocaleString("en") : String(value);
  }
}

/** How the GGUF stores the weights (the model's `storage`, read from the file): quantised
 *  types mean the model computes with rounded weights, so say so where the model is introduced. */
const FORMATS = {  // the GGUF block formats this app reads (model/blockmatmul.py)
  Q4_1: "each weight a 4-bit code, 16 levels between a minimum and a maximum kept per block of 32 weights",
  Q8_0: "each weight an 8-bit code times a scale kept per block of 32 weights",
};

function showStorage(model) {
  const storage = model.storage || [];
  if (!storage.length) return;
  const millions = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n.toLocaleString("en"));
  const bits = (b) => `${Number.isInteger(b) ? b : b.toFixed(1)} bits`;
  const quantised = storage.filter((t) => /^(I?Q\d|TQ)/i.test(t.type));
  $("storage-types").textContent = storage.map((t) => `${t.type}: ${millions(t.weights)} weights `
    + `(${bits(t.bits_per_weight)} per weight on disk${quantised.includes(t) ? ", block scales included" : ""})`)
    .join("; ");
  $("storage-fact").hidden = false;
  if (!quantised.length) return;
  $("hero-storage").textContent = `, its weights stored quantised (${quantised.map((t) => t.type).join(", ")}: `
    + "see the model card below)";
  const how = (t) => `${t.type} (${FORMATS[t.type] || "a quantised type"})`;
  // Q4_1's 4-bit code has 16 levels, Q8_0's 8-bit code 256; a type not named here is only called rounded.
  const LEVELS = { Q4_1: 16, Q8_0: 256 };
  const levels = quantised.filter((t) => LEVELS[t.type]).map((t) => `${LEVELS[t.type]} (${t.type})`);
  const kept = storage.filter((t) => !quantised.includes(t));
  $("storage-explain").textContent = `The weights are the ones the GGUF file stores, quantised: ${quantised.map(how)
    .join("; ")}. So each quantised weight is ${levels.length ? `one of ${levels.join(" or ")} levels of its block`
    : "a rounded value"}${kept.length ? `; the other ${kept.map((t) => `${millions(t.weights)} (${t.type})`)
    .join(", ")} are stored as they are` : ""}. The model computes with these rounded weights, so every number on `
    + "these pages is the quantised model's. The original full-precision model would give different numbers; "
    + "this app has only the quantised file, so it cannot show how different.";
  $("storage-explain").hidden = false;
}

// --- progress -------------------------------------------------------------------------------------

const CHAPTER_SLUGS = [...document.querySelectorAll("#progress-steps li")].map((li) => li.dataset.slug);

function showProgress() {
  const seen = visited();
  const count = CHAPTER_SLUGS.filter((s) => seen.has(s)).length;
  $("progress-count").textContent = `${count} of ${CHAPTER_SLUGS.length}`;
  $("progress-reset").hidden = count === 0;
  for (const node of document.querySelectorAll("#progress-steps li, #story .chapter")) {
    const done = seen.has(node.dataset.slug);
    node.classList.toggle("visited", done);
    const label = node.querySelector("[data-visited-label]");
    if (label) label.textContent = done ? " (visited)" : "";
  }
}

function trackProgress() {
  // Following any link to a chapter from this page counts as visiting it; chapter pages that
  // load progress.js also record themselves.
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[href]");
    if (!link || link.origin !== window.location.origin) return;
    const slug = link.pathname.replace(/^\//, "");
    if (CHAPTER_SLUGS.includes(slug)) markVisited(slug);
  });
  $("progress-reset").addEventListener("click", () => { resetVisited(); showProgress(); });
  window.addEventListener("storage", showProgress);         // another tab visited a chapter
  window.addEventListener("pageshow", showProgress);        // back from a chapter (page cache)
  showProgress();
}

// --- start ----------------------------------------------------------------------------------------

function main() {
  trackProgress();
  showFacts(model);
  showStorage(model);
  new Journey(model).start();
  startExamples();
}

main();
