"""Claims of chapter 5 (/predict): the next-token distribution and the logit lens."""

from __future__ import annotations

import pytest
import torch

ORDINARY = ("The history of the city goes back more than two thousand years. In the summer, visitors walk "
            "along the river and eat in small restaurants. She opened the door, looked at the garden and smiled.")


def test_the_embedding_is_tied(smollm2):
    """'This model turns tokens into vectors and scores them at the end with the same matrix (tied)'."""
    model = smollm2.model
    assert model.unembed.weight is model.embed.weight


def _bottom_row(engine, ids: list[int]) -> torch.Tensor:
    """The logit lens's bottom row computed here, independently of model/lens.py: final norm of the
    embedding row, scored against every embedding row."""
    model = engine.model
    with torch.inference_mode():
        x = model.embed.weight[ids]                                    # (n, d)
        normed = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + model.cfg.norm_eps) * model.norm.weight
        return (normed @ model.embed.weight.T).argmax(-1)               # (n,)


def test_the_bottom_row_often_names_the_token_being_read_but_not_always(smollm2):
    """'a token's vector is often its own best match and the row names the token being read. Not
    always': on ordinary text most positions name themselves, and some do not."""
    ids = smollm2.tokenizer.encode(ORDINARY)
    named = _bottom_row(smollm2, ids)
    own = sum(int(n) == i for n, i in zip(named.tolist(), ids))
    assert own > len(ids) / 2
    assert own < len(ids)


def test_on_the_default_prompt_the_bottom_row_misnames_france(smollm2, real_client):
    """The issue's counterexample, kept as a regression: reading '␣France' the embedding alone names
    another token, so the page must not say the bottom row always points back."""
    data = real_client.post("/api/logit-lens", json={"text": "The capital of France is", "last": 5}).json()
    tokens = data["tokens"]
    bottom = {tokens[p]["text"]: cell for p, cell in zip(data["positions"], data["cells"][0])}
    assert bottom[" France"]["text"] != " France"
    assert bottom[" France"]["probability"] > 0.9
    assert bottom[" capital"]["text"] == " capital"
    independent = _bottom_row(smollm2, [t["id"] for t in tokens]).tolist()
    assert [c["id"] for c in data["cells"][0]] == independent


def test_a_token_that_outscores_the_one_being_read_has_a_longer_vector(smollm2):
    """'a score is a dot product, which grows with the length of the other token's vector, and some
    tokens have vectors long enough to outscore it': over the whole vocabulary, every token the
    bottom row names instead of the one being read has the longer embedding."""
    model = smollm2.model
    E = model.embed.weight
    norms = E.norm(dim=-1)
    misnamed = 0
    for start in range(0, E.shape[0], 4096):
        ids = list(range(start, min(start + 4096, E.shape[0])))
        named = _bottom_row(smollm2, ids)
        wrong = named != torch.tensor(ids)
        misnamed += int(wrong.sum())
        assert bool((norms[named[wrong]] > norms[torch.tensor(ids)[wrong]]).all())
    assert misnamed > 0


def test_the_top_row_is_the_models_own_prediction(real_client):
    """'The top row is the model's own prediction', with the probability /api/predict gives."""
    text = "The opposite of hot is"
    lens = real_client.post("/api/logit-lens", json={"text": text, "last": 1}).json()
    top = lens["cells"][-1][-1]
    best = real_client.post("/api/predict", json={"text": text, "n_predictions": 1}).json()["predictions"][0]
    assert top["id"] == best["id"]
    assert top["probability"] == pytest.approx(best["probability"], rel=1e-5)


@pytest.mark.browser
def test_the_lens_notes_are_computed_from_the_lens(page):
    """The page's per-prompt sentences about the lens agree with /api/logit-lens for that prompt."""
    text = "The capital of France is"
    page.goto("/predict?text=" + text.replace(" ", "%20"))
    page.wait_for_function("() => document.querySelector('#lens-answer').textContent.length > 0")
    data = page.evaluate("""(text) => fetch('/api/logit-lens', {method: 'POST', headers: {'content-type':
      'application/json'}, body: JSON.stringify({text, last: 12})}).then((r) => r.json())""", text)
    m = len(data["positions"])
    misses = [(data["tokens"][p], c) for p, c in zip(data["positions"], data["cells"][0])
              if data["tokens"][p]["id"] != c["id"]]
    bottom = page.locator("#lens-bottom").inner_text()
    assert f"at {m - len(misses)} of the {m} positions" in bottom
    for read, named in misses[:3]:
        assert f"at “{read['display']}” it names “{named['display']}”" in bottom
    answer = data["cells"][-1][-1]
    rows = [row[-1]["id"] == answer["id"] for row in data["cells"]]
    note = page.locator("#lens-answer").inner_text()
    assert f"“{answer['display']}”" in note
    if not any(rows[:-1]):
        assert "No earlier row has it on top." in note
    else:
        first = rows.index(True)
        assert f"first tops a row at {data['layers'][first]}" in note or "No earlier row" in note


def test_at_temperature_zero_the_bars_show_temperature_one(real_client):
    """'0 means greedy: always the top token (the bars then show the probabilities at temperature 1)'."""
    body = {"text": "The opposite of hot is", "n_predictions": 5, "top_k": 0}
    zero = real_client.post("/api/predict", json={**body, "temperature": 0}).json()
    one = real_client.post("/api/predict", json={**body, "temperature": 1}).json()
    assert [p["id"] for p in zero["predictions"]] == [p["id"] for p in one["predictions"]]
    for a, b in zip(zero["predictions"], one["predictions"]):
        assert a["probability"] == pytest.approx(b["probability"], rel=1e-6)
    assert zero["draw"]["allowed_count"] == 1 and zero["predictions"][0]["allowed"]
