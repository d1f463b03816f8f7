"""Claims of the attention page (chapter 4) about heads, checked on the real weights.

docs/CLAIMS.md, section 4, lists each statement and the test here that backs it."""

from __future__ import annotations

import random

import pytest
import torch

from app.views import heads as view
from model import head_probes as hp, probes


@pytest.fixture(scope="module")
def scores(real_engine):
    return view.scores_now(real_engine)


@pytest.fixture(scope="module")
def smollm2_scores(smollm2):
    return view.scores_now(smollm2)


# --- computed: /api/heads is the probes' own measurement (any model) ----------------------------

def test_the_served_scores_agree_with_an_independent_reading_of_the_patterns(real_engine, real_client, scores):
    """The API's numbers, recomputed by hand from each prompt's Analysis (the page's own pass)."""
    from app.engine import Prompt

    body = real_client.get("/api/heads").json()
    cfg = real_engine.cfg
    assert len(body["heads"]) == cfg.n_layers * cfg.n_heads
    served = {(x["layer"], x["head"]): x for x in body["heads"]}
    rng = random.Random(4)
    picked = [(rng.randrange(cfg.n_layers), rng.randrange(cfg.n_heads)) for _ in range(6)]
    prev = {k: [] for k in picked}
    first = {k: [] for k in picked}
    for sentence in hp.ORDINARY_TEXT:
        analysis = real_engine.locked(real_engine.analysis, real_engine.prompt(sentence))
        n = analysis.n_tokens
        for (l, h) in picked:
            p = analysis.attn_pattern[l, h].double()
            prev[(l, h)].append(sum(float(p[i, i - 1]) for i in range(1, n)) / (n - 1))
            first[(l, h)].append(sum(float(p[i, 0]) for i in range(1, n)) / (n - 1))
    R = hp.INDUCTION_PERIOD
    ind = {k: [] for k in picked}
    for row in hp.induction_sequences(real_engine.tokenizer):
        ids = row.tolist()
        tokens = [real_engine.tokenizer.describe(i) for i in ids]
        analysis = real_engine.locked(real_engine.analysis, Prompt("", tokens))
        for (l, h) in picked:
            p = analysis.attn_pattern[l, h].double()
            ind[(l, h)].append(sum(float(p[i, i - R + 1]) for i in range(R, 2 * R)) / R)
    for k in picked:
        s = served[k]["scores"]
        assert s["previous_token"] == pytest.approx(sum(prev[k]) / len(prev[k]), abs=2e-3), k
        assert s["first_token"] == pytest.approx(sum(first[k]) / len(first[k]), abs=2e-3), k
        assert s["induction"] == pytest.approx(sum(ind[k]) / len(ind[k]), abs=2e-3), k
        assert served[k]["role"] == hp.role(s["previous_token"], s["induction"], s["first_token"])


def test_no_named_score_sits_near_the_threshold_on_three_seeds_of_the_probe(real_engine, scores):
    """Roles are not borderline: no previous-token score lies within ROLE_MARGIN of ROLE_THRESHOLD,
    no induction score within ROLE_MARGIN of INDUCTION_THRESHOLD, and two more seeds of the random
    sequences name the same induction heads. (With 10 sequences and 0.5 the count of induction heads
    was 4, 5 or 6 depending on the seed: the review of issue 14 measured L18H7 and L23H2 between
    0.39 and 0.56 over eight seeds.)"""
    for t, bar in ((scores.previous_token, hp.ROLE_THRESHOLD), (scores.induction, hp.INDUCTION_THRESHOLD)):
        assert bool(((t - bar).abs() >= hp.ROLE_MARGIN).all()), \
            sorted(float(x) for x in t.flatten() if abs(float(x) - bar) < hp.ROLE_MARGIN)
    for seed in (hp.SEED + 1, hp.SEED + 2):
        seqs = hp.induction_sequences(real_engine.tokenizer, seed=seed)
        other = torch.stack([probes.induction_score(real_engine.locked(hp.patterns, real_engine.model, row),
                                                    seqs.shape[1] // 2) for row in seqs]).mean(0)
        assert bool(((other - hp.INDUCTION_THRESHOLD).abs() >= hp.ROLE_MARGIN).all()), \
            (seed, sorted(float(x) for x in other.flatten() if abs(float(x) - hp.INDUCTION_THRESHOLD) < hp.ROLE_MARGIN))
        assert torch.equal(other >= hp.INDUCTION_THRESHOLD, scores.induction >= hp.INDUCTION_THRESHOLD), seed


# --- pinned: sentences about SmolLM2-135M-Instruct's heads ----------------------------------------

def test_l18h6_is_an_induction_head_though_it_also_parks_on_the_first_token(smollm2_scores):
    assert float(smollm2_scores.induction[18, 6]) > 0.7
    assert float(smollm2_scores.first_token[18, 6]) > 0.9  # every head's default; not its role
    assert hp.roles(smollm2_scores)[18][6] == "induction"


def test_l20h0_is_not_an_induction_head(smollm2_scores):
    """The page once called it one; on the standard probe it scores near zero."""
    assert float(smollm2_scores.induction[20, 0]) < 0.1
    assert hp.roles(smollm2_scores)[20][0] != "induction"


def test_control_random_heads_score_low_on_induction(smollm2_scores):
    """Induction is rare: a random sample of heads scores low, and few heads reach the threshold."""
    L, h = smollm2_scores.induction.shape
    rng = random.Random(11)
    sample = [float(smollm2_scores.induction[rng.randrange(L), rng.randrange(h)]) for _ in range(30)]
    assert sorted(sample)[len(sample) // 2] < 0.05
    named = int((smollm2_scores.induction >= hp.INDUCTION_THRESHOLD).sum())
    assert 1 <= named <= 0.05 * L * h


def test_control_the_induction_stripe_needs_the_repeat(smollm2):
    """L18H6's stripe comes from the repetition: the same tokens with the second half shuffled
    (nothing repeats in order) leave the stripe's cells nearly empty."""
    row = hp.induction_sequences(smollm2.tokenizer)[0]
    R = row.shape[0] // 2
    repeated = smollm2.locked(hp.patterns, smollm2.model, row)[18, 6]
    shuffled_row = torch.cat([row[:R], row[R:][torch.randperm(R, generator=torch.Generator().manual_seed(1))]])
    shuffled = smollm2.locked(hp.patterns, smollm2.model, shuffled_row)[18, 6]
    assert float(probes.induction_score(repeated, R)) > 0.5
    assert float(probes.induction_score(shuffled, R)) < 0.1


def test_the_model_has_previous_token_heads(smollm2_scores):
    """The page's legend and 'heads worth a look' name previous-token heads: the model has some."""
    assert "previous_token" in {r for row in hp.roles(smollm2_scores) for r in row}


def test_the_first_tokens_vector_grows_as_the_sink_note_says(smollm2):
    """The honest note: the first token's vector jumps in layer 11 to well over 100 times a typical
    token's length, then shrinks layer by layer, to under 10 times after the last layer (the page's
    examples and the probes' ordinary sentences, not one lucky prompt). The note used to say it "is
    still 30 to 50 times longer after layer 27", true but silent about the last two layers (9-19x,
    then 6-9x on these texts)."""
    from model.analysis import analyse

    texts = ("The capital of France is Paris. The capital of Italy is", "1 2 3 4 5 6 1 2 3 4 5 6 1 2 3",
             "When Mary and John went to the shop, John gave a drink to") + hp.ORDINARY_TEXT
    for text in texts:
        a = smollm2.locked(analyse, smollm2.model, smollm2.tokenizer, text)
        norms = a.resid.float().norm(dim=-1)                                # (L+1, n); [l+1] is after layer l
        ratio = (norms[:, 0] / norms[:, 1:].median(dim=1).values).tolist()
        assert max(ratio[:12]) < 15 and ratio[12] > 100, (text, ratio[:13])  # the jump is in layer 11
        late = ratio[12:]
        assert all(b < a * 1.1 for a, b in zip(late, late[1:])), (text, late)  # shrinks layer by layer
        assert ratio[-1] < 10 < ratio[12], (text, ratio[-1])
