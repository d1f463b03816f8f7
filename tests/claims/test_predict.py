"""Claims of chapter 5 (/predict): the next-token distribution and the logit lens."""

from __future__ import annotations

import math

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


# --- low temperatures: float32 rounds most probabilities to exactly 0 and the top one to exactly 1 ----

def _independent_logits(engine, text: str) -> torch.Tensor:
    with torch.inference_mode():
        # under the engine's lock: a pass the server still runs shares the model's hook points
        return engine.locked(engine.model, torch.tensor(engine.tokenizer.encode(text)))[-1]


def test_a_guess_is_ranked_on_the_logits_at_any_temperature(real_engine, real_client):
    """'Your guess “␣Berlin” is ranked #r of 49,152': the rank is the guess's place among all the
    logits, whatever the temperature. (Ranked on float32 probabilities, at temperature 0.05 every
    token after the first few reads exactly 0, and ␣Berlin came out #10 instead of #28.)"""
    text, guess = "The capital of France is", " Berlin"
    logits = _independent_logits(real_engine, text)
    first = real_engine.tokenizer.encode(guess)[0]
    expected = int((logits > logits[first]).sum()) + 1
    assert expected > 20  # far below the top: a guess among the underflowed zeros
    for temperature in (1.0, 0.05, 0.0):
        data = real_client.post("/api/predict", json={"text": text, "temperature": temperature, "guess": guess,
                                                       "n_predictions": 1}).json()
        assert data["guess"]["rank"] == expected, temperature


def test_the_bars_follow_the_logits_at_a_low_temperature(real_engine, real_client):
    """'Each bar is one token and its probability', most probable first: at temperature 0.05 the 20
    bars are still the 20 highest logits in order, though float32 rounds most of their
    probabilities to exactly 0 (a ranking of equal zeros would be arbitrary)."""
    text = "The capital of France is"
    logits = _independent_logits(real_engine, text)
    data = real_client.post("/api/predict", json={"text": text, "temperature": 0.05, "top_k": 0,
                                                   "n_predictions": 20}).json()
    probs = [p["probability"] for p in data["predictions"]]
    assert probs[0] == 1.0 and probs[-1] == 0.0  # the control: here float32 really says 1 and 0
    assert [p["id"] for p in data["predictions"]] == logits.topk(20).indices.tolist()


@pytest.mark.browser
def test_no_bar_reads_an_untrue_100_or_0_percent(page):
    """Softmax gives every token something: at temperature 0.05, where float32 says exactly 1 and 0,
    the bars read '>99.9%' and '<0.0001%', never '100.0%' or '0%'."""
    page.goto("/predict?text=The%20capital%20of%20France%20is&temperature=0.05&top_k=0")
    page.wait_for_function("() => document.querySelectorAll('#chart text.bartext').length >= 20")
    labels = page.locator("#chart text.bartext").all_text_contents()
    assert labels[0] == ">99.9%" and "<0.0001%" in labels, labels
    assert not {"100.0%", "100%", "0%", "0.0%"} & set(labels), labels


def test_the_uncertainty_is_before_top_k_and_top_p(real_engine, real_client):
    """'bits of uncertainty before top-k and top-p': the entropy of softmax(logits / T) over the
    whole vocabulary, which is not the entropy of the draw top-k leaves (the control)."""
    text = "The capital of France is"
    logits = _independent_logits(real_engine, text).double()
    for temperature in (1.0, 0.7):
        data = real_client.post("/api/predict", json={"text": text, "temperature": temperature, "top_k": 10,
                                                       "n_predictions": 1}).json()
        p = torch.softmax(logits / temperature, -1)
        whole = float(-(p * p.clamp_min(1e-300).log()).sum() / torch.log(torch.tensor(2.0)))
        kept = p.topk(10).values / p.topk(10).values.sum()
        draw = float(-(kept * kept.log()).sum() / torch.log(torch.tensor(2.0)))
        assert data["draw"]["entropy_bits"] == pytest.approx(whole, rel=1e-4)
        if temperature == 1.0:
            assert whole - draw > 0.5


@pytest.mark.browser
def test_why_this_token_opens_chapter_5a_on_the_same_text(page):
    """'Why this token? →' explains the token at the top of these bars: it opens /why on this text."""
    page.goto("/predict?text=The%20opposite%20of%20hot%20is")
    page.wait_for_function("() => document.querySelector('#why-link').href.includes('opposite')")
    page.click("#why-link")
    page.wait_for_url("**/why?text=The%20opposite%20of%20hot%20is")


def test_the_middle_rows_are_the_residual_stream_through_the_final_norm_and_unembedding(smollm2, real_client):
    """'after every one of the model's layers can be read as if it were the last: apply the final
    normalisation and the unembedding': every row, computed here from the hooks' residual stream."""
    text = "The capital of France is"
    model = smollm2.model
    ids = torch.tensor(smollm2.tokenizer.encode(text))
    names = [f"blocks.{i}.resid_post" for i in range(model.cfg.n_layers)]
    # Under the engine's lock: these hooks sit on the shared model, and a pass the server ran at the
    # same moment (a request of an earlier test still finishing) would fire them with its own tokens.
    _, cache = smollm2.locked(model.run_with_cache, ids, names=names)
    data = real_client.post("/api/logit-lens", json={"text": text, "last": len(ids)}).json()
    assert data["layers"][1:] == [f"layer {i}" for i in range(model.cfg.n_layers)]
    for i, name in enumerate(names):
        with torch.inference_mode():
            probs = torch.softmax(model.unembed(model.norm(cache[name])).double(), -1)
        # The server's pass and this one add floats in different orders (thread count, kernels), so
        # a near tie may fall either way: the server's pick must be the top one up to that noise.
        picked = torch.tensor([c["id"] for c in data["cells"][i + 1]])
        top = probs.max(-1).values
        chosen = probs.gather(-1, picked[:, None])[:, 0]
        assert ((top - chosen) <= 1e-3 * top).all(), (name, picked.tolist(), probs.argmax(-1).tolist())


def test_top_p_keeps_the_fewest_top_tokens_that_reach_p(real_engine, real_client):
    """'Only the fewest top tokens whose probabilities add up to at least p can be drawn', and
    'Only the k most probable tokens can be drawn': /api/predict's allowed tokens against an
    independent sort and cumulative sum of softmax(logits / T) over the whole vocabulary."""
    text = "The capital of France is"
    logits = _independent_logits(real_engine, text).double()
    for temperature, top_k, top_p in [(1.0, 0, 0.8), (1.5, 0, 0.5), (1.5, 5, 0.5), (0.7, 3, 1.0)]:
        data = real_client.post("/api/predict", json={"text": text, "temperature": temperature, "top_k": top_k,
                                                       "top_p": top_p, "n_predictions": 40}).json()
        probs = torch.softmax(logits / temperature, -1)
        ranked = probs.sort(descending=True)
        n = int((ranked.values.cumsum(0) < top_p).sum()) + 1 if top_p < 1 else probs.shape[0]
        if top_k:
            n = min(n, top_k)
        allowed = set(ranked.indices[:n].tolist())
        assert data["draw"]["allowed_count"] == n
        assert float(ranked.values[:n].sum()) >= min(top_p, 1.0) - 1e-6 or top_k
        assert data["draw"]["allowed_mass"] == pytest.approx(float(ranked.values[:n].sum()), rel=1e-5)
        for p in data["predictions"]:
            assert p["allowed"] == (p["id"] in allowed)
            assert p["probability"] == pytest.approx(float(probs[p["id"]]), rel=1e-4, abs=1e-9)


def test_below_1_the_favourite_grows_above_1_the_distribution_flattens(real_client):
    """'Below 1 the favourite grows, above 1 the distribution flattens': the top token's probability
    falls and the entropy rises as the temperature goes up, on several prompts."""
    for text in ("The capital of France is", "Once upon a time, there was a", "My favourite food is"):
        tops, entropies = [], []
        for temperature in (0.5, 1.0, 1.5):
            data = real_client.post("/api/predict", json={"text": text, "temperature": temperature,
                                                           "n_predictions": 1}).json()
            tops.append(data["predictions"][0]["probability"])
            entropies.append(data["draw"]["entropy_bits"])
        assert tops[0] > tops[1] > tops[2], text
        assert entropies[0] < entropies[1] < entropies[2], text


def test_surprise_is_each_tokens_probability_given_the_tokens_before_it(real_engine, real_client):
    """'each token of the text is coloured by the probability the model gave it before seeing it',
    its surprisal in bits (-log2 p), what it expected instead, and 'as unsure as choosing among N
    equally likely tokens (the perplexity)': against an independent log-softmax of a full pass."""
    text = ORDINARY[:120]
    ids = real_engine.tokenizer.encode(text)
    with torch.inference_mode():
        logp = real_engine.locked(real_engine.model, torch.tensor(ids)).double().log_softmax(-1)
    data = real_client.post("/api/surprise", json={"text": text}).json()
    assert data["tokens"][0]["probability"] is None  # 'The first token has no colour'
    bits = []
    for i, t in enumerate(data["tokens"][1:], start=1):
        expected = float(logp[i - 1, ids[i]])
        assert t["logprob"] == pytest.approx(expected, abs=1e-4)
        assert t["surprisal_bits"] == pytest.approx(-expected / math.log(2), abs=2e-4)
        assert t["expected"]["id"] == int(logp[i - 1].argmax())
        bits.append(-expected / math.log(2))
    mean = sum(bits) / len(bits)
    assert data["mean_surprisal_bits"] == pytest.approx(mean, abs=1e-4)
    nats = mean * math.log(2)
    assert 2 ** mean == pytest.approx(math.exp(nats))  # perplexity: the same in bits and nats


def test_generation_predicts_again_from_the_longer_text_without_redoing_the_earlier_tokens(real_engine, real_client):
    """The lede (and the tour's card): the model 'draws one token, appends it and predicts again from
    the longer text' and chapter 6 'says how it keeps the earlier tokens' work instead of redoing it'.
    Both said it 'does it all again' / 'starts again', which reads as a pass over the whole text per
    token. Measured on /predict's own generation (POST /api/generate with the text): every pass after
    the prompt's reads one token, and the greedy tokens are those of full passes over the longer text."""
    import re

    text, n = "The capital of France is", 6
    passes = []

    def count(x, name):
        passes.append(x.shape[0])                            # (n, d): the tokens this pass reads

    with real_engine.model.hooks({"blocks.0.resid_pre": count}):
        run = real_client.post("/api/generate", json={"text": text, "max_new_tokens": n, "temperature": 0}).json()
    generated = [t["id"] for t in run["generated"]]
    assert len(generated) == n and passes[-(n - 1):] == [1] * (n - 1)
    assert all(p == 1 for p in passes[1:])                   # at most the prompt's own pass is longer
    ids = [t["id"] for t in run["prompt_tokens"]]
    with torch.inference_mode():
        for token in generated:
            assert int(real_engine.locked(real_engine.model, torch.tensor(ids))[-1].argmax()) == token
            ids.append(token)

    for path in ("/predict", "/"):
        page = re.sub(r"\s+", " ", real_client.get(path).text)
        assert "does it all again" not in page and "starts again" not in page
        assert "appends it and predicts again from the longer text" in page
        assert re.search(r"chapter 6(</a>)? says how it keeps the earlier tokens' work instead of redoing it", page)
    # Chapter 6 says it in one sentence, and no page shows the cache at work: 'says', not 'shows' (review).
    chat = re.sub(r"\s+", " ", real_client.get("/chat").text)
    assert "Each new token costs one token's forward pass: the keys and values of everything before it are kept in " \
        "a cache." in chat and "shows how it keeps" not in page
