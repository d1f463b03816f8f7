"""Every 4xx (and the 503) is JSON with `detail` for people and `code`, `field`, `limit`, `actual`
for programs, whichever layer found the problem: pydantic, the body limit, the engine's prompt
limits, a model index check, the router, or Starlette (404/405)."""

import json

import pytest

KEYS = {"detail", "code", "field", "limit", "actual"}


def _post(client, path, body):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(path, content=raw, headers={"content-type": "application/json"})


@pytest.mark.parametrize("path, body, status, code, field, limit, actual", [
    ("/api/tokenize", {"text": 5}, 422, "invalid", "text", None, None),
    ("/api/attention", {"text": "hi", "layer": 0}, 422, "missing", "head", None, None),
    ("/api/predict", {"text": "hi", "temperature": 11}, 422, "invalid", "temperature", 10, 11),
    ("/api/attention/senses", {"word": "bank", "groups": [["a bank"]]}, 422, "invalid", "groups", 2, 1),
    ("/api/attention/senses", {"word": "bank", "groups": [["a bank"], ["a river"]]}, 422, "word_not_found",
     "groups.1.0", None, None),
    ("/api/predict", '{"text": "unterminated', 422, "invalid_json", "body", None, None),
    ("/api/predict", b"", 422, "missing_body", "body", None, None),
    ("/api/predict", {"text": "a" * 1_000_000}, 413, "body_too_large", "body", None, None),
    ("/api/predict", {"text": "x" * 401}, 413, "too_many_characters", "text", 400, 401),
    ("/api/predict", {"text": "the " * 70}, 413, "too_many_tokens", "text", 64, None),
    ("/api/predict", {"text": " "}, 422, "empty", "text", None, None),
    ("/api/attention", {"text": "hi", "layer": 2, "head": 0}, 422, "out_of_range", "layer", 1, 2),
    ("/api/predict", {"text": "hi", "ablate": [{"layer": 0, "head": 4}]}, 422, "out_of_range", "ablate.0.head", 3, 4),
    ("/api/predict", {"text": "hi", "append_ids": [5] * 70}, 413, "too_many_tokens", "append_ids", 64, None),
    ("/api/detokenize", {"ids": [0, 10 ** 9]}, 422, "out_of_range", "ids.1", None, 10 ** 9),
    ("/api/generate", {"text": "hi", "max_new_tokens": 33}, 422, "out_of_range", "max_new_tokens", 32, 33),
    # Bounds checked by a field's own validator (a word's length after stripping, a hidden layer's size).
    ("/api/embeddings/map", {"words": ["dog", "cat", "x" * 45]}, 422, "invalid", "words.2", 40, 45),
    ("/api/embeddings/sentences", {"sentences": ["A calm sea.", "y" * 301]}, 422, "invalid", "sentences.1", 300, 301),
    ("/api/network/init", {"hidden": [6, 99]}, 422, "invalid", "hidden", 12, 99),
])
def test_every_4xx_carries_code_field_limit_actual(tiny_client, path, body, status, code, field, limit, actual):
    r = _post(tiny_client, path, body)
    assert r.status_code == status, r.text
    data = r.json()
    assert set(data) == KEYS and isinstance(data["detail"], str) and data["detail"]
    assert (data["code"], data["field"]) == (code, field)
    if limit is not None:
        assert data["limit"] == limit
    if actual is not None:
        assert data["actual"] == actual
    if status == 413 and code != "body_too_large":
        assert data["actual"] > data["limit"]
    if code == "body_too_large":
        assert data["limit"] == tiny_client.app.state.engine.settings.max_body_bytes
        assert data["actual"] > data["limit"]


def test_all_heads_too_long_is_a_413_with_its_own_limit(make_client):
    from app.engine import Engine
    from app.settings import Settings
    from model.tiny import tiny_model
    model, tok = tiny_model(seed=0)
    client = make_client(Engine(model, tok, Settings(max_all_heads_tokens=3)))
    r = client.post("/api/attention/all", json={"text": "the bank of the river"})
    assert r.status_code == 413
    data = r.json()
    assert (data["code"], data["field"], data["limit"]) == ("too_long", "text", 3) and data["actual"] > 3


@pytest.mark.parametrize("method, path, status, code", [
    ("get", "/api/nothing-here", 404, "not_found"),
    ("get", "/api/surprise", 405, "method_not_allowed"),
    ("put", "/api/predict", 405, "method_not_allowed"),
])
def test_framework_errors_carry_a_code_too(tiny_client, method, path, status, code):
    r = getattr(tiny_client, method)(path)
    assert r.status_code == status
    data = r.json()
    assert set(data) == KEYS and data["code"] == code and path in data["detail"]


@pytest.mark.parametrize("path, body, field, words", [
    ("/api/predict", '{"text": "a\\ud800b"}', "text", ["surrogate"]),
    ("/api/generate", '{"messages": [{"role": "user", "content": "a\\ud800"}]}', "messages.0.content", ["surrogate"]),
    ("/api/generate", {"messages": [{"role": "user", "content": "hi"}], "append_ids": [1]}, "append_ids",
     ["append_ids"]),
])
def test_a_check_across_fields_names_the_field_it_refuses(tiny_client, path, body, field, words):
    """A model-level check (a lone surrogate anywhere, append_ids with a chat) names its own field, not
    `body`: RELIABILITY.md says lone surrogates are 'refused with a 422 that names the field'."""
    r = _post(tiny_client, path, body)
    assert r.status_code == 422, r.text
    data = r.json()
    assert data["field"] == field and data["code"] == "invalid"
    assert all(w in data["detail"] for w in words) and not data["detail"].startswith("Value error")


@pytest.mark.parametrize("path, body, example_field", [
    ("/v1/chat/completions", "{bad", "messages"),
    ("/api/attention", "{bad", "layer"),
    ("/api/attention", "[1, 2]", "layer"),
    ("/api/network/init", "[]", None),
])
def test_a_body_that_is_no_json_object_is_told_what_this_endpoint_takes(tiny_client, path, body, example_field):
    """Invalid JSON was answered with the example `{"text": ...}` whatever the endpoint (the chat
    completions endpoint has no `text`), and a JSON array with pydantic's 'Input should be a valid
    dictionary or object to extract fields from'; both now say what this endpoint takes."""
    r = _post(tiny_client, path, body)
    assert r.status_code in (400, 422), r.text
    data = r.json()
    detail = data["detail"] if "detail" in data else data["error"]["message"]
    assert "send a JSON object" in detail and "valid dictionary" not in detail
    if example_field:
        assert f'"{example_field}"' in detail or example_field in detail, detail
    if path == "/v1/chat/completions":
        assert '"text"' not in detail


@pytest.mark.parametrize("url, field, code", [
    ("/api/network/train?lr=inf", "lr", "invalid"),
    ("/api/network/train?lr=9", "lr", "invalid"),
    ("/api/predict?text=hi&steps=999999", "steps.0", "out_of_range"),
    ("/api/predict?text=hi&steps=" + ",".join(["5"] * 4097), "steps", "invalid"),
])
def test_a_json_twin_names_the_query_parameter_it_refuses(tiny_client, url, field, code):
    """A GET twin's error named the POST's field the client never sent (`learning_rate` for `lr`,
    `append_ids.0` for `steps`)."""
    r = tiny_client.get(url)
    assert r.status_code == 422, r.text
    data = r.json()
    assert (data["field"], data["code"]) == (field, code) and data["detail"].startswith(field)


def test_predict_at_past_the_last_step_or_negative_shows_the_distribution_after_every_step(tiny_client):
    """GET /api/predict's `at` is described as: -1 (any negative, or a step past the last) = after every step."""
    after = tiny_client.get("/api/predict?text=hi&steps=5,6").json()
    for at in (-1, -7, 2, 9):
        assert tiny_client.get(f"/api/predict?text=hi&steps=5,6&at={at}").json() == after
    assert tiny_client.get("/api/predict?text=hi&steps=5,6&at=1").json()["tokens"] != after["tokens"]
