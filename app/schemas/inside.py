"""Requests and responses of chapter 4a, inside one layer (`POST`/`GET /api/inside`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.schemas.common import TextIn, TokenOut

Vector = list[float]


class InsideIn(TextIn):
    layer: int = Field(..., description="Layer (block), 0-based (0..n_layers-1; 0..29 for SmolLM2-135M).",
                       examples=[18])
    head: int = Field(..., description="Query head, 0-based (0..n_heads-1; 0..8 for SmolLM2-135M).", examples=[1])
    position: int | None = Field(None, description="The token to follow, 0-based; null (the default) follows the "
                                 "last token.", examples=[None])


class HeadPartOut(BaseModel):
    head: int
    kv_head: int = Field(..., description="The key/value head this query head reads.")
    output: Vector = Field(..., description="The head's output at this token (d_head numbers): the weighted sum "
                           "of its values.")
    norm: float = Field(..., description="Length of the head's share of `attn_out` (its output times its columns "
                        "of the output projection).")


class LayerChangeOut(BaseModel):
    layer: int
    resid_pre: float = Field(..., description="Length of the residual stream vector entering the layer.")
    attn: float = Field(..., description="Length of what attention added (`attn_out`).")
    mlp: float = Field(..., description="Length of what the MLP added (`mlp_out`).")
    resid_post: float = Field(..., description="Length of the vector leaving the layer.")
    cosine: float = Field(..., description="Cosine between the vector entering and leaving (1 = same direction).")


class InsideOut(BaseModel):
    tokens: list[TokenOut]
    layer: int
    head: int
    kv_head: int = Field(..., description="The key/value head query head `head` reads (grouped-query attention).")
    position: int = Field(..., description="The token followed (the last one when the request said null).")
    n_layers: int = Field(..., description="The model's shape, so a client needs no other call.")
    n_heads: int
    n_kv_heads: int
    d_model: int
    d_head: int
    d_mlp: int
    resid_pre: Vector = Field(..., description="The residual stream entering the layer at this token (d_model).")
    rms1: float = Field(..., description="The root-mean-square the first RMSNorm divides by (eps included).")
    norm1_gain: Vector = Field(..., description="The first RMSNorm's learned gain, one per dimension.")
    norm1: Vector = Field(..., description="resid_pre / rms1 * norm1_gain: what attention reads.")
    query_unrotated: Vector = Field(..., description="The head's query before the rotary embedding (d_head).")
    rope_angles: Vector = Field(..., description="The angle in radians by which RoPE turns each pair of dimensions "
                                "(i, i + d_head/2) at this position (d_head/2 numbers).")
    query: Vector = Field(..., description="The head's query after RoPE (d_head).")
    keys: list[Vector] = Field(..., description="Keys after RoPE of positions 0..position (key/value head "
                               "`kv_head`), from the pass's KV cache.")
    values: list[Vector] = Field(..., description="Values of positions 0..position (key/value head `kv_head`).")
    scores: Vector = Field(..., description="scores[j] = query · keys[j].")
    scaled: Vector = Field(..., description="scores / sqrt(d_head).")
    weights: Vector = Field(..., description="softmax(scaled) over positions 0..position: the attention row chapter "
                            "4 shows (POST /api/attention, row `position`); later positions are masked out.")
    head_output: Vector = Field(..., description="sum_j weights[j] * values[j] (d_head).")
    heads: list[HeadPartOut] = Field(..., description="Every query head of the layer at this token, in order.")
    attn_out: Vector = Field(..., description="The whole attention block's output at this token: all heads joined "
                             "and projected back to d_model by the output projection.")
    resid_mid: Vector = Field(..., description="resid_pre + attn_out.")
    rms2: float = Field(..., description="The root-mean-square the second RMSNorm divides by.")
    norm2_gain: Vector = Field(..., description="The second RMSNorm's learned gain.")
    norm2: Vector = Field(..., description="resid_mid / rms2 * norm2_gain: what the MLP reads.")
    mlp_gate_pre: Vector = Field(..., description="W_gate · norm2, before SiLU (d_mlp).")
    mlp_gate: Vector = Field(..., description="SiLU(W_gate · norm2) (d_mlp).")
    mlp_up: Vector = Field(..., description="W_up · norm2 (d_mlp).")
    mlp_hidden: Vector = Field(..., description="mlp_gate * mlp_up: the MLP's neurons (d_mlp).")
    mlp_out: Vector = Field(..., description="W_down · mlp_hidden: what the MLP adds (d_model).")
    resid_post: Vector = Field(..., description="resid_mid + mlp_out: the residual stream leaving the layer, the "
                               "next layer's resid_pre.")
    layers: list[LayerChangeOut] = Field(..., description="Every layer for this token: how long the vector is and "
                                         "how much attention and the MLP each added.")


INSIDE_EXAMPLES = {
    "france": {"summary": "Follow ' is' through layer 18, head 1",
               "value": {"text": "The capital of France is", "layer": 18, "head": 1, "position": None}},
    "bank": {"summary": "Follow 'bank' (position 5) through layer 3, head 2",
             "value": {"text": "I sat on the river bank", "layer": 3, "head": 2, "position": 5}},
}
