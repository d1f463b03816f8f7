"""The head probes on hand-made attention patterns whose scores are known."""

import pytest
import torch

from model import probes


def _one_hot_rows(targets: list[int]) -> torch.Tensor:
    n = len(targets)
    p = torch.zeros(n, n)
    p[torch.arange(n), torch.tensor(targets)] = 1.0
    return p


def test_previous_token_head_scores_one_and_first_token_zero():
    p = _one_hot_rows([0] + list(range(0, 5)))  # row i looks at i-1 (row 0 at itself)
    assert probes.previous_token_score(p).item() == pytest.approx(1.0)
    assert probes.first_token_score(p).item() == pytest.approx(1 / 5)  # only row 1's i-1 is 0


def test_first_token_head():
    p = _one_hot_rows([0] * 6)
    assert probes.first_token_score(p).item() == 1.0
    assert probes.previous_token_score(p).item() == pytest.approx(1 / 5)


def test_induction_head_on_a_repeat_after_a_prefix():
    start, period = 1, 4
    n = start + 2 * period
    targets = list(range(n))
    for i in range(start + period, n):
        targets[i] = i - period + 1  # the token after the earlier copy
    p = _one_hot_rows(targets)
    assert probes.induction_score(p, period, start).item() == 1.0
    # a head that looks at the earlier copy itself (duplicate-token head) is not an induction head
    dup = _one_hot_rows([i if i < start + period else i - period for i in range(n)])
    assert probes.induction_score(dup, period, start).item() == 0.0


def test_scores_keep_leading_dimensions():
    p = torch.rand(3, 2, 10, 10).tril()
    p = p / p.sum(-1, keepdim=True)
    assert probes.induction_score(p, 5).shape == (3, 2)
    assert probes.previous_token_score(p).shape == (3, 2)


def test_repeated_random_tokens_are_unique_within_a_copy_and_seeded():
    g = torch.Generator().manual_seed(0)
    seqs = probes.repeated_random_tokens(range(100, 200), 20, 3, g)
    assert seqs.shape == (3, 40)
    assert torch.equal(seqs[:, :20], seqs[:, 20:])
    assert all(len(set(row[:20].tolist())) == 20 for row in seqs)
    again = probes.repeated_random_tokens(range(100, 200), 20, 3, torch.Generator().manual_seed(0))
    assert torch.equal(seqs, again)


def test_too_short_a_sequence_is_refused():
    with pytest.raises(ValueError):
        probes.induction_score(torch.rand(5, 5), period=3)


def test_even_back_score_is_the_back_score_of_attention_spread_evenly():
    n = 12
    even = torch.tril(torch.ones(n, n)) / torch.arange(1, n + 1)[:, None]   # row i: 1/(i+1) on keys 0..i
    for k in (1, 2, 3):
        assert float(probes.back_score(even, k)) == pytest.approx(probes.even_back_score(n, k))
    assert probes.even_back_score(n) == pytest.approx(sum(1 / (i + 1) for i in range(1, n)) / (n - 1))
    shifted = torch.zeros(n, n)
    shifted[0, 0] = 1
    shifted[torch.arange(1, n), torch.arange(n - 1)] = 1                     # every token on the one before
    assert float(probes.back_score(shifted, 1)) == float(probes.previous_token_score(shifted)) == 1.0
    assert float(probes.back_score(shifted, 2)) == 0.0
