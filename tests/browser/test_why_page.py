"""Chapter 5a in Chromium: the direct parts first, the saliency on the token chips when it arrives,
the check, a chat message, state in the URL, and a phone-sized screen without sideways scrolling."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.checks import assert_failure_hides, assert_fits_phone, axe_violations, route_busy

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


def _limit(page, name):
    return page.evaluate(f"JSON.parse(document.body.dataset.model).limits.{name}")


def test_a_text_too_long_hides_the_earlier_texts_views(page):
    page.goto("/why?text=The+capital+of+France+is")
    expect(page.locator("#completeness")).to_contain_text("Completeness", timeout=300_000)
    too_long = "word " * (_limit(page, "max_prompt_tokens") + 5)
    views = ["#targets .target", "#sum", "#grid .heatmaplayer", "#waterfall .main-svg", "#check-table",
             "#sal-tokens .tok", "#completeness"]
    assert_failure_hides(page, views, lambda: page.fill("#prompt", too_long), "#error")
    expect(page.locator("#error")).to_contain_text(str(_limit(page, "max_prompt_tokens")))
    # A good text again brings the views back, for that text.
    page.fill("#prompt", "The opposite of hot is")
    expect(page.locator("#error")).to_be_empty()
    expect(page.locator("#sum")).to_be_visible()
    expect(page.locator("#sal-tokens .tok")).to_have_count(5)


def test_an_empty_text_or_a_busy_server_hides_the_views(busy_page):
    page = busy_page
    page.goto("/why?text=The+capital+of+France+is")
    expect(page.locator("#sum")).to_contain_text("logit(")
    assert_failure_hides(page, ["#sum", "#grid .heatmaplayer"], lambda: page.fill("#prompt", "  "), "#error")
    page.fill("#prompt", "The opposite of hot is")
    expect(page.locator("#sum")).to_be_visible()
    route_busy(page, "**/api/attribution")
    assert_failure_hides(page, ["#sum", "#grid .heatmaplayer", "#sal-tokens .tok"],
                         lambda: page.fill("#prompt", "The capital of France is"), "#error")
    expect(page.locator("#error")).to_contain_text("busy")


def test_why_fits_a_phone_and_says_tap(phone_page):
    page = phone_page
    page.goto("/why?text=The+capital+of+France+is")
    page.wait_for_selector("#grid .heatmaplayer")
    page.wait_for_selector("#waterfall .main-svg")
    expect(page.locator("#grid-verb")).to_have_text("Tap")
    assert_fits_phone(page)
    # Only the 2-D Plotly bundle: the full one (3-D, waterfall) is never fetched here.
    assert not page.evaluate("""() => performance.getEntriesByType('resource')
        .some((e) => new URL(e.name).pathname === document.body.dataset.plotlyFull)""")


def test_why_has_no_serious_accessibility_violation_and_charts_in_words(page):
    page.goto("/why?text=The+capital+of+France+is")
    expect(page.locator("#completeness")).to_contain_text("Completeness", timeout=300_000)
    page.wait_for_selector("#waterfall .main-svg")
    # The charts' text equivalents name their largest numbers, from the answer.
    expect(page.locator("#grid-text")).to_contain_text("Strongest up: MLP 29 +6.98")
    expect(page.locator("#waterfall-text")).to_contain_text("From 0, the largest parts one by one: MLP 29 +6.98")
    assert axe_violations(page) == []


def test_completeness_without_a_ratio_is_said_in_words(page):
    # The API sends completeness null when the score is the same at the baseline and the input.
    def fake(route):
        response = route.fetch()
        body = response.json()
        if body.get("saliency"):
            body["saliency"]["completeness"] = None
            body["saliency"]["f_baseline"] = body["saliency"]["f_input"]
        route.fulfill(response=response, json=body)
    page.route("**/api/attribution", fake)
    page.goto("/why?text=The+capital+of+France+is")
    expect(page.locator("#completeness")).to_contain_text("no ratio to check", timeout=300_000)


def test_a_piece_of_a_character_is_named_by_its_bytes(page):
    # After "I love you 🎉" the most probable next token is the first two bytes of another emoji.
    page.goto("/why?text=" + "I+love+you+%F0%9F%8E%89")
    expect(page.locator("#targets .target.picked .tt")).to_have_text("F0 9F")
    expect(page.locator("#sum")).to_contain_text("logit(“F0 9F”)")
    assert "\ufffd" not in page.locator("#targets").inner_text() + page.locator("#contrast").inner_text()


def test_every_part_is_in_a_table_a_keyboard_reaches(page):
    page.goto("/why?text=The+capital+of+France+is")
    page.wait_for_selector("#grid .heatmaplayer")
    summary = page.locator(".grid-numbers summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#grid-table tbody tr")).to_have_count(30)
    body = page.evaluate("""async () => (await (await fetch('/api/attribution', { method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ text: 'The capital of France is', saliency: false, check_parts: 0 }) })).json()).parts""")
    row = page.locator("#grid-table tbody tr").nth(29).locator("td").all_text_contents()
    assert len(row) == 10
    shown = [float(c.replace("−", "-")) for c in row]
    assert shown == pytest.approx(body["heads"][29] + [body["mlps"][29]], abs=0.006)


def test_a_negative_score_is_written_with_the_same_minus_as_the_parts(page):
    """Every signed number the page writes (the parts, the changes) takes "−"; the score itself, the baseline's and
    the completeness line went through toFixed, which writes a hyphen-minus: with “␣London” against “␣Paris” the
    caveat said 'the score, -4.13, is what is left' beside 'together −13.13'."""
    page.goto("/why?text=The+capital+of+France+is&target=4528&contrast=7042")
    expect(page.locator("#sum")).to_contain_text("logit(“␣London”) − logit(“␣Paris”) = −")
    expect(page.locator("#completeness")).to_contain_text("Completeness", timeout=300_000)
    page.wait_for_selector("#waterfall .main-svg")
    for where in ("#sum", "#caveats", "#completeness", "#baseline-gap", "#waterfall-text", "#waterfall .main-svg"):
        text = page.locator(where).first.text_content()
        assert not re.search(r"-\d", text), (where, text)
    assert re.search(r"the score, −\d+\.\d\d, is what is left", page.locator("#cav-negative").text_content())
