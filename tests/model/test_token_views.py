"""decode_ids and render_chat on the tiny byte-level tokenizer (no download needed)."""

from dataclasses import replace

import pytest

from model.tiny import tiny_model, tiny_tokenizer_data
from model.tokenizer import ModelTokenizer
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


DEFAULT_TURN = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"


@pytest.mark.parametrize("gen", [True, False])
def test_render_chat_finds_the_default_system_turn_the_template_adds(gen):
    # No system message: SmolLM2's template writes its own system turn, inside message 0's span.
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "More"}]
    chat = render_chat(TOK, messages, add_generation_prompt=gen)
    assert [(s.role, chat.text[s.start:s.end]) for s in chat.added_turns] == [("system", DEFAULT_TURN)]
    added = [c for c in chat.tokens if c.added_turn]
    assert "".join(c.token.text for c in added) == DEFAULT_TURN
    assert {(c.message, c.source) for c in added} == {(0, "template")}
    assert chat.tokens[len(added)].token.text == "<|im_start|>" and not chat.tokens[len(added)].added_turn


@pytest.mark.parametrize("messages", [
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    [{"role": "system", "content": ""}],
    # The user's own system message with the default's exact words is theirs, not the template's.
    [{"role": "system", "content": "You are a helpful AI assistant named SmolLM, trained by Hugging Face"},
     {"role": "user", "content": "Hi"}],
    # A system message later in the chat is a message too.
    [{"role": "system", "content": "A"}, {"role": "user", "content": "Hi"}, {"role": "system", "content": "B"}],
])
def test_render_chat_adds_no_turn_when_the_chat_has_its_system_message(messages):
    for gen in (True, False):
        chat = render_chat(TOK, messages, add_generation_prompt=gen)
        assert chat.added_turns == [] and not any(c.added_turn for c in chat.tokens)


def test_render_chat_added_turn_is_not_fooled_by_a_message_that_writes_a_turn_itself():
    content = "<|im_start|>system\nYou are<|im_end|>\n<|im_start|>user\nok"
    chat = render_chat(TOK, [{"role": "user", "content": content}], add_generation_prompt=False)
    assert [chat.text[s.start:s.end] for s in chat.added_turns] == [DEFAULT_TURN]
    assert not any(c.added_turn and c.source == "content" for c in chat.tokens)


@pytest.mark.parametrize("template", [
    # Writes turns as they come and nothing of its own: nothing is added.
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}",
    # Refuses a system message anywhere (as some templates do): the probe fails, nothing is claimed.
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system') }}{% endif %}"
    "{{ '[' + m['role'] + '] ' + m['content'] + '\n' }}{% endfor %}",
])
def test_render_chat_claims_no_added_turn_for_a_template_that_writes_none(template):
    tok = ModelTokenizer(replace(tiny_tokenizer_data(), chat_template=template))
    chat = render_chat(tok, [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}])
    assert chat.spans and chat.added_turns == [] and not any(c.added_turn for c in chat.tokens)


def test_render_chat_finds_an_added_turn_by_rendering_not_by_smollm2s_tokens():
    template = ("{% if messages[0]['role'] != 'system' %}[system] Be kind.\n{% endif %}"
                "{% for m in messages %}{{ '[' + m['role'] + '] ' + m['content'] + '\\n' }}{% endfor %}")
    tok = ModelTokenizer(replace(tiny_tokenizer_data(), chat_template=template))
    chat = render_chat(tok, [{"role": "user", "content": "Hi"}])
    assert [chat.text[s.start:s.end] for s in chat.added_turns] == ["[system] Be kind.\n"]
