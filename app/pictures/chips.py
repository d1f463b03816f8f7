"""Token chips drawn on the server: the Python twin of static/js/kit/chips.js (`tokenColour`, `tokenLabel`,
`tokenChip`, `tokenChips`), for the first pictures of the pages that show tokens as chips (/tokens, /chat).

Each function writes the HTML the JavaScript one builds with `el` (class, then title, then attributes,
then the label; tokenChips' background last), so a page's static chips are the chips its module draws
(tests/browser/test_token_chips.py compares the two in Chromium). Every text is escaped."""

from __future__ import annotations

from app.pictures.svg import _utf8_runs, esc, show_whitespace, visible_controls

HUES = (210, 35, 140, 280, 0, 95, 320, 175, 55, 250)


def token_colour(i: int) -> str:
    """A pastel background for token i, cycling so neighbours differ (chips.js tokenColour)."""
    return f"hsl({HUES[i % len(HUES)]} 75% 88%)"


def token_label_html(t: dict) -> str:
    """What a chip shows, as HTML (chips.js tokenLabel): a control token's name; otherwise its text with
    whitespace made visible, and the loose bytes of a piece of a character in <span class="bytes">."""
    if t.get("special"):
        return esc(t["text"])
    if not t.get("partial") or not t.get("bytes"):
        shown = t["display"] if t.get("display") is not None else show_whitespace(t["text"])
        return esc(visible_controls(shown))
    return "".join(esc(show_whitespace(value)) if kind == "text"
                   else '<span class="bytes">' + " ".join(f"{b:02X}" for b in value) + "</span>"
                   for kind, value in _utf8_runs(t["bytes"]))


def token_chip(t: dict, *, cls: str = "", title: str | None = None, style: str | None = None) -> str:
    """One chip (chips.js tokenChip): class "tok", plus "special" / "partial" as the token is, plus `cls`."""
    classes = " ".join(c for c in ("tok", t.get("special") and "special", t.get("partial") and "partial", cls) if c)
    attrs = f' title="{esc(title)}"' if title is not None else ""
    attrs += f' style="{esc(style)}"' if style else ""
    return f'<span class="{classes}"{attrs}>{token_label_html(t)}</span>'


def chips_title(t: dict, i: int) -> str:
    """The hover text tokenChips gives chip i."""
    return f"#{i} · id {t['id']}" + (" · part of a character" if t.get("partial") else "")


def chip_of(t: dict, i: int) -> str:
    """Chip i as tokenChips draws it (not clickable): its title, and its pastel unless it is special."""
    return token_chip(t, title=chips_title(t, i), style=None if t.get("special") else f"background: {token_colour(i)}")


def token_chips(tokens: list[dict]) -> str:
    """A row of chips as tokenChips(container, tokens) fills its container."""
    return "".join(chip_of(t, i) for i, t in enumerate(tokens))
