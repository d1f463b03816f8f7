"""A chapter page's first picture, drawn on the server into the page's HTML (issue 20).

The first visit to a chart page used to wait for the page's own loading (HTML, modules, 1.26 MB of
Plotly run, the draw: 300-860 ms on 2 shared cores) before showing anything the model computed,
however fast the model was. Now the page's HTML is streamed: the head and everything above the first
picture go out at once (the browser fetches the page's modules and Plotly meanwhile), the server
computes the first request's answer (the URL `app/views/first_request.py` names from the page's query,
asked of the app itself in-process, so it is exactly the JSON the API gives), draws it as a static SVG
(or HTML chips) in the page's picture slot, and writes the answer beside it as inline JSON. The page's
module takes that answer (`static/js/kit/first.js`) instead of asking again, and replaces the static
picture with its interactive chart once Plotly has run (`static/js/kit/load.js` removes it after the
draw). Without JavaScript, the static picture stays.

One module per page: `app/pictures/<page>.py` with `picture(answer: dict, url: str) -> str | None`,
returning safe HTML (every text from the user or the model escaped: `app/pictures/svg.py`). A page
without such a module, or whose first request is refused or fails, is served as before: its module
sends its usual request.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from markupsafe import Markup, escape

log = logging.getLogger("transformer_tour")

# Where a page template puts its first picture ({{ first_picture() }} inside the chart's element):
# the rendered page is cut there, and what comes after waits for the answer.
SLOT = "<!--tt:first-picture-->"


def renderer(page: str) -> Callable[[dict, str], str | None] | None:
    """The page's picture function, or None when it has none."""
    try:
        module = importlib.import_module(f"app.pictures.{page}")
    except ModuleNotFoundError as e:
        if e.name != f"app.pictures.{page}":
            raise
        return None
    return getattr(module, "picture", None)


def inline_json(value) -> str:
    """JSON safe inside <script type="application/json">: no "<" (so no "</script>" or "<!--"), ">" or "&"
    can end or change the element, whatever text the user typed."""
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


# First requests whose `text` is the reader's text, which the page's form shows only once its module ran.
TEXT_PATHS = ("/api/predict", "/api/attention", "/api/inside", "/api/attribution")


def text_caption(url: str) -> str:
    """For a reader without JavaScript, the text the picture is about (its form's text box stays empty
    then): shown only when scripting is off (app.css .first-nojs), so the picture keeps the chart's size."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    text = query.get("text")
    if parts.path not in TEXT_PATHS or not text:
        return ""
    what = "the chat message" if query.get("mode") == ["chat"] else "the text"  # /why's chat mode
    return f'<p class="first-nojs first-text">For {what} “{escape(text[0])}”</p>'


def block(url: str, answer: dict, picture: str | None) -> Markup:
    """The slot's content: the static picture (marked data-first-picture, for the kit to remove once the
    page has drawn its own) and the answer, keyed by its URL, for kit/first.js."""
    drawn = f'<div class="first-picture" data-first-picture>{picture}{text_caption(url)}</div>' if picture else ""
    return Markup(f'{drawn}<script type="application/json" data-first-answer="{escape(url)}">'
                  f"{inline_json(answer)}</script>")
