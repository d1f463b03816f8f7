from pathlib import Path

from fastapi import APIRouter

from app.deps import EngineDep
from app.schemas.model import ModelInfo, ServerLimits

router = APIRouter(prefix="/api", tags=["model"])


@router.get("/model", response_model=ModelInfo)
def model_info(engine: EngineDep) -> ModelInfo:
    """Describe the model being run: its shape, size and the server's input limits."""
    c, s = engine.cfg, engine.settings
    return ModelInfo(
        name=c.name, display_name=engine.display_name, n_layers=c.n_layers, n_heads=c.n_heads, n_kv_heads=c.n_kv_heads,
        d_model=c.d_model, d_head=c.d_head, d_mlp=c.d_mlp, vocab_size=c.vocab_size,
        context_length=c.context_length, n_params=engine.n_params, rope_base=c.rope_base,
        source=Path(engine.source).name if engine.source else c.name,
        limits=ServerLimits(max_prompt_tokens=s.max_prompt_tokens, max_prompt_chars=s.max_prompt_chars,
                            max_new_tokens=s.max_new_tokens, max_body_bytes=s.max_body_bytes,
                            max_all_heads_tokens=s.max_all_heads_tokens),
        block_rows=engine.model.block_rows,
    )
