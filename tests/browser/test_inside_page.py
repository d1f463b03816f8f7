"""The inside-a-layer page (chapter 4a) in Chromium: follow '␣is' through layer 18 and find chapter 4's
number, change layer, head and token from the page, and fit a phone."""

from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.checks import assert_failure_hides, assert_fits_phone, axe_violations, route_busy

pytestmark = [pytest.mark.browser, pytest.mark.real]


def query(page) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def wait_drawn(page, layer: int, head: int, token: str):
    page.wait_for_function(
        "([layer, head, token]) => { const s = document.getElementById('status').textContent;"
        " const views = document.getElementById('views');"
        " return !views.hidden && !views.classList.contains('stale') && !views.classList.contains('failed')"
        " && s.includes(`“${token}”`) && s.includes(`layer ${layer}, head ${head}.`)"
        " && document.getElementById('chapter4').dataset.same !== undefined; }",
        arg=[layer, head, token])


def test_follow_is_through_layer_18_to_chapter_4s_number(page, live_server, screenshot):
    import httpx

    page.goto("/inside?text=The+capital+of+France+is&layer=18&head=1")
    wait_drawn(page, 18, 1, "␣is")
    # The weights column is chapter 4's row for '␣is', as /api/attention sends it.
    row = httpx.post(f"{live_server}/api/attention", json={"text": "The capital of France is", "layer": 18, "head": 1},
                     timeout=60).json()["weights"][-1]
    shown = [float(c.split()[-1]) for c in page.locator("#scores tbody tr td.wcell").all_inner_texts()]
    assert shown == pytest.approx(row, abs=6e-5)
    assert page.locator("#chapter4").get_attribute("data-same") == "true"
    assert "the same numbers" in page.locator("#chapter4").inner_text()
    assert "% when you point at that cell)" in page.locator("#chapter4").inner_text()
    # The grouped-query picture names the key/value head head 1 reads (heads 0, 1, 2 share head 0).
    assert "key/value head 0" in page.locator("#gqa-text").inner_text()
    assert page.locator("#layers li").count() == 30
    assert page.locator("#neurons tbody tr").count() == 10
    screenshot("inside")

    # Taking another dot product apart: click the row of '␣France'.
    page.locator("#scores tbody tr").nth(3).click()
    assert query(page)["key"] == "3"
    assert "“␣France”" in page.locator("#dot-text").inner_text()

    # Another layer from the overview, another token from the chips, another head from the GQA buttons.
    page.locator("#layers li[data-layer='23']").click()
    wait_drawn(page, 23, 1, "␣is")
    assert query(page)["layer"] == "23"
    page.locator("#tokens .tok").nth(3).click()
    wait_drawn(page, 23, 1, "␣France")
    assert query(page)["position"] == "3"
    assert page.locator("#scores tbody tr.masked").count() == 1      # '␣is' comes later: masked
    page.locator("#gqa .q-head", has_text="head 4").click()
    wait_drawn(page, 23, 4, "␣France")
    # A reload shows the same picture, and the page's URL query (with the default text, which the URL leaves out)
    # is the JSON twin's.
    page.reload()
    wait_drawn(page, 23, 4, "␣France")
    twin = httpx.get(f"{live_server}/api/inside", params={"text": "The capital of France is", **query(page)},
                     timeout=60).json()
    assert (twin["layer"], twin["head"], twin["position"]) == (23, 4, 3)
    shown = [float(c.split()[-1]) for c in page.locator("#scores tbody tr:not(.masked) td.wcell").all_inner_texts()]
    assert shown == pytest.approx(twin["weights"], abs=6e-5)


def test_out_of_range_link_falls_back_and_bad_text_says_what_to_change(page):
    page.goto("/inside?text=Hello+there&layer=99&head=1&position=40")
    wait_drawn(page, 29, 1, "␣there")
    page.fill("#prompt", " ")
    page.wait_for_function("() => document.getElementById('error').textContent.includes('empty')")
    assert page.locator("#views").is_hidden()


def test_on_a_phone_the_page_does_not_scroll_sideways(page, screenshot):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/inside?text=The+capital+of+France+is&layer=18&head=1")
    wait_drawn(page, 18, 1, "␣is")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("inside-phone")


def test_chapter_4_opens_its_head_and_token_here(page):
    page.goto("/attention?text=The+capital+of+France+is&layer=18&head=1")
    page.wait_for_function("() => document.getElementById('inside-link').getAttribute('href').includes('layer=18')")
    page.locator("#lines-tokens .tok").nth(3).click()
    href = page.locator("#inside-link").get_attribute("href")
    params = {k: v[0] for k, v in parse_qs(urlparse(href).query).items()}
    assert params == {"text": "The capital of France is", "layer": "18", "head": "1", "position": "3"}
    page.locator("#inside-link").click()
    wait_drawn(page, 18, 1, "␣France")


def test_a_text_too_long_or_a_busy_server_hides_the_earlier_views(busy_page):
    page = busy_page
    page.goto("/inside?text=The+capital+of+France+is&layer=18&head=1")
    wait_drawn(page, 18, 1, "␣is")
    limit = page.evaluate("JSON.parse(document.body.dataset.model).limits.max_prompt_tokens")
    views = ["#views", "#strip-norm1 .heatmaplayer", "#qk .heatmaplayer", "#scores tbody tr", "#tokens .tok"]
    assert_failure_hides(page, views, lambda: page.fill("#prompt", "word " * (limit + 5)), "#error")
    expect(page.locator("#error")).to_contain_text(str(limit))
    page.fill("#prompt", "The capital of France is")
    wait_drawn(page, 18, 1, "␣is")
    route_busy(page, "**/api/inside")
    assert_failure_hides(page, ["#views", "#tokens .tok"], lambda: page.fill("#prompt", "I sat on the river bank"),
                         "#error")
    expect(page.locator("#error")).to_contain_text("busy")


def test_inside_fits_a_phone_and_says_tap(phone_page):
    page = phone_page
    page.goto("/inside?text=The+capital+of+France+is&layer=18&head=1")
    wait_drawn(page, 18, 1, "␣is")
    page.wait_for_selector("#values .heatmaplayer")
    expect(page.locator("[data-touch='Tap a row']")).to_have_text("Tap a row")
    # Chapter 4's number is read off its heatmap by a tap here, not by pointing.
    expect(page.locator("#chapter4")).to_contain_text("% when you tap that cell)")
    assert_fits_phone(page)
    # Only the 2-D Plotly bundle: the full one (3-D, waterfall) is never fetched here.
    assert not page.evaluate("""() => performance.getEntriesByType('resource')
        .some((e) => new URL(e.name).pathname === document.body.dataset.plotlyFull)""")


def test_inside_has_no_serious_accessibility_violation_and_charts_in_words(page):
    page.goto("/inside?text=The+capital+of+France+is&layer=18&head=1")
    wait_drawn(page, 18, 1, "␣is")
    page.wait_for_selector("#values .heatmaplayer")
    expect(page.locator("#strip-norm1-text")).to_contain_text("coming in (resid_pre): length")
    expect(page.locator("#qk-text")).to_contain_text("The query of “␣is”")
    violations = axe_violations(page)
    assert violations == [], "\n".join(violations)


def test_a_piece_of_a_character_is_labelled_in_hex_in_the_charts(page):
    page.goto("/inside?text=%E6%88%91%E7%88%B1%E4%BD%A0+%F0%9F%8E%89&layer=3&head=0")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('Following')")
    page.wait_for_selector("#qk .heatmaplayer")
    # Every token of this text is a piece of a character: each is labelled by its bytes in hex.
    ticks = page.locator("#qk .ytick text").all_text_contents()
    assert "key #0 E6 88" in ticks and "key #7 ␣F0 9F" in ticks, ticks
    assert "\ufffd" not in " ".join(ticks)
    expect(page.locator("#status")).to_contain_text("Following “89”")
    assert "\ufffd" not in page.locator("#views").inner_text()


def test_without_javascript_section_1_shows_the_server_drawn_strips(browser, live_server):
    """The views wait hidden for the module; a first picture drawn by the server (app/pictures/inside.py)
    shows its section, summary and strips, and the other sections (still empty) stay hidden."""
    ctx = browser.new_context(java_script_enabled=False, base_url=live_server, viewport={"width": 1280, "height": 900})
    try:
        page = ctx.new_page()
        page.goto("/inside?text=The+capital+of+France+is&layer=18&head=1")
        section = page.locator("section[aria-labelledby=s1-title]")
        expect(section.locator(".first-picture svg.first-wide")).to_be_visible()
        expect(section.locator(".first-picture svg.first-narrow")).to_be_hidden()
        expect(section.locator(".first-summary")).to_contain_text("Token “␣is” entering layer 18: its 576 numbers")
        expect(page.locator("#norm1-summary")).to_be_hidden()  # empty: the picture carries the summary
        for hidden in ("s2-title", "s3-title", "s4-title", "s5-title"):
            expect(page.locator(f"section[aria-labelledby={hidden}]")).to_be_hidden()
        assert section.locator(".first-picture svg.first-wide image").count() == 3
        # The entries beyond the colour limit, which the note below says are listed under the strip.
        expect(section.locator(".first-picture .first-nojs .top-line")).to_have_count(2)
        expect(section.locator(".first-picture .tops.first-nojs")).to_be_visible()
        expect(section.locator(".strip-note")).to_contain_text("its 6th-largest size")
    finally:
        ctx.close()


def test_the_strips_do_not_move_when_the_module_replaces_the_picture(browser, live_server):
    """What follows section 1's strips stands where it stood under the server's picture (with JavaScript on,
    before the module runs: without it, the picture also lists the entries beyond the colour limit)."""
    url = "/inside?text=The+capital+of+France+is&layer=18&head=1"
    tops = []
    for drawn in (False, True):
        ctx = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
        try:
            page = ctx.new_page()
            if not drawn:  # the server's picture as a reader with JavaScript sees it until the module has drawn
                page.route("**/static/js/inside.js", lambda route: route.abort())
                page.goto(url)
                page.wait_for_selector("[data-first-picture]", state="attached")
                expect(page.locator(".first-picture .tops.first-nojs")).to_be_hidden()
            else:
                page.goto(url)
                wait_drawn(page, 18, 1, "␣is")
                assert page.locator("[data-first-picture]").count() == 0
            # From the section's top: the panel above it differs before the module runs (no examples, no tokens).
            tops.append(page.locator(".strip-note").first.bounding_box()["y"]
                        - page.locator("section[aria-labelledby=s1-title]").bounding_box()["y"])
        finally:
            ctx.close()
    assert tops[1] == pytest.approx(tops[0], abs=4)
