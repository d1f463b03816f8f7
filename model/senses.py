"""The fair test of whether a model tells a word's senses apart ("bank" by a river, "bank" with money).

Comparing "bank" with "river" taken from the river sentence itself measures "same sentence", not
meaning: tokens of one sentence grow alike whatever they mean. The fair test compares the word
with *itself*: its vector in sentences of the same sense (within) against its vector in
sentences of another sense (across). If the model separates the senses, within > across.

And which heads bring the sense in: the attention from the word to the words that give each
group its sense ("cues", e.g. river, stream / money, loan), against the same sentence with the
word swapped for a plain word whose meaning does not change (a control: a head that looks at
"river" from "table" as much as from "bank" is not fetching bank's sense, only looking at the
sentence's content words).

Pure torch over cached Analyses; never runs the model. Shapes: L layers, h heads, d = d_model,
S sentences.
"""

from __future__ import annotations

import itertools
import re

import torch

from model.ablation import head_zeroing_hooks
from model.analysis import Analysis
from model.errors import InputError
from model.tokenizer import Token


def _whole_word(word: str) -> re.Pattern:
    return re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", flags=re.IGNORECASE)


def occurs(text: str, word: str) -> bool:
    """Whether `word` occurs in `text` as a whole word, case ignored."""
    return bool(word.strip()) and _whole_word(word.strip()).search(text) is not None


def word_position(text: str, tokens: list[Token], word: str, field: str) -> int:
    """Token position of the word's first whole-word occurrence in `text`, case ignored.

    A word may be cut into several tokens; we take the token holding its last character, the
    first position of a causal model that has read the whole word. Raises InputError naming
    `field` when the word does not occur."""
    word = word.strip()
    match = _whole_word(word).search(text) if word else None
    if match is not None:
        last_char = match.end() - 1
        for position, token in enumerate(tokens):
            if token.start <= last_char < token.end:
                return position
    raise InputError(f"{field} ({text!r}) does not contain the word {word!r}; every sentence must contain it "
                     "(as a whole word, any case).", code="word_not_found", field=field)


def word_vectors(analyses: list[Analysis], positions: list[int]) -> torch.Tensor:
    """(S, L+1, d) each sentence's residual stream at the word: [:, 0] the input embedding,
    [:, l] after l blocks."""
    return torch.stack([a.resid[:, p].float() for a, p in zip(analyses, positions)])


def within_across(vectors: torch.Tensor, groups: list[int]) -> tuple[list[float | None], list[float | None]]:
    """Mean cosine, per depth, over pairs of sentences of the same group (within) and of
    different groups (across); None where there is no such pair. `groups[s]` is the group of
    sentence s. vectors (S, L+1, d) -> two lists of L+1."""
    unit = torch.nn.functional.normalize(vectors.double(), dim=-1)
    within, across = [], []
    for a, b in itertools.combinations(range(len(groups)), 2):
        cosine = (unit[a] * unit[b]).sum(-1)                                     # (L+1,)
        (within if groups[a] == groups[b] else across).append(cosine)

    def mean(pairs: list[torch.Tensor]) -> list[float | None]:
        if not pairs:
            return [None] * vectors.shape[1]
        return torch.stack(pairs).mean(0).tolist()

    return mean(within), mean(across)


def cue_positions(text: str, tokens: list[Token], cues: list[str], before: int) -> list[int]:
    """Positions of the tokens (before position `before`) that overlap any whole-word occurrence
    of a cue word, case ignored. A cue cut into several tokens counts with all of them."""
    found: set[int] = set()
    for cue in (c.strip() for c in cues):
        if not cue:
            continue
        for match in _whole_word(cue).finditer(text):
            for position, token in enumerate(tokens[:before]):
                if token.start < match.end() and match.start() < token.end:
                    found.add(position)
    return sorted(found)


def attention_to(analysis: Analysis, position: int, keys: list[int]) -> torch.Tensor:
    """(L, h) how much weight every head puts from `position` on the given key positions together."""
    if not keys:
        return torch.zeros(analysis.attn_pattern.shape[:2])
    return analysis.attn_pattern[:, :, position, keys].float().sum(-1)


def swap_word(text: str, word: str, replacement: str) -> str:
    """`text` with every whole-word occurrence of `word` replaced (a capital first letter kept)."""
    def repl(match: re.Match) -> str:
        return replacement[:1].upper() + replacement[1:] if match.group(0)[:1].isupper() else replacement
    return _whole_word(word.strip()).sub(repl, text)


def residual_without_heads(analysis: Analysis, heads: list[tuple[int, int]]) -> torch.Tensor:
    """(L+1, n, d) the prompt's residual stream with the given heads switched off in every position.

    A head is switched off as in model/ablation.py: its output `z` (the `blocks.L.attn.z` hook
    point, (h, n, dh)) is zeroed before the output projection mixes the heads. Everything before
    the first switched-off layer is unchanged, so the pass resumes from the Analysis' residual
    stream there. Run it holding the model lock (in the engine's worker)."""
    if not heads:
        return analysis.resid
    model = analysis.model
    fns = head_zeroing_hooks(heads)
    first = min(layer for layer, _ in heads)
    kept: dict[int, torch.Tensor] = {}

    def keep(x: torch.Tensor, name: str) -> None:
        kept[int(name.split(".")[1])] = x.detach()                             # (n, d)

    fns |= {f"blocks.{layer}.resid_post": keep for layer in range(first, model.cfg.n_layers)}
    with torch.inference_mode(), model.hooks(fns):
        model.forward_from(first, analysis.resid[first], last_only=True)
    out = analysis.resid.clone()
    for layer, x in kept.items():
        out[layer + 1] = x.reshape(out.shape[1:]).to(out.dtype)
    return out
