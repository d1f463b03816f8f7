import torch

from model.analysis import analyse
from model.lens import surprise
from model.tiny import tiny_model


def test_analysis_fields_have_the_documented_shapes():
    model, tok = tiny_model(seed=2)
    a = analyse(model, tok, "the bank of the river")
    n, c = a.n_tokens, model.cfg
    assert [t.id for t in a.tokens] == a.ids.tolist()
    assert a.resid.shape == (c.n_layers + 1, n, c.d_model)
    assert a.attn_pattern.shape == (c.n_layers, c.n_heads, n, n)
    assert a.attn_out.shape == a.mlp_out.shape == (c.n_layers, n, c.d_model)
    assert a.final_hidden.shape == (n, c.d_model)
    assert a.next_logits.shape == (c.vocab_size,)
    assert a.kv_cache.length == n


def test_analysis_agrees_with_a_plain_forward_pass():
    model, tok = tiny_model(seed=2)
    a = analyse(model, tok, "the bank of the river")
    with torch.inference_mode():
        logits = model(a.ids)
    assert torch.allclose(a.next_logits, logits[-1], atol=1e-5)
    expected = logits[:-1].log_softmax(-1).gather(1, a.ids[1:, None])[:, 0]
    logprobs = surprise(a).logprobs
    assert torch.isnan(logprobs[0])
    assert torch.allclose(logprobs[1:], expected, atol=1e-5)


def _assert_same(a, b, atol=1e-4):
    assert torch.equal(a.ids, b.ids)
    for name in ("resid", "attn_pattern", "attn_out", "mlp_out", "final_hidden", "next_logits"):
        assert torch.allclose(getattr(a, name), getattr(b, name), atol=atol, rtol=1e-4), name
    assert all(torch.allclose(x, y, atol=atol) for x, y in zip(a.kv_cache.keys, b.kv_cache.keys))


def test_extending_a_prompt_equals_analysing_it_from_scratch():
    model, tok = tiny_model(seed=3)
    short = analyse(model, tok, "the bank of")
    longer_text = "the bank of the river in the"
    assert torch.equal(analyse(model, tok, longer_text, previous=short).ids, analyse(model, tok, longer_text).ids)
    _assert_same(analyse(model, tok, longer_text, previous=short), analyse(model, tok, longer_text))


def test_a_shorter_prompt_is_a_slice_of_the_longer_one():
    model, tok = tiny_model(seed=3)
    longer = analyse(model, tok, "the bank of the river")
    _assert_same(analyse(model, tok, "the bank", previous=longer), analyse(model, tok, "the bank"))


def test_a_prompt_that_shares_nothing_gets_a_full_pass():
    model, tok = tiny_model(seed=3)
    other = analyse(model, tok, "in a bank")
    _assert_same(analyse(model, tok, "the river", previous=other), analyse(model, tok, "the river"))


def test_editing_the_middle_recomputes_from_the_first_changed_token():
    model, tok = tiny_model(seed=3)
    before = analyse(model, tok, "the bank of the river")
    _assert_same(analyse(model, tok, "the bin of the river", previous=before), analyse(model, tok, "the bin of the river"))
