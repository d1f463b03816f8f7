"""benchmarks/common.Ratio: the paired ratio and its distribution-free interval used to judge
"never slower than one thread fewer" (benchmarks/bench_busy.py)."""

from __future__ import annotations

import math
import random

import pytest

from benchmarks.common import Ratio


def _coverage(n: int, k: int) -> float:
    """Probability that [r_k, r_(n+1-k)] holds the median of a continuous distribution."""
    return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2 ** n


@pytest.mark.parametrize("n, k", [(5, 1), (7, 1), (9, 2), (15, 4), (25, 8)])
def test_the_interval_is_the_narrowest_with_95_percent_coverage(n, k):
    rounds = [1.0 + i / 100 for i in range(n)]
    random.Random(n).shuffle(rounds)
    r = Ratio.paired(rounds, [1.0] * n)
    ordered = sorted(rounds)
    assert (r.low, r.high) == (pytest.approx(ordered[k - 1]), pytest.approx(ordered[n - k]))
    assert r.coverage == pytest.approx(_coverage(n, k))
    assert r.coverage >= 0.95 or k == 1  # fewer than 6 rounds cannot reach 95%: the whole range
    if k < n // 2:
        assert _coverage(n, k + 1) < 0.95  # one order statistic further in would not hold 95%


def test_the_ratio_pairs_the_rounds():
    # The same slow rounds on both sides cancel: each round's ratio is 1.
    slow = [1.0, 3.0, 1.0, 5.0, 1.0, 2.0, 1.0]
    r = Ratio.paired(slow, slow)
    assert (r.median, r.low, r.high) == (1.0, 1.0, 1.0) and not r.above_one


def test_slower_only_when_the_whole_interval_is_above_one():
    assert Ratio.paired([1.2] * 9, [1.0] * 9).above_one
    mixed = [1.2, 1.1, 0.95, 1.3, 1.15, 1.05, 0.98, 1.2, 1.1]
    r = Ratio.paired(mixed, [1.0] * 9)
    assert r.median > 1 and r.low < 1 and not r.above_one


def test_unpaired_rounds_are_refused():
    with pytest.raises(ValueError):
        Ratio.paired([1.0, 2.0], [1.0])
