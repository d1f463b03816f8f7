"""Browser fixtures beyond tests/conftest.py's `page`: a phone-sized touch page, and a page on which
the 503s a test routes in itself are expected."""

from __future__ import annotations

import pytest

from tests.browser.checks import PHONE
from tests.conftest import _is_expected_4xx, watched_page


@pytest.fixture
def phone_page(browser, live_server):
    """A fresh 390x844 touch page (is_mobile, has_touch: `(hover: none)` matches); like `page`, the
    test fails if the page logs a JavaScript error or a 5xx."""
    yield from watched_page(browser, live_server, PHONE)


@pytest.fixture
def busy_page(browser, live_server):
    """Like `page`, but a 503 the test routes in itself (a busy server, `page.route`) is expected:
    Chromium logs each as a console error. Any other error still fails the test."""
    yield from watched_page(browser, live_server, {"viewport": {"width": 1280, "height": 900}},
                             lambda text: _is_expected_4xx(text) or "status of 503" in text)
