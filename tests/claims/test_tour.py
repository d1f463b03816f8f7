"""Claims of the tour (/), checked on the real model (docs/CLAIMS.md, section "The tour")."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest


# --- "as points" (chapter 3's view in the tour) -------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("text", ["The capital of France is", "Once upon a time, there was a"])
def test_the_points_view_places_the_prompts_own_tokens(page, text):
    """The map's points are looked up as the prompt has its words: 'The' first (no space), ' capital' after a
    space; every point's tokens are a run of the prompt's own tokens (it looked up '␣The' before)."""
    from urllib.parse import quote

    with page.expect_response(lambda r: r.url.endswith("/api/embeddings/map")) as answer:
        page.goto("/?text=" + quote(text))
    points = answer.value.json()["points"]
    prompt = page.request.post("/api/tokenize", data={"text": text}).json()["tokens"]
    ids = [t["id"] for t in prompt]
    for p in points:
        run = [t["id"] for t in p["tokens"]]
        assert any(ids[i:i + len(run)] == run for i in range(len(ids))), (p["word"], run)
    assert points[0]["word"] == text.split()[0] and points[0]["tokens"][0]["id"] == ids[0]
    page.wait_for_selector("#j-points .main-svg")
    labels = page.locator("#j-points g.textpoint").all_text_contents()
    assert labels[0] == text.split()[0] and labels[1] == "␣" + text.split()[1].strip(",")


# --- the model card and the chapter summaries (quantisation, tokens, tied embedding) ---------------


def test_api_model_reports_the_storage_types_the_gguf_holds(real_engine, real_client):
    """The model card's 'Stored as' comes from GET /api/model `storage`, which must agree with an
    independent read of the GGUF's header."""
    from gguf import GGUFReader

    reader = GGUFReader(str(Path(real_engine.source)))
    tensors, weights = Counter(), Counter()
    for t in reader.tensors:
        tensors[t.tensor_type.name] += 1
        weights[t.tensor_type.name] += int(t.n_elements)
    storage = real_client.get("/api/model").json()["storage"]
    assert {s["type"]: (s["tensors"], s["weights"]) for s in storage} == \
        {k: (tensors[k], weights[k]) for k in tensors}
    assert [s["weights"] for s in storage] == sorted((s["weights"] for s in storage), reverse=True)
    bits = {s["type"]: s["bits_per_weight"] for s in storage}
    # Q4_1 block: float16 scale + float16 minimum + 32 four-bit codes = 20 bytes per 32 weights.
    if "Q4_1" in bits:
        assert bits["Q4_1"] == (2 + 2 + 16) * 8 / 32
    # Q8_0 block: float16 scale + 32 one-byte codes = 34 bytes per 32 weights.
    if "Q8_0" in bits:
        assert bits["Q8_0"] == (2 + 32) * 8 / 32
    # Every stored weight is a weight the model computes with (the tied unembedding is counted once).
    assert sum(weights.values()) == real_engine.n_params


def test_smollm2_is_mostly_4_bit_with_an_8_bit_embedding(smollm2):
    """README: 'most matrices as 4-bit blocks, the embedding as 8-bit'."""
    from gguf import GGUFReader

    types = {t.name: t.tensor_type.name for t in GGUFReader(str(Path(smollm2.source))).tensors}
    assert types["token_embd.weight"] == "Q8_0"
    matrices = [k for k in types if k.endswith(("attn_q.weight", "attn_k.weight", "attn_v.weight",
                                                 "attn_output.weight", "ffn_gate.weight", "ffn_up.weight",
                                                 "ffn_down.weight"))]
    assert {types[k] for k in matrices} == {"Q4_1"}
    assert smollm2.storage[0].type == "Q4_1"


def test_the_space_makes_a_different_token(smollm2):
    """Chapter 2's summary: '“␣France” (id 4649) and “France” (id 33488) are two different tokens'."""
    tk = smollm2.tokenizer
    assert tk.encode(" France") == [4649]
    assert tk.encode("France") == [33488]


def test_the_output_layer_reuses_the_input_embedding(smollm2):
    """Chapter 5's summary and the model card: 'compared with every row of the embedding table (the same
    table as at the start, read the other way)'; 'an output layer that reuses the input embedding table'."""
    assert smollm2.model.unembed.weight is smollm2.model.embed.weight


@pytest.mark.browser
def test_the_model_card_and_the_lede_say_the_weights_are_quantised(page):
    page.goto("/")
    page.wait_for_selector("#storage-fact:not([hidden])")
    storage = page.evaluate("() => fetch('/api/model').then((r) => r.json()).then((m) => m.storage)")
    card = page.locator("#storage-types").inner_text()
    for s in storage:
        assert s["type"] in card
    lede = page.locator(".tour-hero .lede").inner_text()
    assert "quantised" in lede and "tiny network" in lede
    toy = [c for c in ("1", "4b") if page.locator(f"#progress-steps .step-num:text-is('{c}')").count()]
    assert all(c in lede for c in toy) and "1" in toy
    explain = page.locator("#storage-explain").inner_text()
    assert "cannot show how different" in explain and "slightly" not in explain
    types = {s["type"] for s in storage}
    if {"Q4_1", "Q8_0"} <= types:
        assert "one of 16 (Q4_1) or 256 (Q8_0) levels of its block" in explain
    if "F32" in types:
        assert "(F32) are stored as they are" in explain


def test_a_quantised_block_holds_at_most_16_or_256_levels(smollm2):
    """The model card: 'each quantised weight is one of 16 (Q4_1) or 256 (Q8_0) levels of its block' (it said
    'every weight is one of a few rounded values': 256 is not a few, and the 35,136 F32 norm weights are not
    rounded). Checked by dequantising the GGUF's blocks with the gguf package, independently of model/."""
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize

    tensors = {t.name: t for t in GGUFReader(str(Path(smollm2.source))).tensors}
    q4 = tensors["blk.0.attn_q.weight"]                       # Q4_1: at most 16 values in a block of 32
    w = dequantize(q4.data, q4.tensor_type).reshape(-1, 32)[:2000]
    assert max(len(np.unique(block)) for block in w) == 16
    q8 = tensors["token_embd.weight"]                          # Q8_0: float16 scale + 32 int8 codes
    raw = np.asarray(q8.data).reshape(-1, 34)[:2000]
    scale = raw[:, :2].copy().view(np.float16).astype(np.float32)
    codes = raw[:, 2:].copy().view(np.int8).astype(np.float32)
    w = dequantize(q8.data, q8.tensor_type).reshape(-1, 32)[:2000]
    assert np.allclose(w, scale * codes)                        # each weight = scale x one of 256 codes
    assert len(np.unique(codes)) > 200
    f32 = [t for t in tensors.values() if t.tensor_type.name == "F32"]
    assert all(t.name.endswith("norm.weight") for t in f32)


@pytest.mark.browser
def test_the_attention_view_explains_the_sink_with_the_prompts_numbers(page):
    """The tour's attention view gives this head's share of attention on the first token, computed
    from the weights it draws, and names the attention sink when the share is large."""
    page.goto("/?text=The%20capital%20of%20France%20is&layer=3&head=2")
    page.wait_for_function("() => document.querySelector('#attention-explain').textContent.includes('first token,')")
    data = page.evaluate("""() => fetch('/api/attention', {method: 'POST', headers: {'content-type': 'application/json'},
      body: JSON.stringify({text: 'The capital of France is', layer: 3, head: 2})}).then((r) => r.json())""")
    w = data["weights"]
    share = sum(row[0] for row in w[1:]) / (len(w) - 1)
    text = page.locator("#attention-explain").inner_text()
    v = share * 100  # as plots.js `percent` writes it
    shown = f"{v:.0f}%" if v >= 10 else f"{v:.1f}%" if v >= 1 else f"{v:.2f}%"
    assert f"this head puts {shown} of its attention on the first token" in text
    assert ("attention sink" in text) == (share >= 0.3)


# --- chapter 3's card: puppy − dog + cat ---------------------------------------------------------


def test_the_analogy_lands_nearest_to_an_input_before_kitten(real_client):
    """The card said 'puppy − dog + cat lands nearest to ␣kitten'; measured: nearest of all is ␣puppy itself
    (0.83), ␣kitten only once the three inputs are left out (0.77). The card now says both, from the API's
    `with_inputs` and `results`."""
    d = real_client.post("/api/embeddings/analogy", json={"a": "puppy", "b": "dog", "c": "cat"}).json()
    assert d["with_inputs"][0]["text"] == " puppy" and d["results"][0]["text"] == " kitten"
    assert d["with_inputs"][0]["cosine"] > d["results"][0]["cosine"]


def test_the_analogys_offsets_beat_a_random_word_but_random_is_not_zero(smollm2, real_client):
    """'dog → puppy also steps from a common word toward rarer ones, a direction that cat → almost any rarer
    word shares, so even cat → a word-like token about as common as kitten and with a vector about as long scores
    0.46 on average; cat → kitten still beats each of 2,000 such tokens' (the card used to call cosine > 0.5
    'largely the same direction': cat → random words reach 0.62). Until the review the card said 'a word picked at
    random scores well above 0' and a typed '2,000', while the API sent chapter 3's control matched to kitten
    (mean 0.46 against 0.40 for 2,000 word-like tokens drawn uniformly; kitten beats every one of either): it now
    prints the API's control (browser: test_every_chapter_example_computes_its_caption_from_the_model)."""
    o = real_client.post("/api/embeddings/analogy", json={"a": "puppy", "b": "dog", "c": "cat"}).json()["offsets"]
    assert o["random_cosine"] > 0.3 and o["random_beaten"] == 1     # matched: 'not all of that is meaning'
    import random

    import torch

    tk = smollm2.tokenizer
    E = smollm2.model.embed.weight.detach().float()
    v = lambda w: E[tk.encode(w)[0]]  # noqa: E731
    cos = torch.nn.functional.cosine_similarity
    step = v(" puppy") - v(" dog")
    kitten = float(cos(step, v(" kitten") - v(" cat"), dim=0))
    words = [i for i in range(E.shape[0])
             if (t := tk.describe(i).text).startswith(" ") and t[1:].isalpha() and len(t) > 3]
    sample = torch.tensor(random.Random(0).sample(words, 2000))
    control = cos(step[None], E[sample] - v(" cat")[None], dim=1)
    assert kitten > float(control.max())                 # kitten beats each of 2,000 random words
    assert float(control.mean()) > 0.25                  # ... which score well above 0
    assert float((control > 0.1).float().mean()) > 0.9   # 'almost any rarer word'
    # 'toward rarer ones': the score grows with the token's id (BPE learns common merges first)
    r = torch.corrcoef(torch.stack([control, sample.float()]))[0, 1]
    assert float(r) > 0.4
    # a common word gives about 0: the shared direction is toward rarer words, not away from cat
    assert abs(float(cos(step, v(" table") - v(" cat"), dim=0))) < 0.15


def test_the_speakers_name_is_ordinary_text_after_the_start_token(real_client):
    """Chapter 6's card said the special tokens mark 'where each message starts and ends and who speaks';
    measured: only <|im_start|> and <|im_end|> are special, the role after <|im_start|> is ordinary tokens
    ('user'; 'ass' + 'istant'). The card now says so."""
    d = real_client.post("/api/chat/template", json={"messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."}]}).json()
    tokens = d["tokens"]
    assert {t["text"] for t in tokens if t["special"]} == {"<|im_start|>", "<|im_end|>"}
    starts = [i for i, t in enumerate(tokens) if t["text"] == "<|im_start|>"]
    for i in starts:
        name = ""
        for t in tokens[i + 1:]:
            if t["text"] == "\n":
                break
            assert not t["special"] and t["source"] == "template"
            name += t["text"]
        assert name in ("system", "user", "assistant")


def test_the_last_vector_is_the_embedding_plus_every_head_and_mlp(real_client):
    """Chapter 5a's card said 'The last vector is a sum of what every head and every MLP wrote'; the sum also
    holds the token's own embedding (a part of its own in /api/attribution: -0.06 for ␣Paris). The card now
    names it; the parts add up to the logit."""
    d = real_client.post("/api/attribution", json={"text": "The capital of France is"}).json()
    p = d["parts"]
    assert set(p) == {"embedding", "heads", "mlps"} and p["embedding"] != 0
    assert abs(d["parts_sum"] - d["total"]) < 1e-3


@pytest.mark.browser
def test_the_points_view_looks_a_number_up_without_the_lone_space(page):
    """For '1, 2, 3, 4,' the map looked up ' 2' as the lone '␣' plus '2' (averaged), and the caption said
    '“␣1” would be another token', '“␣2” with its space': there is no '␣1' token, and the shared '␣' moved
    2, 3 and 4 away from 1 (the first PCA axis, 79% of the spread, split 1 from the rest). Numbers are now
    looked up as the prompt's digit tokens, and the caption says the space before a number stays alone."""
    with page.expect_response(lambda r: r.url.endswith("/api/embeddings/map")) as answer:
        page.goto("/?text=1%2C%202%2C%203%2C%204%2C")
    points = answer.value.json()["points"]
    assert [p["word"] for p in points] == ["1", "2", "3", "4"]
    assert all(t["text"].strip() for p in points for t in p["tokens"])
    page.wait_for_function("() => document.querySelector('#points-explain').textContent.includes('A number')")
    text = page.locator("#points-explain").inner_text()
    assert "␣1" not in text and "␣2" not in text
    assert "the tokenizer keeps that space a token of its own" in text


@pytest.mark.parametrize("first", ["The", "A", "Le", "Our", "Paris"])
def test_the_sink_is_the_first_token_whatever_it_says(smollm2, first):
    """'it parks the weight on the first token, which every token can see, whatever it says': on the tour's
    default head (layer 23, head 4) the share on the first token stays large when that token is changed
    (measured 0.67-0.73 over these first words, 0.68 for 'The')."""
    a = smollm2.analysis(smollm2.prompt(f"{first} capital of France is"))
    w = a.attn_pattern[23, 4]
    assert float(w[1:, 0].mean()) > 0.5


def test_most_heads_mostly_look_at_the_first_token(real_client):
    """Chapter 4's card said each layer's heads 'look for different things'; measured by the head probes
    (GET /api/heads): 162 of 270 heads have no role but the first token, 8 are previous-token or induction
    heads. The card now says each head can look for something different and most mostly look at the
    first token."""
    heads = real_client.get("/api/heads").json()["heads"]
    roles = [h["role"] for h in heads]
    assert roles.count("first_token") > len(heads) / 2
    # 'mostly': more than half of their attention, on average over ordinary text
    assert sum(h["scores"]["first_token"] > 0.5 for h in heads) > len(heads) / 2


def test_chapter_2s_card_says_pieces_of_an_emojis_bytes(smollm2, real_client):
    """Chapter 2's card said the tokenizer cuts text into '… even the separate bytes of an emoji'; its own example's
    🍕 is ␣F0 9F | 8D | 95 (a piece of two bytes with the space, then two single bytes). The card now says 'even
    pieces of an emoji's bytes'."""
    tk = smollm2.tokenizer
    assert [tk.token_bytes(i) for i in tk.encode(" 🍕")] == [b" \xf0\x9f", b"\x8d", b"\x95"]
    assert [tk.token_bytes(i) for i in tk.encode("🍕")] == [b"\xf0\x9f", b"\x8d", b"\x95"]
    page = real_client.get("/").text
    assert "separate bytes of an emoji" not in page and "even pieces of an emoji's bytes" in page


def test_points_close_on_the_tours_map_need_not_be_close_in_all_the_numbers(smollm2, real_client):
    """Pinned (the tour's "As points" caption): "Words used alike have vectors that point alike, but two
    directions keep only part of the 576 numbers: two points close here need not be close in all of them."
    It said "Words used alike land close together": on the tour's own river-bank example, several words'
    nearest point on the map is not their nearest word in all 576 numbers (cosine of the same vectors)."""
    import re

    import torch

    text = "I sat on the river bank and watched the"
    words = list(dict.fromkeys((" " if m.start() > 0 else "") + m.group()
                               for m in re.finditer(r"[^\W_][\w'’-]*", text)))   # as journey.js allWords()
    points = real_client.post("/api/embeddings/map", json={"sets": [], "texts": words, "method": "pca", "dims": 2,
                                                           "mode": "static", "neighbours": 0}).json()["points"]
    assert [p["word"] for p in points] == words
    coords = torch.tensor([p["coords"] for p in points])
    emb = smollm2.model.embed.weight
    full = torch.stack([emb[smollm2.tokenizer.encode(w)].mean(0) for w in words])
    full = torch.nn.functional.normalize(full, dim=1)
    on_map = torch.cdist(coords, coords).fill_diagonal_(float("inf")).argmin(1)
    in_all = (full @ full.T).fill_diagonal_(-2).argmax(1)
    assert int((on_map != in_all).sum()) >= len(words) // 3, (on_map.tolist(), in_all.tolist())
    source = (Path(__file__).parents[2] / "static/js/tour/journey.js").read_text()
    assert "land close together" not in source and "sit close together" not in source
    served = " ".join(real_client.get("/").text.split())   # the caption before the tour draws its map
    assert "sit close together" not in served and "Words used alike have vectors that point alike" in served
