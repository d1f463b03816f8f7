"""The forward pass on the tiny random model: invariants that hold for any weights."""

import pytest
import torch

from model.llama import KVCache, hook_names, rotate, rotate_fast
from model.tiny import tiny_model


@pytest.fixture(scope="module")
def tiny():
    return tiny_model(seed=1)


def test_hook_names_are_pinned(tiny):
    model, _ = tiny
    # The API and the Analysis read these names: renaming one is a breaking change.
    assert hook_names(1) == [
        "embed",
        "blocks.0.resid_pre", "blocks.0.attn.q", "blocks.0.attn.k", "blocks.0.attn.v",
        "blocks.0.attn.pattern", "blocks.0.attn.z", "blocks.0.attn_out", "blocks.0.resid_mid",
        "blocks.0.mlp.post", "blocks.0.mlp_out", "blocks.0.resid_post",
        "final_norm", "logits",
    ]
    assert sorted(model.hook_points) == sorted(hook_names(model.cfg.n_layers))


def test_run_with_cache_records_every_hook_with_its_shape(tiny):
    model, tok = tiny
    ids = torch.tensor(tok.encode("the bank of the river"))
    n, c = len(ids), model.cfg
    logits, store = model.run_with_cache(ids)
    assert set(store) == set(hook_names(c.n_layers))
    assert logits.shape == (n, c.vocab_size)
    assert store["blocks.1.attn.pattern"].shape == (c.n_heads, n, n)
    assert store["blocks.1.attn.q"].shape == (c.n_heads, n, c.d_head)
    assert store["blocks.1.attn.k"].shape == (c.n_kv_heads, n, c.d_head)
    assert store["blocks.1.attn.z"].shape == (c.n_heads, n, c.d_head)
    assert store["blocks.0.mlp.post"].shape == (n, c.d_mlp)
    assert torch.equal(store["logits"], logits)


def test_stacked_captures_are_every_layers_capture_in_order(tiny):
    model, tok = tiny
    ids = torch.tensor(tok.encode("the bank of the river"))
    logits, plain = model.run_with_cache(ids)
    stacked_logits, store = model.run_with_cache(ids, ["embed"], stacked=("attn.pattern", "mlp_out"))
    assert set(store) == {"embed", "attn.pattern", "mlp_out"}
    assert torch.equal(stacked_logits, logits)
    for hook in ("attn.pattern", "mlp_out"):
        expected = torch.stack([plain[f"blocks.{i}.{hook}"] for i in range(model.cfg.n_layers)])
        assert torch.equal(store[hook], expected)


def test_attention_rows_sum_to_one_and_never_look_ahead(tiny):
    model, tok = tiny
    _, store = model.run_with_cache(torch.tensor(tok.encode("a bank and a bank")))
    for layer in range(model.cfg.n_layers):
        pattern = store[f"blocks.{layer}.attn.pattern"]
        assert torch.allclose(pattern.sum(-1), torch.ones(pattern.shape[:2]), atol=1e-6)
        above_diagonal = torch.triu(torch.ones(pattern.shape[-2:], dtype=torch.bool), diagonal=1)
        assert pattern[:, above_diagonal].abs().max() == 0


def test_residual_stream_is_the_sum_of_what_each_block_adds(tiny):
    model, tok = tiny
    _, s = model.run_with_cache(torch.tensor(tok.encode("the bank")))
    for i in range(model.cfg.n_layers):
        assert torch.allclose(s[f"blocks.{i}.resid_post"],
                              s[f"blocks.{i}.resid_pre"] + s[f"blocks.{i}.attn_out"] + s[f"blocks.{i}.mlp_out"],
                              atol=1e-5)


def test_kv_cache_continuation_equals_a_full_pass(tiny):
    model, tok = tiny
    ids = torch.tensor(tok.encode("the bank of the river"))
    with torch.inference_mode():
        full = model(ids)
        cache = KVCache()
        first = model(ids[:3], cache=cache)
        rest = [model(ids[i:i + 1], cache=cache) for i in range(3, len(ids))]
    assert torch.allclose(torch.cat([first] + rest), full, atol=1e-5)
    assert cache.length == len(ids)


def test_kv_cache_writes_continuations_into_its_room_and_keeps_first_passes_exact():
    g, dh = 2, 4
    cache = KVCache()
    k0, v0 = torch.randn(g, 3, dh), torch.randn(g, 3, dh)
    cache.append(0, k0, v0)
    assert cache.keys[0] is k0  # a first pass is kept as it is: no spare memory in a kept Analysis
    steps = [(torch.randn(g, 1, dh), torch.randn(g, 1, dh)) for _ in range(KVCache().room + 2)]
    storages = set()
    for k, v in steps:
        keys, values = cache.append(0, k, v)
        storages.add(keys.untyped_storage().data_ptr())
    assert torch.equal(keys, torch.cat([k0] + [k for k, _ in steps], dim=1))
    assert torch.equal(values, torch.cat([v0] + [v for _, v in steps], dim=1))
    assert cache.length == 3 + KVCache().room + 2
    assert len(storages) == 2  # grown once when room was first needed, once when it ran out
    # a copy cut to a shorter prefix has its own storage: continuing it leaves the original alone
    before = cache.keys[0].clone()
    short = cache.truncated(4)
    short.append(0, torch.zeros(g, 1, dh), torch.zeros(g, 1, dh))
    assert torch.equal(cache.keys[0], before)


def test_the_fast_rotation_is_the_rotation():
    x, angles = torch.randn(3, 5, 8), torch.randn(5, 4)
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
    signed = torch.cat([-sin[:, :4], sin[:, 4:]], -1)
    assert torch.allclose(rotate_fast(x, cos, signed), rotate(x, cos, sin), atol=1e-6)


def test_hooks_can_replace_a_value_and_are_removed_afterwards(tiny):
    model, tok = tiny
    ids = torch.tensor(tok.encode("the bank"))
    with torch.inference_mode():
        clean = model(ids)
        with model.hooks({"blocks.0.attn.z": lambda z, name: torch.zeros_like(z)}):
            ablated = model(ids)
        again = model(ids)
    assert not torch.allclose(clean, ablated)
    assert torch.equal(clean, again)


def test_unknown_hook_name_is_refused(tiny):
    model, _ = tiny
    with pytest.raises(KeyError, match="no hook point"):
        with model.hooks({"blocks.0.nonsense": lambda x, n: None}):
            pass


def test_tied_unembedding_shares_the_embedding_matrix(tiny):
    model, _ = tiny
    assert model.unembed.weight is model.embed.weight
