"""Inside one layer: every number one token meets in one block, for one query head.

Read from the model's own forward pass, not from a second implementation: the Analysis keeps
the residual stream entering each block, every head's attention weights, what attention and
the MLP added, and the keys and values (after RoPE) in its KV cache. What it does not keep (the
normalised vectors, the query, the MLP's neurons) is captured by running the model's own block
module once more on the kept residual stream entering it, with its hook points and module
hooks attached, exactly as the pass ran it. Tests check that this run reproduces the kept
values and that the identities below hold.

Shapes: d = d_model, dh = head size, h query heads, g key/value heads, f = MLP width, p = the
token's position (keys and values run over positions 0..p).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from model.analysis import Analysis
from model.attention_views import kv_head_of


@dataclass
class Inside:
    """One token (position p) in one block (layer), for one query head.

    resid_pre        (d,)      residual stream entering the block (Analysis.resid[layer])
    rms1, norm1_gain (), (d,)  RMSNorm before attention: norm1 = resid_pre / rms1 * norm1_gain
    norm1            (d,)      what attention reads
    query_unrotated  (dh,)     this head's query before the rotary embedding
    rope_angles      (dh/2,)   the angle (radians) each pair of query dimensions is turned by at position p
    query            (dh,)     after RoPE
    keys, values     (p+1, dh) the key/value head's keys (after RoPE) and values, from the KV cache
    scores           (p+1,)    query · keys[j]
    scaled           (p+1,)    scores / sqrt(dh)
    weights          (p+1,)    softmax(scaled): the Analysis' attention row (chapter 4's numbers)
    head_output      (dh,)     sum_j weights[j] * values[j]
    head_outputs     (h, dh)   every query head's output at p (the chosen one is row `head`)
    head_parts       (h, d)    each head's share of attn_out: W_o[:, head's columns] @ head_outputs[head]
    attn_out         (d,)      the attention block's output (all heads, after W_o): Analysis.attn_out
    resid_mid        (d,)      resid_pre + attn_out
    rms2, norm2_gain, norm2    the RMSNorm before the MLP
    mlp_gate_pre     (f,)      W_gate · norm2
    mlp_gate         (f,)      SiLU(mlp_gate_pre)
    mlp_up           (f,)      W_up · norm2
    mlp_hidden       (f,)      mlp_gate * mlp_up (the block's `mlp.post` hook)
    mlp_out          (d,)      W_down · mlp_hidden: Analysis.mlp_out
    resid_post       (d,)      resid_mid + mlp_out: Analysis.resid[layer + 1]
    """

    layer: int
    head: int
    kv_head: int
    position: int
    resid_pre: torch.Tensor
    rms1: float
    norm1_gain: torch.Tensor
    norm1: torch.Tensor
    query_unrotated: torch.Tensor
    rope_angles: torch.Tensor
    query: torch.Tensor
    keys: torch.Tensor
    values: torch.Tensor
    scores: torch.Tensor
    scaled: torch.Tensor
    weights: torch.Tensor
    head_output: torch.Tensor
    head_outputs: torch.Tensor
    head_parts: torch.Tensor
    attn_out: torch.Tensor
    resid_mid: torch.Tensor
    rms2: float
    norm2_gain: torch.Tensor
    norm2: torch.Tensor
    mlp_gate_pre: torch.Tensor
    mlp_gate: torch.Tensor
    mlp_up: torch.Tensor
    mlp_hidden: torch.Tensor
    mlp_out: torch.Tensor
    resid_post: torch.Tensor


def rerun_block(analysis: Analysis, layer: int) -> dict[str, torch.Tensor]:
    """Run block `layer` of the analysed model again on the kept residual stream entering it
    (all n tokens, as the pass ran it) and capture what the Analysis does not keep, by name:
    its hook points (`attn.q`, `attn.z`, `resid_mid`, `mlp.post`, ...) and the outputs of its
    norm and projection modules (`attn_norm`, `q_proj`, `mlp_norm`, `gate_proj`, `up_proj`)."""
    model = analysis.model
    block = model.blocks[layer]
    x = analysis.resid[layer]                                                    # (n, d)
    store: dict[str, torch.Tensor] = {}

    def keep(value: torch.Tensor, name: str) -> None:
        store[name.removeprefix(f"blocks.{layer}.")] = value.detach()

    handles = []
    for name, module in (("attn_norm", block.attn_norm), ("q_proj", block.attn.q_proj),
                         ("mlp_norm", block.mlp_norm), ("gate_proj", block.mlp.gate_proj),
                         ("up_proj", block.mlp.up_proj)):
        handles.append(module.register_forward_hook(
            lambda _m, _inputs, out, name=name: store.__setitem__(name, out.detach())))
    hook_names = [f"blocks.{layer}.{h}" for h in ("attn.q", "attn.k", "attn.v", "attn.pattern", "attn.z",
                                                  "attn_out", "resid_mid", "mlp.post", "mlp_out", "resid_post")]
    try:
        with torch.inference_mode(), model.hooks({n: keep for n in hook_names}), model.around_pass(x.shape[0]):
            block(x, model.positions(0, x.shape[0]), None)
    finally:
        for handle in handles:
            handle.remove()
    return store


def inside(analysis: Analysis, layer: int, head: int, position: int) -> Inside:
    """Every number of block `layer` for the token at `position`, seen through query head `head`."""
    model = analysis.model
    cfg = model.cfg
    h, g, dh = cfg.n_heads, cfg.n_kv_heads, cfg.d_head
    p = position
    kv = kv_head_of(head, h, g)
    run = rerun_block(analysis, layer)
    block = model.blocks[layer]

    # Attention half. Keys and values are the pass's own, from the KV cache (after RoPE).
    resid_pre = analysis.resid[layer, p]
    keys = analysis.kv_cache.keys[layer][kv, : p + 1]                           # (p+1, dh)
    values = analysis.kv_cache.values[layer][kv, : p + 1]                       # (p+1, dh)
    query = run["attn.q"][head, p]                                               # (dh,) after RoPE
    query_unrotated = run["q_proj"][p].view(h, dh)[head]                         # (dh,) before RoPE
    scores = keys @ query                                                        # (p+1,)
    scaled = scores / math.sqrt(dh)
    weights = analysis.attn_pattern[layer, head, p, : p + 1]                     # the pass's softmax
    head_outputs = run["attn.z"][:, p]                                           # (h, dh)
    w_o = block.attn.o_proj.weight                                               # (d, h*dh)
    head_parts = torch.stack([w_o[:, i * dh:(i + 1) * dh] @ head_outputs[i] for i in range(h)])  # (h, d)

    # MLP half.
    resid_mid = run["resid_mid"][p]
    gate_pre = run["gate_proj"][p]
    return Inside(
        layer=layer, head=head, kv_head=kv, position=p,
        resid_pre=resid_pre, rms1=_rms(resid_pre, block.attn_norm.eps), norm1_gain=block.attn_norm.weight.detach(),
        norm1=run["attn_norm"][p],
        query_unrotated=query_unrotated, rope_angles=p * model.rotary.inv_freq, query=query,
        keys=keys, values=values, scores=scores, scaled=scaled, weights=weights,
        head_output=head_outputs[head], head_outputs=head_outputs, head_parts=head_parts,
        attn_out=analysis.attn_out[layer, p], resid_mid=resid_mid,
        rms2=_rms(resid_mid, block.mlp_norm.eps), norm2_gain=block.mlp_norm.weight.detach(), norm2=run["mlp_norm"][p],
        mlp_gate_pre=gate_pre, mlp_gate=F.silu(gate_pre), mlp_up=run["up_proj"][p], mlp_hidden=run["mlp.post"][p],
        mlp_out=analysis.mlp_out[layer, p], resid_post=analysis.resid[layer + 1, p],
    )


def _rms(x: torch.Tensor, eps: float) -> float:
    """The root-mean-square RMSNorm divides by (with its eps, as model.llama.RMSNorm)."""
    return float(torch.sqrt(x.double().pow(2).mean() + eps))


@dataclass
class LayerChange:
    """How much block `layer` changed one token's residual stream vector (lengths are L2 norms)."""

    layer: int
    resid_pre: float      # |resid entering the block|
    attn: float           # |attn_out|
    mlp: float            # |mlp_out|
    resid_post: float     # |resid leaving the block|
    cosine: float         # cosine(resid entering, resid leaving): 1 = same direction


def layer_changes(analysis: Analysis, position: int) -> list[LayerChange]:
    """One line per layer for the token at `position`: the attention and MLP parts each block added."""
    out = []
    for layer in range(analysis.model.cfg.n_layers):
        before, after = analysis.resid[layer, position].double(), analysis.resid[layer + 1, position].double()
        out.append(LayerChange(
            layer=layer, resid_pre=float(before.norm()), attn=float(analysis.attn_out[layer, position].double().norm()),
            mlp=float(analysis.mlp_out[layer, position].double().norm()), resid_post=float(after.norm()),
            cosine=float(F.cosine_similarity(before, after, dim=0))))
    return out
