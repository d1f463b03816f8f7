"""/api/network/...: the 3x3 network's JSON API (tiny engine: no language model is needed)."""

import pytest

PLUS = [-1, 1, -1, 1, 1, 1, -1, 1, -1]
SLASH = [-1, -1, 1, -1, 1, -1, 1, -1, -1]


@pytest.fixture
def client(tiny_client):
    return tiny_client


@pytest.fixture
def weights(client):
    return client.post("/api/network/init", json={"seed": 3, "hidden": [4, 3]}).json()["weights"]


@pytest.fixture(scope="module")
def trained(tiny_engine):
    from fastapi.testclient import TestClient

    from app.main import create_app
    with TestClient(create_app(engine=tiny_engine)) as c:
        return c.post("/api/network/train", json={"pixels": PLUS}).json()


def test_dataset_lists_symbols_examples_defaults_and_limits(client):
    data = client.get("/api/network/dataset").json()
    assert [s["label"] for s in data["symbols"]] == ["+", "/", "L", "7"]
    assert data["symbols"][0]["pixels"] == PLUS
    assert len(data["train"]) == 64 and len(data["heldout"]) == 64
    assert data["defaults"] == {"hidden": [6, 5], "learning_rate": 0.5, "epochs": 200, "seed": 1}
    assert data["limits"]["hidden_max"] == 12


def test_init_is_seeded_and_shaped_by_hidden_sizes(client):
    a = client.post("/api/network/init", json={"seed": 3, "hidden": [4, 3]}).json()
    b = client.post("/api/network/init", json={"seed": 3, "hidden": [4, 3]}).json()
    c = client.post("/api/network/init", json={"seed": 4, "hidden": [4, 3]}).json()
    assert a == b and a["weights"] != c["weights"]
    assert a["sizes"] == [9, 4, 3, 4] and a["n_params"] == 9 * 4 + 4 + 4 * 3 + 3 + 3 * 4 + 4
    shapes = [(len(layer["weights"]), len(layer["weights"][0]), len(layer["biases"])) for layer in a["weights"]["layers"]]
    assert shapes == [(4, 9, 4), (3, 4, 3), (4, 3, 4)]
    assert all(-1 <= v <= 1 for layer in a["weights"]["layers"] for row in layer["weights"] for v in row)


def test_predict_returns_every_layer_and_probabilities(client, weights):
    out = client.post("/api/network/predict", json={"pixels": PLUS, "weights": weights}).json()
    assert [len(a) for a in out["activations"]] == [9, 4, 3, 4]
    assert out["activations"][0] == PLUS
    assert [len(z) for z in out["sums"]] == [4, 3, 4]
    assert sum(out["probabilities"]) == pytest.approx(1)
    assert out["prediction"] == max(range(4), key=out["probabilities"].__getitem__)
    assert out["symbol"] == ["+", "/", "L", "7"][out["prediction"]]


def test_predict_answer_changes_with_the_pixels(client, weights):
    a = client.post("/api/network/predict", json={"pixels": PLUS, "weights": weights}).json()
    b = client.post("/api/network/predict", json={"pixels": SLASH, "weights": weights}).json()
    assert a["probabilities"] != b["probabilities"]


def test_default_training_learns_the_symbols_and_the_heldout_set(trained):
    assert trained["clean_accuracy"] == 1.0
    assert trained["heldout_accuracy"][-1] >= 0.9
    assert len(trained["loss"]) == trained["epochs"] + 1 == 201
    assert trained["loss"][-1] < trained["loss"][0]
    assert trained["snapshots"][0]["epoch"] == 0 and trained["snapshots"][-1]["epoch"] == 200
    assert len(trained["snapshots"]) <= 60
    # The probe drawing is a clean "+": by the last snapshot the network says so.
    assert trained["snapshots"][-1]["activations"][0] == PLUS
    assert max(range(4), key=trained["snapshots"][-1]["activations"][-1].__getitem__) == 0


def test_trained_weights_predict_like_the_training_report(client, trained):
    out = client.post("/api/network/predict", json={"pixels": PLUS, "weights": trained["weights"]}).json()
    assert out["prediction"] == 0 and out["probabilities"][0] > 0.9
    assert out["probabilities"] == pytest.approx(trained["snapshots"][-1]["activations"][-1], abs=1e-4)


def test_training_is_reproducible_and_can_continue_from_weights(client, trained):
    again = client.post("/api/network/train", json={"pixels": PLUS}).json()
    assert again["loss"] == trained["loss"] and again["weights"] == trained["weights"]
    more = client.post("/api/network/train", json={"weights": trained["weights"], "epochs": 5}).json()
    assert more["loss"][0] == pytest.approx(trained["loss"][-1])
    assert more["snapshots"][0]["activations"] is None


def test_gradient_explains_one_weight(client, weights):
    body = {"pixels": PLUS, "target": 0, "weights": weights, "learning_rate": 0.5,
            "weight": {"layer": 1, "to": 2, "from": 1}}
    out = client.post("/api/network/gradient", json=body).json()
    assert out["error"] == pytest.approx([p - (i == 0) for i, p in enumerate(out["probabilities"])])
    assert [len(d) for d in out["deltas"]] == [4, 3, 4]
    w = out["weight"]
    assert (w["layer"], w["to"], w["from"]) == (1, 2, 1)
    assert w["weight"] == weights["layers"][1]["weights"][2][1]
    assert w["input"] == pytest.approx(out["activations"][1][1])
    assert w["gradient"] == pytest.approx(w["delta"] * w["input"])
    assert w["gradient"] == out["gradients"]["layers"][1]["weights"][2][1]
    assert w["new_weight"] == pytest.approx(w["weight"] - 0.5 * w["gradient"])
    assert w["delta"] == pytest.approx(w["slope"] * w["backflow"])
    assert w["loss"] == pytest.approx(out["loss"])


def test_gradient_without_a_weight_still_gives_every_gradient(client, weights):
    out = client.post("/api/network/gradient", json={"pixels": SLASH, "target": 1, "weights": weights}).json()
    assert out["weight"] is None
    assert len(out["gradients"]["layers"][0]["weights"]) == 4


@pytest.mark.parametrize("body, field, hint", [
    ({"pixels": [1, -1, 1]}, "pixels", "exactly 9"),
    ({"pixels": PLUS[:8] + [2]}, "pixels", "between -1 (black) and 1 (white)"),
    ({"pixels": PLUS[:8] + ["white"]}, "pixels.8", "number"),
])
def test_predict_rejects_bad_pixels_naming_the_field(client, weights, body, field, hint):
    r = client.post("/api/network/predict", json={"weights": weights, **body})
    assert r.status_code == 422
    assert r.json()["detail"].startswith(field) and hint in r.json()["detail"]


@pytest.mark.parametrize("mutate, hint", [
    (lambda w: w["layers"].pop(), "3 layers"),
    (lambda w: w["layers"][0]["weights"][0].pop(), "rows (one per neuron) of 9 numbers"),
    (lambda w: w["layers"][2]["biases"].pop(), "needs 4 biases"),
    (lambda w: w["layers"][1]["weights"][0].__setitem__(0, 1e9), "beyond"),
])
def test_predict_rejects_misshapen_weights(client, weights, mutate, hint):
    mutate(weights)
    r = client.post("/api/network/predict", json={"pixels": PLUS, "weights": weights})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("weights") and hint in r.json()["detail"]


@pytest.mark.parametrize("body, field", [
    ({"epochs": 0}, "epochs"),
    ({"epochs": 100000}, "epochs"),
    ({"learning_rate": 0}, "learning_rate"),
    ({"learning_rate": 50}, "learning_rate"),
    ({"hidden": [6, 50]}, "hidden"),
    ({"hidden": [6]}, "hidden"),
    ({"seed": -1}, "seed"),
    ({"learning_rat": 0.1}, "learning_rat"),
])
def test_train_rejects_out_of_range_settings(client, body, field):
    r = client.post("/api/network/train", json=body)
    assert r.status_code == 422
    assert r.json()["detail"].startswith(field)


def test_train_takes_hidden_sizes_from_the_weights_and_rejects_a_mismatch(client, weights):
    r = client.post("/api/network/train", json={"weights": weights, "epochs": 3})
    assert r.status_code == 200 and len(r.json()["weights"]["layers"][1]["biases"]) == 3
    r = client.post("/api/network/train", json={"weights": weights, "hidden": [6, 5]})
    assert r.status_code == 422 and "[4, 3]" in r.json()["detail"]


def test_gradient_rejects_a_weight_that_does_not_exist_and_a_bad_target(client, weights):
    r = client.post("/api/network/gradient", json={"pixels": PLUS, "target": 0, "weights": weights,
                                                   "weight": {"layer": 0, "to": 9, "from": 0}})
    assert r.status_code == 422 and "'to' must be below 4" in r.json()["detail"]
    r = client.post("/api/network/gradient", json={"pixels": PLUS, "target": 4, "weights": weights})
    assert r.status_code == 422 and r.json()["detail"].startswith("target")


def test_huge_weights_answer_without_a_server_error(client, weights):
    for layer in weights["layers"]:
        layer["weights"] = [[1e6] * len(row) for row in layer["weights"]]
    for path, extra in [("predict", {}), ("gradient", {"target": 1, "weight": {"layer": 0, "to": 0, "from": 0}})]:
        r = client.post(f"/api/network/{path}", json={"pixels": PLUS, "weights": weights, **extra})
        assert r.status_code in (200, 422), r.text
        if r.status_code == 200:
            assert "NaN" not in r.text


def test_a_diverging_run_is_a_422_that_says_to_lower_the_learning_rate(client, monkeypatch):
    from model import network as nn
    real_train = nn.train

    def diverging(*args, **kwargs):
        result = real_train(*args, **kwargs)
        result.loss[-1] = float("nan")
        return result
    monkeypatch.setattr(nn, "train", diverging)
    r = client.post("/api/network/train", json={"epochs": 2, "learning_rate": 5})
    assert r.status_code == 422 and "lower learning_rate" in r.json()["detail"]


def test_the_page_is_served(client):
    r = client.get("/network")
    assert r.status_code == 200 and "/static/js/network.js" in r.text
