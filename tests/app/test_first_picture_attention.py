"""/attention's server-drawn first picture (app/pictures/attention.py): one head's heatmap, drawn from
exactly the answer of GET /api/attention that the page carries inline for attention.js; its cells are the
answer's weights in the page's colour scale (attention/colours.js), the future left empty, its labels the
answer's tokens thinned as the page thins them; text from the user or the model stays text; a refused
first request leaves the page as it was."""

from __future__ import annotations

import html
import re
import struct
import zlib
from base64 import b64decode
from pathlib import Path

from app import pictures
from app.pictures import attention
from app.pictures.svg import thin, to_fixed, token_label
from tests.app.first_picture_parts import drawings, inline_answer as _inline, svg_texts as _texts

HOSTILE = '</script><img src=x onerror=alert(1)>'
ROOT = Path(__file__).resolve().parents[2]


def _drawings(body: str) -> dict[str, str]:
    """The drawings inside #heatmap (wide, mid, narrow: for the heatmap column's width), by class."""
    slot = re.search(r'<div id="heatmap"[^>]*>(.*?)<script type="application/json"', body, re.DOTALL).group(1)
    assert slot.startswith('<div class="first-picture" data-first-picture>')
    return drawings(slot)


def _js_rgb(w: float) -> tuple[int, int, int]:
    """attention/colours.js rgb(), written again: linear between stops, Math.round."""
    stops = attention.STOPS
    v = max(0.0, min(1.0, w))
    for k in range(1, len(stops)):
        v1, c1 = stops[k]
        if v <= v1:
            v0, c0 = stops[k - 1]
            t = (v - v0) / (v1 - v0)
            return tuple(int(c + t * (d - c) + 0.5) for c, d in zip(c0, c1))
    return stops[-1][1]


def _png(data: bytes) -> list[list[tuple[int, int, int, int]]]:
    """Rows of RGBA pixels of an 8-bit RGBA PNG whose scanlines are unfiltered (as svg.png writes them)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", chunk[:8])
            assert chunk[8:10] == b"\x08\x06"
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    rows = []
    for i in range(h):
        line = raw[i * (4 * w + 1):(i + 1) * (4 * w + 1)]
        assert line[0] == 0
        rows.append([tuple(line[1 + 4 * j:5 + 4 * j]) for j in range(w)])
    return rows


def test_the_page_carries_the_heatmap_and_the_apis_own_answer(tiny_client):
    page = tiny_client.get("/attention?text=Hello+world&layer=1&head=1")
    assert page.status_code == 200
    url, answer = _inline(page.text)
    assert url.startswith("/api/attention?") and answer == tiny_client.get(url).json()
    drawings = _drawings(page.text)
    assert set(drawings) == {"wide", "mid", "narrow"}
    assert 'rel="preload" as="fetch"' not in page.text and pictures.SLOT not in page.text


def test_the_cells_are_the_weights_in_the_pages_colours_the_future_left_empty(tiny_client):
    page = tiny_client.get("/attention?text=Hello+world&layer=1&head=1")
    _, answer = _inline(page.text)
    weights, n = answer["weights"], len(answer["tokens"])
    assert 2 <= n < 30  # a small grid: one rectangle per cell, 1 px apart as Plotly's xgap/ygap
    for svg in _drawings(page.text).values():
        fills = re.findall(r'<rect [^>]*fill="#([0-9a-f]{6})"', svg)
        assert len(fills) == n * (n + 1) // 2  # the lower triangle and the diagonal, nothing above
        expected = [_js_rgb(weights[i][j]) for i in range(n) for j in range(i + 1)]
        assert [tuple(int(f[k:k + 2], 16) for k in (0, 2, 4)) for f in fills] == expected


def test_the_labels_titles_and_colour_bar_are_the_pages(tiny_client):
    page = tiny_client.get("/attention?text=Hello+world&layer=1&head=1")
    _, answer = _inline(page.text)
    labels = [token_label(t) for t in answer["tokens"]]
    drawings = _drawings(page.text)
    for kind, svg in drawings.items():
        texts = _texts(svg)
        assert texts.count("Layer 1 · head 1") == 1
        assert "key: the token looked at" in texts and "query: the token looking" in texts and "weight" in texts
        for name in labels:  # a few tokens: every one on both axes
            assert texts.count(name) >= 2
        ticks = ["0%", "50%", "100%"] if kind == "narrow" else ["0%", "20%", "40%", "60%", "80%", "100%"]
        assert [t for t in texts if t.endswith("%")] == ticks
    # The chart's height, as drawAttentionHeatmap's: nothing below it moves when Plotly replaces it.
    assert 'style="max-width:718px;height:460px"' in drawings["wide"]


def test_the_text_equivalent_says_what_the_page_says(tiny_client):
    page = tiny_client.get("/attention?text=Hello+world&layer=1&head=1")
    _, answer = _inline(page.text)
    w, n = answer["weights"], len(answer["tokens"])
    labels = [token_label(t) for t in answer["tokens"]]
    label = html.unescape(re.search(r'aria-label="([^"]*)"', _drawings(page.text)["wide"]).group(1))
    sink = sum(w[i][0] for i in range(1, n)) / (n - 1)
    assert label.startswith(f"Attention heatmap. Layer 1 · head 1: {n} tokens. The tokens after the first put "
                            f"{attention.pct(sink)} of their attention on the first token, “{labels[0]}”")
    i, j = max(((i, j) for i in range(1, n) for j in range(1, i + 1)), key=lambda c: w[c[0]][c[1]])
    assert f"#{i} “{labels[i]}” looks at #{j} “{labels[j]}” {attention.pct(w[i][j])}" in label


def test_the_layers_average_is_titled_as_the_page_titles_it(tiny_client):
    page = tiny_client.get("/attention?text=Hello+world&layer=1&head=0&avg=1")
    _, answer = _inline(page.text)
    assert answer["average"] is True
    assert f"Layer 1: average of its {answer['n_heads']} heads" in _texts(_drawings(page.text)["wide"])


def test_a_long_prompt_is_one_image_with_thinned_labels(tiny_client, tiny_engine):
    text = " ".join("abcdefghijklmnopqrstu")  # about 40 tokens on the tiny tokenizer
    page = tiny_client.get("/attention", params={"text": text, "layer": 1, "head": 2})
    _, answer = _inline(page.text)
    weights, n = answer["weights"], len(answer["tokens"])
    assert 30 <= n <= tiny_engine.settings.max_prompt_tokens
    labels = [token_label(t) for t in answer["tokens"]]
    for kind, svg in _drawings(page.text).items():
        assert "<rect" not in svg.split("<defs>")[0]  # no cell drawn one by one
        images = re.findall(r'href="data:image/png;base64,([^"]+)"', svg)
        assert len(images) == 1
        pixels = _png(b64decode(images[0]))
        assert len(pixels) == n and len(pixels[0]) == n
        for i in range(n):
            for j in range(n):
                if j <= i:
                    assert pixels[i][j] == (*_js_rgb(weights[i][j]), 255)
                else:  # the future: transparent
                    assert pixels[i][j][3] == 0
        # Labels thinned as kit/heatmap.js thins them, and turned at -50 degrees.
        width = attention.WIDTHS[kind]
        x_ticks = thin(n, width - (70 if kind == "narrow" else 190), 16 if kind == "narrow" else 14)
        y_ticks = thin(n, max(460, min(760, 140 + n * 20)) - 140, 12)
        turned = [html.unescape(t) for t in re.findall(r'<text [^>]*rotate\(-50 [^>]*>(.*?)</text>', svg)]
        assert turned == [labels[j] for j in x_ticks]
        upright = [html.unescape(t) for t in re.findall(r'<text [^>]*text-anchor="end"(?![^>]*rotate)[^>]*>(.*?)</text>', svg)]
        assert upright == [labels[i] for i in y_ticks]
        assert len(x_ticks) < n  # 39 columns do not fit 39 labels


def test_hostile_text_stays_text(tiny_client):
    page = tiny_client.get("/attention", params={"text": HOSTILE, "layer": 1, "head": 1})
    assert page.status_code == 200
    body = page.text
    assert "<img src=x" not in body
    assert body.count("</script>") == body.count("<script")
    url, answer = _inline(body)
    assert answer == tiny_client.get(url).json()
    drawings = _drawings(body)
    labels = [token_label(t) for t in answer["tokens"]]
    assert any("<" in name for name in labels)
    for svg in drawings.values():
        assert "<img" not in svg and "</script" not in svg
        for name in labels:
            assert name in _texts(svg)


def test_a_refused_first_request_leaves_the_page_as_before(tiny_client, tiny_engine):
    words = " a" * (tiny_engine.settings.max_prompt_tokens + 10)
    page = tiny_client.get("/attention", params={"text": words, "layer": 1, "head": 1})
    assert page.status_code == 200
    assert "data-first-answer" not in page.text and "data-first-picture" not in page.text
    assert page.text.rstrip().endswith("</html>")


def test_the_colour_scale_is_the_pages():
    source = (ROOT / "static/js/attention/colours.js").read_text()
    block = re.search(r"export const STOPS = \[(.*?)\];", source, re.DOTALL).group(1)
    stops = [(float(v), (int(r), int(g), int(b)))
             for v, r, g, b in re.findall(r"\[([\d.]+), \[(\d+), (\d+), (\d+)\]\]", block)]
    assert stops == [(float(v), c) for v, c in attention.STOPS]


def test_percentages_round_as_the_page_rounds_them():
    assert attention.pct(0.125) == "13%"  # toFixed: a tie away from zero (Python's format: "12%")
    assert to_fixed(1.25, 1) == "1.3" and to_fixed(2.5, 0) == "3" and to_fixed(-0.0, 1) == "0.0"
    assert attention.pct(0.05) == "5.0%" and attention.pct(1.0) == "100%"
