"""Browser fixtures beyond tests/conftest.py's `page`: a phone-sized touch page, and a page on which
the 503s a test routes in itself are expected."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.browser.checks import PHONE
from tests.conftest import _is_expected_4xx


def _watched_page(browser, live_server, context: dict, expected: Callable[[str], bool] = _is_expected_4xx) -> Iterator:
    """A fresh page in a context of its own; the test fails if the page logs a JavaScript error or a
    console error that `expected` does not allow."""
    ctx = browser.new_context(**context, base_url=live_server)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}")
            if msg.type == "error" and not expected(msg.text) else None)
    page.set_default_timeout(30_000)
    yield page
    ctx.close()
    assert not errors, "the page reported errors:\n" + "\n".join(errors)


@pytest.fixture
def phone_page(browser, live_server):
    """A fresh 390x844 touch page (is_mobile, has_touch: `(hover: none)` matches); like `page`, the
    test fails if the page logs a JavaScript error or a 5xx."""
    yield from _watched_page(browser, live_server, PHONE)


@pytest.fixture
def busy_page(browser, live_server):
    """Like `page`, but a 503 the test routes in itself (a busy server, `page.route`) is expected:
    Chromium logs each as a console error. Any other error still fails the test."""
    yield from _watched_page(browser, live_server, {"viewport": {"width": 1280, "height": 900}},
                             lambda text: _is_expected_4xx(text) or "status of 503" in text)
