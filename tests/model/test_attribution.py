"""Direct logit attribution and saliency on the tiny random model, against independent computations."""

import pytest
import torch

from model import attribution as A
from model.analysis import analyse
from model.tiny import tiny_model


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = tiny_model(seed=0)
    return model, analyse(model, tokenizer, "the bank of the river")


def test_head_outputs_are_z_times_the_heads_columns_of_w_o_from_a_captured_pass(tiny):
    model, analysis = tiny
    _, store = model.run_with_cache(analysis.ids)
    cfg = model.cfg
    for layer in range(cfg.n_layers):
        z = store[f"blocks.{layer}.attn.z"][:, -1]                                  # (h, dh) from the hook point
        w_o = model.blocks[layer].attn.o_proj.weight                               # (d, h*dh)
        for h in range(cfg.n_heads):
            expected = z[h] @ w_o[:, h * cfg.d_head:(h + 1) * cfg.d_head].T
            assert torch.allclose(A.head_outputs(analysis)[layer, h].float(), expected, atol=1e-5)
        # and the heads together are the attention block's output
        assert torch.allclose(A.head_outputs(analysis)[layer].sum(0).float(), analysis.attn_out[layer, -1], atol=1e-5)


@pytest.mark.parametrize("contrast", [None, 7])
def test_parts_add_up_to_the_logit(tiny, contrast):
    model, analysis = tiny
    target = int(analysis.next_logits.argmax())
    parts = A.direct_parts(analysis, target, contrast)
    expected = analysis.next_logits[target] - (analysis.next_logits[contrast] if contrast is not None else 0)
    assert parts.logit == pytest.approx(float(expected), abs=1e-6)
    assert parts.parts_sum == pytest.approx(parts.logit, abs=1e-4)
    assert parts.heads.shape == (model.cfg.n_layers, model.cfg.n_heads)
    # not trivially: the parts differ and some push down
    assert parts.heads.std() > 0 and (torch.cat([parts.heads.flatten(), parts.mlps]) < 0).any()


def test_a_wrong_scale_would_not_add_up(tiny):
    model, analysis = tiny
    target = int(analysis.next_logits.argmax())
    parts = A.direct_parts(analysis, target)
    # the frozen scale matters: without it the same dot products give another number
    assert abs(parts.parts_sum / parts.scale - parts.logit) > 1e-2


def test_check_switches_off_the_strongest_parts(tiny):
    model, analysis = tiny
    target = int(analysis.next_logits.argmax())
    parts = A.direct_parts(analysis, target)
    heads, mlps = A.strongest(parts, 3)
    assert len(heads) + len(mlps) == 3
    picked = [float(parts.heads[l, h]) for l, h in heads] + [float(parts.mlps[l]) for l in mlps]
    others = [float(v) for (l, h), v in zip([(l, h) for l in range(2) for h in range(4)], parts.heads.flatten())
              if (l, h) not in heads] + [float(parts.mlps[l]) for l in range(2) if l not in mlps]
    assert min(picked) >= max(others)
    result = A.check(analysis, parts, target, None, heads, mlps)
    assert result.predicted == pytest.approx(-sum(picked))
    # the real pass with them off, computed independently with hooks on a full pass
    def zero_z(z, name):
        z = z.clone()
        for l, h in heads:
            if name == f"blocks.{l}.attn.z":
                z[h] = 0
        return z
    fns = {f"blocks.{l}.attn.z": zero_z for l, _ in heads} | {f"blocks.{l}.mlp_out": lambda x, n: x * 0 for l in mlps}
    with torch.inference_mode(), model.hooks(fns):
        full = model(analysis.ids)[-1]
    assert result.actual == pytest.approx(float(full[target] - analysis.next_logits[target]), abs=1e-4)


def test_gradient_x_input_matches_autograd_through_the_ordinary_forward(tiny):
    model, analysis = tiny
    target, contrast = int(analysis.next_logits.argmax()), 5
    s = A.saliency(model, analysis.ids.tolist(), target, contrast, steps=8)
    emb = model.embed(analysis.ids).detach().requires_grad_(True)
    with torch.enable_grad(), model.hooks({"embed": lambda x, name: emb}):
        logits = model(analysis.ids)[-1]
        (logits[target] - logits[contrast]).backward()
    expected = (emb.grad * emb).sum(-1)
    assert torch.allclose(s.gradient_x_input.float(), expected, atol=1e-4)
    assert s.f_input == pytest.approx(float((logits[target] - logits[contrast]).detach()), abs=1e-4)


def test_batched_copies_do_not_see_each_other(tiny):
    model, analysis = tiny
    read = A.direction(model, 3).float()
    x = model.embed(analysis.ids)
    base = A.baseline_embeddings(x)
    both = torch.stack([base, x])
    with torch.no_grad():
        together = A.batched_f(model, both, read)
        alone = torch.stack([A.batched_f(model, base[None], read)[0], A.batched_f(model, x[None], read)[0]])
        full = model(analysis.ids)[-1, 3]
    assert torch.allclose(together, alone, atol=1e-5)
    assert float(together[1]) == pytest.approx(float(full), abs=1e-4)


def test_integrated_gradients_are_complete_with_many_steps(tiny):
    model, analysis = tiny
    target = int(analysis.next_logits.argmax())
    s = A.saliency(model, analysis.ids.tolist(), target, steps=256)
    assert s.completeness == pytest.approx(1.0, abs=0.02)
    assert s.integrated_gradients.shape == (analysis.n_tokens,)


def test_reacting_is_every_part_still_on_after_the_earliest_one_switched_off():
    full = list(range(9))
    # Heads of the last layer: only that layer's MLP reads what they wrote.
    assert A.reacting([(29, 7)], [], 30, 9) == [(29, [], True)]
    # The last MLP, or it with the last layer's heads: nothing is left after them.
    assert A.reacting([], [29], 30, 9) == []
    assert A.reacting([(29, 1), (29, 2)], [29], 30, 9) == []
    # A head of layer 23 and the MLPs of 28 and 29: 23's MLP, whole layers 24-27, then heads only.
    got = A.reacting([(23, 4)], [28, 29], 30, 9)
    assert got == [(23, [], True)] + [(l, full, True) for l in range(24, 28)] + [(28, full, False), (29, full, False)]
    # An MLP: from the next layer on, the switched-off head of a later layer left out.
    assert A.reacting([(29, 0)], [28, 29], 30, 9) == [(29, [h for h in full if h != 0], False)]
