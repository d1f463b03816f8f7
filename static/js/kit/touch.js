// Instructions say "tap" on touch screens: an element written as
//   <span data-touch="Tap">Click</span>
// shows its data-touch text where there is no hover (phones, tablets). base.html loads this module on
// every page; a page that adds such elements later calls `touchWords(itsNode)`.

import { isTouch } from "./plotly.js";

/** Swap the text of every [data-touch] element under `root` on touch screens (idempotent). */
export function touchWords(root = document) {
  if (!isTouch) return;
  for (const node of root.querySelectorAll("[data-touch]")) node.textContent = node.dataset.touch;
}

touchWords();
