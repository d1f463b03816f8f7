// Chapter 6: a conversation with the instruct model. The reply streams token by token
// (server-sent events read from a fetch body); the template view shows the exact tokens the model
// reads. State in the URL: the conversation (`c`, JSON), the system message and the settings.
// Model text reaches the page only through textContent.
import { $, apiError, readState, writeState, debounce, el, plainTokenLabel, showError, sseEvents, tokenChip } from "./api.js";
import { apiFirst } from "./kit/first.js";
import { loader } from "./kit/load.js";
import { model } from "./kit/model.js";

const DEFAULTS = { c: "[]", system: "", temperature: 0.3, top_k: 50, top_p: 0.9, max: 120, seed: 1 };
const EXAMPLES = ["What is the capital of France?", "Write a haiku about the sea.", "Explain gravity to a child.",
  "Give me three tips for learning to code."];

const EMPTY = $("empty");                // the hint shown while there is no conversation
const state = readState(DEFAULTS);
let messages = parseMessages(state.c);   // {role, content, tokens?: generated tokens, stopped?}
let controller = null;                   // the running reply's AbortController
// A turn is in flight from the click that sends (or redraws) until its reply ends: the token view
// is fetched before the reply starts, and a second click in that gap must not send again.
let turnInFlight = false;
let selected = null;                     // the reply token whose alternatives are shown
const maxPromptTokens = model.limits.max_prompt_tokens;  // the server's prompt limit, which the whole conversation must fit

function parseMessages(raw) {
  try {
    const list = JSON.parse(raw);
    return Array.isArray(list) ? list.filter((m) => m && ["user", "assistant"].includes(m.role) && typeof m.content === "string")
      .map(({ role, content }) => ({ role, content })) : [];
  } catch { return []; }
}

function save() {
  state.c = JSON.stringify(messages.filter((m) => !m.pending).map(({ role, content }) => ({ role, content })));
  writeState(state, DEFAULTS);
}

const conversation = (list = messages) => [
  ...(state.system.trim() ? [{ role: "system", content: state.system }] : []),
  ...list.filter((m) => !m.pending).map(({ role, content }) => ({ role, content })),
];

// --- rendering -------------------------------------------------------------------------------

// Never rounds to an untrue 100% (softmax gives every token something), and tiny values stay readable.
const pct = (p) => (p > 0.999 ? ">99.9%" : p >= 0.001 ? `${(p * 100).toFixed(1)}%`
  : p >= 1e-6 ? `${(p * 100).toPrecision(2)}%` : "<0.0001%");

// A reply as clickable pieces of text. Each token adds its `delta` to the text: an emoji or a CJK
// character often takes several byte-level tokens, and only the last of them completes the
// character, so those tokens make one piece; clicking it shows the alternatives of its first token,
// where the character began.
function replyPieces(tokens) {
  const pieces = [];
  let group = [];
  for (const t of tokens) {
    if (t.special) continue;  // <|im_end|> ends the turn; it is shown in the token view, not as text
    group.push(t);
    if (t.delta) { pieces.push({ text: t.delta, tokens: group }); group = []; }
  }
  return pieces;
}

function replyTokens(message, body) {
  for (const piece of replyPieces(message.tokens)) {
    const [first] = piece.tokens;
    const many = piece.tokens.length > 1;
    const span = el("span", { text: piece.text, cls: "rt" + (piece.tokens.includes(selected) ? " selected" : ""),
      title: many ? `“${piece.text}” took ${piece.tokens.length} tokens (pieces of its bytes) · click for the alternatives`
        : `“${first.display}” · probability ${pct(first.probability)} (${atTemperature(first)})${drawChance(first)} · click for the alternatives`,
      attrs: { role: "button", tabindex: "0" } });
    const pickIt = () => { selected = first; renderMessages(); showAlternatives(first, many ? piece : null); };
    span.addEventListener("click", pickIt);
    span.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pickIt(); } });
    body.append(span);
  }
}

function renderMessages() {
  const box = $("messages");
  box.replaceChildren();
  if (!messages.length) box.append(EMPTY);
  for (const m of messages) {
    const body = el("div", { cls: "msg-body" });
    if (m.tokens) replyTokens(m, body);
    else body.textContent = m.content;
    if (m.pending && !m.tokens.length) body.append(el("span", { cls: "typing", text: "…" }));
    const note = m.stopped ? "stopped" : m.reason === "max_new_tokens" ? "cut at the longest reply" : "";
    box.append(el("div", { cls: `msg ${m.role}` }, [
      el("div", { cls: "who", text: m.role === "user" ? "You" : "SmolLM2" + (note ? ` · ${note}` : "") }), body]));
  }
  box.scrollTop = box.scrollHeight;
  $("regenerate").disabled = turnInFlight || !!controller || !messages.some((m) => m.role === "user");
  $("reset").disabled = turnInFlight || !!controller || !messages.length;
}

const ALTS_HELP = $("alts-help").textContent;

/** A token's chance to be drawn: its probability renormalised over the tokens top-k and top-p left
 *  (known when it is among the alternatives sent; a greedy reply takes the top token for sure). */
function drawChance(t) {
  if (t.temperature === 0) return "; a greedy reply takes the most probable token";
  const a = t.alternatives.find((x) => x.id === t.id);
  if (!a || a.sample_probability === undefined) return "";
  const p = a.sample_probability;
  return `; its chance to be drawn, among the tokens top-k and top-p left, ${p === 1 ? "100%" : pct(p)}`;
}

/** The temperature a token's probabilities are at: the reply's own, or 1 for a greedy reply. */
const atTemperature = (t) => (t.temperature > 0 ? `at temperature ${t.temperature}` : "at temperature 1");

/** Say which temperature the probabilities are at, and how that compares with chapter 5. */
function temperatureNote(t) {
  if (t.temperature === 0) {
    return " This reply was greedy (temperature 0): the most probable token is always taken, and the "
      + "probabilities shown are at temperature 1, as chapter 5 shows them by default.";
  }
  if (t.temperature === 1) return " The probabilities are at temperature 1, as chapter 5 shows them by default.";
  return ` The probabilities are at temperature ${t.temperature}, the setting this reply was drawn with, so they `
    + `differ from chapter 5's default of 1: ${t.temperature < 1 ? "below 1 the favourite looks surer"
      : "above 1 the favourite looks less sure"} (try the Temperature slider in chapter 5).`;
}

function clearAlternatives() {
  selected = null;
  $("alts").replaceChildren();
  $("alts-help").textContent = ALTS_HELP;
}

function showAlternatives(t, piece = null) {
  const box = $("alts");
  box.replaceChildren();
  const rows = t.alternatives.some((a) => a.id === t.id) ? t.alternatives
    : [...t.alternatives, { id: t.id, display: t.display, bytes: t.bytes, partial: t.partial, probability: t.probability, allowed: true }];
  const top = Math.max(...rows.map((a) => a.probability));
  for (const a of rows) {
    const bar = el("span", { cls: "bar" });
    bar.style.width = `${Math.max(1, (a.probability / top) * 100)}%`;
    box.append(el("div", { cls: "alt" + (a.id === t.id ? " chosen" : "") + (a.allowed ? "" : " blocked"),
      title: a.allowed ? "could be drawn" : t.temperature === 0 ? "not the most probable: a greedy reply never draws it"
        : "ruled out by top-k / top-p" }, [
      el("span", { cls: "alt-tok", text: plainTokenLabel(a) }), el("span", { cls: "alt-bar" }, [bar]),
      el("span", { cls: "alt-p", text: pct(a.probability) })]));
  }
  $("alts-help").textContent = (piece
    ? `“${piece.text}” is ${piece.tokens.length} tokens, each a piece of its bytes (shown in hex). At its first piece, `
      + "these were the most probable tokens; the highlighted one was drawn."
    : `At “${t.display}”, these were the most probable tokens; the highlighted one was drawn.`)
    + (t.temperature === 0 ? " Greyed tokens could not be drawn: a greedy reply takes only the most probable."
      : " Greyed tokens were ruled out by top-k or top-p.") + temperatureNote(t);
}

// The assistant's turn is opened only when the model is to write next: after its own reply the
// sequence ends with that reply's <|im_end|> (the next turn is the user's). A failed answer hides the
// token view (it would show an earlier conversation as if it were this one) and says why.
// The first answer is the one the server drew into the page (app/pictures/chat.py), for the GET twin
// app/views/first_request.py `chat` names: the messages as JSON text.
const templateLoad = loader({
  run: (signal, list) => {
    const body = { messages: list, add_generation_prompt: list[list.length - 1].role !== "assistant" };
    return apiFirst("/api/chat/template", { messages: JSON.stringify(list), add_generation_prompt: body.add_generation_prompt },
      body, { signal });
  },
  draw: drawTemplate, views: ["template-tokens", "template-count"],
  onError: (error) => showError($("error"), error),
});

function renderTemplate() {
  // While a reply streams, its chips are being appended to the view: redrawing it would drop
  // them. The view is redrawn when the reply ends.
  if (controller) return Promise.resolve();
  const list = conversation();
  if (!list.length || list.every((m) => m.role === "system")) {
    list.push({ role: "user", content: $("input").value || "…" });
  }
  return templateLoad(list);
}

function drawTemplate(data) {
  // Never while a reply streams onto the end of the view (an answer asked for before the reply
  // started would wipe its chips with an older conversation).
  if (controller) return;
  const view = $("template-tokens");
  view.replaceChildren();
  for (const t of data.tokens) {
    view.append(tokenChip(t, { title: `id ${t.id}` + (t.message !== null ? ` · message ${t.message + 1}` : " · opens the reply"),
      cls: t.special ? "" : t.source === "template" ? "legend-template" : "legend-content" }));
    if (t.text.endsWith("\n")) view.append(el("br"));
  }
  $("template-count").textContent = `Right now: ${data.count} tokens`
    + (maxPromptTokens ? ` of the ${maxPromptTokens} a prompt may have.` : ".");
}

function appendReplyChip(t) {
  $("template-tokens").append(tokenChip(t, { cls: t.special ? "" : "legend-reply", title: `id ${t.id}` }));
}

// --- streaming -------------------------------------------------------------------------------

// --- a redrawn reply that came out the same ---------------------------------------------------

/** Why a reply drawn again with a new seed came out word for word the same, from the request's
 *  settings and the draw chances the server sent with each token. */
function sameReplyNote(message, settings) {
  const start = `The same reply again, drawn with seed ${settings.seed}: `;
  if (settings.temperature === 0) {
    return start + "at temperature 0 the model always takes the most probable token, so the seed changes nothing. "
      + "Raise the temperature to get a different reply.";
  }
  if (settings.top_k === 1) {
    return start + "top-k 1 leaves only the most probable token to draw from, so the seed changes nothing. "
      + "Raise top-k (0 means no limit) to get a different reply.";
  }
  // Each token's chance to be drawn among the tokens top-k and top-p left, as the server sent it.
  const chances = message.tokens.map((t) => t.alternatives.find((a) => a.id === t.id)?.sample_probability);
  const known = chances.every((p) => typeof p === "number");
  if (known && chances.every((p) => p === 1)) {
    // top-k is above 1 here, so it was top-p that left a single token at every step.
    return start + `top-p ${settings.top_p} left only the most probable token at every step, so the seed changes `
      + "nothing. Raise top-p to get a different reply.";
  }
  const chance = known ? chances.reduce((a, b) => a * b, 1) : null;
  // Only a temperature below 1 sharpens the odds; at 1 or above the favourites were likely enough on their own.
  return start + (settings.temperature < 1
    ? `a temperature of ${settings.temperature} makes the most probable tokens surer still (chapter 5), `
      + "so another seed can draw the very same ones"
    : "the most probable tokens were likely enough that another seed can draw the very same ones")
    + (chance !== null ? `: these ${chances.length} tokens had a ${pct(chance)} chance to be drawn, the product of each `
      + "token's chance among the tokens top-k and top-p left" : "")
    + ". Raise the temperature, top-k or top-p for more varied replies.";
}

function showSameReply(text) {
  const note = $("same-reply");
  note.textContent = text || "";
  note.hidden = !text;
}

async function reply(previous = null) {
  showError($("error"), null);
  showSameReply(null);
  const seed = state.seed + messages.filter((m) => m.role === "assistant").length;
  const body = { messages: conversation(), max_new_tokens: state.max, temperature: state.temperature,
    top_k: state.top_k, top_p: state.top_p, seed, stream: true, alternatives: 8 };
  const message = { role: "assistant", content: "", tokens: [], pending: true };
  messages.push(message);
  controller = new AbortController();
  setStreaming(true);
  renderMessages();
  try {
    const response = await fetch("/api/generate", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body), signal: controller.signal });
    if (!response.ok) throw await apiError(response);
    for await (const { event, data } of sseEvents(response)) {
      if (event === "token") {
        data.temperature = body.temperature;  // what its probabilities were computed at (the settings may change later)
        // A token event carries its own `bytes` and `partial` (even when the drawn token is not among the
        // alternatives sent): a piece of a character is labelled by its hex bytes, never "\uFFFD".
        message.tokens.push(data);
        // The text grows by whole characters (`delta`), so a reply stopped midway is never left
        // with pieces of an emoji. Control tokens are not text: kept in the reply, they would make
        // the next turn's request hold a control token, which the server refuses.
        if (!data.special) message.content += data.delta;
        appendReplyChip(data);
        renderMessages();
      } else if (event === "done") {
        message.reason = data.stop_reason;
      } else if (event === "error") {
        throw Object.assign(new Error(data.detail), { code: data.code ?? null });
      }
    }
  } catch (error) {
    if (error.name === "AbortError") message.stopped = true;
    else showError($("error"), error);
  } finally {
    delete message.pending;
    message.done = true;
    if (previous !== null && !message.stopped && message.tokens.length && message.content === previous) {
      showSameReply(sameReplyNote(message, { seed, temperature: body.temperature, top_k: body.top_k, top_p: body.top_p }));
    }
    if (!message.tokens.length && !message.content) messages.pop();  // nothing came: drop the empty bubble
    controller = null;
    setStreaming(false);
    save();
    renderMessages();
    renderTemplate();
  }
}

function setStreaming(on) {
  $("send").disabled = on;
  $("stop").hidden = !on;
  $("status").textContent = on ? "The model is writing, one token at a time…" : "";
}

async function send(text) {
  if (turnInFlight || controller || !text.trim()) return;
  turnInFlight = true;
  try {
    await sendTurn(text);
  } finally {
    turnInFlight = false;
    renderMessages();
  }
}

async function sendTurn(text) {
  messages.push({ role: "user", content: text });
  $("input").value = "";
  save();
  renderMessages();
  await renderTemplate();  // before the reply streams its chips onto the end of the token view
  const before = messages.length;
  await reply();
  // Refused before a single token (say, the message holds a control token): give the text back to
  // the box to be edited, rather than leave it in the conversation where every later turn is refused.
  if (messages.length === before && $("error").textContent) {
    messages.pop();
    $("input").value = text;
    save();
    renderMessages();
    renderTemplate();
  }
}

// --- controls --------------------------------------------------------------------------------

function bindSettings() {
  const limits = { temperature: [0, 2], top_k: [0, 1000], top_p: [0.05, 1], max: [1, model.limits.max_new_tokens], seed: [0, 2 ** 31] };
  for (const [name, [lo, hi]] of Object.entries(limits)) {
    const input = $(name);
    input.value = state[name];
    input.addEventListener("change", () => {
      const v = Number(input.value);
      state[name] = Number.isFinite(v) ? Math.min(hi, Math.max(lo, name === "top_p" || name === "temperature" ? v : Math.round(v))) : DEFAULTS[name];
      input.value = state[name];
      save();
    });
  }
  $("max").max = String(model.limits.max_new_tokens);
  $("model-size").textContent = ` (${Math.round(model.n_params / 1e6)} million parameters)`;
}

function main() {
  bindSettings();
  const system = $("system");
  system.value = state.system;
  if (state.system) $("system-details").open = true;
  system.addEventListener("input", debounce(() => { state.system = system.value; save(); renderTemplate(); }, 300));
  for (const example of EXAMPLES) {
    const b = el("button", { text: example, attrs: { type: "button" } });
    b.addEventListener("click", () => send(example));
    $("examples").append(b);
  }
  const input = $("input");
  $("composer").addEventListener("submit", (e) => { e.preventDefault(); send(input.value); });
  input.addEventListener("keydown", (e) => {
    // Enter while an input method is composing (Chinese, Japanese, Korean) picks a candidate; it must not send.
    if (e.isComposing || e.keyCode === 229) return;
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(input.value); }
  });
  input.addEventListener("input", debounce(() => { if (!messages.length) renderTemplate(); }, 300));
  $("stop").addEventListener("click", () => controller && controller.abort());
  $("regenerate").addEventListener("click", () => {
    if (turnInFlight || controller) return;
    turnInFlight = true;
    let previous = null;  // the reply drawn again, to say so when the new one comes out the same
    if (messages.length && messages[messages.length - 1].role === "assistant") {
      const last = messages.pop();
      previous = last.content;
      if (last.tokens?.includes(selected)) clearAlternatives();
    }
    state.seed += 1;
    $("seed").value = state.seed;
    save();
    renderMessages();
    renderTemplate().then(() => reply(previous)).finally(() => { turnInFlight = false; renderMessages(); });
  });
  $("reset").addEventListener("click", () => {
    if (turnInFlight || controller) return;
    messages = [];
    clearAlternatives();
    showSameReply(null);
    save(); renderMessages(); renderTemplate();
  });
  renderMessages();
  renderTemplate();
}

main();
