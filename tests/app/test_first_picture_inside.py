"""/inside's server-drawn first picture (app/pictures/inside.py): section 1's colour strips (the vector
coming into the layer, divided by its root-mean-square, times RMSNorm's gains) and the summary above them,
drawn from exactly the answer of GET /api/inside that the page carries inline for inside.js; every column
is the answer's number in the page's colours (each row clipped at its 6th-largest |entry|); text from the
user or the model stays text; a refused first request leaves the page as it was."""

from __future__ import annotations

import html
import math
import re
import struct
import zlib
from base64 import b64decode
from pathlib import Path

from app import pictures
from app.pictures import inside
from app.pictures.svg import token_label
from tests.app.first_picture_parts import drawings, inline_answer as _inline, svg_texts as _texts

HOSTILE = '</script><img src=x onerror=alert(1)>'
ROOT = Path(__file__).resolve().parents[2]
URL = "/inside?text=Hello+world&layer=1&head=1"  # the tiny model has 2 layers (the page's default is 18)


def _slot(body: str) -> str:
    slot = re.search(r'<div id="strip-norm1"[^>]*>(.*?)<script type="application/json"', body, re.DOTALL).group(1)
    assert slot.startswith('<div class="first-picture" data-first-picture>')
    return slot


def _drawings(body: str) -> dict[str, str]:
    return drawings(_slot(body))


def _png_row(data: bytes) -> list[tuple[int, int, int, int]]:
    """The one row of RGBA pixels of a 1-pixel-high, unfiltered 8-bit RGBA PNG (as svg.png writes a strip's row)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    assert h == 1
    idat = data[8 + 25 + 8:]
    raw = zlib.decompress(idat[:struct.unpack(">I", data[33:37])[0]])
    assert raw[0] == 0
    return [tuple(raw[1 + 4 * j:5 + 4 * j]) for j in range(w)]


def _js_colour(x: float) -> tuple[int, int, int]:
    """The diverging scale inside.js gives Plotly, at a value in -1..1: NEG - white - POS, linear in RGB."""
    neg, pos = (0x44, 0x53, 0xC7), (0xD9, 0x68, 0x2B)
    t = (max(-1.0, min(1.0, x)) + 1) / 2
    a, b, u = (neg, (255, 255, 255), t / 0.5) if t <= 0.5 else ((255, 255, 255), pos, (t - 0.5) / 0.5)
    return tuple(math.floor(c + u * (d - c) + 0.5) for c, d in zip(a, b))


def test_the_page_carries_the_strips_and_the_apis_own_answer(tiny_client):
    page = tiny_client.get(URL)
    assert page.status_code == 200
    url, answer = _inline(page.text)
    assert url.startswith("/api/inside?") and answer == tiny_client.get(url).json()
    assert set(_drawings(page.text)) == {"wide", "narrow"}
    assert 'rel="preload" as="fetch"' not in page.text and pictures.SLOT not in page.text


def test_every_column_is_the_answers_number_clipped_as_the_page_clips_it(tiny_client):
    page = tiny_client.get(URL)
    _, answer = _inline(page.text)
    rms = answer["rms1"]
    rows = [answer["resid_pre"], [x / rms for x in answer["resid_pre"]], answer["norm1"]]
    for svg in _drawings(page.text).values():
        images = re.findall(r'href="data:image/png;base64,([^"]+)"', svg)
        assert len(images) == 3  # one row each, 18 px apart as drawStrip's ygap
        for values, image in zip(rows, images):
            clip = sorted((abs(x) for x in values), reverse=True)[inside.CLIP_RANK - 1]
            pixels = _png_row(b64decode(image))
            assert len(pixels) == answer["d_model"]
            assert pixels == [(*_js_colour(x / clip), 255) for x in values]


def test_the_names_axis_and_summary_are_the_pages(tiny_client):
    page = tiny_client.get(URL)
    _, answer = _inline(page.text)
    names = ["coming in (resid_pre)", f"÷ {inside.fmt(answer['rms1'], 2)}", "× gain = what attention reads (norm1)"]
    for svg in _drawings(page.text).values():
        texts = _texts(svg)
        assert texts[:3] == names
        assert f"entry (0 to {answer['d_model'] - 1})" in texts
        assert "0" in texts
    summary = html.unescape(re.sub(r"<[^>]+>", "", _slot(page.text).split("<svg", 1)[0]))
    token = token_label(answer["tokens"][answer["position"]])
    gains = answer["norm1_gain"]
    assert summary == (f"Token “{token}” entering layer 1: its {answer['d_model']} numbers have a root-mean-square of "
                       f"{inside.fmt(answer['rms1'], 3)}. RMSNorm divides every number by it, then multiplies each by "
                       f"its gain (this layer's gains run from {inside.fmt(min(gains), 2)} to {inside.fmt(max(gains), 2)}).")
    # The strips' height, as drawStrip's (58 + 48 a row): nothing below moves when Plotly replaces them; and
    # the panel's whole width, whatever it is, the labels never scaled (x positions in percent).
    for svg in _drawings(page.text).values():
        assert svg.startswith(' width="100%" height="202" style="height:202px"') and "viewBox" not in svg
        assert re.findall(r'<image x="([\d.]+)%" y="[\d.]+" width="([\d.]+)%"', svg)


def test_the_text_equivalent_names_each_rows_length_and_largest_entries(tiny_client):
    page = tiny_client.get(URL)
    _, answer = _inline(page.text)
    label = html.unescape(re.search(r'aria-label="([^"]*)"', _drawings(page.text)["wide"]).group(1))
    values = answer["norm1"]
    top = max(range(len(values)), key=lambda i: abs(values[i]))  # the first of the largest, as a stable sort
    assert f"× gain = what attention reads (norm1): length {inside.fmt(math.sqrt(sum(x * x for x in values)), 1)}, " \
           f"largest entries #{top} {inside.signed(values[top])}" in label


def test_the_followed_position_is_the_answers(tiny_client):
    page = tiny_client.get(URL + "&position=0")
    _, answer = _inline(page.text)
    assert answer["position"] == 0
    assert f"Token “{token_label(answer['tokens'][0])}” entering layer 1" in html.unescape(_slot(page.text))


def test_hostile_text_stays_text(tiny_client):
    page = tiny_client.get("/inside", params={"text": HOSTILE, "layer": 1, "head": 1, "position": 1})
    assert page.status_code == 200
    body = page.text
    assert "<img src=x" not in body
    assert body.count("</script>") == body.count("<script")
    url, answer = _inline(body)
    assert answer == tiny_client.get(url).json()
    token = token_label(answer["tokens"][1])
    assert set(token) & set("</>")
    summary = html.unescape(re.sub(r"<[^>]+>", "", _slot(body).split("<svg", 1)[0]))  # tags out, the text's own "<" was escaped
    assert summary.startswith(f"Token “{token}” entering layer 1")


def test_a_refused_first_request_leaves_the_page_as_before(tiny_client, tiny_engine):
    words = " a" * (tiny_engine.settings.max_prompt_tokens + 10)
    page = tiny_client.get("/inside", params={"text": words, "layer": 1, "head": 1})
    assert page.status_code == 200
    body = re.sub(r"<style\b.*?</style>", "", page.text, flags=re.S)  # inside.css names the picture's slot
    assert "data-first-answer" not in body and "data-first-picture" not in body
    assert page.text.rstrip().endswith("</html>")


def test_the_colours_and_clip_are_the_pages():
    source = (ROOT / "static/js/inside.js").read_text()
    assert f"const CLIP_RANK = {inside.CLIP_RANK};" in source
    assert f'NEG = "{inside.NEG}", POS = "{inside.POS}"' in source
    assert 'const DIVERGING = [[0, NEG], [0.5, "#ffffff"], [1, POS]];' in source
    assert inside.DIVERGING == [(0, inside.NEG), (0.5, "#ffffff"), (1, inside.POS)]


def test_numbers_are_written_as_inside_js_writes_them():
    assert [inside.fmt(x) for x in (7.3751, 0.0004, -123456.0, 0.0, 12.0005)] == \
        ["7.375", "4.00e-4", "-1.23e+5", "0.000", "12.001"]  # as Node writes them (12.0005 is 12.00050000000000061)
    assert inside.fmt(0.125, 2) == "0.13"  # an exact tie: toFixed rounds it up, Python's format to even
    assert inside.signed(-1.005) == "−1.00" and inside.signed(0.5) == "+0.50"


def test_without_javascript_the_entries_beyond_the_colour_limit_are_listed(tiny_client):
    """The note below the strips says each strip's colours stop at its CLIP_RANK-th largest size and the
    entries beyond are listed under it: the module's list (#norm1-top) is not there without JavaScript, so
    the picture lists them (drawTops: resid_pre and norm1), shown only then (app.css), and the note's
    rank is written in the page, not left blank for the module."""
    page = tiny_client.get(URL)
    _, answer = _inline(page.text)
    listed = re.search(r'<div class="tops first-nojs">(.*?)</div>', _slot(page.text)).group(1)
    lines = re.findall(r'<p class="top-line">(.*?)</p>', listed)
    assert len(lines) == 2
    for line, name, values in zip(lines, ["coming in (resid_pre)", "× gain = what attention reads (norm1)"],
                                  [answer["resid_pre"], answer["norm1"]]):
        text = html.unescape(re.sub(r"<[^>]+>", " ", line))
        assert text.split()[:len(name.split())] == name.split()
        clip = sorted((abs(x) for x in values), reverse=True)[inside.CLIP_RANK - 1]
        order = sorted(range(len(values)), key=lambda i: -abs(values[i]))
        over = [i for i in order if abs(values[i]) > clip][:inside.CLIP_RANK - 1]
        shown = [int(i) for i in re.findall(r"#(\d+) ", text)]
        assert shown == (over or order[:1])
        assert f"length {inside.fmt(math.sqrt(sum(x * x for x in values)), 1)}" in text
    css = (ROOT / "static/css/app.css").read_text()
    assert ".first-picture .first-nojs { display: none; }" in css
    assert "@media (scripting: none) { .first-picture .first-nojs { display: block; } }" in css
    assert f"<span data-clip-rank>{inside.CLIP_RANK}</span>th-largest" in page.text
