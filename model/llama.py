"""A Llama-architecture transformer in plain PyTorch, with named hook points.

One sequence at a time (no batch dimension): every activation is (n, ...) where n is the
number of tokens. Dimensions: d = d_model, h = query heads, g = key/value heads,
dh = head size, f = MLP width, V = vocabulary.

Where Llama departs from GPT-2 the code says so: RMSNorm instead of LayerNorm, rotary
position embeddings (RoPE) instead of learned positions, grouped-query attention (GQA),
a SwiGLU MLP, and (in SmolLM2) the unembedding tied to the embedding.

Hook points are identity modules that name a value (`blocks.3.attn.pattern`); functions
attached to them can read or replace it. `hook_names` lists them all.

This file is the architecture only. How a loaded model is made fast (products straight from the
GGUF's quantised blocks, one thread for short passes) is attached from outside through slots:
`Linear.kernel`, `Attention.kernel` and `SwiGLU.kernel` (projections that read the same input, in
one product) and `Llama.around_pass`: see model/speed.py.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from model.config import LlamaConfig

HookFn = Callable[[torch.Tensor, str], torch.Tensor | None]

BLOCK_HOOKS = ("resid_pre", "attn.q", "attn.k", "attn.v", "attn.pattern", "attn.z",
               "attn_out", "resid_mid", "mlp.post", "mlp_out", "resid_post")
TOP_HOOKS_BEFORE = ("embed",)
TOP_HOOKS_AFTER = ("final_norm", "logits")


def hook_names(n_layers: int) -> list[str]:
    """Every hook point of a model with `n_layers` blocks, in the order the forward pass meets them."""
    names = list(TOP_HOOKS_BEFORE)
    for i in range(n_layers):
        names += [f"blocks.{i}.{h}" for h in BLOCK_HOOKS]
    return names + list(TOP_HOOKS_AFTER)


@contextmanager
def _skip_init() -> Iterator[None]:
    saved = nn.Linear.reset_parameters, nn.Embedding.reset_parameters
    nn.Linear.reset_parameters = nn.Embedding.reset_parameters = lambda self: None
    try:
        yield
    finally:
        nn.Linear.reset_parameters, nn.Embedding.reset_parameters = saved


class Linear(nn.Linear):
    """A bias-free linear map: x @ W^T.

    `kernel`, attached from outside (model/speed.py), may compute the same product another way
    for some inputs (the GGUF's quantised blocks for a few rows) and returns None to leave it to
    the float32 weight."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__(d_in, d_out, bias=False)
        self.kernel: Callable[[torch.Tensor], torch.Tensor | None] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel is not None:
            out = self.kernel(x)
            if out is not None:
                return out
        return F.linear(x, self.weight)


class HookPoint(nn.Module):
    """Identity that names a value. Attached functions may return a replacement; a change must be
    returned, not made in place (a pass may already have used the value it was given: the attention
    core computes z with the pattern before `hook_pattern` sees it, and recomputes z only from a
    returned replacement)."""

    def __init__(self):
        super().__init__()
        self.name = ""
        self.fns: list[HookFn] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fn in self.fns:
            out = fn(x, self.name)
            if out is not None:
                x = out
        return x

    # A pass meets 11 hook points a layer, nearly always with nothing attached; nn.Module's call
    # machinery (torch's own forward hooks, which nothing registers on a HookPoint) cost more than
    # the rest of a generated token's small operations together, so a hook point is called directly.
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x) if self.fns else x


class RMSNorm(nn.Module):
    """Llama: scale by the root-mean-square, no mean subtraction and no bias (GPT-2: LayerNorm)."""

    def __init__(self, d: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))
        # attached from outside (model/speed.py): the same norm computed another way, or None
        self.kernel: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor | None] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel is not None:
            out = self.kernel(x, self.weight, self.eps)
            if out is not None:
                return out
        # x * rsqrt(mean(x^2) + eps) * weight, as one operation instead of five
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


class Rotary(nn.Module):
    """Llama: rotary position embedding rotates q and k by position (GPT-2: learned positions).

    Dimension i of the first half pairs with dimension i of the second half ("rotate_half").
    """

    def __init__(self, d_head: int, base: float):
        super().__init__()
        self.d_head, self.base = d_head, base
        self.register_buffer("inv_freq", self.frequencies(), persistent=False)

    def frequencies(self) -> torch.Tensor:
        return 1.0 / (self.base ** (torch.arange(0, self.d_head, 2, dtype=torch.float32, device="cpu") / self.d_head))

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of each position's angles, (n, dh) each: computed once per pass."""
        angles = positions.float()[:, None] * self.inv_freq[None, :]  # (n, dh/2)
        angles = torch.cat([angles, angles], dim=-1)                     # (n, dh)
        return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Apply the rotary embedding to x: (heads, n, dh)."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin


def rotate_fast(x: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor) -> torch.Tensor:
    """`rotate` in three operations instead of seven (the layers run it twice per token):
    swapping the halves is a roll by half, and the sign of the moved first half is in sin_signed."""
    return torch.addcmul(x * cos, x.roll(x.shape[-1] // 2, -1), sin_signed)


@dataclass
class Positions:
    """Where the tokens of this pass sit, prepared once and shared by every layer.

    cos, sin  (n, dh)     rotary angles of the new tokens
    future    (n, n_k)    True where a key comes after the query (masked out: causal attention)

    Derived once per pass, for the layers' speed: `sin_signed`, sin with its first half negated
    (`rotate_fast`), `masks`, whether any key lies in a query's future (not for one new
    token, which sees every key: a generated token skips the masking), `causal`, whether `future` is
    none or the plain causal mask of n new tokens after n_k - n earlier ones (the attention core
    computes only those; model/attribution.py builds others), and, on first use (only torch's path
    of a masked pass reads it; a generated token never builds it), `future_bias`, -inf
    where `future` is True and 0 elsewhere: added to the scores, it masks them exactly as filling
    them with -inf does (x + 0 = x, x - inf = -inf), about ten times faster than masked_fill_ with
    a broadcast mask (a 256-token layer's 9 x 256 x 256 scores: 0.04 against 0.39 ms, 2 threads).
    """

    cos: torch.Tensor
    sin: torch.Tensor
    future: torch.Tensor
    sin_signed: torch.Tensor = field(init=False, repr=False)
    masks: bool = field(init=False, repr=False)
    causal: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        half = self.sin.shape[-1] // 2
        self.sin_signed = torch.cat([-self.sin[..., :half], self.sin[..., half:]], dim=-1)
        self.masks = bool(self.future.any())
        n, n_k = self.future.shape
        self.causal = not self.masks or (n_k >= n and bool(torch.equal(
            self.future, torch.arange(n_k)[None, :] > torch.arange(n_k - n, n_k)[:, None])))

    @cached_property
    def future_bias(self) -> torch.Tensor:
        return torch.zeros(self.future.shape, dtype=self.cos.dtype).masked_fill_(self.future, float("-inf"))


@dataclass
class KVCache:
    """Keys and values of the tokens seen so far, per layer: each (g, n_seen, dh).

    A continuation writes into room kept after the seen positions (`room` more, allocated when a
    continuation first needs it), so generating a token copies one position per layer instead of
    the whole cache; `keys[layer]` and `values[layer]` are views of the seen part. A first pass
    keeps its tensors with no room, and a cache whose result is kept (an Analysis extended by
    typing, model/analysis.py) sets `room` to 0: a kept Analysis holds no spare memory, and
    `estimated_nbytes` stays exact."""

    keys: list[torch.Tensor | None] = field(default_factory=list)
    values: list[torch.Tensor | None] = field(default_factory=list)
    room: int = field(default=32, compare=False)  # positions of room added when a continuation outgrows its storage
    # per layer: the storage with room that keys[layer] and values[layer] are views of, or None
    _room: list[tuple[torch.Tensor, torch.Tensor] | None] = field(default_factory=list, repr=False, compare=False)

    @property
    def length(self) -> int:
        return 0 if not self.keys or self.keys[0] is None else self.keys[0].shape[1]

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        while len(self.keys) <= layer:
            self.keys.append(None)
            self.values.append(None)
        while len(self._room) <= layer:
            self._room.append(None)
        seen = self.keys[layer]
        if seen is None:
            # Kept as they are, unless a view of a larger storage (v from the fused q, k, v
            # product, model/speed.py): that would keep the whole product alive with the cache.
            k, v = (t if t.untyped_storage().nbytes() == t.numel() * t.element_size() else t.clone()
                    for t in (k, v))
            self.keys[layer], self.values[layer] = k, v
            return k, v
        n_seen, n = seen.shape[1], k.shape[1]
        room = self._room[layer]
        if room is None or room[0].shape[1] < n_seen + n or room[0].data_ptr() != seen.data_ptr():
            g, _, dh = seen.shape
            room = (torch.empty(g, n_seen + n + self.room, dh, dtype=seen.dtype),
                    torch.empty(g, n_seen + n + self.room, dh, dtype=seen.dtype))
            room[0][:, :n_seen] = seen
            room[1][:, :n_seen] = self.values[layer]
            self._room[layer] = room
        room[0][:, n_seen:n_seen + n] = k
        room[1][:, n_seen:n_seen + n] = v
        self.keys[layer], self.values[layer] = room[0][:, :n_seen + n], room[1][:, :n_seen + n]
        return self.keys[layer], self.values[layer]

    def truncated(self, length: int) -> "KVCache":
        """A copy that keeps only the first `length` positions (a shared prompt prefix)."""
        return KVCache([k[:, :length].clone() for k in self.keys], [v[:, :length].clone() for v in self.values])


def _observed(*modules: nn.Module) -> bool:
    """Whether any of these modules has torch forward hooks (model/inside.py reads projections so)."""
    return any(m._forward_hooks or m._forward_pre_hooks for m in modules)


def _fused(module: "Attention | SwiGLU", x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Each of the module's `projections()` applied to x: through its `kernel` in one product of
    their stacked weights where it takes x and nothing observes the parts one by one, else part by part."""
    parts = module.projections()
    if module.kernel is not None and not _observed(*parts):
        out = module.kernel(x)
        if out is not None:
            return out.split([part.out_features for part in parts], dim=-1)
    return tuple(part(x) for part in parts)


class Attention(nn.Module):
    """`kernel`, attached from outside (model/speed.py) like `Linear.kernel`, may compute q, k and v
    in one product, (n, (h + 2g) * dh), or return None to leave them to the three projections."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.d_head = cfg.n_heads, cfg.n_kv_heads, cfg.d_head
        self.q_proj = Linear(cfg.d_model, cfg.n_heads * cfg.d_head)
        self.k_proj = Linear(cfg.d_model, cfg.n_kv_heads * cfg.d_head)
        self.v_proj = Linear(cfg.d_model, cfg.n_kv_heads * cfg.d_head)
        self.o_proj = Linear(cfg.n_heads * cfg.d_head, cfg.d_model)
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_pattern, self.hook_z = HookPoint(), HookPoint()
        self.kernel: Callable[[torch.Tensor], torch.Tensor | None] | None = None
        # attached from outside too: (pattern, z) from the rotated q, k and v and whether to mask the
        # future, computed another way; or None
        self.core: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, bool],
                            tuple[torch.Tensor, torch.Tensor] | None] | None = None

    def projections(self) -> tuple[Linear, ...]:
        """The projections that read the block's normed input, in `kernel`'s column order."""
        return self.q_proj, self.k_proj, self.v_proj

    def forward(self, x: torch.Tensor, pos: Positions, layer: int, cache: KVCache | None) -> torch.Tensor:
        n, h, g, dh = x.shape[0], self.n_heads, self.n_kv_heads, self.d_head
        q, k, v = _fused(self, x)
        q = q.view(n, h, dh).transpose(0, 1)                                      # (h, n, dh)
        k = k.view(n, g, dh).transpose(0, 1)                                      # (g, n, dh)
        v = v.view(n, g, dh).transpose(0, 1)                                      # (g, n, dh)
        q = self.hook_q(rotate_fast(q, pos.cos, pos.sin_signed))
        k = self.hook_k(rotate_fast(k, pos.cos, pos.sin_signed))
        v = self.hook_v(v)
        if cache is not None:
            k, v = cache.append(layer, k, v)                                      # (g, n_k, dh)
        n_k = k.shape[1]
        # Llama: grouped-query attention. Query heads g*group .. g*group+group-1 all read key/value
        # head g; stacking each group's queries lets one matmul serve it without copying K or V.
        group = h // g
        # The core knows one mask, the plain causal one (or none); others go to torch's operations.
        done = self.core(q, k, v, pos.masks) if self.core is not None and pos.causal else None
        if done is not None:
            computed, z = done
            pattern = self.hook_pattern(computed)                                 # (h, n, n_k)
            if pattern is not computed:  # a hook replaced the pattern: z from the replacement
                z = (pattern.reshape(g, group * n, n_k) @ v).view(h, n, dh)
        else:
            # The scale on q (n x h x dh numbers) rather than on the scores (h x n x n_k): the same
            # numbers when sqrt(dh) is a power of two (dh = 64 here), one rounding apart otherwise.
            q_grouped = (q * (1.0 / math.sqrt(dh))).reshape(g, group * n, dh)      # (g, group*n, dh)
            scores = (q_grouped @ k.transpose(1, 2)).view(h, n, n_k)              # (h, n, n_k)
            if pos.masks:
                scores += pos.future_bias  # -inf in the future (Positions); in place: the scores are this pass's own
            pattern = self.hook_pattern(scores.softmax(dim=-1))                   # (h, n, n_k)
            z = (pattern.reshape(g, group * n, n_k) @ v).view(h, n, dh)           # (h, n, dh)
        z = self.hook_z(z)
        return self.o_proj(z.transpose(0, 1).reshape(n, h * dh))


class SwiGLU(nn.Module):
    """Llama: down(silu(gate(x)) * up(x)) (GPT-2: down(gelu(up(x)))).

    `kernel`, attached from outside (model/speed.py), may compute gate and up in one product,
    (n, 2f), or return None to leave them to the two projections."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.gate_proj = Linear(cfg.d_model, cfg.d_mlp)
        self.up_proj = Linear(cfg.d_model, cfg.d_mlp)
        self.down_proj = Linear(cfg.d_mlp, cfg.d_model)
        self.hook_post = HookPoint()
        self.kernel: Callable[[torch.Tensor], torch.Tensor | None] | None = None
        # attached from outside too: silu(gate) * up computed another way, or None
        self.activation: Callable[[torch.Tensor, torch.Tensor], torch.Tensor | None] | None = None

    def projections(self) -> tuple[Linear, ...]:
        """The projections that read the MLP's normed input, in `kernel`'s column order."""
        return self.gate_proj, self.up_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = _fused(self, x)
        post = self.activation(gate, up) if self.activation is not None else None
        if post is None:
            post = F.silu(gate) * up
        post = self.hook_post(post)                                                  # mlp.post  (n, f)
        return self.down_proj(post)                                                  # (n, d)


class Block(nn.Module):
    def __init__(self, cfg: LlamaConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = SwiGLU(cfg)
        self.hook_resid_pre, self.hook_attn_out, self.hook_resid_mid = HookPoint(), HookPoint(), HookPoint()
        self.hook_mlp_out, self.hook_resid_post = HookPoint(), HookPoint()

    def forward(self, x: torch.Tensor, pos: Positions, cache: KVCache | None) -> torch.Tensor:
        # Each intermediate is named as its hook point (blocks.{layer}.<name>); all are (n, d).
        resid_pre = self.hook_resid_pre(x)
        attn_out = self.hook_attn_out(self.attn(self.attn_norm(resid_pre), pos, self.layer, cache))
        resid_mid = self.hook_resid_mid(resid_pre + attn_out)
        mlp_out = self.hook_mlp_out(self.mlp(self.mlp_norm(resid_mid)))
        resid_post = self.hook_resid_post(resid_mid + mlp_out)
        return resid_post


class Llama(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.rotary = Rotary(cfg.d_head, cfg.rope_base)
        # SmolLM2: the unembedding is tied to the embedding (the same matrix, read the other way).
        self.unembed = Linear(cfg.d_model, cfg.vocab_size)
        self.unembed.weight = self.embed.weight
        self.hook_embed, self.hook_final_norm, self.hook_logits = HookPoint(), HookPoint(), HookPoint()
        # Entered around every pass with its number of tokens; model/speed.py attaches a thread policy.
        # What it yields, if not None, is called between blocks (the policy's second look at the cores).
        self.around_pass: Callable[[int], AbstractContextManager] = lambda n_tokens: nullcontext()
        self.hook_points: dict[str, HookPoint] = {}
        for module_name, module in self.named_modules():
            if isinstance(module, HookPoint):
                # "blocks.3.attn.hook_pattern" -> "blocks.3.attn.pattern"; "hook_embed" -> "embed"
                parent, _, leaf = module_name.rpartition(".")
                module.name = (parent + "." if parent else "") + leaf.removeprefix("hook_")
                self.hook_points[module.name] = module

    def forward(self, ids: torch.Tensor, cache: KVCache | None = None,
                last_only: bool = False) -> torch.Tensor:
        """Logits (n, V) for token ids (n,); with a cache, ids continue the cached sequence.

        `last_only` unembeds only the last position (all generation needs)."""
        start = cache.length if cache is not None else 0
        x = self.hook_embed(self.embed(ids))                                      # (n, d)
        return self.forward_from(0, x, start, cache, last_only)

    def positions(self, start: int, n: int) -> Positions:
        """Rotary angles and causal mask for n tokens from absolute position `start` (keys 0..start+n)."""
        positions = torch.arange(start, start + n)
        cos, sin = self.rotary(positions)
        # Causal mask: the query at absolute position p sees keys 0..p only.
        future = torch.arange(start + n)[None, :] > positions[:, None]            # (n, n_k)
        return Positions(cos, sin, future)

    def forward_from(self, layer: int, x: torch.Tensor, start: int = 0, cache: KVCache | None = None,
                     last_only: bool = False) -> torch.Tensor:
        """Continue a pass from `x` (n, d), the residual stream entering block `layer`."""
        pos = self.positions(start, x.shape[0])
        with self.around_pass(x.shape[0]) as between_blocks:
            x = self.run_blocks(x, pos, cache, layer, between_blocks)
            x = self.hook_final_norm(self.norm(x))
            if last_only:
                x = x[-1:]
            return self.hook_logits(self.unembed(x))                              # (n, V)

    def run_blocks(self, x: torch.Tensor, pos: Positions, cache: KVCache | None = None, layer: int = 0,
                   between_blocks: Callable[[], None] | None = None) -> torch.Tensor:
        """The residual stream `x` through the blocks from `layer` on, calling `between_blocks` (what
        `around_pass` yielded) after each."""
        for block in self.blocks[layer:]:
            x = block(x, pos, cache)
            if between_blocks is not None:
                between_blocks()
        return x

    @contextmanager
    def hooks(self, fns: dict[str, HookFn | list[HookFn]]) -> Iterator[None]:
        """Attach functions to hook points by name for the duration of a `with` block."""
        attached = []
        try:
            for name, fn_or_list in fns.items():
                if name not in self.hook_points:
                    raise KeyError(f"no hook point named {name!r}")
                for fn in fn_or_list if isinstance(fn_or_list, list) else [fn_or_list]:
                    self.hook_points[name].fns.append(fn)
                    attached.append((name, fn))
            yield
        finally:
            for name, fn in attached:
                self.hook_points[name].fns.remove(fn)

    def run_with_cache(self, ids: torch.Tensor, names: list[str] | None = None, cache: KVCache | None = None,
                       last_only: bool = False, stacked: tuple[str, ...] = ()) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits and a dict of the named activations (all hook points if `names` is None and
        nothing is `stacked`): the one way activations are captured (model/analysis.py keeps its
        Analysis from it).

        `stacked` names per-block hooks ("attn.pattern", "resid_post", ...) whose captures of every
        layer are copied into one (n_layers, ...) tensor, kept under the bare hook name, as each
        layer runs. Each layer's own capture is then freed before the next layer allocates its
        own in the same place, so a pass needs the stacked result plus one layer's worth, not
        every layer's capture and then a stacked copy too (a 505-token prompt's attention
        weights alone are 275 MB)."""
        store: dict[str, torch.Tensor] = {}
        n_layers = len(self.blocks)

        def keep(x: torch.Tensor, name: str) -> None:
            store[name] = x.detach()

        def keep_stacked(x: torch.Tensor, name: str) -> None:
            _, layer, hook = name.split(".", 2)                  # "blocks.{i}.{hook}"
            if hook not in store:
                store[hook] = torch.empty((n_layers, *x.shape), dtype=x.dtype)
            store[hook][int(layer)] = x

        fns: dict[str, HookFn] = {n: keep for n in (names or ([] if stacked else self.hook_points))}
        fns.update({f"blocks.{i}.{hook}": keep_stacked for hook in stacked for i in range(n_layers)})
        with torch.inference_mode(), self.hooks(fns):
            logits = self(ids, cache=cache, last_only=last_only)
        return logits, store

    @contextmanager
    def float32_only(self) -> Iterator[None]:
        """Every product on the float32 weights, and every step by torch's own operations, inside the
        `with`: attached kernels are set aside (benchmarks and tests compare; probes want the same
        weights at any length)."""
        saved = [(m, slot, getattr(m, slot)) for m in self.modules() for slot in ("kernel", "activation", "core")
                 if isinstance(m, (Linear, Attention, SwiGLU, RMSNorm)) and hasattr(m, slot)]
        try:
            for m, slot, _ in saved:
                setattr(m, slot, None)
            yield
        finally:
            for m, slot, kernel in saved:
                setattr(m, slot, kernel)

    @classmethod
    def from_weights(cls, cfg: LlamaConfig, tensors: dict[str, torch.Tensor]) -> "Llama":
        # Skip the random initialisation (135M values drawn only to be overwritten) and adopt
        # the loaded tensors as they are (assign=True). The meta device would do the same but
        # costs a second of lazy imports on first use.
        with _skip_init():
            model = cls(cfg)
        tied = "unembed.weight" not in tensors  # GGUFs of tied models carry no output.weight
        missing, unexpected = model.load_state_dict(tensors, strict=False, assign=True)
        missing = [m for m in missing if not m.endswith("inv_freq") and not (tied and m == "unembed.weight")]
        if tied:
            model.unembed.weight = model.embed.weight
        if missing or unexpected:
            raise ValueError(f"weights do not fit the model: missing {missing}, unexpected {unexpected}")
        return model.eval().requires_grad_(False)
