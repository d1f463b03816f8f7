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
