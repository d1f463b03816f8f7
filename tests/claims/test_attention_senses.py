"""Claims of the attention page's sense test ("Same word, different meaning") and the tour's bank
card, checked on SmolLM2-135M-Instruct (docs/CLAIMS.md, "4. Attention" and "The tour").

The summaries on the page are computed from the API's answers by static/js/attention/senses.js;
tests/claims/senses_rules.py restates its rules, and tests/browser/test_attention_senses_page.py
checks that the page prints exactly what they give. Here: that what they say holds on the model,
and that each demonstration survives its control.
"""

from __future__ import annotations

import pytest
import torch

from tests.claims.senses_rules import (EXAMPLES, HEAD_MARGIN, MARGIN, ablation_change, evidence_heads, gaps,
                                       mean_gap, mix_groups, run, separation, swapped)

pytestmark = pytest.mark.real
BANK = EXAMPLES[0]


@pytest.fixture(scope="module")
def answers(smollm2):
    from fastapi.testclient import TestClient

    from app.main import create_app
    with TestClient(create_app(engine=smollm2)) as client:
        return {ex["word"]: run(client, ex) for ex in EXAMPLES}


def test_bank_is_more_alike_within_a_sense_than_across_from_layer_5_on(answers):
    # Page: the 'same sense' line stays above 'other sense'. Depth d = after d blocks (after layer d-1).
    g = gaps(answers["bank"]["word"])
    assert len(g) == 31
    assert all(abs(x) < 0.02 for x in g[:3])                     # one embedding: they start together
    assert min(g[6:]) >= 0.08, [round(x, 3) for x in g]            # after layer 5 on, by a margin


def test_the_controls_do_not_show_the_gap(answers):
    # A plain word ('table') in bank's place, and the same sentences dealt into mixed groups.
    a = answers["bank"]
    control, mixed, word = gaps(a["control"]), gaps(a["mixed"]), gaps(a["word"])
    assert max(control[:30]) < 0.05, [round(x, 3) for x in control]
    assert max(abs(x) for x in mixed) < 0.04, [round(x, 3) for x in mixed]
    # ...so the separation the summary reports holds from layer 5 to the last layer.
    assert separation(a["word"], [a["control"], a["mixed"]]) == list(range(6, 31))
    assert all(word[d] - max(control[d], mixed[d]) >= MARGIN for d in range(6, 31))


def test_the_mixed_groups_hold_both_senses():
    # The control is only a control if every mixed group mixes the senses.
    groups = BANK["groups"]
    for mixed in mix_groups(groups):
        assert any(s in groups[0] for s in mixed) and any(s in groups[1] for s in mixed)
    assert sorted(sum(mix_groups(groups), [])) == sorted(sum(groups, []))


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["word"] for e in EXAMPLES])
def test_every_built_in_example_separates_its_senses_beyond_both_controls(answers, example):
    # The page offers only examples that work: at least 10 of the 30 layers beat both controls.
    a = answers[example["word"]]
    depths = separation(a["word"], [a["control"], a["mixed"]])
    assert len(depths) >= 10, depths


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["word"] for e in EXAMPLES])
def test_every_built_in_example_has_a_head_that_passes_the_control(answers, example):
    heads = answers[example["word"]]["heads"]
    assert evidence_heads(heads), heads["heads"][:3]
    for h in evidence_heads(heads):
        assert h["difference"] >= HEAD_MARGIN and h["lowest_difference"] > 0


def test_the_bank_heads_look_at_river_and_money_because_the_word_is_bank(answers):
    heads = answers["bank"]["heads"]
    top = heads["heads"][0]
    assert top["word_to_cues"] >= 3 * top["control_to_cues"] and top["lowest_difference"] > 0.1
    assert len(evidence_heads(heads)) >= 3
    # The average head barely tells the word from the control, and looks at the first token far more:
    # why the page ranks heads instead of averaging them.
    mean = heads["mean_head"]
    assert mean["word_to_cues"] - mean["control_to_cues"] < 0.05
    assert mean["word_to_first"] > 3 * mean["word_to_cues"]


def test_the_control_word_does_not_occur_in_the_examples_and_replaces_the_word():
    for ex in EXAMPLES:
        for group, swapped_group in zip(ex["groups"], swapped(ex)):
            for s, t in zip(group, swapped_group):
                assert ex["control"] not in s.lower().split() and ex["control"] in t.lower()


def test_bank_is_one_token_with_one_embedding(smollm2, answers):
    # Page: '"Bank" is one token with one embedding'; in every bank sentence it is the token ' bank'.
    a = answers["bank"]["word"]
    for o in a["occurrences"]:
        text = BANK["groups"][o["group"]][o["sentence"]]
        tokens = smollm2.tokenizer.tokenize(text)
        assert tokens[o["token_index"]].text == " bank"
    assert a["layers"][0]["within"] == pytest.approx(1, abs=1e-6)
    assert a["layers"][0]["across"] == pytest.approx(1, abs=1e-6)


def test_words_of_one_sentence_grow_alike_whatever_they_mean(smollm2):
    # Page: 'Why not compare "bank" with "river"? Words of one sentence grow alike whatever they mean.'
    # After the last layer the river bank is as close to 'sat' as to 'river'.
    prompt = smollm2.prompt("I sat on the river bank")
    analysis = smollm2.locked(smollm2.analysis, prompt)
    texts = [t.text for t in prompt.tokens]
    resid = analysis.resid.float()
    bank = resid[:, texts.index(" bank")]
    cos = {w: torch.nn.functional.cosine_similarity(bank, resid[:, texts.index(w)], dim=-1) for w in (" sat", " river")}
    assert abs(cos[" sat"][-1] - cos[" river"][-1]) < 0.05
    assert all(c[-1] - c[0] > 0.4 for c in cos.values())


def test_the_tours_bank_card_reads_its_widest_control_beating_layer(answers):
    # The tour picks the depth where bank's gap beats the 'table' control's most and says the gap
    # comes from what 'bank' means when it beats it by MARGIN there (static/js/tour/chapters.js).
    g, gc = gaps(answers["bank"]["word"]), gaps(answers["bank"]["control"])
    d = max(range(1, len(g)), key=lambda k: g[k] - gc[k])
    assert g[d] - gc[d] >= MARGIN


def test_switching_off_the_heads_that_look_leaves_the_bank_gap_about_as_it_was(answers):
    # Page ("Do they carry it?"): the 9 or so heads that pass are switched off in every sentence;
    # the gap stays within a fifth of itself, as it does with as many other heads off, so the
    # page says looking is not carrying. A claim about this model, pinned so a change is noticed.
    a = answers["bank"]
    assert abs(ablation_change(a)) < 0.2
    depths = separation(a["word"], [a["control"], a["mixed"]])
    assert abs(mean_gap(a["others"], depths) - mean_gap(a["word"], depths)) < 0.2 * mean_gap(a["word"], depths)
    # ...and switching heads off does change the model: the layer right after the strongest head moves.
    top = a["heads"]["heads"][0]
    assert abs(gaps(a["off"])[top["layer"] + 1] - gaps(a["word"])[top["layer"] + 1]) > 0.01
