"""A transformer small enough to train live: watch an induction head form.

The learning chapter grows this model from random weights on sequences of random tokens in
which one segment appears twice, at a place that changes from sequence to sequence:

    ... 17 40 3 | 9 22 31 5 8 | 44 0 12 ... 27 | 9 22 31 5 8 | 36 ...
                 first occurrence               repeat

Nothing predicts a random token on its first occurrence (the best loss there is log V, the
loss of a uniform guess). In the repeat, a model that finds the earlier occurrence of the
current token and copies the token that followed it there predicts every token but the first.
That is an *induction head*: in layer 2, a head whose query at "A" looks for keys whose
*previous* token was "A". The key learns what its previous token was from a layer-1
*previous-token head*, which is why one layer cannot do it: a key in layer 1 knows only its
own token and position.

The model is GPT-2 shaped in miniature (nanoGPT style): learned token and position
embeddings, pre-LayerNorm blocks `x = x + attn(ln(x))` (and, optionally, `x = x + mlp(ln(x))`),
a final LayerNorm and an unembedding. Training is AdamW on the next-token loss of fresh random
batches, seeded; on one thread the same seed gives the same numbers bit for bit.

Shapes: B = batch, n = tokens, d = d_model, h = heads, dh = head size, V = vocabulary.
Every head's probe scores come from `model.probes`, the same code that scores SmolLM2's heads.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from model import probes

# --- the model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToyConfig:
    vocab: int = 48        # token ids 0..V-1, no special tokens
    n_ctx: int = 48        # longest sequence (learned positions)
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_head: int = 16
    mlp: bool = False      # attention-only by default: the cleanest picture of induction


class Attention(nn.Module):
    """Causal multi-head self-attention that also returns its attention pattern."""

    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.h, self.dh = cfg.n_heads, cfg.d_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.n_heads * cfg.d_head)
        self.out = nn.Linear(cfg.n_heads * cfg.d_head, cfg.d_model)
        self.register_buffer("causal", torch.tril(torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool)),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, n, _ = x.shape
        q, k, v = self.qkv(x).split(self.h * self.dh, dim=-1)                     # 3 x (B, n, h*dh)
        q, k, v = (t.view(B, n, self.h, self.dh).transpose(1, 2) for t in (q, k, v))  # (B, h, n, dh)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.dh)                      # (B, h, n, n)
        scores = scores.masked_fill(~self.causal[:n, :n], float("-inf"))           # nothing looks ahead
        pattern = scores.softmax(-1)                                               # rows sum to 1
        z = (pattern @ v).transpose(1, 2).reshape(B, n, self.h * self.dh)           # (B, n, h*dh)
        return self.out(z), pattern


class MLP(nn.Module):
    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.up, self.down = nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.Linear(4 * cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(cfg.d_model), Attention(cfg)
        self.ln2, self.mlp = (nn.LayerNorm(cfg.d_model), MLP(cfg)) if cfg.mlp else (None, None)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, pattern = self.attn(self.ln1(x))
        x = x + a
        if self.mlp is not None:
            x = x + self.mlp(self.ln2(x))
        return x, pattern


class ToyTransformer(nn.Module):
    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab, cfg.d_model)
        self.pos = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.unembed = nn.Linear(cfg.d_model, cfg.vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (B, n) -> logits (B, n, V) and every head's pattern (L, B, h, n, n)."""
        n = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(n))                              # (B, n, d)
        patterns = []
        for block in self.blocks:
            x, pattern = block(x)
            patterns.append(pattern)
        return self.unembed(self.ln_f(x)), torch.stack(patterns)


# --- the data: random tokens with one segment repeated --------------------------------------------


@dataclass(frozen=True)
class Batch:
    ids: torch.Tensor     # (B, n) token ids
    first: torch.Tensor   # (B, n) bool: position i predicts token i+1 of the segment's first occurrence
    repeat: torch.Tensor  # (B, n) bool: position i predicts a repeated token that an earlier
                          #        occurrence gives away (every token after the first copy's end)
    start: torch.Tensor   # (B,) where the segment first starts
    period: torch.Tensor  # (B,) the segment's length: the distance back to the earlier copy


SEGMENT = (6, 16)   # shortest and longest repeated segment
MAX_START = 10      # the first copy starts after 0 to 10 random tokens


def make_batch(cfg: ToyConfig, batch: int, generator: torch.Generator, n: int | None = None) -> Batch:
    """`batch` sequences of `n` tokens: 0-10 random tokens, then a segment of 6-16 random tokens
    written again and again until the sequence ends.

        17 40 | 9 22 31 5 8 | 9 22 31 5 8 | 9 22 31 ...
        start   first copy    repeats (period 5)

    Where the segment starts and how long it is are drawn per sequence, so a token's position
    says nothing about what comes next: only looking back at the earlier copy does."""
    n = n or cfg.n_ctx
    ids = torch.randint(cfg.vocab, (batch, n), generator=generator)                  # (B, n)
    period = torch.randint(SEGMENT[0], SEGMENT[1] + 1, (batch, 1), generator=generator)
    start = torch.randint(0, MAX_START + 1, (batch, 1), generator=generator)
    pos = torch.arange(n)[None]                                                       # (1, n)
    after_first = pos >= start + period
    # Every token after the first copy is the token one period back: gather from the first copy.
    source = torch.where(after_first, start + (pos - start) % period, pos)            # (B, n)
    ids = ids.gather(1, source)
    # Position i predicts token i+1: the first copy's tokens 2..p are predicted from its
    # positions start..start+p-2; every later position predicts a token seen one period back.
    first = (pos >= start) & (pos < start + period - 1)
    repeat = after_first & (pos < n - 1)
    return Batch(ids, first, repeat, start[:, 0], period[:, 0])


def token_losses(model: ToyTransformer, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss of predicting each next token (B, n-1) and the patterns (L, B, h, n, n)."""
    logits, patterns = model(ids)
    losses = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")   # (B, n-1)
    return losses, patterns


# --- training ---------------------------------------------------------------------------------------


MAX_STEPS = 3000


class Diverged(ValueError):
    """The loss became infinite or NaN (the learning rate was too large)."""

    def __init__(self, step: int):
        super().__init__(f"training diverged at step {step}: the loss is no longer a finite number")
        self.step = step


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    steps: int = 500
    layers: int = 2
    heads: int = 4
    lr: float = 3e-3
    batch: int = 32
    log_every: int = 10     # evaluate and score the heads every this many steps (and at 0 and the end)
    mlp: bool = False

    def model_config(self) -> ToyConfig:
        return ToyConfig(n_layers=self.layers, n_heads=self.heads, mlp=self.mlp)


@dataclass
class Log:
    """One evaluation during training, on a fixed held-out batch and the fixed probe sequences."""

    step: int
    loss: float           # mean next-token loss over the whole held-out sequences
    loss_first: float     # ... over the repeated segment's first occurrence
    loss_repeat: float    # ... over its repeat (tokens 2.. of the second copy)
    induction: list[list[float]]       # (layers, heads) induction score
    previous_token: list[list[float]]  # (layers, heads) previous-token score
    seconds: float        # since training started


@dataclass
class Sample:
    """One fresh sequence: what the model predicts at every position of its repeat."""

    ids: list[int]
    start: int                # where the segment first starts
    period: int               # its length
    predicted: list[int]     # argmax next token at every position (n-1)
    probability: list[float]  # probability of the true next token at every position (n-1)


@dataclass
class TrainResult:
    config: TrainConfig
    logs: list[Log]
    model: ToyTransformer
    sample_before: Sample
    sample_after: Sample
    stopped: bool = False   # cancelled before the last step
    seconds: float = 0.0

    @property
    def final_scores(self) -> torch.Tensor:
        return torch.tensor(self.logs[-1].induction)

    def induction_head(self, threshold: float = 0.0) -> tuple[int, int, float] | None:
        """(layer, head, score) of the head with the highest final induction score, if above threshold."""
        scores = self.final_scores
        best = int(scores.argmax())
        layer, head = divmod(best, scores.shape[1])
        score = float(scores[layer, head])
        return (layer, head, score) if score > threshold else None


MAX_SEED = 2**31 - 1  # the largest training seed a request may give (app/schemas/learn.py)
# Fixed evaluation data, the same for every run, so curves of different seeds compare. Its seeds (this and
# the next two) lie above every training seed: a run seeded 12345, when this was 12345, drew its training
# batches from the held-out batch's own random stream (the same random tokens as the held-out sequences),
# and the page says the held-out sequences are never trained on.
EVAL_SEED = MAX_SEED + 1 + 12345
EVAL_BATCH = 64
PROBE_PERIOD = 16   # induction probe: 16 distinct random tokens, then the same 16 again
PROBE_COUNT = 16


def probe_sequences(cfg: ToyConfig) -> torch.Tensor:
    """The induction probe's input: (PROBE_COUNT, 2 * PROBE_PERIOD), as for SmolLM2's heads."""
    g = torch.Generator().manual_seed(EVAL_SEED + 1)
    return probes.repeated_random_tokens(list(range(cfg.vocab)), PROBE_PERIOD, PROBE_COUNT, g)


def eval_batch(cfg: ToyConfig) -> Batch:
    return make_batch(cfg, EVAL_BATCH, torch.Generator().manual_seed(EVAL_SEED))


@torch.no_grad()
def evaluate(model: ToyTransformer, data: Batch, probe_ids: torch.Tensor, step: int, seconds: float) -> Log:
    losses, patterns = token_losses(model, data.ids)              # (B, n-1), (L, B, h, n, n)
    first, repeat = data.first[:, :-1], data.repeat[:, :-1]
    _, probe_patterns = model(probe_ids)                           # (L, P, h, 2R, 2R)
    induction = probes.induction_score(probe_patterns, PROBE_PERIOD).mean(1)        # (L, h)
    # Previous-token score on ordinary training text (here: the held-out batch).
    previous = probes.previous_token_score(patterns).mean(1)                         # (L, h)
    return Log(step=step, loss=float(losses.mean()), loss_first=float(losses[first].mean()),
               loss_repeat=float(losses[repeat].mean()), induction=induction.tolist(),
               previous_token=previous.tolist(), seconds=seconds)


@torch.no_grad()
def previous_token_controls(model: ToyTransformer, cfg: ToyConfig, layer: int, head: int) -> tuple[float, float]:
    """Controls for one head's previous-token score (measured on the held-out batch): its mean
    attention two tokens back on the same batch, and the score of attention spread evenly over
    every token so far on sequences of that length (a head that looks nowhere in particular)."""
    data = eval_batch(cfg)
    _, patterns = model(data.ids)                                                  # (L, B, h, n, n)
    two_back = float(probes.back_score(patterns[layer, :, head], 2).mean())
    return two_back, probes.even_back_score(data.ids.shape[1])


@torch.no_grad()
def sample(model: ToyTransformer, data: Batch, index: int = 0) -> Sample:
    ids = data.ids[index:index + 1]
    logits, _ = model(ids)
    probs = logits[0, :-1].softmax(-1)                                             # (n-1, V)
    truth = ids[0, 1:]
    return Sample(ids=ids[0].tolist(), start=int(data.start[index]), period=int(data.period[index]),
                  predicted=probs.argmax(-1).tolist(),
                  probability=probs.gather(1, truth[:, None])[:, 0].tolist())


def logged_steps(steps: int, every: int) -> list[int]:
    return sorted(set(range(0, steps, every)) | {steps})


def initialise(model: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default initialisation (what nn.Linear and nn.Embedding draw when built), drawn from
    a private generator in the order the modules were built.

    Seeding the process-wide generator instead (manual_seed while building) is not safe on a server:
    any other thread that draws a random number meanwhile (a sampled reply, say) shifts the stream,
    and the same seed no longer gives the same curves. With the same seed this gives the same
    numbers that building after `torch.manual_seed(seed)` gives."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight.shape[1])                       # 1 / sqrt(fan_in)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, generator=generator)


def untrained(config: TrainConfig) -> tuple[ToyTransformer, Batch, torch.Tensor]:
    """The model as training starts (its seeded random weights), the held-out batch and the probe
    sequences it is measured on."""
    cfg = config.model_config()
    model = ToyTransformer(cfg)
    initialise(model, torch.Generator().manual_seed(config.seed))
    return model, eval_batch(cfg), probe_sequences(cfg)


def first_log(config: TrainConfig) -> Log:
    """The measurement `train` logs at step 0, before any step: the untrained model's losses and head
    scores, without training (they depend on the seed, layers and heads only). On one thread, the
    same numbers as `train(config).logs[0]`; `seconds` is this measurement's own time."""
    started = time.perf_counter()
    model, held_out, probe_ids = untrained(config)
    return evaluate(model.eval(), held_out, probe_ids, 0, time.perf_counter() - started)


def train(config: TrainConfig, on_log: Callable[[Log], None] | None = None,
          stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train a fresh ToyTransformer; call `on_log` at every logged step; end early when `stop()`.

    Run it on one thread (torch.set_num_threads(1)) for bit-identical repeats."""
    if not 1 <= config.steps <= MAX_STEPS:
        raise ValueError(f"steps must be 1 to {MAX_STEPS}")
    cfg = config.model_config()
    model, held_out, probe_ids = untrained(config)
    data_gen = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    fresh = make_batch(cfg, 1, torch.Generator().manual_seed(EVAL_SEED + 2))
    logs: list[Log] = []
    wanted = set(logged_steps(config.steps, config.log_every))
    started = time.perf_counter()
    before = sample(model.eval(), fresh)
    stopped = False
    for step in range(config.steps + 1):
        if step in wanted:
            model.eval()
            logs.append(evaluate(model, held_out, probe_ids, step, time.perf_counter() - started))
            if on_log is not None:
                on_log(logs[-1])
        if step == config.steps:
            break
        if stop is not None and stop():
            stopped = True
            break
        model.train()
        batch = make_batch(cfg, config.batch, data_gen)
        losses, _ = token_losses(model, batch.ids)
        loss = losses.mean()
        if not torch.isfinite(loss):
            raise Diverged(step)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    model.eval()
    return TrainResult(config, logs, model, before, sample(model, fresh), stopped, time.perf_counter() - started)


def config_dict(config: TrainConfig) -> dict:
    return asdict(config) | {"model": asdict(config.model_config())}
