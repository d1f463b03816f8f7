// A page's first request, answered from the page itself or from the server's preload, when the server
// named exactly it (issue 20). A page with a server-drawn first picture (app/pictures) carries the
// answer inline, beside the picture: <script type="application/json" data-first-answer="/api/...">.
// The server knows from the page's URL which answer its first picture needs (app/views/first_request.py)
// and puts it in the head as <link rel="preload" as="fetch" crossorigin href="/api/...">, so the model
// starts as the HTML arrives. The page then asks for the same URL, which the browser answers from that
// preload instead of asking the server again. The URL is built here from the page's own state: when
// the server named another one (or none), the page sends its usual request, so a mismatch costs time,
// never a wrong answer.

import { api } from "../api.js";

const used = new Set();

/** The answer the server wrote into the page for exactly `href` (an absolute URL), once; else null. */
function inlineAnswer(href) {
  const node = [...document.querySelectorAll('script[type="application/json"][data-first-answer]')]
    .find((s) => new URL(s.dataset.firstAnswer, document.baseURI).href === href);
  if (!node) return null;
  node.remove();  // each answer serves once, as a preload does
  return JSON.parse(node.textContent);
}

const urlOf = (path, query) => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== null && value !== undefined) params.append(key, String(value));
  const search = params.toString();
  return search ? `${path}?${search}` : path;
};

/** The GET URL `path?query` (query: an object of parameters in the order the server writes them;
 *  null and undefined left out, numbers and booleans as String() writes them) when a preload link with
 *  exactly that URL is in the document and has not been used yet; else null. Each preload serves once:
 *  a later request for the same state goes to the server as usual. */
export function preloaded(path, query) {
  const url = urlOf(path, query);
  const href = new URL(url, document.baseURI).href;
  if (used.has(href)) return null;
  const link = [...document.querySelectorAll('link[rel="preload"][as="fetch"]')].find((l) => l.href === href);
  if (!link) return null;
  used.add(href);
  return url;
}

/** The answer the server wrote into the page for exactly the GET twin `path?query`, once; else null. For
 *  a page whose usual first request is not one JSON answer (/learn's run is a stream): it draws this
 *  answer first and sends its usual request anyway. */
export function inlineFirst(path, query) {
  return inlineAnswer(new URL(urlOf(path, query), document.baseURI).href);
}

/** `api(path, body)` (a POST, or a GET when body is undefined); or, when the server wrote the answer of
 *  exactly the GET twin `path?query` into the page, that answer (a promise marked `inline`: nothing is
 *  fetched, so the views it feeds need not be marked as waiting); or the GET twin when the server
 *  preloaded exactly it. query null: always the usual request (a state the GET twin cannot say). */
export function apiFirst(path, query, body, { signal } = {}) {
  if (query) {
    const answer = inlineAnswer(new URL(urlOf(path, query), document.baseURI).href);
    if (answer !== null) return Object.assign(Promise.resolve(answer), { inline: true });
  }
  const url = query ? preloaded(path, query) : null;
  return url ? api(url, undefined, { signal }) : api(path, body, { signal });
}
