"""POST /api/learn (the tiny transformer trained live) and POST /api/learn/knockout, on the tiny model."""

from __future__ import annotations

import json
import math

import pytest
import torch

from app.training import TrainingSlot

SMALL = {"seed": 3, "steps": 25}   # a few steps: shapes and plumbing, not learning (tests/model has that)


def _events(response) -> list[tuple[str, dict]]:
    events, name = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[len("data: "):])))
    return events


def test_learn_answers_curves_heads_and_final(tiny_client):
    r = tiny_client.post("/api/learn", json=SMALL)
    assert r.status_code == 200, r.text
    body = r.json()
    config = body["config"]
    assert (config["seed"], config["steps"], config["layers"], config["heads"]) == (3, 25, 2, 4)
    assert config["uniform_loss"] == pytest.approx(math.log(config["vocab"]))
    assert body["steps"] == [0, 10, 20, 25]
    for key in ("loss", "loss_first", "loss_repeat"):
        assert len(body[key]) == 4 and all(math.isfinite(x) for x in body[key])
    assert [(h["layer"], h["head"]) for h in body["heads"]] == [(l, h) for l in range(2) for h in range(4)]
    assert all(len(h["induction"]) == len(h["previous_token"]) == 4 for h in body["heads"])
    final = body["final"]
    best = max(body["heads"], key=lambda h: h["induction"][-1])
    assert (final["best_head"]["layer"], final["best_head"]["head"]) == (best["layer"], best["head"])
    assert final["induction_head"] is None  # 25 steps are far too few to grow one
    assert final["previous_token_head"]["layer"] == 0
    sample = final["sample"]
    n = config["n_ctx"]
    assert len(sample["tokens"]) == n and len(sample["after"]["predicted"]) == n - 1
    p = sample["start"] + sample["period"]
    assert sample["tokens"][p:] == [sample["tokens"][i - sample["period"]] for i in range(p, n)]
    pattern = torch.tensor(final["pattern"])
    assert pattern.shape == (n, n) and torch.allclose(pattern.sum(-1), torch.ones(n), atol=1e-3)
    assert body["stopped"] is False


def test_stream_sends_start_progress_then_the_same_answer(tiny_client):
    plain = tiny_client.post("/api/learn", json=SMALL).json()
    with tiny_client.stream("POST", "/api/learn", json={**SMALL, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = _events(r)
    names = [name for name, _ in events]
    assert names == ["start"] + ["progress"] * 4 + ["done"]
    start, done = events[0][1], events[-1][1]
    assert start["steps"] == plain["steps"] and start["config"] == plain["config"]
    assert [e["step"] for name, e in events if name == "progress"] == plain["steps"]
    assert [e["loss_repeat"] for name, e in events if name == "progress"] == plain["loss_repeat"]
    # one thread, one seed: the streamed run and the plain one are the same numbers
    done.pop("seconds"), plain.pop("seconds")
    assert done == plain


@pytest.mark.parametrize("body, field", [
    ({"steps": 3001}, "steps"), ({"steps": 0}, "steps"), ({"layers": 3}, "layers"), ({"lr": 0}, "lr"),
    ({"lr": 1}, "lr"), ({"heads": 9}, "heads"), ({"seed": -1}, "seed"), ({"epochs": 3}, "epochs"),
])
def test_bad_settings_are_422_naming_the_field(tiny_client, body, field):
    r = tiny_client.post("/api/learn", json=body)
    assert r.status_code == 422
    assert r.json()["field"] == field


def test_a_second_run_while_one_runs_is_503_training_busy(tiny_client):
    app = tiny_client.app
    app.state.training = slot = TrainingSlot()
    assert slot._busy.acquire(blocking=False)   # as if a run were going on
    try:
        r = tiny_client.post("/api/learn", json=SMALL)
        assert r.status_code == 503 and r.json()["code"] == "training_busy"
        assert int(r.headers["retry-after"]) > 0
    finally:
        slot._busy.release()
    assert tiny_client.post("/api/learn", json=SMALL).status_code == 200


def test_training_leaves_the_model_threads_count_alone(tiny_client, tiny_engine):
    # Each thread keeps its own count (the engine's thread budget sets the model thread's per job),
    # so compare each thread with itself.
    before = tiny_engine._model_thread.submit(torch.get_num_threads).result()
    here = torch.get_num_threads()
    assert tiny_client.post("/api/learn", json=SMALL).status_code == 200
    assert tiny_engine._model_thread.submit(torch.get_num_threads).result() == before
    assert torch.get_num_threads() == here


def test_knockout_answers_losses_and_heads(tiny_client, tiny_engine):
    r = tiny_client.post("/api/learn/knockout", json={"sequences": 2, "draws": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    heads = tiny_client.get("/api/heads").json()["heads"]
    named = sorted((h for h in heads if h["role"] == "induction"), key=lambda h: -h["scores"]["induction"])
    assert [(h["layer"], h["head"]) for h in body["heads"]] == [(h["layer"], h["head"]) for h in named]
    assert len(body["random_heads"]) == 2 and len(body["loss_random_off"]) == 2
    assert all(len(r) == len(body["heads"]) for r in body["random_heads"])
    assert body["uniform_loss"] == pytest.approx(math.log(tiny_engine.cfg.vocab_size), abs=1e-4)
    assert body["sequences"] == 2


def test_knockout_rejects_too_many_sequences(tiny_client):
    r = tiny_client.post("/api/learn/knockout", json={"sequences": 11})
    assert r.status_code == 422 and r.json()["field"] == "sequences"


def test_start_get_answers_the_streams_first_two_events(tiny_client):
    """GET /api/learn/start (the /learn page's first picture): the stream's `start` event and its step-0
    `progress` event for the same settings, the same numbers (only `seconds` is its own)."""
    for settings in (SMALL, {"seed": 5, "steps": 12, "layers": 1, "heads": 2, "lr": 0.01}):
        first = tiny_client.get("/api/learn/start", params=settings)
        assert first.status_code == 200, first.text
        with tiny_client.stream("POST", "/api/learn", json={**settings, "stream": True}) as r:
            events = _events(r)
        assert events[0] == ("start", first.json()["start"])
        name, progress = events[1]
        assert name == "progress" and progress["step"] == 0
        mine = first.json()["progress"]
        assert mine["seconds"] >= 0
        progress.pop("seconds"), mine.pop("seconds")
        assert mine == progress


@pytest.mark.parametrize("query, field", [
    ({"steps": 3001}, "steps"), ({"layers": 3}, "layers"), ({"lr": 0}, "lr"), ({"heads": 9}, "heads"),
    ({"seed": -1}, "seed"), ({"seed": "x"}, "seed"),
])
def test_start_get_refuses_what_the_run_refuses(tiny_client, query, field):
    r = tiny_client.get("/api/learn/start", params=query)
    assert r.status_code == 422 and r.json()["field"] == field


def test_start_get_is_answered_while_a_run_holds_the_slot(tiny_client):
    app = tiny_client.app
    app.state.training = slot = TrainingSlot()
    assert slot._busy.acquire(blocking=False)   # as if a run were going on
    try:
        assert tiny_client.get("/api/learn/start").status_code == 200
    finally:
        slot._busy.release()


def test_the_threshold_is_described_with_the_value_it_has(tiny_client):
    """ConfigOut.threshold said it was 'the same threshold as GET /api/heads' roles'; the run's is 0.5
    and GET /api/heads names induction heads from 0.57 (model/head_probes.py). The description now states
    both, and the run's is the one it answers."""
    from model import head_probes

    threshold = tiny_client.get("/api/learn/start", params=SMALL).json()["start"]["config"]["threshold"]
    described = tiny_client.get("/openapi.json").json()["components"]["schemas"]["ConfigOut"]["properties"][
        "threshold"]["description"]
    assert threshold == head_probes.ROLE_THRESHOLD and f"({threshold}:" in described
    assert f"GET /api/heads names SmolLM2's induction heads from a score of {head_probes.INDUCTION_THRESHOLD}" \
        in described
    assert "same threshold" not in described
