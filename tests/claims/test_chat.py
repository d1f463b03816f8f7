"""Claims of chapter 6 (/chat): what 'What else could it have said?' shows, and the model's size."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

TEXT = "The capital of France is"


def _first_token(real_client, temperature: float) -> dict:
    body = {"text": TEXT, "max_new_tokens": 1, "temperature": temperature, "top_k": 0, "top_p": 1, "seed": 3,
            "alternatives": 5}
    return real_client.post("/api/generate", json=body).json()["generated"][0]


def _predict(real_client, temperature: float) -> dict[int, float]:
    data = real_client.post("/api/predict", json={"text": TEXT, "temperature": temperature, "n_predictions": 20}).json()
    return {p["id"]: p["probability"] for p in data["predictions"]}


def test_alternatives_are_at_the_sampling_temperature(real_client):
    """'The probabilities are at temperature T, the setting this reply was drawn with, so they differ
    from chapter 5's default of 1: below 1 the favourite looks surer'."""
    token = _first_token(real_client, 0.3)
    at_t, at_one = _predict(real_client, 0.3), _predict(real_client, 1.0)
    for alt in token["alternatives"]:
        assert alt["probability"] == pytest.approx(at_t[alt["id"]], rel=1e-5)
    best = token["alternatives"][0]
    assert best["probability"] > at_one[best["id"]]           # surer below 1
    assert best["probability"] != pytest.approx(at_one[best["id"]], rel=1e-3)


def test_a_greedy_reply_shows_probabilities_at_temperature_one(real_client):
    """'This reply was greedy (temperature 0) … the probabilities shown are at temperature 1'."""
    token = _first_token(real_client, 0.0)
    at_one = _predict(real_client, 1.0)
    assert token["id"] == max(at_one, key=at_one.get)
    for alt in token["alternatives"]:
        assert alt["probability"] == pytest.approx(at_one[alt["id"]], rel=1e-5)


@pytest.mark.browser
def test_the_alternatives_say_which_temperature_they_are_at(page):
    """The note names the temperature the reply was drawn with, even after the setting changes; the
    model's size in the opening hint is read from GET /api/model."""
    page.goto("/chat?max=3&temperature=0.3&top_k=50&top_p=0.9")
    n_params = page.evaluate("() => fetch('/api/model').then((r) => r.json()).then((m) => m.n_params)")
    expect(page.locator("#model-size")).to_have_text(f" ({round(n_params / 1e6)} million parameters)")
    page.fill("#input", "What is the capital of France?")
    page.click("#send")
    # Send stays enabled until the reply starts: wait for it, or 1.2 could reach this reply.
    expect(page.locator(".msg.assistant")).to_have_count(1, timeout=30_000)
    expect(page.locator("#send")).to_be_enabled(timeout=90_000)
    page.fill("#temperature", "1.2")
    page.locator("#temperature").dispatch_event("change")
    page.locator(".msg.assistant .rt").first.click()
    note = page.locator("#alts-help")
    expect(note).to_contain_text("The probabilities are at temperature 0.3, the setting this reply was drawn with")
    shown = page.locator("#alts .alt-p").all_inner_texts()
    assert shown and all(t not in ("100.0%", "0.0%") for t in shown), shown


QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_a_drawn_tokens_chance_is_its_probability_renormalised_over_the_tokens_left(real_client):
    """The reply's tooltip says 'probability p (at temperature T); its chance to be drawn, among the
    tokens top-k and top-p left, c' (it said 'drawn with probability p', but p is before top-k/top-p):
    c = p / the probability of the tokens left, and at the chat's defaults the two differ."""
    body = {"messages": QUESTION, "max_new_tokens": 1, "temperature": 0.3, "top_k": 50, "top_p": 0.9, "seed": 1,
            "alternatives": 8}
    token = real_client.post("/api/generate", json=body).json()["generated"][0]
    left = [a for a in token["alternatives"] if a["allowed"]]
    assert 1 < len(left) < len(token["alternatives"])  # top-p really rules some out here
    mine = next(a for a in token["alternatives"] if a["id"] == token["id"])
    assert mine["probability"] == pytest.approx(token["probability"], rel=1e-6)
    assert mine["sample_probability"] == pytest.approx(token["probability"] / sum(a["probability"] for a in left),
                                                       rel=1e-4)
    assert mine["sample_probability"] - token["probability"] > 0.01


def test_the_token_view_is_what_generation_reads(real_client):
    """'What the model reads: the exact token sequence the conversation becomes': the template view's
    ids are the prompt /api/generate runs the model on."""
    view = real_client.post("/api/chat/template", json={"messages": QUESTION}).json()
    run = real_client.post("/api/generate", json={"messages": QUESTION, "max_new_tokens": 1, "temperature": 0}).json()
    assert [t["id"] for t in view["tokens"]] == [t["id"] for t in run["prompt_tokens"]]
    assert [t["text"] for t in view["tokens"][-3:]] == ["ass", "istant", "\n"]


@pytest.mark.browser
def test_after_a_reply_the_token_view_ends_with_the_replys_end_token(page):
    """After the model's reply the token view ends with that reply's <|im_end|>: it no longer opens
    another assistant turn the model would never read (the next turn is the user's). The reply's
    tooltip gives its probability and its chance to be drawn."""
    page.goto("/chat?max=12&temperature=0.3&top_k=50&top_p=0.9&seed=1")
    page.fill("#input", "What is the capital of France?")
    page.click("#send")
    expect(page.locator(".msg.assistant")).to_have_count(1, timeout=30_000)  # the reply has started
    expect(page.locator("#send")).to_be_enabled(timeout=90_000)
    # Redrawn from /api/chat/template once the reply ends: the streamed reply chips are gone.
    page.wait_for_function("() => { const v = document.querySelector('#template-tokens');"
                           " return v.children.length > 0 && !v.querySelector('.legend-reply'); }")
    chips = page.locator("#template-tokens .tok").all_text_contents()
    assert chips[-1] == "⏎" and chips[-2] == "<|im_end|>", chips[-6:]
    assert "The" in "".join(chips[-12:])  # the reply itself is in the view
    title = page.locator(".msg.assistant .rt").first.get_attribute("title")
    assert "its chance to be drawn, among the tokens top-k and top-p left" in title, title
    assert "drawn with probability" not in title


def test_each_new_token_reuses_the_cache_and_the_reply_ends_with_im_end(real_engine, real_client):
    """'Each new token costs one token's forward pass: the keys and values of everything before it
    are kept in a cache', and the model writes 'until it writes its own end-of-turn token
    <|im_end|>': a greedy reply over the cache equals greedy decoding by full passes over the whole
    sequence, and ends with <|im_end|>."""
    import torch

    run = real_client.post("/api/generate", json={"messages": QUESTION, "max_new_tokens": 24,
                                                  "temperature": 0}).json()
    ids = [t["id"] for t in run["prompt_tokens"]]
    full = []
    with torch.inference_mode():
        for _ in run["generated"]:
            nxt = int(real_engine.locked(real_engine.model, torch.tensor(ids + full))[-1].argmax())
            full.append(nxt)
    assert [t["id"] for t in run["generated"]] == full
    assert run["stop_reason"] == "stop_token" and run["generated"][-1]["text"] == "<|im_end|>"


@pytest.mark.browser
def test_a_greedy_reply_says_why_its_alternatives_are_greyed(page, real_client):
    """At temperature 0 every token but the most probable is greyed because the reply is greedy, not
    because of top-k or top-p (with top-k 50 and top-p 1 here, those would allow 50)."""
    body = {"messages": QUESTION, "max_new_tokens": 1, "temperature": 0, "top_k": 50, "top_p": 1, "alternatives": 8}
    token = real_client.post("/api/generate", json=body).json()["generated"][0]
    assert [a["allowed"] for a in token["alternatives"]] == [True] + [False] * 7
    page.goto("/chat?max=2&temperature=0&top_k=50&top_p=1")
    page.fill("#input", "What is the capital of France?")
    page.click("#send")
    page.locator(".msg.assistant .rt").first.click()
    note = page.locator("#alts-help")
    expect(note).to_contain_text("Greyed tokens could not be drawn: a greedy reply takes only the most probable.")
    expect(note).not_to_contain_text("ruled out by top-k")


EXAMPLES = ["What is the capital of France?", "Write a haiku about the sea.", "Explain gravity to a child.",
            "Give me three tips for learning to code."]


def _words(tokens: list[dict]) -> list[list[str]]:
    """A reply's words as runs of tokens: a word starts at a token whose text (after a space) begins with a
    letter, and a token that begins with a letter right after one that ends with a letter continues it."""
    words, current = [], None
    for t in tokens:
        s = t["text"]
        if t["special"]:
            current = None
        elif s[:1].isalpha() and current is not None and current[-1][-1:].isalpha():
            current.append(s)
        elif s.strip()[:1].isalpha():
            current = [s]
            words.append(current)
        else:
            current = None
    return words


def test_a_long_or_rare_word_can_take_more_than_one_token(smollm2, real_client):
    """'What else could it have said?' (review): 'each is one token, and a word is often more than one' - in the
    model's greedy replies to the page's four example questions 6 of 196 words take more than one token
    (' lapping', ' Breakers', 'Gravitational'); the page now says 'a long or rare word can take more than one'."""
    page = " ".join(real_client.get("/chat").text.split())
    assert "a word is often more than one" not in page
    assert "(each is one token; a long or rare word can take more than one)" in page
    words = []
    for question in EXAMPLES:
        body = {"messages": [{"role": "user", "content": question}], "max_new_tokens": 120, "temperature": 0}
        words += _words(real_client.post("/api/generate", json=body).json()["generated"])
    multi = [w for w in words if len(w) > 1]
    assert 0 < len(multi) < 0.1 * len(words)


# Simple factual questions and the words a right reply contains (review of the opening hint).
FACTS = [("What is the capital of France?", ["Paris"]), ("What is the capital of Italy?", ["Rome"]),
         ("What is the capital of Germany?", ["Berlin"]), ("What is the capital of Japan?", ["Tokyo"]),
         ("What is the capital of Spain?", ["Madrid"]), ("What is the capital of Australia?", ["Canberra"]),
         ("What is the capital of Canada?", ["Ottawa"]), ("What is 2 + 2?", ["4", "four"]),
         ("What is 3 + 5?", ["8", "eight"]), ("What is 7 times 8?", ["56"]), ("What is 12 minus 5?", ["7", "seven"]),
         ("What is 10 + 15?", ["25"]), ("How many days are in a week?", ["7", "seven"]),
         ("What is the largest planet in the solar system?", ["Jupiter"]),
         ("How many continents are there?", ["7", "seven"]), ("What is the boiling point of water in Celsius?", ["100"])]
PAGE_SETTINGS = {"temperature": 0.3, "top_k": 50, "top_p": 0.9, "seed": 1}   # static/js/chat.js DEFAULTS


def _reply(real_client, question: str, **settings) -> str:
    body = {"messages": [{"role": "user", "content": question}], "max_new_tokens": 120, **settings}
    return "".join(t["text"] for t in real_client.post("/api/generate", json=body).json()["generated"])


def test_the_model_gets_some_simple_facts_right_but_often_others_wrong(smollm2, real_client):
    """The opening hint (review): 'expect a friendly but often confused assistant: short, simple questions
    work best' was a judgement nothing measured. Measured: asked 16 simple factual questions (capitals,
    sums, counts) greedily, it answers 8 right (Paris, Berlin, Tokyo, Canberra, Ottawa, 4, 7 days, 100)
    and 8 wrong or not at all in 120 tokens (Italy: 'Il Coriobella', Spain: 'El Salvador', 12 - 5 = 6,
    10 + 15 = 20, Neptune, '126.125 Earths'); at the page's own settings (seeds 1-3) 9, 12 and 10 right.
    The hint now says it gets some simple facts right but often others wrong, with two it gets wrong
    both greedily and at the page's settings."""
    page = " ".join(real_client.get("/chat").text.split())
    assert "often confused" not in page and "simple questions work best" not in page
    assert ("it gets some simple facts right but often others wrong (asked for the capital of Spain, it names El "
            "Salvador; asked for 12 minus 5, it says 6), so check what it says.") in page
    right = [any(a in _reply(real_client, q, temperature=0) for a in answers) for q, answers in FACTS]
    assert len(FACTS) / 4 <= sum(right) <= 3 * len(FACTS) / 4           # some right, often (a quarter or more) wrong
    for settings in ({"temperature": 0}, PAGE_SETTINGS):
        spain, minus = _reply(real_client, "What is the capital of Spain?", **settings), \
            _reply(real_client, "What is 12 minus 5?", **settings)
        assert "El Salvador" in spain and "Madrid" not in spain
        assert "12 - 5 = 6" in minus and "7" not in minus and "seven" not in minus
