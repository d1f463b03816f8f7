"""/tokens's server-drawn first picture (app/pictures/tokens.py): the text's counts and token chips, as
tokens.js draws them, with exactly GET /api/tokenize's answer beside them; text stays text; a refused or
unnamed first request leaves the page as before."""

from __future__ import annotations

import html
import re

from app.pictures.chips import token_colour, token_label_html
from app.pictures.tokens import fixed2
from tests.app.first_picture_parts import inline_answer as _inline

HOSTILE = '</script><img src=x onerror=alert(1)>'
TRICKY = "Hi 👩\u200d👩\u200d👧 ❤\ufe0f 猫\n\tx <b>&amp;"


def _picture(body: str) -> str:
    found = re.search(r'<div class="first-picture" data-first-picture>(.*?)</div><script type="application/json"',
                      body, re.S)
    assert found, "no first picture"
    return found.group(1)


def _chips(picture: str) -> list[tuple[str, str, str, str]]:
    """(class, title, style, inner HTML) of each chip."""
    return re.findall(r'<span class="(tok[^"]*)" title="([^"]*)"(?: style="([^"]*)")?>((?:[^<]|<span class="bytes">'
                      r'[^<]*</span>)*)</span>', picture)


def test_the_page_carries_its_chips_and_counts_and_the_apis_own_answer(tiny_client):
    page = tiny_client.get("/tokens", params={"text": TRICKY})
    assert page.status_code == 200
    url, answer = _inline(page.text)
    assert url.startswith("/api/tokenize?text=") and answer == tiny_client.get(url).json()
    picture = _picture(page.text)
    chips = _chips(picture)
    assert len(chips) == answer["count"] == len(answer["tokens"]) > 10
    for i, (t, (cls, title, style, inner)) in enumerate(zip(answer["tokens"], chips)):
        assert cls == "tok" + (" partial" if t["partial"] else "")
        assert html.unescape(title) == f"#{i} · id {t['id']}" + (" · part of a character" if t["partial"] else "")
        assert style == f"background: {token_colour(i)}"
        assert inner == token_label_html(t)
    stats = [html.unescape(b) for b in re.findall(r'<div class="stat"><b>([^<]*)</b>', picture)]
    assert stats == [str(answer["count"]), str(answer["characters"]), str(answer["words"]),
                     fixed2(answer["chars_per_token"])]
    # The pieces of the emoji show as their bytes, never U+FFFD (the tiny model's tokens are single bytes).
    assert '<span class="bytes">F0</span>' in picture and "\ufffd" not in picture
    # A token ending a line ends the chips' line, as tokens.js draws it.
    assert '<span class="br" aria-hidden="true"></span>' in picture
    # Nothing the module looks up is duplicated: no id, no data-stat in the picture.
    assert " id=" not in picture and "data-stat" not in picture
    assert 'rel="preload" as="fetch"' not in page.text


def test_the_default_text_and_an_empty_one(tiny_client):
    page = tiny_client.get("/tokens")
    _, answer = _inline(page.text)
    assert len(_chips(_picture(page.text))) == answer["count"] > 0
    empty = tiny_client.get("/tokens?text=")
    picture = _picture(empty.text)
    assert _chips(picture) == [] and '<b>0</b><span>tokens</span>' in picture and "<b>–</b>" in picture
    assert '<p class="empty-hint">No text, no tokens.' in picture


def test_hostile_text_stays_text(tiny_client):
    page = tiny_client.get("/tokens", params={"text": HOSTILE})
    body = page.text
    assert page.status_code == 200 and "<img src=x" not in body
    assert body.count("</script>") == body.count("<script")
    url, answer = _inline(body)
    assert answer == tiny_client.get(url).json()
    labels = "".join(html.unescape(inner) for *_, inner in _chips(_picture(body)))
    assert labels.replace("␣", " ") == HOSTILE


def test_ties_are_rounded_as_javascripts_to_fixed():
    assert [fixed2(x) for x in (4.125, 0.125, 1.005, 2.0, 0.7, 3.333)] == ["4.13", "0.13", "1.00", "2.00", "0.70", "3.33"]


def test_a_refused_first_request_leaves_the_page_as_before(tiny_client, monkeypatch):
    from app.views import tokens as view
    from model.errors import InputError

    def refuse(engine, text):
        raise InputError("refused", code="invalid", field="text")
    monkeypatch.setattr(view, "tokenize_out", refuse)
    page = tiny_client.get("/tokens?text=Hello")
    assert page.status_code == 200 and page.text.rstrip().endswith("</html>")
    assert "data-first-answer" not in page.text and "data-first-picture" not in page.text
    assert '<script type="module" src="/static/js/tokens.js">' in page.text


def test_text_over_the_limit_gets_no_picture(tiny_client, tiny_engine):
    page = tiny_client.get("/tokens", params={"text": "a" * (tiny_engine.settings.max_prompt_chars + 1)})
    assert page.status_code == 200 and "data-first-picture" not in page.text
