"""The API reference (/openapi.json, shown at /docs) is what a programmer reads first: its
examples must run as they are, its names must be readable, and it must list the errors each
endpoint really gives."""

import contextlib
import io
import json
import re
import types

import pytest

OWN = ("/api/model", "/api/attention", "/api/attention/all", "/api/attention/senses", "/api/attention/senses/heads",
       "/api/predict", "/api/logit-lens", "/api/surprise", "/api/generate")


def _doc(client) -> dict:
    return client.get("/openapi.json").json()


def _examples(doc: dict, path: str) -> dict:
    return doc["paths"][path]["post"]["requestBody"]["content"]["application/json"].get("examples", {})


def test_every_model_endpoint_offers_request_examples(tiny_client):
    doc = _doc(tiny_client)
    for path in OWN[1:]:
        assert _examples(doc, path), f"{path} has no example request in /docs"


def test_every_example_request_in_the_reference_is_answered_200_by_the_real_model(real_client):
    """"Try it out" in /docs sends the example picked; before, the default /api/generate body held
    both `text` and `messages` and a seed past the limit, and answered 422."""
    doc = _doc(real_client)
    for path in OWN[1:]:
        for name, example in _examples(doc, path).items():
            r = real_client.post(path, json=example["value"])
            assert r.status_code == 200, (path, name, r.text)
    chat = real_client.post("/api/generate", json=_examples(doc, "/api/generate")["chat"]["value"]).json()
    assert chat["stop_reason"] == "stop_token" and "Paris" in chat["text"]
    # The ids the append_ids example names are what its description says they are.
    ids = real_client.post("/api/tokenize", json={"text": " Paris."}).json()["tokens"]
    assert [t["id"] for t in ids] == _examples(doc, "/api/predict")["append_ids"]["value"]["append_ids"]


def test_schema_names_are_readable_and_every_reference_resolves(tiny_client):
    doc = _doc(tiny_client)
    names = set(doc["components"]["schemas"])
    assert not [n for n in names if n.startswith("app__")]
    assert {"PredictIn", "PredictOut", "NetworkPredictIn", "NetworkPredictOut"} <= names
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(doc)))
    assert refs <= names
    assert "ErrorOut" not in names  # every error is documented as `Error`


def test_errors_are_documented_only_where_they_can_happen(tiny_client):
    paths = _doc(tiny_client)["paths"]
    # GET /api/model has no input and never waits for the model: it cannot answer 4xx or 503.
    assert set(paths["/api/model"]["get"]["responses"]) == {"200"}
    for path in OWN[1:]:
        responses = paths[path]["post"]["responses"]
        assert {"400", "413", "422", "503"} <= set(responses)
        assert responses["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_model_info_fields_are_all_described(tiny_client):
    schemas = _doc(tiny_client)["components"]["schemas"]
    for name in ("ModelInfo", "ServerLimits"):
        undescribed = [f for f, s in schemas[name]["properties"].items() if "description" not in s]
        assert undescribed == [], name


def test_the_stream_is_documented_as_an_event_stream_with_its_events(tiny_client):
    op = _doc(tiny_client)["paths"]["/api/generate"]["post"]
    stream = op["responses"]["200"]["content"]["text/event-stream"]
    assert set(stream) <= {"schema", "example", "examples", "encoding"}  # OpenAPI's media type fields
    for event in ("`start`", "`token`", "`done`", "`error`"):
        assert event in op["description"]


@pytest.fixture
def chat_client(make_client):
    from app.engine import Engine
    from app.settings import Settings
    from model.tiny import tiny_model
    model, tokenizer = tiny_model(seed=0)
    return make_client(Engine(model, tokenizer, Settings(max_prompt_tokens=120, max_prompt_chars=600,
                                                         max_new_tokens=32)))


def test_the_python_stream_example_in_the_reference_runs_and_prints_the_reply(chat_client):
    """The snippet a notebook user copies from /docs, run as written against the app."""
    description = _doc(chat_client)["paths"]["/api/generate"]["post"]["description"]
    code = re.search(r"```python\n(.*?)```", description, re.S).group(1)
    assert 'httpx.stream("POST", "http://127.0.0.1:8000/api/generate"' in code
    fake_httpx = types.SimpleNamespace(
        stream=lambda method, url, **kw: chat_client.stream(method, url.replace("http://127.0.0.1:8000", ""), **kw))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code.replace("import json, httpx", "import json"), {"httpx": fake_httpx})
    printed = out.getvalue()
    body = re.search(r"body = (\{.*\})", code).group(1).replace("True", "true")
    expected = chat_client.post("/api/generate", json={**json.loads(body), "stream": False}).json()
    reply, done = printed.rsplit("\ndone ", 1)
    assert reply == "".join(g["delta"] for g in expected["generated"])
    assert eval(done) == {"text": expected["text"], "stop_reason": expected["stop_reason"],
                          "count": len(expected["generated"])}


def test_every_operation_has_its_own_summary(tiny_client):
    """Swagger lists operations by summary: two called "Predict" (next token, 3x3 network) confused."""
    summaries = [op["summary"] for item in _doc(tiny_client)["paths"].values() for op in item.values()]
    assert len(summaries) == len(set(summaries)), sorted(summaries)


@pytest.mark.parametrize("path", ["/api/heads", "/api/embeddings/first-position"])
def test_a_get_that_runs_the_model_documents_its_503(make_client, path):
    """The document said a GET without parameters never waits for the model, so GET /api/heads (which
    measures every head on its first request) and GET /api/embeddings/first-position listed only 200;
    past the model's queue they answer 503 `busy`, now documented."""
    from app.engine import Engine
    from app.settings import Settings
    from model.tiny import tiny_model
    model, tokenizer = tiny_model(seed=0)
    engine = Engine(model, tokenizer, Settings(max_queue=1))
    client = make_client(engine)
    engine._waiting = engine.settings.max_queue  # the queue is full: the next model job is refused
    try:
        r = client.get(path)
    finally:
        engine._waiting = 0
    assert r.status_code == 503 and r.json()["code"] == "busy"
    assert "503" in _doc(client)["paths"][path]["get"]["responses"]


def test_a_routes_own_error_description_is_kept(tiny_client):
    """POST /api/learn documents its own 503 (`training_busy`, a run already going on); the document
    replaced it with the common 'The server is busy'."""
    responses = _doc(tiny_client)["paths"]["/api/learn"]["post"]["responses"]
    assert "training_busy" in responses["503"]["description"]


def test_integer_bounds_are_the_ones_the_server_enforces(tiny_client):
    """The seeds' bound is 2**63 - 1 (pydantic's le); FastAPI's OpenAPI model turned it into a float,
    written back as 2**63, a seed the server refuses."""
    doc = _doc(tiny_client)
    for name in ("GenerateIn", "CompletionIn", "ChatCompletionIn"):
        seed = doc["components"]["schemas"][name]["properties"]["seed"]
        assert [b["maximum"] for b in seed["anyOf"] if b.get("type") == "integer"] == [2**63 - 1], name
    top = 2**63 - 1
    ok = tiny_client.post("/api/generate", json={"text": "hi", "max_new_tokens": 1, "seed": top})
    assert ok.status_code == 200 and ok.json()["seed"] == top
    assert tiny_client.post("/api/generate", json={"text": "hi", "max_new_tokens": 1, "seed": top + 1}).status_code == 422


@pytest.mark.real
def test_the_stream_example_shows_what_the_real_model_sends(real_client):
    """POST /api/generate's event-stream example is the answer to its "stream" example request; its first
    token's probability said 0.36 where SmolLM2 gives 0.93."""
    doc = _doc(real_client)
    shown = doc["paths"]["/api/generate"]["post"]["responses"]["200"]["content"]["text/event-stream"]["example"]
    body = _examples(doc, "/api/generate")["stream"]["value"]
    from tests.app.test_generate_api import events as parse_events

    events = parse_events(real_client.post("/api/generate", json=body).text)
    (_, start), (_, first), (_, done) = events[0], events[1], events[-1]
    token_line = next(line for line in shown.splitlines() if line.startswith('data: {"index": 0'))
    assert f'"seed": {start["seed"]}' in shown and f'"id": {start["prompt_tokens"][0]["id"]}' in shown
    for key in ("id", "text", "display", "bytes", "partial", "special", "delta"):
        assert f'"{key}": {json.dumps(first[key])}' in token_line, key
    assert f'"probability": {first["probability"]:.2f}' in token_line
    done_line = next(line for line in shown.splitlines() if line.startswith('data: {"text"'))
    assert done["text"].startswith(re.search(r'"text": "(.*?) \.\.\."', done_line).group(1))
    assert f'"stop_reason": "{done["stop_reason"]}", "count": {done["count"]}' in done_line
