"""The model's shape, size and the server's limits: what every page needs to know of the model."""

from __future__ import annotations

from pathlib import Path

from app.engine import Engine
from app.schemas.model import ModelInfo, ServerLimits, StorageOut
from model.attention_views import kv_head_of
from model.speed import block_rows


def model_info(engine: Engine) -> ModelInfo:
    c, s = engine.cfg, engine.settings
    return ModelInfo(
        name=c.name, display_name=engine.display_name, n_layers=c.n_layers, n_heads=c.n_heads, n_kv_heads=c.n_kv_heads,
        kv_head_of=[kv_head_of(h, c.n_heads, c.n_kv_heads) for h in range(c.n_heads)],
        d_model=c.d_model, d_head=c.d_head, d_mlp=c.d_mlp, vocab_size=c.vocab_size,
        context_length=c.context_length, n_params=engine.n_params, rope_base=c.rope_base,
        source=Path(engine.source).name if engine.source else c.name,
        limits=ServerLimits(max_prompt_tokens=s.max_prompt_tokens, max_prompt_chars=s.max_prompt_chars,
                            max_new_tokens=s.max_new_tokens, max_body_bytes=s.max_body_bytes,
                            max_all_heads_tokens=s.max_all_heads_tokens),
        storage=[StorageOut(**vars(t)) for t in engine.storage],
        block_rows=block_rows(engine.model),
    )
