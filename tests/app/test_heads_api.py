"""GET /api/heads and GET /api/heads/probe on the tiny model."""

import pytest

from model import head_probes as hp


def test_heads_lists_every_head_layer_major_with_scores_and_roles(tiny_client, tiny_engine):
    r = tiny_client.get("/api/heads")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"probes", "heads"}
    assert set(body["probes"]) == {"previous_token", "induction", "first_token"}
    assert all(isinstance(s, str) and s.endswith(".") for s in body["probes"].values())
    cfg = tiny_engine.cfg
    heads = body["heads"]
    assert len(heads) == cfg.n_layers * cfg.n_heads
    assert [(x["layer"], x["head"]) for x in heads] == [(l, h) for l in range(cfg.n_layers) for h in range(cfg.n_heads)]
    group = cfg.n_heads // cfg.n_kv_heads
    for x in heads:
        assert set(x) == {"layer", "head", "kv_head", "scores", "role"}
        assert x["kv_head"] == x["head"] // group
        s = x["scores"]
        assert set(s) == {"previous_token", "induction", "first_token"}
        assert x["role"] == hp.role(s["previous_token"], s["induction"], s["first_token"])


def test_the_probe_shows_one_head_on_a_repeated_random_sequence(tiny_client):
    heads = {(x["layer"], x["head"]): x for x in tiny_client.get("/api/heads").json()["heads"]}
    scores = []
    for sequence in range(hp.INDUCTION_SEQUENCES):
        r = tiny_client.get("/api/heads/probe", params={"layer": 1, "head": 2, "sequence": sequence})
        assert r.status_code == 200
        body = r.json()
        R = body["period"]
        ids = [t["id"] for t in body["tokens"]]
        assert len(ids) == 2 * R and ids[:R] == ids[R:]
        w = body["weights"]
        assert all(sum(row) == pytest.approx(1, abs=1e-4) for row in w)
        assert body["score"] == pytest.approx(sum(w[i][i - R + 1] for i in range(R, 2 * R)) / R, abs=1e-4)
        scores.append(body["score"])
    # The head's induction score in /api/heads is the mean over the probe's sequences.
    assert body["induction"] == pytest.approx(heads[(1, 2)]["scores"]["induction"], abs=1e-4)
    assert sum(scores) / len(scores) == pytest.approx(body["induction"], abs=1e-3)
    assert body["role"] == heads[(1, 2)]["role"]


@pytest.mark.parametrize("params, field", [({"layer": 99, "head": 0}, "layer"), ({"layer": 0, "head": -1}, "head"),
                                           ({"layer": 0, "head": 0, "sequence": 10_000}, "sequence")])
def test_the_probe_refuses_a_head_or_sequence_out_of_range(tiny_client, params, field):
    r = tiny_client.get("/api/heads/probe", params=params)
    assert r.status_code == 422
    assert r.json()["field"] == field and r.json()["code"] == "out_of_range"


def test_the_scores_are_written_beside_the_weights_and_read_back_by_the_next_server(tmp_path, make_client, monkeypatch):
    from app.engine import Engine
    from app.settings import Settings
    from model.tiny import tiny_model

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"a stand-in GGUF: only its identity matters here")
    settings = Settings(data_dir=tmp_path, max_prompt_tokens=64)
    first = make_client(Engine(*tiny_model(seed=0), settings, source=str(gguf))).get("/api/heads").json()
    cached = list((tmp_path / "cache").glob("*-heads-v*.json"))
    assert len(cached) == 1

    def no_passes(*args):
        raise AssertionError("measured again instead of reading the cache")

    monkeypatch.setattr(hp, "pass_scores", no_passes)
    again = make_client(Engine(*tiny_model(seed=0), settings, source=str(gguf))).get("/api/heads").json()
    assert again == first
