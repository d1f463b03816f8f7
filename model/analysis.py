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

    Computed on demand and then kept (full-vocabulary work is not paid for unless asked):
    token_logprobs() (n,)            log p(token i | tokens before it); NaN for the first token
    logit_lens(k)    ((L+1, n, k), (L+1, n, k))  top-k ids and probabilities each layer's
                                     residual stream would predict through the final norm
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
    _memo: dict = field(default_factory=dict, repr=False)

    @property
    def n_tokens(self) -> int:
        return int(self.ids.shape[0])

    def token_logprobs(self) -> torch.Tensor:
        if "logprobs" not in self._memo:
            with torch.inference_mode():
                logp = self.model.unembed(self.final_hidden[:-1]).log_softmax(-1)    # (n-1, V)
                picked = logp.gather(1, self.ids[1:, None])[:, 0]                     # (n-1,)
            self._memo["logprobs"] = torch.cat([torch.tensor([float("nan")]), picked])
        return self._memo["logprobs"]

    def logit_lens(self, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        key = ("lens", k)
        if key not in self._memo:
            with torch.inference_mode():
                logits = self.model.unembed(self.model.norm(self.resid))              # (L+1, n, V)
                probs, ids = logits.softmax(-1).topk(k, dim=-1)                      # (L+1, n, k)
            self._memo[key] = (ids, probs)
        return self._memo[key]

    def nbytes(self) -> int:
        tensors = [self.resid, self.attn_pattern, self.attn_out, self.mlp_out, self.final_hidden,
                   self.next_logits] + self.kv_cache.keys + self.kv_cache.values
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)


_CAPTURE = ("embed", "resid_post", "attn.pattern", "attn_out", "mlp_out", "final_norm")


def analyse_ids(model: Llama, ids: list[int], tokens: list[Token] | None = None) -> Analysis:
    """Run the prompt once and keep every activation the app shows."""
    if not ids:
        raise ValueError("cannot analyse an empty prompt")
    L = model.cfg.n_layers
    names = ["embed", "final_norm"] + [f"blocks.{i}.{h}" for i in range(L) for h in _CAPTURE[1:5]]
    cache = KVCache()
    ids_t = torch.tensor(ids, dtype=torch.long)
    store: dict[str, torch.Tensor] = {}

    def keep(x: torch.Tensor, name: str) -> None:
        store[name] = x

    with torch.inference_mode(), model.hooks({n: keep for n in names}):
        next_logits = model(ids_t, cache=cache, last_only=True)[-1]                  # (V,)
    return Analysis(
        ids=ids_t,
        tokens=tokens or [],
        resid=torch.stack([store["embed"]] + [store[f"blocks.{i}.resid_post"] for i in range(L)]),
        attn_pattern=torch.stack([store[f"blocks.{i}.attn.pattern"] for i in range(L)]),
        attn_out=torch.stack([store[f"blocks.{i}.attn_out"] for i in range(L)]),
        mlp_out=torch.stack([store[f"blocks.{i}.mlp_out"] for i in range(L)]),
        final_hidden=store["final_norm"],
        next_logits=next_logits,
        kv_cache=cache,
        model=model,
    )


def analyse(model: Llama, tokenizer: ModelTokenizer, text: str) -> Analysis:
    tokens = tokenizer.tokenize(text)
    return analyse_ids(model, [t.id for t in tokens], tokens)
