"""The first request of each chapter page (issue 20), either answered inside the page's HTML beside a
server-drawn first picture (app/pictures) or preloaded from the HTML head: on a fresh load the server is
asked for it over HTTP exactly once when preloaded and not at all when inlined (the page's module takes
that answer instead of asking again: a request asked twice makes the model run its pass twice, one after
the other), the first picture draws from it, and a bad value in the URL never turns into a 500.

Counted at the server: this module serves the app (on the same loaded model as the other browser
tests) behind a wrapper that notes every /api/ request it receives."""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qsl, urlsplit

import pytest

from app.main import create_app
from app.views.first_request import Limits, first_request, form_encode
from tests.browser.checks import PHONE
from tests.conftest import _free_port, watched_page


class Counted:
    """The app, noting each /api/ request as (method, path?query) before handing it on."""

    def __init__(self, app):
        self.app, self.seen, self.lock = app, [], threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            query = scope["query_string"].decode("latin-1")
            with self.lock:
                self.seen.append((scope["method"], scope["path"] + (f"?{query}" if query else "")))
        await self.app(scope, receive, send)

    def asked(self, path: str) -> list[tuple[str, str]]:
        with self.lock:
            return [(m, url) for m, url in self.seen if urlsplit(url).path == path]

    def clear(self):
        with self.lock:
            self.seen.clear()


@pytest.fixture(scope="module")
def counted(real_engine):
    import uvicorn

    app = Counted(create_app(engine=real_engine))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline, "the test server did not start"
        time.sleep(0.05)
    app.base = f"http://127.0.0.1:{port}"
    yield app
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def fresh(browser, counted):
    """A fresh page (its own context: nothing cached) on the counting server."""
    yield from watched_page(browser, counted.base, {"viewport": {"width": 1280, "height": 900}})


@pytest.fixture
def fresh_phone(browser, counted):
    yield from watched_page(browser, counted.base, PHONE)


PRELOAD = 'link[rel="preload"][as="fetch"]'
INLINE = 'script[type="application/json"][data-first-answer]'


def inlined(html: str, named: str) -> bool:
    """True when the page as served carries the answer of `named` beside a server-drawn picture."""
    return f'data-first-answer="{named.replace("&", "&amp;")}"' in html
TEXT = "The capital of France is"

WHY_DRAWN = "body:has(#sal-tokens .tok.sal) #waterfall .main-svg"
# (page URL, what shows that the first picture has drawn from the first request's answer)
STATES = [
    ("/attention", "#heatmap .main-svg"),
    ("/attention?text=I+sat+on+the+river+bank&layer=5&head=3", "#heatmap[data-layer='5'][data-head='3'] .main-svg"),
    ("/attention?text=I+sat+on+the+river+bank&layer=7&avg=1", "#heatmap[data-layer='7'][data-head='avg'] .main-svg"),
    ("/inside", "#qk .heatmaplayer"),
    ("/inside?text=I+sat+on+the+river+bank&layer=3&head=2&position=2", "#qk .heatmaplayer"),
    ("/predict", "#chart .bars path"),
    ("/predict?text=Once+upon+a+time%2C+there+was+a&temperature=0.7&top_k=5", "#chart .bars path"),
    # /why: its saliency drawn too (it holds the model for seconds: the next visit's picture would wait).
    ("/why", WHY_DRAWN),
    ("/why?text=The+capital+of+France+is&target=4528&contrast=7042", WHY_DRAWN),
    ("/why?mode=chat&text=What+is+the+capital+of+France%3F", WHY_DRAWN),
    ("/tokens", "#chips .tok"),
    ("/tokens?text=Hello+%F0%9F%8D%95+world%21+%2A%7E", "#chips .tok"),
    # The page's own chips (the server's are inside its picture, a child of #template-tokens).
    ("/chat", "#template-tokens > .tok"),
    ("/chat?system=Be+brief.&c=%5B%7B%22role%22%3A%22user%22%2C%22content%22%3A%22Hi+%F0%9F%8D%95%22%7D%2C%7B%22role"
     "%22%3A%22assistant%22%2C%22content%22%3A%22Hello%21%22%7D%5D", "#template-tokens > .tok"),
    ("/embeddings", "#map-plot .scatterlayer .point"),
    ("/embeddings?wl=0&pooling=last", "#map-plot .scatterlayer .point"),
    ("/network", "#gallery-train > *"),
    ("/network?px=111000111&seed=3", "#gallery-train > *"),
    ("/learn", "#loss-plot:not(:has([data-first-picture])) .main-svg"),
    ("/learn?seed=2&steps=60&heads=2&layers=1", "#loss-plot:not(:has([data-first-picture])) .main-svg"),
]


# What a page asks on its first request's path once its first picture has drawn, by another request (never
# the first one: a module that asked for that again would leave its inline answer in the page).
LATER = {"/why": [("POST", "/api/attribution")]}  # the saliency of the same text


def _limits(engine) -> Limits:
    return Limits.of(engine)


def _no_training_run(counted, timeout: float = 60) -> None:
    """Wait until no training run holds the server's slot: a /learn page's run goes on after its first
    picture, until the server sees the closed page, and the next /learn page's run would be refused."""
    slot, deadline = getattr(counted.app.state, "training", None), time.time() + timeout
    while slot is not None and slot.busy and time.time() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("url, drawn", STATES)
def test_the_first_request_is_asked_once_and_drawn(fresh, counted, real_engine, url, drawn):
    _no_training_run(counted)
    counted.clear()
    html = fresh.goto(url).text()
    fresh.wait_for_selector(drawn, state="attached", timeout=60_000)
    parts = urlsplit(url)
    named = first_request(parts.path.strip("/"), parse_qsl(parts.query, keep_blank_values=True), _limits(real_engine))
    assert named, f"{url}: the server names no first request"
    links = fresh.eval_on_selector_all(PRELOAD, "(links) => links.map((l) => l.getAttribute('href'))")
    fetched = fresh.evaluate("() => performance.getEntriesByType('resource')"
                             f".filter((e) => new URL(e.name).pathname === {urlsplit(named).path!r}).length")
    if inlined(html, named):
        # Answered in the page: no preload, the server asked nothing over HTTP, the browser fetched
        # nothing, and the module took the answer (it removes it as it does) and drew its own picture.
        later = LATER.get(parts.path, [])
        assert links == [] and counted.asked(urlsplit(named).path) in ([], later) and fetched <= len(later)
        assert fresh.query_selector(INLINE) is None
        assert fresh.query_selector("[data-first-picture]") is None
    else:
        assert links == [named]
        # Everything the server was asked on this endpoint up to the first picture: the preload alone (a
        # module that asked again, by POST or for another URL, would show here).
        assert counted.asked(urlsplit(named).path) == [("GET", named)]
        # ...and the page took its answer: its module asked for nothing the server did not see.
        assert fetched == 1


def test_a_later_request_for_the_same_state_is_asked_again(fresh, counted):
    """The inline answer (or the preload) serves the first load only: going back to the first state asks
    the server (as before)."""
    counted.clear()
    fresh.goto("/tokens?text=abc")
    fresh.wait_for_selector("#chips .tok")
    fresh.fill("#text", "abcd")
    fresh.wait_for_function("() => document.querySelectorAll('#chips .tok').length >= 1 && "
                            "new URLSearchParams(location.search).get('text') === 'abcd'")
    fresh.fill("#text", "abc")
    fresh.wait_for_function("() => new URLSearchParams(location.search).get('text') === 'abc'")
    fresh.wait_for_function("() => !document.getElementById('chips').classList.contains('stale')")
    methods = [m for m, _ in counted.asked("/api/tokenize")]
    assert methods in (["POST", "POST"], ["GET", "POST", "POST"])


def test_the_phone_page_takes_the_inline_answer_too(fresh_phone, counted):
    counted.clear()
    fresh_phone.goto("/predict?text=Hello")
    fresh_phone.wait_for_selector("#chart .bars path")
    assert counted.asked("/api/predict") == []


# --- bad values in the URL ----------------------------------------------------------------------------

def test_out_of_range_layer_is_not_preloaded_and_the_page_clamps_it(fresh, counted, real_engine):
    last = real_engine.cfg.n_layers - 1
    counted.clear()
    fresh.goto(f"/attention?text=Hello+there&layer={last + 70}&head=1")
    fresh.wait_for_selector(f"#heatmap[data-layer='{last}'] .main-svg")
    assert fresh.query_selector(PRELOAD) is None
    assert [m for m, _ in counted.asked("/api/attention")] == ["POST"]


def test_out_of_range_inside_is_not_preloaded_and_the_page_follows_the_nearest(fresh, counted):
    counted.clear()
    fresh.goto("/inside?text=Hello+there&layer=99&head=1")
    fresh.wait_for_selector("#qk .heatmaplayer")
    assert fresh.query_selector(PRELOAD) is None
    assert all(m == "POST" for m, _ in counted.asked("/api/inside"))


@pytest.mark.parametrize("page, error", [("attention", "#error"), ("inside", "#error"), ("predict", "#error"),
                                         ("tokens", "#error")])
def test_text_over_the_character_limit_is_not_preloaded_and_is_refused_as_usual(fresh, real_engine, page, error):
    fresh.goto(f"/{page}?text={'a' * (real_engine.settings.max_prompt_chars + 1)}")
    fresh.wait_for_function(f"() => document.querySelector({error!r}).textContent.trim().length > 0")
    assert fresh.query_selector(PRELOAD) is None


def test_a_first_answer_the_server_refuses_shows_as_the_usual_error(fresh, counted, real_engine):
    """Within the character limit but over the token limit: the page gets no picture and no inline answer,
    and its module's usual request gets the 413 the page shows as its refusal."""
    words = "a " * (real_engine.settings.max_prompt_tokens + 10)
    counted.clear()
    html = fresh.goto(f"/predict?text={words.strip().replace(' ', '+')}").text()
    fresh.wait_for_function("() => document.getElementById('error').textContent.includes('"
                            f"{real_engine.settings.max_prompt_tokens}')")
    assert "data-first-answer" not in html and "data-first-picture" not in html
    assert [m for m, _ in counted.asked("/api/predict")] == ["POST"]
    assert fresh.locator("#chart").is_hidden()


def test_form_encoding_agrees_with_the_browsers(fresh):
    fresh.goto("/tokens?text=x")
    for text in ["a b*~é🍕&=+/?%\n", "\t\r\n\"'<>#[]{}|\\^`", "日本語 ‮ \u00a0"]:
        assert form_encode([("text", text)]) == fresh.evaluate("(t) => new URLSearchParams({ text: t }).toString()", text)
