// The smallest DOM helpers, shared by api.js and the kit (kept apart so kit modules import them
// without importing api.js, which re-exports them). Text is only ever set with textContent.

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

/** An element given as an id or as the element itself. */
export const nodeOf = (idOrNode) => (typeof idOrNode === "string" ? $(idOrNode) : idOrNode);

/** Plotly reads tick, label and hover text as a small subset of HTML (<b>, <br>, <a>); escape
 *  user and model text before handing it to Plotly so it shows as typed. */
export function plotText(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
