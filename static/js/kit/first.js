// A page's first request, answered by the server's preload when the server named exactly it (issue 20).
// The server knows from the page's URL which answer its first picture needs (app/views/first_request.py)
// and puts it in the head as <link rel="preload" as="fetch" crossorigin href="/api/...">, so the model
// starts as the HTML arrives. The page then asks for the same URL, which the browser answers from that
// preload instead of asking the server again. The URL is built here from the page's own state: when
// the server named another one (or none), the page sends its usual request, so a mismatch costs time,
// never a wrong answer.

import { api } from "../api.js";

const used = new Set();

/** The GET URL `path?query` (query: an object of parameters in the order the server writes them;
 *  null and undefined left out, numbers and booleans as String() writes them) when a preload link with
 *  exactly that URL is in the document and has not been used yet; else null. Each preload serves once:
 *  a later request for the same state goes to the server as usual. */
export function preloaded(path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== null && value !== undefined) params.append(key, String(value));
  const search = params.toString();
  const url = search ? `${path}?${search}` : path;
  const href = new URL(url, document.baseURI).href;
  if (used.has(href)) return null;
  const link = [...document.querySelectorAll('link[rel="preload"][as="fetch"]')].find((l) => l.href === href);
  if (!link) return null;
  used.add(href);
  return url;
}

/** `api(path, body)` (a POST, or a GET when body is undefined), or the GET twin `path?query` when the
 *  server preloaded exactly it. query null: always the usual request (a state the GET twin cannot say). */
export function apiFirst(path, query, body, { signal } = {}) {
  const url = query ? preloaded(path, query) : null;
  return url ? api(url, undefined, { signal }) : api(path, body, { signal });
}
