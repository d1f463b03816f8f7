"""model/inside.py on the tiny random model: every number of one layer agrees with a computation by
hand from the weights, and with the values the Analysis kept from the pass."""

import math

import pytest
import torch
import torch.nn.functional as F

from model.analysis import analyse_ids
from model.inside import inside, layer_changes
from model.tiny import tiny_model


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = tiny_model(seed=0)
    ids = [t.id for t in tokenizer.tokenize("the bank by the river")]
    return model, analyse_ids(model, ids)


def by_hand(model, x_in, layer, head, p):
    """The block's numbers for token p, written out from the weights (not through the Block module)."""
    cfg, blk = model.cfg, model.blocks[layer]
    h, g, dh = cfg.n_heads, cfg.n_kv_heads, cfg.d_head
    n = x_in.shape[0]

    def rms(x, norm):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + norm.eps) * norm.weight

    def rope(x, pos):                                        # x (n, dh), pairs (i, i + dh/2)
        half = dh // 2
        theta = 1.0 / (cfg.rope_base ** (torch.arange(half).float() * 2 / dh))
        a = pos[:, None].float() * theta[None, :]
        x1, x2 = x[:, :half], x[:, half:]
        return torch.cat([x1 * a.cos() - x2 * a.sin(), x2 * a.cos() + x1 * a.sin()], dim=-1)

    a = rms(x_in, blk.attn_norm)
    kv = head // (h // g)
    q = (a @ blk.attn.q_proj.weight.T).view(n, h, dh)
    k = (a @ blk.attn.k_proj.weight.T).view(n, g, dh)[:, kv]
    v = (a @ blk.attn.v_proj.weight.T).view(n, g, dh)[:, kv]
    pos = torch.arange(n)
    q_rot = rope(q[:, head], pos)[p]
    k_rot = rope(k, pos)[: p + 1]
    scores = k_rot @ q_rot
    weights = torch.softmax(scores / math.sqrt(dh), dim=0)
    z = weights @ v[: p + 1]
    return dict(norm1=a[p], query_unrotated=q[p, head], query=q_rot, keys=k_rot, values=v[: p + 1],
                scores=scores, weights=weights, head_output=z)


@pytest.mark.parametrize("layer, head, p", [(0, 0, 0), (1, 3, 4), (1, 2, 2), (0, 1, 5)])
def test_the_attention_numbers_agree_with_a_computation_by_hand(tiny, layer, head, p):
    model, analysis = tiny
    x = inside(analysis, layer, head, p)
    ref = by_hand(model, analysis.resid[layer], layer, head, p)
    for name, expected in ref.items():
        assert torch.allclose(getattr(x, name), expected, atol=1e-5), name
    assert torch.allclose(x.scaled, ref["scores"] / math.sqrt(model.cfg.d_head), atol=1e-5)
    assert x.kv_head == head // 2 and x.keys.shape == (p + 1, model.cfg.d_head)


def test_the_identities_of_the_issue_hold(tiny):
    model, analysis = tiny
    n = analysis.n_tokens
    for layer in range(model.cfg.n_layers):
        for p in range(n):
            x = inside(analysis, layer, 1, p)
            assert torch.allclose(torch.softmax(x.scaled, 0), x.weights, atol=1e-6)
            assert torch.equal(x.weights, analysis.attn_pattern[layer, 1, p, : p + 1])
            assert torch.allclose(x.weights @ x.values, x.head_output, atol=1e-6)
            assert torch.allclose(x.resid_pre + x.attn_out, x.resid_mid, atol=1e-6)
            assert torch.allclose(x.resid_mid + x.mlp_out, x.resid_post, atol=1e-5)
            assert torch.equal(x.resid_post, analysis.resid[layer + 1, p])
            assert torch.allclose(x.mlp_gate, F.silu(x.mlp_gate_pre)) and torch.allclose(x.mlp_gate * x.mlp_up, x.mlp_hidden, atol=1e-6)
            assert torch.allclose(x.head_parts.sum(0), x.attn_out, atol=1e-5)
            assert torch.allclose(x.resid_pre / x.rms1 * x.norm1_gain, x.norm1, atol=1e-5)
            assert torch.allclose(x.resid_mid / x.rms2 * x.norm2_gain, x.norm2, atol=1e-5)
            down = model.blocks[layer].mlp.down_proj.weight
            assert torch.allclose(down @ x.mlp_hidden, x.mlp_out, atol=1e-5)


def test_rope_angles_turn_the_unrotated_query_into_the_query(tiny):
    model, analysis = tiny
    x = inside(analysis, 1, 0, 4)
    half = model.cfg.d_head // 2
    c, s = x.rope_angles.cos(), x.rope_angles.sin()
    q1, q2 = x.query_unrotated[:half], x.query_unrotated[half:]
    assert torch.allclose(torch.cat([q1 * c - q2 * s, q2 * c + q1 * s]), x.query, atol=1e-6)
    # rotation keeps each pair's length
    assert torch.allclose(x.query.norm(), x.query_unrotated.norm(), atol=1e-5)


def test_layer_changes_are_the_lengths_the_analysis_kept(tiny):
    _, analysis = tiny
    rows = layer_changes(analysis, 3)
    assert [r.layer for r in rows] == list(range(analysis.model.cfg.n_layers))
    for r in rows:
        assert r.attn == pytest.approx(float(analysis.attn_out[r.layer, 3].norm()), rel=1e-5)
        assert r.resid_post == pytest.approx(float(analysis.resid[r.layer + 1, 3].norm()), rel=1e-5)
        assert -1 <= r.cosine <= 1
