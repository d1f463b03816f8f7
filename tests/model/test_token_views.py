"""decode_ids and render_chat on the tiny byte-level tokenizer (no download needed)."""

import pytest

from model.tiny import tiny_model
from model.token_views import decode_ids, render_chat

_, TOK = tiny_model()


@pytest.mark.parametrize("text", ["", "the bank", "🙂 日本語 👩‍👩‍👧", "a\x00b\n\tc", "<|im_end|> after"])
def test_decode_ids_inverts_tokenize_with_the_same_offsets(text):
    tokens = TOK.tokenize(text)
    decoded, described = decode_ids(TOK, [t.id for t in tokens])
    assert decoded == text
    assert [(t.id, t.start, t.end, t.partial) for t in described] == \
           [(t.id, t.start, t.end, t.partial) for t in tokens]


def test_decode_ids_closes_an_unfinished_character_as_one_replacement():
    first_two = [t.id for t in TOK.tokenize("🙂")][:2]
    decoded, described = decode_ids(TOK, first_two + [t.id for t in TOK.tokenize("x")])
    assert decoded == "\ufffdx"
    assert [(t.start, t.end) for t in described] == [(0, 1), (0, 1), (1, 2)]
    assert decode_ids(TOK, first_two)[0] == "\ufffd"


def test_render_chat_tags_each_token_with_its_message_and_origin():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    chat = render_chat(TOK, messages)
    assert chat.text == TOK.apply_chat_template(messages)
    assert [(s.role, s.start) for s in chat.spans][0] == ("system", 0)
    assert chat.spans[-1].role == "generation prompt" and chat.spans[-1].end == len(chat.text)
    by_message = {}
    for c in chat.tokens:
        if c.source == "content":
            by_message.setdefault(c.message, []).append(c.token.text)
    assert {k: "".join(v) for k, v in by_message.items()} == {0: "Be brief.", 1: "Hi"}


def test_render_chat_content_that_repeats_template_text_is_found_last():
    # The message says "user" too: its content is the occurrence after the template's role name.
    chat = render_chat(TOK, [{"role": "user", "content": "user"}], add_generation_prompt=False)
    content = [c for c in chat.tokens if c.source == "content"]
    assert "".join(c.token.text for c in content) == "user"
    assert content[0].token.start > chat.text.index("user")
