"""/tokens's first picture: the text's token chips and the counts above them (tokens.js drawTokens), from
GET /api/tokenize's answer. Static: pointing at a chip does nothing until the page's module has drawn its
own (which then replaces this, tokens.js dropping it)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from app.pictures.chips import chip_of
from app.pictures.svg import esc

# tokens.js drawChips: a line break after a token that ends a line, and before one that starts a line
# with the next line's indentation, so code keeps its shape.
BREAK = '<span class="br" aria-hidden="true"></span>'
EMPTY_HINT = "No text, no tokens. Type something above."  # templates/tokens.html #empty-hint


def thousands(n: int) -> str:
    """As tokens.js fmt (toLocaleString("en-US")): 1,234."""
    return f"{n:,}"


def fixed2(x: float) -> str:
    """As JavaScript's x.toFixed(2): the exact value rounded, a tie going up (4.125 -> "4.13", where
    Python's format, rounding half to even, writes "4.12")."""
    return str(Decimal(x).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _stat(value: str, label: str) -> str:
    return f'<div class="stat"><b>{esc(value)}</b><span>{esc(label)}</span></div>'


def picture(answer: dict, url: str) -> str | None:
    tokens = answer["tokens"]
    ratio = answer["chars_per_token"]
    stats = "".join([_stat(thousands(answer["count"]), "tokens"), _stat(thousands(answer["characters"]), "characters"),
                     _stat(thousands(answer["words"]), "words"),
                     _stat("–" if ratio is None else fixed2(ratio), "characters per token")])
    flow = []
    for i, t in enumerate(tokens):
        text = "" if t.get("special") else t["text"]
        if text.startswith("\n") and not text.endswith("\n") and i > 0:
            flow.append(BREAK)
        flow.append(chip_of(t, i))
        if text.endswith("\n"):
            flow.append(BREAK)
    hint = "" if tokens else f'<p class="empty-hint">{esc(EMPTY_HINT)}</p>'
    # The classes of the page's own #stats and #chips (tokens.css), without their ids and data-stat
    # attributes, which the page's module looks up; tokens.css hides those two while this is shown.
    return (f'<div class="stats">{stats}</div>'
            f'<div class="token-flow" aria-label="The text&#39;s tokens">{"".join(flow)}</div>{hint}')
