"""Induction heads in a real model: which heads copy, and what breaks when they are switched off.

The learning chapter grows an induction head in a toy transformer (model/toy_transformer.py),
then looks for the same job in SmolLM2 with the same probe (model/probes.py, scored over every
head by model/head_probes.py). This module runs the experiment that checks the probe named the
right heads: on random tokens written twice, the second copy is predictable only by copying
from the first, so the loss on it should rise when the induction heads are switched off, and
rise much less when as many other heads, drawn at random, are switched off instead (the control).

Switching a head off zeroes its output `z` at the `blocks.L.attn.z` hook point before the output
projection mixes the heads (as model/ablation.py does for one next token), here at every position.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from model.ablation import check_heads, head_zeroing_hooks
from model.llama import Llama

Head = tuple[int, int]


def resid_pre(model: Llama, ids: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits (n, V) of one sequence with every head on, and the residual stream entering each
    block (a list of (n, d)), from which a pass with heads off can resume."""
    names = [f"blocks.{layer}.resid_pre" for layer in range(model.cfg.n_layers)]
    with model.float32_only():
        logits, store = model.run_with_cache(torch.as_tensor(ids, dtype=torch.long), names)
    return logits, [store[name] for name in names]


def logits_without(model: Llama, ids: torch.Tensor, heads: Iterable[Head],
                   resid: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Logits (n, V) of one sequence of ids (n,) with the given heads' outputs zeroed everywhere.

    With `resid` (from `resid_pre` of the same ids) the pass resumes at the first layer with a head
    off: everything before it is unchanged, as in model/ablation.py."""
    fns = head_zeroing_hooks(check_heads(model, heads))
    with torch.inference_mode(), model.float32_only(), model.hooks(fns):
        if resid is not None and fns:
            first = min(int(name.split(".")[1]) for name in fns)
            return model.forward_from(first, resid[first])                        # (n, V)
        return model(torch.as_tensor(ids, dtype=torch.long))


def copy_losses(model: Llama, sequences: torch.Tensor, heads: Iterable[Head] = (),
                resids: list[list[torch.Tensor]] | None = None) -> tuple[float, float]:
    """Mean next-token loss over the first and over the second copy of sequences (count, 2R) of R
    random tokens written twice, with the given heads off.

    Counted are the predictions of each copy's tokens 2..R (the first copy's from positions
    0..R-2, the second's from R..2R-2). Nothing predicts a random token of the first copy; in the
    second, copying from the first does. A copy's first token cannot be known in either."""
    heads = list(heads)
    logits = [logits_without(model, row, heads, resids[k] if resids is not None else None)
              for k, row in enumerate(sequences)]
    return _copy_losses(logits, sequences)


def _copy_losses(logits: list[torch.Tensor], sequences: torch.Tensor) -> tuple[float, float]:
    period = sequences.shape[1] // 2
    first, second = [], []
    for row_logits, row in zip(logits, sequences):
        row_logits = row_logits.double()                                         # (2R, V)
        first.append(F.cross_entropy(row_logits[:period - 1], row[1:period], reduction="none"))
        second.append(F.cross_entropy(row_logits[period:-1], row[period + 1:], reduction="none"))
    return float(torch.cat(first).mean()), float(torch.cat(second).mean())


def repeat_loss(model: Llama, sequences: torch.Tensor, heads: Iterable[Head] = ()) -> float:
    """Mean next-token loss over the second copy (tokens 2..R), with the given heads off."""
    return copy_losses(model, sequences, heads)[1]


def random_other_heads(n_layers: int, n_heads: int, exclude: Iterable[Head], count: int, seed: int) -> list[Head]:
    """`count` distinct heads drawn at random (seeded) from every head not in `exclude`."""
    exclude = set(exclude)
    others = [(l, h) for l in range(n_layers) for h in range(n_heads) if (l, h) not in exclude]
    return sorted(random.Random(seed).sample(others, count))


@dataclass
class KnockoutResult:
    heads: list[Head]                 # the induction heads switched off
    random_heads: list[list[Head]]    # each draw of as many other heads
    loss_first: float                 # first copy, all heads on (nothing to copy from: the baseline)
    loss_all_on: float                # second copy, all heads on
    loss_heads_off: float             # second copy, the induction heads off
    loss_random_off: list[float]      # second copy, each random draw off


def knockout(model: Llama, sequences: torch.Tensor, heads: list[Head], draws: int = 3, seed: int = 0) -> KnockoutResult:
    """Loss on the repeated half with all heads on, with `heads` off, and with as many random other
    heads off (`draws` seeded draws), plus the first copy's loss as the no-copying baseline."""
    L, h = model.cfg.n_layers, model.cfg.n_heads
    randoms = [random_other_heads(L, h, heads, len(heads), seed + k) for k in range(draws)]
    passes = [resid_pre(model, row) for row in sequences]      # all heads on; passes with heads off resume
    resids = [resid for _, resid in passes]                     # from their residual streams
    loss_first, loss_all_on = _copy_losses([logits for logits, _ in passes], sequences)
    return KnockoutResult(
        heads=list(heads), random_heads=randoms, loss_first=loss_first, loss_all_on=loss_all_on,
        loss_heads_off=copy_losses(model, sequences, heads, resids)[1],
        loss_random_off=[copy_losses(model, sequences, r, resids)[1] for r in randoms])
