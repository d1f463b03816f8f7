"""Vectors for words and sentences, read from the model itself (no separate word-vector model).

A word is tokenized with a leading space (" dog"), because that is how it appears mid-sentence
and how the tokenizer stores most whole words. It then gets one vector in one of two ways:

- static: the rows of the input embedding matrix (V, d) for its tokens. These are what the
  model starts from, before any context; the same matrix, read the other way, scores the next
  token (SmolLM2 ties its input and output embeddings).
- contextual: the residual stream at a chosen layer while the model reads the word after a
  short fixed prefix (CONTEXT_PREFIX). The prefix matters: whatever stands at position 0 becomes
  an "attention sink" whose vector grows ~100x longer from layer 2 on and looks the same for
  every word, so a word read on its own would have no useful hidden state.

A word of several tokens (" duckling" -> " duck" + "ling") gets the mean of its tokens' vectors,
or (pooling="last") the last token's vector, which in contextual mode has seen the whole word.

A sentence's vector is the mean of its tokens' residual stream at one layer, leaving out
position 0 for the same attention-sink reason.

Nearest tokens are found by cosine similarity against all V rows of the embedding matrix. Many
rows are sub-word pieces (" enthusi", "ling"); `word_like` keeps only tokens that are a space
followed by letters.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import torch

from model.llama import KVCache, Llama
from model.tokenizer import ModelTokenizer

CONTEXT_PREFIX = "A word:"
CONTEXT_CACHE_WORDS = 512   # contextual vectors kept per model: (L+1, d) x 2 each, ~140 KB for SmolLM2


@dataclass(frozen=True)
class WordSet:
    name: str
    label: str
    words: tuple[str, ...]
    pairs_with: str | None = None   # words[i] pairs with that set's words[i] (dog -> puppy)


def _set(name: str, label: str, words: str, pairs_with: str | None = None) -> WordSet:
    return WordSet(name, label, tuple(words.split()), pairs_with)


# Ready-made sets. Paired sets line up word for word so the map can draw dog -> puppy,
# France -> Paris. Every word here is one token for SmolLM2 except a few young animals
# (" duckling" = " duck" + "ling"), which shows the several-token case.
WORD_SETS: dict[str, WordSet] = {s.name: s for s in [
    _set("animals", "Animals", "dog cat cow horse sheep pig duck bear goat frog chicken deer"),
    _set("young", "Their young", "puppy kitten calf foal lamb piglet duckling cub kid tadpole chick fawn",
         pairs_with="animals"),
    _set("countries", "Countries", "France Italy Germany Spain Japan China Egypt Russia Greece Portugal Kenya Canada"),
    _set("capitals", "Capitals", "Paris Rome Berlin Madrid Tokyo Beijing Cairo Moscow Athens Lisbon Nairobi Ottawa",
         pairs_with="countries"),
    _set("numbers", "Numbers", "one two three four five six seven eight nine ten eleven twelve"),
    _set("colours", "Colours", "red blue green yellow purple orange black white pink brown grey violet"),
]}


def word_ids(tokenizer: ModelTokenizer, word: str) -> list[int]:
    """Token ids of a word as it appears mid-sentence: with one leading space."""
    return tokenizer.encode(" " + word.strip())


def is_word_like(text: str) -> bool:
    """A space followed by letters only (" dog", " Paris"). The test is about form, not meaning:
    " enthusi" (a piece of " enthusiastic") passes; "ling", "/", " 1990" and stray bytes do not."""
    return len(text) >= 2 and text[0] == " " and text[1:].isalpha()


@dataclass
class Neighbour:
    id: int
    text: str
    cosine: float


class ModelEmbeddings:
    """Per-model helpers computed once: embedding-row lengths, the word-like mask, and a bounded
    cache of contextual word vectors. Get it with `for_model`; use it inside the engine's lock."""

    def __init__(self, model: Llama, tokenizer: ModelTokenizer):
        self.model, self.tokenizer = model, tokenizer
        self.weight = model.embed.weight.detach()                              # (V, d)
        # Row lengths instead of a normalised copy of the matrix: same cosines, no second 113 MB.
        self.norms = self.weight.norm(dim=1).clamp_min(1e-12)                  # (V,)
        texts = [tokenizer.token_text(i) for i in range(tokenizer.vocab_size)]
        self.word_like = torch.tensor([is_word_like(t) and i not in tokenizer.special_ids
                                       for i, t in enumerate(texts)])            # (V,)
        self._prefix_cache: tuple[int, KVCache] | None = None
        self._context: OrderedDict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = OrderedDict()

    # --- word vectors ---------------------------------------------------------------------------

    def static_vector(self, ids: list[int], pooling: str = "mean") -> torch.Tensor:
        rows = self.weight[ids]                                                # (t, d)
        return rows[-1].clone() if pooling == "last" else rows.mean(0)

    def _prefix(self) -> tuple[int, KVCache]:
        """The prefix's length and keys/values, computed once: each word then costs only its own tokens."""
        if self._prefix_cache is None:
            ids = self.tokenizer.encode(CONTEXT_PREFIX)
            cache = KVCache()
            with torch.inference_mode():
                self.model(torch.tensor(ids, dtype=torch.long), cache=cache, last_only=True)
            self._prefix_cache = (len(ids), cache)
        return self._prefix_cache

    def _hidden(self, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Residual stream of the word's tokens after the prefix: (last (L+1, d), mean (L+1, d))."""
        key = tuple(ids)
        if key in self._context:
            self._context.move_to_end(key)
            return self._context[key]
        n_prefix, prefix_cache = self._prefix()
        names = ["embed"] + [f"blocks.{i}.resid_post" for i in range(self.model.cfg.n_layers)]
        store: dict[str, torch.Tensor] = {}

        def keep(x: torch.Tensor, name: str) -> None:
            store[name] = x

        with torch.inference_mode(), self.model.hooks({n: keep for n in names}):
            # A copy of the prefix's cache, so the word continues "A word:" at position n_prefix.
            self.model(torch.tensor(ids, dtype=torch.long), cache=prefix_cache.truncated(n_prefix), last_only=True)
        resid = torch.stack([store[n] for n in names])                          # (L+1, t, d)
        found = (resid[:, -1].clone(), resid.mean(1))
        self._context[key] = found
        if len(self._context) > CONTEXT_CACHE_WORDS:
            self._context.popitem(last=False)
        return found

    def contextual_vector(self, ids: list[int], layer: int, pooling: str = "mean") -> torch.Tensor:
        last, mean = self._hidden(ids)
        return (last if pooling == "last" else mean)[layer]

    # --- the whole vocabulary -------------------------------------------------------------------

    def cosines(self, v: torch.Tensor) -> torch.Tensor:
        """Cosine of `v` with every row of the embedding matrix: (V,)."""
        return (self.weight @ v) / (self.norms * v.norm().clamp_min(1e-12))

    def nearest(self, v: torch.Tensor, k: int, exclude: set[int] = frozenset(),
                word_like: bool = True) -> list[Neighbour]:
        scores = self.cosines(v).clone()
        if word_like:
            scores[~self.word_like] = -torch.inf
        if exclude:
            scores[list(exclude)] = -torch.inf
        top = scores.topk(k)
        return [Neighbour(int(i), self.tokenizer.token_text(int(i)), float(c))
                for c, i in zip(top.values, top.indices) if torch.isfinite(c)]

    def rank(self, v: torch.Tensor, target: torch.Tensor, exclude: set[int] = frozenset(),
             word_like: bool = True) -> tuple[int, float]:
        """Where `target` would stand among the vocabulary ranked by cosine with `v` (1 = first)."""
        scores = self.cosines(v).clone()
        if word_like:
            scores[~self.word_like] = -torch.inf
        if exclude:
            scores[list(exclude)] = -torch.inf
        cos = float(torch.nn.functional.cosine_similarity(v, target, dim=0))
        return int((scores > cos).sum()) + 1, cos


_PER_MODEL: "weakref.WeakKeyDictionary[Llama, ModelEmbeddings]" = weakref.WeakKeyDictionary()
_PER_MODEL_LOCK = threading.Lock()


def for_model(model: Llama, tokenizer: ModelTokenizer) -> ModelEmbeddings:
    """The one ModelEmbeddings of this model, built on first use (it reads all V token texts)."""
    with _PER_MODEL_LOCK:
        found = _PER_MODEL.get(model)
        if found is None:
            found = _PER_MODEL[model] = ModelEmbeddings(model, tokenizer)
        return found


# --- analogies -------------------------------------------------------------------------------


@dataclass
class Analogy:
    target: torch.Tensor            # a - b + c
    vectors: dict[str, torch.Tensor]
    ids: dict[str, list[int]]
    results: list[Neighbour]        # nearest to the target, inputs excluded
    with_inputs: list[Neighbour]    # the same without excluding the inputs (usually a or c wins)


def analogy(emb: ModelEmbeddings, a: str, b: str, c: str, k: int = 10, word_like: bool = True) -> Analogy:
    """a - b + c with static vectors (puppy - dog + cat: "what is to cat as puppy is to dog?").

    Every token of a, b and c is excluded from the results: the target usually lies closest to a
    or c themselves, and the question is which *other* token it lands near."""
    ids = {name: word_ids(emb.tokenizer, w) for name, w in (("a", a), ("b", b), ("c", c))}
    vectors = {name: emb.static_vector(i) for name, i in ids.items()}
    target = vectors["a"] - vectors["b"] + vectors["c"]
    inputs = {t for i in ids.values() for t in i}
    return Analogy(target=target, vectors=vectors, ids=ids,
                   results=emb.nearest(target, k, exclude=inputs, word_like=word_like),
                   with_inputs=emb.nearest(target, 3, word_like=word_like))


# --- sentences -------------------------------------------------------------------------------


def sentence_vector(resid: torch.Tensor, layer: int) -> torch.Tensor:
    """Mean of a prompt's residual stream (L+1, n, d) at `layer` over positions 1..n-1.

    Position 0 is left out: it is the attention sink, a vector ~100x longer than the others from
    layer 2 on, which would swamp the mean and make every sentence look alike."""
    stream = resid[layer]                                                      # (n, d)
    return stream[1:].mean(0) if stream.shape[0] > 1 else stream[0]


def cosine_matrix(vectors: torch.Tensor) -> torch.Tensor:
    unit = torch.nn.functional.normalize(vectors.to(torch.float64), dim=1)
    return unit @ unit.T
