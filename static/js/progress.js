// Which chapters this browser has visited, kept in localStorage (nothing is sent to the server).
// The tour shows ticks from it. Loaded on its own (as a module) by any chapter page, it marks
// that page as visited: the page's slug is read from <body data-page="...">.

const KEY = "transformer-tour:visited";

/** The set of visited chapter slugs (empty when storage is unavailable, e.g. blocked cookies). */
export function visited() {
  try {
    const list = JSON.parse(window.localStorage.getItem(KEY) || "[]");
    return new Set(Array.isArray(list) ? list.filter((s) => typeof s === "string") : []);
  } catch {
    return new Set();
  }
}

/** Remember that the chapter `slug` has been opened. */
export function markVisited(slug) {
  if (!slug) return;
  const seen = visited();
  if (seen.has(slug)) return;
  seen.add(slug);
  try { window.localStorage.setItem(KEY, JSON.stringify([...seen])); } catch { /* storage full or blocked */ }
}

/** Forget every visit. */
export function resetVisited() {
  try { window.localStorage.removeItem(KEY); } catch { /* blocked */ }
}

// On a chapter page (not the tour itself), loading this module counts as a visit.
const page = document.body && document.body.dataset.page;
if (page && page !== "tour") markVisited(page);
