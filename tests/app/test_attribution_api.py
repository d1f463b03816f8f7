"""POST /api/attribution on the tiny model: the contract's fields, chat input, bad input."""

import pytest


def test_text_answers_the_contract(tiny_client, tiny_engine):
    r = tiny_client.post("/api/attribution", json={"text": "the bank", "ig_steps": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    cfg = tiny_engine.cfg
    assert len(body["parts"]["heads"]) == cfg.n_layers and all(len(row) == cfg.n_heads for row in body["parts"]["heads"])
    assert len(body["parts"]["mlps"]) == cfg.n_layers
    parts = body["parts"]
    summed = parts["embedding"] + sum(map(sum, parts["heads"])) + sum(parts["mlps"])
    assert summed == pytest.approx(body["total"], abs=1e-4)
    assert body["total"] == pytest.approx(body["target"]["logit"], abs=1e-5)
    predicted = tiny_client.post("/api/predict", json={"text": "the bank", "n_predictions": 1}).json()["predictions"][0]
    assert body["target"]["id"] == predicted["id"]
    assert body["target"]["logit"] == pytest.approx(predicted["logit"], abs=1e-3)
    s = body["saliency"]
    assert len(s["gradient_x_input"]) == len(s["integrated_gradients"]) == len(body["tokens"])
    assert s["steps"] == 4 and s["baseline"]
    assert body["check"]["parts"] and body["contrast"] is None


def test_contrast_is_the_difference_of_two_logits(tiny_client):
    body = tiny_client.post("/api/attribution", json={"text": "the bank", "target": 40, "contrast": 50,
                                                      "saliency": False}).json()
    assert body["total"] == pytest.approx(body["target"]["logit"] - body["contrast"]["logit"], abs=1e-5)
    assert body["saliency"] is None


def test_messages_go_through_the_chat_template(tiny_client):
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}]
    r = tiny_client.post("/api/attribution", json={"messages": messages, "ig_steps": 2, "check_parts": 0})
    assert r.status_code == 200, r.text
    body = r.json()
    texts = [t["text"] for t in body["tokens"]]
    assert texts[0] == "<|im_start|>" and "".join(texts).endswith("<|im_start|>assistant\n")
    assert sum(t["special"] for t in body["tokens"]) == 5      # three turns opened, two closed
    assert len(body["saliency"]["integrated_gradients"]) == len(texts)
    assert body["check"] is None


@pytest.mark.parametrize("payload, field", [
    ({"text": "a", "messages": [{"role": "user", "content": "b"}]}, "body"),
    ({}, "body"),
    ({"text": "a", "target": 10**6}, "target"),
    ({"text": "a", "contrast": 10**6}, "contrast"),
    ({"text": "a", "ig_steps": 0}, "ig_steps"),
    ({"text": "   "}, "text"),
])
def test_bad_input_is_a_4xx_naming_the_field(tiny_client, payload, field):
    r = tiny_client.post("/api/attribution", json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


@pytest.mark.parametrize("query, body", [
    ({"text": "the bank", "saliency": "false"}, {"text": "the bank", "saliency": False}),
    ({"text": "the bank", "target": 40, "contrast": 50, "check_parts": 0, "ig_steps": 2},
     {"text": "the bank", "target": 40, "contrast": 50, "check_parts": 0, "ig_steps": 2}),
    ({"text": "hi", "mode": "chat", "saliency": "false"},
     {"messages": [{"role": "user", "content": "hi"}], "saliency": False}),
], ids=["direct", "contrast", "chat"])
def test_the_get_twin_answers_as_the_post(make_client, query, body):
    """GET /api/attribution: the /why page's URL query (text, mode, target, contrast) as the POST's body."""
    from app.engine import Engine
    from app.settings import Settings
    from model.tiny import tiny_model
    model, tokenizer = tiny_model(seed=0)
    # Room for the chat template's default system prompt (the tiny model's usual limit is 64 tokens).
    client = make_client(Engine(model, tokenizer, Settings(max_prompt_tokens=120, max_prompt_chars=600)))
    got = client.get("/api/attribution", params=query)
    assert got.status_code == 200, got.text
    assert got.json() == client.post("/api/attribution", json=body).json()


@pytest.mark.parametrize("query, field", [
    ({"text": "a", "target": 10**6}, "target"), ({"text": "a", "contrast": -1}, "contrast"),
    ({"text": "a", "ig_steps": 0}, "ig_steps"), ({"text": "   "}, "text"), ({"text": "a", "mode": "poem"}, "mode"),
])
def test_the_get_twin_refuses_as_the_post(tiny_client, query, field):
    r = tiny_client.get("/api/attribution", params=query)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


# --- the real model: the done-when numbers ------------------------------------------------

CHAT = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.mark.real
@pytest.mark.parametrize("request_body", [{"text": "The capital of France is"}, {"messages": CHAT}],
                         ids=["text", "chat"])
def test_real_parts_add_up_to_the_logit_predict_reports(real_client, request_body):
    body = real_client.post("/api/attribution", json={**request_body, "saliency": False}).json()
    parts = body["parts"]
    assert len(parts["heads"]) == 30 and all(len(row) == 9 for row in parts["heads"]) and len(parts["mlps"]) == 30
    summed = parts["embedding"] + sum(map(sum, parts["heads"])) + sum(parts["mlps"])
    assert summed == pytest.approx(body["total"], abs=1e-4)
    if "text" in request_body:
        top = real_client.post("/api/predict", json={**request_body, "n_predictions": 1}).json()["predictions"][0]
        assert body["target"]["id"] == top["id"]
        assert body["total"] == pytest.approx(top["logit"], abs=1e-3)
    else:   # the same prompt as /api/generate's: its first greedy token is the target
        gen = real_client.post("/api/generate", json={"messages": CHAT, "max_new_tokens": 1, "temperature": 0,
                                                      "alternatives": 1}).json()
        assert body["target"]["id"] == gen["generated"][0]["id"]
        assert body["total"] == pytest.approx(gen["generated"][0]["alternatives"][0]["logit"], abs=1e-3)


@pytest.mark.real
def test_real_contrast_is_paris_minus_london(real_client):
    tokenizer = real_client.app.state.engine.tokenizer
    paris, london = tokenizer.encode(" Paris")[0], tokenizer.encode(" London")[0]
    body = real_client.post("/api/attribution", json={"text": "The capital of France is", "target": paris,
                                                      "contrast": london, "saliency": False}).json()
    assert body["target"]["text"] == " Paris" and body["contrast"]["text"] == " London"
    assert body["total"] == pytest.approx(body["target"]["logit"] - body["contrast"]["logit"], abs=1e-3)
    assert body["parts_sum"] == pytest.approx(body["total"], abs=1e-4)


@pytest.mark.real
@pytest.mark.parametrize("request_body", [{"text": "The capital of France is"}, {"messages": CHAT}],
                         ids=["text", "chat"])
def test_real_integrated_gradients_are_complete_within_5_percent_at_the_default_steps(real_client, request_body):
    body = real_client.post("/api/attribution", json={**request_body, "check_parts": 0}).json()
    s = body["saliency"]
    assert s["steps"] == 32
    assert abs(s["completeness"] - 1) <= 0.05, s
    # The API rounds each token's share to 6 decimals: their sum may be off by half a unit of the
    # sixth decimal per token.
    assert sum(s["integrated_gradients"]) == pytest.approx(s["completeness"] * (s["f_input"] - s["f_baseline"]),
                                                           abs=5e-7 * len(s["integrated_gradients"]) + 1e-9)
    assert s["f_input"] == pytest.approx(body["total"], abs=1e-3)
