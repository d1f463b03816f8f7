"""Hostile text in every page's URL parameters and inputs must show as text: no script runs,
no element is injected, and the Content-Security-Policy is never even tested."""

import json
from urllib.parse import urlencode

import pytest

pytestmark = pytest.mark.browser

PAYLOAD = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>{{7*7}}"\'><b>bold</b>'

# Every string parameter each page reads from its URL (see DEFAULTS in static/js/<page>.js).
PAGES = {
    "/": {"text": PAYLOAD},
    "/network": {"px": PAYLOAD, "w": PAYLOAD},
    "/tokens": {"text": PAYLOAD, "ids": PAYLOAD, "tab": PAYLOAD, "show": PAYLOAD,
                "chat": json.dumps([{"role": "user", "content": PAYLOAD}])},
    "/tokens?tab=ids": {"ids": PAYLOAD},
    "/tokens?tab=chat": {"chat": json.dumps([{"role": "system", "content": PAYLOAD},
                                             {"role": "user", "content": PAYLOAD}])},
    "/embeddings": {"sets": PAYLOAD, "words": PAYLOAD, "method": PAYLOAD, "mode": PAYLOAD, "pooling": PAYLOAD,
                    "a": PAYLOAD, "b": "dog", "c": "cat", "exp": PAYLOAD, "sent": PAYLOAD + "\nA calm sea."},
    "/attention": {"text": PAYLOAD, "s1": PAYLOAD + " bank", "s2": "money in the bank", "word": "bank",
                   "ctx": PAYLOAD, "off": PAYLOAD},
    "/predict": {"text": PAYLOAD, "steps": PAYLOAD},
    "/chat": {"c": json.dumps([{"role": "user", "content": PAYLOAD},
                               {"role": "assistant", "content": PAYLOAD}]), "system": PAYLOAD},
}


@pytest.fixture
def hostile_page(browser, live_server):
    """A page that records script errors, CSP violations and dialogs (4xx answers are fine here)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server)
    page = context.new_page()
    events: list[str] = []
    page.on("pageerror", lambda exc: events.append(f"pageerror: {exc}"))
    page.on("console", lambda m: events.append(f"console: {m.text}")
            if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text else None)
    page.on("dialog", lambda d: (events.append(f"dialog: {d.message}"), d.dismiss()))
    yield page, events
    context.close()


@pytest.mark.parametrize("path", PAGES)
def test_hostile_url_parameters_render_as_text(hostile_page, path, screenshot_dir):
    page, events = hostile_page
    sep = "&" if "?" in path else "?"
    page.goto(path + sep + urlencode(PAGES[path]))
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__xss") is None
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("b:text('bold')").count() == 0
    assert not events, events
    page.screenshot(path=str(screenshot_dir / f"hostile{path.replace('/', '_').replace('?', '_')}.png"))


def test_hostile_text_typed_into_the_predict_prompt_shows_as_typed(hostile_page):
    page, events = hostile_page
    page.goto("/predict")
    box = page.locator("textarea").first
    box.fill(PAYLOAD)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(800)
    assert page.evaluate("window.__xss") is None and page.locator('img[src="x"]').count() == 0
    assert not events, events


@pytest.fixture
def screenshot_dir():
    from tests.conftest import SCREENSHOTS
    path = SCREENSHOTS / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path
