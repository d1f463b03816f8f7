import json
import re
from urllib.parse import parse_qs, quote, urlparse

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)  # the CPU is shared: a model pass may wait its turn


def bar_labels(page):
    return page.locator("#chart .ytick text").all_text_contents()


def test_predict_page_shows_the_distribution_and_generates_step_by_step(page, screenshot):
    page.goto("/predict?text=The+capital+of+France+is&top_k=3")
    page.wait_for_selector("#chart .bars path")
    assert bar_labels(page)[0] == "␣Paris"
    assert page.locator('[data-stat="allowed"]').text_content() == "3"
    page.wait_for_selector("#surprise .s-tok")
    page.wait_for_selector("#lens:not(.stale) .hm")
    screenshot("predict")

    page.click("#greedy")
    page.wait_for_selector("#trail .step:not(.next)")
    assert page.locator("#trail .step:not(.next)").first.text_content() == "␣Paris"
    expect(page).to_have_url(re.compile(r"steps=\d+(&|$)"))

    # Clicking the generated token shows what else could have come there, with its rank.
    page.locator("#trail .step:not(.next)").first.click()
    expect(page.locator("#chart-title")).to_contain_text("Step 1")
    assert "rank: #1" in page.locator("#chart-title").text_content()
    page.wait_for_selector("#lens:not(.stale) .hm")
    screenshot("predict-step")

    # Reload: the same picture comes back from the URL.
    page.reload()
    expect(page.locator("#chart-title")).to_contain_text("Step 1")
    assert page.locator("#trail .step:not(.next)").first.text_content() == "␣Paris"


def test_sampling_with_a_seed_repeats_and_temperature_zero_allows_one_token(page):
    page.goto("/predict?text=Once+upon+a+time&seed=7&temperature=1.2&top_k=0")
    page.wait_for_selector("#chart .bars path")
    steps = page.locator("#trail .step:not(.next)")
    page.click("#sample10")
    expect(steps).not_to_have_count(0)
    expect(page.locator("#status")).to_have_text("")
    first = page.locator("#trail").text_content()
    page.click("#clear")
    expect(steps).to_have_count(0)
    page.click("#sample10")
    expect(steps).not_to_have_count(0)
    expect(page.locator("#trail")).to_have_text(first)
    page.goto("/predict?text=Once+upon+a+time&temperature=0")
    page.wait_for_selector("#chart .bars path")
    expect(page.locator('[data-stat="allowed"]')).to_have_text("1")


def test_guess_first_hides_the_answer_until_the_guess_is_in(page, screenshot):
    page.goto("/predict?text=The+capital+of+France+is&guess=1")
    page.wait_for_selector("#guess-box:not([hidden])")
    assert "veiled" in page.locator("#chart").get_attribute("class")
    page.fill("#guess-input", "Paris")
    page.click("#guess-form button[type=submit]")
    page.wait_for_selector("#guess-result:not([hidden])")
    page.wait_for_selector("#lens:not(.stale):not(.veiled) .hm")
    page.wait_for_selector("#surprise:not(.stale) .s-tok")
    assert "favourite" in page.locator("#guess-result").text_content()
    assert "At the last position" in page.locator("#lens-text").text_content()  # the caption is unveiled too
    assert "veiled" not in page.locator("#chart").get_attribute("class")
    screenshot("predict-guess")


def test_hostile_prompt_shows_as_typed_text(page, screenshot):
    hostile = "<img src=x onerror=alert(1)> {{7*7}}"
    page.on("dialog", lambda d: pytest.fail("a dialog opened: the prompt ran as code"))
    page.goto("/predict")
    page.fill("#prompt", hostile)
    expect(page.locator("#trail .prompt-text")).to_have_text(hostile)
    expect(page.locator("#surprise")).to_have_text(hostile)
    expect(page.locator("#lens .xtick text", has_text="{{")).not_to_have_count(0)
    page.wait_for_selector("#lens:not(.stale)")
    assert page.locator("#surprise img").count() == 0
    screenshot("predict-hostile")


def test_generated_pieces_of_an_emoji_are_read_back_as_the_tokens_written(page):
    # "Animals: 🐦🐦🐦" is 11 tokens; 🐦 is three byte-level tokens (10813, 234, 116). One generated
    # piece (10813) is no character: joined to the text it became U+FFFD, which the model reads as
    # other tokens. The page must send it back by id.
    with page.expect_request(lambda r: r.url.endswith("/api/predict")) as request:
        page.goto("/predict?text=" + quote("Animals: 🐦🐦🐦") + "&steps=10813")
    body = json.loads(request.value.post_data)
    assert body["text"] == "Animals: 🐦🐦🐦" and body["append_ids"] == [10813]
    expect(page.locator("#surprise .s-tok")).to_have_count(12)
    # Greedy continues the bird: the next piece is the one the model itself wrote before.
    with page.expect_response(lambda r: r.url.endswith("/api/generate")) as answer:
        page.click("#greedy")
    assert [g["id"] for g in answer.value.json()["generated"]] == [234]
    expect(page.locator("#surprise .s-tok")).to_have_count(13)
    # The pieces in the trail show their bytes (F0 9F..., as on the tokens page), not U+FFFD.
    expect(page.locator("#trail .step.partial")).to_have_count(2)
    labels = page.locator("#trail .step.partial").evaluate_all("els => els.map(e => e.textContent)")
    assert all("\ufffd" not in label and label.strip() for label in labels), labels


def test_sample_after_undo_draws_with_a_new_seed(page):
    seeds = []
    page.on("request", lambda r: seeds.append(json.loads(r.post_data)["seed"])
            if r.url.endswith("/api/generate") else None)
    page.goto("/predict?text=Once+upon+a+time&seed=7&temperature=1.2&top_k=0")
    page.wait_for_selector("#chart .bars path")
    steps = page.locator("#trail .step:not(.next)")
    for n in range(1, 4):
        page.click("#sample")
        expect(steps).to_have_count(1)
        page.click("#undo")
        expect(steps).to_have_count(0)
    assert len(seeds) == 3 and len(set(seeds)) == 3, seeds


# --- issue 20: failure, phone, accessibility, labels ------------------------------------------------

def _limit(page, key):
    return page.evaluate(f"() => JSON.parse(document.body.dataset.model).limits.{key}")


def test_a_refused_text_hides_the_earlier_texts_views(page):
    from tests.browser.checks import assert_failure_hides
    page.goto("/predict?text=The+capital+of+France+is")
    page.wait_for_selector("#lens:not(.stale) .hm")
    page.wait_for_selector("#surprise .s-tok")
    too_long = "word " * (_limit(page, "max_prompt_tokens") + 10)   # over the server's token limit
    assert_failure_hides(page, ["#chart", "#surprise", "#lens", "#stats"],
                         act=lambda: page.fill("#prompt", too_long), error="#error")
    assert "limit" in page.locator("#error").inner_text()
    # A good text brings every view back, with no error left over.
    page.fill("#prompt", "The opposite of hot is")
    page.wait_for_selector("#lens:not(.stale):not(.failed) .hm")
    expect(page.locator("#surprise")).to_be_visible()
    expect(page.locator("#error")).to_have_text("")


def test_a_busy_server_hides_the_earlier_texts_views(busy_page):
    from tests.browser.checks import assert_failure_hides
    page = busy_page
    page.goto("/predict?text=The+capital+of+France+is")
    page.wait_for_selector("#lens:not(.stale) .hm")
    busy = {"detail": "The model is busy; try again in a moment.", "code": "busy"}
    page.route("**/api/predict", lambda route: route.fulfill(status=503, json=busy, headers={"Retry-After": "1"}))
    assert_failure_hides(page, ["#chart", "#surprise", "#lens"],
                         act=lambda: page.fill("#prompt", "Once upon a time"), error="#error")
    assert page.locator("#error").inner_text() == busy["detail"]


def test_the_page_fits_a_phone_with_the_lens_last_column_and_colour_bar(phone_page, screenshot):
    from tests.browser.checks import assert_fits_phone
    page = phone_page
    text = "The capital of France is a city that"   # more tokens than the lens shows on a phone
    page.goto("/predict?text=" + quote(text))
    page.wait_for_selector("#lens:not(.stale) .hm")
    page.wait_for_selector("#chart .bars path")
    assert_fits_phone(page)
    # The colour bar and every column the lens shows, the last (the model's own answer) included,
    # are inside the screen, and the columns' labels do not run into each other.
    lens = page.request.post("/api/logit-lens", data={"text": text, "last": 6}).json()
    assert lens["positions"][-1] == len(lens["tokens"]) - 1
    bar = page.locator("#lens .colorbar").bounding_box()
    assert bar and bar["x"] + bar["width"] <= 390, bar
    ticks = page.locator("#lens .xtick text").evaluate_all("els => els.map(e => e.getBoundingClientRect().right)")
    assert len(ticks) == len(lens["positions"]) and max(ticks) <= 390, ticks
    assert min(b - a for a, b in zip(ticks, ticks[1:])) >= 13, ticks
    last = page.locator("#lens .xtick text").last.text_content()
    assert last.startswith("␣that"[:4]), last
    # Instructions say "tap" on a touch screen.
    assert "Tap a bar" in page.locator(".chart-panel").inner_text()
    screenshot("predict-phone")


def test_every_view_has_a_text_equivalent_and_no_serious_axe_violation(page):
    from tests.browser.checks import axe_violations
    page.goto("/predict?text=The+capital+of+France+is")
    page.wait_for_selector("#lens:not(.stale) .hm")
    page.wait_for_selector("#surprise .s-tok")
    assert axe_violations(page) == []
    assert "␣Paris" in page.locator("#chart-text").text_content()
    assert "At the last position" in page.locator("#lens-text").text_content()
    # Each token's surprise: focus (or a tap) shows its numbers, not only a tooltip. (Before the
    # append below, which redraws the surprise view for the longer text and would drop the focus.)
    page.locator("#surprise .s-tok").nth(1).focus()
    expect(page.locator("#surprise-inspector")).to_contain_text("surprisal")
    # The bars' list appends a token from the keyboard, as a click on a bar does.
    page.locator("#chart-more summary").focus()
    page.keyboard.press("Enter")
    page.locator("#chart-list button").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#trail .step:not(.next)")).to_have_text(["␣Paris"])


def test_pieces_of_characters_read_as_hex_bytes_in_every_chart(page):
    text = "我爱你 🎉👍🏽"
    page.goto("/predict?text=" + quote(text))
    page.wait_for_selector("#lens:not(.stale) .hm")
    page.wait_for_selector("#surprise .s-tok")
    labels = (page.locator("#lens .xtick text").all_text_contents() + page.locator("#lens .ytick text").all_text_contents()
              + page.locator("#lens .hm ~ * text, #lens text.textpoint, #lens .heatmaplayer text").all_text_contents()
              + bar_labels(page))
    shown = " ".join(labels) + page.locator("#surprise").text_content() + page.locator("#lens-text").text_content()
    assert "\ufffd" not in shown, shown
    assert re.search(r"\b[0-9A-F]{2}\b", " ".join(page.locator("#lens .xtick text").all_text_contents()))
