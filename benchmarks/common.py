"""Shared helpers: timing by median of repeats, the real engine, the HF reference, printing."""

from __future__ import annotations

import math
import os
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

import torch

os.environ.setdefault("TQDM_DISABLE", "1")  # HF's GGUF loader draws a progress bar otherwise


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each function in each round, run in turns (one of each per round, after a warm-up
    round), so a slow moment of the machine falls on all of them alike. Every other round runs
    them in reverse order, so none always follows the same one (HF's pass leaves caches and freed
    memory behind that the next job meets)."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(repeats):
        for name, fn in (list(fns.items()) if round_ % 2 == 0 else list(fns.items())[::-1]):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed in turns (`interleaved_times`)."""
    return {name: statistics.median(t) for name, t in interleaved_times(fns, repeats).items()}


@dataclass(frozen=True)
class Ratio:
    """The ratio of two functions' times, from rounds that timed both: the median of the rounds'
    ratios, and a distribution-free interval for that median (order statistics of the rounds' ratios,
    as in a sign test: it holds the true median with at least `coverage` probability)."""
    median: float
    low: float
    high: float
    coverage: float

    @classmethod
    def paired(cls, a: list[float], b: list[float], confidence: float = 0.95) -> "Ratio":
        ratios = sorted(x / y for x, y in zip(a, b, strict=True))
        n = len(ratios)

        def below(k: int) -> float:  # P(Binomial(n, 1/2) < k): the median lies below r_k
            return sum(math.comb(n, i) for i in range(k)) / 2 ** n

        # [r_k, r_(n+1-k)] for the largest k whose tails keep the confidence; at least the whole range.
        k = 1
        while k < n // 2 and below(k + 1) <= (1 - confidence) / 2:
            k += 1
        return cls(statistics.median(ratios), ratios[k - 1], ratios[n - k], 1 - 2 * below(k))

    @property
    def above_one(self) -> bool:
        """Slower beyond the rounds' noise: the whole interval above 1."""
        return self.low > 1.0

    def __str__(self) -> str:
        return f"{self.median:.2f}x ({self.coverage:.0%} interval {self.low:.2f}-{self.high:.2f}x)"


@lru_cache(maxsize=1)
def engine():
    from app.engine import load_engine
    from app.settings import Settings
    return load_engine(Settings())


@lru_cache(maxsize=1)
def hf_model():
    """HF transformers over the same GGUF (eager attention), or None where it is not installed."""
    try:
        import transformers
    except ImportError:
        return None
    gguf = Path(engine().source)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, attn_implementation="eager", dtype=torch.float32).eval()


@contextmanager
def hf_threads() -> Iterator[None]:
    """HF as it comes: torch's intra-op threads at the configured count (TT_THREADS, all cores by
    default), whatever our engine's last job chose."""
    before = torch.get_num_threads()
    torch.set_num_threads(engine().settings.threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def prompt_ids(n: int) -> list[int]:
    """A natural-text prompt of exactly n tokens (repeated prose, cut to length)."""
    text = ("The history of the river town is long. Merchants came by boat to trade salt, wool and "
            "grain, and the bank by the bridge kept their money safe through floods and wars. ") * 20
    ids = engine().tokenizer.encode(text)
    assert len(ids) >= n
    return ids[:n]


def row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<44} {value:>16}  {note}", flush=True)


def header(title: str) -> None:
    print(f"\n{title}", flush=True)
