"""The fair sense test's maths (model/senses.py), on the tiny random model and by hand."""

import itertools

import pytest
import torch

from model import senses
from model.analysis import analyse
from model.errors import InputError
from model.tiny import tiny_model


@pytest.fixture(scope="module")
def tiny():
    return tiny_model(seed=0)


def test_word_position_is_the_first_whole_word_occurrence_and_its_last_token(tiny):
    _, tokenizer = tiny
    text = "the Bank by the river bank"
    tokens = tokenizer.tokenize(text)
    position = senses.word_position(text, tokens, "bank", "groups.0.0")
    assert tokens[position].start <= text.index("Bank") + 3 < tokens[position].end
    assert all(t.end <= text.index("Bank") + 4 for t in tokens[:position + 1])


def test_a_missing_word_is_an_input_error_naming_the_sentence(tiny):
    _, tokenizer = tiny
    with pytest.raises(InputError) as caught:
        senses.word_position("embankment", tokenizer.tokenize("embankment"), "bank", "groups.1.0")  # whole words only
    assert caught.value.field == "groups.1.0" and caught.value.status == 422 and "'embankment'" in caught.value.detail


def test_within_and_across_are_the_mean_cosines_of_the_right_pairs():
    torch.manual_seed(0)
    vectors = torch.randn(5, 3, 8)                                             # 5 sentences, 3 depths
    groups = [0, 0, 1, 1, 1]
    within, across = senses.within_across(vectors, groups)
    cos = lambda a, b: torch.nn.functional.cosine_similarity(vectors[a], vectors[b], dim=-1)  # noqa: E731
    pairs = list(itertools.combinations(range(5), 2))
    same = torch.stack([cos(a, b) for a, b in pairs if groups[a] == groups[b]]).mean(0)
    other = torch.stack([cos(a, b) for a, b in pairs if groups[a] != groups[b]]).mean(0)
    assert within == pytest.approx(same.tolist(), abs=1e-6)
    assert across == pytest.approx(other.tolist(), abs=1e-6)


def test_within_is_none_when_no_group_has_two_sentences():
    within, across = senses.within_across(torch.randn(2, 4, 8), [0, 1])
    assert within == [None] * 4 and len(across) == 4 and None not in across


def test_identical_vectors_within_and_opposite_across_give_one_and_minus_one():
    v = torch.randn(1, 2, 8)
    within, across = senses.within_across(torch.cat([v, v, -v]), [0, 0, 1])
    assert within == pytest.approx([1, 1], abs=1e-6) and across == pytest.approx([-1, -1], abs=1e-6)


def test_cue_positions_take_every_token_of_a_cue_before_the_word_only(tiny):
    _, tokenizer = tiny
    text = "the river by the bank and the river"
    tokens = tokenizer.tokenize(text)
    bank = senses.word_position(text, tokens, "bank", "s")
    found = senses.cue_positions(text, tokens, ["River", "moon"], bank)
    first = text.index("river")
    assert found and all(tokens[p].start < first + 5 and first < tokens[p].end for p in found)
    assert all(p < bank for p in found)


def test_attention_to_sums_the_keys_weights_for_every_head(tiny):
    model, tokenizer = tiny
    a = analyse(model, tokenizer, "the river bank")
    n = a.n_tokens
    got = senses.attention_to(a, n - 1, [0, 1])
    assert got.shape == a.attn_pattern.shape[:2]
    assert torch.allclose(got, a.attn_pattern[:, :, n - 1, 0] + a.attn_pattern[:, :, n - 1, 1])
    assert (senses.attention_to(a, n - 1, []) == 0).all()


def test_swap_word_replaces_whole_words_and_keeps_a_capital():
    assert senses.swap_word("Bank of the river bank, embankment", "bank", "table") == \
        "Table of the river table, embankment"
    assert senses.occurs("the Bank", "bank") and not senses.occurs("embankment", "bank")


def test_residual_without_heads_matches_a_full_pass_with_those_heads_zeroed(tiny):
    model, tokenizer = tiny
    a = analyse(model, tokenizer, "the river bank")
    assert senses.residual_without_heads(a, []) is a.resid
    heads = [(1, 2), (1, 0)]
    got = senses.residual_without_heads(a, heads)

    def zero(z, name):                                  # an independent pass from the first token
        z = z.clone()
        z[[0, 2]] = 0.0
        return z
    names = [f"blocks.{l}.resid_post" for l in range(model.cfg.n_layers)]
    with model.hooks({"blocks.1.attn.z": zero}):
        _, store = model.run_with_cache(a.ids, names)
    expected = torch.stack([a.resid[0]] + [store[n].reshape(a.resid.shape[1:]) for n in names])
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.equal(got[:2], a.resid[:2])            # before layer 1 nothing changes
    assert not torch.allclose(got[2], a.resid[2])       # after it, something does
