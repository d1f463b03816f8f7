"""From logits to one next token: temperature, top-k, top-p (nucleus), greedy."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Distribution:
    """The next-token distribution after sampling settings are applied.

    probs      (V,) softmax(logits / temperature) over the whole vocabulary
    allowed    (V,) bool: tokens that top-k and top-p leave in the draw
    sample_probs (V,) probs renormalised over the allowed tokens (0 elsewhere)
    logprobs   (V,) float64 log of probs, computed without float32 underflow
    """

    probs: torch.Tensor
    allowed: torch.Tensor
    sample_probs: torch.Tensor
    logprobs: torch.Tensor | None = None


def probabilities(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """softmax(logits / temperature) over the last axis, shifted by the maximum and divided in
    float64: a tiny temperature (1e-40 overflows float32 logits to inf, 1e-300 rounds to 0 in
    float32, both giving NaN) then only sends the other logits to -inf, leaving the argmax at 1.
    Every probability the app shows comes from here, so the same token reads the same everywhere."""
    shifted = logits.double() - logits.max(-1, keepdim=True).values
    return (shifted / temperature).softmax(-1).float()


def logprobabilities(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log softmax(logits / temperature) over the last axis, in float64: the logarithm of
    `probabilities(logits, temperature)` without its float32 underflow (a token with p < 1e-45
    still gets a finite log-probability). exp() of it equals `probabilities` to float32 rounding.
    Below a temperature of about 1e-307 a gap between logits divided by it leaves float64's range:
    such a token's log-probability is then the lowest finite float64 (-1.8e308), not -inf, which
    JSON cannot carry."""
    shifted = (logits.double() - logits.max(-1, keepdim=True).values) / temperature
    logp = shifted - shifted.exp().sum(-1, keepdim=True).log()
    return logp.clamp(min=torch.finfo(torch.float64).min)


def distribution(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0) -> Distribution:
    """`top_k` = 0 keeps every token; `top_p` = 1 keeps every token; temperature 0 is greedy
    (the probabilities shown are then those at temperature 1, and only the argmax is allowed)."""
    logits = logits.float()
    probs = probabilities(logits, temperature if temperature > 0 else 1.0)
    logprobs = logprobabilities(logits, temperature if temperature > 0 else 1.0)
    if temperature <= 0:
        allowed = torch.zeros_like(probs, dtype=torch.bool)
        allowed[int(logits.argmax())] = True
    else:
        allowed = torch.ones_like(probs, dtype=torch.bool)
        order = probs.argsort(descending=True)
        if 0 < top_k < probs.shape[0]:
            allowed[order[top_k:]] = False
        if top_p < 1.0:
            sorted_probs = probs[order]
            # Keep the smallest set of most probable tokens whose total reaches top_p: a token is
            # kept when the mass before it is still below top_p (so the first is always kept).
            mass_before = sorted_probs.cumsum(0) - sorted_probs
            drop = mass_before >= top_p
            drop[0] = False  # a top_p below float32's range (5e-324) rounds to 0 and would drop it too
            allowed[order[drop]] = False
    kept = torch.where(allowed, probs, torch.zeros_like(probs))
    return Distribution(probs=probs, allowed=allowed, sample_probs=kept / kept.sum(), logprobs=logprobs)


def pick(dist: Distribution, generator: torch.Generator | None = None) -> int:
    """Draw one token id from the allowed tokens (the argmax when only one is allowed)."""
    if int(dist.allowed.sum()) == 1:
        return int(dist.allowed.nonzero()[0, 0])
    return int(torch.multinomial(dist.sample_probs, 1, generator=generator)[0])
