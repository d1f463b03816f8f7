"""Claims of chapter 3 (/embeddings), checked on the real weights (docs/CLAIMS.md, section 3).

Computed claims (the page renders the API's numbers) are checked against an independent
computation in plain torch on the real embedding matrix or a fresh forward pass; pinned claims
(sentences about SmolLM2 itself) take the `smollm2` fixture.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import torch

from model.analysis import analyse_ids
from model.embeddings import (
    ANALOGY_EXAMPLES, CONTEXT_PREFIX, FIRST_POSITION_WORDS, WORD_SETS, for_model, is_word_like, sentence_vector,
)

pytestmark = pytest.mark.real

DEFAULT_SENTENCES = [  # static/js/embeddings.js DEFAULT_SENTENCES
    "The cat sat on the mat.", "A kitten was resting on the rug.", "The stock market fell sharply today.",
    "Share prices dropped steeply this morning.", "I really enjoyed this film.", "The movie was wonderful.",
    "The cat fell off the market stall."]
PARAPHRASES = [(0, 1), (2, 3), (4, 5)]
OVERLAP = ["The doctor treated the patient.", "The patient treated the doctor.",  # static/js/embeddings.js
           "I love this movie.", "I hate this movie.", "The cat sat on the mat.", "A kitten was resting on the rug."]


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float(a @ b / (a.norm() * b.norm()))


def ids_of(engine, word: str) -> list[int]:
    return engine.tokenizer.encode(" " + word)


def sentence_vectors(engine, sentences: list[str], layer: int) -> torch.Tensor:
    return torch.stack([sentence_vector(analyse_ids(engine.model, engine.tokenizer.encode(s)).resid, layer)
                        for s in sentences])


def cosines(vectors: torch.Tensor) -> torch.Tensor:
    unit = torch.nn.functional.normalize(vectors.double(), dim=1)
    return unit @ unit.T


def mean_pair_cosine(offsets: torch.Tensor) -> float:
    """The mean cosine of every two different rows: how alike the offsets' directions are."""
    n = len(offsets)
    return float((cosines(offsets).sum() - n) / (n * n - n))


def default_layer(engine) -> int:
    return engine.cfg.n_layers // 2


# --- analogies (computed) ---------------------------------------------------------------------


@pytest.mark.parametrize("a,b,c,expected", ANALOGY_EXAMPLES)
def test_analogy_ranking_and_verdict_agree_with_plain_torch(real_engine, real_client, a, b, c, expected):
    """Independent: float64 cosines of a - b + c with every row, word-like tokens only, inputs left out."""
    data = real_client.post("/api/embeddings/analogy",
                            json={"a": a, "b": b, "c": c, "expected": expected, "k": 10}).json()
    tok = real_engine.tokenizer
    w = real_engine.model.embed.weight.detach().double()
    vec = {k: w[ids_of(real_engine, x)].mean(0) for k, x in (("a", a), ("b", b), ("c", c))}
    target = vec["a"] - vec["b"] + vec["c"]
    scores = (w @ target) / (w.norm(dim=1) * target.norm())
    inputs = {t for x in (a, b, c) for t in ids_of(real_engine, x)}
    allowed = torch.tensor([is_word_like(tok.token_text(i)) and i not in tok.special_ids and i not in inputs
                            for i in range(w.shape[0])])
    order = scores.masked_fill(~allowed, -torch.inf).argsort(descending=True)[:10].tolist()
    assert [r["id"] for r in data["results"]] == order

    e_ids = ids_of(real_engine, expected)
    e_score = float(scores[e_ids[0]]) if len(e_ids) == 1 else cos(w[e_ids].mean(0), target)
    others = allowed.clone()
    others[e_ids] = False
    rank = int((scores[others] > e_score).sum()) + 1
    assert data["expected"]["rank"] == rank
    assert data["expected"]["cosine"] == pytest.approx(e_score, abs=1e-4)
    # The verdict: right exactly when the expected word is the first result.
    assert data["correct"] == (len(e_ids) == 1 and order[0] == e_ids[0])


def test_the_verdicts_of_the_built_in_analogies(smollm2):
    """Pinned: 'This small model gets some analogies right and some wrong; the examples include both.'"""
    emb = for_model(smollm2.model, smollm2.tokenizer)
    from model.embeddings import analogy
    verdicts = {}
    for a, b, c, e in ANALOGY_EXAMPLES:
        found = analogy(emb, a, b, c)
        verdicts[a] = found.rank_of(emb, ids_of(smollm2, e))[0] == 1
        # The top result has rank 1 (it read the same score vector).
        assert found.rank_of(emb, [found.results[0].id])[0] == 1
    assert verdicts == {"puppy": True, "king": True, "Berlin": True, "bigger": True,
                        "Paris": False, "walked": False, "calf": False}


def test_the_sum_often_lies_closest_to_a_or_c(smollm2):
    """Pinned: 'the sum often lies closest to a or c themselves' (inputs left in)."""
    emb = for_model(smollm2.model, smollm2.tokenizer)
    from model.embeddings import analogy
    hits = sum(analogy(emb, a, b, c).with_inputs[0].text.strip() in (a, c) for a, b, c, _ in ANALOGY_EXAMPLES)
    assert hits > len(ANALOGY_EXAMPLES) / 2


# --- the first position (computed, then pinned) -------------------------------------------------


def test_first_position_measurement_agrees_with_fresh_forward_passes(real_engine, real_client):
    data = real_client.get("/api/embeddings/first-position").json()
    tok, model = real_engine.tokenizer, real_engine.model
    L = real_engine.cfg.n_layers
    assert data["words"] == list(FIRST_POSITION_WORDS) and len(data["layers"]) == L + 1
    prefix = tok.encode(CONTEXT_PREFIX)
    with_prefix = [analyse_ids(model, prefix + ids_of(real_engine, w)).resid for w in FIRST_POSITION_WORDS]
    alone = [analyse_ids(model, ids_of(real_engine, w)).resid for w in FIRST_POSITION_WORDS]
    for row in data["layers"]:
        layer = row["layer"]
        ratios = [float(r[layer, 0].norm() / r[layer, 1:].norm(dim=-1).mean()) for r in with_prefix]
        assert row["length_ratio"] == pytest.approx(sum(ratios) / len(ratios), rel=1e-3)
        pairs = list(itertools.combinations(range(len(FIRST_POSITION_WORDS)), 2))
        a = sum(cos(alone[i][layer, -1], alone[j][layer, -1]) for i, j in pairs) / len(pairs)
        p = sum(cos(with_prefix[i][layer, -1], with_prefix[j][layer, -1])
                for i, j in pairs) / len(pairs)
        assert row["alone_cosine"] == pytest.approx(a, abs=2e-3)
        assert row["prefixed_cosine"] == pytest.approx(p, abs=2e-3)


def test_the_first_position_is_a_long_vector_that_looks_alike_for_every_word(smollm2, real_client):
    """Pinned: 'in most layers its vector grows many times longer than the others' and looks much the same
    whatever the word; a word read on its own would ... have little useful hidden state.'"""
    layers = real_client.get("/api/embeddings/first-position").json()["layers"]
    assert sum(r["length_ratio"] > 3 for r in layers) > len(layers) / 2
    after_embedding = layers[2:]
    assert all(r["alone_cosine"] > r["prefixed_cosine"] for r in after_embedding)
    assert sum(r["alone_cosine"] > 0.99 for r in after_embedding) > len(after_embedding) / 2


# --- words of several tokens (pinned) ---------------------------------------------------------


def test_the_tokens_the_page_names(smollm2):
    tok = smollm2.tokenizer
    pieces = lambda text: [tok.token_text(i) for i in tok.encode(text)]  # noqa: E731
    assert pieces(" duckling") == [" duck", "ling"]
    assert pieces(" darling") == [" dar", "ling"]
    assert pieces("dog") != pieces(" dog") and len(pieces(" dog")) == 1


def test_the_last_token_takes_in_part_of_the_word_but_not_all(smollm2):
    """Pinned: at the map's default layer the 'ling' of duckling moves towards ' duck', yet stays closer to
    the 'ling' of darling than to ' duck'."""
    emb = for_model(smollm2.model, smollm2.tokenizer)
    layer = default_layer(smollm2)
    h = {w: emb.contextual_vector(ids_of(smollm2, w), layer, "last") for w in ("duckling", "darling", "duck")}
    assert cos(h["duckling"], h["duck"]) > cos(h["darling"], h["duck"])
    assert cos(h["duckling"], h["darling"]) > cos(h["duckling"], h["duck"])


# --- the map's notes (pinned) -------------------------------------------------------------------


def static(engine, word: str) -> torch.Tensor:
    return engine.model.embed.weight.detach()[ids_of(engine, word)].mean(0)


def mean_offset_cosines(engine, firsts, seconds) -> torch.Tensor:
    offsets = torch.stack([static(engine, b) - static(engine, a) for a, b in zip(firsts, seconds)])
    sims, n = cosines(offsets), len(firsts)
    return (sims.sum(1) - 1) / (n - 1)


def test_four_kinds_of_word_make_four_groups(smollm2):
    """Pinned: each word's nearest other word of the default map (cosine over all numbers) is of its own set."""
    names = ["animals", "countries", "numbers", "colours"]
    words = [(w, s) for s in names for w in WORD_SETS[s].words]
    sims = cosines(torch.stack([static(smollm2, w) for w, _ in words])).fill_diagonal_(-2)
    assert all(words[int(row.argmax())][1] == s for row, (_, s) in zip(sims, words))


def test_capital_of_is_a_clearer_direction_than_young_of_and_italy_rome_is_the_odd_one(smollm2, real_client):
    capitals = mean_offset_cosines(smollm2, WORD_SETS["countries"].words, WORD_SETS["capitals"].words)
    assert WORD_SETS["countries"].words[int(capitals.argmin())] == "Italy"
    par = {sets: real_client.post("/api/embeddings/map", json={"sets": sets.split(","), "neighbours": 0})
           .json()["pairs_parallel"] for sets in ("countries,capitals", "animals,young")}
    assert par["countries,capitals"] > 2 * par["animals,young"]


def test_hidden_state_offsets_are_not_always_more_alike_than_the_input_embeddings(smollm2, real_client):
    def parallel(**kw):
        return real_client.post("/api/embeddings/map", json={"sets": ["countries", "capitals"], "neighbours": 0,
                                                             **kw}).json()["pairs_parallel"]
    base = parallel(mode="static")
    hidden = [parallel(mode="contextual", layer=layer) for layer in range(1, smollm2.cfg.n_layers + 1, 3)]
    assert min(hidden) < base < max(hidden)
    assert parallel(mode="contextual", layer=8) < base  # the preset opens on layer 8


# --- sentences (pinned) -------------------------------------------------------------------------


def test_mean_pooling_mostly_measures_word_overlap(smollm2):
    """Pinned: the page's 'same words, other meaning' sentences at the default layer: both pairs that share
    their words score above the paraphrase; the role swap does so at every layer after the embedding."""
    layer = default_layer(smollm2)
    sims = cosines(sentence_vectors(smollm2, OVERLAP, layer))
    assert min(sims[0, 1], sims[2, 3]) > sims[4, 5]
    defaults = {layer: cosines(sentence_vectors(smollm2, DEFAULT_SENTENCES, layer))
                for layer in range(1, smollm2.cfg.n_layers + 1)}
    for layer, d in defaults.items():
        swap = cosines(sentence_vectors(smollm2, OVERLAP[:2], layer))[0, 1]
        assert swap > max(d[i, j] for i, j in PARAPHRASES), layer


def test_the_input_layer_average_is_blind_to_order(smollm2):
    sims = cosines(sentence_vectors(smollm2, OVERLAP[:2], 0))
    assert float(sims[0, 1]) == pytest.approx(1.0, abs=1e-9)


def test_a_tokens_hidden_state_is_still_mostly_the_token(smollm2):
    """Pinned ('much of each token's hidden state is still the token itself'): at the default layer,
    ' doctor' in one sentence is closer to ' doctor' in the swapped sentence than to ' patient' beside it."""
    tok, layer = smollm2.tokenizer, default_layer(smollm2)
    doctor, patient = tok.encode(" doctor")[0], tok.encode(" patient")[0]
    first, second = (tok.encode(s) for s in OVERLAP[:2])
    r1 = analyse_ids(smollm2.model, first).resid[layer]
    r2 = analyse_ids(smollm2.model, second).resid[layer]
    d1, p1, d2 = r1[first.index(doctor)], r1[first.index(patient)], r2[second.index(doctor)]
    assert cos(d1, d2) > cos(d1, p1)


def test_each_default_paraphrase_is_its_partners_nearest_and_every_pair_scores_high(smollm2):
    """Pinned: at the default layer, sentences 1-2, 3-4, 5-6 are each other's nearest; past the first
    layers every pair scores high because the vectors share a common direction."""
    layer = default_layer(smollm2)
    vectors = sentence_vectors(smollm2, DEFAULT_SENTENCES, layer)
    sims = cosines(vectors).fill_diagonal_(-2)
    for i, j in PARAPHRASES:
        assert int(sims[i].argmax()) == j and int(sims[j].argmax()) == i
    common = vectors.double().mean(0)
    assert all(cos(v, common) > 0.9 for v in vectors)
    low_input = cosines(sentence_vectors(smollm2, DEFAULT_SENTENCES, 0)).min()
    assert sims.fill_diagonal_(2).min() > low_input + 0.3


# --- the map's wording (pinned) -----------------------------------------------------------------


def test_most_whole_words_are_stored_with_their_leading_space(smollm2):
    """Pinned: words are read with a leading space because that is how the vocabulary stores most whole
    words; the neighbour note's pieces 'ling' and '/' are tokens of their own."""
    tok = smollm2.tokenizer
    words = [w for s in WORD_SETS.values() for w in s.words]
    spaced = sum(len(tok.encode(" " + w)) == 1 for w in words)
    bare = sum(len(tok.encode(w)) == 1 for w in words)
    assert spaced > bare and spaced > 0.8 * len(words)
    assert len(tok.encode("ling")) == 1 and len(tok.encode("/")) == 1


def test_the_default_maps_axes_show_a_small_part_of_the_spread(smollm2, real_client):
    """Pinned: 'The axis titles say how much of the words' spread each axis shows: usually a small part.'"""
    for sets in (["animals", "countries", "numbers", "colours"], ["countries", "capitals"]):
        explained = real_client.post("/api/embeddings/map", json={"sets": sets, "neighbours": 0}).json()["explained"]
        assert sum(explained) < 0.5


def test_the_tours_nearest_to_france_are_other_countries(smollm2, real_client):
    """Pinned (the tour's embeddings card): tokens used alike point alike: ' France' is nearest other countries."""
    near = real_client.post("/api/embeddings/neighbours", json={"word": "France", "k": 4}).json()["neighbours"]
    assert len({n["text"] for n in near} & {" Germany", " Italy", " Spain", " Belgium", " England", " Portugal"}) >= 3


def test_attention_rests_on_the_first_position(smollm2):
    """Pinned: 'Whatever stands first in a text becomes a sink that the model's attention rests on': in most
    layers the heads' mean weight on position 0 (from every later position of an ordinary sentence) is over
    half, many times what a uniform spread would give."""
    text = "The cat sat on the mat and looked at the door while the rain fell outside."
    pattern = analyse_ids(smollm2.model, smollm2.tokenizer.encode(text)).attn_pattern      # (L, H, n, n)
    n = pattern.shape[-1]
    on_first = pattern[:, :, 1:, 0].mean(dim=(1, 2))                                        # (L,)
    uniform = sum(1 / (i + 1) for i in range(1, n)) / (n - 1)
    assert int((on_first > 0.5).sum()) > pattern.shape[0] / 2
    assert float(on_first.median()) > 3 * uniform


# --- the map's pair lines (review of issue 14: 'similar lines mean a similar offset' was false) -------


def _mean_offset_cosine(coords: torch.Tensor, pairs: list[tuple[int, int]]) -> float:
    """Mean pairwise cosine of the offsets point i -> point j (the page's linesParallel on the drawn coords)."""
    return mean_pair_cosine(torch.stack([coords[j] - coords[i] for i, j in pairs]))


def test_parallel_lines_on_the_map_do_not_mean_parallel_offsets(smollm2, real_client):
    """Pinned: on the 'Countries → capitals' PCA map the lines look nearly parallel while the offsets over all
    numbers are far less alike, and the control, wrong pairs (each country with another's capital), draws
    lines nearly as parallel: the look comes from the projection, which is why the page no longer says
    'similar lines mean a similar offset' and prints both numbers."""
    data = real_client.post("/api/embeddings/map", json={"sets": ["countries", "capitals"], "neighbours": 0}).json()
    coords = torch.tensor([p["coords"] for p in data["points"]])
    pairs = [tuple(p) for p in data["pairs"]]
    drawn = _mean_offset_cosine(coords, pairs)
    assert drawn > 0.8 and drawn > data["pairs_parallel"] + 0.3, (drawn, data["pairs_parallel"])
    # The full-space number is the raw vectors' offsets (an independent computation).
    words = [p["word"] for p in data["points"]]
    raw = torch.stack([static(smollm2, w) for w in words])
    assert data["pairs_parallel"] == pytest.approx(_mean_offset_cosine(raw, pairs), abs=1e-3)
    firsts, seconds = [i for i, _ in pairs], [j for _, j in pairs]
    wrong_drawn = [_mean_offset_cosine(coords, list(zip(firsts, seconds[k:] + seconds[:k])))
                   for k in range(1, len(pairs))]
    wrong_full = [_mean_offset_cosine(raw, list(zip(firsts, seconds[k:] + seconds[:k]))) for k in range(1, len(pairs))]
    assert sum(wrong_drawn) / len(wrong_drawn) > 0.6
    assert sum(wrong_drawn) / len(wrong_drawn) > data["pairs_parallel"]  # wrong pairs look more alike than right ones are
    assert max(wrong_full) < data["pairs_parallel"]  # over all numbers the right pairs do stand out


def test_the_analogy_ranks_word_like_tokens_only(smollm2, real_client):
    """'rank every word-like token of the vocabulary (a space, then letters)': the page asks for word_like, every
    result is word-like, and for some built-in another token would outrank the top result if all were ranked
    (so 'every token' would have been untrue)."""
    tok = smollm2.tokenizer
    w = smollm2.model.embed.weight.detach().double()
    outranked = 0
    for a, b, c, _ in ANALOGY_EXAMPLES:
        data = real_client.post("/api/embeddings/analogy", json={"a": a, "b": b, "c": c, "k": 10, "word_like": True}).json()
        assert all(is_word_like(r["text"]) for r in data["results"])
        target = static(smollm2, a) - static(smollm2, b) + static(smollm2, c)
        scores = (w @ target.double()) / (w.norm(dim=1) * target.double().norm())
        inputs = {t for x in (a, b, c) for t in ids_of(smollm2, x)}
        scores[list(inputs | set(tok.special_ids))] = -2
        outranked += int(scores.argmax()) != data["results"][0]["id"]
    assert outranked >= 1


# --- offsets read against a control, not against 0 (review of the page's readings) --------------------------

EMBEDDINGS_JS = (Path(__file__).resolve().parents[2] / "static" / "js" / "embeddings.js").read_text()


def matched(smollm2, ids: list[int], vector: torch.Tensor, exclude: set[int], k: int = 2000) -> torch.Tensor:
    """The control's tokens for a word, computed here apart from app/views: the k word-like tokens nearest to it in
    place by id among the word-like tokens (the word's rarest token's place) and in vector length, each measured in
    its standard deviation over the word-like tokens; `exclude` left out; nearest first (float64, a full sort)."""
    wl = for_model(smollm2.model, smollm2.tokenizer).word_like.nonzero()[:, 0]
    place = torch.arange(len(wl), dtype=torch.float64) / len(wl)
    length = smollm2.model.embed.weight.detach().double()[wl].norm(dim=1)
    here = float((wl < max(ids)).sum()) / len(wl)
    distance = ((place - here) / place.std()) ** 2 + ((length - vector.double().norm()) / length.std()) ** 2
    return wl[[i for i in distance.argsort().tolist() if int(wl[i]) not in exclude][:k]]


def uniform_draw(smollm2) -> torch.Tensor:
    """The control before: 2,000 word-like tokens drawn uniformly with seed 0 (app/views random_words until the
    review of its fairness)."""
    wl = for_model(smollm2.model, smollm2.tokenizer).word_like.nonzero()[:, 0]
    return wl[torch.randperm(len(wl), generator=torch.Generator().manual_seed(0))[:2000]]


def test_an_analogys_offsets_are_read_against_matched_words_not_against_zero(smollm2, real_client):
    """'Offsets compared: ... (largely / partly the same direction; 1 would be exactly parallel, 0 unrelated)' was
    misleading: c → other word-like tokens scores far from 0 for most built-ins. The page prints the control
    (`random_cosine`, `random_beaten`, `random_count`): c → the 2,000 word-like tokens nearest to the answer in
    place by id and in vector length (it was 2,000 drawn uniformly, which lean rare), recomputed here in float64.
    Matched, cat → kitten's control is 0.46 (uniform: 0.40), horse → foal's 0.06 (uniform: 0.21, above foal's
    0.08, now beaten by it about as often as not)."""
    w = smollm2.model.embed.weight.detach().double()
    control = {}
    for a, b, c, expected in ANALOGY_EXAMPLES:
        o = real_client.post("/api/embeddings/analogy", json={"a": a, "b": b, "c": c, "expected": expected,
                                                              "k": 10, "word_like": True}).json()["offsets"]
        first = static(smollm2, a).double() - static(smollm2, b).double()
        cv = static(smollm2, c).double()
        inputs = {t for x in (a, b, c, expected) for t in ids_of(smollm2, x)}
        kept = matched(smollm2, ids_of(smollm2, expected), static(smollm2, expected), inputs)
        chance = torch.nn.functional.cosine_similarity(w[kept] - cv, first[None], dim=1)
        assert o["random_count"] == len(kept) == 2000
        assert o["random_cosine"] == pytest.approx(float(chance.mean()), abs=1e-3)
        assert o["random_beaten"] == pytest.approx(float((chance < o["cosine"]).double().mean()), abs=2e-3)
        control[expected] = o
    assert control["kitten"]["random_cosine"] > 0.4                               # 'not 0': well above
    assert sum(o["random_cosine"] > 0.15 for o in control.values()) >= len(control) - 1   # for all but one
    assert 0.2 < control["foal"]["random_beaten"] < 0.8                           # foal: no better than its control
    assert "0 unrelated" not in EMBEDDINGS_JS and "partly the same direction" not in EMBEDDINGS_JS
    assert "picked at random scores" not in EMBEDDINGS_JS


def test_the_controls_tokens_follow_the_words_ids_and_lengths_the_uniform_draw_did_not(smollm2):
    """The review: the control drawn uniformly from the word-like tokens leaned to rare tokens (median id 23,751
    against 7,158 for the built-ins' words), whose vectors are longer (3.07 against 2.51), and both shape an
    offset whatever it means. For every built-in answer and every paired set's second word, the matched control's
    median place by id and median length lie near the word's (at most 0.08 and 0.21 apart, typically 0.02 and
    0.05); the uniform draw's lie up to 0.43 and 0.98 apart."""
    from app.views.embeddings import matched_tokens

    emb = for_model(smollm2.model, smollm2.tokenizer)
    wl = emb.word_like.nonzero()[:, 0]
    norms = smollm2.model.embed.weight.detach().double().norm(dim=1)
    old = uniform_draw(smollm2)

    def place(token_ids: torch.Tensor) -> float:
        return float(torch.searchsorted(wl, token_ids).double().median()) / len(wl)

    words = dict.fromkeys([e for *_, e in ANALOGY_EXAMPLES] + [w for s in WORD_SETS.values() if s.pairs_with
                                                                for w in s.words])
    gaps, old_gaps = [], []
    for word in words:
        ids = ids_of(smollm2, word)
        here, length = place(torch.tensor([max(ids)])), float(static(smollm2, word).double().norm())
        served = smollm2.locked(matched_tokens, emb, ids, static(smollm2, word), set(ids))
        here_too = matched(smollm2, ids, static(smollm2, word), set(ids))  # float64 lengths: near-ties may swap
        assert len(set(served.tolist()) & set(here_too.tolist())) >= 0.99 * len(here_too), word
        gaps.append((abs(place(served) - here), abs(float(norms[served].median()) - length)))
        old_gaps.append((abs(place(old) - here), abs(float(norms[old].median()) - length)))
    assert max(g for g, _ in gaps) < 0.1 and max(n for _, n in gaps) < 0.25, gaps
    assert max(g for g, _ in old_gaps) > 0.3 and max(n for _, n in old_gaps) > 0.5   # the old draw did not match
    typical = sorted(gaps)[len(gaps) // 2]
    assert typical[0] < 0.03


def test_the_control_is_matched_because_rarer_tokens_have_longer_vectors_and_ids_follow_the_merges(smollm2):
    """Pinned, the map's 'How to read': 'in this model rarer tokens have longer vectors, and both shape an offset
    whatever it means. How common a token is is judged by its id: the tokenizer numbered its pieces in the order
    it learned them, most frequent first.' Every merge's token has id 252 + its place in the merge list (BPE learns
    the most frequent pair first); the mean length rises from each tenth of the word-like tokens by id to the next;
    and for most built-in analogies, c → a word-like token's cosine with b → a correlates by more than 0.4 with the
    token's id and with its vector's length, across all word-like tokens."""
    tok = smollm2.tokenizer
    vocab = {t: i for i, t in enumerate(tok.data.tokens)}
    made = [vocab[m.replace(" ", "", 1)] for m in tok.data.merges]
    assert made == list(range(made[0], made[0] + len(made)))
    emb = for_model(smollm2.model, tok)
    wl = emb.word_like.nonzero()[:, 0]
    w = smollm2.model.embed.weight.detach().double()
    lengths = w[wl].norm(dim=1)
    tenths = [float(part.mean()) for part in lengths.chunk(10)]
    assert tenths == sorted(tenths) and tenths[-1] > tenths[0] + 0.5
    shaped = 0
    for a, b, c, _ in ANALOGY_EXAMPLES:
        first = static(smollm2, a).double() - static(smollm2, b).double()
        chance = torch.nn.functional.cosine_similarity(w[wl] - static(smollm2, c).double(), first[None], dim=1)
        by_id = float(torch.corrcoef(torch.stack([chance, wl.double()]))[0, 1])
        by_length = float(torch.corrcoef(torch.stack([chance, lengths]))[0, 1])
        shaped += by_id > 0.4 and by_length > 0.4
    assert shaped > len(ANALOGY_EXAMPLES) / 2


def map_control(smollm2, sets: tuple[str, str], draws: int, keep: list[int] | None = None) -> torch.Tensor:
    """`pairs_random`'s draws, recomputed: each first word with one token matched to its partner per draw (the
    map's words left out; seed 1, one partner set after another as the view draws them); each draw's offsets'
    mean cosine. `keep`: only those pairs."""
    firsts_, seconds_ = WORD_SETS[sets[0]].words, WORD_SETS[sets[1]].words
    if keep is not None:
        firsts_, seconds_ = tuple(firsts_[i] for i in keep), tuple(seconds_[i] for i in keep)
    on_map = {t for word in firsts_ + seconds_ for t in ids_of(smollm2, word)}
    pools = [matched(smollm2, ids_of(smollm2, b), static(smollm2, b), on_map) for b in seconds_]
    g = torch.Generator().manual_seed(1)
    drawn = torch.stack([p[torch.randint(len(p), (draws,), generator=g)] for p in pools], 1)
    w = smollm2.model.embed.weight.detach().double()
    firsts = torch.stack([static(smollm2, a).double() for a in firsts_])
    return torch.tensor([mean_pair_cosine(w[row] - firsts) for row in drawn])


def test_the_maps_pairs_are_read_against_matched_partners_and_young_of_is_no_clear_direction(smollm2, real_client):
    """Under the map, '(1 = all parallel, 0 = unrelated)' was misleading: the countries each paired with another
    word-like token give offsets of mean cosine about 0.22, not 0 (the right capitals: 0.38). The page prints the
    control (`pairs_random`): each first word paired with a random word-like token matched to its partner in place
    by id and vector length. The 'Animals → their young' note went from 'a weak direction' to 'no clear direction'
    because, against partners drawn uniformly (which lean rare), the young offsets (0.117) were no more alike
    (0.127); against matched partners (0.079) they are more alike in every one of 300 draws, and more alike than
    every shifted pairing of the same words (each animal with another's young: at most 0.102), so the note said
    'a weak “young of” direction'. Reviews then found a search's wrong pairing more alike (0.121) and the matched
    control no fair test for the five young of two tokens (test below), so it says 'only a little more alike than
    the same words paired at random', and 'no clear “young of” direction'."""
    from app.views.embeddings import RANDOM_DRAWS

    found = {}
    for sets in (("countries", "capitals"), ("animals", "young")):
        data = real_client.post("/api/embeddings/map", json={"sets": list(sets), "neighbours": 0}).json()
        assert data["pairs_random"] == pytest.approx(float(map_control(smollm2, sets, RANDOM_DRAWS).mean()), abs=1e-3)
        found[sets[1]] = (data["pairs_parallel"], data["pairs_random"])
    assert found["capitals"][1] > 0.15                                   # not 0
    assert found["capitals"][0] > found["capitals"][1] + 0.1             # the right capitals beat matched partners
    assert found["capitals"][0] > 2 * found["young"][0]                  # 'far less alike than country → capital'
    young = found["young"][0]
    assert young > found["young"][1] + 0.02                              # 'more alike than ... matched partners'
    assert bool((map_control(smollm2, ("animals", "young"), 300) < young).all())
    animals = torch.stack([static(smollm2, a).double() for a in WORD_SETS["animals"].words])
    youngs = torch.stack([static(smollm2, b).double() for b in WORD_SETS["young"].words])
    n = len(animals)
    wrong = [mean_pair_cosine(torch.roll(youngs, k, 0) - animals) for k in range(1, n)]
    assert max(wrong) < young                                            # ... and than every wrong pairing
    # Words of several tokens (duckling, piglet, tadpole, foal, fawn) are matched by their rarest token, an
    # assumption: as if among the rarest tokens their control would rise to about 0.13. The pairs whose young is one
    # token need none, and there the young offsets beat the matched control too (0.23 against 0.14).
    single = [i for i, b in enumerate(WORD_SETS["young"].words) if len(ids_of(smollm2, b)) == 1]
    one_token = map_control(smollm2, ("animals", "young"), RANDOM_DRAWS, keep=single)
    assert len(single) == 7 and bool((one_token < mean_pair_cosine(youngs[single] - animals[single])).all())
    # Against the old uniform draw the young offsets were no more alike: that control did not allow this note.
    old = uniform_draw(smollm2)
    g = torch.Generator().manual_seed(1)
    w = smollm2.model.embed.weight.detach().double()
    uniform = [mean_pair_cosine(w[old[torch.randperm(len(old), generator=g)[:n]]] - animals) for _ in range(RANDOM_DRAWS)]
    assert sum(uniform) / len(uniform) >= young
    contextual = real_client.post("/api/embeddings/map", json={"sets": ["countries", "capitals"], "neighbours": 0,
                                                               "mode": "contextual", "layer": 8}).json()
    assert contextual["pairs_random"] is None and contextual["pairs_parallel"] is not None
    note = re.sub(r'"\s*\+\s*"', "", EMBEDDINGS_JS)   # the preset notes' string pieces joined
    assert "0 = unrelated" not in note and "a weak “young of” direction" not in note
    assert "or with a random word-like token about as common as its young" not in note
    assert ("far less alike than the country → capital ones, and only a little more alike than the same words paired "
            "at random (each animal with another animal's young), with a few wrong pairings more alike still. The "
            "control under the map comes out lower, but is no fair test here: five of the young are two tokens each, "
            "matched by a piece commoner than the word (foal by ␣fo); matched as rare as kitten, the rarest young of "
            "one token, it is as alike as the young offsets. So these numbers show no clear “young of” direction in "
            "this model's input embeddings.") in note


def test_the_matched_control_is_no_fair_test_of_young_of(smollm2):
    """The 'Animals → their young' note said the young offsets (0.117) are more alike than each animal paired 'with
    a random word-like token about as common as its young' (the control under the map, 0.079). But five young are
    two tokens each and are matched by their rarest piece, which every occurrence of the word contains, so the word is
    at least that rare: foal by ␣fo, duckling by ␣duck. Matched as rare as kitten, the rarest young of one token (at
    0.86 of the word-like tokens by id), the control is 0.120 and the young offsets beat only 42% of 300 draws (at
    0.9: 0.122, 37%). The note now rests the weak direction on the wrong pairings alone (every one of the 11 shifts,
    at most 0.102, and 5,000 random derangements, at most 0.116) and says why the control is no fair test here."""
    animals, young = WORD_SETS["animals"].words, WORD_SETS["young"].words
    tok = smollm2.tokenizer
    split = [b for b in young if len(ids_of(smollm2, b)) > 1]
    assert split == ["foal", "piglet", "duckling", "tadpole", "fawn"] and all(len(ids_of(smollm2, b)) == 2 for b in split)
    assert tok.describe(max(ids_of(smollm2, "foal"))).text == " fo"
    wl = for_model(smollm2.model, tok).word_like.nonzero()[:, 0]
    place = {b: float((wl < max(ids_of(smollm2, b))).sum()) / len(wl) for b in young if b not in split}
    assert max(place, key=place.get) == "kitten"
    as_rare = int(wl[int(place["kitten"] * len(wl))])
    on_map = {t for word in animals + young for t in ids_of(smollm2, word)}
    pools = [matched(smollm2, [as_rare] if b in split else ids_of(smollm2, b), static(smollm2, b), on_map)
             for b in young]
    g = torch.Generator().manual_seed(1)
    drawn = torch.stack([p[torch.randint(len(p), (300,), generator=g)] for p in pools], 1)
    w = smollm2.model.embed.weight.detach().double()
    firsts = torch.stack([static(smollm2, a).double() for a in animals])
    control = torch.tensor([mean_pair_cosine(w[row] - firsts) for row in drawn])
    offsets = mean_pair_cosine(torch.stack([static(smollm2, b).double() for b in young]) - firsts)
    assert float(control.mean()) > offsets - 0.01                    # 'it is as alike as the young offsets'
    assert float((control < offsets).double().mean()) < 0.6           # beaten in about half the draws, not all
    # the fair control: every wrong pairing of the same words, here 2,000 random derangements, is less alike
    rng = torch.Generator().manual_seed(0)
    youngs, n, wrong = torch.stack([static(smollm2, b).double() for b in young]), len(young), []
    while len(wrong) < 2000:
        perm = torch.randperm(n, generator=rng)
        if bool((perm != torch.arange(n)).all()):
            wrong.append(mean_pair_cosine(youngs[perm] - firsts))
    assert max(wrong) < offsets
    # ... but not every wrong pairing (review): the note said 'more alike than each animal paired with another
    # animal's young'; 20,000 random derangements average 0.093 (at most 0.116), yet a swap-by-swap search finds
    # wrong pairings above 0.117, such as this one at 0.121. The note now says 'than the same words paired at random
    # ..., with a few wrong pairings more alike still'.
    searched = ["piglet", "foal", "fawn", "duckling", "puppy", "calf", "chick", "kid", "tadpole", "kitten", "lamb", "cub"]
    assert all(b != young[i] for i, b in enumerate(searched)) and sorted(searched) == sorted(young)
    assert mean_pair_cosine(torch.stack([static(smollm2, b).double() for b in searched]) - firsts) > offsets + 0.002
    assert sum(wrong) / len(wrong) < offsets - 0.015
    note = re.sub(r'"\s*\+\s*"', "", EMBEDDINGS_JS)
    assert "but more alike than each animal paired with another animal's young" not in note


def test_the_input_layer_is_blind_to_the_order_of_the_same_tokens_not_of_the_words(smollm2):
    """The layer-0 note said 'the average of the words' own vectors, blind to their order': 'Dogs chase cats.' and
    'Cats chase dogs.' have cosine 0.94 at layer 0, because moving a word changes its token ('Dogs' is not
    ' dogs') and the first token is left out. The note now speaks of the tokens and says so."""
    assert float(cosines(sentence_vectors(smollm2, OVERLAP[:2], 0))[0, 1]) == pytest.approx(1.0, abs=1e-9)
    assert float(cosines(sentence_vectors(smollm2, ["Dogs chase cats.", "Cats chase dogs."], 0))[0, 1]) < 0.99
    tok = smollm2.tokenizer
    assert tok.encode("Dogs") != tok.encode(" dogs")
    assert "the average of the words' own vectors" not in EMBEDDINGS_JS


def test_the_controls_fields_are_described_in_the_openapi_schema(real_client):
    """The control fields (offsets.random_cosine, random_beaten, random_count; the map's pairs_random) each carry a
    description in /openapi.json (random_count had none), and say that the control is matched, not drawn uniformly
    ('drawn at random' stayed in them once, when the control changed)."""
    schemas = real_client.get("/openapi.json").json()["components"]["schemas"]
    for model, fields in (("OffsetsOut", ("random_cosine", "random_beaten", "random_count")),
                          ("MapOut", ("pairs_parallel", "pairs_random"))):
        for field in fields:
            assert schemas[model]["properties"][field].get("description"), (model, field)
    for model, field in (("OffsetsOut", "random_cosine"), ("MapOut", "pairs_random")):
        said = schemas[model]["properties"][field]["description"]
        assert "matched" in said and "token id" in said and "vector length" in said and "drawn at random" not in said
