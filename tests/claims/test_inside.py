"""Claims of chapter 4a, inside a layer (/inside), checked on the real weights.

docs/CLAIMS.md, section 4a, lists each statement on the page and the test here (or elsewhere) behind it."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from model.inside import inside, layer_changes, rerun_block
from model.llama import rotate

FRANCE = "The capital of France is"


def t(x):
    return torch.tensor(x, dtype=torch.float64)


@pytest.fixture(scope="module")
def france(real_engine):
    return real_engine.locked(real_engine.analysis, real_engine.prompt(FRANCE))


def test_the_score_table_gives_chapter_4s_row_for_every_head_of_layer_18(real_client):
    """Done-when: following '␣is' through layer 18, each head's weights (the table's last column) are the row of
    chapter 4's heatmap, and e^scaled ÷ the sum of them (the column before) gives the same numbers."""
    for head in range(9):
        x = real_client.post("/api/inside", json={"text": FRANCE, "layer": 18, "head": head}).json()
        row = real_client.post("/api/attention", json={"text": FRANCE, "layer": 18, "head": head}).json()["weights"][-1]
        assert x["tokens"][x["position"]]["display"] == "␣is"
        assert x["weights"] == row
        exps = [math.exp(s) for s in x["scaled"]]
        assert [e / sum(exps) for e in exps] == pytest.approx(row, abs=2e-6)
        assert x["scaled"] == pytest.approx([s / math.sqrt(x["d_head"]) for s in x["scores"]], abs=2e-6)


def test_rope_scores_depend_on_how_far_apart_tokens_are_not_where(real_engine, france):
    """'A query and a key turned by their own positions then score each other by how far apart they are.'"""
    model = real_engine.model
    x = inside(france, 18, 1, 4)
    q = x.query_unrotated[None, None]                                     # (1, 1, dh): head 1, '␣is', before RoPE
    block = model.blocks[18]
    with torch.inference_mode():                                          # key/value head 0 (head 1's), '␣France'
        raw_k = block.attn.k_proj(block.attn_norm(france.resid[18, 3:4]))[0, :64][None, None]
    k = real_engine.locked(rerun_block, france, 18)["attn.k"]             # (g, n, dh) after RoPE

    def score(m, n):
        cos, sin = model.rotary(torch.tensor([m, n]))
        return float((rotate(q, cos[:1], sin[:1]) * rotate(raw_k, cos[1:], sin[1:])).sum())

    for gap in (0, 1, 3, 17):
        base = score(gap + 4, 4)
        for shift in (10, 100, 400):
            assert score(gap + 4 + shift, 4 + shift) == pytest.approx(base, rel=1e-4, abs=1e-4)
    # and not position-free: the same pair at another distance scores differently
    assert abs(score(4, 4) - score(40, 4)) > 1e-3
    assert torch.allclose(k[0, 3], rotate(raw_k, *[c[3:4] for c in model.rotary(torch.arange(5))])[0, 0], atol=1e-4)


def test_rope_turns_the_first_pair_fastest_and_keeps_each_pairs_length(france):
    x = inside(france, 18, 1, 4)
    angles = x.rope_angles
    assert angles[0] == pytest.approx(4.0) and bool((angles[1:] < angles[:-1]).all())
    half = angles.shape[0]
    before = torch.hypot(x.query_unrotated[:half], x.query_unrotated[half:])
    after = torch.hypot(x.query[:half], x.query[half:])
    assert torch.allclose(before, after, rtol=1e-4, atol=1e-5)
    assert inside(france, 18, 1, 0).rope_angles.abs().max() == 0      # position 0 is not turned


def test_rmsnorm_leaves_a_typical_size_whatever_came_before(france):
    """Dividing by the root-mean-square leaves every layer's vector with a root-mean-square of 1 (before the gain),
    though the vectors coming in grow by a factor of more than 100 from layer 0 to the last."""
    rows = layer_changes(france, 4)
    assert rows[-1].resid_post / rows[0].resid_pre > 100
    for layer in (0, 10, 29):
        x = inside(france, layer, 0, 4)
        scaled = x.resid_pre.double() / x.rms1
        assert float(scaled.pow(2).mean().sqrt()) == pytest.approx(1.0, abs=1e-3)


def test_silu_lets_positive_sums_through_and_never_goes_below_about_minus_0_28():
    x = torch.linspace(-20, 20, 400_001, dtype=torch.float64)
    assert round(float(F.silu(x).min()), 2) == -0.28
    assert float(F.silu(torch.tensor(10.0))) == pytest.approx(10.0, rel=1e-3)


def test_the_heads_shares_add_up_to_attention_and_the_additions_to_the_next_layer(france):
    """'the 9 vectors add up to attention's output'; the strips' additions; resid_post is the next layer's input."""
    for layer in (0, 18, 29):
        x = inside(france, layer, 1, 4)
        assert torch.allclose(x.head_parts.sum(0), x.attn_out, rtol=1e-4, atol=1e-3)
        assert float(x.attn_out.norm()) <= float(x.head_parts.norm(dim=1).sum()) + 1e-4
        assert torch.allclose(x.resid_pre + x.attn_out, x.resid_mid, atol=1e-3)
        assert torch.allclose(x.resid_mid + x.mlp_out, x.resid_post, atol=1e-3)
        assert torch.equal(x.resid_post, france.resid[layer + 1, 4])


def test_the_block_run_again_gives_back_the_kept_pass_also_after_typing(real_engine):
    """Honest note: the steps in between come from running the layer's code again on the kept vector coming in, and
    that run gives back the kept values, also for a prompt whose analysis was extended token by token (typing)."""
    real_engine.locked(real_engine.analysis, real_engine.prompt("A quiet river runs past the old"))
    typed = real_engine.locked(real_engine.analysis, real_engine.prompt("A quiet river runs past the old mill"))
    for analysis in (typed,):
        for layer in (0, 12, 29):
            run = real_engine.locked(rerun_block, analysis, layer)
            assert torch.allclose(run["attn.pattern"], analysis.attn_pattern[layer], atol=1e-5)
            scale = float(analysis.resid[layer + 1].abs().max())
            assert torch.allclose(run["resid_post"], analysis.resid[layer + 1], atol=1e-5 * scale + 1e-4)
            assert torch.allclose(run["attn_out"], analysis.attn_out[layer], atol=1e-5 * scale + 1e-4)
            # the keys the page shows (from the KV cache) are the ones this run computes
            assert torch.allclose(run["attn.k"], analysis.kv_cache.keys[layer], atol=1e-4)
