import pytest
import torch

from model.ablation import HeadOutOfRange, ablated_next_logits, check_heads
from model.analysis import analyse
from model.tiny import tiny_model


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = tiny_model(seed=0)
    return model, analyse(model, tokenizer, "the bank of the river")


def full_pass_with_heads_zeroed(model, ids, heads):
    def zero(z, name):
        layer = int(name.split(".")[1])
        z = z.clone()
        for l, h in heads:
            if l == layer:
                z[h] = 0
        return z

    with torch.inference_mode(), model.hooks({f"blocks.{l}.attn.z": zero for l, _ in heads}):
        return model(ids)[-1]


def test_no_heads_off_is_the_unchanged_prediction(tiny):
    model, analysis = tiny
    assert torch.equal(ablated_next_logits(analysis, []), analysis.next_logits)


@pytest.mark.parametrize("heads", [[(0, 1)], [(1, 3)], [(0, 0), (1, 2), (1, 0)]])
def test_resuming_at_the_first_ablated_layer_equals_a_full_ablated_pass(tiny, heads):
    model, analysis = tiny
    got = ablated_next_logits(analysis, heads)
    assert torch.allclose(got, full_pass_with_heads_zeroed(model, analysis.ids, heads), atol=1e-5)
    assert not torch.allclose(got, analysis.next_logits, atol=1e-3)  # the heads did matter


def test_every_head_of_a_layer_off_removes_its_attention(tiny):
    model, analysis = tiny
    heads = [(1, h) for h in range(model.cfg.n_heads)]
    with torch.inference_mode():
        x = analysis.resid[1]
        block = model.blocks[1]
        x = x + block.mlp(block.mlp_norm(x))          # attention adds nothing when all its heads are off
        expected = model.unembed(model.norm(x[-1:]))[-1]
    assert torch.allclose(ablated_next_logits(analysis, heads), expected, atol=1e-5)


def test_heads_out_of_range_name_the_valid_range(tiny):
    model, _ = tiny
    with pytest.raises(HeadOutOfRange, match="layers are 0 to 1"):
        check_heads(model, [(2, 0)])
    with pytest.raises(HeadOutOfRange, match="heads are 0 to 3"):
        check_heads(model, [(0, 4)])
    assert check_heads(model, [(1, 2), (0, 1), (1, 2)]) == [(0, 1), (1, 2)]
