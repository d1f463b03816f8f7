"""POST /api/attention and /api/attention/all (the sense test: test_attention_senses_api.py)."""

import base64

import pytest
import torch

from model import attention_views as views


# --- tiny model: shapes, invariants, errors -----------------------------------------------------

def test_one_head_has_n_by_n_weights_whose_rows_sum_to_one_and_never_look_ahead(tiny_client):
    r = tiny_client.post("/api/attention", json={"text": "the bank", "layer": 1, "head": 3})
    assert r.status_code == 200
    body = r.json()
    n = len(body["tokens"])
    w = torch.tensor(body["weights"])
    assert w.shape == (n, n) and n > 2
    assert torch.allclose(w.sum(-1), torch.ones(n), atol=1e-5)
    assert (w.triu(1) == 0).all()
    assert body["kv_head"] == 1                                 # heads 2, 3 read key/value head 1


def test_append_ids_are_read_as_given_as_in_predict(tiny_client, tiny_engine):
    """The tour sends the tokens a learner picked by id: a piece of a character stays the piece the
    model wrote (as text it would be U+FFFD, another token), and attention and predict read one prompt."""
    tk = tiny_engine.tokenizer
    pieces = tk.encode(" 🐦")[:2]
    assert "\ufffd" in tk.decode(pieces)
    body = {"text": "the bank", "append_ids": pieces, "layer": 1, "head": 3}
    data = tiny_client.post("/api/attention", json=body).json()
    ids = tk.encode("the bank") + pieces
    assert [t["id"] for t in data["tokens"]] == ids and data["tokens"][-1]["partial"]
    assert len(data["weights"]) == len(ids)
    predicted = tiny_client.post("/api/predict", json={"text": "the bank", "append_ids": pieces}).json()
    assert [t["id"] for t in predicted["tokens"]] == ids
    bad = tiny_client.post("/api/attention", json={**body, "append_ids": [10**9]})
    assert bad.status_code == 422 and bad.json()["field"] == "append_ids.0"


@pytest.mark.parametrize("field, value, expected", [
    ("layer", 2, "layer must be between 0 and 1"),
    ("layer", -1, "layer must be between 0 and 1"),
    ("head", 4, "head must be between 0 and 3"),
])
def test_out_of_range_layer_or_head_is_a_422_naming_the_valid_range(tiny_client, field, value, expected):
    body = {"text": "the bank", "layer": 0, "head": 0, field: value}
    r = tiny_client.post("/api/attention", json=body)
    assert r.status_code == 422
    assert expected in r.json()["detail"]


@pytest.mark.parametrize("body, status, says", [
    ({"text": "", "layer": 0, "head": 0}, 422, "text is empty"),
    ({"text": "x" * 401, "layer": 0, "head": 0}, 413, "limit is 400"),
    ({"text": "hi", "layer": "one", "head": 0}, 422, "layer"),
    ({"text": "hi", "layer": 0}, 422, "head"),
    ({"text": "hi", "layer": 0, "head": 0, "heads": 3}, 422, "heads"),
])
def test_bad_single_head_requests_say_what_to_change(tiny_client, body, status, says):
    r = tiny_client.post("/api/attention", json=body)
    assert r.status_code == status and says in r.json()["detail"]


def test_all_heads_decode_to_the_single_head_weights_within_the_stated_precision(tiny_client):
    text = "the bank by the river"
    body = tiny_client.post("/api/attention/all", json={"text": text}).json()
    n, L, h = len(body["tokens"]), body["n_layers"], body["n_heads"]
    assert (L, h, body["kv_head_of"]) == (2, 4, [0, 0, 1, 1])
    decoded = views.decode_lower_uint8(base64.b64decode(body["data"]), (L, h), n)
    for layer in range(L):
        for head in range(h):
            exact = tiny_client.post("/api/attention", json={"text": text, "layer": layer, "head": head}).json()
            gap = (decoded[layer, head] - torch.tensor(exact["weights"])).abs().max().item()
            assert gap <= body["max_error"] + 1e-6
    assert body["scale"] == pytest.approx(1 / 255)


def test_all_heads_refuses_a_prompt_longer_than_its_limit(tiny_engine, make_client):
    from app.engine import Engine
    settings = tiny_engine.settings.model_copy(update={"max_all_heads_tokens": 5})
    client = make_client(Engine(tiny_engine.model, tiny_engine.tokenizer, settings))
    r = client.post("/api/attention/all", json={"text": "the bank by the river"})
    assert r.status_code == 413 and "at most 5 tokens" in r.json()["detail"]


# --- the real model ------------------------------------------------------------------------------

@pytest.mark.real
@pytest.mark.reference
def test_a_heads_weights_agree_with_the_reference_implementation(real_client, real_engine, hf_reference):
    text = "I sat on the river bank"
    ids = torch.tensor(real_engine.tokenizer.encode(text))
    with torch.inference_mode():
        attentions = hf_reference(ids[None], output_attentions=True).attentions
    for layer, head in [(0, 0), (3, 2), (29, 8)]:
        body = real_client.post("/api/attention", json={"text": text, "layer": layer, "head": head}).json()
        ours = torch.tensor(body["weights"])
        assert (ours - attentions[layer][0, head]).abs().max().item() < 1e-4


@pytest.mark.real
def test_real_model_names_its_own_valid_ranges(real_client):
    r = real_client.post("/api/attention", json={"text": "Hello", "layer": 30, "head": 0})
    assert r.status_code == 422 and "between 0 and 29" in r.json()["detail"]
    r = real_client.post("/api/attention", json={"text": "Hello", "layer": 0, "head": 9})
    assert r.status_code == 422 and "between 0 and 8" in r.json()["detail"]


@pytest.mark.real
def test_all_270_heads_of_a_64_token_prompt_travel_in_under_1_5_mb(real_client, real_engine):
    words = "one two three four five six seven eight nine ten".split()
    text = " ".join(words[i % 10] for i in range(64))
    assert len(real_engine.tokenizer.encode(text)) == 64
    r = real_client.post("/api/attention/all", json={"text": text})
    assert r.status_code == 200 and len(r.content) < 1.5e6
    body = r.json()
    assert (body["n_layers"], body["n_heads"], body["kv_head_of"]) == (30, 9, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    decoded = views.decode_lower_uint8(base64.b64decode(body["data"]), (30, 9), 64)
    analysis = real_engine.analyses.get(tuple(real_engine.tokenizer.encode(text)))
    assert (decoded - analysis.attn_pattern).abs().max().item() <= body["max_error"] + 1e-6


def test_the_page_counts_the_tiny_models_layers_and_heads_everywhere(tiny_client):
    # 2 layers of 4 query heads: no explanation may still say 9 patterns or layers 0 to 29.
    html = tiny_client.get("/attention").text
    text = " ".join(html.split())
    assert 'id="layer" min="0" max="1"' in text
    assert "How alike are the 4 patterns of" in text
    assert "(0 at the top, 1 at the bottom)" in text
    assert "9 patterns" not in text and "29 at the bottom" not in text


@pytest.mark.real
def test_the_first_tokens_vector_grows_as_the_sink_note_says(real_engine):
    # The honest note: about 150 times a typical token's length after layer 11, still 30 to 50 times
    # after layer 27. Checked on the page's first example.
    from model.analysis import analyse
    a = analyse(real_engine.model, real_engine.tokenizer, "The capital of France is Paris. The capital of Italy is")
    norms = a.resid.float().norm(dim=-1)                                   # (L+1, n); [l+1] is after layer l
    ratio = (norms[:, 0] / norms[:, 1:].median(dim=1).values).tolist()
    assert ratio[11] < 5 < 100 < ratio[12] < 200                           # the jump happens in layer 11
    assert 30 < ratio[28] < 50
