"""Tokenizer mechanics on the tiny byte-level vocabulary (no download needed)."""

from model.tiny import tiny_model
from model.tokenizer import visible


def test_byte_level_round_trip_of_any_text():
    _, tok = tiny_model()
    for text in ["", "plain", "  spaces\t\ttabs\n\nnewlines", "ünïcødé 日本 🤗", "\x00\x07 control"]:
        assert tok.decode(tok.encode(text)) == text


def test_merges_apply_and_digits_are_isolated():
    _, tok = tiny_model()
    assert [t.text for t in tok.tokenize(" the bank 42")] == [" the", " bank", " ", "4", "2"]


def test_visible_whitespace():
    assert visible(" a\tb\nc") == "␣a⇥b⏎c"
    assert visible("\x00\x07\x1b\x7f") == "␀␇␛␡"
