"""Chapter 3: the model's own vectors for words and sentences (model/embeddings.py), turned into
/api/embeddings responses: maps, nearest tokens, analogies, sentence vectors.

Model work (embedding look-ups, forward passes) runs under the engine's lock; the projections
(PCA, t-SNE, UMAP) need no model and run in a plain worker thread, so a slow first UMAP call
does not hold up other people's forward passes.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
from starlette.concurrency import run_in_threadpool

from app.engine import Engine
from app.schemas.embeddings import (
    MAX_NEIGHBOURS, MAX_SENTENCE_CHARS, MAX_SENTENCES, MAX_WORD_CHARS, MAX_WORDS, MIN_MAP_WORDS, MIN_SENTENCES,
    AnalogyExample, AnalogyIn, AnalogyOut, AnalogyPoint, ExpectedOut, FirstPositionLayer, FirstPositionOut, MapIn,
    MapOut, MapPiece, MapPoint, NeighbourOut, NeighboursIn, NeighboursOut, OffsetsOut, Piece, RankedOut, SentenceOut,
    SentencesIn, SentencesOut, SetsOut, WordOut, WordSetOut,
)
from model.embeddings import (
    ANALOGY_EXAMPLES, CONTEXT_PREFIX, WORD_SETS, FirstPosition, ModelEmbeddings, analogy, cosine_matrix, for_model,
    mean_pair_cosine, sentence_vector, word_ids,
)
from model.errors import InputError, check_index
from model.projection import MIN_POINTS_NONLINEAR, project

def _r(x: float) -> float:
    return round(float(x), 4)


def analogy_examples() -> list[AnalogyExample]:
    return [AnalogyExample(a=a, b=b, c=c, expected=e) for a, b, c, e in ANALOGY_EXAMPLES]


def first_position_out(found: FirstPosition) -> FirstPositionOut:
    return FirstPositionOut(
        words=list(found.words), context_prefix=CONTEXT_PREFIX,
        layers=[FirstPositionLayer(layer=i, length_ratio=_r(r), alone_cosine=_r(a), prefixed_cosine=_r(p))
                for i, (r, a, p) in enumerate(zip(found.length_ratio, found.alone_cosine, found.prefixed_cosine))])


RESULT_POINTS = 5  # results drawn next to an analogy's parallelogram

# The control for every "how alike are these offsets" number: offsets to other word-like tokens, matched to the
# word they stand in for (the analogy's answer, a pair's second word) in two things that shape an offset whatever
# it means, measured on SmolLM2's word-like tokens:
# - how common it is. There is no frequency table in the model, but a token's id is its place in the tokenizer's
#   merge list (SmolLM2: id = 252 + merge rank), and BPE merges the most frequent pair first. The offsets' cosine
#   grows with it: cat -> a word-like token, against dog -> puppy, correlates 0.67 with the token's id, because
#   dog -> puppy also steps from a common word to a rarer one.
# - the vector's length, which grows with the id (mean 2.6 in the lowest tenth of ids, 3.6 in the highest;
#   correlation 0.54) but not only with it: for the same analogy the length still correlates 0.64 with the cosine
#   once the id is accounted for, and common whole words are shorter than the pieces of similar id (Paris 2.20,
#   its id's neighbours 2.53). So neither alone matches both (by id alone: Paris's controls 0.3 longer; by length
#   alone: Moscow's controls half its id).
# Matching both, each in standard deviations over the word-like tokens, gives controls whose ids and lengths
# follow the words' (the old uniform draw: median id 23,751 and length 3.07 against 7,158 and 2.51 for the
# built-ins' words). It moves the built-ins' controls by up to 0.15 (cat -> kitten 0.40 -> 0.46; horse -> foal
# 0.21 -> 0.06) and the map's: countries -> matched partners 0.22 (uniform 0.25); animals -> matched partners 0.08
# (uniform 0.13), which the young offsets (0.12) beat in every draw.
# A word of several tokens is matched on its rarest token's id (the word is at least that rare) and on the
# length of the vector the page uses for it (their mean). Either way the control is far from 0 for most words
# (cat -> a matched token: 0.46), so a cosine is read against it, not against 0.
CONTROL_TOKENS = 2000   # the analogy's control: the word-like tokens nearest to the answer in id and length
CONTROL_SPARE = 64      # kept beyond them per word, for the request's words to be left out of
CONTROL_CACHE_WORDS = 256   # words whose nearest tokens are kept per model (~8 KB each)
RANDOM_DRAWS = 100      # the map's control: seeded draws of one matched partner per pair


@dataclass(frozen=True)
class _ControlSpace:
    """Where each word-like token lies for matching: its place among them by id (0..1) and its vector's length,
    each divided by its standard deviation over them (so a step in either counts alike); and the nearest tokens of
    the words asked about lately (finding them reads all N: about 2.5 ms a word on 2 busy cores; kept,
    0.2 ms)."""
    ids: torch.Tensor      # (N,) word-like token ids, ascending
    where: torch.Tensor    # (N, 2) place by id, length; in standard deviations
    scale: torch.Tensor    # (2,) the standard deviations
    nearest: "OrderedDict[tuple[int, float], torch.Tensor]" = field(default_factory=OrderedDict)

    def find(self, rarest: int, length: float, exclude: set[int], k: int) -> torch.Tensor:
        """The k tokens nearest to a word whose rarest token is `rarest` and whose vector is `length` long."""
        place = float(torch.searchsorted(self.ids, torch.tensor(rarest))) / len(self.ids)
        distance = (self.where - torch.tensor([place, length], dtype=torch.float64) / self.scale).square().sum(1)
        if exclude:
            distance[torch.isin(self.ids, torch.tensor(sorted(exclude)))] = torch.inf
        k = min(k, int(torch.isfinite(distance).sum()))
        return self.ids[distance.topk(k, largest=False).indices].to(torch.int32)


# Per model's embeddings, held weakly: a strong cache would keep a replaced model alive.
_control_spaces: "weakref.WeakKeyDictionary[ModelEmbeddings, _ControlSpace]" = weakref.WeakKeyDictionary()


def _control_space(emb: ModelEmbeddings) -> _ControlSpace:
    """(runs under the model lock) Computed once per model."""
    space = _control_spaces.get(emb)
    if space is None:
        ids = emb.word_like.nonzero()[:, 0]
        if not len(ids):
            ids = torch.arange(len(emb.word_like))
        raw = torch.stack([torch.arange(len(ids), dtype=torch.float64) / len(ids), emb.norms[ids].double()], 1)
        scale = (raw.std(0) if len(ids) > 1 else torch.ones(2, dtype=torch.float64)).clamp_min(1e-12)
        space = _control_spaces[emb] = _ControlSpace(ids, raw / scale, scale)
    return space


def matched_tokens(emb: ModelEmbeddings, ids: list[int], vector: torch.Tensor,
                   exclude: set[int] = frozenset()) -> torch.Tensor:
    """(runs under the model lock) The control's tokens for a word (its token ids, the vector used for it): the
    CONTROL_TOKENS word-like tokens nearest to it in place by id (its rarest token's) and in vector length,
    `exclude` left out; nearest first. The same for every request with the same word, and kept for the next."""
    space = _control_space(emb)
    key = (max(ids), float(vector.norm()))
    nearest = space.nearest.pop(key, None)
    if nearest is None:
        nearest = space.find(*key, set(), CONTROL_TOKENS + CONTROL_SPARE)
    space.nearest[key] = nearest
    if len(space.nearest) > CONTROL_CACHE_WORDS:
        space.nearest.popitem(last=False)
    kept = nearest[~torch.isin(nearest, torch.tensor(sorted(exclude), dtype=nearest.dtype))] if exclude else nearest
    if len(kept) < CONTROL_TOKENS and len(nearest) == CONTROL_TOKENS + CONTROL_SPARE:
        kept = space.find(*key, exclude, CONTROL_TOKENS)   # more of them left out than the spare
    return kept[:CONTROL_TOKENS].long()


def _layer(engine: Engine, layer: int | None) -> int:
    n = engine.cfg.n_layers
    if layer is None:
        return n // 2
    check_index("layer", layer, n + 1, "layers", f"layer: this model has {n} layers, so choose 0 (the input "
                f"embedding) to {n} (after the last block); got {layer}.")
    return layer


def _embeddings(engine: Engine) -> ModelEmbeddings:
    return for_model(engine.model, engine.tokenizer)


def _map_piece(engine: Engine, token_id: int) -> MapPiece:
    t = engine.tokenizer.describe(token_id)
    return MapPiece(id=token_id, text=engine.tokenizer.token_text(token_id), bytes=t.bytes_hex, partial=t.partial)


def _vocab_neighbour(engine: Engine, n) -> NeighbourOut:
    """A neighbour from the vocabulary, with its bytes (a page labels a piece of a character by them)."""
    t = engine.tokenizer.describe(n.id)
    return NeighbourOut(id=n.id, text=n.text, cosine=_r(n.cosine), bytes=t.bytes_hex, partial=t.partial)


def _word_out(engine: Engine, word: str, ids: list[int]) -> WordOut:
    return WordOut(word=word, tokens=[Piece(id=i, text=engine.tokenizer.token_text(i)) for i in ids])


# --- ready-made sets --------------------------------------------------------------------------


def sets_out(engine: Engine) -> SetsOut:
    """The ready-made word sets for the map, the request limits and the contextual-mode prefix."""
    return SetsOut(
        sets=[WordSetOut(name=s.name, label=s.label, words=list(s.words), pairs_with=s.pairs_with)
              for s in WORD_SETS.values()],
        analogies=analogy_examples(),
        limits={"max_words": MAX_WORDS, "min_map_words": MIN_MAP_WORDS, "max_word_chars": MAX_WORD_CHARS,
                "max_sentences": MAX_SENTENCES, "min_sentences": MIN_SENTENCES,
                "max_sentence_chars": MAX_SENTENCE_CHARS, "max_neighbours": MAX_NEIGHBOURS,
                "min_points_tsne_umap": MIN_POINTS_NONLINEAR},
        context_prefix=CONTEXT_PREFIX, n_layers=engine.cfg.n_layers, default_layer=engine.cfg.n_layers // 2)


# --- the first position ----------------------------------------------------------------------


async def first_position_response(engine: Engine) -> FirstPositionOut:
    """Why hidden states are read after a prefix, measured on this model layer by layer: how much longer
    the first position's vector is than the others', and how alike words look when each stands first
    (read alone) or after the prefix. Computed once per model, then cached."""
    return first_position_out(await engine.run(lambda: _embeddings(engine).first_position()))


# --- word map ---------------------------------------------------------------------------------


def _map_words(req: MapIn) -> tuple[list[str], list[str], list[str], list[tuple[int, int]]]:
    """The map's distinct entries in order (sets first, then the user's words, then exact texts): their
    labels, the text each is read as (a word gets one leading space, an exact text none), their groups,
    and the pairs. Two entries read as the same text are one point."""
    words, lookups, groups, where = [], [], [], {}

    def add(label: str, lookup: str, group: str) -> None:
        if lookup not in where:
            where[lookup] = len(words)
            words.append(label), lookups.append(lookup), groups.append(group)

    for name in dict.fromkeys(req.sets):
        for w in WORD_SETS[name].words:
            add(w, " " + w, name)
    for w in req.words:
        add(w, " " + w, "yours")
    for t in req.texts:
        add(t, t, "yours")
    if len(words) > MAX_WORDS:
        raise InputError(f"sets and words together make {len(words)} different words; the limit is {MAX_WORDS}. "
                         "Choose fewer sets or remove some words.", code="too_many_words", field="words",
                         limit=MAX_WORDS, actual=len(words))
    if len(words) < MIN_MAP_WORDS:
        raise InputError(f"words: a map needs at least {MIN_MAP_WORDS} different words; got {len(words)}. "
                         "Pick a ready-made set or add words.", code="too_few_words", field="words",
                         limit=MIN_MAP_WORDS, actual=len(words))
    if req.method != "pca" and len(words) < MIN_POINTS_NONLINEAR:
        raise InputError(f"method: {req.method} needs at least {MIN_POINTS_NONLINEAR} words; got {len(words)}. "
                         "Add words or use pca.", code="too_few_words", field="method", limit=MIN_POINTS_NONLINEAR,
                         actual=len(words))
    pairs = []
    for name in dict.fromkeys(req.sets):
        partner = WORD_SETS[name].pairs_with
        if partner in req.sets:
            for first, second in zip(WORD_SETS[partner].words, WORD_SETS[name].words):
                i, j = where[" " + first], where[" " + second]
                if groups[i] == partner and groups[j] == name:
                    pairs.append((i, j))
    return words, lookups, groups, pairs


def _map_vectors(engine: Engine, words: list[str], lookups: list[str], req: MapIn, layer: int,
                 pairs: list[tuple[int, int]] = ()):
    """(runs under the model lock) Each entry's vector, tokens, nearest neighbours, and the pairs' control
    (`_pairs_random`, input embeddings only)."""
    emb = _embeddings(engine)
    ids = [engine.tokenizer.encode(t) for t in lookups]
    if req.mode == "static":
        vectors = torch.stack([emb.static_vector(i, req.pooling) for i in ids])
        neighbours = ([[_vocab_neighbour(engine, n) for n in found]
                       for found in emb.nearest_each(vectors, req.neighbours, [set(i) for i in ids], req.word_like)]
                      if req.neighbours else [[] for _ in ids])
    else:
        vectors = torch.stack([emb.contextual_vector(i, layer, req.pooling) for i in ids])
        # Only the map's words have hidden states, so a word's neighbours come from the map.
        sims = cosine_matrix(vectors).fill_diagonal_(-torch.inf)
        k = min(req.neighbours, len(words) - 1)
        neighbours = [[NeighbourOut(text=words[int(j)], cosine=_r(c)) for c, j in zip(*row.topk(k))]
                      if k else [] for row in sims]
    control = _pairs_random(emb, vectors, ids, pairs) if req.mode == "static" else None
    return vectors, ids, neighbours, control


def _pairs_random(emb: ModelEmbeddings, vectors: torch.Tensor, ids: list[list[int]],
                  pairs: list[tuple[int, int]]) -> float | None:
    """The control for `_pairs_parallel`: each pair's first word with a word-like token matched to its partner
    (`matched_tokens`; the map's words left out) instead of the partner, the offsets' mean cosine averaged over
    RANDOM_DRAWS seeded draws."""
    if len(pairs) < 2:
        return None
    on_map = {t for i in ids for t in i}
    pools = [matched_tokens(emb, ids[j], vectors[j], on_map) for _, j in pairs]
    if not min(len(p) for p in pools):
        return None
    firsts = vectors[[i for i, _ in pairs]].double()
    g = torch.Generator().manual_seed(1)
    drawn = torch.stack([p[torch.randint(len(p), (RANDOM_DRAWS,), generator=g)] for p in pools], 1)  # (draws, pairs)
    return _r(sum(mean_pair_cosine(emb.weight[row].double() - firsts) for row in drawn) / RANDOM_DRAWS)


def _pairs_parallel(vectors: torch.Tensor, pairs: list[tuple[int, int]]) -> float | None:
    """How alike the pairs' offsets are, in the full space (the map's lines are only a shadow of them)."""
    if len(pairs) < 2:
        return None
    return _r(mean_pair_cosine(torch.stack([vectors[j] - vectors[i] for i, j in pairs])))


async def map_response(engine: Engine, req: MapIn) -> MapOut:
    """Place words on a 2D or 3D map of the model's own vectors, each with its nearest tokens."""
    layer = _layer(engine, req.layer)
    words, lookups, groups, pairs = _map_words(req)
    vectors, ids, neighbours, control = await engine.run(_map_vectors, engine, words, lookups, req, layer, pairs)
    projection = await run_in_threadpool(project, vectors, req.method, req.dims)
    points = [MapPoint(word=w, tokens=[_map_piece(engine, k) for k in i], exact=w == t, group=g, coords=list(xy),
                       neighbours=n)
              for w, t, i, g, xy, n in zip(words, lookups, ids, groups, projection.coords.tolist(), neighbours)]
    labels = {g: WORD_SETS[g].label if g in WORD_SETS else "Your words" for g in dict.fromkeys(groups)}
    return MapOut(points=points, groups=labels, pairs=pairs, pairs_parallel=_pairs_parallel(vectors, pairs),
                  pairs_random=control,
                  method=req.method, dims=req.dims, mode=req.mode,
                  layer=layer if req.mode == "contextual" else 0, pooling=req.pooling,
                  explained=[_r(e) for e in projection.explained] if projection.explained else None,
                  neighbours_from="vocabulary" if req.mode == "static" else "map")


# --- nearest tokens ---------------------------------------------------------------------------


def _neighbours(engine: Engine, req: NeighboursIn) -> NeighboursOut:
    emb = _embeddings(engine)
    ids = word_ids(engine.tokenizer, req.word)
    found = emb.nearest(emb.static_vector(ids), req.k, exclude=set(ids), word_like=req.word_like)
    return NeighboursOut(**_word_out(engine, req.word, ids).model_dump(),
                         neighbours=[_vocab_neighbour(engine, n) for n in found])


async def neighbours_response(engine: Engine, req: NeighboursIn) -> NeighboursOut:
    """The tokens whose input embedding points most nearly the same way as the word's (cosine)."""
    return await engine.run(_neighbours, engine, req)


# --- analogies --------------------------------------------------------------------------------


def _analogy(engine: Engine, req: AnalogyIn) -> AnalogyOut:
    emb = _embeddings(engine)
    found = analogy(emb, req.a, req.b, req.c, k=req.k, word_like=req.word_like)
    if not found.results:
        raise InputError("word_like: no word-like token is left once the inputs are excluded; set word_like to "
                         "false.", code="nothing_left", field="word_like")
    expected = None
    if req.expected is not None:
        e_ids = word_ids(engine.tokenizer, req.expected)
        e_vec = emb.static_vector(e_ids)
        rank, cos = found.rank_of(emb, e_ids)
        expected = ExpectedOut(**_word_out(engine, req.expected, e_ids).model_dump(), rank=rank, cosine=_r(cos))
        answer, answer_vec, answer_ids = req.expected, e_vec, e_ids
    else:
        top = found.results[0]
        answer, answer_vec, answer_ids = top.text.strip(), emb.weight[top.id], [top.id]
    v = found.vectors
    first, second = v["a"] - v["b"], answer_vec - v["c"]
    cosine = float(torch.nn.functional.cosine_similarity(first, second, dim=0))
    # The control: c -> a word-like token matched to the answer, against the same first offset.
    pool = matched_tokens(emb, answer_ids, answer_vec, {t for i in found.ids.values() for t in i} | set(answer_ids))
    chance = torch.nn.functional.cosine_similarity(emb.weight[pool] - v["c"], first[None], dim=1)
    offsets = OffsetsOut(first=f"{req.b} → {req.a}", second=f"{req.c} → {answer}", cosine=_r(cosine),
                         length_first=_r(first.norm()), length_second=_r(second.norm()),
                         random_cosine=_r(chance.mean()), random_beaten=_r((chance < cosine).double().mean()),
                         random_count=len(pool))
    # Raw vectors (unit=False): the parallelogram b, a, a - b + c, c stays exact under PCA.
    shown = [n for n in found.results if n.text.strip() != answer][:RESULT_POINTS - 1]
    labels = [(req.b, "b", v["b"]), (req.a, "a", v["a"]), (req.c, "c", v["c"]),
              (f"{req.a} − {req.b} + {req.c}", "target", found.target), (answer, "answer", answer_vec)]
    labels += [(n.text.strip(), "result", emb.weight[n.id]) for n in shown]
    coords = project(torch.stack([vec for _, _, vec in labels]), "pca", 2, unit=False).coords.tolist()

    def ranked(ns):
        return [RankedOut(**_vocab_neighbour(engine, n).model_dump(), rank=r + 1) for r, n in enumerate(ns)]

    return AnalogyOut(
        a=_word_out(engine, req.a, found.ids["a"]), b=_word_out(engine, req.b, found.ids["b"]),
        c=_word_out(engine, req.c, found.ids["c"]), results=ranked(found.results),
        with_inputs=ranked(found.with_inputs), expected=expected, answer=answer,
        correct=None if expected is None else expected.rank == 1, offsets=offsets,
        points=[AnalogyPoint(label=label, role=role, x=x, y=y) for (label, role, _), (x, y) in zip(labels, coords)])


async def analogy_response(engine: Engine, req: AnalogyIn) -> AnalogyOut:
    """a - b + c on the input embeddings: the nearest tokens (inputs excluded), ranked by cosine."""
    return await engine.run(_analogy, engine, req)


# --- sentences --------------------------------------------------------------------------------


def _sentence_vectors(engine: Engine, prompts, layer: int) -> torch.Tensor:
    """(runs under the model lock) One vector per sentence, from its cached Analysis."""
    return torch.stack([sentence_vector(engine.analysis(p).resid, layer) for p in prompts])


async def sentences_response(engine: Engine, req: SentencesIn) -> SentencesOut:
    """One vector per sentence (mean hidden state at a layer), their cosine similarities and a map."""
    layer = _layer(engine, req.layer)
    prompts = [engine.prompt(s, field=f"sentences.{i}") for i, s in enumerate(req.sentences)]
    vectors = await engine.run(_sentence_vectors, engine, prompts, layer)
    projection = project(vectors, "pca", 2)
    return SentencesOut(
        sentences=[SentenceOut(text=p.text, n_tokens=len(p.tokens), x=x, y=y)
                   for p, (x, y) in zip(prompts, projection.coords.tolist())],
        similarity=[[_r(c) for c in row] for row in cosine_matrix(vectors).tolist()],
        layer=layer, explained=[_r(e) for e in projection.explained])
