// Tokens as people see them: the chips (HTML, with the loose bytes of a partial token in a span)
// and their plain-text twin for chart axes, bars and hovers. Every token on every page is shown
// through one of these, so a piece of an emoji reads "␣F0 9F" everywhere, never "�".

import { el } from "./dom.js";

/** A pastel background for token i, cycling so neighbours differ. */
export function tokenColour(i) {
  const hues = [210, 35, 140, 280, 0, 95, 320, 175, 55, 250];
  return `hsl(${hues[i % hues.length]} 75% 88%)`;
}

/** Control and invisible format characters (zero-width joiner U+200D, ...) and variation selectors
 *  (U+FE0F) would draw as nothing: show a visible stand-in (as the server's `display` does,
 *  model/tokenizer.visible). */
export function visibleControls(s) {
  return s.replace(/[\p{Cc}\p{Cf}\u{FE00}-\u{FE0F}\u{E0100}-\u{E01EF}]/gu, (ch) => {
    const code = ch.codePointAt(0);
    if (code < 0x20) return String.fromCodePoint(0x2400 + code); // ␀ … ␟, Unicode's control pictures
    if (code === 0x7f) return "␡";
    return `⟨U+${code.toString(16).toUpperCase().padStart(4, "0")}⟩`;
  });
}

const VISIBLE = { " ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍" };
/** Whitespace as ␣ ⏎ ⇥ ␍ and invisible characters as stand-ins. */
export const showWhitespace = (text) => visibleControls(String(text).replace(/[ \n\t\r]/g, (ch) => VISIBLE[ch]));

/**
 * Split a token's bytes into whole UTF-8 characters and loose bytes: " \xf0\x9f" is a space
 * and then the first two bytes of an emoji. Returns [{kind: "text", value}] and
 * [{kind: "bytes", value: [numbers]}] runs in order.
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
  if (!t.partial || !t.bytes) return [visibleControls(t.display ?? showWhitespace(t.text))];
  return utf8Runs(t.bytes).map((run) => (run.kind === "text" ? showWhitespace(run.value)
    : el("span", { cls: "bytes", text: hexOf(run.value) })));
}

/**
 * The plain-text twin of `tokenLabel`, for chart axes, bars and hovers (which take no HTML
 * nodes): "␣F0 9F" for a piece of a character, ⟨U+FE0F⟩ for an invisible one, ␣ ⏎ for
 * whitespace. `t` is a token object ({text, display, bytes, partial, special}) or a string.
 * Not escaped: pass it through `plotText` (or use `plotTokenLabel`) before Plotly sees it.
 */
export function plainTokenLabel(t) {
  if (typeof t === "string") return showWhitespace(t);
  if (t.special) return t.text;
  if (!t.partial || !t.bytes) return visibleControls(t.display ?? showWhitespace(t.text));
  let out = "";
  for (const run of utf8Runs(t.bytes)) {
    if (run.kind === "text") out += showWhitespace(run.value);
    // "a" then bytes reads "a F0 9F"; a whitespace stand-in needs no gap ("␣F0 9F", as the chips show).
    else out += (out && !/[␣⏎⇥␍]$/u.test(out) ? " " : "") + hexOf(run.value);
  }
  return out;
}

/** One token chip (class "tok", plus "special" / "partial" as the token is), showing `tokenLabel`:
 *  every chip on every page is made here. `cls` adds classes; `tag` "button" makes it clickable. */
export function tokenChip(t, { tag = "span", cls = "", title, attrs } = {}) {
  return el(tag, { cls: ["tok", t.special && "special", t.partial && "partial", cls].filter(Boolean).join(" "),
    title, attrs }, tokenLabel(t));
}

/** Render a token row: chips with visible whitespace, hover shows id and position. With `onClick`
 *  the chips are buttons (reachable and pressed by keyboard too). */
export function tokenChips(container, tokens, { onClick } = {}) {
  container.replaceChildren();
  tokens.forEach((t, i) => {
    const title = `#${i} · id ${t.id}` + (t.partial ? " · part of a character" : "");
    const chip = tokenChip(t, { tag: onClick ? "button" : "span", cls: onClick ? "tok-button" : "", title,
      attrs: onClick ? { type: "button" } : undefined });
    if (!t.special) chip.style.background = tokenColour(i);
    if (onClick) chip.addEventListener("click", () => onClick(t, i));
    container.append(chip);
  });
}
