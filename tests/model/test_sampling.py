import math

import pytest
import torch

from model.sampling import distribution, logprobabilities, pick, probabilities

# Probabilities 0.4, 0.3, 0.2, 0.1 at temperature 1, deliberately out of order in the vocabulary.
LOGITS = torch.tensor([0.2, 0.4, 0.1, 0.3]).log()


def allowed_ids(dist) -> set[int]:
    return set(dist.allowed.nonzero()[:, 0].tolist())


def test_probabilities_are_softmax_of_logits_over_temperature():
    dist = distribution(LOGITS, temperature=2.0, top_k=0)
    assert torch.allclose(dist.probs, (LOGITS / 2).softmax(-1))
    assert math.isclose(float(dist.probs.sum()), 1.0, rel_tol=1e-6)


def test_low_temperature_sharpens_and_high_temperature_flattens():
    top = int(LOGITS.argmax())
    assert distribution(LOGITS, 0.5).probs[top] > distribution(LOGITS, 1.0).probs[top] > distribution(LOGITS, 3.0).probs[top]


@pytest.mark.parametrize("k, expected", [(1, {1}), (2, {1, 3}), (3, {0, 1, 3}), (4, {0, 1, 2, 3}), (0, {0, 1, 2, 3})])
def test_top_k_keeps_exactly_the_k_most_probable(k, expected):
    assert allowed_ids(distribution(LOGITS, 1.0, top_k=k)) == expected


@pytest.mark.parametrize("p, expected", [
    (0.3, {1}),            # 0.4 alone reaches 0.3
    (0.4, {1}),            # exactly reached by the first token
    (0.5, {1, 3}),         # 0.4 < 0.5 <= 0.7
    (0.7, {1, 3}),
    (0.71, {0, 1, 3}),
    (0.95, {0, 1, 2, 3}),
    (1.0, {0, 1, 2, 3}),
])
def test_top_p_keeps_the_smallest_set_reaching_p(p, expected):
    assert allowed_ids(distribution(LOGITS, 1.0, top_p=p)) == expected


def test_top_k_and_top_p_together_keep_the_intersection():
    assert allowed_ids(distribution(LOGITS, 1.0, top_k=3, top_p=0.5)) == {1, 3}


def test_sample_probabilities_are_renormalised_over_allowed_tokens():
    dist = distribution(LOGITS, 1.0, top_k=2)
    assert torch.allclose(dist.sample_probs, torch.tensor([0.0, 4 / 7, 0.0, 3 / 7]))


def test_temperature_zero_is_greedy():
    dist = distribution(LOGITS, temperature=0)
    assert allowed_ids(dist) == {1}
    assert all(pick(dist, torch.Generator().manual_seed(s)) == 1 for s in range(20))


def test_same_seed_gives_the_same_draws_and_draws_follow_the_distribution():
    dist = distribution(LOGITS, 1.0, top_k=0)
    draws = [pick(dist, torch.Generator().manual_seed(7)) for _ in range(5)]
    assert len(set(draws)) == 1
    generator = torch.Generator().manual_seed(0)
    counts = torch.bincount(torch.tensor([pick(dist, generator) for _ in range(4000)]), minlength=4) / 4000
    assert torch.allclose(counts, dist.probs, atol=0.03)


def test_a_disallowed_token_is_never_drawn():
    dist = distribution(LOGITS, 1.0, top_k=2)
    generator = torch.Generator().manual_seed(1)
    assert {pick(dist, generator) for _ in range(500)} == {1, 3}


@pytest.mark.parametrize("temperature", [1e-40, 1e-300, 2.225073858507203e-309])
def test_a_tiny_positive_temperature_is_near_greedy_not_nan(temperature):
    # Regression: logits / 1e-40 overflowed to inf, softmax gave NaN and multinomial raised.
    dist = distribution(LOGITS * 20, temperature)
    assert torch.isfinite(dist.probs).all() and torch.isfinite(dist.sample_probs).all()
    assert int(dist.probs.argmax()) == int(LOGITS.argmax()) and float(dist.probs.max()) == 1.0
    assert pick(dist, torch.Generator().manual_seed(0)) == int(LOGITS.argmax())
    # The log-probabilities stay numbers JSON can carry (found by the API fuzzer at 2.2e-309).
    assert torch.isfinite(dist.logprobs).all() and float(dist.logprobs.max()) == 0.0


@pytest.mark.parametrize("top_p", [5e-324, 1e-45, 1e-30])
def test_a_vanishing_top_p_still_keeps_the_most_probable_token(top_p):
    logits = torch.tensor([1.0, 3.0, 2.0, -1.0])
    dist = distribution(logits, temperature=1.0, top_p=top_p)
    assert dist.allowed.tolist() == [False, True, False, False]
    assert dist.sample_probs.tolist() == [0.0, 1.0, 0.0, 0.0]


def test_greedy_shows_the_same_probabilities_as_temperature_one():
    logits = torch.randn(5000, generator=torch.Generator().manual_seed(3)) * 6
    assert torch.equal(distribution(logits, 0.0).probs, distribution(logits, 1.0).probs)


@pytest.mark.parametrize("top_k,top_p", [(0, 0.9), (50, 0.9), (50, 1.0), (0, 0.999), (3000, 0.5), (0, 1e-9)])
@pytest.mark.parametrize("spread", [1.0, 3.0, 8.0])
def test_the_partial_sort_keeps_what_a_full_sort_keeps(top_k, top_p, spread):
    """top-k and top-p read only the most probable tokens (model.sampling.most_probable): the same
    tokens are kept as by sorting the whole vocabulary, for peaked and flat distributions alike."""
    logits = torch.randn(49152, generator=torch.Generator().manual_seed(int(spread * 10))) * spread
    probs = probabilities(logits)
    order = probs.argsort(descending=True)
    reference = torch.ones_like(probs, dtype=torch.bool)
    if top_k:
        reference[order[top_k:]] = False
    mass_before = probs[order].cumsum(0) - probs[order]
    drop = mass_before >= top_p
    drop[0] = False
    reference[order[drop]] = False
    assert torch.equal(distribution(logits, 1.0, top_k, top_p).allowed, reference)


def test_log_probabilities_are_computed_when_read_and_match_the_function():
    logits = torch.randn(100)
    dist = distribution(logits, 0.7)
    assert torch.equal(dist.logprobs, logprobabilities(logits, 0.7))
    assert torch.equal(distribution(logits, 0).logprobs, logprobabilities(logits, 1.0))


def test_the_partial_sort_keeps_a_token_whose_mass_before_is_just_under_top_p():
    """When the top 256 tokens' total lies within rounding of top_p, the stop rule uses the same
    arithmetic as the kept set (mass before each token), so token 257 is kept as a full sort keeps it."""
    for seed in range(4):
        logits = torch.randn(49152, generator=torch.Generator().manual_seed(seed)) * 3
        probs = probabilities(logits)
        top_p = float(probs.topk(256).values.sum())
        order = probs.argsort(descending=True)
        mass_before = probs[order].cumsum(0) - probs[order]
        keep = mass_before < top_p
        keep[0] = True
        reference = torch.zeros_like(probs, dtype=torch.bool)
        reference[order[keep]] = True
        assert torch.equal(distribution(logits, 1.0, 0, top_p).allowed, reference), seed
