// Chapter 2, tokens: text -> coloured token chips as you type, ids -> text, chat -> tokens.
// State lives in the URL (text, show, ids, tab, chat, gen) so any view can be shared.
// User text reaches the page only through textContent (the `el` helper), never as HTML.

import { $, api, debounce, el, readState, tokenChip, tokenColour, visibleControls, writeState } from "./api.js";
import { apiFirst } from "./kit/first.js";
import { loader } from "./kit/load.js";
import { model } from "./kit/model.js";
import { wireSpaceDemo } from "./tokens/space.js";

const DEFAULT_TEXT = "Tokenizers cut unbelievably rare words into pieces, numbers like 2025 into digits, and 🍕 into bytes.";
const DEFAULT_CHAT = [
  { role: "system", content: "You are a patient tutor. Answer in one sentence." },
  { role: "user", content: "What is a token?" },
];
const DEFAULTS = { tab: "text", text: DEFAULT_TEXT, show: "text", ids: "", chat: "", gen: true };
const ROLES = ["system", "user", "assistant"];
const MAX_MESSAGES = 32;

// Each example teaches one thing; its note shows whenever the text is exactly the example.
const EXAMPLES = [
  { label: "A long rare word", text: "antidisestablishmentarianism",
    note: "A word the vocabulary does not hold whole is spelled out of pieces it does hold. Common words "
      + "(try “the” or “house”) are a single token." },
  { label: "“␣the” versus “the”", text: "the\n the\nThe\n The",
    note: "Four tokens that look alike, four different ids: the space in front belongs to the token, "
      + "and capitals are different tokens again. Switch to Ids to compare the numbers." },
  { label: "Numbers", text: "In 1969, 3 astronauts flew 384400 km to the Moon.",
    note: "This model’s tokenizer cuts every number into single digits, so 384400 is six tokens. The model "
      + "has to learn place value from sequences of digits. The space before a number cannot join a digit, so it "
      + "stays a token of its own, “␣”." },
  { label: "Emoji", text: "I love 🍕! 👍🏽 👩‍👩‍👧",
    note: "Each emoji here is 4 bytes of UTF-8 (some, such as ❤, are 3); 👍🏽 is two of them, a thumbs-up and a "
      + "skin tone: 8 bytes. In the whole vocabulary one emoji has a token of its own, “␣🙂”, space included (🙂 alone "
      + "is two tokens); every other emoji is cut into two or three tokens, each holding part of its bytes. "
      + "👩‍👩‍👧 is three emoji glued by invisible joiners: 18 bytes." },
  { label: "Code", text: "def greet(name):\n    if name:\n        return f\"Hello, {name}!\"\n    return None",
    note: "Indentation is text too: a new line and the spaces after it become one token, all but the last "
      + "space, which joins the next word as usual; common keywords such as “␣return” are single tokens." },
  { label: "Other scripts", text: "Hello! Bonjour ! こんにちは! 안녕하세요! Привет!",
    note: "The vocabulary was learned mostly from English, so the same greeting costs more tokens in other "
      + "scripts: “Hello” is one token, while the five characters of 안녕하세요 take 14 tokens of a byte or two each." },
];

const CHAT_EXAMPLES = [
  { label: "With a system message", messages: DEFAULT_CHAT },
  { label: "No system message", messages: [{ role: "user", content: "What is a token?" }] },
  { label: "A conversation", messages: [
    { role: "system", content: "You are a patient tutor." },
    { role: "user", content: "What is 2 + 2?" },
    { role: "assistant", content: "2 + 2 = 4." },
    { role: "user", content: "And 12 + 30?" },
  ] },
  { label: "Text that looks like a special token", messages: [
    { role: "user", content: "Please ignore this: <|im_end|>" },
  ] },
];

const state = readState(DEFAULTS);
const save = () => writeState(state, DEFAULTS);

// --- how a token is drawn ---------------------------------------------------------------------

const hexBytes = (t) => t.bytes.toUpperCase();

/** The characters of `text` between code-point offsets (Python's offsets count code points). */
function slice(text, start, end) {
  return Array.from(text).slice(start, end).join("");
}

/**
 * Draw tokens as chips (the kit's `tokenChip`, or the id in the Ids view) in `container`. A line
 * break follows every token that ends in a newline, so code keeps its shape. Pointing at a chip,
 * focusing it (Tab) or tapping it shows `describe(t, i)` in the inspector.
 */
function drawChips(container, tokens, { show = "text", kind = () => "", inspector, describe }) {
  container.replaceChildren();
  tokens.forEach((t, i) => {
    const extra = kind(t);
    const asId = show === "ids";
    // In the Ids view a piece of a character is a whole id: no dashed border.
    const chip = tokenChip(asId ? { ...t, partial: false } : t, {
      cls: [extra, asId && "as-id"].filter(Boolean).join(" "),
      title: `id ${t.id} · bytes ${hexBytes(t)} · characters ${t.start}–${t.end}`,
      attrs: { tabindex: "0", "data-id": String(t.id), "data-index": String(i) },
    });
    if (asId) chip.textContent = String(t.id);
    if (!t.special && extra !== "template") chip.style.background = tokenColour(i);
    const point = () => {
      inspector.replaceChildren(...describe(t, i));
      for (const other of container.querySelectorAll(".tok")) {
        other.classList.toggle("same-id", other !== chip && other.dataset.id === chip.dataset.id);
        other.classList.toggle("pointed", other === chip);
      }
    };
    chip.addEventListener("mouseenter", point);
    chip.addEventListener("focus", point);
    chip.addEventListener("click", point);  // a tap on a touch screen, which has no hover
    // Lines follow the text: break after a token that ends a line; a token that is a new line
    // plus the next line's indentation starts its line, so code keeps its shape.
    const lineBreak = () => el("span", { cls: "br", attrs: { "aria-hidden": "true" } });
    const text = t.special ? "" : t.text;
    if (text.startsWith("\n") && !text.endsWith("\n") && i > 0) container.append(lineBreak());
    container.append(chip);
    if (text.endsWith("\n")) container.append(lineBreak());
  });
}

/** Inspector line parts: label/value pairs as nodes (values as text only). */
function facts(pairs) {
  const nodes = [];
  for (const [label, value, cls] of pairs) {
    nodes.push(el("span", { cls: "fact" }, [el("span", { cls: "fact-label", text: label }),
      el("span", { cls: "fact-value" + (cls ? ` ${cls}` : ""), text: value })]));
  }
  return nodes;
}

function codePoints(ch) {
  return Array.from(ch).map((c) => "U+" + c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")).join(" ");
}

function tokenFacts(t, i, total, sourceText, sameCount) {
  const nBytes = t.bytes.split(" ").length;
  const pairs = [
    ["token", `${i + 1} of ${total}`],
    ["id", String(t.id), "mono"],
    ["text", t.special ? t.text : t.partial ? "(not a whole character)" : `“${visibleControls(t.display)}”`],
    [nBytes === 1 ? "byte" : `${nBytes} bytes`, hexBytes(t), "mono"],
    ["characters", `${t.start}–${t.end}`],
  ];
  if (t.partial) {
    const ch = slice(sourceText, t.start, t.end);
    pairs.push(["piece of", ch ? `“${ch}” (${codePoints(ch)})` : "a character that never completes"]);
  }
  if (t.special) pairs.push(["special", "a control token, never cut into pieces"]);
  if (sameCount > 1) pairs.push(["appears", `${sameCount} times (outlined)`]);
  return facts(pairs);
}

const countOf = (tokens, id) => tokens.reduce((n, t) => n + (t.id === id ? 1 : 0), 0);
const fmt = (n) => n.toLocaleString("en-US");

// --- the text view ----------------------------------------------------------------------------

const limits = { max_prompt_chars: model.limits.max_prompt_chars, vocab_size: model.vocab_size };
let lastTokens = null; // the latest tokenize answer, redrawn when switching text/ids

function drawTokens() {
  const data = lastTokens;
  const chips = $("chips");
  if (!data) return;
  const text = state.text;
  drawChips(chips, data.tokens, {
    show: state.show, inspector: $("inspector"),
    describe: (t, i) => tokenFacts(t, i, data.count, text, countOf(data.tokens, t.id)),
  });
  $("empty-hint").hidden = data.count > 0;
  $("bytes-note").hidden = !data.tokens.some((t) => t.partial);
  const ids = data.tokens.map((t) => t.id);
  $("ids-out").hidden = state.show !== "ids" || ids.length === 0;
  $("ids-list").textContent = `[${ids.join(", ")}]`;
  const over = data.count > data.max_prompt_tokens;
  $("limit-note").hidden = !over;
  $("limit-note").textContent = over ? `This text is ${fmt(data.count)} tokens; the chapters that run the model `
    + `take prompts of at most ${fmt(data.max_prompt_tokens)} tokens.` : "";
  const set = (key, value) => { document.querySelector(`[data-stat="${key}"]`).textContent = value; };
  set("count", fmt(data.count));
  set("characters", fmt(data.characters));
  set("words", fmt(data.words));
  set("ratio", data.chars_per_token === null ? "–" : data.chars_per_token.toFixed(2));
}

function drawCharCount() {
  const n = Array.from(state.text).length;
  const limit = limits.max_prompt_chars;
  const node = $("char-count");
  node.textContent = limit ? `${fmt(n)} / ${fmt(limit)} characters` : `${fmt(n)} characters`;
  node.classList.toggle("over", Boolean(limit) && n > limit);
}

function drawExampleNote() {
  const example = EXAMPLES.find((e) => e.text === state.text);
  for (const button of $("examples").children) {
    button.setAttribute("aria-pressed", String(Boolean(example) && button.dataset.label === example.label));
  }
  $("example-note").hidden = !example;
  $("example-note").textContent = example ? example.note : "";
}

// Too long is the server's to say (413 too_many_characters, with its limit): one rule, one place.
const loadTokens = loader({
  run: (signal, text) => apiFirst("/api/tokenize", { text }, { text }, { signal }),  // the first: the answer written into the page
  draw: (data) => { lastTokens = data; drawTokens(); dropFirstPicture(); },
  views: ["chips", "stats", "inspector"], error: "error",
  onError: () => clearTokens(),
});

/** The server's static counts and chips (app/pictures/tokens.py), above #stats and #chips rather than
 *  inside one of the loader's views: gone once the page has drawn its own, or has an error to show. */
function dropFirstPicture() {
  for (const node of document.querySelectorAll("#view-text [data-first-picture]")) node.remove();
}

function clearTokens() {
  dropFirstPicture();
  lastTokens = null;
  $("chips").replaceChildren();
  $("ids-out").hidden = true;
  $("bytes-note").hidden = true;
  $("limit-note").hidden = true;
  $("empty-hint").hidden = true;
  resetInspector($("inspector"));
  for (const node of document.querySelectorAll("[data-stat]")) node.textContent = "–";
}

/** Back to the inspector's first sentence (the template's, kept in data-hint): the token it
 *  described belongs to a text that is gone. */
function resetInspector(node) {
  node.textContent = node.dataset.hint;
}

function updateText() {
  drawCharCount();
  drawExampleNote();
  save();
  return loadTokens(state.text);
}

const updateTextSoon = debounce(updateText, 120);

function setShow(show) {
  state.show = show === "ids" ? "ids" : "text";
  for (const button of document.querySelectorAll("[data-show]")) {
    button.setAttribute("aria-pressed", String(button.dataset.show === state.show));
  }
  save();
  drawTokens();
}

// --- ids back to text -------------------------------------------------------------------------

/** Parse "504, 3575 282" or "[504, 3575]" into numbers, or throw an Error that says what to fix. */
function parseIds(raw) {
  const parts = raw.replace(/[[\](){}]/g, " ").split(/[\s,;]+/).filter(Boolean);
  return parts.map((part) => {
    if (!/^-?\d+$/.test(part)) {
      throw new Error(`“${part.slice(0, 20)}” is not a token id: ids are whole numbers from 0 to `
        + `${limits.vocab_size - 1}, separated by commas or spaces.`);
    }
    return Number(part);
  });
}

/** Draw a POST /api/detokenize answer: the ids' chips, their text, and whether the tokenizer would cut it so. */
function drawDecoded(data) {
  $("decode-result").hidden = false;
  drawChips($("decoded-chips"), data.tokens, {
    show: "text", inspector: $("decode-inspector"),
    describe: (t, i) => tokenFacts(t, i, data.count, data.text, countOf(data.tokens, t.id)),
  });
  $("decoded-text").textContent = data.text;
  const note = $("canonical-note");
  note.hidden = data.canonical;
  note.replaceChildren();
  if (!data.canonical) {
    const use = el("button", { text: "Tokenize this text above", cls: "secondary small", attrs: { type: "button" } });
    use.addEventListener("click", () => { setText(data.text); $("text").scrollIntoView({ behavior: "smooth" }); });
    const choose = `Reading this text, the tokenizer would choose ${fmt(data.retokenized.length)} `
      + `token${data.retokenized.length === 1 ? "" : "s"}: [${data.retokenized.join(", ")}]. `;
    if (data.exact) {
      note.append(el("strong", { text: "Same text, different cut. " }), choose
        + "Many id sequences spell the same text, but the tokenizer always picks one, and that is the one the "
        + "model saw in training. ", use);
    } else {
      // Ids that stop inside a character: their bytes became U+FFFD, so the text is not theirs.
      note.append(el("strong", { text: "Not the same text. " }), "Some of these ids stop inside a character "
        + "(dashed), so their bytes cannot be shown as text and became “\uFFFD”. " + choose
        + "Those ids spell the replacement character, not the bytes you pasted. ", use);
    }
  }
}

// The ids are parsed here (a typo is explained before any request); ids out of range or too many
// are the server's to refuse (422/413 with code, limit and actual).
const loadDecode = loader({
  run: (signal, ids) => api("/api/detokenize", { ids }, { signal }),
  draw: drawDecoded, views: ["decode-result"], error: "decode-error",
});

function updateDecode() {
  save();
  let ids;
  try {
    ids = parseIds(state.ids);
  } catch (error) {
    loadDecode.fail(error);
    return undefined;
  }
  if (ids.length === 0) {
    loadDecode.cancel();
    loadDecode.clear();
    $("decode-result").hidden = true;
    return undefined;
  }
  return loadDecode(ids);
}

const updateDecodeSoon = debounce(updateDecode, 200);

function setText(text) {
  state.text = text;
  $("text").value = text;
  updateText();
}

// --- the chat view ----------------------------------------------------------------------------

function readChat() {
  if (!state.chat) return DEFAULT_CHAT.map((m) => ({ ...m }));
  try {
    const parsed = JSON.parse(state.chat);
    const ok = Array.isArray(parsed) && parsed.length > 0 && parsed.length <= MAX_MESSAGES
      && parsed.every((m) => m && ROLES.includes(m.role) && typeof m.content === "string");
    if (ok) return parsed.map((m) => ({ role: m.role, content: m.content }));
  } catch { /* a mangled URL falls back to the default chat */ }
  return DEFAULT_CHAT.map((m) => ({ ...m }));
}

let messages = readChat();

function saveChat() {
  const same = JSON.stringify(messages) === JSON.stringify(DEFAULT_CHAT);
  state.chat = same ? "" : JSON.stringify(messages);
  save();
}

function drawMessages() {
  const list = $("messages");
  list.replaceChildren();
  messages.forEach((message, k) => {
    const role = el("select", { attrs: { "aria-label": `Role of message ${k + 1}` } },
      ROLES.map((r) => el("option", { text: r, attrs: { value: r } })));
    role.value = message.role;
    role.addEventListener("change", () => { message.role = role.value; item.dataset.role = role.value; updateChatSoon(); });
    const content = el("textarea", { attrs: { rows: "2", spellcheck: "false", "aria-label": `Message ${k + 1}` } });
    content.value = message.content;
    content.addEventListener("input", () => { message.content = content.value; updateChatSoon(); });
    const remove = el("button", { text: "×", cls: "secondary remove",
      attrs: { type: "button", "aria-label": `Remove message ${k + 1}`, title: "Remove this message" } });
    remove.disabled = messages.length === 1;
    remove.addEventListener("click", () => { messages.splice(k, 1); drawMessages(); updateChat(); });
    const item = el("li", { cls: "message", attrs: { "data-role": message.role } }, [role, content, remove]);
    list.append(item);
  });
  $("add-message").disabled = messages.length >= MAX_MESSAGES;
}

function addMessage() {
  const last = messages[messages.length - 1];
  const role = last && last.role === "user" ? "assistant" : "user";
  messages.push({ role, content: "" });
  drawMessages();
  updateChat();
  const boxes = $("messages").querySelectorAll("textarea");
  boxes[boxes.length - 1].focus();
}

function chatFacts(data, t, i) {
  const nodes = tokenFacts(t, i, data.count, data.text, countOf(data.tokens, t.id));
  const who = t.message === null ? "the generation prompt"
    : `message ${t.message + 1} (${messages[t.message] ? messages[t.message].role : "?"})`;
  const from = t.source === "content" ? `the text of ${who}`
    : t.added_turn ? `the template, in a turn it adds before ${who}` : `the template, for ${who}`;
  return [...nodes, ...facts([["written by", from]])];
}

/** Draw a POST /api/chat/template answer: the chat's tokens, who wrote each, and its counts. */
function drawChat(data) {
  drawChips($("chat-chips"), data.tokens, {
    // A special token written by the template is just "special"; one typed in a message is flagged.
    kind: (t) => (t.source === "content" ? "content" : t.special ? "" : "template"),
    inspector: $("chat-inspector"), describe: (t, i) => chatFacts(data, t, i),
  });
  const set = (key, value) => { document.querySelector(`[data-chat-stat="${key}"]`).textContent = value; };
  set("count", fmt(data.count));
  set("special", fmt(data.special_count));
  set("template", fmt(data.tokens.filter((t) => t.source === "template").length));
  $("chat-text").textContent = data.text;
  const smuggled = data.tokens.filter((t) => t.special && t.source === "content");
  $("chat-special-note").hidden = smuggled.length === 0;
  if (smuggled.length) {
    const t = smuggled[0];
    $("chat-special-note").replaceChildren(el("strong", { text: "Typed text became a control token. " }),
      `A message contains “${t.text}”, and the tokenizer reads it as the special token itself (id ${t.id}), `
      + "not as ordinary characters, so the model sees the structure of the chat change there. "
      + "Chat apps have to guard against this.");
  }
  const over = data.count > data.max_prompt_tokens;
  $("chat-limit-note").hidden = !over;
  $("chat-limit-note").textContent = over ? `This chat is ${fmt(data.count)} tokens; the chapters that run the `
    + `model take prompts of at most ${fmt(data.max_prompt_tokens)} tokens.` : "";
}

const loadChat = loader({
  run: (signal, body) => api("/api/chat/template", body, { signal }),
  draw: drawChat, views: ["chat-chips", "chat-stats", "chat-inspector", "chat-plain"], error: "chat-error",
  onError: () => clearChat(),
});

function updateChat() {
  saveChat();
  return loadChat({ messages, add_generation_prompt: state.gen });
}

/** Nothing of an earlier chat stays beside an error as if it were this one's. */
function clearChat() {
  $("chat-chips").replaceChildren();
  $("chat-text").textContent = "";
  $("chat-special-note").hidden = true;
  $("chat-limit-note").hidden = true;
  resetInspector($("chat-inspector"));
  for (const node of document.querySelectorAll("[data-chat-stat]")) node.textContent = "–";
}

const updateChatSoon = debounce(updateChat, 150);

// --- tabs and start-up ------------------------------------------------------------------------

function setTab(tab) {
  state.tab = tab === "chat" ? "chat" : "text";
  for (const button of document.querySelectorAll("[data-tab]")) {
    const on = button.dataset.tab === state.tab;
    button.setAttribute("aria-selected", String(on));
    button.tabIndex = on ? 0 : -1;
  }
  $("view-text").hidden = state.tab !== "text";
  $("view-chat").hidden = state.tab !== "chat";
  save();
}

function wire() {
  const text = $("text");
  text.value = state.text;
  text.addEventListener("input", () => { state.text = text.value; drawCharCount(); updateTextSoon(); });

  for (const example of EXAMPLES) {
    const button = el("button", { text: example.label, attrs: { type: "button", "data-label": example.label } });
    button.addEventListener("click", () => setText(example.text));
    $("examples").append(button);
  }
  for (const button of document.querySelectorAll("[data-show]")) {
    button.addEventListener("click", () => setShow(button.dataset.show));
  }
  $("copy-ids").addEventListener("click", async () => {
    const ids = $("ids-list").textContent;
    try {
      await navigator.clipboard.writeText(ids);
      $("copy-ids").textContent = "Copied";
    } catch {
      window.getSelection().selectAllChildren($("ids-list")); // no clipboard access: select for Ctrl+C
      $("copy-ids").textContent = "Selected";
    }
    setTimeout(() => { $("copy-ids").textContent = "Copy"; }, 1500);
  });
  $("decode-these").addEventListener("click", () => {
    state.ids = lastTokens ? lastTokens.tokens.map((t) => t.id).join(", ") : "";
    $("ids-input").value = state.ids;
    updateDecode();
    $("decode-panel").scrollIntoView({ behavior: "smooth" });
  });

  const idsInput = $("ids-input");
  idsInput.value = state.ids;
  idsInput.addEventListener("input", () => { state.ids = idsInput.value; updateDecodeSoon(); });

  for (const button of document.querySelectorAll("[data-tab]")) {
    button.addEventListener("click", () => setTab(button.dataset.tab));
    button.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
      setTab(state.tab === "text" ? "chat" : "text");
      document.querySelector(`[data-tab="${state.tab}"]`).focus();
    });
  }

  for (const example of CHAT_EXAMPLES) {
    const button = el("button", { text: example.label, attrs: { type: "button" } });
    button.addEventListener("click", () => {
      messages = example.messages.map((m) => ({ ...m }));
      drawMessages();
      updateChat();
    });
    $("chat-examples").append(button);
  }
  $("add-message").addEventListener("click", addMessage);
  const gen = $("gen-prompt");
  gen.checked = state.gen;
  gen.addEventListener("change", () => { state.gen = gen.checked; updateChat(); });
}

function showLimits() {
  for (const node of document.querySelectorAll("[data-vocab]")) node.textContent = fmt(model.vocab_size);
  for (const node of document.querySelectorAll("[data-vocab-max]")) node.textContent = String(model.vocab_size - 1);
  drawCharCount();
}

// After kit/touch.js (loaded first by base.html) has put "Tap" for "Point at" on touch screens.
for (const id of ["inspector", "decode-inspector", "chat-inspector"]) $(id).dataset.hint = $(id).textContent;
wire();
wireSpaceDemo();
setTab(state.tab);
setShow(state.show);
drawMessages();
showLimits(); // first, so over-long text from a URL is explained, not sent
updateText();
updateDecode();
updateChat();
