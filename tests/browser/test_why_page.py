"""Chapter 5a in Chromium: the direct parts first, the saliency on the token chips when it arrives,
the check, a chat message, state in the URL, and a phone-sized screen without sideways scrolling."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
expect.set_options(timeout=120_000)  # the CPU is shared and integrated gradients take many passes


def test_why_paris_then_saliency_on_the_chips(page, screenshot):
    page.goto("/why?text=The+capital+of+France+is")
    expect(page.locator("#sum")).to_contain_text("logit(“␣Paris”)")
    expect(page.locator("#targets .target.picked .tt")).to_have_text("␣Paris")
    page.wait_for_selector("#grid .heatmaplayer")
    page.wait_for_selector("#waterfall .main-svg")
    expect(page.locator("#check-table [data-check=actual]")).not_to_be_empty()
    expect(page.locator("#completeness")).to_contain_text("Completeness", timeout=300_000)
    chips = page.locator("#sal-tokens .tok.sal")
    assert chips.count() == 5
    assert "0.5 x input" in page.locator("#baseline-name").text_content()
    screenshot("why")

    # Contrast with the second candidate: the URL keeps it and a reload shows the same picture.
    second = page.locator("#contrast option").nth(1)
    page.select_option("#contrast", second.get_attribute("value"))
    expect(page.locator("#sum")).to_contain_text(" − logit(")
    expect(page).to_have_url(re.compile(r"contrast=\d+"))
    page.reload()
    expect(page.locator("#sum")).to_contain_text(" − logit(")


def test_a_chat_message_on_a_phone(browser, live_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto("/why?mode=chat&text=What+is+the+capital+of+France%3F")
        expect(page.locator("#sum")).to_contain_text("logit(")
        page.wait_for_selector("#grid .heatmaplayer")
        # The chips show what the model reads: the template's control tokens too, which the saliency
        # (tests/app/test_attribution_api.py) gives their share.
        specials = page.locator("#sal-tokens .tok.special")
        assert specials.count() >= 5
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        from tests.conftest import SCREENSHOTS
        (SCREENSHOTS / "tmp").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "tmp" / "why-phone.png"), full_page=True)
    finally:
        context.close()
    assert not errors, errors
