"""Vectors for words and sentences, read from the model itself (no separate word-vector model).

A word is tokenized with a leading space (" dog"), because that is how it appears mid-sentence
and how the tokenizer stores most whole words. It then gets one vector in one of two ways:

- static: the rows of the input embedding matrix (V, d) for its tokens. These are what the
  model starts from, before any context; the same matrix, read the other way, scores the next
  token (SmolLM2 ties its input and output embeddings).
- contextual: the residual stream at a chosen layer while the model reads the word after a
  short fixed prefix (CONTEXT_PREFIX). The prefix matters: whatever stands at position 0 becomes
  an "attention sink" whose vector grows many times longer than the others' and looks the same
  for every word, so a word read on its own would have no useful hidden state (`first_position`
  measures both, layer by layer; the page draws that measurement).

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
        self._first_position: FirstPosition | None = None
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

    def first_position(self) -> "FirstPosition":
        """Why contextual mode reads a word after a prefix, measured once per model (see FirstPosition)."""
        if self._first_position is None:
            self._first_position = measure_first_position(self, FIRST_POSITION_WORDS)
        return self._first_position

    # --- the whole vocabulary -------------------------------------------------------------------

    def cosines(self, v: torch.Tensor) -> torch.Tensor:
        """Cosine of `v` with every row of the embedding matrix: (V,)."""
        return (self.weight @ v) / (self.norms * v.norm().clamp_min(1e-12))

    def listable(self, exclude: set[int] = frozenset(), word_like: bool = True) -> torch.Tensor:
        """(V,) bool: the tokens a ranking may list (word-like ones only, if asked; never `exclude`)."""
        mask = self.word_like.clone() if word_like else torch.ones_like(self.word_like)
        if exclude:
            mask[list(exclude)] = False
        return mask

    def nearest(self, v: torch.Tensor, k: int, exclude: set[int] = frozenset(),
                word_like: bool = True) -> list[Neighbour]:
        return top_tokens(self, self.cosines(v), self.listable(exclude, word_like), k)

    def nearest_each(self, vs: torch.Tensor, k: int, excludes: list[set[int]],
                     word_like: bool = True) -> list[list[Neighbour]]:
        """nearest() for each row of `vs` (n, d), with the matrix read once for them all: one (V, d) @ (d, n)
        product instead of n matrix-vector products that each read all of its 113 MB (a map's 48 words:
        about 0.5 s of the map's 0.55 s on 2 cores, now a few tens of ms)."""
        scores = (self.weight @ vs.T) / (self.norms[:, None] * vs.norm(dim=1).clamp_min(1e-12))  # (V, n)
        return [top_tokens(self, scores[:, j], self.listable(exclude, word_like), k) for j, exclude in enumerate(excludes)]


def top_tokens(emb: ModelEmbeddings, scores: torch.Tensor, listable: torch.Tensor, k: int) -> list[Neighbour]:
    """The k listable tokens of highest score, best first."""
    top = scores.masked_fill(~listable, -torch.inf).topk(k)
    return [Neighbour(int(i), emb.tokenizer.token_text(int(i)), float(c))
            for c, i in zip(top.values, top.indices) if torch.isfinite(c)]


# --- the first position (attention sink) ------------------------------------------------------

FIRST_POSITION_WORDS = WORD_SETS["animals"].words


@dataclass
class FirstPosition:
    """The first position of a text, layer by layer (index l = after l blocks; 0 = the embedding).

    length_ratio[l]: over texts "<CONTEXT_PREFIX> <word>", the mean of |x_0| / mean_i>=1 |x_i|,
        how many times longer the first position's vector is than the other positions'.
    alone_cosine[l]: mean cosine over pairs of the words' vectors when each word is read alone
        (so it stands at position 0 itself; the last token of the word for words of several tokens).
    prefixed_cosine[l]: the same pairs read after the prefix (the map's contextual vectors, last token).
    """
    words: tuple[str, ...]
    length_ratio: list[float]
    alone_cosine: list[float]
    prefixed_cosine: list[float]


def mean_pair_cosine(vectors: torch.Tensor) -> float:
    """The mean cosine of every two different rows: how alike their directions are."""
    sims, n = cosine_matrix(vectors), vectors.shape[0]
    return float((sims.sum() - sims.diagonal().sum()) / (n * n - n))


def _residual(model: Llama, ids: list[int]) -> torch.Tensor:
    """(L+1, n, d): the residual stream of a short text, after the embedding and after each block."""
    names = ["embed"] + [f"blocks.{i}.resid_post" for i in range(model.cfg.n_layers)]
    store: dict[str, torch.Tensor] = {}

    def keep(x: torch.Tensor, name: str) -> None:
        store[name] = x

    with torch.inference_mode(), model.hooks({n: keep for n in names}):
        model(torch.tensor(ids, dtype=torch.long))
    return torch.stack([store[n] for n in names])


def measure_first_position(emb: ModelEmbeddings, words: tuple[str, ...]) -> FirstPosition:
    prefix = emb.tokenizer.encode(CONTEXT_PREFIX)
    ratios, alone, prefixed = [], [], []
    for w in words:
        ids = word_ids(emb.tokenizer, w)
        lengths = _residual(emb.model, prefix + ids).norm(dim=-1)                       # (L+1, n)
        ratios.append(lengths[:, 0] / lengths[:, 1:].mean(1))
        alone.append(_residual(emb.model, ids)[:, -1])                                  # (L+1, d)
        prefixed.append(torch.stack([emb.contextual_vector(ids, layer, "last") for layer in range(lengths.shape[0])]))
    n_layers = len(ratios[0])
    return FirstPosition(
        words=tuple(words),
        length_ratio=[float(x) for x in torch.stack(ratios).mean(0)],
        alone_cosine=[mean_pair_cosine(torch.stack([a[layer] for a in alone])) for layer in range(n_layers)],
        prefixed_cosine=[mean_pair_cosine(torch.stack([p[layer] for p in prefixed])) for layer in range(n_layers)])


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
    scores: torch.Tensor            # (V,) cosine of every token with the target: the ONE score vector
    listable: torch.Tensor          # (V,) bool: tokens the results may list (inputs excluded)
    results: list[Neighbour]        # nearest to the target, inputs excluded
    with_inputs: list[Neighbour]    # the same without excluding the inputs (usually a or c wins)

    def rank_of(self, emb: ModelEmbeddings, ids: list[int]) -> tuple[int, float]:
        """Where a word would stand in `results` (1 = first) and its cosine with the target.

        A one-token word is read from the same score vector the results come from, so the top
        result always has rank 1 (an earlier version recomputed its cosine a second way, and a
        rounding difference of 1e-7 put ' smaller' behind itself: rank 2 while listed first).
        A word of several tokens has no row; its mean vector is scored and placed among the rows."""
        if len(ids) == 1:
            cos = self.scores[ids[0]]
        else:
            v = emb.static_vector(ids)
            cos = (v @ self.target) / (v.norm().clamp_min(1e-12) * self.target.norm().clamp_min(1e-12))
        others = self.listable.clone()
        others[ids] = False
        return int((self.scores[others] > cos).sum()) + 1, float(cos)


def analogy(emb: ModelEmbeddings, a: str, b: str, c: str, k: int = 10, word_like: bool = True) -> Analogy:
    """a - b + c with static vectors (puppy - dog + cat: "what is to cat as puppy is to dog?").

    Every token of a, b and c is excluded from the results: the target usually lies closest to a
    or c themselves, and the question is which *other* token it lands near. The results and the
    rank of an expected word read one score vector (`scores`)."""
    ids = {name: word_ids(emb.tokenizer, w) for name, w in (("a", a), ("b", b), ("c", c))}
    vectors = {name: emb.static_vector(i) for name, i in ids.items()}
    target = vectors["a"] - vectors["b"] + vectors["c"]
    inputs = {t for i in ids.values() for t in i}
    scores = emb.cosines(target)
    listable = emb.listable(inputs, word_like)
    return Analogy(target=target, vectors=vectors, ids=ids, scores=scores, listable=listable,
                   results=top_tokens(emb, scores, listable, k),
                   with_inputs=top_tokens(emb, scores, emb.listable(word_like=word_like), 3))


# The page's built-in examples (served by /api/embeddings/sets). Some work on SmolLM2 and some do
# not; the page computes each verdict live, and tests/claims/test_embeddings.py pins that the
# examples include both.
ANALOGY_EXAMPLES: tuple[tuple[str, str, str, str], ...] = (
    ("puppy", "dog", "cat", "kitten"),
    ("king", "man", "woman", "queen"),
    ("Berlin", "Germany", "France", "Paris"),
    ("bigger", "big", "small", "smaller"),
    ("Paris", "France", "Italy", "Rome"),
    ("walked", "walk", "run", "ran"),
    ("calf", "cow", "horse", "foal"),
)


# --- sentences -------------------------------------------------------------------------------


def sentence_vector(resid: torch.Tensor, layer: int) -> torch.Tensor:
    """Mean of a prompt's residual stream (L+1, n, d) at `layer` over positions 1..n-1.

    Position 0 is left out: it is the attention sink, in most layers a vector many times longer
    than the others (see `first_position`), which would swamp the mean and make every sentence
    look alike."""
    stream = resid[layer]                                                      # (n, d)
    return stream[1:].mean(0) if stream.shape[0] > 1 else stream[0]


def cosine_matrix(vectors: torch.Tensor) -> torch.Tensor:
    unit = torch.nn.functional.normalize(vectors.to(torch.float64), dim=1)
    return unit @ unit.T
