"""What the views answer beyond one field: derived values the pages no longer compute (the layer
average, key/value heads), and the GET JSON twins that answer a page's URL query as POST does."""

import pytest
import torch


def test_the_layer_average_is_the_mean_of_the_heads_exact_weights(tiny_client):
    text, layer = "the bank of the river", 1
    n_heads = tiny_client.get("/api/model").json()["n_heads"]
    heads = [torch.tensor(tiny_client.post("/api/attention", json={"text": text, "layer": layer, "head": h})
                          .json()["weights"], dtype=torch.float64) for h in range(n_heads)]
    body = tiny_client.post("/api/attention", json={"text": text, "layer": layer, "head": 0, "average": True}).json()
    assert body["average"] and body["kv_head"] is None and body["shares_kv_with"] == []
    assert torch.allclose(torch.tensor(body["weights"], dtype=torch.float64), torch.stack(heads).mean(0), atol=2e-6)
    single = tiny_client.post("/api/attention", json={"text": text, "layer": layer, "head": 0}).json()
    assert not torch.allclose(torch.tensor(single["weights"]), torch.tensor(body["weights"]), atol=1e-3)


def test_key_value_heads_come_from_the_server(tiny_client):
    info = tiny_client.get("/api/model").json()
    group = info["n_heads"] // info["n_kv_heads"]
    assert info["kv_head_of"] == [h // group for h in range(info["n_heads"])]
    body = tiny_client.post("/api/attention", json={"text": "the bank", "layer": 0, "head": 2}).json()
    assert (body["n_layers"], body["n_heads"], body["n_kv_heads"]) == (info["n_layers"], info["n_heads"],
                                                                        info["n_kv_heads"])
    assert body["kv_head"] == info["kv_head_of"][2]
    assert body["shares_kv_with"] == [h for h, kv in enumerate(info["kv_head_of"]) if kv == body["kv_head"] and h != 2]


@pytest.mark.parametrize("query, post", [
    ("text=the+bank&layer=1&head=3", {"text": "the bank", "layer": 1, "head": 3}),
    ("text=the+bank&layer=0&head=0&avg=1", {"text": "the bank", "layer": 0, "head": 0, "average": True}),
])
def test_the_attention_page_query_has_a_json_twin(tiny_client, query, post):
    got = tiny_client.get(f"/api/attention?{query}")
    assert got.status_code == 200
    assert got.json() == tiny_client.post("/api/attention", json=post).json()


@pytest.mark.parametrize("query, status, code, field", [
    ("text=the&layer=9&head=0", 422, "out_of_range", "layer"),
    ("text=the&head=0", 422, "missing", "layer"),
    ("text=+&layer=0&head=0", 422, "empty", "text"),
    ("text=" + "x" * 401 + "&layer=0&head=0", 413, "too_many_characters", "text"),
])
def test_a_json_twin_refuses_as_its_post_does(tiny_client, query, status, code, field):
    r = tiny_client.get(f"/api/attention?{query}")
    assert r.status_code == status and (r.json()["code"], r.json()["field"]) == (code, field)


@pytest.mark.parametrize("query, post", [
    ("text=the+bank", {"text": "the bank"}),
    ("text=the+bank&steps=5,7,9&at=2&temperature=0.5&top_k=3",
     {"text": "the bank", "append_ids": [5, 7], "temperature": 0.5, "top_k": 3}),
])
def test_the_predict_page_query_has_a_json_twin(tiny_client, query, post):
    got = tiny_client.get(f"/api/predict?{query}")
    assert got.status_code == 200
    assert got.json() == tiny_client.post("/api/predict", json=post).json()


def test_a_predict_twin_with_unreadable_steps_is_a_422(tiny_client):
    r = tiny_client.get("/api/predict?text=the&steps=1,x")
    assert r.status_code == 422 and (r.json()["code"], r.json()["field"]) == ("invalid", "steps")
    r = tiny_client.get("/api/predict?text=the&top_k=-1")
    assert r.status_code == 422 and r.json()["field"] == "top_k"


def test_the_tokens_page_queries_have_json_twins(tiny_client):
    text = "the bank, by the river"
    got = tiny_client.get("/api/tokenize", params={"text": text})
    assert got.status_code == 200 and got.json() == tiny_client.post("/api/tokenize", json={"text": text}).json()
    ids = [t["id"] for t in got.json()["tokens"]]
    back = tiny_client.get("/api/detokenize", params={"ids": ", ".join(map(str, ids))})
    assert back.status_code == 200 and back.json() == tiny_client.post("/api/detokenize", json={"ids": ids}).json()
    assert back.json()["text"] == text
    bad = tiny_client.get("/api/detokenize", params={"ids": "1, two"})
    assert bad.status_code == 422 and (bad.json()["code"], bad.json()["field"]) == ("invalid", "ids")


def test_the_network_page_query_has_a_json_twin(tiny_client):
    got = tiny_client.get("/api/network/train?px=111101111&lr=0.5&epochs=20&h1=4&h2=3&seed=2")
    assert got.status_code == 200, got.text
    post = {"seed": 2, "hidden": [4, 3], "learning_rate": 0.5, "epochs": 20,
            "pixels": [1, 1, 1, 1, -1, 1, 1, 1, 1]}
    assert got.json() == tiny_client.post("/api/network/train", json=post).json()
    assert got.json()["snapshots"][-1]["activations"] is not None
    bad = tiny_client.get("/api/network/train?px=0101")
    assert bad.status_code == 422 and (bad.json()["code"], bad.json()["field"]) == ("invalid", "px")
    bad = tiny_client.get("/api/network/train?epochs=0")
    assert bad.status_code == 422 and bad.json()["field"] == "epochs"


def test_the_embeddings_map_query_has_a_json_twin(tiny_client):
    got = tiny_client.get("/api/embeddings/map", params={"sets": "", "words": "the, bank\nriver,an,hat", "wl": "0"})
    assert got.status_code == 200, got.text
    post = {"sets": [], "words": ["the", "bank", "river", "an", "hat"], "word_like": False, "neighbours": 10}
    assert got.json() == tiny_client.post("/api/embeddings/map", json=post).json()
    bad = tiny_client.get("/api/embeddings/map", params={"sets": "nosuchset"})
    assert bad.status_code == 422 and bad.json()["field"].startswith("sets")


def test_all_heads_carries_each_layers_average_and_the_first_token_share(tiny_client):
    import base64
    text = "the bank of the river and the bank"
    body = tiny_client.post("/api/attention/all", json={"text": text}).json()
    n, tri = len(body["tokens"]), len(body["tokens"]) * (len(body["tokens"]) + 1) // 2
    averages = base64.b64decode(body["layer_averages"])
    assert len(averages) == body["n_layers"] * tri
    for layer in range(body["n_layers"]):
        exact = torch.tensor(tiny_client.post("/api/attention", json={"text": text, "layer": layer, "head": 0,
                                                                     "average": True}).json()["weights"])
        decoded = torch.zeros(n, n)
        rows, cols = torch.tril_indices(n, n)
        decoded[rows, cols] = torch.tensor(list(averages[layer * tri:(layer + 1) * tri]), dtype=torch.float32) / 255
        assert (decoded - exact).abs().max() <= body["max_error"] + 1e-6
    heads = [torch.tensor(tiny_client.post("/api/attention", json={"text": text, "layer": l, "head": h}).json()["weights"])
             for l in range(body["n_layers"]) for h in range(body["n_heads"])]
    share = float(torch.stack([w[1:, 0] for w in heads]).mean())
    assert body["first_token_share"] == pytest.approx(share, abs=1e-5)
    one = tiny_client.post("/api/attention/all", json={"text": "a"}).json()  # one token
    assert one["first_token_share"] is None
