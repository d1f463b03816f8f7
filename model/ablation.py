"""Switch attention heads (and MLPs) off and see what the model would predict without them.

Ablating head H of layer L zeroes that head's output `z` (the `blocks.L.attn.z` hook point,
shape (h, n, dh)) before the output projection mixes the heads, so nothing it computed reaches
the residual stream. Everything before layer L is unchanged, so the pass resumes from the
Analysis' residual stream at the first ablated layer instead of starting over. Ablating the
MLP of layer L zeroes what it adds to the residual stream (`blocks.L.mlp_out`) at every position.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from model.analysis import Analysis
from model.llama import Llama


class HeadOutOfRange(ValueError):
    """A (layer, head) pair that the model does not have."""


def check_heads(model: Llama, heads: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The distinct (layer, head) pairs, sorted; raises HeadOutOfRange naming the valid range."""
    cfg = model.cfg
    for layer, head in heads:
        if not 0 <= layer < cfg.n_layers:
            raise HeadOutOfRange(f"layer {layer} does not exist; layers are 0 to {cfg.n_layers - 1}")
        if not 0 <= head < cfg.n_heads:
            raise HeadOutOfRange(f"head {head} does not exist; heads are 0 to {cfg.n_heads - 1} in every layer")
    return sorted(set(heads))


def head_zeroing_hooks(heads: Iterable[tuple[int, int]]) -> dict:
    """Hook functions that zero the given (layer, head) outputs `z` before the output projection mixes
    the heads, keyed by hook point ("blocks.L.attn.z"): the one way every ablation switches heads off."""
    off: dict[int, list[int]] = {}
    for layer, head in heads:
        off.setdefault(layer, []).append(head)

    def zero_heads(z: torch.Tensor, name: str) -> torch.Tensor:
        layer = int(name.split(".")[1])                     # "blocks.L.attn.z"
        z = z.clone()                                       # (h, n, dh)
        z[off[layer]] = 0.0
        return z

    return {f"blocks.{layer}.attn.z": zero_heads for layer in off}


def ablated_next_logits(analysis: Analysis, heads: Iterable[tuple[int, int]],
                        mlps: Iterable[int] = ()) -> torch.Tensor:
    """Next-token logits (V,) for the Analysis' prompt with the given heads' outputs (and the
    given layers' MLP outputs) zeroed."""
    model = analysis.model
    heads = check_heads(model, heads)
    mlps = sorted(set(mlps))
    if any(not 0 <= layer < model.cfg.n_layers for layer in mlps):
        raise HeadOutOfRange(f"MLP layers are 0 to {model.cfg.n_layers - 1}; got {mlps}")
    if not heads and not mlps:
        return analysis.next_logits
    def zero_mlp(out: torch.Tensor, name: str) -> torch.Tensor:
        return torch.zeros_like(out)                        # (n, d)

    fns = head_zeroing_hooks(heads)
    first = min([*(int(name.split(".")[1]) for name in fns), *mlps])
    fns |= {f"blocks.{layer}.mlp_out": zero_mlp for layer in mlps}
    with torch.inference_mode(), model.hooks(fns):
        # analysis.resid[first] is the residual stream entering block `first`: (n, d).
        return model.forward_from(first, analysis.resid[first], last_only=True)[-1]   # (V,)
