"""POST /api/tokenize, /api/detokenize and /api/chat/template (and GET /api/chat/template, its twin).

Most tests run on the tiny byte-level vocabulary (fast); the last few pin facts about the real
SmolLM2 vocabulary that the tokens page teaches with.
"""

import json

import pytest


def tokenize(client, text):
    response = client.post("/api/tokenize", json={"text": text})
    assert response.status_code == 200, response.text
    return response.json()


def covered_text(text, tokens):
    """Rebuild the text from the token offsets (pieces of one character share its offsets)."""
    out, end = [], 0
    for t in tokens:
        if t["start"] >= end:
            out.append(text[t["start"]:t["end"]])
            end = t["end"]
    return "".join(out)


# --- tokenize -----------------------------------------------------------------------------------

def test_tokenize_returns_ids_texts_offsets_and_counts(tiny_client):
    data = tokenize(tiny_client, " the bank")
    assert [(t["text"], t["start"], t["end"]) for t in data["tokens"]] == [(" the", 0, 4), (" bank", 4, 9)]
    assert data["count"] == 2 and data["characters"] == 9 and data["words"] == 2
    assert data["chars_per_token"] == 4.5
    assert data["tokens"][0]["display"] == "␣the" and data["tokens"][0]["bytes"] == "20 74 68 65"
    assert data["max_prompt_tokens"] == 64


def test_empty_text_has_zero_tokens(tiny_client):
    data = tokenize(tiny_client, "")
    assert data["tokens"] == [] and data["count"] == 0 and data["chars_per_token"] is None


def test_only_spaces_are_tokens_too(tiny_client):
    data = tokenize(tiny_client, "   ")
    assert data["count"] >= 1 and data["words"] == 0
    assert "".join(t["text"] for t in data["tokens"]) == "   "
    assert all(set(t["display"]) == {"␣"} for t in data["tokens"])


def test_text_past_the_limit_is_refused_with_the_limit_named(tiny_client):
    ok = tokenize(tiny_client, "a" * 400)  # tiny settings: max_prompt_chars=400
    assert ok["characters"] == 400
    response = tiny_client.post("/api/tokenize", json={"text": "a" * 401})
    assert response.status_code == 413
    assert response.json()["detail"] == ("text is 401 characters long; the limit is 400 characters. "
                                         "Shorten the text.")


@pytest.mark.parametrize("body, field", [({}, "text"), ({"text": 5}, "text"), ({"text": "a", "txt": "b"}, "txt")])
def test_malformed_requests_name_the_field(tiny_client, body, field):
    response = tiny_client.post("/api/tokenize", json=body)
    assert response.status_code == 422 and response.json()["detail"].startswith(field)


@pytest.mark.parametrize("text", ["日本語のテキスト", "Привет, мир", "مرحبا بالعالم", "नमस्ते", "🙂👩‍👩‍👧🇫🇷",
                                  "a\x00b\x07c\x1b[31m\r\n", "<img src=x onerror=alert(1)>", "{{7*7}} {% raw %}",
                                  "<|im_start|>system"])
def test_offsets_cover_the_text_exactly_as_typed(tiny_client, text):
    data = tokenize(tiny_client, text)
    tokens = data["tokens"]
    assert covered_text(text, tokens) == text
    assert data["characters"] == len(text)
    assert all(0 <= t["start"] < t["end"] <= len(text) for t in tokens)
    # Pieces of one character are partial and show U+FFFD; whole tokens carry their exact text.
    for t in tokens:
        if not t["partial"]:
            assert t["text"] == text[t["start"]:t["end"]]
        assert bytes.fromhex(t["bytes"]).decode("utf-8", errors="replace") == t["text"]


@pytest.mark.parametrize("path, body", [
    ("/api/tokenize", '{"text": "ok \\ud83d"}'),
    ("/api/chat/template", '{"messages": [{"role": "user", "content": "ok \\ud83d"}]}'),
])
def test_a_lone_surrogate_is_refused_not_a_crash(tiny_client, path, body):
    response = tiny_client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "contains a lone UTF-16 surrogate" in response.json()["detail"]  # StrictModel's check
    # A proper pair in JSON escapes is one character and fine.
    ok = tiny_client.post("/api/tokenize", content='{"text": "\\ud83d\\ude42"}', headers={"content-type": "application/json"})
    assert ok.status_code == 200 and ok.json()["characters"] == 1


def test_html_and_template_syntax_come_back_as_plain_text(tiny_client):
    text = "<img src=x onerror=alert(1)> {{7*7}}"
    data = tokenize(tiny_client, text)
    assert "".join(t["text"] for t in data["tokens"]) == text  # not escaped, not evaluated (no 49)
    assert not any(t["special"] for t in data["tokens"])


def test_an_emoji_is_several_partial_tokens_sharing_its_offsets(tiny_client):
    tokens = tokenize(tiny_client, "🙂")["tokens"]
    assert len(tokens) == 4  # the tiny vocabulary has one token per byte
    assert all(t["partial"] and (t["start"], t["end"]) == (0, 1) for t in tokens)
    assert " ".join(t["bytes"] for t in tokens) == "f0 9f 99 82"


# --- detokenize -----------------------------------------------------------------------------------

def test_detokenize_inverts_tokenize(tiny_client):
    text = "the bank 🙂 日本 <b>{{x}}</b>"
    ids = [t["id"] for t in tokenize(tiny_client, text)["tokens"]]
    data = tiny_client.post("/api/detokenize", json={"ids": ids}).json()
    assert data["text"] == text and data["count"] == len(ids)
    assert data["canonical"] and data["retokenized"] == ids
    assert [(t["start"], t["end"]) for t in data["tokens"]] == \
           [(t["start"], t["end"]) for t in tokenize(tiny_client, text)["tokens"]]


def test_detokenize_says_when_the_tokenizer_would_cut_the_text_differently(tiny_client):
    spelled = [t["id"] for t in tokenize(tiny_client, " ")["tokens"]] + \
              [t["id"] for t in tokenize(tiny_client, "the")["tokens"]]
    data = tiny_client.post("/api/detokenize", json={"ids": spelled}).json()
    assert data["text"] == " the" and not data["canonical"]
    assert data["retokenized"] == [t["id"] for t in tokenize(tiny_client, " the")["tokens"]]


def test_detokenize_of_half_a_character_shows_a_replacement_character(tiny_client):
    first_byte = tokenize(tiny_client, "🙂")["tokens"][0]["id"]
    space = tokenize(tiny_client, " ")["tokens"][0]["id"]
    data = tiny_client.post("/api/detokenize", json={"ids": [first_byte, space]}).json()
    assert data["text"] == "\ufffd "
    assert [(t["start"], t["end"], t["partial"]) for t in data["tokens"]] == [(0, 1, True), (1, 2, False)]


def test_detokenize_of_no_ids_is_empty_text(tiny_client):
    data = tiny_client.post("/api/detokenize", json={"ids": []}).json()
    assert data == {"text": "", "tokens": [], "count": 0, "retokenized": [], "canonical": True, "exact": True}


@pytest.mark.parametrize("ids, message", [
    ([-1], "ids.0 is -1, which is not a token id"),
    ([1.5], "ids.0: Input should be a valid integer"),
    ([True], "ids.0: Input should be a valid integer"),
    (["12"], "ids.0: Input should be a valid integer"),
    ("1 2 3", "ids: Input should be a valid list"),
])
def test_detokenize_rejects_what_is_not_a_token_id(tiny_client, ids, message):
    response = tiny_client.post("/api/detokenize", json={"ids": ids})
    assert response.status_code == 422 and response.json()["detail"].startswith(message)


def test_detokenize_rejects_an_id_past_the_vocabulary(tiny_client):
    vocab = tiny_client.get("/api/model").json()["vocab_size"]
    assert tiny_client.post("/api/detokenize", json={"ids": [vocab - 1]}).status_code == 200
    response = tiny_client.post("/api/detokenize", json={"ids": [5, vocab]})
    assert response.status_code == 422
    assert response.json()["detail"] == (f"ids.1 is {vocab}, which is not a token id: ids run from 0 to "
                                         f"{vocab - 1} (the vocabulary has {vocab} tokens).")


def test_detokenize_bounds_the_number_of_ids(tiny_client):
    assert tiny_client.post("/api/detokenize", json={"ids": [100] * 400}).status_code == 200
    response = tiny_client.post("/api/detokenize", json={"ids": [100] * 401})
    assert response.status_code == 413
    assert response.json()["detail"] == "ids has 401 entries; the limit is 400. Send fewer ids."


# --- chat template --------------------------------------------------------------------------------

def chat(client, messages, **extra):
    response = client.post("/api/chat/template", json={"messages": messages, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def test_chat_template_renders_the_exact_sequence_with_special_tokens_marked(tiny_client):
    data = chat(tiny_client, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert data["text"] == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                            "<|im_start|>assistant\n")
    specials = [t["text"] for t in data["tokens"] if t["special"]]
    assert specials == ["<|im_start|>", "<|im_end|>", "<|im_start|>", "<|im_end|>", "<|im_start|>"]
    assert data["special_count"] == 5 and data["count"] == len(data["tokens"])
    assert covered_text(data["text"], data["tokens"]) == data["text"]
    assert [s["role"] for s in data["spans"]] == ["system", "user", "generation prompt"]
    assert data["spans"][-1]["end"] == len(data["text"])


def test_chat_tokens_say_which_message_wrote_them_and_what_the_template_added(tiny_client):
    data = chat(tiny_client, [{"role": "user", "content": "Hi"}], add_generation_prompt=False)
    content = "".join(t["text"] for t in data["tokens"] if t["source"] == "content")
    assert content == "Hi"
    # With no system message the template writes a default one: template text, credited to message 0.
    assert "You are a helpful AI assistant" in data["text"]
    assert {t["message"] for t in data["tokens"]} == {0}
    assert not data["text"].endswith("<|im_start|>assistant\n")


def test_chat_tokens_say_which_belong_to_a_turn_the_template_adds(tiny_client):
    alone = chat(tiny_client, [{"role": "user", "content": "Hi"}])
    added = "".join(t["text"] for t in alone["tokens"] if t["added_turn"])
    assert added == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    own = chat(tiny_client, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert not any(t["added_turn"] for t in own["tokens"])


def test_chat_generation_prompt_tokens_belong_to_no_message(tiny_client):
    data = chat(tiny_client, [{"role": "user", "content": "Hi"}])
    tail = [t for t in data["tokens"] if t["message"] is None]
    assert "".join(t["text"] for t in tail) == "<|im_start|>assistant\n"


def test_chat_contents_are_text_not_template_code(tiny_client):
    data = chat(tiny_client, [{"role": "user", "content": "{{7*7}} <img src=x onerror=alert(1)>"}])
    assert "{{7*7}} <img src=x onerror=alert(1)>" in data["text"] and "49" not in data["text"]


def test_chat_special_token_typed_in_a_message_is_marked_as_content(tiny_client):
    data = chat(tiny_client, [{"role": "user", "content": "stop<|im_end|>here"}], add_generation_prompt=False)
    typed = [t for t in data["tokens"] if t["special"] and t["source"] == "content"]
    assert [(t["text"], t["message"]) for t in typed] == [("<|im_end|>", 0)]
    assert sum(t["special"] for t in data["tokens"]) == 5  # the template's four, plus the typed one


@pytest.mark.parametrize("body, message", [
    ({"messages": []}, "messages: List should have at least 1 item"),
    ({"messages": [{"role": "bot", "content": "x"}]}, "messages.0.role: Input should be 'system', 'user' or 'assistant'"),
    ({"messages": [{"role": "user"}]}, "messages.0.content: Field required"),
    ({"messages": [{"role": "user", "content": "x"}] * 33}, "messages: List should have at most 32 items"),
    ({"messages": [{"role": "user", "content": "x"}], "add_generation_prompt": "maybe"}, "add_generation_prompt"),
])
def test_chat_template_rejects_malformed_messages(tiny_client, body, message):
    response = tiny_client.post("/api/chat/template", json=body)
    assert response.status_code == 422 and response.json()["detail"].startswith(message)


def test_chat_template_bounds_the_total_length(tiny_client):
    messages = [{"role": "user", "content": "a" * 200}, {"role": "assistant", "content": "b" * 201}]
    response = tiny_client.post("/api/chat/template", json={"messages": messages})
    assert response.status_code == 413
    assert response.json()["detail"].startswith("messages (all contents together) is 401 characters long; "
                                                "the limit is 400 characters")


def test_the_get_twin_answers_as_the_post(tiny_client):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"}]
    for gen in (True, False):
        got = tiny_client.get("/api/chat/template", params={"messages": json.dumps(messages),
                                                            "add_generation_prompt": str(gen).lower()})
        assert got.status_code == 200
        assert got.json() == tiny_client.post("/api/chat/template", json={"messages": messages,
                                                                          "add_generation_prompt": gen}).json()


def test_the_get_twin_refuses_as_the_post(tiny_client, tiny_engine):
    not_json = tiny_client.get("/api/chat/template", params={"messages": "[{role: user}]"})
    assert not_json.status_code == 422 and not_json.json()["field"] == "messages"
    for bad in ({}, [], [{"role": "robot", "content": "x"}], [{"role": "user", "content": "a", "extra": 1}]):
        got = tiny_client.get("/api/chat/template", params={"messages": json.dumps(bad)})
        posted = tiny_client.post("/api/chat/template", json={"messages": bad})
        assert got.status_code == posted.status_code == 422, bad
    long = [{"role": "user", "content": "a" * (tiny_engine.settings.max_prompt_chars + 1)}]
    got = tiny_client.get("/api/chat/template", params={"messages": json.dumps(long)})
    assert got.status_code == 413 and got.json()["code"] == "too_many_characters"
    assert tiny_client.get("/api/chat/template").status_code == 422  # messages is required


# --- the real vocabulary ----------------------------------------------------------------------------

@pytest.mark.real
def test_real_leading_space_makes_a_different_single_token(real_client):
    with_space, bare = tokenize(real_client, " the")["tokens"], tokenize(real_client, "the")["tokens"]
    assert len(with_space) == len(bare) == 1 and with_space[0]["id"] != bare[0]["id"]
    assert with_space[0]["display"] == "␣the"


@pytest.mark.real
def test_real_numbers_are_cut_digit_by_digit(real_client):
    tokens = tokenize(real_client, "12345")["tokens"]
    assert [t["text"] for t in tokens] == ["1", "2", "3", "4", "5"]


@pytest.mark.real
def test_real_emoji_is_several_partial_tokens_and_a_rare_word_several_pieces(real_client):
    emoji = tokenize(real_client, "😀")["tokens"]
    assert len(emoji) > 1 and all(t["partial"] for t in emoji)
    assert "".join(t["bytes"].replace(" ", "") for t in emoji) == "😀".encode().hex()
    word = tokenize(real_client, "antidisestablishmentarianism")["tokens"]
    assert len(word) > 2 and "".join(t["text"] for t in word) == "antidisestablishmentarianism"


@pytest.mark.real
def test_real_chat_template_uses_single_special_tokens(real_client):
    data = chat(real_client, [{"role": "user", "content": "Hi"}])
    specials = {t["text"]: t["id"] for t in data["tokens"] if t["special"]}
    assert specials == {"<|im_start|>": 1, "<|im_end|>": 2}
    assert real_client.post("/api/detokenize", json={"ids": [1]}).json()["text"] == "<|im_start|>"


@pytest.mark.real
@pytest.mark.parametrize("gen", [True, False])
def test_real_chat_marks_smollm2s_default_system_turn_as_added(real_client, gen):
    """`added_turn` marks exactly the system turn SmolLM2's template writes when the chat has no system
    message (it lies in message 0's part, before that message's own turn), and nothing when it has one."""
    default = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
             {"role": "user", "content": "What is a token?"}]
    data = chat(real_client, turns, add_generation_prompt=gen)
    added = [t for t in data["tokens"] if t["added_turn"]]
    assert data["text"].startswith(default) and "".join(t["text"] for t in added) == default
    assert data["tokens"][:len(added)] == added                   # the first tokens, and only those
    assert [t["id"] for t in added if t["special"]] == [1, 2]     # one <|im_start|> ... <|im_end|> turn
    assert {(t["message"], t["source"]) for t in added} == {(0, "template")}
    assert data["text"].endswith("<|im_start|>assistant\n") == gen
    for own in ([{"role": "system", "content": "Be brief."}, *turns], [{"role": "system", "content": ""}]):
        assert not any(t["added_turn"] for t in chat(real_client, own, add_generation_prompt=gen)["tokens"])


@pytest.mark.real
def test_real_facts_the_page_examples_state(real_engine):
    """The notes next to the page's examples claim these; they must stay true of this vocabulary."""
    tok = real_engine.tokenizer
    assert len(tok.encode("384400")) == 6
    assert len(tok.encode("Hello")) == 1 and len(tok.encode(" 안녕하세요")) == 14
    assert len(tok.encode(" 🙂")) == 1 and len(tok.encode(" 🍕")) == 3
    assert len("👩‍👩‍👧".encode()) == 18
    assert len(tok.encode(" return")) == 1
    words = [t for t in tok.tokenize("the\n the\nThe\n The") if t.text.strip()]
    assert [t.text for t in words] == ["the", " the", "The", " The"] and len({t.id for t in words}) == 4
    assert len(tok.encode("antidisestablishmentarianism")) > 1 and len(tok.encode(" house")) == 1
    assert tok.decode([504, 3575, 282, 4649]) == "The capital of France"  # the decode placeholder
