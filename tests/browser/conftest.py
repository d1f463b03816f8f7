"""Browser fixtures beyond tests/conftest.py's `page`: a phone-sized touch page."""

from __future__ import annotations

import pytest

from tests.browser.checks import PHONE
from tests.conftest import _is_expected_4xx


@pytest.fixture
def phone_page(browser, live_server):
    """A fresh 390x844 touch page (is_mobile, has_touch: `(hover: none)` matches); like `page`, the
    test fails if the page logs a JavaScript error or a 5xx."""
    context = browser.new_context(**PHONE, base_url=live_server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}")
            if msg.type == "error" and not _is_expected_4xx(msg.text) else None)
    page.set_default_timeout(30_000)
    yield page
    context.close()
    assert not errors, "the page reported errors:\n" + "\n".join(errors)


@pytest.fixture
def busy_page(browser, live_server):
    """Like `page`, but a 503 the test routes in itself (a busy server, `page.route`) is expected:
    Chromium logs each as a console error. Any other error still fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}")
            if msg.type == "error" and not _is_expected_4xx(msg.text) and "status of 503" not in msg.text else None)
    page.set_default_timeout(30_000)
    yield page
    context.close()
    assert not errors, "the page reported errors:\n" + "\n".join(errors)
