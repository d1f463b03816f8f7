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
  if (!response.ok) throw await apiError(response);
  try { return await response.json(); } catch { return null; /* not JSON */ }
}

/** The Error a failed answer (4xx/5xx) is thrown as, by `api` and by pages that read a stream with
 *  fetch themselves: the server's `detail` as its message, with `status`, `code`, `field`, `limit`, `actual`. */
export async function apiError(response) {
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  const detail = data && data.detail;
  const message = typeof detail === "string" ? detail
    : Array.isArray(detail) ? detail.map((d) => d.msg || JSON.stringify(d)).join("; ")
    : `The server answered ${response.status}.`;
  const error = new Error(message);
  error.status = response.status;
  for (const key of ["code", "field", "limit", "actual"]) error[key] = data?.[key] ?? null;
  return error;
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

// The DOM helpers, the token chips and the Plotly defaults live in the kit (static/js/kit/); they
// are re-exported here so every page's existing imports keep working.
export { $, el, svgEl, plotText } from "./kit/dom.js";
export { tokenColour, visibleControls, tokenLabel, plainTokenLabel, tokenChip, tokenChips } from "./kit/chips.js";
export { plotConfig, plotLayout } from "./kit/plotly.js";

/** Show an error message (or clear it with null) in the element. */
export function showError(node, error) {
  node.textContent = error ? (error.message || String(error)) : "";
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
  // A label must stay on the chart: past its edge (on a phone, a word at the right end) it would be cut.
  const m = full._size || full.margin;  // _size: the plot area's offsets once automargin has grown them
  const onChart = (box) => box[0] >= -m.l && box[2] <= full.width - m.l && box[1] >= -m.t && box[3] <= full.height - m.t;
  const taken = items.map((p) => [p.x - r + 1, p.y - r + 1, p.x + r - 1, p.y + r - 1]);  // every dot
  for (const a of items) a.crowd = items.filter((b) => Math.abs(a.x - b.x) < 40 && Math.abs(a.y - b.y) < 20).length;
  const order = [...items].sort((a, b) => a.crowd - b.crowd || a.k - b.k || a.i - b.i);
  const texts = labels.map((list) => list.map(() => ""));
  const positions = labels.map((list) => list.map(() => "top center"));
  let hidden = 0;
  for (const p of order) {
    const spot = spots.map(([name, box]) => [name, box(p)])
      .find(([, box]) => onChart(box) && !taken.some((t) => overlaps(t, box)));
    if (!spot) { hidden += 1; continue; }
    taken.push(spot[1]);
    texts[p.k][p.i] = labels[p.k][p.i];
    positions[p.k][p.i] = spot[0];
  }
  window.Plotly.restyle(node, { text: texts, textposition: positions }, traces);
  return hidden;
}

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
