import math

import pytest
import torch

from app.engine import Engine
from model.sampling import distribution


def post(client, **body):
    return client.post("/api/predict", json={"text": "the bank of the river", **body})


def test_predictions_are_softmax_over_the_vocabulary_most_probable_first(tiny_client, tiny_engine):
    data = post(tiny_client, temperature=0.7, n_predictions=30).json()
    probs = [p["probability"] for p in data["predictions"]]
    assert probs == sorted(probs, reverse=True) and len(probs) == 30
    ids = torch.tensor([t["id"] for t in data["tokens"]])
    with torch.inference_mode():
        logits = tiny_engine.model(ids)[-1]
    expected = (logits / 0.7).softmax(-1)
    for p in data["predictions"]:
        assert math.isclose(p["probability"], float(expected[p["id"]]), rel_tol=1e-4)
        assert math.isclose(p["logit"], float(logits[p["id"]]), rel_tol=1e-4, abs_tol=1e-5)


def test_top_k_and_top_p_mark_which_tokens_can_be_drawn(tiny_client):
    data = post(tiny_client, top_k=4, n_predictions=10).json()
    assert [p["allowed"] for p in data["predictions"]] == [True] * 4 + [False] * 6
    assert data["draw"]["allowed_count"] == 4
    assert math.isclose(sum(p["sample_probability"] for p in data["predictions"]), 1.0, rel_tol=1e-5)
    data = post(tiny_client, top_k=0, top_p=0.05, n_predictions=10).json()
    kept = [p for p in data["predictions"] if p["allowed"]]
    assert sum(p["probability"] for p in kept[:-1]) < 0.05 <= sum(p["probability"] for p in kept)


def test_temperature_zero_allows_only_the_most_probable_token(tiny_client):
    data = post(tiny_client, temperature=0).json()
    assert [p["allowed"] for p in data["predictions"][:3]] == [True, False, False]


def test_ablation_returns_predictions_with_heads_off_and_the_baseline(tiny_client):
    plain = post(tiny_client).json()
    assert plain["baseline"] is None and plain["ablated"] == []
    data = post(tiny_client, ablate=[{"layer": 1, "head": 2}, {"layer": 0, "head": 3}, {"layer": 1, "head": 2}]).json()
    assert data["ablated"] == [{"layer": 0, "head": 3}, {"layer": 1, "head": 2}]
    assert data["baseline"] == plain["predictions"]
    assert data["predictions"] != plain["predictions"]


@pytest.mark.parametrize("ablate, message", [
    ([{"layer": 2, "head": 0}], "ablate.0.layer is 2; this model's layers are 0 to 1"),
    ([{"layer": 0, "head": 0}, {"layer": 0, "head": 4}], "ablate.1.head is 4; every layer has heads 0 to 3"),
])
def test_heads_out_of_range_are_a_422_naming_the_valid_range(tiny_client, ablate, message):
    response = post(tiny_client, ablate=ablate)
    assert response.status_code == 422 and message in response.json()["detail"]


@pytest.mark.parametrize("body, field", [
    ({"temperature": -1}, "temperature"), ({"top_p": 0}, "top_p"), ({"top_k": -2}, "top_k"),
    ({"ablate": [{"layer": -1, "head": 0}]}, "ablate.0.layer"), ({"text": ""}, "text"), ({"tempurature": 1}, "tempurature"),
])
def test_bad_settings_are_a_422_naming_the_field(tiny_client, body, field):
    response = post(tiny_client, **body)
    assert response.status_code == 422 and field in response.json()["detail"]


def test_a_guess_is_ranked_among_the_whole_vocabulary(tiny_client):
    data = post(tiny_client, n_predictions=200, guess="ab").json()
    guess = data["guess"]
    assert guess["tokens_in_guess"] == 2 and guess["token"]["text"] == "a"
    ranked = [p["id"] for p in data["predictions"]]
    assert ranked.index(guess["token"]["id"]) + 1 == guess["rank"]
    assert post(tiny_client, guess="").status_code == 422


def test_logit_lens_has_a_top_token_per_layer_and_position(tiny_client):
    data = tiny_client.post("/api/logit-lens", json={"text": "the bank of the river", "last": 4}).json()
    n = len(data["tokens"])
    assert data["positions"] == list(range(n - 4, n))
    assert data["layers"] == ["embed", "layer 0", "layer 1"]
    assert [len(row) for row in data["cells"]] == [4, 4, 4]
    assert all(0 < c["probability"] <= 1 for row in data["cells"] for c in row)
    assert [c["target_probability"] is None for c in data["cells"][0]] == [False, False, False, True]
    # The last layer's lens at the last position is the model's own prediction.
    top = post(tiny_client).json()["predictions"][0]
    assert data["cells"][-1][-1]["id"] == top["id"]
    assert math.isclose(data["cells"][-1][-1]["probability"], top["probability"], rel_tol=1e-4)


def test_surprise_gives_each_tokens_probability_given_the_tokens_before_it(tiny_client, tiny_engine):
    data = tiny_client.post("/api/surprise", json={"text": "the bank"}).json()
    first, *rest = data["tokens"]
    assert first["probability"] is None and first["expected"] is None
    ids = torch.tensor([t["id"] for t in data["tokens"]])
    with torch.inference_mode():
        probs = tiny_engine.model(ids).softmax(-1)
    for i, t in enumerate(rest, start=1):
        assert math.isclose(t["probability"], float(probs[i - 1, ids[i]]), rel_tol=1e-4)
        assert math.isclose(t["surprisal_bits"], -math.log2(t["probability"]), rel_tol=1e-6)
        assert t["expected"]["id"] == int(probs[i - 1].argmax())


@pytest.mark.real
def test_the_capital_of_france_is_paris(real_client):
    data = real_client.post("/api/predict", json={"text": "The capital of France is"}).json()
    top = data["predictions"][0]
    assert top["text"] == " Paris" and math.isclose(top["probability"], 0.7725, abs_tol=0.002)
    lens = real_client.post("/api/logit-lens", json={"text": "The capital of France is", "last": 2}).json()
    assert len(lens["cells"]) == 31 and lens["cells"][-1][-1]["text"] == " Paris"
    out = real_client.post("/api/predict", json={"text": "The capital of France is", "ablate": [{"layer": 30, "head": 0}]})
    assert out.status_code == 422 and "0 to 29" in out.json()["detail"]



def test_append_ids_are_read_as_given_not_re_tokenized(tiny_client, tiny_engine):
    """A generated piece of a character has no text of its own: sent back as text it would become
    U+FFFD, a different character; sent by id, the model reads exactly what it wrote."""
    tk = tiny_engine.tokenizer
    pieces = tk.encode(" 🐦")[:2]                      # the emoji's first bytes, not yet a character
    assert "\ufffd" in tk.decode(pieces)
    ids = tk.encode("the bank") + pieces
    body = {"text": "the bank", "append_ids": pieces, "top_k": 0, "n_predictions": 3}
    data = tiny_client.post("/api/predict", json=body).json()
    assert [t["id"] for t in data["tokens"]] == ids
    assert [t["start"] for t in data["tokens"][-2:]] == [8, 8]
    with torch.inference_mode():
        expected = torch.softmax(tiny_engine.model(torch.tensor(ids))[-1], -1)
    assert data["predictions"][0]["id"] == int(expected.argmax())
    assert abs(data["predictions"][0]["probability"] - float(expected.max())) < 1e-5
    as_text = tiny_client.post("/api/predict", json={"text": "the bank" + tk.decode(pieces)}).json()
    assert [t["id"] for t in as_text["tokens"]] != ids       # what the page used to send: another sequence
    for path in ("/api/surprise", "/api/logit-lens"):
        got = tiny_client.post(path, json={"text": "the bank", "append_ids": pieces}).json()
        assert [t["id"] for t in got["tokens"]] == ids
    gen = tiny_client.post("/api/generate", json={"text": "the bank", "append_ids": pieces, "max_new_tokens": 1}).json()
    assert [t["id"] for t in gen["prompt_tokens"]] == ids


@pytest.mark.parametrize("body, status, message", [
    ({"text": "the", "append_ids": [-1]}, 422, "append_ids.0 is -1; token ids are 0 to"),
    ({"text": "the", "append_ids": [1, 10**9]}, 422, "append_ids.1 is 1000000000"),
    ({"text": "the", "append_ids": [5] * 600}, 413, "tokens together; the limit is 64 tokens"),
])
def test_bad_append_ids_are_4xx_naming_the_entry(tiny_client, body, status, message):
    for path in ("/api/predict", "/api/surprise", "/api/logit-lens", "/api/generate"):
        r = tiny_client.post(path, json=body)
        assert r.status_code == status and message in r.json()["detail"], (path, r.text)


def test_append_ids_do_not_go_with_chat_messages(tiny_client):
    r = tiny_client.post("/api/generate", json={"messages": [{"role": "user", "content": "hi"}], "append_ids": [5]})
    assert r.status_code == 422 and "append_ids" in r.json()["detail"]


@pytest.mark.parametrize("ablate, message", [
    ([{"layer": -1, "head": 0}], "ablate.0.layer:"),                   # found by the schema
    ([{"layer": 5, "head": 0}], "ablate.0.layer is 5"),                # found against the model
    ([{"layer": 0, "head": 0}, {"layer": 0, "head": -2}], "ablate.1.head:"),
    ([{"layer": 0, "head": 0}, {"layer": 0, "head": 7}], "ablate.1.head is 7"),
])
def test_a_bad_head_is_named_the_same_way_whichever_check_finds_it(tiny_client, ablate, message):
    r = tiny_client.post("/api/predict", json={"text": "the", "ablate": ablate})
    assert r.status_code == 422 and r.json()["detail"].startswith(message), r.text


def test_append_ids_alone_make_the_prompt_when_text_is_empty(tiny_client, tiny_engine):
    """A notebook holding ids (from /api/tokenize or an earlier generation) can send them alone."""
    ids = tiny_engine.tokenizer.encode("the bank")
    for path in ("/api/predict", "/api/surprise", "/api/logit-lens", "/api/generate"):
        by_ids = tiny_client.post(path, json={"text": "", "append_ids": ids})
        assert by_ids.status_code == 200, (path, by_ids.text)
        tokens = by_ids.json()["prompt_tokens" if path == "/api/generate" else "tokens"]
        assert [t["id"] for t in tokens] == ids
    by_text = tiny_client.post("/api/predict", json={"text": "the bank"}).json()
    assert tiny_client.post("/api/predict", json={"text": "", "append_ids": ids}).json()["predictions"] == \
        by_text["predictions"]
    for body in ({"text": ""}, {"text": "", "append_ids": []}, {"text": "  ", "append_ids": ids}):
        r = tiny_client.post("/api/predict", json=body)
        assert r.status_code == 422 and "text is empty" in r.json()["detail"]


def test_predictions_carry_their_bytes_so_a_piece_of_a_character_can_be_labelled(tiny_client):
    """A predicted token that is part of a character has text "�": its bytes (hex) and `partial` let a
    chart label it as the token chips do ("F0 9F"), never "�"."""
    data = tiny_client.post("/api/predict", json={"text": "the bank", "n_predictions": 200}).json()
    cells = tiny_client.post("/api/logit-lens", json={"text": "the bank", "last": 1}).json()["cells"]
    rows = data["predictions"] + [c for row in cells for c in row]
    for p in rows:
        raw = bytes.fromhex(p["bytes"].replace(" ", ""))
        try:
            whole = raw.decode("utf-8") == p["text"]
        except UnicodeDecodeError:
            whole = False
        assert p["partial"] is not whole, p
    assert any(p["partial"] for p in data["predictions"]), "no piece of a character among 200: pick another prompt"
