"""The analysis cache is bounded by measured bytes: `Analysis.nbytes` counts every storage it keeps
alive (a view keeps its whole storage), `estimated_nbytes` predicts it exactly before the pass,
and the engine makes room before computing, so kept analyses and the new one stay within
`analysis_cache_bytes` together. (benchmarks/bench_memory.py measures the resident set.)"""

from __future__ import annotations

import pytest
import torch

from app.cache import LRUCache
from app.engine import Engine
from app.settings import Settings
from model.analysis import analyse_ids, estimated_nbytes
from model.tiny import tiny_model


def test_the_cache_never_holds_more_than_its_byte_bound():
    cache = LRUCache(max_entries=100, max_bytes=100, size_of=len)
    for i, size in enumerate([30, 30, 30, 30, 60, 10, 150]):
        cache.put(i, "x" * size)
        assert cache.total_bytes <= 100 and cache.total_bytes == sum(len(v) for v in cache.values())
    assert cache.values() == []  # an entry larger than the bound is not kept at all
    cache.put("a", "x" * 40)
    cache.put("b", "x" * 40)
    cache.get("a")                # "b" is now the least recently used
    cache.make_room(50)
    assert cache.values() == ["x" * 40] and cache.get("a") is not None and cache.total_bytes == 40
    cache.make_room(100)
    assert len(cache) == 0 and cache.total_bytes == 0


def test_nbytes_counts_whole_storages_and_the_estimate_is_exact(tiny_engine):
    model, tokenizer = tiny_engine.model, tiny_engine.tokenizer
    for text in ("a", "the river bank", "the river bank was muddy after the rain"):
        ids = tokenizer.encode(text)
        a = analyse_ids(model, ids)
        tensors = [a.ids, a.resid, a.attn_pattern, a.attn_out, a.mlp_out, a.final_hidden, a.next_logits,
                   *a.kv_cache.keys, *a.kv_cache.values]
        storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
        assert a.nbytes() == sum(storages.values()) == estimated_nbytes(model.cfg, len(ids))
    a.final_hidden = torch.zeros(1000, 8)[:1]  # a view: its whole storage stays alive, and is counted
    assert a.nbytes() == estimated_nbytes(model.cfg, len(ids)) - len(ids) * model.cfg.d_model * 4 + 1000 * 8 * 4


def test_the_engine_makes_room_before_each_pass_and_stays_within_the_bound(monkeypatch):
    model, tokenizer = tiny_model(seed=0)
    one = estimated_nbytes(model.cfg, 40)
    engine = Engine(model, tokenizer, Settings(analysis_cache_bytes=int(2.5 * one), max_prompt_tokens=64,
                                               max_prompt_chars=400))
    import app.engine as engine_module

    seen = []

    def analyse(model, ids, tokens=None, previous=None):
        seen.append(engine.analyses.total_bytes + estimated_nbytes(model.cfg, len(ids)))
        return analyse_ids(model, ids, tokens, previous)

    monkeypatch.setattr(engine_module, "analyse_ids", analyse)
    for i in range(8):
        text = "".join(chr(ord("a") + (i + j) % 26) for j in range(40))  # 40 distinct one-letter tokens
        engine.locked(engine.analysis, engine.prompt(text))
        assert engine.analyses.total_bytes <= engine.settings.analysis_cache_bytes
    assert len(seen) == 8 and max(seen) <= engine.settings.analysis_cache_bytes
    assert len(engine.analyses) == 2


@pytest.mark.real
def test_the_estimate_is_exact_on_the_real_model_for_short_first_passes_and_typing(real_engine):
    """With block kernels and fused projections (q, k and v in one product, model/speed.py) a short
    pass's values are columns of that product: the cache keeps its own copy, not the whole product;
    and an Analysis extended by typing keeps no spare room in its key/value cache."""
    model, tokenizer = real_engine.model, real_engine.tokenizer
    short = tokenizer.encode("The capital of France is")
    a = real_engine.locked(analyse_ids, model, short)
    assert a.nbytes() == estimated_nbytes(model.cfg, len(short))
    longer = tokenizer.encode("The capital of France is Paris, and")
    b = real_engine.locked(analyse_ids, model, longer, previous=a)
    assert b.nbytes() == estimated_nbytes(model.cfg, len(longer))
