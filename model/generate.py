"""Generation: repeat "predict a distribution, pick a token, append it", reusing the KV cache.

After the prompt's one full pass, each new token costs one token's forward pass: its keys and
values are appended to the cache and it attends to everything before it.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Iterator

import torch

from model.llama import KVCache, Llama
from model.sampling import Distribution, distribution, pick


class TextStream:
    """Generated text as it grows, one token's bytes at a time.

    A byte-level token can be a piece of a character (an emoji or a CJK character often takes
    two to four tokens); decoding each token on its own would show every piece as U+FFFD.
    `push` returns the text a token completes: empty while a character's bytes are incomplete,
    then the whole character. Joined, the pieces equal decoding the whole sequence at once
    (invalid bytes become U+FFFD there too).
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_bytes: bytes) -> str:
        return self._decoder.decode(token_bytes)

    def flush(self) -> str:
        """The text of a trailing incomplete character (as U+FFFD), when the sequence ends."""
        return self._decoder.decode(b"", final=True)


@dataclass
class Step:
    id: int
    dist: Distribution   # the distribution this token was drawn from
    logits: torch.Tensor  # (V,) raw logits at this step


def generate(model: Llama, prompt_ids: list[int], max_new_tokens: int, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
             stop_ids: frozenset[int] | set[int] = frozenset(),
             cache: KVCache | None = None, next_logits: torch.Tensor | None = None) -> Iterator[Step]:
    """Yield generated tokens one at a time; stops after a stop token or `max_new_tokens`.

    Pass `cache` and `next_logits` from an Analysis of the same prompt to skip its pass.
    The caller may stop iterating at any time (a client that went away)."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    # inference_mode is entered around each forward pass, never held across a `yield`: the
    # server advances this iterator one step at a time from whichever worker thread is free,
    # and grad mode is per thread (a mode held across yields would leak into other threads).
    if cache is None or next_logits is None:
        cache = KVCache()
        with torch.inference_mode():
            next_logits = model(torch.tensor(prompt_ids, dtype=torch.long), cache=cache, last_only=True)[-1]
    else:
        cache = cache.truncated(cache.length)  # never grow the caller's cache
    for _ in range(max_new_tokens):
        dist = distribution(next_logits, temperature, top_k, top_p)
        token = pick(dist, generator)
        yield Step(token, dist, next_logits)
        if token in stop_ids:
            return
        with torch.inference_mode():
            next_logits = model(torch.tensor([token]), cache=cache, last_only=True)[-1]
