"""Log-probabilities of a prompt's own tokens, and of the tokens the model found most probable
at each position: what an API user means by scoring a text (OpenAI's `echo` with `logprobs`).

Every position is unembedded from the Analysis's final hidden states, a block of positions at a
time (a full-vocabulary row is 49,152 numbers), through `model.sampling.logprobabilities`, the
float64 log-softmax at temperature 1 that chapter 5's probabilities come from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from model.sampling import logprobabilities

_CHUNK = 32  # positions unembedded at once (32 x 49152 float64 = 12.6 MB a copy; a bigger block is no faster)


@dataclass
class Scores:
    """For n tokens (position 0 has no prediction: its logprob is None, its top lists empty).

    logprobs      list[float | None] (n)  natural log of p(token i | tokens before it)
    top_ids       list[list[int]] (n)     the `top` most probable tokens at position i, best first
    top_logprobs  list[list[float]] (n)   their log-probabilities
    """

    logprobs: list[float | None]
    top_ids: list[list[int]]
    top_logprobs: list[list[float]]


def top_logprobs(logp: torch.Tensor, top: int) -> tuple[list[int], list[float]]:
    """The `top` largest entries of one row of log-probabilities, best first."""
    if top <= 0:
        return [], []
    values, ids = logp.topk(min(top, logp.shape[-1]))
    return ids.tolist(), values.tolist()


def score_tokens(model, final_hidden: torch.Tensor, ids: torch.Tensor | list[int], top: int = 0) -> Scores:
    """Score every token of a prompt from its final hidden states (n, d) (after the final norm)."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    scores = Scores([None], [[]], [[]])
    with torch.inference_mode():
        hidden = final_hidden[:-1]                                  # predicts tokens 1..n-1
        for start in range(0, hidden.shape[0], _CHUNK):
            logp = logprobabilities(model.unembed(hidden[start:start + _CHUNK]))  # (m, V) float64
            targets = ids[start + 1:start + 1 + logp.shape[0]]
            scores.logprobs.extend(logp.gather(1, targets[:, None])[:, 0].tolist())
            for row in logp:
                i, v = top_logprobs(row, top)
                scores.top_ids.append(i)
                scores.top_logprobs.append(v)
    return scores
