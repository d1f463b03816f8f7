"""/network's first picture: the four symbols the network tells apart, as step 1 ("Draw") shows them in its
"Start from" row (network.js loadDataset), from GET /api/network/dataset's answer.

That answer also fills the training and held-out galleries (what the page's tests wait for), but those sit
in step 4, about 2,300 px down at 1280x800 (4,700 px on a phone); at the top of the chapter, what it draws
is this row, under the display (590 px down; 700 px on a phone, still in the first screen). The
display itself (the URL's `px`) and the diagram and bars beside it (POST /api/network/init and /predict,
one after the other) are not in this answer, so the page's module draws them as before.

HTML rather than SVG: the same elements and classes as the module's buttons (static/css/network.css), so
the row looks the same and does not move when the module puts its buttons in its place (only the symbol on
the display, which the module knows from its URL, then turns blue). Not buttons: they would do nothing
without JavaScript.
"""

from __future__ import annotations

import math

from app.pictures.svg import esc


def _white(pixels: list[float]) -> str:
    """A drawing in words for the text equivalent: its white pixels, numbered as the page's display
    numbers them (1 to 9, row by row)."""
    lit = [str(i + 1) for i, v in enumerate(pixels) if v > 0]
    return "none" if not lit else lit[0] if len(lit) == 1 else f"{', '.join(lit[:-1])} and {lit[-1]}"


def picture(answer: dict, url: str) -> str | None:
    symbols = answer.get("symbols") or []
    if not symbols:
        return None
    glyphs = []
    for s in symbols:
        grid = "".join(f'<i class="{"on" if v > 0 else "off"}"></i>' for v in s["pixels"])
        glyphs.append(f'<span class="symbol-button"><span class="mini">{grid}</span><span>{esc(s["label"])}</span></span>')
    drawings = "; ".join(f"{s['label']}: {_white(s['pixels'])}" for s in symbols)
    side = math.isqrt(len(symbols[0]["pixels"]))  # the display's side (3), from the answer's drawings
    label = (f"The {len(symbols)} symbols the network tells apart, each a {side}×{side} drawing; its white pixels, "
             f"numbered row by row from the top left: {drawings}")
    return f'<div class="first-symbols" role="img" aria-label="{esc(label)}">{"".join(glyphs)}</div>'
