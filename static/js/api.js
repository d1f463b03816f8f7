// The one small helper every page module uses to talk to the JSON API and to keep its
// state in the URL. Text from users or the model is only ever set with textContent.

/** POST (or GET when body is undefined) a JSON API path; throws Error(detail) on 4xx/5xx, with the
 *  answer's `status`, `code` ("too_many_tokens", "too_long", "busy", ...), `field`, `limit` and
 *  `actual`: test those, never the message's words. */
export async function api(path, body, { signal } = {}) {
  const init = body === undefined
    ? { method: "GET", signal }
    : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal };
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) {
    const detail = data && data.detail;
    const message = typeof detail === "string" ? detail
      : Array.isArray(detail) ? detail.map((d) => d.msg || JSON.stringify(d)).join("; ")
      : `The server answered ${response.status}.`;
    const error = new Error(message);
    error.status = response.status;
    for (const key of ["code", "field", "limit", "actual"]) error[key] = data?.[key] ?? null;
    throw error;
  }
  return data;
}

/** Read the page's state from its URL query, with defaults (numbers stay numbers). */
export function readState(defaults) {
  const params = new URLSearchParams(window.location.search);
  const state = { ...defaults };
  for (const [key, fallback] of Object.entries(defaults)) {
    if (!params.has(key)) continue;
    const raw = params.get(key);
    if (typeof fallback === "number") {
      const n = Number(raw);
      state[key] = Number.isFinite(n) ? n : fallback;
    } else if (typeof fallback === "boolean") {
      state[key] = raw === "1" || raw === "true";
    } else {
      state[key] = raw;
    }
  }
  return state;
}

/** Write state into the URL (replaceState: typing does not flood the history). */
export function writeState(state, defaults = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(state)) {
    if (value === undefined || value === null || value === defaults[key]) continue;
    params.set(key, typeof value === "boolean" ? (value ? "1" : "0") : String(value));
  }
  const query = params.toString();
  window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
}

/** Call fn at most once per `ms` of quiet (for live updates while typing); `.cancel()` drops
 *  a pending call. */
export function debounce(fn, ms = 250) {
  let timer;
  const debounced = (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}

/**
 * Run `task(signal)` so that a newer call aborts the older one: only the latest answer is drawn.
 * Returns a function to call with each new request.
 */
export function latest(task) {
  let controller = null;
  const run = async (...args) => {
    if (controller) controller.abort();
    controller = new AbortController();
    const mine = controller;
    try {
      return await task(mine.signal, ...args);
    } catch (error) {
      if (error.name === "AbortError") return undefined;
      throw error;
    } finally {
      if (controller === mine) controller = null;
    }
  };
  /** Abort the call in flight, if any (it then resolves to undefined, like a superseded one). */
  run.cancel = () => controller?.abort();
  return run;
}

/** The element with this id (every page's `$`). */
export const $ = (id) => document.getElementById(id);

/** Create an element with text content (never innerHTML) and optional class/attributes. */
export function el(tag, { text, cls, attrs, title } = {}, children = []) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  if (title !== undefined) node.title = title;
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}

/** Create an SVG element with attributes and optional text content. */
export function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Show an error message (or clear it with null) in the element. */
export function showError(node, error) {
  node.textContent = error ? (error.message || String(error)) : "";
}

/** A pastel background for token i, cycling so neighbours differ. */
export function tokenColour(i) {
  const hues = [210, 35, 140, 280, 0, 95, 320, 175, 55, 250];
  return `hsl(${hues[i % hues.length]} 75% 88%)`;
}

/** Control and invisible format characters and variation selectors (U+FE0F) would draw as
 *  nothing: show a visible stand-in (as the server's `display` does, model/tokenizer.visible). */
export function visibleControls(s) {
  return s.replace(/[\p{Cc}\p{Cf}\u{FE00}-\u{FE0F}\u{E0100}-\u{E01EF}]/gu, (ch) => {
    const code = ch.codePointAt(0);
    if (code < 0x20) return String.fromCodePoint(0x2400 + code); // ␀ … ␟, Unicode's control pictures
    if (code === 0x7f) return "␡";
    return `⟨U+${code.toString(16).toUpperCase().padStart(4, "0")}⟩`;
  });
}

const VISIBLE = { " ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍" };
const showWhitespace = (text) => visibleControls(text.replace(/[ \n\t\r]/g, (ch) => VISIBLE[ch]));

/**
 * Split a token's bytes into whole UTF-8 characters and loose bytes: " \xf0\x9f" is a space
 * and then the first two bytes of an emoji. Returns [{text}] and [{bytes}] runs in order.
 */
function utf8Runs(hex) {
  const bytes = hex.split(" ").map((h) => parseInt(h, 16));
  const lengthOf = (b) => (b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const runs = [];
  const push = (kind, value) => {
    const last = runs[runs.length - 1];
    if (last && last.kind === kind) last.value = kind === "text" ? last.value + value : [...last.value, ...value];
    else runs.push({ kind, value: kind === "text" ? value : [...value] });
  };
  for (let i = 0; i < bytes.length;) {
    const n = lengthOf(bytes[i]);
    const seq = bytes.slice(i, i + n);
    if (n && seq.length === n && seq.slice(1).every((b) => (b & 0xc0) === 0x80)) {
      try {
        push("text", decoder.decode(new Uint8Array(seq)));
        i += n;
        continue;
      } catch { /* an invalid sequence: fall through and show the byte */ }
    }
    push("bytes", [bytes[i]]);
    i += 1;
  }
  return runs;
}

const hexOf = (bytes) => bytes.map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join(" ");

/**
 * What a token chip shows: a control token's name; otherwise its text with whitespace made
 * visible (␣ ⏎ ⇥), and the loose bytes of a partial token (a piece of an emoji or CJK character,
 * which has no glyph of its own) in hex, e.g. "␣F0 9F". Returns nodes/strings for `el`.
 */
export function tokenLabel(t) {
  if (t.special) return [t.text];
  if (!t.partial || !t.bytes) return [visibleControls(t.display ?? t.text)];
  return utf8Runs(t.bytes).map((run) => (run.kind === "text" ? showWhitespace(run.value)
    : el("span", { cls: "bytes", text: hexOf(run.value) })));
}

/** One token chip (class "tok", plus "special" / "partial" as the token is), showing `tokenLabel`:
 *  every chip on every page is made here. `cls` adds classes; `tag` "button" makes it clickable. */
export function tokenChip(t, { tag = "span", cls = "", title, attrs } = {}) {
  return el(tag, { cls: ["tok", t.special && "special", t.partial && "partial", cls].filter(Boolean).join(" "),
    title, attrs }, tokenLabel(t));
}

/** Render a token row: chips with visible whitespace, hover shows id and position. */
export function tokenChips(container, tokens, { onClick } = {}) {
  container.replaceChildren();
  tokens.forEach((t, i) => {
    const chip = tokenChip(t, { title: `#${i} · id ${t.id}` + (t.partial ? " · part of a character" : "") });
    if (!t.special) chip.style.background = tokenColour(i);
    if (onClick) { chip.style.cursor = "pointer"; chip.addEventListener("click", () => onClick(t, i)); }
    container.append(chip);
  });
}

/** Plotly reads tick, label and hover text as a small subset of HTML (<b>, <br>, <a>); escape
 *  user and model text before handing it to Plotly so it shows as typed. */
export function plotText(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * Place the labels of 2D "markers+text" scatters so none overlaps another label or a dot: each
 * label tries above its dot, then below, right and left, and is hidden when all four collide, so
 * a dense cluster reads as a few names instead of a smear. Hidden labels stay in the hover, and
 * zooming in (which calls this again) brings them back. Points with fewer close neighbours are
 * placed first. `labels[k]` holds trace `traces[k]`'s full texts; returns how many are hidden.
 * Uses Plotly's axis mapping (`_fullLayout.xaxis.l2p`).
 */
export function declutterLabels(node, traces, labels, { fontSize = 12, markerSize = 10 } = {}) {
  const full = node._fullLayout;
  if (!full || !full.xaxis || !full.yaxis || !full.xaxis.l2p) return 0;
  const charWidth = fontSize * 0.62, h = fontSize + 2, r = markerSize / 2 + 1;
  const items = [];
  traces.forEach((traceIndex, k) => {
    const trace = node.data[traceIndex];
    labels[k].forEach((label, i) => {
      const x = full.xaxis.l2p(trace.x[i]), y = full.yaxis.l2p(trace.y[i]);
      // A dot outside the zoomed-in area gets no label (the axes do not clip text: cliponaxis off).
      const inside = x >= 0 && x <= full.xaxis._length && y >= 0 && y <= full.yaxis._length;
      if (inside) items.push({ k, i, x, y, w: Math.max(1, String(label).length) * charWidth });
    });
  });
  const spots = [  // Plotly's textposition, and the box it gives: [left, top, right, bottom] in pixels
    ["top center", (p) => [p.x - p.w / 2, p.y - r - h, p.x + p.w / 2, p.y - r]],
    ["bottom center", (p) => [p.x - p.w / 2, p.y + r, p.x + p.w / 2, p.y + r + h]],
    ["middle right", (p) => [p.x + r, p.y - h / 2, p.x + r + p.w, p.y + h / 2]],
    ["middle left", (p) => [p.x - r - p.w, p.y - h / 2, p.x - r, p.y + h / 2]],
  ];
  const overlaps = (a, b) => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
  const taken = items.map((p) => [p.x - r + 1, p.y - r + 1, p.x + r - 1, p.y + r - 1]);  // every dot
  for (const a of items) a.crowd = items.filter((b) => Math.abs(a.x - b.x) < 40 && Math.abs(a.y - b.y) < 20).length;
  const order = [...items].sort((a, b) => a.crowd - b.crowd || a.k - b.k || a.i - b.i);
  const texts = labels.map((list) => list.map(() => ""));
  const positions = labels.map((list) => list.map(() => "top center"));
  let hidden = 0;
  for (const p of order) {
    const spot = spots.map(([name, box]) => [name, box(p)]).find(([, box]) => !taken.some((t) => overlaps(t, box)));
    if (!spot) { hidden += 1; continue; }
    taken.push(spot[1]);
    texts[p.k][p.i] = labels[p.k][p.i];
    positions[p.k][p.i] = spot[0];
  }
  window.Plotly.restyle(node, { text: texts, textposition: positions }, traces);
  return hidden;
}

/** Plotly defaults shared by every chart: same font, no logo, responsive. */
export const plotConfig = { displaylogo: false, responsive: true,
  modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d"] };
export const plotLayout = (extra = {}) => ({
  margin: { l: 60, r: 20, t: 30, b: 50 },
  font: { family: "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif", size: 13, color: "#1d2130" },
  paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
  ...extra,
});

/** The events of a server-sent-event response (fetch's Response), as {event, data} with data parsed
 *  from JSON, one at a time as they arrive (POST /api/generate and /api/learn stream this way). */
export async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const fields = Object.fromEntries(block.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)]));
      yield { event: fields.event, data: JSON.parse(fields.data) };
    }
  }
}
