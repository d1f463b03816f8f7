"""Why this token: which parts of the model, and which input tokens, pushed a logit up or down.

**Direct logit attribution.** The residual stream at the last position is a sum: the token's
embedding, plus what each of the L attention blocks and L MLPs added. An attention block's
output is itself a sum over its h heads, because the output projection W_O is linear: head H
writes z_H @ W_O[:, H*dh:(H+1)*dh].T, where z_H (`blocks.L.attn.z`) is its output before the
heads are mixed. The final RMSNorm multiplies that sum by one number, s = 1/rms(x), and by its
weight w; the unembedding reads the result with the target's row u. With s *frozen* at its value
for this token, the logit is linear in the parts:

    logit = sum over parts p of  (p * s * w) . u

so each part's contribution is one dot product, and the contributions add up to the logit
exactly (up to float rounding). Frozen is the catch: remove a part and s changes too, and the
parts after it react to its absence. `check` measures both, and `reacting` names those parts.

**Saliency.** For the input tokens: gradient x input (how the logit changes with each token's
embedding, times that embedding), and integrated gradients, which average the gradient along a
straight path from a baseline to the input so that the attributions add up to f(input) -
f(baseline) (completeness), up to the error of the numerical integral. The path is evaluated
in batches: several copies of the prompt, one per step, side by side in one pass with a
block-diagonal causal mask, so each copy only attends to itself.

This module is pure PyTorch: it reads an `Analysis` and the model, never the web layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from model.ablation import ablated_next_logits
from model.analysis import Analysis
from model.llama import Llama, Positions

# Integrated gradients: rows (steps x tokens) per batched pass; bounds the memory the backward
# pass keeps (about 3 MB per row on SmolLM2) and the attention wasted on the masked-out copies.
ROWS_PER_PASS = 256
DEFAULT_STEPS = 32
BASELINE_SCALE = 0.5


def direction(model: Llama, target: int, contrast: int | None = None) -> torch.Tensor:
    """The unembedding row the logit reads (d,), float64; minus the contrast's row when given,
    so the dot product is the difference of the two logits."""
    u = model.unembed.weight[target].double()
    return u - model.unembed.weight[contrast].double() if contrast is not None else u


def head_outputs(analysis: Analysis, position: int = -1) -> torch.Tensor:
    """What each head wrote into the residual stream at `position`: (L, h, d).

    z_H = pattern_H @ V (the head's output before the output projection, exactly as
    `blocks.L.attn.z` sees it, recomputed from the kept pattern and values instead of another
    pass), then z_H @ W_O_H.T, the head's own columns of the output projection. Summed over
    heads this is the attention block's output, `analysis.attn_out[L, position]`.
    """
    model, cfg = analysis.model, analysis.model.cfg
    n, h, g, dh = analysis.n_tokens, cfg.n_heads, cfg.n_kv_heads, cfg.d_head
    pos = position % n
    out = torch.empty(cfg.n_layers, h, cfg.d_model, dtype=torch.float64)
    for layer in range(cfg.n_layers):
        values = analysis.kv_cache.values[layer][:, :n].double()                  # (g, n, dh)
        pattern = analysis.attn_pattern[layer, :, pos, :n].double()               # (h, n)
        # Llama: grouped-query attention; query head H reads key/value head H // (h/g).
        z = torch.einsum("hk,hkd->hd", pattern, values.repeat_interleave(h // g, dim=0))   # (h, dh)
        w_o = model.blocks[layer].attn.o_proj.weight.double().view(cfg.d_model, h, dh)     # (d, h, dh)
        out[layer] = torch.einsum("hk,dhk->hd", z, w_o)                                     # (h, d)
    return out


@dataclass
class DirectParts:
    """Direct logit attribution at the prompt's last position.

    scale      the final RMSNorm's factor 1/rms(x) for this token, frozen
    embedding  the token embedding's contribution
    heads      (L, h) each head's contribution
    mlps       (L,) each MLP's contribution
    logit      the model's own logit of the target (minus the contrast's), from the Analysis
    """

    scale: float
    embedding: float
    heads: torch.Tensor
    mlps: torch.Tensor
    logit: float

    @property
    def parts_sum(self) -> float:
        return self.embedding + float(self.heads.sum()) + float(self.mlps.sum())


def final_scale(model: Llama, x: torch.Tensor) -> torch.Tensor:
    """The final RMSNorm's factor 1/rms(x) for residual vectors x (..., d), as RMSNorm computes it."""
    return torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + model.norm.eps)


def direct_parts(analysis: Analysis, target: int, contrast: int | None = None) -> DirectParts:
    """Split the target's next-token logit (minus the contrast's) into the parts that wrote it."""
    model = analysis.model
    x = analysis.resid[-1, -1]                                                    # (d,) before the final norm
    scale = float(final_scale(model, x.double()))
    read = direction(model, target, contrast) * model.norm.weight.double() * scale   # (d,)
    logits = analysis.next_logits
    logit = float(logits[target]) - (float(logits[contrast]) if contrast is not None else 0.0)
    return DirectParts(
        scale=scale,
        embedding=float(analysis.resid[0, -1].double() @ read),
        heads=head_outputs(analysis) @ read,                                      # (L, h)
        mlps=analysis.mlp_out[:, -1].double() @ read,                             # (L,)
        logit=logit,
    )


# --- checking the attribution by switching parts off -------------------------------------------

@dataclass
class Check:
    """The strongest parts switched off: what the attribution predicts, and what happens.

    heads, mlps   the parts switched off: [(layer, head)], [layer]
    predicted     minus their summed contributions (frozen norm, nothing else reacts)
    norm_only     the change with the parts taken out of the final residual and the norm
                  recomputed (no other part reacts)
    actual        the change when the parts are really switched off (at every position) and the
                  pass runs on: the norm and the parts after them react (`reacting`)
    logits_after  (V,) the next-token logits of that real pass
    reacting      the parts that read what the switched-off ones wrote: see `reacting`
    """

    heads: list[tuple[int, int]]
    mlps: list[int]
    predicted: float
    norm_only: float
    actual: float
    logits_after: torch.Tensor
    reacting: list[tuple[int, list[int], bool]]


def reacting(heads: list[tuple[int, int]], mlps: list[int], n_layers: int,
             n_heads: int) -> list[tuple[int, list[int], bool]]:
    """The parts that react when these heads and MLPs are switched off: every part still on after
    the earliest of them, per layer as (layer, its heads that react, whether its MLP reacts), layers
    where nothing reacts left out. A block reads the residual stream as it enters: heads of layer L
    change what layer L's MLP and every later layer read, but not the other heads of layer L; an MLP
    of layer L changes what layer L+1 on read. Empty when nothing is after them (the last MLP)."""
    if not heads and not mlps:
        return []
    first_head = min((l for l, _ in heads), default=n_layers)
    first_mlp = min(mlps, default=n_layers)
    off_heads, off_mlps = set(heads), set(mlps)
    out = []
    for layer in range(min(first_head, first_mlp), n_layers):
        # Heads react from the layer after the earliest part; the MLP from the earliest head's own layer on.
        react_heads = [h for h in range(n_heads) if (layer, h) not in off_heads] \
            if layer > min(first_head, first_mlp) else []
        react_mlp = layer not in off_mlps and (layer >= first_head or layer > first_mlp)
        if react_heads or react_mlp:
            out.append((layer, react_heads, react_mlp))
    return out


def strongest(parts: DirectParts, k: int) -> tuple[list[tuple[int, int]], list[int]]:
    """The k heads and MLPs whose contributions push the logit up the most."""
    L, h = parts.heads.shape
    scores = torch.cat([parts.heads.flatten(), parts.mlps])                   # (L*h + L,)
    picked = scores.topk(min(k, scores.numel())).indices.tolist()
    heads = sorted((i // h, i % h) for i in picked if i < L * h)
    mlps = sorted(i - L * h for i in picked if i >= L * h)
    return heads, mlps


def check(analysis: Analysis, parts: DirectParts, target: int, contrast: int | None,
          heads: list[tuple[int, int]], mlps: list[int]) -> Check:
    """Switch the given heads and MLPs off and compare the real change with the predicted one."""
    model = analysis.model
    predicted = -(sum(float(parts.heads[l, hd]) for l, hd in heads) + sum(float(parts.mlps[l]) for l in mlps))
    # Norm only: the same vectors removed from the final residual, the final norm recomputed.
    u = direction(model, target, contrast)
    x = analysis.resid[-1, -1].double()
    removed = head_outputs(analysis)[[l for l, _ in heads], [hd for _, hd in heads]].sum(0) if heads else 0.0
    removed = removed + (analysis.mlp_out[mlps, -1].double().sum(0) if mlps else 0.0)
    x_off = x - removed
    read_off = float((x_off * final_scale(model, x_off) * model.norm.weight.double()) @ u)
    after = ablated_next_logits(analysis, heads, mlps=mlps)
    actual_logit = float(after[target]) - (float(after[contrast]) if contrast is not None else 0.0)
    L, h = parts.heads.shape
    return Check(heads=heads, mlps=mlps, predicted=predicted, norm_only=read_off - parts.logit,
                 actual=actual_logit - parts.logit, logits_after=after, reacting=reacting(heads, mlps, L, h))


# --- saliency: gradient x input, integrated gradients -----------------------------------------

@dataclass
class Saliency:
    """Per input token (n,): gradient x input and integrated gradients of f = the target's logit
    (minus the contrast's) at the last position.

    baseline          what the path starts from, in words
    steps             intervals of the path (steps + 1 points, trapezoid rule)
    f_input, f_baseline   f at the two ends
    completeness      sum(integrated gradients) / (f_input - f_baseline); 1 when exact
    """

    gradient_x_input: torch.Tensor
    integrated_gradients: torch.Tensor
    baseline: str
    steps: int
    f_input: float
    f_baseline: float

    @property
    def completeness(self) -> float:
        gap = self.f_input - self.f_baseline
        return float(self.integrated_gradients.sum()) / gap if gap != 0 else float("nan")


def baseline_embeddings(x: torch.Tensor, scale: float = BASELINE_SCALE) -> torch.Tensor:
    """The baseline input for embeddings x (n, d): each token's vector at BASELINE_SCALE of its length.

    Not zero: every block starts with an RMSNorm, which divides a vector by its root mean square, so on the
    straight path from all-zero embeddings the first norms blow near-zero vectors up to full size
    and the logit jumps around (completeness far from 1 at any affordable number of steps). Nor
    another token (the mean embedding, <|endoftext|>, a space): measured on SmolLM2, those paths
    jump by as much as the whole logit within a few steps. Shrinking the vectors keeps their
    directions, so the first norms see the same input all along the path and the logit moves
    smoothly; the attribution then says how much each token's vector, by its strength in the
    residual stream, contributes."""
    return scale * x


def batched_f(model: Llama, x: torch.Tensor, read: torch.Tensor) -> torch.Tensor:
    """f for c copies of a prompt's embeddings at once: x (c, n, d) -> (c,), differentiable.

    The copies sit side by side in one sequence of c*n tokens; a block-diagonal causal mask
    keeps each copy to itself and every copy gets positions 0..n-1, so each is its own pass."""
    c, n, d = x.shape
    one = model.positions(0, n)
    blocks = torch.ones(c, c, dtype=torch.bool).tril(-1) | torch.ones(c, c, dtype=torch.bool).triu(1)
    future = torch.kron(blocks.long(), torch.ones(n, n, dtype=torch.long)).bool() | one.future.repeat(c, c)
    pos = Positions(one.cos.repeat(c, 1), one.sin.repeat(c, 1), future)      # (c*n, dh), (c*n, c*n)
    h = x.reshape(c * n, d)
    with model.around_pass(c * n) as between_blocks:  # the thread policy's, as in Llama.forward_from
        h = model.run_blocks(h, pos, between_blocks=between_blocks)
    last = model.norm(h.view(c, n, d)[:, -1])                                 # (c, d)
    return last @ read                                                        # (c,)


def saliency(model: Llama, ids: list[int], target: int, contrast: int | None = None,
             steps: int = DEFAULT_STEPS, baseline_scale: float = BASELINE_SCALE) -> Saliency:
    """Gradient x input and integrated gradients per input token (see the module docstring).
    `baseline_scale` other than the default is for showing why the default was chosen (0: zero embeddings)."""
    ids_t = torch.tensor(ids, dtype=torch.long)
    n = len(ids)
    read = direction(model, target, contrast).float()
    with torch.no_grad():
        x_in = model.embed(ids_t)                                             # (n, d)
    x_base = baseline_embeddings(x_in, baseline_scale)
    alphas = torch.linspace(0.0, 1.0, steps + 1)
    weights = torch.full((steps + 1,), 1.0 / steps)
    weights[0] = weights[-1] = 0.5 / steps                                    # trapezoid rule
    grad_sum = torch.zeros(n, model.cfg.d_model, dtype=torch.float64)
    per_pass = max(1, ROWS_PER_PASS // n)
    f_values = torch.empty(steps + 1)
    grad_input = None
    with model.float32_only(), torch.enable_grad():
        for start in range(0, steps + 1, per_pass):
            a = alphas[start:start + per_pass]
            x = (x_base + a[:, None, None] * (x_in - x_base)).detach().requires_grad_(True)  # (c, n, d)
            f = batched_f(model, x, read)
            (grad,) = torch.autograd.grad(f.sum(), x)                         # (c, n, d)
            f_values[start:start + len(a)] = f.detach()
            grad_sum += (weights[start:start + len(a), None, None] * grad.double()).sum(0)
            if start + len(a) == steps + 1:
                grad_input = grad[-1].double()                                # the gradient at the input itself
    return Saliency(
        gradient_x_input=(grad_input * x_in.double()).sum(-1),
        integrated_gradients=(grad_sum * (x_in - x_base).double()).sum(-1),
        baseline=f"{baseline_scale:g} x input" if baseline_scale else "zero embeddings", steps=steps,
        f_input=float(f_values[-1]), f_baseline=float(f_values[0]),
    )
