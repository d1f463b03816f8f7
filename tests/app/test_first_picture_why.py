"""/why's server-drawn first picture (app/pictures/why.py): the waterfall of the largest parts of the score,
drawn from exactly the answer of GET /api/attribution (the direct parts) that the page carries inline for
why.js; its labels and numbers are the answer's, written as why.js writes them; text from the user or the
model stays text; a refused first request leaves the page as it was."""

from __future__ import annotations

import html
import re

import pytest

from app import pictures
from app.pictures import why
from app.pictures.svg import token_label
from tests.app.first_picture_parts import drawings, inline_answer as _inline, svg_texts as _texts

HOSTILE = '</script><img src=x onerror=alert(1)>'


def _waterfall(body: str) -> str:
    return re.search(r'<div id="waterfall"[^>]*>(.*?)<script type="application/json"', body, re.S).group(1)


def _drawings(body: str) -> dict[str, str]:
    """The wide and the phone drawing, by class."""
    return drawings(_waterfall(body))


def _js_fixed(v: float) -> str:
    """What why.js writes for a part (fmt): its own rounding checked separately (test_numbers_as_why_js...)."""
    return ("+" if v >= 0 else "\u2212") + why.to_fixed(abs(v), 2)


def _largest(answer: dict, k: int = 10) -> list[tuple[str, float]]:
    p = answer["parts"]
    named = [("embedding", p["embedding"])] + [(f"L{l}H{h}", v) for l, row in enumerate(p["heads"])
                                                for h, v in enumerate(row)]
    named += [(f"MLP {l}", v) for l, v in enumerate(p["mlps"])]
    return sorted(named, key=lambda nv: abs(nv[1]), reverse=True)[:k]


@pytest.fixture
def chat_client(make_client):
    """Room for the chat template's default system prompt (the tiny model's usual limit is 64 tokens)."""
    from app.engine import Engine
    from app.settings import Settings
    from model.tiny import tiny_model
    model, tokenizer = tiny_model(seed=0)
    return make_client(Engine(model, tokenizer, Settings(max_prompt_tokens=128, max_prompt_chars=600)))


def test_the_page_carries_its_waterfall_and_the_apis_own_answer(tiny_client):
    page = tiny_client.get("/why?text=the+bank")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<div class="first-picture" data-first-picture><svg class="first-svg first-wide"' in _waterfall(page.text)
    drawings = _drawings(page.text)
    assert set(drawings) == {"wide", "narrow"}
    # Ten parts, the others, the total: one bar each, in each drawing.
    assert [d.count("<rect") for d in drawings.values()] == [12, 12]
    url, answer = _inline(page.text)
    assert url == "/api/attribution?text=the+bank&saliency=false"
    assert answer == tiny_client.get(url).json()
    assert answer["saliency"] is None  # the direct parts only, as why.js asks first
    assert 'rel="preload" as="fetch"' not in page.text and pictures.SLOT not in page.text


def test_the_labels_and_numbers_are_the_answers(tiny_client):
    page = tiny_client.get("/why?text=the+bank")
    _, answer = _inline(page.text)
    largest = _largest(answer)
    rest = answer["parts"]["embedding"] + sum(map(sum, answer["parts"]["heads"])) + sum(answer["parts"]["mlps"]) \
        - sum(v for _, v in largest)
    others = 1 + sum(map(len, answer["parts"]["heads"])) + len(answer["parts"]["mlps"]) - 10
    total = why.to_fixed(answer["total"], 2)
    drawings = _drawings(page.text)
    for kind, svg in drawings.items():
        texts = _texts(svg)
        # The axis's labels top to bottom, as why.js names them (the phone's "others" without its count).
        names = [t for t in texts if re.fullmatch(r"embedding|L\d+H\d+|MLP \d+|(\d+ )?others|total", t)]
        assert names == [n for n, _ in largest] + [f"{others} others" if kind == "wide" else "others", "total"]
        for _, v in largest:
            assert _js_fixed(v) in texts
        assert _js_fixed(rest) in texts and total in texts
        assert "score" in texts  # the x axis's title
        label = html.unescape(re.search(r'aria-label="([^"]*)"', svg).group(1))
        assert f"“{token_label(answer['target'])}”" in label
        assert f"{largest[0][0]} {_js_fixed(largest[0][1])}" in label and f"total {total}" in label
        assert f"the {others} others together" in label


def test_the_bars_start_where_the_one_before_ended(tiny_client):
    """The waterfall: each step's bar starts where the one before ended (its connector's x), the total from 0."""
    page = tiny_client.get("/why?text=the+bank")
    svg = _drawings(page.text)["wide"]
    bars = [(float(x), float(w)) for x, w in re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)]
    connectors = [float(x) for x in re.findall(r'<line x1="([\d.]+)" x2="[\d.]+" y1="[\d.]+" y2="[\d.]+" '
                                               r'stroke="#9aa0ae"', svg)]
    assert len(connectors) == len(bars) - 1 == 11
    for (x0, w0), (x1, w1), joint in zip(bars, bars[1:-1], connectors):
        assert joint in (pytest.approx(x0, abs=0.11), pytest.approx(x0 + w0, abs=0.11))
        assert joint in (pytest.approx(x1, abs=0.11), pytest.approx(x1 + w1, abs=0.11))


def test_the_colours_are_why_js(tiny_client):
    page = tiny_client.get("/why?text=the+bank")
    _, answer = _inline(page.text)
    svg = _drawings(page.text)["narrow"]
    fills = re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"', svg)
    assert fills[:10] == ["#c8372d" if v >= 0 else "#2f5fc4" for _, v in _largest(answer)]
    assert fills[-1] == "#1d2130"


def test_a_chat_message_and_a_contrast(chat_client):
    page = chat_client.get("/why?mode=chat&text=hi&target=40&contrast=50")
    url, answer = _inline(page.text)
    assert url == "/api/attribution?text=hi&mode=chat&target=40&contrast=50&saliency=false"
    assert answer == chat_client.get(url).json()
    assert answer["tokens"][0]["text"] == "<|im_start|>"
    label = html.unescape(re.search(r'aria-label="([^"]*)"', _drawings(page.text)["wide"]).group(1))
    assert f"“{token_label(answer['target'])}” minus that of “{token_label(answer['contrast'])}”" in label


@pytest.mark.parametrize("query", [{"text": HOSTILE}, {"text": HOSTILE, "mode": "chat"}])
def test_hostile_text_stays_text(chat_client, query):
    page = chat_client.get("/why", params=query)
    assert page.status_code == 200
    body = page.text
    assert "<img src=x" not in body
    # The page's own scripts are all there is: nothing the user typed opened or closed one.
    assert body.count("</script>") == body.count("<script")
    url, answer = _inline(body)
    assert answer == chat_client.get(url).json()
    assert HOSTILE in "".join(t["text"] for t in answer["tokens"])


def test_a_model_token_is_escaped_in_the_picture():
    """The target's text comes from the model: written as text in the text equivalent."""
    answer = {"parts": {"embedding": 0.5, "heads": [[1.0, -2.0], [0.25, 3.0]], "mlps": [-0.125, 4.0]},
              "total": 6.625, "target": {"text": "<b>&", "display": "<b>&"}, "contrast": None}
    drawn = why.picture(answer, "/api/attribution?text=x&saliency=false")
    assert "<b>" not in drawn and "&lt;b&gt;&amp;" in drawn


def test_a_negative_score_and_fewer_parts_than_ten():
    """Seven parts (no others), everything below 0: the total's label as toFixed writes it, the zero line."""
    answer = {"parts": {"embedding": -0.5, "heads": [[-1.0, -2.0], [-0.25, -3.0]], "mlps": [-0.125, -4.0]},
              "total": -10.875, "target": {"text": " x", "display": "␣x"}, "contrast": None}
    drawn = why.picture(answer, "/api/attribution?text=x&saliency=false")
    texts = _texts(drawn)
    assert "-10.88" in texts and "\u22124.00" in texts and "\u22120.13" in texts  # toFixed: a tie away from 0
    assert "0 others" in texts and "+0.00" in texts  # the others: none, adding up to 0
    assert 'stroke="#444"' in drawn  # the zero line


def test_numbers_as_why_js_writes_them():
    assert [why.fmt(v) for v in (0.125, -0.125, 0.0, -0.0, 2.5, -1e-9)] == \
        ["+0.13", "\u22120.13", "+0.00", "+0.00", "+2.50", "\u22120.00"]
    assert why._tick_text(-5.0, 5.0) == "\u22125" and why._tick_text(2.5, 0.5) == "2.5"


def test_a_refused_first_request_leaves_the_page_as_before(tiny_client, tiny_engine):
    for query in ({"text": " a" * (tiny_engine.settings.max_prompt_tokens + 10)}, {"text": "hi", "target": 10**6}):
        page = tiny_client.get("/why", params=query)
        assert page.status_code == 200
        assert "data-first-answer" not in page.text and "data-first-picture" not in page.text
        assert page.text.rstrip().endswith("</html>")


def test_a_page_state_the_server_cannot_name_has_no_picture(tiny_client):
    for query in ("mode=poem", "target=1.5", "text=+"):
        page = tiny_client.get(f"/why?{query}")
        assert page.status_code == 200 and "data-first-picture" not in page.text
        assert 'rel="preload" as="fetch"' not in page.text
