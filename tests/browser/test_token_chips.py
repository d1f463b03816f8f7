"""Token chips everywhere draw a piece of a character (an emoji or CJK character split over
several tokens) as its bytes in hex, dashed, as the tokens page does, instead of a row of U+FFFD."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.real]
expect.set_options(timeout=30_000)

TEXT = "猫 🐦 cat"  # 猫 is three one-byte tokens (E7, 8C, AB); " 🐦" is "␣F0 9F", then 90 and A6


def chip_texts(page, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all("els => els.map(e => e.textContent)")


def test_attention_chips_show_the_bytes_of_partial_tokens(page):
    page.goto("/attention?text=" + TEXT.replace(" ", "+"))
    expect(page.locator("#tokens .tok")).to_have_count(7)
    assert chip_texts(page, "#tokens .tok") == ["E7", "8C", "AB", "␣F0 9F", "90", "A6", "␣cat"]
    assert page.locator("#tokens .tok.partial").count() == 6
    assert "\ufffd" not in page.locator("#tokens").text_content()


def test_chat_template_view_shows_the_bytes_of_partial_tokens(page):
    page.goto("/chat")
    expect(page.locator("#template-tokens .tok.special").first).to_have_text("<|im_start|>")
    page.fill("#input", "猫")
    expect(page.locator("#template-tokens .tok.partial")).to_have_count(3)
    assert chip_texts(page, "#template-tokens .tok.partial") == ["E7", "8C", "AB"]
