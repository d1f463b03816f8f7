"""/chat's server-drawn first picture (app/pictures/chat.py): the conversation as the model reads it, token
chips as chat.js drawTemplate draws them, with exactly GET /api/chat/template's answer beside them; text stays
text; a refused first request leaves the page as before."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

from app.pictures.chips import token_label_html
from tests.app.first_picture_parts import inline_answer as _inline

HOSTILE = '</script><img src=x onerror=alert(1)>'


def _chips(body: str) -> list[tuple[str, str, str]]:
    view = re.search(r'<div class="template-tokens" id="template-tokens"[^>]*><div class="first-picture" '
                     r'data-first-picture>(.*?)</div><script', body, re.S)
    assert view, "no first picture in #template-tokens"
    return re.findall(r'<span class="(tok[^"]*)" title="([^"]*)">((?:[^<]|<span class="bytes">[^<]*</span>)*)</span>',
                      view.group(1))


def _page(client, **query) -> str:
    page = client.get("/chat" + (f"?{urlencode(query)}" if query else ""))
    assert page.status_code == 200
    return page.text


def test_the_page_carries_its_chips_and_the_apis_own_answer(tiny_client):
    body = _page(tiny_client)
    url, answer = _inline(body)
    assert urlsplit(url).path == "/api/chat/template"
    assert dict(parse_qsl(urlsplit(url).query)) == {
        "messages": json.dumps([{"role": "user", "content": "…"}], ensure_ascii=False, separators=(",", ":")),
        "add_generation_prompt": "true"}
    assert answer == tiny_client.get(url).json()
    chips = _chips(body)
    assert len(chips) == answer["count"] == len(answer["tokens"])
    for t, (cls, title, inner) in zip(answer["tokens"], chips):
        kind = "special" if t["special"] else "legend-template" if t["source"] == "template" else "legend-content"
        assert cls.split() == ["tok", *(["partial"] if t["partial"] else []), kind]
        assert html.unescape(title) == f"id {t['id']} · " + (f"message {t['message'] + 1}" if t["message"] is not None
                                                             else "opens the reply")
        assert inner == token_label_html(t)
    # A line break after each token that ends a line, as chat.js draws them.
    assert body.count("<br>") >= sum(t["text"].endswith("\n") for t in answer["tokens"]) > 0
    # The count, at the picture's foot, as chat.js writes it below the tokens.
    assert (f'<p class="template-count">Right now: {answer["count"]} tokens of the {answer["max_prompt_tokens"]} '
            "a prompt may have.</p></div>") in body
    assert 'rel="preload" as="fetch"' not in body


def test_the_conversation_in_the_url_is_the_one_drawn(tiny_client):
    c = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    body = _page(tiny_client, c=json.dumps(c), system="Be brief.")
    url, answer = _inline(body)
    query = dict(parse_qsl(urlsplit(url).query))
    assert json.loads(query["messages"]) == [{"role": "system", "content": "Be brief."}, *c]
    assert query["add_generation_prompt"] == "false"  # the model spoke last: no assistant turn opened
    assert answer == tiny_client.get(url).json() and len(_chips(body)) == answer["count"]


def test_hostile_text_stays_text(tiny_client):
    body = _page(tiny_client, c=json.dumps([{"role": "user", "content": HOSTILE}]))
    assert "<img src=x" not in body
    assert body.count("</script>") == body.count("<script")
    url, answer = _inline(body)
    assert answer == tiny_client.get(url).json()
    shown = "".join(html.unescape(inner) for cls, _, inner in _chips(body) if "legend-content" in cls)
    assert shown.replace("␣", " ") == HOSTILE


def test_a_refused_first_request_leaves_the_page_as_before(tiny_client, tiny_engine):
    # The template refuses nothing here and the named URL keeps within the limits: a conversation the
    # server would refuse is named nothing (app/views/first_request.py), and the page asks as usual.
    long = json.dumps([{"role": "user", "content": "a" * (tiny_engine.settings.max_prompt_chars + 1)}])
    for query in ({"c": long}, {"c": json.dumps([{"role": "user", "content": "x"}] * 40)}):
        body = _page(tiny_client, **query)
        assert "data-first-answer" not in body and "data-first-picture" not in body
        assert body.rstrip().endswith("</html>")


def test_an_answer_refused_by_the_api_leaves_the_page_as_before(tiny_client, monkeypatch):
    from app.views import tokens as view
    from model.errors import InputError

    def refuse(engine, body):
        raise InputError("refused", code="template_refused", field="messages")
    monkeypatch.setattr(view, "chat_template_out", refuse)
    body = _page(tiny_client)
    assert "data-first-answer" not in body and "data-first-picture" not in body
    assert '<script type="module" src="/static/js/chat.js">' in body and body.rstrip().endswith("</html>")
