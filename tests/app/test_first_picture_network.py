"""/network's server-drawn first picture (app/pictures/network.py): step 1's row of the four symbols, drawn
from GET /api/network/dataset's answer, which the page carries beside it; the symbols and their pixels are
the answer's; text stays text; a refused or failing answer leaves the page as it was (its module asks)."""

from __future__ import annotations

import html
import re

from app import pictures
from app.engine import Overloaded
from app.pictures.network import picture
from tests.app.first_picture_parts import inline_answer as _inline

HOSTILE = '</script><img src=x onerror=alert(1)>&<!--'
DATASET = "/api/network/dataset"
GLYPH = re.compile(r'<span class="symbol-button"><span class="mini">(.*?)</span><span>(.*?)</span></span>')


def _row(body: str) -> str:
    """What the page's symbol row holds as served: the picture and the inline answer."""
    return re.search(r'<div id="symbol-buttons" class="symbol-buttons">(.*?)<div class="row tight">', body, re.DOTALL).group(1)


def test_network_page_carries_the_symbols_row_and_the_apis_own_answer(tiny_client):
    page = tiny_client.get("/network")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    row = _row(page.text)
    assert row.startswith('<div class="first-picture" data-first-picture><div class="first-symbols" role="img"')
    url, answer = _inline(row)
    assert url == DATASET and answer == tiny_client.get(DATASET).json()
    assert len(GLYPH.findall(row)) == len(answer["symbols"]) == 4
    # Not preloaded as well (the answer is already here), and the slot's marker is gone.
    assert 'rel="preload" as="fetch"' not in page.text and pictures.SLOT not in page.text
    assert '<script type="module" src="/static/js/network.js">' in page.text


def test_every_url_of_the_page_gets_the_same_answer(tiny_client):
    """The answer does not depend on the page's state (network.js asks for the same URL whatever its query)."""
    first = _inline(tiny_client.get("/network").text)
    assert _inline(tiny_client.get("/network?px=111000111&seed=3&trained=1").text) == first


def test_the_symbols_and_their_pixels_are_the_answers(tiny_client):
    page = tiny_client.get("/network")
    _, answer = _inline(page.text)
    glyphs = GLYPH.findall(_row(page.text))
    for (cells, label), symbol in zip(glyphs, answer["symbols"], strict=True):
        assert html.unescape(label) == symbol["label"]
        assert re.findall(r'<i class="(on|off)"></i>', cells) == ["on" if v > 0 else "off" for v in symbol["pixels"]]
    # The text equivalent names each symbol's white pixels, numbered 1-9 as the display's pixels are.
    said = html.unescape(re.search(r'role="img" aria-label="([^"]*)"', page.text).group(1))
    plus = next(s for s in answer["symbols"] if s["name"] == "plus")
    assert plus["pixels"] == [-1, 1, -1, 1, 1, 1, -1, 1, -1]
    assert "+: 2, 4, 5, 6 and 8" in said and said.startswith(f"The {len(answer['symbols'])} symbols")
    side = round(len(plus["pixels"]) ** 0.5)  # the drawing's size, from the answer
    assert f"each a {side}×{side} drawing" in said
    bigger = picture({"symbols": [{"name": "x", "label": "x", "pixels": [1.0] * 16}]}, "/api/network/dataset")
    assert "each a 4×4 drawing" in html.unescape(bigger)


def test_a_hostile_label_stays_text():
    answer = {"symbols": [{"name": "x", "label": HOSTILE, "pixels": [1.0] * 9}]}
    drawn = picture(answer, DATASET)
    assert "<img" not in drawn and "<script" not in drawn.lower() and "<!--" not in drawn
    assert html.unescape(GLYPH.search(drawn).group(2)) == HOSTILE
    assert HOSTILE in html.unescape(re.search(r'aria-label="([^"]*)"', drawn).group(1))


def test_hostile_text_in_the_pages_url_stays_out_of_the_page(tiny_client):
    page = tiny_client.get("/network", params={"px": HOSTILE, "w": HOSTILE})
    assert page.status_code == 200
    body = page.text
    assert "<img src=x" not in body and "<!--" not in body.split("<main", 1)[1]
    assert body.count("</script>") == body.count("<script")
    url, answer = _inline(body)
    assert answer == tiny_client.get(url).json()


def test_no_symbols_no_picture():
    assert picture({"symbols": []}, DATASET) is None


def test_a_refused_first_request_leaves_the_page_as_before(tiny_client, monkeypatch):
    from app.views import network as view

    def busy():
        raise Overloaded("busy")
    monkeypatch.setattr(view, "dataset_out", busy)
    assert tiny_client.get(DATASET).status_code == 503
    page = tiny_client.get("/network")
    assert page.status_code == 200 and page.text.rstrip().endswith("</html>")
    assert "data-first-answer" not in page.text and "data-first-picture" not in page.text
    assert '<div id="symbol-buttons" class="symbol-buttons"></div>' in page.text
    assert '<script type="module" src="/static/js/network.js">' in page.text


def test_a_failing_picture_leaves_the_page_as_before(tiny_client, monkeypatch):
    from app.pictures import network

    def broken(answer, url):
        raise RuntimeError("drawing failed")
    monkeypatch.setattr(network, "picture", broken)
    page = tiny_client.get("/network")
    assert page.status_code == 200 and page.text.rstrip().endswith("</html>")
    assert "data-first-answer" not in page.text and "data-first-picture" not in page.text
