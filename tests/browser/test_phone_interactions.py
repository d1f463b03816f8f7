"""Pages on a 390 px phone after a learner's interactions, not only at load (the pages' own phone tests
check them as they open). Each case here made the page, or a part of it, wider than its box on a phone
before the CSS under test: long words typed into a box, a table opened (a tapped chat reply word's
alternatives are checked in test_chat_page.py's phone test)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.browser.checks import assert_fits_phone

pytestmark = [pytest.mark.browser, pytest.mark.real]

LONG_WORD = "a" * 60   # one unbroken word, as wide as 60 monospace letters
URL = "https://example.com/a/very/long/path/that/keeps/going/and/going?with=query&and=more"


def test_embeddings_an_error_and_a_verdict_quoting_a_long_word_wrap_on_a_phone(phone_page):
    """The server's 422 for a 60-letter word of one's own quotes the word: the error stood on one line
    and the page grew to 587 px (app.css .error). An analogy of 40-letter words names them in its
    verdict, which grew the page to 484 px (embeddings.css .verdict)."""
    page = phone_page
    page.goto("/embeddings")
    page.wait_for_selector("#map-plot .scatterlayer .point")
    page.fill("#own-words", "dog, " + LONG_WORD)
    expect(page.locator("#map-error")).to_contain_text(LONG_WORD)
    assert_fits_phone(page)
    word = "a" * 40   # the longest word the analogy's boxes take
    page.fill("#an-a", "king")
    page.fill("#an-b", word)
    page.fill("#an-c", "king")
    page.fill("#an-expected", word)
    page.locator("#analogy-form button[type=submit]").tap()
    expect(page.locator("#verdict")).to_contain_text(f"king − {word} + king")
    assert_fits_phone(page)
    # The chart's own labels: the 40-letter word ran off the analogy chart's edge (cut there now, whole
    # in the hover).
    page.wait_for_selector("#analogy-plot .textpoint text")
    outside = page.evaluate("""() => {
      const box = document.querySelector('#analogy-plot .main-svg').getBoundingClientRect();
      return [...document.querySelectorAll('#analogy-plot .textpoint text')].map((t) => [t.textContent, t.getBoundingClientRect()])
        .filter(([, r]) => r.left < box.left - 1 || r.right > box.right + 1).map(([text]) => text); }""")
    assert outside == []


def test_predict_a_long_word_or_url_in_the_text_wraps_in_what_the_model_reads(phone_page):
    """The trail ('What the model reads') showed the typed text as one flex item as wide as its longest
    word: a 60-letter word made the page 583 px wide, a URL 619 px (predict.css .prompt-text)."""
    page = phone_page
    page.goto("/predict?text=" + quote(LONG_WORD + " " + URL))
    expect(page.locator("#trail .prompt-text")).to_contain_text(URL)
    page.wait_for_selector("#chart .bars path")
    assert_fits_phone(page)


def test_why_the_grid_as_a_table_scrolls_in_its_own_box_on_a_phone(phone_page):
    """Opening 'Every number, as a table' made the page 567 px wide: the table (536 px) scrolls in its
    own box, but the one-column grid around it (app.css .grid-side at phone width, 1fr) grew to it."""
    page = phone_page
    page.goto("/why?text=The+capital+of+France+is")
    page.wait_for_selector("#grid .heatmaplayer")
    page.wait_for_selector("#grid-table tbody tr", state="attached")
    page.locator("details.grid-numbers summary").tap()
    wrap = page.locator(".grid-numbers .table-wrap")
    expect(wrap).to_be_visible()
    assert_fits_phone(page)
    inside, content = wrap.evaluate("(e) => [e.clientWidth, e.scrollWidth]")
    assert content > inside, "the table should scroll sideways inside its box, not widen the page"
