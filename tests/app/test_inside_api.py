"""POST /api/inside and its GET twin: one token through one layer (chapter 4a)."""

import math

import pytest
import torch

FIELDS_D = ("resid_pre", "norm1", "attn_out", "resid_mid", "norm2", "mlp_out", "resid_post")
FIELDS_F = ("mlp_gate", "mlp_up", "mlp_hidden")


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def check_identities(b, atol):
    d, dh, f = b["d_model"], b["d_head"], b["d_mlp"]
    p = b["position"]
    for name in FIELDS_D:
        assert len(b[name]) == d, name
    for name in FIELDS_F:
        assert len(b[name]) == f, name
    assert len(b["query"]) == dh and len(b["head_output"]) == dh
    assert t(b["keys"]).shape == (p + 1, dh) and t(b["values"]).shape == (p + 1, dh)
    assert len(b["scores"]) == len(b["scaled"]) == len(b["weights"]) == p + 1
    scores = t(b["keys"]) @ t(b["query"])
    assert torch.allclose(scores, t(b["scores"]), atol=atol * max(1.0, scores.abs().max().item()))
    assert torch.allclose(t(b["scaled"]), t(b["scores"]) / math.sqrt(dh), atol=atol)
    assert torch.allclose(torch.softmax(t(b["scaled"]), 0), t(b["weights"]), atol=atol)
    assert sum(b["weights"]) == pytest.approx(1, abs=1e-5)
    assert torch.allclose(t(b["weights"]) @ t(b["values"]), t(b["head_output"]), atol=atol)
    assert b["heads"][b["head"]]["output"] == b["head_output"]
    scale = lambda *names: max(1.0, *(t(b[n]).abs().max().item() for n in names))
    assert torch.allclose(t(b["resid_pre"]) + t(b["attn_out"]), t(b["resid_mid"]), atol=atol * scale("resid_mid"))
    assert torch.allclose(t(b["resid_mid"]) + t(b["mlp_out"]), t(b["resid_post"]), atol=atol * scale("resid_post"))
    assert torch.allclose(t(b["mlp_gate"]) * t(b["mlp_up"]), t(b["mlp_hidden"]), atol=atol * scale("mlp_hidden"))
    gate_pre = t(b["mlp_gate_pre"])
    assert torch.allclose(gate_pre * torch.sigmoid(gate_pre), t(b["mlp_gate"]), atol=atol)
    kv = [h["kv_head"] for h in b["heads"]]
    group = b["n_heads"] // b["n_kv_heads"]
    assert kv == [h // group for h in range(b["n_heads"])] and b["kv_head"] == b["head"] // group


# --- tiny model: shapes, identities, errors -----------------------------------------------------

def test_inside_answers_the_contract_and_its_identities_hold(tiny_client):
    r = tiny_client.post("/api/inside", json={"text": "the bank by the river", "layer": 1, "head": 3, "position": None})
    assert r.status_code == 200
    b = r.json()
    assert b["position"] == len(b["tokens"]) - 1 and b["kv_head"] == 1
    check_identities(b, atol=2e-5)
    assert len(b["layers"]) == b["n_layers"]
    assert b["layers"][1]["resid_post"] == pytest.approx(float(t(b["resid_post"]).norm()), rel=1e-4)


def test_inside_weights_are_the_attention_row_of_chapter_4(tiny_client):
    text = "the bank by the river"
    for layer, head, p in [(0, 0, 0), (1, 2, 3), (1, 3, 7)]:
        inside = tiny_client.post("/api/inside", json={"text": text, "layer": layer, "head": head, "position": p}).json()
        row = tiny_client.post("/api/attention", json={"text": text, "layer": layer, "head": head}).json()["weights"][p]
        assert inside["weights"] == row[: p + 1]
        assert all(w == 0 for w in row[p + 1:])


def test_the_get_twin_answers_as_the_post(tiny_client):
    body = {"text": "the bank", "layer": 0, "head": 1, "position": 2}
    posted = tiny_client.post("/api/inside", json=body).json()
    got = tiny_client.get("/api/inside", params=body).json()
    assert got == posted
    last = tiny_client.get("/api/inside", params={"text": "the bank", "layer": 0, "head": 1}).json()
    assert last["position"] == len(last["tokens"]) - 1


@pytest.mark.parametrize("change, status, says", [
    ({"layer": 2}, 422, "layer must be between 0 and 1"),
    ({"head": -1}, 422, "head must be between 0 and 3"),
    ({"position": 3}, 422, "position must be between 0 and 2"),
    ({"position": -1}, 422, "position must be between 0 and 2"),
    ({"text": ""}, 422, "text is empty"),
    ({"text": "x" * 401}, 413, "limit is 400"),
    ({"heads": 1}, 422, "heads"),
])
def test_bad_requests_say_what_to_change(tiny_client, change, status, says):
    body = {"text": "the bank", "layer": 0, "head": 0, "position": None, **change}
    r = tiny_client.post("/api/inside", json=body)
    assert r.status_code == status, r.text
    assert says in r.json()["detail"]
    r = tiny_client.get("/api/inside", params={k: v for k, v in body.items() if v is not None and k != "heads"})
    if "heads" not in change:
        assert r.status_code == status and says in r.json()["detail"]


# --- the real model: the same forward pass --------------------------------------------------------

@pytest.mark.parametrize("text, layer, head, position", [
    ("The capital of France is", 18, 1, None),
    ("The capital of France is", 0, 8, 2),
    ("I sat on the river bank and watched the water.", 23, 4, 5),
])
def test_real_model_identities_and_chapter_4s_weights(real_client, real_engine, text, layer, head, position):
    b = real_client.post("/api/inside", json={"text": text, "layer": layer, "head": head, "position": position}).json()
    check_identities(b, atol=1e-4)
    p = b["position"]
    row = real_client.post("/api/attention", json={"text": text, "layer": layer, "head": head}).json()["weights"][p]
    assert b["weights"] == row[: p + 1]
    analysis = real_engine.locked(real_engine.analysis, real_engine.prompt(text))
    # resid_post is the next layer's input, and the kept keys/values are the pass's own.
    assert torch.allclose(t(b["resid_post"]), analysis.resid[layer + 1, p].double(), atol=1e-4)
    kv = analysis.kv_cache
    assert torch.allclose(t(b["keys"]), kv.keys[layer][b["kv_head"], : p + 1].double(), atol=1e-5)
    if layer + 1 < b["n_layers"]:
        nxt = real_client.post("/api/inside", json={"text": text, "layer": layer + 1, "head": head,
                                                     "position": position}).json()
        assert nxt["resid_pre"] == b["resid_post"]


def test_real_model_block_rerun_reproduces_the_kept_pass(real_engine):
    """The values not kept by the Analysis come from running the block again on its kept input:
    that run gives back what the pass kept (attention weights, attn_out, mlp_out, resid_post)."""
    from model.inside import rerun_block

    analysis = real_engine.locked(real_engine.analysis, real_engine.prompt("The capital of France is"))
    for layer in (0, 18, 29):
        run = real_engine.locked(rerun_block, analysis, layer)
        assert torch.allclose(run["attn.pattern"], analysis.attn_pattern[layer], atol=1e-5)
        assert torch.allclose(run["attn_out"], analysis.attn_out[layer], atol=1e-4)
        assert torch.allclose(run["mlp_out"], analysis.mlp_out[layer], atol=1e-3 * analysis.mlp_out[layer].abs().max())
        assert torch.allclose(run["resid_post"], analysis.resid[layer + 1], rtol=1e-5, atol=1e-3)
