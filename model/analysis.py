"""One forward pass over a prompt, kept: the `Analysis` every view of that prompt reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from model.llama import KVCache, Llama
from model.tokenizer import ModelTokenizer, Token


@dataclass
class Analysis:
    """Everything computed for one prompt of n tokens, on a model with L layers, h query
    heads, d = d_model and V = vocabulary size.

    ids            (n,) long     token ids
    tokens         list[Token]   id, text, visible text, character offsets, bytes of each token
    resid          (L+1, n, d)   residual stream: [0] after the embedding, [i+1] after block i
    attn_pattern   (L, h, n, n)  attention weights; row = query position, column = key position
    attn_out       (L, n, d)     what each block's attention adds to the residual stream
    mlp_out        (L, n, d)     what each block's MLP adds to the residual stream
    final_hidden   (n, d)        the last residual stream after the final RMSNorm
    next_logits    (V,)          logits for the token after the prompt
    kv_cache       KVCache       keys and values of every layer, to continue without recomputing

    Full-vocabulary work beyond the next token (the logit lens, each prompt token's surprise)
    is not paid for unless asked: model/lens.py computes it from these fields.
    """

    ids: torch.Tensor
    tokens: list[Token]
    resid: torch.Tensor
    attn_pattern: torch.Tensor
    attn_out: torch.Tensor
    mlp_out: torch.Tensor
    final_hidden: torch.Tensor
    next_logits: torch.Tensor
    kv_cache: KVCache
    model: Llama = field(repr=False)

    @property
    def n_tokens(self) -> int:
        return int(self.ids.shape[0])

    def nbytes(self) -> int:
        """The memory this Analysis keeps alive: the bytes of every distinct storage behind its
        tensors (a view keeps its whole storage), so a cache bounded by it is bounded in fact."""
        tensors = [self.ids, self.resid, self.attn_pattern, self.attn_out, self.mlp_out, self.final_hidden,
                   self.next_logits] + self.kv_cache.keys + self.kv_cache.values
        storages = {}
        for t in tensors:
            if t is not None:
                storage = t.untyped_storage()
                storages[storage.data_ptr()] = storage.nbytes()
        return sum(storages.values())


def estimated_nbytes(cfg, n: int) -> int:
    """What `Analysis.nbytes()` will be for n tokens, before computing it (float32 tensors; the
    attention weights, L*h*n*n, dominate: 275 MB of the 406 MB at 505 tokens in SmolLM2)."""
    floats = ((cfg.n_layers + 1) * n * cfg.d_model            # resid
              + cfg.n_layers * cfg.n_heads * n * n             # attn_pattern
              + 2 * cfg.n_layers * n * cfg.d_model             # attn_out, mlp_out
              + n * cfg.d_model + cfg.vocab_size               # final_hidden, next_logits
              + 2 * cfg.n_layers * cfg.n_kv_heads * n * cfg.d_head)  # kv_cache
    return 4 * floats + 8 * n                                  # ids are int64


# Per-block captures an Analysis keeps, each stacked over the layers as the pass runs.
_STACKED = ("resid_post", "attn.pattern", "attn_out", "mlp_out")


def shared_prefix(a: list[int], b: list[int]) -> int:
    """How many leading token ids two prompts share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def analyse_ids(model: Llama, ids: list[int], tokens: list[Token] | None = None,
                previous: Analysis | None = None) -> Analysis:
    """Run the prompt once and keep every activation the app shows.

    With `previous` (an Analysis of another prompt), the token prefix both share is not
    recomputed: in a causal model the earlier tokens' hidden states and attention rows do not
    depend on what comes after them, so only the new tokens' rows are computed, attending to
    the shared prefix through its cached keys and values. Typing one more word costs one
    word's pass, and deleting text costs nothing but slicing.
    """
    if not ids:
        raise ValueError("cannot analyse an empty prompt")
    p = shared_prefix(previous.ids.tolist(), ids) if previous is not None else 0
    if p == 0:
        return _full_pass(model, ids, tokens)
    if p == len(ids):
        return _prefix_of(previous, p, tokens)
    return _extend(model, previous, p, ids, tokens)


def _run(model: Llama, ids: list[int], cache: KVCache) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The kept activations and the next-token logits (V,), through the model's one capture path
    (`Llama.run_with_cache`): "embed" and "final_norm", and each of `_STACKED` as one
    (n_layers, ...) tensor filled layer by layer (no second copy of a long prompt's attention weights)."""
    logits, store = model.run_with_cache(torch.tensor(ids, dtype=torch.long), ["embed", "final_norm"],
                                         cache=cache, last_only=True, stacked=_STACKED)
    return store, logits[-1]


def _full_pass(model: Llama, ids: list[int], tokens: list[Token] | None) -> Analysis:
    cache = KVCache()
    store, next_logits = _run(model, ids, cache)
    return Analysis(
        ids=torch.tensor(ids, dtype=torch.long),
        tokens=tokens or [],
        resid=torch.cat([store["embed"][None], store["resid_post"]]),
        attn_pattern=store["attn.pattern"],
        attn_out=store["attn_out"],
        mlp_out=store["mlp_out"],
        final_hidden=store["final_norm"],
        next_logits=next_logits,
        kv_cache=cache,
        model=model,
    )


def _extend(model: Llama, previous: Analysis, p: int, ids: list[int], tokens: list[Token] | None) -> Analysis:
    """`previous` shares its first p tokens with `ids`: compute only tokens p.. (see analyse_ids)."""
    L, n = model.cfg.n_layers, len(ids)
    cache = previous.kv_cache.truncated(p)
    cache.room = 0  # kept with the Analysis: exactly its positions (estimated_nbytes)
    store, next_logits = _run(model, ids[p:], cache)
    new_resid = torch.cat([store["embed"][None], store.pop("resid_post")])
    # Old query rows keep their weights; their columns for the new keys are zero (causal mask).
    pattern = torch.zeros(L, model.cfg.n_heads, n, n)
    pattern[:, :, :p, :p] = previous.attn_pattern[:, :, :p, :p]
    pattern[:, :, p:, :] = store.pop("attn.pattern")                                  # (L, h, n-p, n)
    return Analysis(
        ids=torch.tensor(ids, dtype=torch.long),
        tokens=tokens or [],
        resid=torch.cat([previous.resid[:, :p], new_resid], dim=1),
        attn_pattern=pattern,
        attn_out=torch.cat([previous.attn_out[:, :p], store.pop("attn_out")], dim=1),
        mlp_out=torch.cat([previous.mlp_out[:, :p], store.pop("mlp_out")], dim=1),
        final_hidden=torch.cat([previous.final_hidden[:p], store["final_norm"]]),
        next_logits=next_logits,
        kv_cache=cache,
        model=model,
    )


def _prefix_of(previous: Analysis, p: int, tokens: list[Token] | None) -> Analysis:
    """The new prompt is the first p tokens of `previous`: slice, and unembed position p-1."""
    with torch.inference_mode():
        next_logits = previous.model.unembed(previous.final_hidden[p - 1])
    return Analysis(
        ids=previous.ids[:p].clone(),
        tokens=tokens or previous.tokens[:p],
        resid=previous.resid[:, :p].clone(),
        attn_pattern=previous.attn_pattern[:, :, :p, :p].clone(),
        attn_out=previous.attn_out[:, :p].clone(),
        mlp_out=previous.mlp_out[:, :p].clone(),
        final_hidden=previous.final_hidden[:p].clone(),
        next_logits=next_logits,
        kv_cache=previous.kv_cache.truncated(p),
        model=previous.model,
    )


def analyse(model: Llama, tokenizer: ModelTokenizer, text: str, previous: Analysis | None = None) -> Analysis:
    tokens = tokenizer.tokenize(text)
    return analyse_ids(model, [t.id for t in tokens], tokens, previous)
