"""POST /api/attention/senses and /api/attention/senses/heads on the tiny model: shapes and 422s."""

import pytest

BANK = {"word": "bank", "groups": [["the river bank", "the river and the bank"], ["the money bank", "a money bank"]]}


def test_senses_has_one_entry_per_depth_and_one_occurrence_per_sentence(tiny_client, tiny_engine):
    r = tiny_client.post("/api/attention/senses", json=BANK)
    assert r.status_code == 200
    body = r.json()
    assert body["word"] == "bank"
    assert [(o["group"], o["sentence"]) for o in body["occurrences"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for o in body["occurrences"]:
        text = BANK["groups"][o["group"]][o["sentence"]]
        tokens = tiny_engine.tokenizer.tokenize(text)
        assert text[tokens[o["token_index"]].start:tokens[o["token_index"]].end].strip() == "bank"
    assert [l["layer"] for l in body["layers"]] == list(range(tiny_engine.cfg.n_layers + 1))
    # At the input embedding the word is one vector in every sentence: every cosine is 1.
    assert body["layers"][0]["within"] == pytest.approx(1, abs=1e-5)
    assert body["layers"][0]["across"] == pytest.approx(1, abs=1e-5)
    assert all(-1 <= l["within"] <= 1 and -1 <= l["across"] <= 1 for l in body["layers"])


def test_senses_within_is_null_when_every_group_has_one_sentence(tiny_client):
    r = tiny_client.post("/api/attention/senses", json={"word": "bank", "groups": [["a bank"], ["the bank"]]})
    assert r.status_code == 200
    assert all(l["within"] is None and l["across"] is not None for l in r.json()["layers"])


@pytest.mark.parametrize("body, field, says", [
    ({"word": "bank", "groups": [["the river bank"], ["the money"]]}, "groups.1.0", "does not contain the word 'bank'"),
    ({"word": "bank", "groups": [["a bank"]]}, "groups", "at least 2"),
    ({"word": "bank", "groups": [["a bank"]] * 5}, "groups", "at most 4"),
    ({"word": "bank", "groups": [["a bank"] * 7, ["a bank"]]}, "groups.0", "at most 6"),
    ({"word": "bank", "groups": [[], ["a bank"]]}, "groups.0", "at least 1"),
    ({"word": "  ", "groups": [["a bank"], ["b bank"]]}, "word", "blank"),
    ({"word": "bank", "groups": [["a bank"], [" "]]}, "groups.1.0", "empty"),
])
def test_bad_sense_tests_are_422s_naming_the_field(tiny_client, body, field, says):
    r = tiny_client.post("/api/attention/senses", json=body)
    assert r.status_code == 422, r.text
    assert says in r.json()["detail"]
    if r.json().get("field") is not None:
        assert r.json()["field"] == field


def test_sense_heads_ranks_every_head_by_its_difference_from_the_control(tiny_client, tiny_engine):
    body = {**BANK, "cues": [["river"], ["money"]], "control": "cat"}
    r = tiny_client.post("/api/attention/senses/heads", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    cfg = tiny_engine.cfg
    assert len(out["heads"]) == cfg.n_layers * cfg.n_heads
    assert {(h["layer"], h["head"]) for h in out["heads"]} == \
        {(l, h) for l in range(cfg.n_layers) for h in range(cfg.n_heads)}
    diffs = [h["difference"] for h in out["heads"]]
    assert diffs == sorted(diffs, reverse=True)
    for h in out["heads"]:
        assert h["difference"] == pytest.approx(h["word_to_cues"] - h["control_to_cues"], abs=2e-6)
        assert h["lowest_difference"] <= h["difference"] + 1e-6
        assert 0 <= h["word_to_cues"] <= 1 and 0 <= h["control_to_cues"] <= 1
    assert [s["control_text"] for s in out["sentences"]][:2] == ["the river cat", "the river and the cat"]
    for s in out["sentences"]:
        assert s["cue_tokens"] and all(p < s["token_index"] for p in s["cue_tokens"])
    mean = sum(h["word_to_cues"] for h in out["heads"]) / len(out["heads"])
    assert out["mean_head"]["word_to_cues"] == pytest.approx(mean, abs=1e-5)
    assert 0 < out["mean_head"]["word_to_first"] < 1


@pytest.mark.parametrize("body, field, says", [
    ({**BANK, "cues": [["river"]]}, "cues", "at least 2"),
    ({**BANK, "cues": [["river"], ["money"], ["x"]]}, "cues", "3 lists for 2 groups"),
    ({**BANK, "cues": [["river"], ["money"]], "control": "Bank"}, "control", "the word itself"),
    ({**BANK, "cues": [["river"], ["money"]], "control": "river"}, "control", "already occurs in groups.0.0"),
    ({"word": "bank", "groups": [["the bank river"], ["the money bank"]], "cues": [["river"], ["money"]]},
     "groups.0.0", "none of the sense words"),
])
def test_bad_sense_head_requests_are_422s_naming_the_field(tiny_client, body, field, says):
    r = tiny_client.post("/api/attention/senses/heads", json=body)
    assert r.status_code == 422, r.text
    assert says in r.json()["detail"]
    if r.json().get("field") is not None:
        assert r.json()["field"] == field


def test_senses_with_heads_switched_off_changes_only_the_layers_after_them(tiny_client, tiny_engine):
    plain = tiny_client.post("/api/attention/senses", json=BANK).json()
    r = tiny_client.post("/api/attention/senses", json={**BANK, "ablate": [{"layer": 1, "head": 3},
                                                                         {"layer": 1, "head": 3}]})
    assert r.status_code == 200, r.text
    off = r.json()
    assert off["ablated"] == [{"layer": 1, "head": 3}] and plain["ablated"] == []
    assert off["layers"][:2] == plain["layers"][:2]         # the embedding and layer 0 are untouched
    assert off["layers"][2] != plain["layers"][2]


@pytest.mark.parametrize("ablate, field", [([{"layer": 2, "head": 0}], "ablate.0.layer"),
                                           ([{"layer": 0, "head": 0}, {"layer": 0, "head": 4}], "ablate.1.head")])
def test_senses_refuses_heads_the_model_does_not_have(tiny_client, ablate, field):
    r = tiny_client.post("/api/attention/senses", json={**BANK, "ablate": ablate})
    assert r.status_code == 422 and r.json()["field"] == field
