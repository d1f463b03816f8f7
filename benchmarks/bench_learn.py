"""Training time of the learning chapter's tiny transformer (model/toy_transformer.py), as the
server runs it: one thread, the page's default settings, one and two layers, and the longest
run a request may ask for (3000 steps) extrapolated from the measured time per step.

    .venv/bin/python -m benchmarks.bench_learn      (also part of `make bench`)
"""

from __future__ import annotations

import time

import torch

from benchmarks.common import header, row
from model import toy_transformer as tt


def timed(config: tt.TrainConfig) -> tuple[float, float, tt.TrainResult]:
    """(seconds in all, seconds to the first logged measurement, the run)"""
    first: list[float] = []
    started = time.perf_counter()
    result = tt.train(config, on_log=lambda log: first or first.append(time.perf_counter() - started))
    return time.perf_counter() - started, first[0], result


def main() -> None:
    header("Learning chapter: training the tiny transformer (one thread, as the server does)")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        default = tt.TrainConfig()
        for layers in (2, 1):
            seconds, first, result = timed(tt.TrainConfig(layers=layers))
            found = result.induction_head(0.5)
            row(f"default run, {layers} layer{'s' if layers > 1 else ''} ({default.steps} steps, "
                f"{default.heads} heads)", f"{seconds:.1f} s",
                f"{1000 * seconds / default.steps:.1f} ms/step; first progress after {1000 * first:.0f} ms; "
                + (f"induction head L{found[0]}H{found[1]} {found[2]:.2f}" if found else "no induction head"))
            if layers == 2:
                per_step = seconds / default.steps
        row(f"longest allowed run ({tt.MAX_STEPS} steps, extrapolated)", f"{per_step * tt.MAX_STEPS:.0f} s")
    finally:
        torch.set_num_threads(previous)


if __name__ == "__main__":
    main()
