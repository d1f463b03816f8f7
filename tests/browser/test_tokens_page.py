"""The /tokens page in Chromium: chips follow typing, ids round-trip, chat view, URL state."""

from urllib.parse import parse_qs, quote, urlparse

import pytest

pytestmark = pytest.mark.browser


def chip_texts(page, flow="#chips"):
    return page.locator(f"{flow} .tok").all_text_contents()


def wait_for_chips(page, expected, flow="#chips"):
    """Wait until the chips in `flow` read `expected` (a list of chip labels)."""
    page.wait_for_function(
        "([sel, want]) => JSON.stringify([...document.querySelectorAll(sel + ' .tok')].map(n => n.textContent))"
        " === JSON.stringify(want)", arg=[flow, expected])


def query(page):
    return parse_qs(urlparse(page.url).query, keep_blank_values=True)


def test_chips_follow_typing_and_the_url_keeps_the_text(page, screenshot):
    page.goto("/tokens?text=")
    page.wait_for_selector("#empty-hint", state="visible")
    page.locator("#text").press_sequentially(" the", delay=40)
    wait_for_chips(page, ["␣the"])
    page.locator("#text").press_sequentially(" cat sat", delay=40)
    wait_for_chips(page, ["␣the", "␣cat", "␣sat"])
    assert page.locator('[data-stat="count"]').text_content() == "3"
    assert page.locator('[data-stat="characters"]').text_content() == "12"
    assert page.locator('[data-stat="words"]').text_content() == "3"
    assert page.locator('[data-stat="ratio"]').text_content() == "4.00"
    assert query(page)["text"] == [" the cat sat"]

    page.locator("#chips .tok").nth(1).hover()
    inspector = page.locator("#inspector").text_content()
    assert "2 of 3" in inspector and "20 63 61 74" in inspector and "4–8" in inspector
    screenshot("tokens-typing")

    page.reload()
    wait_for_chips(page, ["␣the", "␣cat", "␣sat"])
    assert page.locator("#text").input_value() == " the cat sat"


def test_html_and_template_text_show_exactly_as_typed(page, screenshot):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto("/tokens?text=")
    hostile = "<img src=x onerror=alert(1)> {{7*7}}"
    page.locator("#text").fill(hostile)
    page.wait_for_function("() => document.querySelectorAll('#chips .tok').length > 5")
    shown = "".join(chip_texts(page)).replace("␣", " ")
    assert shown == hostile
    assert page.locator("#chips img").count() == 0 and "49" not in shown and not dialogs
    screenshot("tokens-hostile")


def test_emoji_pieces_show_their_bytes_and_the_byte_note(page, screenshot):
    page.goto("/tokens?text=" + quote("I love 🍕"))
    page.wait_for_selector("#chips .tok.partial")
    # " 🍕" is cut as [space + 2 bytes][1 byte][1 byte]: the space shows as ␣, the loose bytes as hex.
    loose = page.locator("#chips .tok.partial .bytes").all_text_contents()
    assert "".join(loose).replace(" ", "").lower() == "🍕".encode().hex()
    assert page.locator("#chips .tok.partial").first.text_content().startswith("␣")
    assert page.locator("#bytes-note").is_visible()
    page.locator("#chips .tok.partial").first.hover()
    assert "🍕" in page.locator("#inspector").text_content()
    screenshot("tokens-emoji")


def test_control_characters_are_made_visible(page):
    page.goto("/tokens?text=" + quote("a\u0007b\tc"))
    page.wait_for_selector("#chips .tok")
    assert "␇" in "".join(chip_texts(page)) and "⇥" in "".join(chip_texts(page))


def test_examples_teach_in_one_click(page, screenshot):
    page.goto("/tokens")
    page.wait_for_selector("#chips .tok.partial")  # the default text ends with a pizza cut into bytes
    screenshot("tokens-default")
    page.get_by_role("button", name="Numbers").click()
    page.wait_for_function("() => document.querySelectorAll('#chips .tok').length > 15")
    assert page.locator("#example-note").is_visible() and "six tokens" in page.locator("#example-note").text_content()
    digits = [t for t in chip_texts(page) if t.strip("␣").isdigit()]
    assert digits and all(len(t.strip("␣")) == 1 for t in digits)
    page.get_by_role("button", name="Code").click()
    page.wait_for_selector("#chips .br", state="attached")
    screenshot("tokens-code")


def test_ids_view_and_decoding_ids_back_to_text(page, screenshot):
    page.goto("/tokens?text=" + quote("Hello world"))
    wait_for_chips(page, ["Hello", "␣world"])
    page.locator("[data-show=ids]").click()
    ids = chip_texts(page)
    assert all(t.isdigit() for t in ids) and len(ids) == 2
    assert query(page)["show"] == ["ids"]
    page.locator("#decode-these").click()
    page.wait_for_function("() => document.querySelector('#decoded-text').textContent === 'Hello world'")
    assert page.locator("#canonical-note").is_hidden()

    # Spelling " world" out of smaller tokens decodes to the same text, and the page says so.
    spell = [page.request.post("/api/tokenize", data={"text": t}).json()["tokens"][0]["id"] for t in (" ", "world")]
    page.locator("#ids-input").fill(f"[{ids[0]}, {spell[0]}, {spell[1]}]")  # "Hello", " ", "world"
    page.wait_for_selector("#canonical-note:not([hidden])")
    assert "different cut" in page.locator("#canonical-note").text_content()
    screenshot("tokens-ids")

    page.locator("#ids-input").fill("12, banana")
    page.wait_for_function("() => document.querySelector('#decode-error').textContent.includes('banana')")
    page.locator("#ids-input").fill("99999")
    page.wait_for_function("() => document.querySelector('#decode-error').textContent.includes('0 to 49151')")


def test_text_past_the_limit_shows_the_limit(page):
    page.goto("/tokens?text=")
    page.locator("#text").fill("a" * 8001)
    page.wait_for_function("() => document.querySelector('#error').textContent.includes('the limit is 8000')")
    assert "over" in page.locator("#char-count").get_attribute("class")


def test_chat_view_shows_the_templated_sequence(page, screenshot):
    page.goto("/tokens?tab=chat")
    page.wait_for_selector("#chat-chips .tok.special")
    specials = page.locator("#chat-chips .tok.special").all_text_contents()
    assert specials == ["<|im_start|>", "<|im_end|>", "<|im_start|>", "<|im_end|>", "<|im_start|>"]
    screenshot("tokens-chat")

    # Without a system message the template writes its own default one.
    page.get_by_role("button", name="Remove message 1").click()
    page.wait_for_function("() => document.querySelector('#chat-text').textContent.includes('You are a helpful AI')")
    page.locator("#gen-prompt").uncheck()
    page.wait_for_function("() => !document.querySelector('#chat-text').textContent.endsWith('assistant\\n')")
    assert query(page)["gen"] == ["0"] and "chat" in query(page)

    page.reload()
    page.wait_for_function("() => document.querySelector('#chat-text').textContent.includes('You are a helpful AI')")
    assert page.locator("#messages .message").count() == 1
    assert not page.locator("#gen-prompt").is_checked()


def test_chat_text_that_looks_like_a_special_token_is_flagged(page, screenshot):
    page.goto("/tokens?tab=chat")
    page.wait_for_selector("#chat-chips .tok.special")
    page.get_by_role("button", name="Text that looks like a special token").click()
    page.wait_for_selector("#chat-special-note", state="visible")
    assert "id 2" in page.locator("#chat-special-note").text_content()
    page.locator("#chat-chips .tok.special.content").hover()
    assert "the text of message 1 (user)" in page.locator("#chat-inspector").text_content()
    screenshot("tokens-chat-special")


def test_the_page_fits_a_phone(page, screenshot):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/tokens?text=" + quote("def f(x):\n    return x  # 🍕 日本語"))
    page.wait_for_selector("#chips .tok.partial")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    screenshot("tokens-phone")
    page.goto("/tokens?tab=chat")
    page.wait_for_selector("#chat-chips .tok.special")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    screenshot("tokens-phone-chat")


# --- issue 20: failure, phone, accessibility --------------------------------------------------------

def test_a_text_over_the_limit_hides_the_earlier_texts_tokens(page):
    from tests.browser.checks import assert_failure_hides
    page.goto("/tokens?text=" + quote("Hello world"))
    wait_for_chips(page, ["Hello", "␣world"])
    page.locator("#chips .tok").first.hover()   # the inspector describes a token of this text
    limit = page.evaluate("() => JSON.parse(document.body.dataset.model).limits.max_prompt_chars")
    assert_failure_hides(page, ["#chips", "#stats"], act=lambda: page.fill("#text", "a" * (limit + 1)), error="#error")
    assert f"the limit is {limit}" in page.locator("#error").inner_text()
    assert "Hello" not in page.locator("#inspector").text_content()
    page.fill("#text", "Hello again")
    wait_for_chips(page, ["Hello", "␣again"])
    assert page.locator("#stats").is_visible() and page.locator("#error").inner_text() == ""


def test_a_busy_server_hides_the_earlier_chat_and_demo(busy_page):
    from tests.browser.checks import assert_failure_hides
    page = busy_page
    page.goto("/tokens?tab=chat")
    page.wait_for_selector("#chat-chips .tok.special")
    busy = {"detail": "The model is busy; try again in a moment.", "code": "busy"}
    page.route("**/api/chat/template", lambda route: route.fulfill(status=503, json=busy))
    assert_failure_hides(page, ["#chat-chips", "#chat-stats"],
                         act=lambda: page.get_by_role("button", name="No system message").click(), error="#chat-error")
    assert page.locator("#chat-text").text_content() == ""
    # The space demo: an answer, then a busy server hides it.
    page.get_by_role("tab", name="Text").click()
    page.click("#space-run")
    page.wait_for_selector("#space-result .space-col")
    page.route("**/api/predict", lambda route: route.fulfill(status=503, json=busy))
    assert_failure_hides(page, ["#space-result"], act=lambda: page.click("#space-run"), error="#space-error")


def test_the_page_fits_a_phone_and_says_tap(phone_page, screenshot):
    from tests.browser.checks import assert_fits_phone
    page = phone_page
    page.goto("/tokens?text=" + quote("def f(x):\n    return x  # 🍕 日本語 " + "antidisestablishmentarianism " * 3))
    page.wait_for_selector("#chips .tok.partial")
    assert_fits_phone(page)
    assert page.locator("#inspector").text_content().startswith("Tap a token")
    page.locator("#chips .tok").nth(2).tap()
    expect_text = page.locator("#inspector").text_content()
    assert "id" in expect_text and "Tap" not in expect_text   # a tap inspects the token
    page.click("#space-run")
    page.wait_for_selector("#space-result .space-col")
    assert_fits_phone(page)
    screenshot("tokens-phone-tap")
    page.goto("/tokens?tab=chat")
    page.wait_for_selector("#chat-chips .tok.special")
    assert_fits_phone(page)


def test_a_tapped_chip_of_the_turn_the_template_adds_keeps_the_page_on_a_phone(phone_page, screenshot):
    """The inspector's longest fact, 'written by the template, in a turn it adds before message 1 (user)',
    is wider than a phone: it stood on one line, the page grew to 570 px (a phone's window grows with it,
    so the sideways check alone missed it), and the tap that showed it landed on another chip ('␣Sm')."""
    page = phone_page
    page.goto("/tokens?tab=chat&chat=" + quote('[{"role":"user","content":"What is a token?"}]'))
    page.wait_for_selector("#chat-chips .tok.special")
    page.locator("#chat-chips .tok", has_text="You").first.tap()
    inspector = page.locator("#chat-inspector").inner_text()
    assert "“You”" in inspector and "in a turn it adds before message 1 (user)" in inspector
    assert page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]") == [390, 390]
    screenshot("tokens-phone-chat-added-turn")


@pytest.mark.parametrize("tab", ["text", "chat"])
def test_no_serious_axe_violation(page, tab):
    from tests.browser.checks import axe_violations
    page.goto(f"/tokens?tab={tab}&ids=" + quote("504, 3575, 282"))
    page.wait_for_selector("#chips .tok" if tab == "text" else "#chat-chips .tok")
    page.wait_for_selector("#decoded-chips .tok", state="attached")
    violations = axe_violations(page)
    assert violations == [], "\n".join(violations)
