"""The tour at /: every chapter linked in story order, the follow-one-prompt journey, live
examples whose captions come from the model, progress ticks, hostile text shown as text."""

import re
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from app.routers.pages import CHAPTERS

pytestmark = pytest.mark.browser

CHAPTER_PATHS = [c.path for c in CHAPTERS]


def wait_for_journey(page, text_in_bars: str | None = None):
    page.wait_for_selector("#j-tokens .tok")
    page.wait_for_selector("#j-bars .main-svg")
    page.wait_for_selector("#j-attention .main-svg")
    page.wait_for_function("() => !document.querySelector('.journey-grid').classList.contains('busy')")
    if text_in_bars:
        page.wait_for_function("(t) => document.querySelector('#predict-explain').textContent.includes(t)",
                               arg=text_in_bars)


def test_tour_links_every_chapter_in_story_order(page):
    page.goto("/")
    opens = page.locator("#story .chapter .chapter-open")
    assert [opens.nth(i).get_attribute("href") for i in range(opens.count())] == CHAPTER_PATHS
    steps = page.locator("#progress-steps a")
    assert [steps.nth(i).get_attribute("href") for i in range(steps.count())] == CHAPTER_PATHS
    titles = page.locator("#story .chapter h3").all_text_contents()
    assert titles == [c.title for c in CHAPTERS]


def test_journey_shows_one_prompt_four_ways_and_links_each_chapter(page, screenshot):
    page.goto("/")
    wait_for_journey(page, "Paris")
    assert page.locator("#prompt").input_value() == "The capital of France is"
    chips = page.locator("#j-tokens .tok").all_text_contents()
    assert chips == ["The", "␣capital", "␣of", "␣France", "␣is"]
    # The numbers in the text come from the model: " Paris" first, p = 0.77.
    assert re.search(r"“␣Paris” comes first with probability 0\.77", page.locator("#predict-explain").text_content())
    # Layer 23, head 4 puts most of the last token's attention on " France".
    attention = page.locator("#attention-explain").text_content()
    assert "Layer 23, head 4" in attention and "on “␣France”" in attention
    assert "shares its keys and values with heads 3 and 5" in attention
    page.wait_for_selector("#j-points .main-svg")
    assert page.locator("#j-points g.textpoint").count() == 5

    links = {name: urlparse(page.locator(f"#link-{name}").get_attribute("href"))
             for name in ("tokens", "points", "attention", "predict")}
    assert links["tokens"].path == "/tokens" and parse_qs(links["tokens"].query)["text"] == ["The capital of France is"]
    assert links["predict"].path == "/predict" and parse_qs(links["predict"].query)["text"] == ["The capital of France is"]
    assert links["attention"].path == "/attention"
    assert parse_qs(links["attention"].query) == {"text": ["The capital of France is"], "layer": ["23"], "head": ["4"]}
    assert links["points"].path == "/embeddings"
    assert parse_qs(links["points"].query, keep_blank_values=True) == {"sets": [""], "words": ["The,capital,of,France,is"]}
    screenshot("tour")


def test_journey_state_lives_in_the_url_and_a_bar_click_appends_the_token(page):
    page.goto("/?text=The%20opposite%20of%20hot%20is&layer=2&head=1")
    wait_for_journey(page)
    assert page.locator("#j-layer").input_value() == "2"
    assert page.locator("#j-head").input_value() == "1"
    best = page.locator("#predict-explain strong").first.text_content().strip("“”").replace("␣", " ")
    page.locator("#j-bars .bars .point path").last.click(force=True)  # the top bar is drawn last
    page.wait_for_function("(t) => document.querySelector('#prompt').value === t", arg="The opposite of hot is" + best)
    wait_for_journey(page)
    assert parse_qs(urlparse(page.url).query)["text"] == ["The opposite of hot is" + best]

    page.select_option("#j-layer", "5")
    page.wait_for_function("() => document.querySelector('#attention-explain').textContent.includes('Layer 5,')")
    assert parse_qs(urlparse(page.url).query)["layer"] == ["5"]
    page.reload()
    wait_for_journey(page)
    assert page.locator("#j-layer").input_value() == "5"
    assert page.locator("#prompt").input_value() == "The opposite of hot is" + best


def test_every_chapter_example_computes_its_caption_from_the_model(page, screenshot):
    page.goto("/")
    captions = {"network": "#net-caption", "tokens": "#tok-caption", "embeddings": "#emb-caption",
                "attention": "#bank-caption", "predict": "#paris-caption", "chat": "#chat-caption"}
    for slug, selector in captions.items():
        page.locator(f"#chapter-{slug}").scroll_into_view_if_needed()
        page.wait_for_function("(s) => !/…$/.test(document.querySelector(s).textContent.trim())", arg=selector)
        assert "could not be computed" not in page.locator(selector).text_content(), slug
    assert "noisy drawings it never trained on" in page.locator("#net-caption").text_content()
    assert page.locator("#net-symbols .symbol").count() == 4
    assert "one per digit" in page.locator("#tok-caption").text_content()
    assert "kitten" in page.locator("#emb-analogy").text_content()
    # Its control is chapter 3's, matched to the answer, the numbers the API's (it said 'a word picked at random'
    # and a typed '2,000' while the API sent the matched control).
    o = page.request.post(page.url.rstrip("/") + "/api/embeddings/analogy",
                          data={"a": "puppy", "b": "dog", "c": "cat"}).json()["offsets"]
    analogy = page.locator("#emb-analogy").text_content()
    assert o["random_beaten"] == 1 and "picked at random" not in analogy
    assert (f"so even cat → a word-like token about as common as kitten and with a vector about as long scores "
            f"{o['random_cosine']:.2f} on average; cat → kitten still beats each of {o['random_count']:,} such "
            "tokens.") in analogy
    assert "0 means unrelated" not in page.locator("#emb-caption").text_content()
    # The bank card is the attention page's fair sense test; its numbers are the API's.
    from tests.claims.senses_rules import EXAMPLES, gaps, swapped
    bank = EXAMPLES[0]
    url = page.url.rstrip("/") + "/api/attention/senses"
    word = page.request.post(url, data={"word": bank["word"], "groups": bank["groups"]}).json()
    control = page.request.post(url, data={"word": bank["control"], "groups": swapped(bank)}).json()
    g, gc = gaps(word), gaps(control)
    d = max(range(1, len(g)), key=lambda k: g[k] - gc[k])
    caption = page.locator("#bank-caption").text_content()
    assert (f"After {d} layers, two banks of the same sense have an average cosine of {word['layers'][d]['within']:.2f}; "
            f"a river bank and a money bank {word['layers'][d]['across']:.2f}.") in caption
    assert f"give {control['layers'][d]['within']:.2f} and {control['layers'][d]['across']:.2f}" in caption
    assert "“␣Paris” a probability of 0.77" in page.locator("#paris-caption").text_content()
    assert page.locator("#chat-example .tok.special").count() == 5
    # The model card reads its numbers from /api/model.
    facts = dict(zip(page.locator("#facts dt").all_text_contents(), page.locator("#facts dd").all_text_contents()))
    assert facts["Layers"] == "30" and facts["Query heads per layer"] == "9"
    assert facts["Key/value heads per layer"] == "3" and facts["Vocabulary"] == "49,152"
    screenshot("tour-full")



@pytest.mark.parametrize("added", [True, False])
def test_the_chat_card_says_the_template_added_a_system_message_from_the_tokens_added_turn(page, added):
    """Chapter 6's card said 'including a default system message' when the rendered text opened with
    '<|im_start|>system', a guess from the text; POST /api/chat/template says it per token (`added_turn`). SmolLM2
    adds one to a chat without a system message; the answer routed with every `added_turn` false (the text
    unchanged) must not say so."""
    def answer(route):
        response = route.fetch()
        body = response.json()
        assert body["text"].startswith("<|im_start|>system") and any(t["added_turn"] for t in body["tokens"])
        if not added:
            for t in body["tokens"]:
                t["added_turn"] = False
        route.fulfill(response=response, json=body)

    page.route("**/api/chat/template", answer)
    page.goto("/")
    page.locator("#chapter-chat").scroll_into_view_if_needed()
    page.wait_for_function("() => /tokens/.test(document.querySelector('#chat-caption').textContent)")
    caption = page.locator("#chat-caption").text_content()
    assert ("Grey tokens were added by the model's own chat template, including a default system message; "
            in caption) == added, caption

def test_progress_ticks_the_chapters_visited(page):
    from app.routers.pages import CHAPTERS

    total = len(CHAPTERS)  # the spine and its deep dives
    page.goto("/")
    assert page.locator("#progress-count").text_content() == f"0 of {total}"
    page.locator("#chapter-tokens .chapter-open").click()
    page.wait_for_url("**/tokens")
    page.goto("/")
    assert page.locator("#progress-count").text_content() == f"1 of {total}"
    assert page.locator("#progress-steps li.visited").count() == 1
    assert page.locator("#chapter-tokens.visited").count() == 1
    page.locator("#progress-reset").click()
    assert page.locator("#progress-count").text_content() == f"0 of {total}"


@pytest.mark.parametrize("hostile", ["<img src=x onerror=alert(1)>", "{{7*7}} <b>bold</b>"])
def test_hostile_prompt_shows_as_typed_text(page, hostile):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto("/")
    wait_for_journey(page)
    page.fill("#prompt", hostile)
    page.wait_for_function("(t) => [...document.querySelectorAll('#j-tokens .tok')].map(c => c.textContent)"
                           ".join('').replaceAll('␣', ' ') === t", arg=hostile)
    wait_for_journey(page)
    assert page.locator("#journey img, #journey b").count() == 0
    assert "49" not in page.locator("#j-tokens").text_content()
    assert not dialogs


def test_empty_prompt_explains_instead_of_failing(page):
    page.goto("/?text=")
    page.wait_for_selector("#j-bars .empty-view")
    assert "at least one token" in page.locator("#j-bars").text_content()
    assert page.locator("#error").text_content() == ""


def test_emptying_the_prompt_drops_the_explanations_of_the_previous_one(page):
    page.goto("/")
    wait_for_journey(page, "Paris")
    page.fill("#prompt", "")
    page.wait_for_selector("#j-bars .empty-view")
    for selector in ("#predict-explain", "#attention-explain", "#points-explain"):
        text = page.locator(selector).text_content()
        assert "Paris" not in text and "France" not in text, (selector, text)
    assert "one for each of its 49,152 tokens" in page.locator("#predict-explain").text_content()


def test_a_prompt_the_model_refuses_clears_the_pictures_of_the_previous_one(page):
    page.goto("/")
    wait_for_journey(page, "Paris")
    page.fill("#prompt", "1234567890" * 60)  # one token per digit: 600 tokens, over the 512 limit
    page.wait_for_function("() => document.querySelector('#error').textContent.includes('512')")
    for view in ("#j-bars", "#j-attention", "#j-points"):
        assert page.locator(f"{view} .main-svg").count() == 0, view
        assert "see the message above" in page.locator(view).text_content()
    assert "France" not in page.locator("#attention-explain").text_content()
    assert "Paris" not in page.locator("#predict-explain").text_content()


def test_a_long_paste_is_kept_whole_and_the_limit_explained(page):
    """The box does not cut a paste short without a word: the server's limit message says why."""
    page.goto("/")
    wait_for_journey(page, "Paris")
    page.fill("#prompt", "word " * 600)  # 3000 characters, 600 tokens
    page.wait_for_function("() => document.querySelector('#error').textContent.includes('512')")
    assert len(page.locator("#prompt").input_value()) == 3000


def test_a_word_too_long_for_the_map_is_left_out_not_cut(page):
    long_word = "pneumonoultramicroscopicsilicovolcanoconiosis"  # 45 characters; the map takes 40
    page.goto("/?text=" + "Supercalifragilisticexpialidocious antidisestablishmentarianism " + long_word + " is a word")
    wait_for_journey(page)
    page.wait_for_selector("#j-points .main-svg")
    labels = page.locator("#j-points g.textpoint").all_text_contents()
    # Long labels end in … (whole in the hover); a word after a space is looked up, and shown, with it.
    assert labels == ["Supercalifrag…", "␣antidisestab…", "␣is", "␣a", "␣word"]
    assert "One word is left out" in page.locator("#points-explain").text_content()
    words = parse_qs(urlparse(page.locator("#link-points").get_attribute("href")).query)["words"][0].split(",")
    assert long_word not in words and long_word[:40] not in words
    assert "Supercalifragilisticexpialidocious" in words


def test_a_bar_that_is_a_piece_of_a_character_is_labelled_by_its_bytes_and_sent_back_by_id(page, screenshot):
    """After 我爱你 the model's favourite next token is a piece of a character (its text is "�").
    Its bar reads as bytes, and clicking it appends the token itself: the next requests send its id
    (append_ids), the box never gets "�", and the bytes waiting for the rest of the character show."""
    page.goto("/?text=" + "我爱你")
    wait_for_journey(page)
    ticks = page.locator("#j-bars .ytick text").all_text_contents()
    assert ticks and not any("\ufffd" in t for t in ticks), ticks
    best = page.locator("#predict-explain strong").first.text_content().strip("“”")
    assert re.fullmatch(r"[0-9A-F]{2}( [0-9A-F]{2})*", best), best   # the top token is a piece: shown as hex
    with page.expect_request(lambda r: r.url.endswith("/api/predict") and r.method == "POST") as sent:
        page.locator("#j-bars .bars .point path").last.click(force=True)  # the top bar is drawn last
    body = sent.value.post_data_json
    assert body["text"] == "我爱你" and len(body["append_ids"]) == 1
    wait_for_journey(page)
    assert "\ufffd" not in page.locator("#prompt").input_value()
    query = parse_qs(urlparse(page.url).query)
    assert query["ids"] == [str(body["append_ids"][0])] and query["from"] == ["3"]
    chips = page.locator("#j-tokens .tok")
    assert "partial" in chips.last.get_attribute("class") and "\ufffd" not in chips.last.text_content()
    assert page.locator("#picked").is_visible()
    assert page.locator("#picked-bytes .tok").text_content().replace(" ", "") == best.replace(" ", "")
    # The attention view read the same tokens: its last row is the picked piece, labelled by bytes.
    assert "\ufffd" not in page.locator("#attention-explain").text_content()
    screenshot("tour-picked-bytes")
    # A reload keeps the picked token (by id), and "remove" goes back to the text alone.
    page.reload()
    wait_for_journey(page)
    assert page.locator("#picked").is_visible()
    page.locator("#picked-clear").click()
    wait_for_journey(page)
    assert page.locator("#prompt").input_value() == "我爱你"
    assert "ids" not in parse_qs(urlparse(page.url).query) and page.locator("#picked").is_hidden()


def test_tour_fits_a_phone_and_says_tap(phone_page):
    from tests.browser.checks import assert_fits_phone

    phone_page.goto("/")
    wait_for_journey(phone_page, "Paris")
    phone_page.wait_for_selector("#j-points .main-svg")
    for slug in ("network", "attention", "predict"):       # the chapter examples with charts
        phone_page.locator(f"#chapter-{slug}").scroll_into_view_if_needed()
    for selector in ("#net-loss", "#bank-plot", "#paris-bars"):
        phone_page.wait_for_selector(f"{selector} .main-svg")
    assert_fits_phone(phone_page)
    assert "Tap a bar" in phone_page.locator("#predict-explain").text_content()
    assert "Tap a token" in phone_page.locator("#tokens-explain").text_content()
    assert "hover" not in phone_page.locator("#journey").inner_text().lower()
    assert "click" not in phone_page.locator("#journey").inner_text().lower()
    phone_page.locator("#j-tokens .tok").nth(1).tap()
    assert "id 3575" in phone_page.locator("#j-token-info").text_content()
    phone_page.locator("#chapter-tokens").scroll_into_view_if_needed()
    phone_page.wait_for_selector("#tok-example .tok")
    assert "Tap a token for its id" in phone_page.locator("#tok-caption").text_content()
    piece = phone_page.locator("#tok-example .tok.partial").first
    piece.tap()
    info = phone_page.locator("#tok-info").text_content()
    # The bytes read as the chip shows them (upper-case hex), the id is the chip's own.
    assert "a piece of a character (bytes 20 F0 9F)" in info and piece.text_content() in info, info


def test_tour_has_no_serious_accessibility_violation_and_charts_have_text(page):
    from tests.browser.checks import axe_violations

    page.goto("/")
    wait_for_journey(page, "Paris")
    page.wait_for_selector("#j-points .main-svg")
    assert axe_violations(page) == []
    # The heatmap's text equivalent names its strongest cells, read from the answer.
    described = page.locator("#j-attention").get_attribute("aria-describedby")
    assert "looks at #3 ␣France" in page.locator(f"#{described}").text_content()
    bars = page.locator("#j-bars").get_attribute("aria-describedby")
    assert page.locator(f"#{bars}").text_content().startswith("Most probable next tokens: ␣Paris 77%")
    # What a click on a bar does, the keyboard does too: the bars' buttons show when one has the focus.
    first = page.locator("#j-bars-choices button").first
    first.focus()
    assert first.is_visible() and first.text_content() == "Append ␣Paris (77%)"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#prompt').value === 'The capital of France is Paris'")


def test_a_long_texts_heatmap_caption_names_positions_in_the_text(page):
    # Over 40 tokens only the last 40 are drawn: the caption still numbers tokens by their place in
    # the text (as the chapter's explanation does), and each cell it names has the weight it says.
    text = ("The quick brown fox jumps over the lazy dog. " * 6).strip()
    page.goto("/?" + urlencode({"text": text}))
    wait_for_journey(page)
    answer = page.request.post("/api/attention", data={"text": text, "layer": 23, "head": 4}).json()
    n = len(answer["tokens"])
    assert n > 40
    caption = page.locator("#j-attention-text").text_content()
    assert f"the last 40 of {n} tokens" in caption, caption
    named = re.findall(r"#(\d+) \S+ looks at #(\d+) \S+ \(([\d.]+)%\)", caption)
    assert len(named) == 3, caption
    for i, j, shown in named:
        i, j = int(i), int(j)
        assert n - 40 <= j <= i < n
        assert abs(answer["weights"][i][j] * 100 - float(shown)) < 0.06 * max(1.0, float(shown)), (i, j, shown)


def test_the_heatmap_caption_leaves_out_the_first_token_looking_at_itself(page):
    # The first token can only look at itself (100%): naming it says nothing about the head. The
    # caption names the three strongest cells of the other rows, with the weights the API sends.
    page.goto("/")
    wait_for_journey(page, "Paris")
    text = page.locator("#prompt").input_value()
    layer, head = int(page.locator("#j-layer").input_value()), int(page.locator("#j-head").input_value())
    answer = page.request.post("/api/attention", data={"text": text, "layer": layer, "head": head}).json()
    weights = answer["weights"]
    caption = page.locator("#j-attention-text").text_content()
    assert "Strongest after the first token:" in caption, caption
    named = [(int(i), int(j)) for i, j, _ in re.findall(r"#(\d+) \S+ looks at #(\d+) \S+ \(([\d.]+)%\)", caption)]
    cells = sorted(((weights[i][j], i, j) for i in range(1, len(weights)) for j in range(i + 1)), reverse=True)
    assert named == [(i, j) for _, i, j in cells[:3]], caption


def test_a_busy_server_hides_the_pictures_of_the_previous_text(busy_page):
    from tests.browser.checks import assert_failure_hides

    page = busy_page
    page.goto("/")
    wait_for_journey(page, "Paris")
    page.wait_for_selector("#j-points .main-svg")

    def busy():
        # The model is busy (503 with its code) for the next text: nothing of the previous one may stay.
        page.route("**/api/predict", lambda route: route.fulfill(
            status=503, content_type="application/json", headers={"Retry-After": "1"},
            body='{"detail": "The server is busy; try again in a moment.", "code": "busy"}'))
        page.fill("#prompt", "The capital of Italy is")

    assert_failure_hides(page, ["#j-bars .main-svg", "#j-attention .main-svg", "#j-points .main-svg"],
                         act=busy, error="#error")
    assert "France" not in page.locator("#attention-explain").text_content()
    assert "busy" in page.locator("#error").text_content()
