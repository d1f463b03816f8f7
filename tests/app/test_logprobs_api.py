"""`logprob` beside `probability` in POST /api/predict and /api/surprise: the natural log of the
same float64 softmax, finite where the float32 probability underflows to 0, and the same numbers
as the OpenAI-compatible echo scoring."""

from __future__ import annotations

import math

import pytest
import torch

from model.sampling import distribution, logprobabilities, probabilities


def test_logprobabilities_is_the_log_of_probabilities_without_underflow():
    logits = torch.randn(1000) * 30
    for temperature in (1.0, 0.5, 2.0):
        logp = logprobabilities(logits, temperature)
        probs = probabilities(logits, temperature)
        assert logp.dtype == torch.float64 and torch.isfinite(logp).all()
        seen = probs > 1e-30
        assert torch.allclose(logp[seen].exp().float(), probs[seen], rtol=1e-5, atol=0)
        # independent: the log-sum-exp written out in float64
        ref = logits.double() / temperature - torch.logsumexp(logits.double() / temperature, 0)
        assert torch.allclose(logp, ref, atol=1e-9)
    assert (probabilities(logits, 0.05) == 0).any()  # float32 underflows, the log does not
    assert torch.isfinite(distribution(logits, 0.05).logprobs).all()


def test_predict_reports_logprob_at_the_sampling_temperature(tiny_client):
    for temperature in (1.0, 0.3, 0):
        data = tiny_client.post("/api/predict", json={"text": "the bank", "temperature": temperature,
                                                      "n_predictions": 5, "guess": " the"}).json()
        for p in data["predictions"] + [data["guess"]["token"]]:
            assert p["logprob"] == pytest.approx(math.log(p["probability"]), abs=1e-5)


def test_surprise_logprobs_add_up_to_the_echo_score(tiny_client):
    text = "the river bank"
    tokens = tiny_client.post("/api/surprise", json={"text": text}).json()["tokens"]
    assert tokens[0]["logprob"] is None
    for t in tokens[1:]:
        assert t["logprob"] == pytest.approx(math.log(t["probability"]), abs=1e-6)
        assert t["surprisal_bits"] == pytest.approx(-t["logprob"] / math.log(2), abs=1e-6)
    name = tiny_client.get("/v1/models").json()["data"][0]["id"]
    echo = tiny_client.post("/v1/completions", json={"model": name, "prompt": text, "max_tokens": 0, "echo": True,
                                                     "logprobs": 0}).json()["choices"][0]["logprobs"]
    assert echo["token_logprobs"] == pytest.approx([t["logprob"] for t in tokens], abs=1e-5)
