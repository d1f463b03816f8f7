"""From logits to one next token: temperature, top-k, top-p (nucleus), greedy."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import torch


@dataclass
class Distribution:
    """The next-token distribution after sampling settings are applied.

    probs      (V,) softmax(logits / temperature) over the whole vocabulary
    allowed    (V,) bool: tokens that top-k and top-p leave in the draw
    sample_probs (V,) probs renormalised over the allowed tokens (0 elsewhere)
    logprobs   (V,) float64 log of probs, computed without float32 underflow, when first read
               (a generated token's step never reads them: about 1 ms of float64 saved a token)
    """

    probs: torch.Tensor
    allowed: torch.Tensor
    sample_probs: torch.Tensor
    logits: torch.Tensor = field(repr=False)
    temperature: float = 1.0

    @cached_property
    def logprobs(self) -> torch.Tensor:
        return logprobabilities(self.logits, self.temperature)


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
    shown_at = temperature if temperature > 0 else 1.0  # the temperature the probabilities are at
    probs = probabilities(logits, shown_at)
    if temperature <= 0:
        allowed = torch.zeros_like(probs, dtype=torch.bool)
        allowed[int(logits.argmax())] = True
    elif not 0 < top_k < probs.shape[0] and top_p >= 1.0:
        allowed = torch.ones_like(probs, dtype=torch.bool)
    else:
        sorted_probs, order = most_probable(probs, top_k, top_p)
        keep = torch.ones_like(sorted_probs, dtype=torch.bool)
        if top_p < 1.0:
            # Keep the smallest set of most probable tokens whose total reaches top_p: a token is
            # kept when the mass before it is still below top_p (so the first is always kept).
            mass_before = sorted_probs.cumsum(0) - sorted_probs
            keep = mass_before < top_p
            keep[0] = True  # a top_p below float32's range (5e-324) rounds to 0 and would drop it too
        allowed = torch.zeros_like(probs, dtype=torch.bool)
        allowed[order[keep]] = True
    kept = torch.where(allowed, probs, torch.zeros_like(probs))
    return Distribution(probs=probs, allowed=allowed, sample_probs=kept / kept.sum(), logits=logits,
                        temperature=shown_at)


def most_probable(probs: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The most probable tokens, in decreasing probability, (probabilities, ids): the top_k (all
    tokens if 0), and of those at least as many as top_p's total needs (every token after them
    holds mass_before >= top_p, so top_p drops it). A partial sort: sorting a whole vocabulary
    of 49,152 took about 10 ms a generated token, where the few hundred tokens top_p reaches take
    a fraction of a millisecond."""
    n = top_k if 0 < top_k < probs.shape[0] else probs.shape[0]
    if top_p >= 1.0:
        return probs.topk(n)
    m = min(n, 256)
    while True:
        values, ids = probs.topk(m)
        # stop where top_p drops the last of these in the caller's own arithmetic (mass before it)
        if m == n or float(values.cumsum(0)[-1] - values[-1]) >= top_p:
            return values, ids
        m = min(n, m * 8)


def pick(dist: Distribution, generator: torch.Generator | None = None) -> int:
    """Draw one token id from the allowed tokens (the argmax when only one is allowed)."""
    if int(dist.allowed.sum()) == 1:
        return int(dist.allowed.nonzero()[0, 0])
    return int(torch.multinomial(dist.sample_probs, 1, generator=generator)[0])
