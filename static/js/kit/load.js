// One way for a page to fetch and draw: the latest request wins (older ones are aborted), the views
// it feeds are marked stale while it runs, and on failure they are HIDDEN and the error is shown, so
// a view of an earlier text never stands beside an error as if it were current.

import { nodeOf } from "./dom.js";
import { plotly } from "./plotly.js";

const each = (list, fn) => list.map(nodeOf).filter(Boolean).forEach(fn);

/** Mark views as waiting for a new answer (dimmed, aria-busy), or clear the mark. */
export function markStale(views, stale = true) {
  each(views, (n) => {
    n.classList.toggle("stale", stale);
    if (stale) n.setAttribute("aria-busy", "true"); else n.removeAttribute("aria-busy");
  });
}

/** Hide views whose content no longer matches the page (class "failed"), or show them again. */
export function markFailed(views, failed = true) {
  each(views, (n) => n.classList.toggle("failed", failed));
}

/**
 * loader({ run, draw, views, error, charts, message, onError }) -> load(...args)
 *
 * - run(signal, ...args): fetches (pass `signal` to `api`); a newer `load` aborts an older run.
 * - draw(data, ...args): draws the answer; called only for the latest run, after Plotly has
 *   loaded when `charts` is true (Plotly loads in parallel with the request, not before it).
 * - views: element ids (or elements) this load feeds: "stale" while loading, "failed" (hidden)
 *   after an error, both cleared before `draw`.
 * - error: id (or element) where the error's message goes (given role="alert"); emptied on success.
 * - message(error) -> string: the text to show (default error.message); tell errors apart by
 *   `error.code` ("too_many_tokens", "busy", ...), never by the message's words.
 * - onError(error, ...args): after the views are hidden (e.g. to reset a status line).
 *
 * `load` resolves to the data drawn, or undefined when superseded, aborted or failed (it never
 * rejects). `load.cancel()` aborts the run in flight; `load.fail(error)` shows an error found
 * without a request (e.g. an empty prompt) the same way; `load.clear()` empties the error.
 */
export function loader({ run, draw, views = [], error = null, charts = false, message = (e) => e.message || String(e),
  onError = null } = {}) {
  let controller = null;
  const errorNode = () => {
    const node = nodeOf(error);
    if (node && !node.hasAttribute("role")) node.setAttribute("role", "alert");
    return node;
  };
  const showError = (e) => { const node = errorNode(); if (node) node.textContent = e ? message(e) : ""; };

  const fail = (e, ...args) => {
    markStale(views, false);
    markFailed(views, true);
    showError(e);
    onError?.(e, ...args);
  };

  async function load(...args) {
    controller?.abort();
    const mine = controller = new AbortController();
    // Both start now: the request first (the server's answer is the slow part), then Plotly.
    let answer;
    performance.mark("kit:request");  // marks for benchmarks/bench_first_visit.py's breakdown
    try { answer = run(mine.signal, ...args); } catch (e) { answer = Promise.reject(e); }
    // An answer the server wrote into the page (kit/first.js) is the one its static picture shows:
    // nothing to wait for, so the views are not greyed.
    if (!answer?.inline) markStale(views, true);
    answer?.then?.(() => performance.mark("kit:answer"), () => {});
    const charting = charts ? plotly() : null;
    try {
      // Together, so that a failure of either is handled at once (no unhandled rejection).
      const [data] = await Promise.all([answer, charting]);
      if (mine.signal.aborted) return undefined;
      markStale(views, false);
      markFailed(views, false);
      showError(null);
      await draw(data, ...args);
      // The server's static first picture (app/pictures), now drawn by the page itself.
      each(views, (n) => n.querySelectorAll("[data-first-picture]").forEach((p) => p.remove()));
      return data;
    } catch (e) {
      if (e?.name === "AbortError" || mine.signal.aborted) return undefined;
      fail(e, ...args);
      return undefined;
    } finally {
      if (controller === mine) controller = null;
    }
  }
  load.cancel = () => { controller?.abort(); markStale(views, false); };
  load.fail = (e, ...args) => { controller?.abort(); fail(e, ...args); };
  load.clear = () => showError(null);
  return load;
}
