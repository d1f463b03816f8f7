"""Every head of a model scored by the standard probes (model/probes.py), with a role each.

`measure` runs the probes' prompts through the model once and returns, for every head, its
previous-token, first-token and induction scores; `roles` names what each head does beyond the
default; `load_or_measure` keeps the result on disk beside the weight cache, keyed by the GGUF's
SHA-256 and `PROBE_VERSION`, so a server measures a model once.

The probes' inputs (fixed, so every run of every server gets the same numbers):

- ordinary text: `ORDINARY_TEXT`, a few sentences of plain English, each a separate pass
  (the previous-token and first-token scores are averaged over them);
- the induction probe: `INDUCTION_SEQUENCES` sequences of `INDUCTION_PERIOD` word tokens
  (" river", " market", ...: a space then 3 or more letters, no special tokens), drawn without
  repeats from the vocabulary with the seed `SEED`, each written twice, with nothing in front.

Roles: a head is named for previous_token when that score is at least `ROLE_THRESHOLD`, for
induction when that score is at least `INDUCTION_THRESHOLD` (the larger score wins if both reach
theirs). Otherwise it is a first_token head when at least half of its weight (`ROLE_THRESHOLD`)
goes to the first token; otherwise it has no role. Almost every head also parks weight on the first
token (an attention sink), so first_token is a role only when nothing else stands out.

Why induction has its own threshold: the induction score depends on which random tokens are drawn.
On SmolLM2, with 10 sequences per seed, the partial induction heads L18H7 and L23H2 score between
0.39 and 0.56 from one seed to another, so at 0.5 the probe named 4, 5 or 6 induction heads
depending on the seed. With `INDUCTION_SEQUENCES` = 40 the four clear heads (L17H3-5, L18H6) score
about 0.64 or more and the partial ones about 0.50 or less on every seed tried; 0.57 lies in the
middle of that gap. Previous-token and first-token scores come from fixed sentences (no draw), and
0.5 sits in a gap of the previous-token scores (about 0.40 below, 0.58 above).
tests/claims/test_attention.py checks that no head's induction or previous-token score lies within
`ROLE_MARGIN` of its threshold, on three seeds of the induction probe.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from model import probes
from model.llama import Llama
from model.tokenizer import ModelTokenizer

PROBE_VERSION = 2  # bump when an input or a definition below changes: cached results are then remeasured
SEED = 0
INDUCTION_PERIOD = 25
INDUCTION_SEQUENCES = 40  # 10 let the partial induction heads cross the threshold on some seeds
ROLE_THRESHOLD = 0.5  # previous-token and first-token: "at least half of its weight"
INDUCTION_THRESHOLD = 0.57  # in the gap between the clear and the partial induction heads (docstring)
ROLE_MARGIN = 0.03    # no named score this close to its threshold, on several seeds of the probe
ROLES = ("previous_token", "induction", "first_token")

ORDINARY_TEXT = (
    "The old man walked slowly down the road towards the village, where his daughter was waiting for him.",
    "Most plants need sunlight, water and good soil to grow, but some can live in very dry places.",
    "After the meeting, the team went out for lunch and talked about their plans for the next year.",
    "She opened the window, looked at the rain and decided to stay at home with a book.",
)

DESCRIPTIONS = {
    "previous_token": f"Mean attention weight from each token to the token just before it (every token but the "
                      f"first), over {len(ORDINARY_TEXT)} sentences of ordinary English; a head scoring at least "
                      f"{ROLE_THRESHOLD} is a previous-token head.",
    "induction": f"On {INDUCTION_SEQUENCES} sequences of {INDUCTION_PERIOD} random word tokens written twice "
                 "(nothing in front), mean weight from each token of the second copy to the token that followed "
                 f"the same token in the first copy; a head scoring at least {INDUCTION_THRESHOLD} is an induction head.",
    "first_token": f"Mean attention weight on the first token (from every token but the first), over "
                   f"{len(ORDINARY_TEXT)} sentences of ordinary English; a head scoring at least {ROLE_THRESHOLD} "
                   "is a first-token head when neither other score reaches that.",
}

_WORD = re.compile(r"^ [A-Za-z]{3,}$")


@dataclass
class HeadScores:
    """Probe scores of every head: each tensor is (layers, heads), float64."""

    previous_token: torch.Tensor
    induction: torch.Tensor
    first_token: torch.Tensor

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in ROLES}

    def to_json(self) -> dict:
        return {name: t.tolist() for name, t in self.as_dict().items()}

    @classmethod
    def from_json(cls, data: dict) -> "HeadScores":
        return cls(**{name: torch.tensor(data[name], dtype=torch.float64) for name in ROLES})


def word_vocab(tokenizer: ModelTokenizer) -> list[int]:
    """Ordinary word tokens: a space then 3 or more ASCII letters, never a special token."""
    return [i for i in range(tokenizer.vocab_size)
            if i not in tokenizer.special_ids and _WORD.match(tokenizer.token_text(i))]


def induction_sequences(tokenizer: ModelTokenizer, seed: int = SEED, period: int = INDUCTION_PERIOD,
                        count: int = INDUCTION_SEQUENCES) -> torch.Tensor:
    """The induction probe's input, (count, 2 * period): the same for a given tokenizer and seed."""
    vocab = word_vocab(tokenizer)
    if len(vocab) < period:
        # A vocabulary with few word tokens (the tiny test model): any non-special token.
        vocab = [i for i in range(tokenizer.vocab_size) if i not in tokenizer.special_ids]
    return probes.repeated_random_tokens(vocab, period, count, torch.Generator().manual_seed(seed))


def patterns(model: Llama, ids: list[int] | torch.Tensor) -> torch.Tensor:
    """Attention weights of every head for one pass: (layers, heads, n, n), float64."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    names = [f"blocks.{i}.attn.pattern" for i in range(model.cfg.n_layers)]
    store: dict[str, torch.Tensor] = {}

    def keep(x: torch.Tensor, name: str) -> None:
        store[name] = x

    # float32 weights for any length of probe; only the last position is unembedded (no logits needed).
    with torch.inference_mode(), model.float32_only(), model.hooks({name: keep for name in names}):
        model(ids, last_only=True)
    return torch.stack([store[name] for name in names]).double()


@dataclass
class ProbePass:
    """One pass of the probes: `kind` is "ordinary" (a sentence) or "induction" (a repeated sequence)."""

    kind: str
    ids: list[int]


def probe_passes(tokenizer: ModelTokenizer, seed: int = SEED) -> list[ProbePass]:
    """Every pass the probes need, in order: the ordinary sentences, then the induction sequences."""
    return ([ProbePass("ordinary", tokenizer.encode(s)) for s in ORDINARY_TEXT]
            + [ProbePass("induction", row.tolist()) for row in induction_sequences(tokenizer, seed)])


def pass_scores(model: Llama, probe: ProbePass) -> dict[str, torch.Tensor]:
    """The scores one pass gives, each (layers, heads)."""
    p = patterns(model, probe.ids)
    if probe.kind == "ordinary":
        return {"previous_token": probes.previous_token_score(p), "first_token": probes.first_token_score(p)}
    return {"induction": probes.induction_score(p, len(probe.ids) // 2)}


def combine(per_pass: list[dict[str, torch.Tensor]]) -> HeadScores:
    """Average every score over the passes that measure it."""
    return HeadScores(**{name: torch.stack([s[name] for s in per_pass if name in s]).mean(0) for name in ROLES})


def measure(model: Llama, tokenizer: ModelTokenizer, seed: int = SEED) -> HeadScores:
    """Score every head on the ordinary text and on the induction probe (about a dozen short passes)."""
    return combine([pass_scores(model, probe) for probe in probe_passes(tokenizer, seed)])


def role(previous_token: float, induction: float, first_token: float,
         threshold: float = ROLE_THRESHOLD, induction_threshold: float = INDUCTION_THRESHOLD) -> str | None:
    """What a head does beyond the default (see the module's docstring)."""
    reaching = {name: score for name, score, bar in (("induction", induction, induction_threshold),
                                                     ("previous_token", previous_token, threshold)) if score >= bar}
    if reaching:
        return max(reaching.items(), key=lambda kv: kv[1])[0]
    return "first_token" if first_token >= threshold else None


def roles(scores: HeadScores, threshold: float = ROLE_THRESHOLD,
          induction_threshold: float = INDUCTION_THRESHOLD) -> list[list[str | None]]:
    """The role of every head, (layers, heads) as nested lists."""
    L, h = scores.induction.shape
    return [[role(float(scores.previous_token[l, k]), float(scores.induction[l, k]), float(scores.first_token[l, k]),
                  threshold, induction_threshold) for k in range(h)] for l in range(L)]


def cache_path(cache_dir: Path, gguf_sha256: str) -> Path:
    return Path(cache_dir) / f"{gguf_sha256[:16]}-heads-v{PROBE_VERSION}.json"


def read_cache(cache_dir: Path | None, gguf_sha256: str | None) -> HeadScores | None:
    """The scores cached for this GGUF and probe version, or None (missing, damaged, or no identity)."""
    if cache_dir is None or not gguf_sha256:
        return None
    path = cache_path(cache_dir, gguf_sha256)
    try:
        data = json.loads(path.read_text())
        if data.get("version") == PROBE_VERSION and data.get("gguf_sha256") == gguf_sha256:
            return HeadScores.from_json(data["scores"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # missing or damaged: measured again and overwritten
    return None


def write_cache(cache_dir: Path | None, gguf_sha256: str | None, scores: HeadScores) -> None:
    """Keep the scores for the next start (nothing is kept for a model without a GGUF identity)."""
    if cache_dir is None or not gguf_sha256:
        return
    path = cache_path(cache_dir, gguf_sha256)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps({"version": PROBE_VERSION, "gguf_sha256": gguf_sha256,
                                       "scores": scores.to_json()}))
        os.replace(partial, path)  # a crash never leaves half a file under the real name
    except OSError:
        pass  # a read-only folder only costs measuring again at the next start


def load_or_measure(cache_dir: Path | None, gguf_sha256: str | None,
                    compute: Callable[[], HeadScores]) -> HeadScores:
    """The cached scores of this GGUF and probe version, or `compute()` written to the cache.

    Without a cache folder or a GGUF identity (a model built in memory) nothing is kept on disk."""
    found = read_cache(cache_dir, gguf_sha256)
    if found is None:
        found = compute()
        write_cache(cache_dir, gguf_sha256, found)
    return found
