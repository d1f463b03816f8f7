"""The /network page in Chromium: draw, train, open one gradient step; state in the URL."""

import pytest

pytestmark = pytest.mark.browser


def probabilities(page) -> list[float]:
    rows = page.locator("#bars .bar-row")
    return [float(rows.nth(i).get_attribute("data-probability")) for i in range(rows.count())]


def winner(page) -> str:
    return page.locator("#bars .bar-row.winner .bar-label").inner_text()


def wait_ready(page):
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#step-body .calc-row")


def test_flip_pixels_train_and_see_the_probabilities_change(page, screenshot):
    page.goto("/network")
    wait_ready(page)
    assert page.locator("#pad .pixel").count() == 9
    assert page.locator("#diagram .node").count() == 9 + 6 + 5 + 4
    assert page.locator("#diagram .edge").count() == 9 * 6 + 6 * 5 + 5 * 4
    untrained = probabilities(page)
    assert sum(untrained) == pytest.approx(1, abs=1e-4)

    # Flip a pixel: the diagram's input and the bars update at once.
    page.locator("#pad .pixel").nth(0).click()
    page.wait_for_function("() => document.querySelector('#pad .pixel').classList.contains('on')")
    page.wait_for_function("""(old) => {
      const rows = [...document.querySelectorAll('#bars .bar-row')];
      return rows.some((r, i) => Math.abs(Number(r.dataset.probability) - old[i]) > 1e-6);
    }""", arg=untrained)
    assert "px=110111010" in page.url
    page.locator("#pad .pixel").nth(0).click()  # back to a clean "+"

    # Train: the loss curve appears, and the network now says "+" with confidence.
    page.locator("#train").click()
    # The curves grow live: the epoch counter passes through values between start and end.
    page.wait_for_function("() => { const e = Number(document.querySelector('#stat-epoch').textContent);"
                           " return e > 0 && e < 200; }")
    page.wait_for_function("() => document.querySelector('#train-status').textContent.startsWith('Done')")
    page.wait_for_selector("#step-body .calc-row")
    assert "trained=1" in page.url
    trained = probabilities(page)
    assert trained != pytest.approx(untrained, abs=1e-3)
    assert winner(page) == "+" and trained[0] > 0.9
    assert page.locator("#stat-epoch").inner_text() == "200"
    assert page.locator("#gallery-held .example.right").count() >= 58  # >= 90% of 64
    assert page.locator("#loss-plot .scatterlayer .trace").count() == 1
    status = page.locator("#train-status").inner_text()
    assert "All four clean symbols right" in status

    # Draw an L from its button: the answer follows.
    page.locator(".symbol-button[data-symbol='L']").click()
    page.wait_for_function("() => document.querySelector('#bars .bar-row.winner .bar-label').textContent === 'L'")
    page.locator(".symbol-button[data-symbol='plus']").click()
    page.wait_for_function("() => document.querySelector('#bars .bar-row.winner .bar-label').textContent === '+'")
    screenshot("network")


def test_click_a_weight_to_see_its_gradient_and_apply_the_update(page, screenshot):
    page.goto("/network?px=001010100")  # a clean slash, untrained network
    wait_ready(page)
    hit = page.locator("#diagram .edge-hit[data-weight='2.1.0']")
    hit.dispatch_event("click")
    page.wait_for_function("() => location.search.includes('w=2.1.0')")
    page.wait_for_function("() => document.querySelector('#step-body h3').textContent.includes('output')")
    body = page.locator("#step-body")
    assert "hidden 2 neuron 1" in body.inner_text() and "“/”" in body.inner_text()
    assert page.locator("#diagram .edge-selected").count() == 1
    assert page.locator(".target.active").inner_text().strip() == "/"
    loss_before = float(page.locator(".loss-value").inner_text())

    page.locator("#apply-step").click()
    page.wait_for_function("(old) => Number(document.querySelector('.loss-value').textContent) < old",
                           arg=loss_before)

    # The keyboard's way to pick a weight: step to the next one and back.
    page.locator("#weight-next").click()
    page.wait_for_function("() => location.search.includes('w=2.1.1')")
    page.locator("#weight-prev").click()
    page.wait_for_function("() => location.search.includes('w=2.1.0')")

    # Another target: the explanation is recomputed for it.
    page.locator(".target[data-target='3']").click()
    page.wait_for_function("() => location.search.includes('target=3')")
    page.wait_for_function("() => document.querySelector('tr.is-target').textContent.includes('7')")
    assert page.locator("#target-auto").is_visible()
    screenshot("network-step")


def test_state_in_the_url_reloads_to_the_same_picture(page):
    url = "/network?px=100100111&trained=1&h1=5&h2=4&seed=3&epochs=150&w=1.2.3"
    page.goto(url)
    wait_ready(page)
    first = probabilities(page)
    assert page.locator("#h1").input_value() == "5" and page.locator("#seed").input_value() == "3"
    assert page.locator("#shape").inner_text() == "9 → 5 → 4 → 4"
    assert page.locator("#diagram .edge-selected").count() == 1
    page.reload()
    wait_ready(page)
    assert probabilities(page) == pytest.approx(first, abs=1e-9)


def test_out_of_range_settings_say_what_to_change(page):
    page.goto("/network")
    wait_ready(page)
    page.fill("#lr", "50")
    page.locator("#train").click()
    page.wait_for_selector("#net-error:not(:empty)")
    assert "Learning rate must be a number from 0.001 to 5" in page.locator("#net-error").inner_text()
    assert "trained=1" not in page.url
    page.fill("#lr", "0.5")
    page.fill("#h1", "3")
    page.wait_for_function("() => document.querySelector('#shape').textContent === '9 → 3 → 5 → 4'")
    assert page.locator("#net-error").inner_text() == ""


def test_hostile_text_in_the_url_stays_text(page):
    page.goto("/network?px=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E&w={{7*7}}&lr=abc")
    wait_ready(page)
    assert page.locator("#pad .pixel.on").count() == 5  # fell back to the default "+"
    assert page.locator("#lr").input_value() == "0.5"
    assert page.locator("img").count() == 0


def test_on_a_phone_the_diagram_keeps_readable_numbers_and_scrolls_sideways(page):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/network")
    wait_ready(page)
    # Squeezed to the phone's width, a neuron's value was about 5 px tall.
    height = page.evaluate("document.querySelector('#diagram .node-value').getBoundingClientRect().height")
    assert height >= 8, height
    # The diagram scrolls inside its box; the page itself does not get wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("(() => { const s = document.querySelector('.diagram-scroll');"
                         " return s.scrollWidth > s.clientWidth; })()")
    assert page.locator(".scroll-hint").is_visible()
    page.set_viewport_size({"width": 1280, "height": 900})
    assert not page.locator(".scroll-hint").is_visible()


def test_a_hand_edited_link_with_impossible_numbers_opens_a_working_network(page):
    page.goto("/network?h1=0&h2=999&lr=abc&epochs=-5&seed=1.5&px=12&h2x=1")
    wait_ready(page)
    assert page.locator("#net-error").text_content() == ""
    assert [page.locator(f"#{i}").input_value() for i in ("h1", "h2", "lr", "epochs", "seed")] == \
        ["6", "5", "0.5", "200", "1"]
    assert page.locator("#diagram .node").count() == 9 + 6 + 5 + 4
    assert sum(probabilities(page)) == pytest.approx(1, abs=1e-4)
    assert "h1=" not in page.url and "epochs=" not in page.url  # the link is cleaned up too
    # A link with sensible numbers keeps them.
    page.goto("/network?h1=3&h2=4&seed=7")
    wait_ready(page)
    assert page.locator("#diagram .node").count() == 9 + 3 + 4 + 4
    assert page.locator("#seed").input_value() == "7"


def test_network_fits_a_phone_says_tap_and_keeps_step_five_readable(phone_page):
    from tests.browser.checks import assert_fits_phone

    phone_page.goto("/network?trained=1")
    wait_ready(phone_page)
    phone_page.wait_for_selector("#loss-plot .main-svg")
    assert_fits_phone(phone_page)
    assert "tap a line" in phone_page.locator("#hover-hint").text_content()
    assert "hover" not in phone_page.locator("#hover-hint").text_content()
    assert "click" not in phone_page.locator("main").inner_text().lower()
    # Step 5's heading gets the width of its card (it was squeezed to one word a line beside the buttons).
    heading = phone_page.locator("#step-body h3").bounding_box()
    card = phone_page.locator(".step-weight").bounding_box()
    assert heading["width"] > 0.8 * (card["width"] - 40), (heading, card)
    nav = phone_page.locator(".weight-nav").bounding_box()
    assert nav["y"] + nav["height"] <= heading["y"] + 1


def test_network_has_no_serious_accessibility_violation_and_the_curves_have_text(page):
    from tests.browser.checks import axe_violations

    page.goto("/network?trained=1")
    wait_ready(page)
    page.wait_for_function("() => document.querySelector('#train-status').textContent.startsWith('Done')")
    assert axe_violations(page) == []
    for chart in ("#loss-plot", "#acc-plot"):
        described = page.locator(chart).get_attribute("aria-describedby")
        text = page.locator(f"#{described}").inner_text()
        assert "200" in text and "held-out examples right" in text


def test_a_busy_server_hides_the_answer_of_the_previous_drawing(busy_page):
    from tests.browser.checks import assert_failure_hides

    page = busy_page
    page.goto("/network")
    wait_ready(page)

    def busy():
        page.route("**/api/network/predict", lambda route: route.fulfill(
            status=503, content_type="application/json",
            body='{"detail": "The server is busy; try again in a moment.", "code": "busy"}'))
        page.locator("#pad .pixel").nth(0).click()

    assert_failure_hides(page, ["#diagram", "#bars", "#verdict", "#step-body"], act=busy, error="#net-error")
    # The server answers again: the views come back, for the new drawing.
    page.unroute("**/api/network/predict")
    page.locator("#pad .pixel").nth(0).click()
    page.wait_for_selector("#bars", state="visible")
    page.wait_for_selector("#step-body .calc-row", state="visible")
    assert page.locator("#net-error").inner_text() == ""


def test_the_diagrams_hints_say_tap_on_a_touch_screen(page, phone_page):
    """The diagram's SVG titles (read by screen readers, shown on hover) said 'Click to flip it' on phones too."""
    for p, verb in ((phone_page, "Tap"), (page, "Click")):
        p.goto("/network")
        wait_ready(p)
        titles = p.locator("#diagram title").all_text_contents()
        assert any(t.endswith(f"{verb} to flip it.") for t in titles)
        assert any(t.endswith(f"{verb} to see how training changes it.") for t in titles)
        assert not any(("Click to" if verb == "Tap" else "Tap to") in t for t in titles)
