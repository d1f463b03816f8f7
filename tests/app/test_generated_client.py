"""A client generated from /openapi.json by `openapi-python-client` (a third-party generator
nobody here wrote) covers every operation without a warning, and every operation called through
it answers a documented status that the client parses into its own models. The tiny model keeps
it quick; its limits (2 layers, 4 heads) are in the schema it generates from."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from app.engine import Engine
from app.main import create_app
from app.settings import Settings
from model.tiny import tiny_model

pytest.importorskip("openapi_python_client")
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "transformer_tour_client"
CHAT = [{"role": "user", "content": "hi"}]
SENSES = [["the river bank", "the wide river bank"], ["I paid the bank", "we paid the bank"]]

# Arguments of every operation (by operationId): body for a POST, query parameters for a GET.
# `None` entries are filled in by the test (they need an answer from another operation first).
CALLS = {
    "get_model": {}, "list_models": {}, "get_heads": {}, "get_network_dataset": {}, "get_embeddings_sets": {},
    "get_embeddings_first_position": {},
    "post_tokenize": {"body": {"text": "the bank"}}, "get_tokenize": {"text": "the bank"},
    "post_detokenize": {"body": {"ids": [70, 71]}}, "get_detokenize": {"ids": "70,71"},
    "post_chat_template": {"body": {"messages": CHAT}}, "get_chat_template": {"messages": json.dumps(CHAT)},
    "post_network_init": {"body": {}}, "post_network_train": {"body": {"epochs": 5}},
    "get_network_train": {"epochs": 5},
    "post_network_predict": None, "post_network_gradient": None,
    "post_embeddings_map": {"body": {"sets": ["animals"]}}, "get_embeddings_map": {"sets": "animals"},
    "post_embeddings_neighbours": {"body": {"word": "cat"}},
    "post_embeddings_analogy": {"body": {"a": "man", "b": "king", "c": "woman"}},
    "post_embeddings_sentences": {"body": {"sentences": ["the cat sat", "a dog ran"]}},
    "post_attention": {"body": {"text": "the river bank", "layer": 1, "head": 3}},
    "get_attention": {"text": "the river bank", "layer": 1, "head": 3},
    "post_attention_all": {"body": {"text": "the river bank"}},
    "post_attention_senses": {"body": {"word": "bank", "groups": SENSES}},
    "post_attention_senses_heads": {"body": {"word": "bank", "control": "table", "groups": SENSES,
                                             "cues": [["river"], ["paid"]]}},
    "get_heads_probe": {"layer": 1, "head": 0},
    "post_inside": {"body": {"text": "the river bank", "layer": 1, "head": 2}},
    "get_inside": {"text": "the river bank", "layer": 1, "head": 2},
    "post_learn": {"body": {"seed": 0, "steps": 3}}, "get_learn_start": {"seed": 0, "steps": 3},
    "post_learn_knockout": {"body": {"sequences": 1, "draws": 1}},
    "post_predict": {"body": {"text": "the bank", "n_predictions": 3, "ablate": [{"layer": 1, "head": 3}]}},
    "get_predict": {"text": "the bank"},
    "post_logit_lens": {"body": {"text": "the bank", "last": 2}},
    "post_surprise": {"body": {"text": "the bank"}},
    "post_attribution": {"body": {"text": "the bank", "ig_steps": 2}},
    "get_attribution": {"text": "the bank", "ig_steps": 2},
    "post_generate": {"body": {"text": "the bank", "max_new_tokens": 3, "temperature": 0}},
    "retrieve_model": {"model_id": "tiny-random-llama"},
    "create_completion": {"body": {"model": "tiny-random-llama", "prompt": "the bank", "max_tokens": 3,
                                   "logprobs": 2, "echo": True}},
    "create_chat_completion": {"body": {"model": "tiny-random-llama", "messages": CHAT, "max_tokens": 3,
                                        "logprobs": True, "top_logprobs": 2}},
}


@pytest.fixture(scope="module")
def app():
    model, tokenizer = tiny_model(seed=0)
    return create_app(engine=Engine(model, tokenizer, Settings(max_prompt_tokens=120, max_prompt_chars=600,
                                                               max_new_tokens=32)))


@pytest.fixture(scope="module")
def generated(app, tmp_path_factory):
    """Generate the client into a temporary directory and import it."""
    out = tmp_path_factory.mktemp("client")
    (out / "openapi.json").write_text(json.dumps(app.openapi()))
    (out / "config.yaml").write_text("post_hooks: []\n")  # no formatter needed
    done = subprocess.run([str(GENERATOR), "generate", "--path", "openapi.json", "--meta", "none",
                           "--config", "config.yaml", "--output-path", PACKAGE],
                          cwd=out, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(out))
    try:
        yield done.stdout + done.stderr, importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        shutil.rmtree(out / PACKAGE, ignore_errors=True)


def _operations(doc: dict) -> dict[str, tuple[str, str, dict]]:
    return {op["operationId"]: (path, method, op) for path, item in doc["paths"].items()
            for method, op in item.items()}


def test_the_generator_warns_about_nothing_and_every_operation_is_generated(app, generated):
    output, package = generated
    assert "Warning" not in output and "Unable" not in output, output
    for operation_id, (path, method, op) in _operations(app.openapi()).items():
        module = importlib.import_module(f"{PACKAGE}.api.{op['tags'][0]}.{operation_id}")
        assert hasattr(module, "sync_detailed"), (method, path)


def test_every_operation_called_through_the_generated_client_answers_and_parses(app, generated, make_client):
    _, package = generated
    operations = _operations(app.openapi())
    assert set(CALLS) == set(operations), "add the new operations to CALLS"
    test_client = make_client(app.state.engine)
    client = package.Client(base_url="http://testserver", raise_on_unexpected_status=True)
    client.set_httpx_client(test_client)
    weights = test_client.post("/api/network/init", json={}).json()["weights"]
    pixels = test_client.get("/api/network/dataset").json()["symbols"][0]["pixels"]
    calls = {**CALLS, "post_network_predict": {"body": {"pixels": pixels, "weights": weights}},
             "post_network_gradient": {"body": {"pixels": pixels, "weights": weights, "target": 0}}}
    for operation_id, (path, method, op) in operations.items():
        module = importlib.import_module(f"{PACKAGE}.api.{op['tags'][0]}.{operation_id}")
        kwargs = dict(calls[operation_id])
        if "body" in kwargs:
            body_type = typing.get_type_hints(module.sync_detailed)["body"]
            kwargs["body"] = body_type.from_dict(kwargs["body"])
        response = module.sync_detailed(client=client, **kwargs)
        assert response.status_code == 200, (method, path, response.content[:300])
        assert response.parsed is not None and not hasattr(response.parsed, "detail"), (method, path)
