"""Cost of chapter 5a (why this token?) on a 64-token prompt, beside one forward pass:

- direct logit attribution (every head's and MLP's part) from the prompt's kept Analysis, and the
  check (the strongest parts switched off: one pass resumed from the first switched-off layer);
- integrated gradients, batched over its steps, against one forward-and-backward pass, at
  several step counts (the ratio should grow about like the step count).

    .venv/bin/python -m benchmarks.bench_attribution      (also part of `make bench`)
"""

from __future__ import annotations

import torch

from benchmarks.common import engine, header, median_seconds, prompt_ids, row
from model import attribution as A
from model.analysis import analyse_ids


def main(n_tokens: int = 64) -> None:
    header(f"Why this token: attribution on a {n_tokens}-token prompt")
    eng = engine()
    model = eng.model
    ids = prompt_ids(n_tokens)
    ids_t = torch.tensor(ids)
    with model.float32_only():
        analysis = analyse_ids(model, ids)
        target = int(analysis.next_logits.argmax())

        def forward():
            with torch.inference_mode():
                model(ids_t, last_only=True)

        def forward_backward():
            x = model.embed(ids_t).detach()[None].requires_grad_(True)
            with torch.enable_grad():
                f = A.batched_f(model, x, A.direction(model, target).float())
                torch.autograd.grad(f.sum(), x)

        one_pass = median_seconds(forward, repeats=3, warmup=1)
        row("one forward pass", f"{1000 * one_pass:.0f} ms")
        dla = median_seconds(lambda: A.direct_parts(analysis, target), repeats=3, warmup=1)
        row("direct parts from the kept Analysis", f"{1000 * dla:.0f} ms", f"{dla / one_pass:.2f} x one pass")
        parts = A.direct_parts(analysis, target)
        heads, mlps = A.strongest(parts, 3)
        chk = median_seconds(lambda: A.check(analysis, parts, target, None, heads, mlps), repeats=3, warmup=1)
        row("check: 3 strongest parts switched off", f"{1000 * chk:.0f} ms", f"{chk / one_pass:.2f} x one pass")
        fb = median_seconds(forward_backward, repeats=3, warmup=1)
        row("one forward-and-backward pass", f"{1000 * fb:.0f} ms", f"{fb / one_pass:.2f} x one pass")
        for steps in (8, 16, 32):
            seconds = median_seconds(lambda: A.saliency(model, ids, target, steps=steps), repeats=1, warmup=0)
            row(f"integrated gradients, {steps} steps ({steps + 1} points)", f"{seconds:.1f} s",
                f"{seconds / fb:.1f} x one forward-and-backward pass")


if __name__ == "__main__":
    main()
