"""A bad-input matrix for every endpoint that reads text: whatever is sent, the answer is a 4xx
JSON error whose `detail` says what to change (or a correct result), never a 5xx."""

import json

import pytest

TEXT_ENDPOINTS = {
    "/api/tokenize": {},
    "/api/predict": {},
    "/api/attention": {"layer": 0, "head": 0},
    "/api/attention/all": {},
    "/api/logit-lens": {},
    "/api/surprise": {},
    "/api/generate": {"max_new_tokens": 2, "temperature": 0},
}
SAMPLING_ENDPOINTS = {"/api/predict": {}, "/api/generate": {"max_new_tokens": 2}}


def _post(client, path, body):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(path, content=raw, headers={"content-type": "application/json"})


def _assert_clear_error(response, status, *words):
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    for word in words:
        assert word.lower() in detail.lower(), detail


@pytest.mark.parametrize("path", TEXT_ENDPOINTS)
@pytest.mark.parametrize("text", ["", "   ", "\n\t \n"])
def test_empty_or_blank_text(tiny_client, path, text):
    response = _post(tiny_client, path, {"text": text, **TEXT_ENDPOINTS[path]})
    if path == "/api/tokenize":  # an empty text has zero tokens; whitespace has its tokens
        assert response.status_code == 200
        assert response.json()["count"] == len(tiny_client.app.state.engine.tokenizer.encode(text))
    else:
        _assert_clear_error(response, 422, "text")


@pytest.mark.parametrize("path", TEXT_ENDPOINTS)
def test_a_megabyte_of_text_is_refused_before_it_is_read(tiny_client, path):
    _assert_clear_error(_post(tiny_client, path, {"text": "a" * 1_000_000, **TEXT_ENDPOINTS[path]}), 413, "bytes")


@pytest.mark.parametrize("path", TEXT_ENDPOINTS)
def test_text_over_the_character_limit_names_the_limit(tiny_client, path):
    limit = tiny_client.app.state.engine.settings.max_prompt_chars
    _assert_clear_error(_post(tiny_client, path, {"text": "word " * limit, **TEXT_ENDPOINTS[path]}), 413, str(limit))


@pytest.mark.parametrize("path", TEXT_ENDPOINTS)
@pytest.mark.parametrize("body,words", [
    ('{"text": "unterminated', ["JSON"]),
    ("[1, 2, 3]", []),
    ('{"text": 42}', ["text"]),
    ('{"text": ["a"]}', ["text"]),
    ('{"text": null}', ["text"]),
    ("{}", ["text"]),
    ('{"text": "a\\ud800b"}', ["surrogate"]),
    ('{"text": "hello", "unknown_option": 1}', ["unknown_option"]),
])
def test_malformed_bodies(tiny_client, path, body, words):
    if body.startswith('{"text"') and "unknown" not in body and body.endswith("}"):
        body = body[:-1] + "".join(f', "{k}": {json.dumps(v)}' for k, v in TEXT_ENDPOINTS[path].items()) + "}"
    _assert_clear_error(_post(tiny_client, path, body), 422, *words)


@pytest.mark.parametrize("path", TEXT_ENDPOINTS)
def test_invalid_utf8_gets_a_400(tiny_client, path):
    _assert_clear_error(_post(tiny_client, path, b'{"text": "\xff\xfe bad"}'), 400, "UTF-8")


@pytest.mark.parametrize("path", TEXT_ENDPOINTS)
def test_control_characters_are_just_text(tiny_client, path):
    response = _post(tiny_client, path, {"text": "bell\x07 esc\x1b[31m nul\x00 end", **TEXT_ENDPOINTS[path]})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", SAMPLING_ENDPOINTS)
@pytest.mark.parametrize("field,value", [
    ("temperature", -0.5), ("temperature", "NaN"), ("temperature", "Infinity"),
    ("top_k", -1), ("top_k", 10**12), ("top_k", 2.5),
    ("top_p", 0), ("top_p", -0.1), ("top_p", 1.5), ("top_p", "NaN"),
])
def test_sampling_settings_out_of_range(tiny_client, path, field, value):
    literal = value if isinstance(value, str) else json.dumps(value)  # NaN/Infinity as bare JSON tokens
    extra = "".join(f', "{k}": {json.dumps(v)}' for k, v in SAMPLING_ENDPOINTS[path].items())
    body = f'{{"text": "the bank", "{field}": {literal}{extra}}}'
    _assert_clear_error(_post(tiny_client, path, body), 422, field)


@pytest.mark.parametrize("layer,head,field", [(2, 0, "layer"), (-1, 0, "layer"), (0, 4, "head"), (0, -1, "head")])
def test_layer_or_head_out_of_range_names_the_valid_range(tiny_client, layer, head, field):
    response = _post(tiny_client, "/api/attention", {"text": "the bank", "layer": layer, "head": head})
    assert 400 <= response.status_code < 500
    detail = response.json()["detail"]
    top = 1 if field == "layer" else 3  # the tiny model: 2 layers, 4 heads
    assert field in detail and (f"0 and {top}" in detail or f"0..{top}" in detail), detail


def test_generation_longer_than_the_limit_is_refused(tiny_client):
    limit = tiny_client.app.state.engine.settings.max_new_tokens
    _assert_clear_error(_post(tiny_client, "/api/generate", {"text": "the", "max_new_tokens": limit + 1}),
                        422, str(limit))


def test_wrong_content_type_is_refused(tiny_client):
    response = tiny_client.post("/api/predict", content="text=hello", headers={"content-type": "text/plain"})
    assert response.status_code == 415 and "Content-Type: application/json" in response.json()["detail"]


def test_a_chunked_body_over_the_limit_is_413_not_a_parse_error(tiny_client):
    # Regression: with no Content-Length the limit trips while FastAPI reads the body, which it
    # reported as 400 "could not be parsed: send UTF-8 encoded JSON".
    limit = tiny_client.app.state.settings.max_body_bytes

    def chunks():
        yield b'{"text": "'
        for _ in range(limit // 1024 + 2):
            yield b"a" * 1024
        yield b'"}'

    response = tiny_client.post("/api/tokenize", content=chunks(), headers={"content-type": "application/json"})
    _assert_clear_error(response, 413, "bytes")


@pytest.mark.parametrize("path", [*TEXT_ENDPOINTS, "/api/network/train", "/api/embeddings/map"])
def test_a_missing_body_says_what_to_send(tiny_client, path):
    response = tiny_client.post(path)
    _assert_clear_error(response, 422, "no JSON body", "send a JSON object", "/docs")
    hint = response.json()["detail"].split("such as ", 1)
    if len(hint) == 2:  # the endpoint's first documented example (tests/app/test_openapi.py runs them all)
        assert isinstance(json.loads(hint[1].rsplit(" (/docs", 1)[0]), dict)


def test_a_long_rejected_value_is_cut_inside_its_quotes(tiny_client):
    response = _post(tiny_client, "/api/predict", {"text": "a", "temperature": "x" * 200})
    _assert_clear_error(response, 422, "temperature")
    assert "'" + "x" * 60 + "…')" in response.json()["detail"]


# --- parsing that nothing breaks (app/parsing.py) ------------------------------------------------

from app.parsing import MAX_DEPTH, nesting_depth  # noqa: E402


def test_nesting_depth_counts_brackets_outside_strings():
    assert nesting_depth(b'{"a": [1, {"b": "[[[[ {{"}]}') == 3
    assert nesting_depth(b'{"a": "\\"[[["}') == 1 and nesting_depth(b'"x"') == 0 and nesting_depth(b"") == 0
    assert nesting_depth(b"[" * 100_000 + b"]" * 100_000) == 100_000  # no recursion, however deep
    assert json.loads(json.dumps({"w": {"layers": [{"weights": [[0.5]]}]}})) and \
        nesting_depth(json.dumps({"w": {"layers": [{"weights": [[0.5]]}]}}).encode()) == 6


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 950, 990, 5000, 30_000])
@pytest.mark.parametrize("path", ["/api/predict", "/api/generate", "/api/attention/senses", "/api/network/train"])
def test_deeply_nested_bodies_get_a_json_422(tiny_client, path, depth):
    for inner in ('{"a": ' * depth + "1" + "}" * depth, "[" * depth + "]" * depth):
        for body in (inner, '{"text": %s}' % inner, '{"text": "hi", "x": %s}' % inner):
            response = _post(tiny_client, path, body)
            assert response.status_code == 422, response.text[:200]
            error = response.json()
            assert error["code"] == "too_deep" and error["limit"] == MAX_DEPTH and error["actual"] >= depth


def test_nesting_within_the_limit_is_read_as_usual(tiny_client):
    inner = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    response = _post(tiny_client, "/api/predict", '{"text": %s}' % inner)
    assert response.status_code == 422 and response.json()["field"] == "text"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_a_body_not_sent_as_json_gets_a_415_naming_the_header(tiny_client, content_type):
    headers = {} if content_type is None else {"content-type": content_type}
    response = tiny_client.post("/api/predict", content=b'{"text": "hi"}', headers=headers)
    assert response.status_code == 415, response.text
    error = response.json()
    assert error["code"] == "unsupported_media_type" and error["field"] == "content-type"
    assert "Content-Type: application/json" in error["detail"]
    openai = tiny_client.post("/v1/completions", content=b'{"model": "x"}', headers=headers).json()
    assert openai["error"]["code"] == "unsupported_media_type" and "Content-Type" in openai["error"]["message"]


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON", "application/merge-patch+json"])
def test_json_content_types_are_read(tiny_client, content_type):
    response = tiny_client.post("/api/tokenize", content=b'{"text": "hi"}', headers={"content-type": content_type})
    assert response.status_code == 200 and response.json()["count"] == 2


def test_head_answers_wherever_get_does_without_a_body(tiny_client):
    for path in ["/", "/predict", "/api/model", "/api/tokenize?text=hi", "/v1/models", "/openapi.json",
                 "/static/css/app.css", "/api/predict?text=hi"]:
        get, head = tiny_client.get(path), tiny_client.head(path)
        assert get.status_code == head.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"], path
    assert tiny_client.head("/nowhere").status_code == 404


@pytest.mark.parametrize("path", ["/openapi.json", "/static/css/app.css", "/api/model", "/", "/predict?text=Hello",
                                  "/attention?text=Hello", "/tokens?text=abc", "/network", "/chat", "/why?text=Hi"])
def test_a_heads_headers_are_the_gets_as_sent_compressed_too(tiny_client, path):
    """Content-Encoding and Content-Length of a HEAD are the GET's, where the GET is gzipped as well."""
    gzip = {"accept-encoding": "gzip"}
    get, head = tiny_client.get(path, headers=gzip), tiny_client.head(path, headers=gzip)
    assert get.headers.get("content-encoding") == head.headers.get("content-encoding"), path
    assert get.headers.get("content-length") == head.headers.get("content-length"), path
    assert head.content == b""
    if len(get.content) >= 2048:  # the compression middleware's minimum size
        assert head.headers["content-encoding"] == "gzip"


@pytest.mark.parametrize("body", [{"text": "hi", "top_k": True}, {"text": "hi", "temperature": False},
                                  {"text": "hi", "n_predictions": True}, {"text": "hi", "append_ids": [5, True]},
                                  {"text": "hi", "ablate": [{"layer": True, "head": 0}]}])
def test_booleans_are_not_numbers(tiny_client, body):
    response = _post(tiny_client, "/api/predict", body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid"
    field = response.json()["field"]
    assert field.split(".")[0] in body and ("true" in response.json()["detail"] or "false" in response.json()["detail"])


def test_booleans_are_not_numbers_in_the_openai_endpoints(tiny_client):
    name = tiny_client.get("/v1/models").json()["data"][0]["id"]
    for extra in ({"max_tokens": True}, {"logprobs": True}, {"seed": False}, {"temperature": True}, {"prompt": [1, True]}):
        response = _post(tiny_client, "/v1/completions", {"model": name, "prompt": "hi", **extra})
        assert response.status_code == 400 and response.json()["error"]["param"].startswith(next(iter(extra))), extra
