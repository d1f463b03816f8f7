import torch

from model.analysis import analyse
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
    assert torch.isnan(a.token_logprobs()[0])
    assert torch.allclose(a.token_logprobs()[1:], expected, atol=1e-5)


def test_logit_lens_last_layer_is_the_models_own_prediction():
    model, tok = tiny_model(seed=2)
    a = analyse(model, tok, "the bank")
    ids, probs = a.logit_lens(k=3)
    assert ids.shape == probs.shape == (model.cfg.n_layers + 1, a.n_tokens, 3)
    assert int(ids[-1, -1, 0]) == int(a.next_logits.argmax())
    assert torch.all(probs[..., 0] >= probs[..., 1])
