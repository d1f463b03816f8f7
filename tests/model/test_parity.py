"""Our forward pass agrees with an independent implementation of the same GGUF: HF
transformers' LlamaForCausalLM (eager attention), which dequantises and un-permutes the
weights with its own code."""

import pytest
import torch

from model.analysis import analyse
from model.generate import generate

pytestmark = [pytest.mark.real, pytest.mark.reference]

PROMPTS = ["The capital of France is",
           "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
           "I sat on the river bank and watched the water. Later I paid the money into the bank."]


@pytest.fixture(scope="module")
def reference_runs(real_engine, hf_reference):
    runs = []
    for text in PROMPTS:
        ours = analyse(real_engine.model, real_engine.tokenizer, text)
        with torch.inference_mode():
            theirs = hf_reference(ours.ids[None], output_attentions=True, output_hidden_states=True)
        runs.append((ours, theirs))
    return runs


def test_next_token_probabilities_agree_within_1e_4(reference_runs):
    for ours, theirs in reference_runs:
        p_ours = ours.next_logits.softmax(-1)
        p_theirs = theirs.logits[0, -1].softmax(-1)
        assert (p_ours - p_theirs).abs().max() < 1e-4


def test_logits_at_every_position_agree(real_engine, reference_runs):
    for ours, theirs in reference_runs:
        with torch.inference_mode():
            logits = real_engine.model(ours.ids)
        assert (logits - theirs.logits[0]).abs().max() < 1e-3  # logits are O(10); probabilities above
        assert torch.equal(logits.argmax(-1), theirs.logits[0].argmax(-1))


def test_attention_weights_of_every_head_agree_within_1e_4(reference_runs):
    for ours, theirs in reference_runs:
        for layer, hf_pattern in enumerate(theirs.attentions):
            assert (ours.attn_pattern[layer] - hf_pattern[0]).abs().max() < 1e-4, f"layer {layer}"


def test_residual_stream_agrees_layer_by_layer(reference_runs):
    ours, theirs = reference_runs[0]
    # HF's hidden_states: the embedding, then after each block (the last one after the final norm).
    for layer in range(ours.resid.shape[0] - 1):
        assert torch.allclose(ours.resid[layer], theirs.hidden_states[layer][0], atol=1e-3, rtol=1e-4)
    assert torch.allclose(ours.final_hidden, theirs.hidden_states[-1][0], atol=1e-3, rtol=1e-4)


def test_paris_is_first_with_the_published_probability(reference_runs, real_engine):
    ours, _ = reference_runs[0]
    p = ours.next_logits.softmax(-1)
    top = int(p.argmax())
    assert real_engine.tokenizer.token_text(top) == " Paris"
    assert p[top].item() == pytest.approx(0.7725, abs=0.001)


def test_greedy_continuation_is_the_same_for_20_tokens(real_engine, hf_reference):
    for text in PROMPTS[:2]:
        ids = real_engine.tokenizer.encode(text)
        ours = [s.id for s in generate(real_engine.model, ids, 20, temperature=0)]
        with torch.inference_mode():
            out = hf_reference.generate(torch.tensor([ids]), max_new_tokens=20, do_sample=False,
                                        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                        pad_token_id=0)
        assert ours == out[0, len(ids):].tolist()
