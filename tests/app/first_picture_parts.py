"""Reading a served page's server-drawn first picture (app/pictures), shared by the
tests/app/test_first_picture*.py files."""

from __future__ import annotations

import html
import json
import re

INLINE = re.compile(r'<script type="application/json" data-first-answer="([^"]+)">(.*?)</script>', re.DOTALL)
DRAWING = re.compile(r'<svg class="first-svg first-(wide|mid|narrow)"(.*?)</svg>', re.DOTALL)
TEXT = re.compile(r"<text[^>]*>(.*?)</text>")


def inline_answer(body: str) -> tuple[str, dict]:
    """The page's one inline answer: the API URL it answers and its JSON."""
    found = INLINE.findall(body)
    assert len(found) == 1, found
    url, data = found[0]
    return html.unescape(url), json.loads(data)


def drawings(fragment: str) -> dict[str, str]:
    """The picture's drawings for each column width ("wide", "mid", "narrow"), by class."""
    return dict(DRAWING.findall(fragment))


def svg_texts(svg: str) -> list[str]:
    """Every <text> of a drawing, unescaped."""
    return [html.unescape(t) for t in TEXT.findall(svg)]
