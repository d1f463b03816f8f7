"""Every head scored by the probes: shapes, the role rule, and the on-disk cache (tiny model)."""

import json

import pytest
import torch

from model import head_probes as hp, probes
from model.tiny import tiny_model


@pytest.fixture(scope="module")
def tiny():
    return tiny_model(seed=0)


@pytest.fixture(scope="module")
def tiny_scores(tiny):
    return hp.measure(*tiny)


def test_scores_cover_every_head_and_match_the_probe_functions(tiny, tiny_scores):
    model, tokenizer = tiny
    L, h = model.cfg.n_layers, model.cfg.n_heads
    for t in tiny_scores.as_dict().values():
        assert t.shape == (L, h) and bool(((t >= 0) & (t <= 1)).all())
    # An independent reading of one sentence and one probe sequence, by hand from the patterns.
    ids = torch.tensor(tokenizer.encode(hp.ORDINARY_TEXT[0]))
    _, store = model.run_with_cache(ids, ["blocks.1.attn.pattern"])
    p = store["blocks.1.attn.pattern"][2].double()
    by_hand = sum(p[i, i - 1] for i in range(1, len(ids))) / (len(ids) - 1)
    assert float(probes.previous_token_score(p)) == pytest.approx(float(by_hand))
    seqs = hp.induction_sequences(tokenizer)
    assert seqs.shape == (hp.INDUCTION_SEQUENCES, 2 * hp.INDUCTION_PERIOD)
    assert torch.equal(seqs[:, :hp.INDUCTION_PERIOD], seqs[:, hp.INDUCTION_PERIOD:])
    assert not set(seqs.flatten().tolist()) & tokenizer.special_ids
    R = hp.INDUCTION_PERIOD
    total = 0.0
    for row in seqs:
        _, store = model.run_with_cache(row, ["blocks.0.attn.pattern"])
        q = store["blocks.0.attn.pattern"][3].double()
        total += sum(q[i, i - R + 1] for i in range(R, 2 * R)) / R
    assert float(tiny_scores.induction[0, 3]) == pytest.approx(float(total) / len(seqs), abs=1e-6)


def test_the_probe_sequences_are_word_tokens_when_the_vocabulary_has_them():
    class Words:  # a vocabulary with 40 word tokens, a special one and some punctuation
        special_ids = {0}
        texts = ["<s>"] + [f" w{'abcdefgh'[i % 8]}{'abcde'[i // 8]}x" for i in range(40)] + [",", " 12", "ab"]
        vocab_size = len(texts)

        def token_text(self, i):
            return self.texts[i]

    vocab = hp.word_vocab(Words())
    assert vocab == list(range(1, 41))
    seqs = hp.induction_sequences(Words(), seed=3)
    assert set(seqs.flatten().tolist()) <= set(vocab)
    assert torch.equal(seqs, hp.induction_sequences(Words(), seed=3))
    assert not torch.equal(seqs, hp.induction_sequences(Words(), seed=4))


@pytest.mark.parametrize("previous, induction, first, expected", [
    (0.05, 0.9, 0.99, "induction"),        # parks on the first token too, but is named for induction
    (0.7, 0.0, 0.05, "previous_token"),
    (0.6, 0.8, 0.1, "induction"),          # both stand out: the larger names it
    (0.1, 0.02, 0.8, "first_token"),       # nothing else stands out
    (0.2, 0.1, 0.3, None),
    (hp.ROLE_THRESHOLD, 0.0, 0.0, "previous_token"),  # the threshold itself counts
    (0.05, hp.INDUCTION_THRESHOLD, 0.9, "induction"),
    (0.05, 0.5, 0.9, "first_token"),        # half its weight on the probe's stripe is a partial induction head
    (0.55, 0.56, 0.1, "previous_token"),    # only previous-token reaches its threshold
])
def test_the_role_rule(previous, induction, first, expected):
    assert hp.role(previous, induction, first) == expected


def test_roles_follow_the_rule_for_every_head(tiny_scores):
    roles = hp.roles(tiny_scores)
    L, h = tiny_scores.induction.shape
    assert len(roles) == L and all(len(r) == h for r in roles)
    for l in range(L):
        for k in range(h):
            assert roles[l][k] == hp.role(*(float(t[l, k]) for t in
                                            (tiny_scores.previous_token, tiny_scores.induction, tiny_scores.first_token)))


def test_scores_are_cached_on_disk_keyed_by_the_gguf_and_the_probe_version(tmp_path, tiny_scores, monkeypatch):
    calls = []

    def compute():
        calls.append(1)
        return tiny_scores

    first = hp.load_or_measure(tmp_path, "ab" * 32, compute)
    path = hp.cache_path(tmp_path, "ab" * 32)
    assert path.exists() and len(calls) == 1
    again = hp.load_or_measure(tmp_path, "ab" * 32, compute)
    assert len(calls) == 1                                    # read back, not measured again
    for a, b in zip(first.as_dict().values(), again.as_dict().values()):
        assert torch.allclose(a, b, atol=1e-12)
    hp.load_or_measure(tmp_path, "cd" * 32, compute)          # another GGUF: its own file
    assert len(calls) == 2 and hp.cache_path(tmp_path, "cd" * 32).exists()
    monkeypatch.setattr(hp, "PROBE_VERSION", hp.PROBE_VERSION + 1)  # a new probe: measured again
    hp.load_or_measure(tmp_path, "ab" * 32, compute)
    assert len(calls) == 3
    monkeypatch.undo()
    path.write_text("{not json")                              # a damaged file: measured and rewritten
    hp.load_or_measure(tmp_path, "ab" * 32, compute)
    assert len(calls) == 4 and json.loads(path.read_text())["version"] == hp.PROBE_VERSION
    hp.load_or_measure(None, None, compute)                   # a model built in memory: no file
    assert len(calls) == 5 and not list(tmp_path.glob("*.partial"))


def test_the_threshold_is_the_half_the_page_names():
    """The attention page words the first-token rule as "half or more of their weight"
    (static/js/attention.js); the probes' sentences name each threshold the rule uses."""
    assert hp.ROLE_THRESHOLD == 0.5
    assert f"at least {hp.ROLE_THRESHOLD}" in hp.DESCRIPTIONS["previous_token"]
    assert f"at least {hp.ROLE_THRESHOLD}" in hp.DESCRIPTIONS["first_token"]
    assert f"at least {hp.INDUCTION_THRESHOLD}" in hp.DESCRIPTIONS["induction"]
