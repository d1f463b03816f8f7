"""The attention page's sense test in Chromium: it runs on load, every built-in example renders, and
each summary is exactly what the rules give for the API's own numbers (tests/claims/senses_rules.py),
so no sentence of it can be typed in by hand. Also on a phone."""

import pytest

from tests.claims.senses_rules import EXAMPLES, run, summarise_ablation, summarise_heads, summarise_senses

pytestmark = [pytest.mark.browser, pytest.mark.real]


def wait_done(page, word):
    page.wait_for_function(
        "(w) => document.getElementById('senses').dataset.state === 'done'"
        " && document.getElementById('senses-summary').textContent.startsWith('\"' + w + '\"')", arg=word,
        timeout=120_000)


@pytest.fixture(scope="module")
def expected(real_engine):
    from fastapi.testclient import TestClient

    from app.main import create_app
    with TestClient(create_app(engine=real_engine)) as client:
        return {ex["word"]: run(client, ex) for ex in EXAMPLES}


def test_every_example_renders_with_summaries_computed_from_its_numbers(page, screenshot, expected):
    page.goto("/attention")
    for k, ex in enumerate(EXAMPLES):
        if k:
            page.get_by_role("button", name=ex["label"]).click()
        wait_done(page, ex["word"])
        a = expected[ex["word"]]
        assert page.locator("#senses-summary").inner_text() == summarise_senses(a["word"], a["control"], a["mixed"])
        assert page.locator("#senses-heads-summary").inner_text() == summarise_heads(a["heads"])
        assert page.locator("#senses-ablate-summary").inner_text() == summarise_ablation(
            a["word"], a["control"], a["mixed"], a["off"], a["others"])
        assert page.locator("#senses-ablate .scatterlayer .trace").count() == 3
        # Both charts drawn: within/across (2 lines), the gap with its two controls (3 lines + markers).
        assert page.locator("#senses-chart .scatterlayer .trace").count() == 2
        assert page.locator("#senses-gap .scatterlayer .trace").count() >= 3
        top = a["heads"]["heads"][0]
        assert page.locator("#senses-heads li").first.inner_text().startswith(f"layer {top['layer']} · head {top['head']}")
        assert page.locator("#sense-word").input_value() == ex["word"]
        if k == 0:
            page.locator("#senses").scroll_into_view_if_needed()
            screenshot("attention-senses")


def test_edited_groups_run_and_a_missing_word_names_its_sentence(page):
    page.goto("/attention")
    wait_done(page, "bank")
    page.locator("#sense-groups .group-text").nth(1).fill("I paid the money into the bank\nShe went to the shop")
    page.locator("#run-senses").click()
    page.wait_for_function("() => document.getElementById('senses-error').textContent.includes('groups.1.1')",
                           timeout=120_000)
    assert "does not contain the word 'bank'" in page.locator("#senses-error").inner_text()
    # The URL keeps the edited group, so a reload shows the same test.
    assert "g2=" in page.url and "shop" in page.url


def test_the_sense_test_fits_a_phone(page, screenshot):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/attention")
    wait_done(page, "bank")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#senses-heads").scroll_into_view_if_needed()
    screenshot("attention-senses-phone")
