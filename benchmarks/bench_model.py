"""The model itself: analysis pass, typing update, generation, each beside HF transformers.

Ours runs as the server runs it, as jobs of the engine (`Engine.locked`: the threads its budget
gives, model/speed.py); HF runs at torch's default threads (`hf_threads`)."""

from __future__ import annotations

import torch

from benchmarks.common import engine, header, hf_model, hf_threads, interleaved_medians, median_seconds, prompt_ids, row
from model.analysis import analyse_ids
from model.generate import generate


def analysis_pass() -> None:
    header("Analysis pass (every layer's residual stream and attention pattern kept)")
    e, hf = engine(), hf_model()
    for n in (16, 64, 256):
        ids = prompt_ids(n)
        ours = median_seconds(lambda: e.locked(analyse_ids, e.model, ids), repeats=5)
        note = ""
        if hf is not None:
            x = torch.tensor([ids])

            def reference():
                with torch.inference_mode(), hf_threads():
                    hf(x, output_attentions=True, output_hidden_states=True)
            theirs = median_seconds(reference, repeats=5)
            goal = "0.7x" if n == 64 else "1.0x"
            note = f"HF eager {theirs * 1000:.0f} ms -> ratio {ours / theirs:.2f}x (goal <= {goal})"
        row(f"{n} tokens", f"{ours * 1000:.0f} ms", note)


def typing_update() -> None:
    header("Typing: one more word after a 64-token prompt")
    e = engine()
    model = e.model
    base = prompt_ids(64)
    longer = prompt_ids(67)  # the next word of the same text: 3 more tokens
    previous = analyse_ids(model, base)

    def update_f32_only():
        with model.float32_only():
            e.locked(analyse_ids, model, longer, previous=previous)
    # In turns (a ratio of two timings taken minutes apart on this noisy machine swung by 30%).
    found = interleaved_medians({"full": lambda: e.locked(analyse_ids, model, longer),
                                 "update": lambda: e.locked(analyse_ids, model, longer, previous=previous),
                                 "update_f32": update_f32_only}, repeats=9)
    full, update, update_f32 = found["full"], found["update"], found["update_f32"]
    row("full pass, 67 tokens", f"{full * 1000:.0f} ms")
    row("update from the 64-token analysis", f"{update * 1000:.0f} ms",
        f"ratio {update / full:.2f}x of a full pass (goal <= 0.25x)")
    row("  the same on float32 weights only", f"{update_f32 * 1000:.0f} ms",
        f"ratio {update_f32 / full:.2f}x (without the block kernels)")


def generation(new_tokens: int = 64) -> None:
    header(f"Generation: {new_tokens} greedy tokens after a 16-token prompt")
    e, hf = engine(), hf_model()
    model = e.model
    ids = prompt_ids(16)

    def ours():
        steps = e.locked(lambda: list(generate(model, ids, new_tokens, temperature=0)))
        assert len(steps) == new_tokens
    t_ours = median_seconds(ours, repeats=3)
    with model.float32_only():
        t_f32 = median_seconds(ours, repeats=3)
    note = ""
    if hf is not None:
        x = torch.tensor([ids])

        def reference():
            with torch.inference_mode(), hf_threads():
                out = hf.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=new_tokens,
                                  min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
            assert out.shape[1] == len(ids) + new_tokens
        t_hf = median_seconds(reference, repeats=3)
        note = f"HF generate {new_tokens / t_hf:.1f} tok/s -> ratio {t_hf / t_ours:.2f}x (goal >= 3x)"
    row("tokens per second", f"{new_tokens / t_ours:.1f} tok/s", note)
    row("  the same on float32 weights only", f"{new_tokens / t_f32:.1f} tok/s",
        f"ratio {t_f32 / t_ours:.2f}x slower (without the block kernels)")

    # The chat page's settings (static/js/chat.js DEFAULTS): top-k and top-p choose among the most
    # probable tokens every step, which a sort of the whole vocabulary made cost ~10 ms a token.
    chat = {"temperature": 0.3, "top_k": 50, "top_p": 0.9}

    def sampled():
        steps = e.locked(lambda: list(generate(model, ids, new_tokens, seed=1, **chat)))
        assert len(steps) == new_tokens
    t_sampled = median_seconds(sampled, repeats=3)
    note = ""
    if hf is not None:
        def reference_sampled():
            torch.manual_seed(1)
            with torch.inference_mode(), hf_threads():
                out = hf.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=new_tokens,
                                  min_new_tokens=new_tokens, do_sample=True, pad_token_id=0, **chat)
            assert out.shape[1] == len(ids) + new_tokens
        t_hf_sampled = median_seconds(reference_sampled, repeats=3)
        note = f"HF generate {new_tokens / t_hf_sampled:.1f} tok/s -> ratio {t_hf_sampled / t_sampled:.2f}x"
    row("  sampled: chat's 0.3, top-k 50, top-p 0.9", f"{new_tokens / t_sampled:.1f} tok/s", note)


def main() -> None:
    analysis_pass()
    typing_update()
    generation()


if __name__ == "__main__":
    main()
