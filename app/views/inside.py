"""Chapter 4a, inside one layer: the response built from a prompt's cached Analysis (the maths
is in model/inside.py, which reads the pass's kept values and reruns the one block for the rest)."""

from __future__ import annotations

from app.engine import Engine
from app.schemas.inside import HeadPartOut, InsideIn, InsideOut, LayerChangeOut
from app.views.common import rounded, tokens_out
from model import inside as maths
from model.analysis import Analysis
from model.attention_views import kv_head_of
from model.errors import check_index


async def inside_response(engine: Engine, body: InsideIn) -> InsideOut:
    """Every number of one layer for one token and head, in one engine job (the Analysis, cached
    or computed, and the one block's rerun both off the event loop)."""
    cfg = engine.cfg
    check_index("layer", body.layer, cfg.n_layers, "layers")
    check_index("head", body.head, cfg.n_heads, "query heads per layer")
    prompt = engine.prompt(body.text)
    n = len(prompt.tokens)
    position = n - 1 if body.position is None else body.position
    check_index("position", position, n, "tokens in this text",
                detail=f"position must be between 0 and {n - 1} (the text has {n} tokens, counted from 0), or "
                       f"null for the last token; got {position}.")
    return await engine.run(lambda: inside_out(engine.analysis(prompt), body.layer, body.head, position))


def inside_out(analysis: Analysis, layer: int, head: int, position: int) -> InsideOut:
    cfg = analysis.model.cfg
    x = maths.inside(analysis, layer, head, position)
    return InsideOut(
        tokens=tokens_out(analysis.tokens), layer=layer, head=head, kv_head=x.kv_head, position=position,
        n_layers=cfg.n_layers, n_heads=cfg.n_heads, n_kv_heads=cfg.n_kv_heads, d_model=cfg.d_model,
        d_head=cfg.d_head, d_mlp=cfg.d_mlp,
        resid_pre=rounded(x.resid_pre), rms1=round(x.rms1, 6), norm1_gain=rounded(x.norm1_gain), norm1=rounded(x.norm1),
        query_unrotated=rounded(x.query_unrotated), rope_angles=rounded(x.rope_angles, 8), query=rounded(x.query),
        keys=rounded(x.keys), values=rounded(x.values),
        scores=rounded(x.scores), scaled=rounded(x.scaled), weights=rounded(x.weights),
        head_output=rounded(x.head_output),
        heads=[HeadPartOut(head=i, kv_head=kv_head_of(i, cfg.n_heads, cfg.n_kv_heads),
                           output=rounded(x.head_outputs[i]), norm=round(float(x.head_parts[i].norm()), 6))
               for i in range(cfg.n_heads)],
        attn_out=rounded(x.attn_out), resid_mid=rounded(x.resid_mid),
        rms2=round(x.rms2, 6), norm2_gain=rounded(x.norm2_gain), norm2=rounded(x.norm2),
        mlp_gate_pre=rounded(x.mlp_gate_pre), mlp_gate=rounded(x.mlp_gate), mlp_up=rounded(x.mlp_up),
        mlp_hidden=rounded(x.mlp_hidden), mlp_out=rounded(x.mlp_out), resid_post=rounded(x.resid_post),
        layers=[LayerChangeOut(layer=c.layer, resid_pre=round(c.resid_pre, 6), attn=round(c.attn, 6),
                               mlp=round(c.mlp, 6), resid_post=round(c.resid_post, 6), cosine=round(c.cosine, 6))
                for c in maths.layer_changes(analysis, position)],
    )
