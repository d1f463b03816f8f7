"""Head probes: standard measurements of what an attention head does, on any causal model.

A probe feeds a model a prompt built for one question and reads its attention patterns
(rows = query position, columns = key position). The same functions score SmolLM2's 270 heads
(`GET /api/heads`) and the tiny transformer grown on the learning page, so "an induction head"
means one measured thing everywhere on the site.

- previous_token: mean weight from position i to i-1 (i >= 1) on ordinary text;
- first_token:    mean weight on position 0 (i >= 1) on ordinary text;
- induction:      on R random tokens repeated twice (no special token in front), mean weight
                  from each position i of the second copy to i - R + 1, the token that followed
                  the current token's earlier occurrence.

Every scoring function takes patterns of shape (..., n, n) and returns one score per leading
index (e.g. (layers, heads) -> (layers, heads)), so it works on one head or on a whole model.
"""

from __future__ import annotations

import torch


def previous_token_score(patterns: torch.Tensor) -> torch.Tensor:
    """Mean attention from each position i >= 1 to i - 1. (..., n, n) -> (...)."""
    return back_score(patterns, 1)


def back_score(patterns: torch.Tensor, k: int) -> torch.Tensor:
    """Mean attention from each position i >= k to i - k (k = 1: the previous-token score; k = 2, the
    token two back, is its control). (..., n, n) -> (...)."""
    n = patterns.shape[-1]
    if n < k + 1:
        raise ValueError(f"looking {k} back needs at least {k + 1} tokens")
    return torch.diagonal(patterns, offset=-k, dim1=-2, dim2=-1).mean(-1)


def even_back_score(n: int, k: int = 1) -> float:
    """`back_score` of attention spread evenly over every key a query may see (position i over its
    i + 1 keys 0..i): the score of a head that looks nowhere in particular, on n tokens."""
    return sum(1 / (i + 1) for i in range(k, n)) / (n - k)


def first_token_score(patterns: torch.Tensor) -> torch.Tensor:
    """Mean attention from each position i >= 1 to position 0. (..., n, n) -> (...)."""
    if patterns.shape[-1] < 2:
        raise ValueError("the first-token probe needs at least 2 tokens")
    return patterns[..., 1:, 0].mean(-1)


def induction_score(patterns: torch.Tensor, period: int, start: int = 0) -> torch.Tensor:
    """Mean attention from each position of the second copy to the token after its earlier copy.

    The sequence holds `period` tokens starting at `start`, then the same tokens again (anything
    before `start`, such as a beginning-of-text token, is not part of the repeat). Query position
    i = start + period + k (k = 0..period-1) should look at key i - period + 1, the token that
    followed the same token in the first copy. (..., n, n) -> (...).
    """
    n = patterns.shape[-1]
    if period < 2 or start + 2 * period > n:
        raise ValueError(f"a repeat of period {period} from position {start} needs {start + 2 * period} tokens; "
                         f"the patterns have {n}")
    queries = torch.arange(start + period, start + 2 * period)
    return patterns[..., queries, queries - period + 1].mean(-1)


def repeated_random_tokens(vocab: list[int] | torch.Tensor, period: int, count: int,
                           generator: torch.Generator) -> torch.Tensor:
    """`count` sequences of `period` tokens drawn without replacement from `vocab`, each repeated
    twice: (count, 2 * period). Drawing without replacement keeps every token unique within a
    copy, so the only way to predict the second copy is to look back at the first."""
    vocab = torch.as_tensor(vocab, dtype=torch.long)
    if period > len(vocab):
        raise ValueError(f"period {period} is longer than the vocabulary to draw from ({len(vocab)})")
    rows = [vocab[torch.randperm(len(vocab), generator=generator)[:period]] for _ in range(count)]
    first = torch.stack(rows)
    return torch.cat([first, first], dim=1)
