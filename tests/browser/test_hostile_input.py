"""Hostile text in every page's URL parameters and inputs must show as text: no script runs,
no element is injected, and the Content-Security-Policy is never even tested."""

import json
from urllib.parse import urlencode

import pytest

pytestmark = pytest.mark.browser

PAYLOAD = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>{{7*7}}"\'><b>bold</b>'

# Every string parameter each page reads from its URL (see DEFAULTS in static/js/<page>.js).
PAGES = {
    "/": {"text": PAYLOAD, "ids": PAYLOAD, "from": PAYLOAD},
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
    "/inside": {"text": PAYLOAD, "layer": PAYLOAD, "head": PAYLOAD, "pos": PAYLOAD},
    "/why": {"text": PAYLOAD, "target": PAYLOAD, "contrast": PAYLOAD},
    "/learn": {"seed": PAYLOAD, "steps": PAYLOAD, "lr": PAYLOAD, "layers": PAYLOAD},
    "/chat": {"c": json.dumps([{"role": "user", "content": PAYLOAD},
                               {"role": "assistant", "content": PAYLOAD}]), "system": PAYLOAD},
}


@pytest.fixture
def dialogs(page):
    """Dialogs the page opened (an alert() from injected code would be one)."""
    opened: list[str] = []
    page.on("dialog", lambda d: (opened.append(d.message), d.dismiss()))
    return opened


# The `page` fixture already fails a test on any script error or CSP violation.
@pytest.mark.parametrize("path", PAGES)
def test_hostile_url_parameters_render_as_text(page, dialogs, screenshot, path):
    sep = "&" if "?" in path else "?"
    page.goto(path + sep + urlencode(PAGES[path]))
    if path == "/learn":  # it trains on arrival: stop the run rather than wait out its stream (15-40 s)
        page.locator("#stop").click()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__xss") is None
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("b:text('bold')").count() == 0
    assert dialogs == []
    screenshot("hostile" + path.replace("/", "_").replace("?", "_"))


def test_hostile_text_typed_into_the_predict_prompt_shows_as_typed(page, dialogs):
    page.goto("/predict")
    page.locator("textarea").first.fill(PAYLOAD)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(800)
    assert page.evaluate("window.__xss") is None and page.locator('img[src="x"]').count() == 0
    assert dialogs == []
