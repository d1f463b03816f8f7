import json
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.checks import assert_failure_hides, assert_fits_phone, axe_violations, route_busy

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)  # the CPU is shared: a model pass may wait its turn


def test_chat_streams_a_reply_and_shows_the_template_tokens(page, screenshot):
    page.goto("/chat?max=12&temperature=0")
    expect(page.locator("#template-tokens .tok.special").first).to_have_text("<|im_start|>")
    page.fill("#input", "What is the capital of France?")
    page.click("#send")
    reply = page.locator(".msg.assistant .rt")
    expect(reply.first).to_be_visible()
    expect(page.locator("#send")).to_be_enabled(timeout=60_000)   # the stream has ended
    assert "Paris" in page.locator(".msg.assistant .msg-body").text_content()
    # The token view holds the template (system, user, assistant markers) and the streamed reply.
    view = page.locator("#template-tokens").text_content()
    for marker in ("<|im_start|>", "system", "user", "assistant", "<|im_end|>"):
        assert marker in view
    # Clicking a reply token shows its alternatives, the drawn one highlighted.
    reply.first.click()
    expect(page.locator("#alts .alt.chosen")).to_have_count(1)
    # The conversation is in the URL.
    conversation = json.loads(parse_qs(urlparse(page.url).query)["c"][0])
    assert [m["role"] for m in conversation] == ["user", "assistant"]
    screenshot("chat")
    page.reload()
    expect(page.locator(".msg.assistant")).to_have_count(1)


def test_stop_ends_the_reply_and_regenerate_draws_again(page):
    page.goto("/chat?max=200&temperature=1&top_k=0&top_p=1")
    page.fill("#input", "Tell me a long story about a dragon.")
    page.click("#send")
    expect(page.locator(".msg.assistant .rt").nth(2)).to_be_visible()
    page.click("#stop")
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator(".msg.assistant .who")).to_contain_text("stopped")
    assert page.locator(".msg.assistant .rt").count() < 200
    page.click("#regenerate")
    expect(page.locator(".msg.assistant .rt").first).to_be_visible()
    page.click("#stop")
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator(".msg.assistant")).to_have_count(1)
    assert parse_qs(urlparse(page.url).query)["seed"] == ["2"]


def test_hostile_text_is_shown_as_typed(page, screenshot):
    hostile = "<img src=x onerror=alert(1)> {{7*7}}"
    page.on("dialog", lambda d: pytest.fail("a dialog opened: text ran as code"))
    page.goto("/chat?max=3&temperature=0")
    page.fill("#input", hostile)
    page.click("#send")
    expect(page.locator("#send")).to_be_enabled(timeout=60_000)
    expect(page.locator(".msg.user .msg-body")).to_have_text(hostile)
    assert page.locator("#messages img").count() == 0
    expect(page.locator("#template-tokens")).to_contain_text("{{7*7}}")  # redrawn when the reply ends
    screenshot("chat-hostile")


def conversation_in_url(page):
    return json.loads(parse_qs(urlparse(page.url).query)["c"][0])


def test_an_emoji_reply_shows_whole_characters_and_keeps_no_pieces(page, screenshot):
    # Greedy, the model answers with bird emoji, three byte-level tokens each; 7 tokens cut the
    # third one off midway. Pieces of a character must never reach the bubble or the conversation.
    page.goto("/chat?max=7&temperature=0")
    page.fill("#input", "Reply with only five emoji of animals")
    page.click("#send")
    expect(page.locator(".msg.assistant .who")).to_contain_text("cut at the longest reply", timeout=60_000)
    expect(page.locator(".msg.assistant .msg-body")).to_have_text("🐦🐦")
    assert conversation_in_url(page)[1]["content"] == "🐦🐦"
    expect(page.locator(".msg.assistant .rt")).to_have_count(2)
    page.locator(".msg.assistant .rt").first.click()
    expect(page.locator("#alts-help")).to_contain_text("“🐦” is 3 tokens")
    expect(page.locator("#alts .alt.chosen")).to_have_count(1)
    screenshot("chat-emoji")
    page.click("#reset")
    expect(page.locator("#alts .alt")).to_have_count(0)
    expect(page.locator("#alts-help")).to_contain_text("Click any piece of a reply")


def test_streamed_pieces_of_a_character_are_labelled_by_their_bytes(page):
    # The chips a reply streams onto the token view are labelled from the token events: a piece of
    # an emoji shows its hex bytes there too, never U+FFFD (the redrawn view is held back here).
    # The redraw after the reply (the first request holding the assistant's turn) never answers.
    page.route("**/api/chat/template",
               lambda route: None if '"assistant"' in (route.request.post_data or "") else route.continue_())
    page.goto("/chat?max=7&temperature=0")
    page.fill("#input", "Reply with only five emoji of animals")
    page.click("#send")
    expect(page.locator(".msg.assistant .who")).to_contain_text("cut at the longest reply", timeout=60_000)
    pieces = page.locator("#template-tokens .tok.legend-reply.partial")
    expect(pieces.first).to_be_visible()
    labels = pieces.all_text_contents()
    assert labels and all("\ufffd" not in label for label in labels), labels
    assert any("F0 9F" in label for label in labels), labels
    page.locator(".msg.assistant .rt").first.click()
    expect(page.locator("#alts-help")).to_contain_text("(shown in hex)")
    expect(page.locator("#alts .alt.chosen .alt-tok")).to_have_text("F0 9F")


def test_a_second_click_while_the_token_view_loads_sends_nothing(page):
    # The token view is fetched before the reply starts; the reply's guard alone left that gap open.
    page.goto("/chat?max=3&temperature=0")
    expect(page.locator("#template-tokens .tok").first).to_be_visible()
    page.route("**/api/chat/template", lambda route: None)  # the token view never answers
    examples = page.locator("#examples button")
    examples.nth(0).click()
    expect(page.locator(".msg.user")).to_have_count(1)
    examples.nth(1).click()
    page.fill("#input", "and this one")
    page.click("#send")
    page.wait_for_timeout(300)
    expect(page.locator(".msg.user")).to_have_count(1)
    expect(page.locator(".msg.user .msg-body")).to_have_text(examples.nth(0).text_content())
    expect(page.locator("#regenerate")).to_be_disabled()


def test_enter_that_picks_an_input_method_candidate_does_not_send(page):
    page.goto("/chat?max=3&temperature=0")
    page.fill("#input", "nihao")
    page.dispatch_event("#input", "keydown", {"key": "Enter", "isComposing": True})
    page.wait_for_timeout(300)
    expect(page.locator(".msg")).to_have_count(0)
    expect(page.locator("#input")).to_have_value("nihao")


def test_a_conversation_over_the_limit_says_to_start_a_new_chat(page):
    long_turn = "Tell me everything about the history of the bicycle, " * 30
    chat = [{"role": "user", "content": long_turn}, {"role": "assistant", "content": long_turn}]
    page.goto("/chat?" + urlencode({"c": json.dumps(chat), "max": 3}))
    expect(page.locator("#template-count")).to_contain_text("of the 512 a prompt may have")
    page.fill("#input", "And then?")
    page.click("#send")
    expect(page.locator("#error")).to_contain_text("start a new chat")
    expect(page.locator("#input")).to_have_value("And then?")   # given back to be sent in a new chat
    expect(page.locator(".msg")).to_have_count(2)


def test_reply_words_look_clickable_and_show_keyboard_focus(page):
    page.goto("/chat?max=3&temperature=0")
    page.fill("#input", "Hi")
    page.click("#send")
    # Not "#send enabled": it still is while the token view is fetched before the reply starts, and
    # a word focused then is replaced as the reply streams.
    expect(page.locator(".msg.assistant .who")).to_contain_text("cut at the longest reply", timeout=60_000)
    word = page.locator(".msg.assistant .rt").first
    style = word.evaluate("e => getComputedStyle(e).textDecorationStyle + ' ' + getComputedStyle(e).textDecorationLine")
    assert style == "dotted underline", style
    word.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    outline = word.evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline == "solid", outline


def test_regenerating_a_greedy_reply_says_why_it_is_the_same(page):
    page.goto("/chat?max=4&temperature=0")
    page.fill("#input", "Hi")
    page.click("#send")
    expect(page.locator(".msg.assistant .who")).to_contain_text("cut at the longest reply", timeout=60_000)
    first = page.locator(".msg.assistant .msg-body").text_content()
    expect(page.locator("#same-reply")).to_be_hidden()
    page.click("#regenerate")
    expect(page.locator(".msg.assistant .who")).to_contain_text("cut at the longest reply", timeout=60_000)
    expect(page.locator(".msg.assistant .msg-body")).to_have_text(first)
    expect(page.locator("#same-reply")).to_contain_text("at temperature 0 the model always takes the most probable")
    expect(page.locator("#same-reply")).to_contain_text("seed 2")
    page.click("#reset")
    expect(page.locator("#same-reply")).to_be_hidden()


def redraw_the_same_reply(page, url):
    """Ask the default question at `url`'s settings, draw the reply again, check it came out the same;
    the redrawn reply's streamed events."""
    page.goto(url)
    page.fill("#input", "What is the capital of France?")
    page.click("#send")
    expect(page.locator(".msg.assistant .who")).to_contain_text("cut at the longest reply", timeout=60_000)
    first = page.locator(".msg.assistant .msg-body").text_content()
    with page.expect_response("**/api/generate") as answer:
        page.click("#regenerate")
    expect(page.locator(".msg.assistant .who")).to_contain_text("cut at the longest reply", timeout=60_000)
    expect(page.locator(".msg.assistant .msg-body")).to_have_text(first)
    return [json.loads(line[6:]) for line in answer.value.text().splitlines() if line.startswith("data: ")]


def test_regenerating_at_low_temperature_gives_the_chance_of_the_same_reply(page):
    # At temperature 0.05 the favourite at each step keeps nearly all the chance: the redrawn reply
    # is the same, and the note gives the product of the tokens' draw chances the server sent.
    events = redraw_the_same_reply(page, "/chat?max=4&temperature=0.05")
    chance = 1.0
    tokens = [e for e in events if "alternatives" in e]
    for t in tokens:
        chance *= next(a["sample_probability"] for a in t["alternatives"] if a["id"] == t["id"])
    note = page.locator("#same-reply")
    expect(note).to_contain_text(f"these {len(tokens)} tokens had a")
    shown = float(note.text_content().split(" tokens had a ")[1].split("%")[0].lstrip("<>"))
    assert abs(shown - chance * 100) <= max(0.1, chance * 100 * 0.01), (shown, chance)


def test_regenerating_when_top_p_leaves_one_token_says_so_not_that_the_temperature_sharpened(page):
    # At temperature 1.5 the odds are flattened, not sharpened: the reply comes out the same because
    # top-p 0.05 leaves only the favourite at every step (every draw chance the server sent is 1).
    events = redraw_the_same_reply(page, "/chat?max=4&temperature=1.5&top_p=0.05")
    chances = [next(a["sample_probability"] for a in e["alternatives"] if a["id"] == e["id"])
               for e in events if "alternatives" in e]
    assert chances and all(c == 1 for c in chances), chances
    note = page.locator("#same-reply")
    expect(note).to_contain_text("top-p 0.05 left only the most probable token at every step")
    expect(note).not_to_contain_text("surer")


def test_a_busy_server_takes_the_redrawn_reply_away_and_says_so(busy_page):
    page = busy_page
    page.goto("/chat?max=4&temperature=0")
    page.fill("#input", "Hi")
    page.click("#send")
    expect(page.locator(".msg.assistant .who")).to_contain_text("cut at the longest reply", timeout=60_000)
    page.locator(".msg.assistant .rt").first.click()
    expect(page.locator("#alts .alt.chosen")).to_have_count(1)
    route_busy(page, "**/api/generate")
    # The reply drawn again fails: the earlier reply and its alternatives are gone, not left beside the error.
    assert_failure_hides(page, [".msg.assistant", "#alts .alt"], lambda: page.click("#regenerate"), "#error")
    expect(page.locator("#error")).to_contain_text("busy")
    expect(page.locator("#same-reply")).to_be_hidden()
    # The token view, failing too, is hidden rather than left showing the conversation before.
    route_busy(page, "**/api/chat/template")
    expect(page.locator("#template-tokens .tok").first).to_be_visible()
    page.click("#reset")
    expect(page.locator("#template-tokens")).to_be_hidden()
    expect(page.locator("#template-count")).to_be_hidden()


def test_chat_fits_a_phone_and_says_tap(phone_page):
    page = phone_page
    page.goto("/chat?max=4&temperature=0")
    expect(page.locator("#template-tokens .tok.special").first).to_have_text("<|im_start|>")
    expect(page.locator("#alts-help")).to_contain_text("Tap any piece of a reply")
    page.fill("#input", "Hi")
    page.click("#send")
    expect(page.locator(".msg.assistant .who")).to_contain_text("cut at the longest reply", timeout=60_000)
    page.locator(".msg.assistant .rt").first.tap()
    expect(page.locator("#alts .alt.chosen")).to_have_count(1)
    assert_fits_phone(page)
    # The widest label chat.js's pct writes, '<0.0001%', stays in the probability column, in a plain
    # row and in a greyed (italic) one: at 4rem (64 px) it ran 12 px past it, to the panel's border.
    spill = page.evaluate("""() => [false, true].map((blocked) => {
        const row = document.querySelector('#alts .alt'), p = row.querySelector('.alt-p');
        row.classList.toggle('blocked', blocked);
        p.textContent = '<0.0001%';
        return p.scrollWidth - p.clientWidth; })""")
    assert max(spill) <= 0, f"'<0.0001%' is wider than its column by {max(spill)} px (plain, greyed)"


def test_chat_has_no_serious_accessibility_violation(page):
    page.goto("/chat?max=4&temperature=0")
    page.fill("#input", "Hi")
    page.click("#send")
    expect(page.locator(".msg.assistant .who")).to_contain_text("cut at the longest reply", timeout=60_000)
    page.locator(".msg.assistant .rt").first.click()
    expect(page.locator("#alts .alt.chosen")).to_have_count(1)
    violations = axe_violations(page)
    assert violations == [], "\n".join(violations)
