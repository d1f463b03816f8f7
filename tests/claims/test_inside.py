"""Claims of chapter 4a, inside a layer (/inside), checked on the real weights.

docs/CLAIMS.md, section 4a, lists each statement on the page and the test here (or elsewhere) behind it."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from model.inside import inside, layer_changes, rerun_block
from model.llama import Positions, rotate

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


# --- added by the independent review (issue 15) -------------------------------------------------------------------

def _hf_layer(hf, ids, layer):
    """HF transformers' own Llama on the same GGUF: what goes into and comes out of each module of one layer."""
    store = {}
    block = hf.model.layers[layer]
    modules = {"in_norm": block.input_layernorm, "q": block.self_attn.q_proj, "k": block.self_attn.k_proj,
               "v": block.self_attn.v_proj, "o": block.self_attn.o_proj, "post_norm": block.post_attention_layernorm,
               "gate": block.mlp.gate_proj, "up": block.mlp.up_proj, "down": block.mlp.down_proj}
    handles = [m.register_forward_hook(lambda _m, i, o, name=name: store.__setitem__(name, (i[0][0], o[0])))
               for name, m in modules.items()]
    try:
        with torch.no_grad():
            out = hf(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    finally:
        for h in handles:
            h.remove()
    return store, out


@pytest.mark.parametrize("text,layer,head,position", [(FRANCE, 18, 1, None), ("I sat on the river bank", 3, 7, 2)])
def test_every_number_agrees_with_hf_transformers(real_client, hf_reference, text, layer, head, position):
    """The page's numbers against an independent implementation (HF transformers' Llama over the same GGUF, its own
    RoPE, eager attention, repeat_kv grouping): the residual stream, both RMSNorms, query and keys after RoPE (pairs
    i and i + 32, as the page says), values, scores, ÷√64, the weights, the head output, attn_out, the MLP's gate,
    SiLU, up, product and output, resid_post; kv_head = head // 3."""
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    x = real_client.post("/api/inside", json={"text": text, "layer": layer, "head": head, "position": position}).json()
    ids = [tok["id"] for tok in x["tokens"]]
    p, dh, h, g = x["position"], x["d_head"], x["n_heads"], x["n_kv_heads"]
    store, out = _hf_layer(hf_reference, ids, layer)
    n = len(ids)
    q = store["q"][1].view(n, h, dh).transpose(0, 1)
    k = store["k"][1].view(n, g, dh).transpose(0, 1)
    v = store["v"][1].view(n, g, dh).transpose(0, 1)
    cos, sin = hf_reference.model.rotary_emb(v, torch.arange(n)[None])
    qr, kr = (a[0] for a in apply_rotary_pos_emb(q[None], k[None], cos, sin))
    kv = head // (h // g)                                          # HF's repeat_kv: query head i reads kv head i // 3
    assert x["kv_head"] == kv

    def close(ours, theirs, tol):
        theirs = t(theirs.tolist())
        assert torch.allclose(t(ours), theirs, atol=tol * float(theirs.abs().max()) + 1e-5), float((t(ours) - theirs).abs().max())

    close(x["resid_pre"], out.hidden_states[layer][0, p], 1e-5)
    close(x["norm1"], store["in_norm"][1][p], 1e-5)
    close(x["query_unrotated"], q[head, p], 1e-5)
    close(x["query"], qr[head, p], 1e-5)
    close(x["keys"], kr[kv, : p + 1], 1e-5)
    close(x["values"], v[kv, : p + 1], 1e-5)
    scores = kr[kv, : p + 1] @ qr[head, p]
    close(x["scores"], scores, 1e-5)
    close(x["scaled"], scores / math.sqrt(dh), 1e-5)
    close(x["weights"], out.attentions[layer][0, head, p, : p + 1], 1e-5)
    close(x["head_output"], torch.softmax(scores / math.sqrt(dh), 0) @ v[kv, : p + 1], 1e-5)
    close(x["attn_out"], store["o"][1][p], 1e-5)
    close(x["resid_mid"], store["post_norm"][0][p], 1e-5)
    close(x["norm2"], store["post_norm"][1][p], 1e-5)
    close(x["mlp_gate_pre"], store["gate"][1][p], 1e-5)
    close(x["mlp_gate"], F.silu(store["gate"][1][p]), 1e-5)
    close(x["mlp_up"], store["up"][1][p], 1e-5)
    close(x["mlp_hidden"], store["down"][0][p], 1e-5)
    close(x["mlp_out"], store["down"][1][p], 1e-5)
    if layer + 1 < x["n_layers"]:                                  # HF's last hidden state is after the final norm
        close(x["resid_post"], out.hidden_states[layer + 1][0, p], 1e-5)


def test_the_softmax_is_of_the_divided_scores_not_the_scores(france):
    """Was 'e^score divided by the sum': the table's e^x is e to the divided score (the ÷√64 column); the softmax of
    the undivided query·key scores gives other weights (for '␣is', layer 18, head 1: 1.0000 on 'The', not 0.6562)."""
    x = inside(france, 18, 1, 4)
    assert torch.allclose(torch.softmax(x.scaled.double(), 0), x.weights.double(), atol=2e-6)
    undivided = torch.softmax(x.scores.double(), 0)
    assert float((undivided - x.weights.double()).abs().max()) > 0.1


def test_the_key_and_value_matrices_belong_to_the_group_the_query_matrix_to_the_head(real_engine, france):
    """Was 'The head multiplies the normalised vector by three learned matrices': the heads of one group read the
    very same keys and values (one key and one value matrix per key/value head), each with a query of its own."""
    cfg = real_engine.cfg
    per_group = cfg.n_heads // cfg.n_kv_heads
    attn = real_engine.model.blocks[18].attn
    assert attn.k_proj.weight.shape[0] == attn.v_proj.weight.shape[0] == cfg.n_kv_heads * cfg.d_head
    assert attn.q_proj.weight.shape[0] == cfg.n_heads * cfg.d_head
    group = [inside(france, 18, h, 4) for h in range(per_group)]                   # heads 0, 1, 2: kv head 0
    for x in group[1:]:
        assert x.kv_head == group[0].kv_head == 0
        assert torch.equal(x.keys, group[0].keys) and torch.equal(x.values, group[0].values)
        assert not torch.allclose(x.query, group[0].query, atol=1e-2)
    other = inside(france, 18, per_group, 4)                                      # head 3: kv head 1
    assert other.kv_head == 1 and not torch.allclose(other.keys, group[0].keys, atol=1e-2)


def test_the_mlp_neurons_have_no_bias_and_multiply_two_sums(real_engine, france):
    """Was 'Same sums and squashes as chapter 1': unlike chapter 1's units (a bias each, tanh), an MLP neuron is
    SiLU(gate sum) × up sum, with no bias anywhere in the block."""
    block = real_engine.model.blocks[18]
    for linear in (block.mlp.gate_proj, block.mlp.up_proj, block.mlp.down_proj, block.attn.q_proj, block.attn.o_proj):
        assert linear.bias is None
    x = inside(france, 18, 1, 4)
    w_gate, w_up, w_down = (m.weight.detach().double() for m in (block.mlp.gate_proj, block.mlp.up_proj, block.mlp.down_proj))
    norm2 = x.norm2.double()
    assert torch.allclose(w_gate @ norm2, x.mlp_gate_pre.double(), atol=1e-4)      # a weighted sum, nothing added
    assert torch.allclose(w_up @ norm2, x.mlp_up.double(), atol=1e-4)
    assert torch.allclose(F.silu(w_gate @ norm2) * (w_up @ norm2), x.mlp_hidden.double(), atol=1e-4)
    assert torch.allclose(w_down @ x.mlp_hidden.double(), x.mlp_out.double(), atol=1e-3)
    # and SiLU is not chapter 1's tanh: on these gate sums the two differ
    assert float((F.silu(x.mlp_gate_pre) - torch.tanh(x.mlp_gate_pre)).abs().max()) > 0.5


def test_chapter_4_shows_the_weight_as_a_percentage_with_two_decimals():
    """'which chapter 4 shows as 65.62% when you point at that cell': chapter 4's heatmap hover prints weight × 100
    with two decimals and a % sign, the format this page prints next to the weight."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "static" / "js"
    assert "weight ${(w * 100).toFixed(2)}%" in (root / "attention" / "heatmap.js").read_text()
    source = (root / "inside.js").read_text()
    assert "${(heaviest[1] * 100).toFixed(2)}% when you `" in source
    assert 'el("span", { text: "point at", attrs: { "data-touch": "tap" } })' in source


def test_the_server_has_only_the_quantised_weights(real_engine):
    """Honest note: 'the numbers are this quantised model's, not those of the original full-precision model, which
    this server does not have': the model is read from one GGUF whose matrices are mostly 4-bit blocks."""
    from pathlib import Path

    source = Path(real_engine.source)
    assert source.suffix == ".gguf"
    weights = [f for f in source.parent.iterdir() if f.suffix in (".gguf", ".safetensors", ".bin", ".pt", ".pth")]
    assert weights == [source]


def test_a_token_scores_its_own_key_too(france):
    """Tour card: 'how its query and the keys of the tokens up to it (itself included) make each attention weight'
    (was 'the earlier tokens' keys'): the row runs over positions 0..p, and the token's own key takes a weight."""
    for layer, head, p in ((18, 1, 4), (3, 2, 2), (0, 4, 0)):
        x = inside(france, layer, head, p)
        assert x.keys.shape[0] == x.weights.shape[0] == p + 1
        assert float(x.weights[p]) > 0
        assert torch.allclose(x.scores[p], x.query @ france.kv_cache.keys[layer][x.kv_head, p], atol=1e-4)


def test_later_tokens_are_masked_with_minus_infinity_and_get_weight_0(real_client):
    """Mask note under the score table: 'The 3 tokens after “␣on” are masked: a score of −∞, whose eˣ is 0, so the
    weight is 0' (the model adds -inf to future scores before its softmax, Positions.future_bias; chapter 4's row is exactly 0 there;
    the C attention, model/blockmatmul.c tt_attention for a few new tokens and tt_attention_long for longer
    passes, gives those keys weight 0 as the softmax of -inf does, without computing their scores; checked
    against the torch path in tests/model/test_blockmatmul.py)."""
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "model" / "llama.py").read_text()
    assert "scores += pos.future_bias" in source
    pos = Positions(torch.zeros(4, 2), torch.zeros(4, 2), torch.ones(4, 4, dtype=torch.bool).triu(1))
    assert torch.equal(pos.future_bias.isinf(), pos.future) and bool((pos.future_bias[pos.future] < 0).all())
    assert bool((pos.future_bias[~pos.future] == 0).all())
    text, p = "I sat on the river bank", 2
    row = real_client.post("/api/attention", json={"text": text, "layer": 3, "head": 2}).json()["weights"][p]
    x = real_client.post("/api/inside", json={"text": text, "layer": 3, "head": 2, "position": p}).json()
    assert len(x["tokens"]) == 6 and row[p + 1:] == [0, 0, 0] and row[: p + 1] == x["weights"]


def _page_text(real_client) -> str:
    return " ".join(real_client.get("/inside").text.split())


def test_a_few_entries_of_the_residual_stream_are_far_larger_than_the_rest(smollm2, france):
    """Strip note: 'A few entries are far larger than the rest' (review: unchecked). On the default text, from
    layer 0's output on, every token's largest entry is more than 10 times the median entry's size (15.9 at
    least, 30-50 in most layers); the control, a random normal vector of the same 576 numbers, gives about 4.9."""
    sizes = france.resid[1:].abs().double()
    assert float((sizes.max(-1).values / sizes.median(-1).values).min()) > 10
    g = torch.randn(2000, france.resid.shape[-1], generator=torch.Generator().manual_seed(0), dtype=torch.float64).abs()
    assert float((g.max(-1).values / g.median(-1).values).mean()) < 6


def clip_of(values, rank=6):
    """static/js/inside.js clipOf: a strip's colour limit, its 6th-largest |entry|."""
    return sorted((abs(v) for v in values), reverse=True)[rank - 1]


def test_the_strips_of_an_addition_share_one_scale(real_client):
    """Strip note (review): 'each strip's colours stop at its 6th-largest size; the entries beyond it are listed'
    was all it said, yet the three strips of an addition (sections 3 and 4, drawStrip/drawTops with shared) stop
    at the largest of their three limits: on the default text attention's output (layer 18, '␣is') is coloured up
    to 16.61, resid_mid's limit, not its own 2.29, and none of its entries is listed ('none beyond the colour
    scale'). The note now says so."""
    text = _page_text(real_client)
    assert ("In sections 3 and 4 the three strips of an addition (before, added, after) share one colour scale, so their "
            "colours compare: it stops at the largest of their three limits, so a small addition may have no entry "
            "beyond it.") in text
    x = real_client.post("/api/inside", json={"text": FRANCE, "layer": 18, "head": 1}).json()
    for rows in (("resid_pre", "attn_out", "resid_mid"), ("resid_mid", "mlp_out", "resid_post")):
        common = max(clip_of(x[r]) for r in rows)
        addition = x[rows[1]]
        assert clip_of(addition) < common / 2
        assert max(abs(v) for v in addition) <= common     # nothing listed under the addition's strip


def test_the_json_has_six_decimals_and_the_rope_angles_eight(real_client):
    """Honest note (review): 'the JSON has six decimals' - the RoPE angles have eight (pair 31 at position 4 is
    turned by 0.00005732, 0.000057 at six decimals); the note now says so."""
    assert "the JSON has six decimals (the RoPE angles eight)." in _page_text(real_client)
    x = real_client.post("/api/inside", json={"text": FRANCE, "layer": 18, "head": 1}).json()
    for name in ("resid_pre", "norm1", "query", "weights", "mlp_hidden", "resid_post"):
        values = x[name] if not isinstance(x[name][0], list) else [v for row in x[name] for v in row]
        assert all(v == round(v, 6) for v in values), name
    angles = x["rope_angles"]
    assert all(v == round(v, 8) for v in angles) and any(v != round(v, 6) for v in angles)


def test_the_mlp_is_one_hidden_layer_of_neurons_that_multiply_a_curved_sum_by_a_second(real_engine, real_client, france):
    """The lede and the tour card called the MLP 'a neural network like chapter 1's with many more neurons' (and 'a
    network like chapter 1's'): chapter 1's network has two hidden layers of tanh units, one weighted sum and a bias
    each; the MLP is one hidden layer of d_mlp neurons (576 -> 1,536 -> 576 in SmolLM2), each SiLU(gate sum) times a
    second, unsquashed sum (test_the_mlp_neurons_have_no_bias_and_multiply_two_sums). Both now say so, the width
    from the model's config. Review: they said the neurons 'add up weighted inputs and squash the sum', which after
    chapter 1 (tanh: 'squashes it into −1 … 1') reads as a bounded output; SiLU lets positive sums through: at the
    page's default (layer 18, '␣is' of 'The capital of France is') 91 of the 1,536 outputs are above 1 (up to 3.27;
    layer 29: 193, up to 12.51), while no output goes below −0.279. Now 'pass the sum through a curve, though not
    chapter 1's squash into −1 … 1 (SiLU lets positive sums through and shrinks negative ones towards 0)'."""
    import re

    from app.schemas.network import DEFAULT_HIDDEN
    from model import network as nn

    cfg = real_engine.cfg
    for block in real_engine.model.blocks:                  # d_model -> d_mlp (gate, up) -> d_model: one hidden layer
        assert block.mlp.gate_proj.weight.shape == block.mlp.up_proj.weight.shape == (cfg.d_mlp, cfg.d_model)
        assert block.mlp.down_proj.weight.shape == (cfg.d_model, cfg.d_mlp)
    assert len(nn.sizes_of(nn.init_network(DEFAULT_HIDDEN, 0))) - 2 == 2   # chapter 1: two hidden layers
    width = f"{cfg.d_mlp:,}"
    for path in ("/inside", "/"):
        page = re.sub(r"\s+", " ", real_client.get(path).text)
        assert "like chapter 1's with many more neurons" not in page and "a network like chapter 1's" not in page
        assert "squash the sum" not in page
        assert (f"the <em>MLP</em>: one hidden layer of {width} neurons that, like chapter 1's, add up weighted inputs "
                "and pass the sum through a curve, though not chapter 1's squash into −1 … 1 (SiLU lets positive sums "
                "through and shrinks negative ones towards 0), and each then multiplies it by a second weighted sum.") \
            in page
    gate = inside(france, 18, 1, 4).mlp_gate_pre.double()
    out = F.silu(gate)
    assert int((out > 1).sum()) > 10                                    # not squashed into −1 … 1
    assert bool((out[gate > 0] >= gate[gate > 0] / 2).all())           # positive sums let through (at least half)
    assert float(out.min()) >= -0.2785 and bool((out[gate < 0].abs() < gate[gate < 0].abs()).all())  # towards 0
