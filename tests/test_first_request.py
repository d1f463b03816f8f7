"""The first request each chapter page's HTML preloads (app/views/first_request.py): the URL its module
will build from the same query, or nothing. Whether the module really asks for exactly it is checked in
the browser (tests/browser/test_first_request.py); here, the reading, the writing and the pages' HTML."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.views.first_request import Limits, first_request, form_encode, is_canonical_number, js_number

LIMITS = Limits(n_layers=30, n_heads=9, max_chars=8000)


def first(page: str, query: str = "", limits: Limits = LIMITS) -> str | None:
    return first_request(page, parse_qsl(query, keep_blank_values=True), limits)


def test_form_encoding_is_url_search_params():
    # new URLSearchParams({t: "a b*~é🍕&=+/?%\n"}).toString() in Chromium:
    assert form_encode([("t", "a b*~é🍕&=+/?%\n")]) == "t=a+b*%7E%C3%A9%F0%9F%8D%95%26%3D%2B%2F%3F%25%0A"
    assert form_encode([("avg", False), ("wl", True), ("layer", 3)]) == "avg=false&wl=true&layer=3"


@pytest.mark.parametrize("raw, canonical", [
    ("0", True), ("3", True), ("-1", True), ("0.5", True), ("0.003", True), ("1.25", True),
    ("03", False), ("3.0", False), ("1e3", False), ("0x10", False), ("", False), (" 3", False), ("-0", False),
    ("0.0000001", False),  # JavaScript writes 1e-7
    ("1234567890123456", False),  # 16 digits: not always the shortest string of its double
])
def test_numbers_are_named_only_when_javascript_writes_them_back_alike(raw, canonical):
    assert is_canonical_number(raw) is canonical


def test_defaults_are_written_as_javascript_writes_them():
    assert [js_number(v) for v in (1, 1.0, 0.5, 10)] == ["1", "1", "0.5", "10"]


def test_default_urls():
    assert first("attention") == ("/api/attention?text=The+capital+of+France+is+Paris.+The+capital+of+Italy+is"
                                  "&layer=2&head=1&avg=false")
    assert first("inside") == "/api/inside?text=The+capital+of+France+is&layer=18&head=1"
    assert first("predict") == ("/api/predict?text=The+capital+of+France+is&temperature=1&top_k=10&top_p=1"
                                "&n_predictions=20")
    assert first("tokens").startswith("/api/tokenize?text=Tokenizers+cut+unbelievably+rare+words")
    assert first("embeddings") == ("/api/embeddings/map?sets=animals%2Ccountries%2Cnumbers%2Ccolours&method=pca"
                                   "&dims=2&mode=static&pooling=mean&wl=true&neighbours=10")
    assert first("network") == "/api/network/dataset"
    assert first("learn") == "/api/learn/start?seed=0&steps=500&lr=0.003&layers=2&heads=4"
    assert first("chat") == ("/api/chat/template?messages=%5B%7B%22role%22%3A%22user%22%2C%22content%22%3A%22"
                             "%E2%80%A6%22%7D%5D&add_generation_prompt=true")
    assert first("why") == "/api/attribution?text=The+capital+of+France+is&saliency=false"


def test_pages_left_out_name_nothing():
    for page in ("", "nonsense"):
        assert first(page) is None


def test_the_url_state_is_read_as_the_page_reads_it():
    assert first("attention", "text=Hi+there&layer=5&head=0&avg=1") == \
        "/api/attention?text=Hi+there&layer=5&head=0&avg=true"
    # URLSearchParams.get: the first value of a repeated key.
    assert first("attention", "text=one&text=two").startswith("/api/attention?text=one&")
    # The attention page reads its text back from a textarea, which turns CR LF into LF.
    assert first("attention", "text=a%0D%0Ab").startswith("/api/attention?text=a%0Ab&")
    assert first("inside", "position=3&layer=0") == "/api/inside?text=The+capital+of+France+is&layer=0&head=1&position=3"
    assert first("inside", "position=-4") == "/api/inside?text=The+capital+of+France+is&layer=18&head=1"
    assert first("predict", "temperature=0.7&top_k=0&guess=0&at=3") == (
        "/api/predict?text=The+capital+of+France+is&temperature=0.7&top_k=0&top_p=1&n_predictions=20")
    assert first("tokens", "text=") == "/api/tokenize?text="
    # The Ids view: a picture of text chips would be switched to ids by the module; none is drawn.
    assert first("tokens", "show=ids") is None
    assert first("tokens", "show=text&show=ids") == first("tokens", "show=nonsense") == first("tokens")
    assert first("embeddings", "method=tsne&dims=3&mode=contextual&wl=0&words=+,") == (
        "/api/embeddings/map?sets=animals%2Ccountries%2Cnumbers%2Ccolours&method=tsne&dims=3&mode=contextual"
        "&pooling=mean&wl=false&neighbours=10")
    assert first("why", "mode=chat&target=7042&contrast=4528&method=gxi") == \
        "/api/attribution?text=The+capital+of+France+is&mode=chat&target=7042&contrast=4528&saliency=false"
    assert first("why", "text=1%2C+2%2C&mode=text&target=-1&contrast=-7") == "/api/attribution?text=1%2C+2%2C&saliency=false"
    # A choice the page does not know falls back to its default there, and so here.
    assert "method=pca&dims=2&" in first("embeddings", "method=magic&dims=7")
    assert first("learn", "layers=1&lr=0.01&seed=9&seed=3&x=1") == \
        "/api/learn/start?seed=9&steps=500&lr=0.01&layers=1&heads=4"


@pytest.mark.parametrize("page, query", [
    ("attention", "layer=30"), ("attention", "head=9"), ("attention", "layer=-1"), ("attention", "layer=3.0"),
    ("attention", "layer="), ("attention", "text=+++"), ("inside", "layer=99"), ("inside", "position=1e2"),
    ("predict", "steps=7042,30"), ("predict", "temperature=1e-3"),
    ("predict", "guess=1"), ("predict", "guess=true"),  # the answer stays hidden until the reader guesses ("embeddings", "sets=animals"),
    ("embeddings", "layer=3"), ("embeddings", "words=cat"), ("embeddings", "dims=2.5"),
    # learn.js reads its settings back from the form: no radio button for 3 layers, whole numbers only;
    # and what POST /api/learn refuses.
    ("learn", "layers=3"), ("learn", "heads=2.5"), ("learn", "steps=1e3"), ("learn", "seed=-1"),
    ("learn", "steps=3001"), ("learn", "heads=9"), ("learn", "lr=0"), ("learn", "lr=0.06"), ("learn", "lr=.01"),
    ("why", "mode=poem"), ("why", "target=7042.0"), ("why", "contrast=1e3"), ("why", "target=abc"), ("why", "text="),
])
def test_states_the_page_reads_otherwise_or_clamps_name_nothing(page, query):
    assert first(page, query) is None


@pytest.mark.parametrize("page", ["attention", "inside", "predict", "tokens", "why"])
def test_text_over_the_limit_names_nothing(page):
    limits = Limits(n_layers=30, n_heads=9, max_chars=10)
    assert first(page, "text=" + "a" * 11, limits) is None
    assert first(page, "text=" + "a" * 10, limits) is not None


def _chat(query: str, limits: Limits = LIMITS) -> tuple[list[dict], bool] | None:
    """The messages and add_generation_prompt of the chat page's first request, or None."""
    url = first("chat", query, limits)
    if url is None:
        return None
    assert url.startswith("/api/chat/template?")
    named = dict(parse_qsl(urlsplit(url).query))
    assert url == "/api/chat/template?" + form_encode(list(named.items()))  # one encoding of one query
    return json.loads(named["messages"]), {"true": True, "false": False}[named["add_generation_prompt"]]


def test_the_chat_page_is_read_as_chat_js_reads_it():
    """chat.js renderTemplate: the system message when not blank (JavaScript's trim), the URL's user and
    assistant messages, the placeholder question when nothing has been said; the assistant's turn opened
    unless it spoke last. JSON written as JSON.stringify writes it."""
    ask = {"role": "user", "content": "…"}
    assert _chat("") == ([ask], True)
    assert _chat("system=Be+brief") == ([{"role": "system", "content": "Be brief"}, ask], True)
    # Blank as JavaScript's trim sees it (U+FEFF is; U+0085 and U+001C, which Python's strip() takes, are not).
    assert _chat("system=+%0A%09%EF%BB%BF%E3%80%80") == ([ask], True)
    assert _chat("system=%C2%85") == ([{"role": "system", "content": "\x85"}, ask], True)
    assert _chat("system=%1C") == ([{"role": "system", "content": "\x1c"}, ask], True)
    said = [{"role": "user", "content": "Hi \"you\"\n\t\x01<é>"}, {"role": "assistant", "content": "Hello!"}]
    assert _chat("c=" + json.dumps(said)) == (said, False)
    assert _chat("c=" + json.dumps(said[:1])) == (said[:1], True)
    assert first("chat", "c=" + json.dumps(said[:1])).endswith(
        "%22Hi+%5C%22you%5C%22%5Cn%5Ct%5Cu0001%3C%C3%A9%3E%22%7D%5D&add_generation_prompt=true")
    # parseMessages: what is not a user or assistant message with text is dropped; what is not JSON is none.
    mixed = '[{"role":"system","content":"x"},{"role":"user","content":3},{"role":"user"},"x",null,[1],' \
            '{"role":"assistant","content":"ok","extra":1}]'
    assert _chat("c=" + mixed) == ([{"role": "assistant", "content": "ok"}], False)
    for c in ("", "nope", "{}", "[NaN]", '[{"role":"user","content":"a"}', "null"):
        assert _chat("c=" + c) == ([ask], True), c
    # URLSearchParams.get: the first value of a repeated key.
    assert _chat("system=one&system=two")[0][0] == {"role": "system", "content": "one"}


@pytest.mark.parametrize("query", [
    "c=" + json.dumps([{"role": "user", "content": "x"}] * 33),  # over the API's 32 messages
    "c=" + json.dumps([{"role": "user", "content": "x" * 8001}]),  # over the character limit
    "c=" + json.dumps([{"role": "user", "content": "x" * 4000}]) + "&system=" + "y" * 4001,
    'c=[{"role":"user","content":"\\ud800"}]',  # half of a UTF-16 pair: the API refuses it
])
def test_a_chat_the_api_would_refuse_names_nothing(query):
    assert first("chat", query) is None


def _preload(body: str) -> str | None:
    """The first request a page names: preloaded from its head, or answered inline beside its server-drawn
    first picture (app/pictures), never both."""
    found = re.findall(r'<link rel="preload" as="fetch" crossorigin href="([^"]+)">', body)
    found += re.findall(r'<script type="application/json" data-first-answer="([^"]+)">', body)
    assert len(found) <= 1
    return html.unescape(found[0]) if found else None


def test_each_page_preloads_a_request_its_json_twin_answers(tiny_client):
    """On the tiny model (2 layers, 4 heads): every URL a page names is one the API answers."""
    for path in ("/network", "/tokens", "/embeddings?dims=2", "/attention?layer=1&head=3", "/inside?layer=1",
                 "/learn?steps=20&heads=8&layers=1&lr=0.05&seed=2147483647",
                 "/predict?text=Hello", "/why?text=Hello", "/why?text=Hello&target=40&contrast=50", "/chat",
                 "/chat?system=Be+brief&c=%5B%7B%22role%22%3A%22user%22%2C%22content%22%3A%22Hi%22%7D%5D"):
        page = tiny_client.get(path)
        assert page.status_code == 200
        url = _preload(page.text)
        assert url, path
        answer = tiny_client.get(url)
        assert answer.status_code == 200, (path, url, answer.text[:200])
    assert dict(parse_qsl(urlsplit(_preload(tiny_client.get("/attention?layer=1&head=3&text=Hi%26bye").text)).query)) \
        == {"text": "Hi&bye", "layer": "1", "head": "3", "avg": "false"}


def test_no_preload_where_the_page_would_not_ask_for_it(tiny_client):
    for path in ("/", "/why?mode=poem", "/attention?layer=2", "/inside?text=" + "x" * 401):
        assert _preload(tiny_client.get(path).text) is None, path


def test_learns_bounds_are_the_apis():
    from app.schemas.learn import LearnIn
    from app.views import first_request as fr

    fields = LearnIn.model_json_schema()["properties"]
    for key, (low, high) in fr.LEARN_RANGES.items():
        if key == "layers":
            assert fields[key]["enum"] == [low, high]
        else:
            assert (fields[key]["minimum"], fields[key]["maximum"]) == (low, high)
    assert fields["lr"]["maximum"] == fr.LEARN_LR_MAX and fields["lr"]["exclusiveMinimum"] == 0
    assert {k: fields[k]["default"] for k in fr.LEARN_DEFAULTS} == fr.LEARN_DEFAULTS
