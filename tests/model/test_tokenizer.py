"""The tokenizer follows the model's own rules (real vocabulary)."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.real

# Text without digits, where HF's GGUF tokenizer (ByteLevel only) and llama.cpp's `smollm`
# pre-tokeniser must agree exactly.
TRICKY = [
    "The capital of France is",
    "  two leading spaces, and   three inside",
    "tabs\tand\t\ttwo tabs",
    "new\nline\n\n\nthree newlines\r\nwindows",
    "trailing spaces   ",
    "Привет, мир! Ελληνικά. 日本語のテキスト。 한국어 العربية हिन्दी",
    "emoji 🤗 and 👩‍👩‍👧 family and ❤️",
    "def f(x):\n    return x ** 2  # square\n\tif x: pass",
    "<|im_start|>user\nHi there<|im_end|>\n",
    "don't won't it's we're I'm you'll he'd",
    "URL https://example.com/a?b=c&d=e and e-mail a.b@c.de",
    "<img src=x onerror=alert(1)> {{7*7}} {% raw %}",
]


@pytest.fixture(scope="module")
def tok(real_engine):
    return real_engine.tokenizer


@pytest.fixture(scope="module")
def hf_tok(real_engine):
    transformers = pytest.importorskip("transformers")
    gguf = Path(real_engine.source)
    return transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


@pytest.mark.parametrize("text", TRICKY)
def test_tokenisation_matches_the_reference_tokenizer(tok, hf_tok, text):
    assert tok.encode(text) == hf_tok(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("text", TRICKY + ["Numbers 12345 and 3.14159 and 2026-11-29"])
def test_decoding_gives_back_the_text(tok, text):
    assert tok.decode(tok.encode(text)) == text


def test_every_digit_is_its_own_token_as_llama_cpp_does_for_smollm(tok):
    tokens = tok.tokenize("In 2026, 12345 people")
    texts = [t.text for t in tokens]
    assert texts == ["In", " ", "2", "0", "2", "6", ",", " ", "1", "2", "3", "4", "5", " people"]


def test_capital_of_france_ids(tok):
    # Ids as the model's own tokenizer gives them (no BOS token is added to plain text).
    assert tok.encode("The capital of France is") == [504, 3575, 282, 4649, 314]


def test_leading_space_belongs_to_the_token(tok):
    the, space_the = tok.tokenize("the"), tok.tokenize(" the")
    assert len(the) == len(space_the) == 1 and the[0].id != space_the[0].id
    assert space_the[0].text == " the" and space_the[0].display == "␣the"


def test_special_tokens_are_single_tokens(tok):
    tokens = tok.tokenize("<|im_start|>user\nhi<|im_end|>")
    assert [t.id for t in tokens][0] == 1 and tokens[-1].id == 2
    assert tokens[0].special and tokens[-1].special and not tokens[1].special


def test_offsets_point_into_the_text(tok):
    text = "héllo wörld, ça va?\n\tÜber 42"
    for t in tok.tokenize(text):
        if not t.partial and not t.special:
            assert text[t.start:t.end] == t.text


def test_pieces_of_one_emoji_are_partial_and_share_its_offsets(tok):
    tokens = tok.tokenize("🤗")
    assert len(tokens) > 1 and all(t.partial for t in tokens)
    spans = set((t.start, t.end) for t in tokens)
    assert spans == {(0, 1)}
    assert bytes.fromhex("".join(t.bytes_hex.replace(" ", "") for t in tokens)) == "🤗".encode()


def test_chat_template_renders_like_the_models_template(tok):
    text = tok.apply_chat_template([{"role": "user", "content": "What is 2+2?"}])
    assert text == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                    "<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n")
    with_system = tok.apply_chat_template([{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "Hi"}], add_generation_prompt=False)
    assert with_system == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"


def test_chat_template_matches_the_reference_rendering(tok, hf_tok):
    messages = [{"role": "user", "content": "Hi {{ 7*7 }}"}, {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Bye"}]
    ours = tok.apply_chat_template(messages)
    theirs = hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert ours == theirs
    assert "{{ 7*7 }}" in ours  # user text is data, never template code
