"""How a loaded model is made fast, attached from outside the architecture (model/llama.py).

Two measures, both for short passes (a generated token, a few typed ones), which are bound by
reading the weights rather than by arithmetic:

- **Block kernels.** `use_blocks` gives each projection a `BlockKernel` (its `Linear.kernel`):
  up to `max_rows` rows are multiplied straight by the GGUF's quantised blocks
  (model/blockmatmul.py), a fifth of the bytes of the float32 weights and the same numbers to
  float32 rounding; longer passes decline it and use the float32 matrix kernels.
- **One thread for few tokens.** `few_tokens_one_thread` is the model's `around_pass`: passes of
  up to `FEW_TOKENS` tokens run on one intra-op thread (see below).

`load_engine` (app/engine.py) attaches both; a model built without them (the tiny test model,
a notebook) computes the same numbers on the float32 weights with torch's default threads.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from model.blockmatmul import BlockWeights, Library
from model.llama import Linear, Llama

# A pass over a few tokens is bound by reading the weights (540 MB for SmolLM2 in float32, 110 MB
# in its quantised blocks), and one core already streams them at the memory's full speed: on
# float32 weights, measured 53 ms per token with 1 thread or 2 on an idle 2-core machine, but
# 54 ms against 196 ms when another process keeps one core busy (a second thread then waits at
# every barrier). The block kernel runs on one thread in any case. So short passes, one
# generated token or a few typed ones, run on one thread and leave the other core to the web
# server. From about 8 tokens on, the arithmetic starts to count and two threads win (63 against
# 80 ms at 8).
FEW_TOKENS = 4


@contextmanager
def few_tokens_one_thread(n_tokens: int) -> Iterator[None]:
    """One intra-op thread for short passes (process-wide: the app runs one pass at a time)."""
    before = torch.get_num_threads()
    if n_tokens > FEW_TOKENS or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class BlockKernel:
    """A `Linear.kernel`: x (m, in) @ W^T from W's quantised blocks when 1 <= m <= max_rows;
    None (the float32 weight then) for anything else."""

    def __init__(self, blocks: BlockWeights, library: Library, max_rows: int):
        self.blocks, self.library, self.max_rows = blocks, library, max_rows

    def __call__(self, x: torch.Tensor) -> torch.Tensor | None:
        if x.dim() == 2 and 0 < x.shape[0] <= self.max_rows:
            return self.library.matmul(x, self.blocks)
        return None


def use_blocks(model: Llama, library: Library | None, blocks: dict[str, BlockWeights], max_rows: int = 12) -> int:
    """Let passes of up to `max_rows` tokens multiply by quantised blocks (keyed like the
    weights: "blocks.0.attn.q_proj.weight"; a tied unembedding uses "embed.weight").
    Without a library, or with max_rows 0, every pass uses the float32 weights.
    Returns how many matrices now have blocks."""
    attached = 0
    for name, module in model.named_modules():
        if not isinstance(module, Linear):
            continue
        key = "embed.weight" if module.weight is model.embed.weight else name + ".weight"
        found = blocks.get(key) if library is not None and max_rows > 0 else None
        if found is not None and found.shape != tuple(module.weight.shape):
            raise ValueError(f"blocks for {key} are {found.shape}, the weight is {tuple(module.weight.shape)}")
        module.kernel = BlockKernel(found, library, min(max_rows, library.max_rows)) if found is not None else None
        attached += found is not None
    return attached


def block_rows(model: Llama) -> int:
    """The longest pass whose every projection reads quantised blocks (0: none do, or kernels are off)."""
    return min((m.kernel.max_rows if isinstance(m.kernel, BlockKernel) else 0
                for m in model.modules() if isinstance(m, Linear)), default=0)


def make_fast(model: Llama, library: Library | None, blocks: dict[str, BlockWeights], max_rows: int) -> int:
    """Everything `load_engine` attaches: the thread policy, and block kernels up to `max_rows`
    (0: none). Returns how many matrices have blocks."""
    model.around_pass = few_tokens_one_thread
    return use_blocks(model, library, blocks, max_rows) if max_rows > 0 else 0
