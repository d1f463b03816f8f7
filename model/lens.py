"""Read predictions out of a prompt's Analysis: the logit lens and per-token surprise.

Both unembed many positions at once, and a full-vocabulary row is 49152 floats, so the work is
done one layer (or one block of positions) at a time and only the few numbers shown are kept:
a 512-token prompt through 31 lens layers would otherwise need 3 GB at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from model.analysis import Analysis
from model.sampling import probabilities

_CHUNK = 32  # positions unembedded at once (32 x 49152 floats = 6 MB; 12.6 MB for the float64 softmax)


@dataclass
class Lens:
    """Top-1 prediction of every layer at some positions, for L+1 layers and m positions.

    positions    list[int] (m)  prompt positions shown
    top_ids      (L+1, m) long  the token each layer's residual stream would predict next
    top_probs    (L+1, m)       its probability
    target_probs (L+1, m)       probability of the token that actually comes next in the prompt
                                (NaN at the prompt's last position, where nothing follows)
    """

    positions: list[int]
    top_ids: torch.Tensor
    top_probs: torch.Tensor
    target_probs: torch.Tensor


def logit_lens(analysis: Analysis, positions: list[int]) -> Lens:
    """Apply the final norm and unembedding to the residual stream after every layer."""
    model, n = analysis.model, analysis.n_tokens
    pos = torch.tensor(positions, dtype=torch.long)
    targets = torch.tensor([int(analysis.ids[p + 1]) if p + 1 < n else 0 for p in positions])
    has_target = pos + 1 < n
    top_ids, top_probs, target_probs = [], [], []
    with torch.inference_mode():
        for resid in analysis.resid:                                   # (n, d), one layer at a time
            tops, top_ps, picks = [], [], []
            for start in range(0, len(positions), _CHUNK):             # a block of positions at a time
                block = pos[start:start + _CHUNK]
                probs = probabilities(model.unembed(model.norm(resid[block])))  # (m, V), as /api/predict
                p, i = probs.max(-1)
                tops.append(i)
                top_ps.append(p)
                picks.append(probs.gather(1, targets[start:start + _CHUNK, None])[:, 0])
                del probs
            picked = torch.cat(picks)
            top_ids.append(torch.cat(tops))
            top_probs.append(torch.cat(top_ps))
            target_probs.append(torch.where(has_target, picked, torch.full_like(picked, math.nan)))
    return Lens(positions, torch.stack(top_ids), torch.stack(top_probs), torch.stack(target_probs))


@dataclass
class Surprise:
    """How expected each prompt token was, for n tokens (entries for token 0 are NaN / -1:
    nothing comes before the first token, so the model made no prediction for it).

    logprobs   (n,)       natural log of p(token i | tokens before it)
    top_ids    (n,) long  the token the model found most probable at position i
    top_probs  (n,)       its probability
    """

    logprobs: torch.Tensor
    top_ids: torch.Tensor
    top_probs: torch.Tensor


def surprise(analysis: Analysis) -> Surprise:
    """One unembedding of every position, a block at a time: the log-probability of the token
    that actually came next and the token the model found most probable there."""
    model, ids = analysis.model, analysis.ids
    logprobs, top_ids, top_probs = [torch.tensor([math.nan])], [torch.tensor([-1])], [torch.tensor([math.nan])]
    with torch.inference_mode():
        hidden = analysis.final_hidden[:-1]                            # (n-1, d): predicts tokens 1..n-1
        for start in range(0, hidden.shape[0], _CHUNK):
            logp = model.unembed(hidden[start:start + _CHUNK]).double().log_softmax(-1).float()  # (m, V)
            targets = ids[start + 1:start + 1 + logp.shape[0]]
            logprobs.append(logp.gather(1, targets[:, None])[:, 0])
            best, i = logp.max(-1)
            top_ids.append(i)
            top_probs.append(best.exp())
    return Surprise(torch.cat(logprobs), torch.cat(top_ids), torch.cat(top_probs))
