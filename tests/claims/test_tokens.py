"""Claims of chapter 2 (/tokens) about SmolLM2's tokenizer, and the trailing-space demo."""

from __future__ import annotations

import pytest


def shown(engine, text: str) -> list[str]:
    return [engine.tokenizer.describe(i).display for i in engine.tokenizer.encode(text)]


def test_a_space_usually_joins_the_next_word_but_not_a_digit(smollm2):
    """'A space usually belongs to the next word … Not before a digit: digits are always cut alone, so
    the space stays a token of its own'; '“In 1969” is In|␣|1|9|6|9'."""
    assert shown(smollm2, "In 1969") == ["In", "␣", "1", "9", "6", "9"]
    assert shown(smollm2, "I saw the cat") == ["I", "␣saw", "␣the", "␣cat"]
    for d in "0123456789":
        assert shown(smollm2, f"is {d}") == ["is", "␣", d]
    # 'a digit never takes a space' (the tour's tokens caption): no token holds a digit after other text.
    tk = smollm2.tokenizer
    texts = (tk.describe(i).text for i in range(tk.vocab_size) if i not in tk.special_ids)
    assert not [t for t in texts if any(c.isdigit() for c in t[1:]) or (t[:1].isspace() and t[1:2].isdigit())]


def test_the_lone_space_at_the_end_of_a_prompt_is_the_same_token(smollm2):
    """'a space typed at the end of a prompt … becomes a token of its own, “␣”. That lone space is the
    token this tokenizer makes before a digit'."""
    tk = smollm2.tokenizer
    end = tk.encode("The capital of France is ")[-1]
    assert tk.describe(end).display == "␣"
    assert tk.encode("In 1969")[1] == end


def test_numbers_go_digit_by_digit(smollm2):
    """'cuts every number into single digits, so 2025 is four tokens'; '384400 is six tokens'."""
    assert shown(smollm2, "2025") == list("2025")
    assert shown(smollm2, "384400") == list("384400")
    tk = smollm2.tokenizer
    for number in ("7", "42", "3.14159", "1,000,000", "20250101"):
        for i in tk.encode(number):
            text = tk.describe(i).text
            assert not any(c.isdigit() for c in text) or len(text) == 1, (number, text)


def test_almost_every_byte_has_a_token_and_the_rest_are_dropped(smollm2):
    """'Almost every byte has one: the few that do not are rare control characters and bytes of
    characters Unicode has not assigned, and those the tokenizer drops without a trace'."""
    import unicodedata

    tk = smollm2.tokenizer
    single = {tk.token_bytes(i) for i in range(tk.vocab_size) if i not in tk.special_ids
              and len(tk.token_bytes(i)) == 1}
    missing = [b for b in range(256) if bytes([b]) not in single]
    assert 0 < len(missing) < 32
    for b in missing:
        if b < 0x80:
            assert unicodedata.category(chr(b)) == "Cc", hex(b)       # a control character
            assert tk.decode(tk.encode(f"a{chr(b)}b")) == "ab"          # dropped without a trace
        elif b in (0xC0, 0xC1) or b >= 0xF5:
            pass                                                      # never appears in UTF-8
        else:
            # a lead byte of 4-byte characters U+40000..U+BFFFF (planes 4-11): none is assigned
            assert b in (0xF1, 0xF2), hex(b)
            first = ((b & 0x07) << 18)
            assert all(unicodedata.category(chr(first + k)) == "Cn" for k in range(0, 0x40000, 0x1000))


def test_the_example_notes(smollm2):
    """The examples' notes: 'Hello' one token, 안녕하세요 14 tokens; an emoji is 4 bytes; '␣🙂' has a token of
    its own; 👩‍👩‍👧 is three emoji and joiners, 18 bytes; '␣return' is one token; common words one token."""
    tk = smollm2.tokenizer
    assert len(tk.encode("Hello")) == 1
    assert len(tk.encode("안녕하세요")) == 14
    assert len("🍕".encode()) == 4
    assert len(tk.encode(" 🙂")) == 1
    assert len(tk.encode("🍕")) > 1
    family = "👩‍👩‍👧"
    assert len(family.encode()) == 18 and sum(ch == "\u200d" for ch in family) == 2
    assert len(tk.encode(" return")) == 1
    for word in ("the", "house"):
        assert len(tk.encode(word)) == 1
    assert len(tk.encode("antidisestablishmentarianism")) > 1
    assert tk.encode(" the") != tk.encode("the") and tk.encode("The") != tk.encode(" The")


def test_the_code_and_the_look_alike_examples(smollm2):
    """Code: 'a new line and the spaces after it become one token, all but the last space, which joins the
    next word'; “␣the” versus “the”: 'Four tokens that look alike, four different ids'."""
    code = shown(smollm2, "def greet(name):\n    if name:\n        return None")
    assert "⏎␣␣␣" in code and code[code.index("⏎␣␣␣") + 1] == "␣if"
    assert "⏎␣␣␣␣␣␣␣" in code and code[code.index("⏎␣␣␣␣␣␣␣") + 1] == "␣return"
    ids = smollm2.tokenizer.encode("the\n the\nThe\n The")
    words = [i for i in ids if smollm2.tokenizer.describe(i).text.strip()]
    assert len(words) == 4 and len(set(words)) == 4


def test_chat_special_tokens_and_the_default_system_message(smollm2):
    """'<|im_start|> is id 1 and <|im_end|> is id 2'; 'No system message? SmolLM2's template then writes
    its own default one (“You are a helpful AI assistant named SmolLM…”)'."""
    tk = smollm2.tokenizer
    assert tk.encode("<|im_start|>") == [1] and tk.encode("<|im_end|>") == [2]
    from model.token_views import render_chat

    chat = render_chat(tk, [{"role": "user", "content": "Hi"}], True)
    text = "".join(t.token.text for t in chat.tokens)
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert text.endswith("<|im_start|>assistant\n")


def test_a_variation_selector_gets_a_visible_stand_in(smollm2):
    """U+FE0F alone is a token (after ☀ or ❤ in 'emoji presentation'); its display is not empty."""
    tk = smollm2.tokenizer
    ids = tk.encode("☀️")
    selector = [i for i in ids if tk.token_bytes(i) == "\ufe0f".encode()]
    assert selector, "U+FE0F is a token of its own here"
    assert tk.describe(selector[0]).display == "⟨U+FE0F⟩"


def test_decoding_ids_that_stop_inside_a_character_is_not_the_same_text(real_client):
    """The decode note says 'Not the same text' when ids end inside a character (their bytes became
    U+FFFD), and 'Same text, different cut' only when the bytes are the same."""
    half = real_client.post("/api/detokenize", json={"ids": [173, 247]}).json()  # 2 of ❤'s 3 bytes
    assert half["exact"] is False and half["canonical"] is False and "\ufffd" in half["text"]
    ids = real_client.post("/api/tokenize", json={"text": "T"}).json()["tokens"][0]["id"], \
        real_client.post("/api/tokenize", json={"text": "he"}).json()["tokens"][0]["id"]
    cut = real_client.post("/api/detokenize", json={"ids": list(ids)}).json()
    assert cut["text"] == "The" and cut["exact"] is True and cut["canonical"] is False
    whole = real_client.post("/api/detokenize", json={"ids": [173, 247, 114]}).json()
    assert whole["exact"] is True and whole["text"] == "❤"


def test_a_trailing_space_makes_the_model_expect_a_digit(smollm2, real_client):
    """The demo's finding, pinned so a change of model or tokenizer is noticed: without the space
    '␣Paris' comes first; with it a digit does, and digits take most of the probability."""
    plain = real_client.post("/api/predict", json={"text": "The capital of France is", "n_predictions": 20}).json()
    spaced = real_client.post("/api/predict", json={"text": "The capital of France is ", "n_predictions": 20,
                                                    "guess": "Paris"}).json()
    assert plain["predictions"][0]["text"] == " Paris"
    assert spaced["predictions"][0]["text"].isdigit() and len(spaced["predictions"][0]["text"]) == 1
    digits = sum(p["probability"] for p in spaced["predictions"] if p["text"] in "0123456789" and p["text"])
    assert digits > 0.5
    assert spaced["guess"]["rank"] > 5


@pytest.mark.browser
def test_the_space_demo_shows_the_models_numbers(page):
    page.goto("/tokens")
    page.click("#space-run")
    page.wait_for_selector("#space-result .space-col")
    spaced = page.evaluate("""() => fetch('/api/predict', {method: 'POST', headers: {'content-type':
      'application/json'}, body: JSON.stringify({text: 'The capital of France is ', n_predictions: 20, temperature: 1,
      top_k: 0, top_p: 1, guess: 'Paris'})}).then((r) => r.json())""")
    text = page.locator("#space-result").inner_text()
    best = spaced["predictions"][0]
    assert f"“{best['display']}” comes first" in text
    assert f"is only #{spaced['guess']['rank']:,}" in text
    chips = page.locator("#space-result .space-col").nth(1).locator(".space-title .tok").inner_text()
    assert chips == "␣"


@pytest.mark.browser
def test_a_variation_selector_chip_is_not_empty(page):
    page.goto("/tokens?text=%E2%98%80%EF%B8%8F")
    page.wait_for_selector("#chips .tok")
    texts = page.locator("#chips .tok").all_inner_texts()
    assert all(t.strip() for t in texts), texts
    assert any("U+FE0F" in t for t in texts)


def test_each_emoji_of_the_example_is_4_bytes_but_not_every_emoji(smollm2):
    """The emoji note said 'An emoji is 4 bytes of UTF-8': ❤ (U+2764) and ☀ (U+2600) are 3. It now says
    'Each emoji here is 4 bytes of UTF-8 (some, such as ❤, are 3)'."""
    example = "I love 🍕! 👍🏽 👩‍👩‍👧"
    emoji = [ch for ch in example if ord(ch) > 0x2000 and ch != "\u200d"]
    assert emoji and all(len(ch.encode()) == 4 for ch in emoji)
    assert len("❤".encode()) == 3 and len("☀".encode()) == 3


@pytest.mark.parametrize("text", ["Once upon a time, there was a", "My favourite colour is",
                                  "She opened the door and", "The opposite of hot is", "The cat sat on the"])
def test_the_trailing_space_means_a_digit_in_unrelated_prompts_too(smollm2, text):
    """The demo's reading survives a control: it is the lone '␣' (the token made before a digit), not the
    France prompt, that makes the model expect a digit. Measured on prompts no number fits: digits take
    0.79-0.98 of the probability with the trailing space, under 0.01 without."""
    import torch

    tk = smollm2.tokenizer
    digits = [tk.encode(d)[0] for d in "0123456789"]

    def share(t):
        return float(torch.softmax(smollm2.analysis(smollm2.prompt(t)).next_logits.float(), -1)[digits].sum())

    assert tk.describe(tk.encode(text + " ")[-1]).display == "␣"
    assert share(text) < 0.01
    assert share(text + " ") > 0.5


def test_one_emoji_in_the_vocabulary_has_a_token_of_its_own(smollm2):
    """The emoji note said 'Only the commonest have a token of their own (try “␣🙂”)'; measured: one token of all
    49,152 holds an emoji (U+2600-27BF, U+2B00-2BFF, U+1F000-1FAFF), '␣🙂', and '🙂' alone is two tokens."""
    tk = smollm2.tokenizer

    def emoji(c):
        return 0x2600 <= ord(c) <= 0x27BF or 0x2B00 <= ord(c) <= 0x2BFF or 0x1F000 <= ord(c) <= 0x1FAFF

    holding = [tk.describe(i).text for i in range(tk.vocab_size)
               if i not in tk.special_ids and any(emoji(c) for c in tk.describe(i).text)]
    assert holding == [" 🙂"]
    assert len(tk.encode("🙂")) == 2


# --- review of the byte-level claims, the emoji note, the prompt limit and the chat inspector ---------


def _emoji_code_points():
    import unicodedata

    ranges = (range(0x2600, 0x27C0), range(0x2B00, 0x2C00), range(0x1F000, 0x1FB00))
    return [chr(c) for r in ranges for c in r if unicodedata.category(chr(c)) != "Cn"]


def test_a_character_without_a_token_is_spelled_with_pieces_of_its_bytes(smollm2):
    """'What to notice' said 'A character with no token of its own is spelled with single-byte tokens'; the page's
    own 🍕 is F0 9F | 8D | 95, a two-byte piece and two single bytes (so are 😀, こ, 한 ...: one in ten of the
    assigned characters below U+30000 with no token uses a piece of two or more bytes). It now says 'tokens that
    hold pieces of its bytes, down to single bytes'."""
    import unicodedata

    tk = smollm2.tokenizer
    assert [tk.token_bytes(i) for i in tk.encode("🍕")] == [b"\xf0\x9f", b"\x8d", b"\x95"]
    pieces = []
    for cp in range(0x80, 0x30000, 7):  # a sample of every seventh code point
        ch = chr(cp)
        if unicodedata.category(ch) in ("Cn", "Cs", "Co"):
            continue
        ids = tk.encode(ch)
        if len(ids) > 1:
            assert all(tk.describe(i).partial for i in ids), ch       # every token holds only a piece
            pieces.append(max(len(tk.token_bytes(i)) for i in ids))
    assert sum(n > 1 for n in pieces) > 0.05 * len(pieces)            # many use a piece of several bytes
    assert sum(n == 1 for n in pieces) > 0.5 * len(pieces)            # most go down to single bytes


def test_every_other_emoji_is_two_or_three_tokens_each_holding_part_of_its_bytes(smollm2):
    """The emoji note said 'every other emoji takes several tokens, each a few bytes'; measured over every assigned
    code point of U+2600-27BF, U+2B00-2BFF and U+1F000-1FAFF, alone and after a space, a letter or '!': two or
    three tokens, each holding part of its bytes, mostly one or two (a lone byte in most emoji; after a space 😀
    is ␣F0 9F 98 | 80). 👍🏽 is two code points, a thumbs-up and a skin-tone modifier, 4 bytes each (the note said
    'Each emoji here is 4 bytes' beside it, which a reader counts as 8)."""
    import unicodedata

    tk = smollm2.tokenizer
    sizes = []
    for ch in _emoji_code_points():
        if ch == "🙂":
            continue
        for before in ("", " ", "a", "!"):
            lo = len(before.encode())
            hi = lo + len(ch.encode())
            held, at = [], 0
            for i in tk.encode(before + ch):
                n = len(tk.token_bytes(i))
                overlap = min(at + n, hi) - max(at, lo)
                if overlap > 0:
                    held.append(overlap)
                at += n
            assert 2 <= len(held) <= 3 and all(h < hi - lo for h in held), (ch, before, held)
            sizes.extend(held)
    assert sizes.count(1) + sizes.count(2) > 0.99 * len(sizes) and sizes.count(1) > sizes.count(2)
    thumbs = "👍🏽"
    assert len(thumbs) == 2 and len(thumbs.encode()) == 8
    assert unicodedata.name(thumbs[0]) == "THUMBS UP SIGN" and "FITZPATRICK" in unicodedata.name(thumbs[1])


@pytest.mark.browser
def test_the_notes_say_pieces_of_bytes_and_name_the_skin_tone(page):
    page.goto("/tokens")
    page.wait_for_selector("#chips .tok")
    notice = page.locator(".explain-panel").first.inner_text()
    assert "single-byte tokens" not in notice and "pieces of its bytes, down to single bytes" in notice
    page.get_by_role("button", name="Emoji", exact=True).click()
    page.wait_for_selector("#example-note:not([hidden])")
    note = page.locator("#example-note").inner_text()
    assert "👍🏽 is two of them, a thumbs-up and a skin tone: 8 bytes" in note
    assert "two or three tokens, each holding part of its bytes" in note and "a few bytes" not in note


def test_generation_reads_more_tokens_than_the_prompt_limit(real_engine, real_client):
    """The limit note said 'the chapters that run the model read at most 512 tokens at once'; 512 is the limit of a
    prompt: /api/generate continues a prompt of 512 tokens, so the model reads more than 512 at its later steps. The
    note now says the chapters 'take prompts of at most' that many tokens."""
    limit = real_engine.settings.max_prompt_tokens
    text = "1" * limit  # digits are cut alone: one token each
    assert len(real_engine.tokenize(text)) == limit
    out = real_client.post("/api/generate", json={"text": text, "max_new_tokens": 3, "temperature": 0,
                                                  "alternatives": 0})
    assert out.status_code == 200, out.text
    d = out.json()
    assert len(d["prompt_tokens"]) == limit and len(d["generated"]) >= 2  # the second step reads limit + 1 tokens
    over = real_client.post("/api/predict", json={"text": text + "1"})
    assert over.status_code == 413                                        # while a longer prompt is refused


@pytest.mark.browser
def test_the_limit_note_speaks_of_prompts(page):
    page.goto("/tokens?text=" + "1" * 600)
    page.wait_for_selector("#limit-note:not([hidden])")
    note = page.locator("#limit-note").inner_text()
    assert note.endswith("take prompts of at most 512 tokens.") and "at once" not in note


@pytest.mark.browser
def test_the_chat_inspector_says_the_default_system_message_is_a_turn_the_template_adds(page):
    """Without a system message, the inspector said the default system message ('You are a helpful AI
    assistant…') was written by 'the template, for message 1 (user)': the server counts it in the first
    message's part of the text. It now says 'in a turn it adds before message 1 (user)', from the server's
    `added_turn` (the page no longer guesses the turn from the tokens); the user's own turn is still 'for
    message 1 (user)', and a system message the user wrote is not flagged."""
    import json
    from urllib.parse import quote

    def written_by(chat, index):
        page.goto("/tokens?tab=chat&chat=" + quote(json.dumps(chat)))
        page.wait_for_selector("#chat-chips .tok")
        page.locator("#chat-chips .tok").nth(index).hover()
        return page.locator("#chat-inspector").inner_text()

    no_system = [{"role": "user", "content": "Hi"}]
    d = page.request.post("/api/chat/template", data={"messages": no_system}).json()
    texts = [t["text"] for t in d["tokens"]]
    you, user = texts.index("You"), texts.index("user")
    assert d["tokens"][you]["message"] == 0 and d["tokens"][you]["source"] == "template"
    assert d["tokens"][you]["added_turn"] and not d["tokens"][user]["added_turn"]
    assert "in a turn it adds before message 1 (user)" in written_by(no_system, you)
    assert "the template, for message 1 (user)" in written_by(no_system, user)
    own = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert "the template, for message 1 (system)" in written_by(own, 1)
