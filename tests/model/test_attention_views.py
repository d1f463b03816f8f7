"""The attention chapter's computations, on the tiny random model (no weights needed)."""

import base64

import pytest
import torch

from model import attention_views as views
from model.analysis import analyse
from model.tiny import tiny_model


@pytest.fixture(scope="module")
def tiny():
    return tiny_model(seed=0)


@pytest.fixture(scope="module")
def analysis(tiny):
    model, tokenizer = tiny
    return analyse(model, tokenizer, "the bank by the river bank")


def test_head_weights_rows_sum_to_one_and_nothing_lies_above_the_diagonal(analysis):
    w = views.head_weights(analysis, 1, 2)
    n = analysis.n_tokens
    assert w.shape == (n, n)
    assert torch.allclose(w.sum(-1), torch.ones(n), atol=1e-5)
    assert (w.triu(1) == 0).all()


def test_query_heads_share_key_value_heads_in_consecutive_groups():
    assert [views.kv_head_of(h, 9, 3) for h in range(9)] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert [views.kv_head_of(h, 4, 2) for h in range(4)] == [0, 0, 1, 1]


def test_compact_form_decodes_to_the_same_weights_within_half_a_step(analysis):
    L, h, n, _ = analysis.attn_pattern.shape
    data = base64.b64decode(views.encode_all_heads(analysis))
    assert len(data) == L * h * views.triangle_size(n)
    decoded = views.decode_lower_uint8(data, (L, h), n)
    error = (decoded - analysis.attn_pattern).abs().max().item()
    assert error <= views.QUANT_MAX_ERROR + 1e-7
    assert (decoded.triu(1) == 0).all()


def test_compact_layout_is_the_documented_byte_order():
    # Pattern k = 1, weight (i=2, j=1) of a 3-token pattern is byte 1*6 + 2*3/2 + 1 = 10.
    pattern = torch.zeros(2, 3, 3)
    pattern[1, 2, 1] = 1.0
    data = views.encode_lower_uint8(pattern)
    assert len(data) == 12 and data[10] == 255 and sum(data) == 255


def test_compact_form_of_every_head_of_a_64_token_prompt_fits_in_1_5_mb():
    # Worst case for size is fixed by the shape alone: 30 layers x 9 heads x 64 tokens.
    pattern = torch.rand(30, 9, 64, 64).tril()
    pattern = pattern / pattern.sum(-1, keepdim=True)
    encoded = base64.b64encode(views.encode_lower_uint8(pattern))
    assert len(encoded) < 1.5e6
    assert len(encoded) < 30 * 9 * 64 * 64 * 4 / 5  # a fifth of raw float32, never mind JSON text


def test_find_word_takes_the_last_whole_word_occurrence_and_its_last_token(tiny):
    _, tokenizer = tiny
    text = "The bank by the river Bank"
    tokens = tokenizer.tokenize(text)
    position = views.find_word(text, tokens, "bank")
    assert tokens[position].end == len(text)                   # the last occurrence, case ignored
    with pytest.raises(views.WordNotFound):
        views.find_word("embankment", tokenizer.tokenize("embankment"), "bank")  # whole words only


def test_find_word_picks_the_token_holding_the_words_last_character(tiny):
    _, tokenizer = tiny
    text = "a river flows"          # the tiny tokenizer cuts "river" into single letters
    tokens = tokenizer.tokenize(text)
    position = views.find_word(text, tokens, "river")
    assert text[tokens[position].start:tokens[position].end] == "r"
    assert tokens[position].end == text.index("river") + len("river")


def test_attention_from_word_averages_the_heads_of_each_layer(analysis):
    sentence = views.Sentence("the bank by the river bank", analysis, 3)  # " b"
    a = sentence.attention_from_word()
    assert a.shape == (analysis.attn_pattern.shape[0], 4)
    assert torch.allclose(a[1], analysis.attn_pattern[1, :, 3, :4].mean(0))
    top = views.top_attended(a, k=3)
    assert len(top) == a.shape[0] and all(len(layer) == 3 for layer in top)
    assert top[0][0][1] == pytest.approx(a[0].max().item())


def test_cosine_by_layer_is_one_for_the_same_path_and_minus_one_for_its_opposite(analysis):
    path = analysis.resid[:, 2]
    assert views.cosine_by_layer(path, path) == pytest.approx([1.0] * path.shape[0], abs=1e-5)
    assert views.cosine_by_layer(path, -path) == pytest.approx([-1.0] * path.shape[0], abs=1e-5)


def test_projection_keeps_each_path_and_starts_them_together_when_they_start_alike(analysis):
    assert analysis.ids[2] == analysis.ids[12]             # " bank" twice: the same embedding
    a, b = analysis.resid[:, 2], analysis.resid[:, 12]
    projection = views.project_paths([a, b])
    assert [c.shape for c in projection.coords] == [a.shape[:1] + (2,), b.shape[:1] + (2,)]
    assert torch.allclose(projection.coords[0][0], projection.coords[1][0], atol=1e-5)
    assert 0 < projection.explained[0] <= 1 and projection.explained[1] <= projection.explained[0]
    assert (projection.coords[0][0] <= 0).all()          # sign fixed: no flipping between runs
