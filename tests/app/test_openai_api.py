"""The OpenAI-compatible endpoints (/v1), driven by the official `openai` client against the real
model on a live server, and checked against the native API: log-probabilities equal the log of
POST /api/predict's probabilities and of POST /api/surprise's, greedy text equals POST
/api/generate's. The tiny model covers the shapes, stop sequences and errors quickly."""

from __future__ import annotations

import json
import math

import httpx
import pytest

openai = pytest.importorskip("openai")

PROMPT = "The capital of France is"


# --- the real model through the official client ------------------------------------------------


@pytest.fixture(scope="module")
def client(live_server):
    return openai.OpenAI(base_url=live_server + "/v1", api_key="anything", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def model_id(client):
    return client.models.list().data[0].id


@pytest.mark.real
def test_lists_and_retrieves_the_model(client, model_id, live_server):
    models = client.models.list().data
    assert [m.id for m in models] == [model_id] == ["SmolLM2-135M-Instruct"]
    assert client.models.retrieve(model_id).id == model_id
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("gpt-4o")
    assert err.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gpt-4o", prompt=PROMPT, max_tokens=1)


@pytest.mark.real
def test_echo_scores_the_prompt_as_surprise_and_predict_do(client, model_id, live_server):
    text = PROMPT + " Paris."
    out = client.completions.create(model=model_id, prompt=text, max_tokens=0, echo=True, logprobs=3)
    choice = out.choices[0]
    assert choice.text == text and out.usage.completion_tokens == 0
    lp = choice.logprobs
    surprise = httpx.post(live_server + "/api/surprise", json={"text": text}, timeout=60).json()["tokens"]
    assert lp.tokens == [t["text"] for t in surprise]
    assert lp.text_offset == [t["start"] for t in surprise]
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    for got, token in zip(lp.token_logprobs[1:], surprise[1:]):
        assert got == pytest.approx(math.log(token["probability"]), abs=1e-4)
    # The last position's top tokens: POST /api/predict for the text before it, at temperature 1.
    before = text[:lp.text_offset[-1]]
    predicted = httpx.post(live_server + "/api/predict", json={"text": before, "n_predictions": 3},
                           timeout=60).json()["predictions"]
    top = lp.top_logprobs[-1]
    assert list(top) == [p["text"] for p in predicted]
    for p in predicted:
        assert top[p["text"]] == pytest.approx(math.log(p["probability"]), abs=1e-4)


@pytest.mark.real
def test_greedy_completion_equals_api_generate_and_its_logprobs_equal_predict(client, model_id, live_server):
    out = client.completions.create(model=model_id, prompt=PROMPT, max_tokens=6, temperature=0, logprobs=2)
    native = httpx.post(live_server + "/api/generate", json={"text": PROMPT, "max_new_tokens": 6, "temperature": 0},
                        timeout=60).json()
    choice = out.choices[0]
    assert choice.text == native["text"] and choice.finish_reason == "length"
    assert out.usage.prompt_tokens == len(native["prompt_tokens"]) and out.usage.completion_tokens == 6
    assert choice.logprobs.tokens == [g["text"] for g in native["generated"]]
    # At temperature 0 /api/generate reports probabilities at temperature 1, as logprobs are.
    for got, g in zip(choice.logprobs.token_logprobs, native["generated"]):
        assert got == pytest.approx(math.log(g["probability"]), abs=1e-4)
    first = httpx.post(live_server + "/api/predict", json={"text": PROMPT, "n_predictions": 2},
                       timeout=60).json()["predictions"]
    assert choice.logprobs.top_logprobs[0] == pytest.approx({p["text"]: math.log(p["probability"]) for p in first},
                                                            abs=1e-4)


@pytest.mark.real
def test_streamed_chat_with_logprobs_equals_the_whole_answer_and_api_generate(client, model_id, live_server):
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    whole = client.chat.completions.create(model=model_id, messages=messages, temperature=0, max_tokens=12,
                                           logprobs=True, top_logprobs=3)
    chunks = list(client.chat.completions.create(model=model_id, messages=messages, temperature=0, max_tokens=12,
                                                 logprobs=True, top_logprobs=3, stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    content = [c for c in chunks[:-1] if c.choices[0].logprobs is not None]
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]) == whole.choices[0].message.content
    streamed = [t for c in content for t in c.choices[0].logprobs.content]
    assert [(t.token, t.logprob) for t in streamed] == [(t.token, t.logprob)
                                                         for t in whole.choices[0].logprobs.content]
    finishes = [c.choices[0].finish_reason for c in chunks[:-1]]
    assert finishes[:-1] == [None] * (len(finishes) - 1) and finishes[-1] == whole.choices[0].finish_reason
    for t in streamed:
        assert bytes(t.bytes).decode("utf-8", errors="replace") == t.token
        assert len(t.top_logprobs) == 3 and t.top_logprobs[0].logprob >= t.top_logprobs[-1].logprob
        assert t.logprob <= t.top_logprobs[0].logprob + 1e-9
    native = httpx.post(live_server + "/api/generate", json={"messages": messages, "max_new_tokens": 12,
                                                             "temperature": 0}, timeout=60).json()
    assert whole.choices[0].message.content == native["text"]
    assert whole.usage.prompt_tokens == len(native["prompt_tokens"])
    assert whole.usage.completion_tokens == len(native["generated"])
    assert whole.choices[0].finish_reason == ("stop" if native["stop_reason"] == "stop_token" else "length")
    for t, g in zip(whole.choices[0].logprobs.content, native["generated"]):
        assert t.token == g["text"] and t.logprob == pytest.approx(math.log(g["probability"]), abs=1e-4)


@pytest.mark.real
def test_a_seed_repeats_a_sampled_completion_as_api_generate_draws_it(client, model_id, live_server):
    kwargs = dict(model=model_id, prompt="Once upon a time", max_tokens=8, temperature=0.8, top_p=0.9, seed=7)
    first, again = (client.completions.create(**kwargs).choices[0].text for _ in range(2))
    native = httpx.post(live_server + "/api/generate", json={"text": "Once upon a time", "max_new_tokens": 8,
                                                             "temperature": 0.8, "top_p": 0.9, "top_k": 0,
                                                             "seed": 7}, timeout=60).json()
    assert first == again == native["text"]


# --- shapes, stops and errors on the tiny model ---------------------------------------------------


@pytest.fixture
def tiny(tiny_engine, make_client):
    return make_client(tiny_engine)


def _name(tiny):
    return tiny.get("/v1/models").json()["data"][0]["id"]


def test_a_stop_sequence_ends_the_text_before_it_streamed_or_not(tiny):
    body = {"model": _name(tiny), "prompt": "the bank", "max_tokens": 20, "temperature": 0}
    free = tiny.post("/v1/completions", json=body).json()["choices"][0]["text"]
    stop = free[3:5]
    assert stop and free.find(stop) >= 0
    cut = tiny.post("/v1/completions", json={**body, "stop": [stop]}).json()["choices"][0]
    assert cut["text"] == free[:free.find(stop)] and cut["finish_reason"] == "stop"
    lines = [line[6:] for line in tiny.post("/v1/completions", json={**body, "stop": stop, "stream": True})
             .text.split("\n\n") if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == cut["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_errors_have_the_openai_shape_and_the_native_api_keeps_its_own(tiny):
    name = _name(tiny)
    cases = [({"model": name, "prompt": "hi", "max_tokens": True}, "max_tokens"),
             ({"model": name, "prompt": "hi", "n": 2}, "n"),
             ({"model": name, "prompt": "hi", "logprobs": 21}, "logprobs"),
             ({"model": name, "prompt": "hi", "colour": 1}, "colour"),
             ({"model": name, "prompt": "x" * 1000}, "prompt"),
             ({"model": name, "prompt": "hi", "max_tokens": 10_000}, "max_tokens")]
    for body, param in cases:
        r = tiny.post("/v1/completions", json=body)
        assert r.status_code == 400, body
        error = r.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["param"] == param, error
        assert error["type"] == "invalid_request_error"
    assert tiny.post("/v1/completions", json={"model": "gpt-4", "prompt": "hi"}).status_code == 404
    r = tiny.post("/v1/chat/completions", json={"model": name, "messages": []})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
    assert tiny.post("/v1/nowhere", json={}).json()["error"]["code"] == "not_found"
    assert set(tiny.post("/api/predict", json={"text": 1}).json()) == {"detail", "code", "field", "limit", "actual"}


@pytest.mark.parametrize("path, extra, param", [
    ("/v1/completions", {"prompt": "hi", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ("/v1/completions", {"prompt": "hi", "stop": ""}, "stop"),
    ("/v1/completions", {"prompt": "hi", "stream_options": {"include_usage": True}}, "stream_options"),
    ("/v1/completions", {"prompt": ["hi", "there"]}, "prompt"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 3}, "top_logprobs"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
     "messages.0.content"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "a\ud800b"}]}, "messages.0.content"),
])
def test_a_refused_parameter_is_named_in_param(tiny, path, extra, param):
    """README: 'a bad or unsupported parameter ... a 400 naming it in `param`'. The checks across fields
    (stop sequences, stream_options, top_logprobs) and the lone-surrogate check named `body`, and a value
    that fits no member of a union named the member pydantic tried (`prompt.str`)."""
    r = tiny.post(path, content=json.dumps({"model": _name(tiny), **extra}),  # escapes \ud800 as JSON does
                  headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == param, error
    assert error["message"].startswith(param.split(".")[0]), error


def test_logprobs_zero_gives_token_logprobs_without_alternatives(tiny):
    out = tiny.post("/v1/completions", json={"model": _name(tiny), "prompt": "the bank", "max_tokens": 3,
                                              "temperature": 0, "logprobs": 0}).json()["choices"][0]["logprobs"]
    assert len(out["token_logprobs"]) == 3 and out["top_logprobs"] == [{}, {}, {}]
    assert all(v < 0 for v in out["token_logprobs"])


# --- the README's example runs ------------------------------------------------------------------


def readme_snippet(after: str) -> str:
    """The first python block of README.md after the paragraph that starts with `after`."""
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    rest = text[text.index(after):]
    return rest[rest.index("```python\n") + len("```python\n"):rest.index("\n```", rest.index("```python\n"))]


@pytest.mark.real
def test_the_readme_openai_example_runs_against_the_server(live_server, capsys):
    code = readme_snippet("**OpenAI-compatible endpoints.**").replace("http://127.0.0.1:8000", live_server)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "'The' None" and all(float(line.rsplit(" ", 1)[1]) < 0 for line in printed[1:7])
    assert "Paris" in printed[-1]


@pytest.mark.real
def test_the_readme_scoring_example_agrees_with_echo_scoring(live_server, client, model_id, capsys):
    code = readme_snippet("**Scoring a text.**").replace("http://127.0.0.1:8000", live_server)
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert capsys.readouterr().out.startswith("log p(' Paris.' | 'The capital of France is') = -")
    lp = client.completions.create(model=model_id, prompt=scope["prompt"] + scope["continuation"], max_tokens=0,
                                   echo=True, logprobs=0).choices[0].logprobs
    n = len(scope["prompt"])
    echo = sum(v for v, at in zip(lp.token_logprobs, lp.text_offset) if at >= n)
    assert scope["score"] == pytest.approx(echo, abs=1e-4) and scope["score"] < 0
