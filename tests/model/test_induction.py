"""model/induction.py on the tiny random Llama: heads switched off at every position, the copy
losses against a plain cross-entropy, the random control heads."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model import induction
from model.ablation import HeadOutOfRange
from model.tiny import tiny_model


@pytest.fixture(scope="module")
def tiny():
    return tiny_model(seed=0)


def test_no_heads_off_is_the_plain_pass(tiny):
    model, _ = tiny
    ids = torch.tensor([5, 9, 2, 7, 5, 9, 2, 7])
    with torch.inference_mode(), model.float32_only():
        plain = model(ids)
    assert torch.equal(induction.logits_without(model, ids, []), plain)


def test_a_head_off_changes_only_what_comes_after_its_layer(tiny):
    model, _ = tiny
    ids = torch.tensor([5, 9, 2, 7, 5, 9, 2, 7])
    off = induction.logits_without(model, ids, [(1, 0)])
    names = [f"blocks.{l}.resid_post" for l in range(model.cfg.n_layers)]
    with model.float32_only():
        _, plain = model.run_with_cache(ids, names)

    kept = {}
    def keep(x, name):
        kept[name] = x.detach()
    def zero(z, name):
        z = z.clone(); z[0] = 0.0; return z
    with torch.inference_mode(), model.float32_only(), model.hooks({"blocks.1.attn.z": zero, **{n: keep for n in names}}):
        again = model(ids)
    assert torch.equal(kept["blocks.0.resid_post"], plain["blocks.0.resid_post"])    # before: untouched
    assert not torch.allclose(kept["blocks.1.resid_post"], plain["blocks.1.resid_post"])
    assert torch.equal(again, off)


def test_copy_losses_are_the_cross_entropy_of_each_copy(tiny):
    model, _ = tiny
    seqs = torch.tensor([[3, 8, 1, 6, 3, 8, 1, 6], [4, 2, 9, 5, 4, 2, 9, 5]])
    first, second = induction.copy_losses(model, seqs, [(0, 1)])
    f, s = [], []
    for row in seqs:
        logits = induction.logits_without(model, row, [(0, 1)]).double()
        f += [F.cross_entropy(logits[i], row[i + 1]) for i in range(0, 3)]   # first copy, tokens 2..4
        s += [F.cross_entropy(logits[i], row[i + 1]) for i in range(4, 7)]   # second copy, tokens 2..4
    assert first == pytest.approx(float(torch.stack(f).mean()))
    assert second == pytest.approx(float(torch.stack(s).mean()))


def test_random_other_heads_exclude_the_chosen_and_repeat_with_the_seed():
    chosen = [(1, 0), (2, 3)]
    a = induction.random_other_heads(4, 4, chosen, 5, seed=7)
    assert len(set(a)) == 5 and not set(a) & set(chosen)
    assert a == induction.random_other_heads(4, 4, chosen, 5, seed=7)
    assert a != induction.random_other_heads(4, 4, chosen, 5, seed=8)


def test_a_head_the_model_lacks_is_refused(tiny):
    model, _ = tiny
    with pytest.raises(HeadOutOfRange):
        induction.logits_without(model, torch.tensor([1, 2, 3]), [(model.cfg.n_layers, 0)])


def test_resuming_from_the_kept_residual_stream_gives_the_same_logits(tiny):
    model, _ = tiny
    ids = torch.tensor([5, 9, 2, 7, 5, 9, 2, 7])
    logits, resid = induction.resid_pre(model, ids)
    with torch.inference_mode(), model.float32_only():
        assert torch.allclose(logits, model(ids))
    for heads in ([(1, 0)], [(0, 1), (1, 2)]):
        assert torch.allclose(induction.logits_without(model, ids, heads, resid),
                              induction.logits_without(model, ids, heads), atol=1e-5)
    seqs = torch.stack([ids, ids.flip(0)])
    resids = [induction.resid_pre(model, row)[1] for row in seqs]
    assert induction.copy_losses(model, seqs, [(1, 0)], resids) == pytest.approx(induction.copy_losses(model, seqs, [(1, 0)]))
    result = induction.knockout(model, seqs, [(1, 0)], draws=2, seed=0)
    assert (result.loss_first, result.loss_all_on) == pytest.approx(induction.copy_losses(model, seqs))
    assert result.loss_heads_off == pytest.approx(induction.repeat_loss(model, seqs, [(1, 0)]))
