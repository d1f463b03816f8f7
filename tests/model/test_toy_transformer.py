"""The tiny transformer of the learning chapter: its data, its determinism, and the claim the
chapter rests on (two layers grow an induction head, one layer cannot).

The training tests run a few hundred steps on one thread (a few seconds each): the shortest
runs that still show the phase change at the default settings (it happens near step 150-250)."""

from __future__ import annotations

import math

import pytest
import torch

from model import probes
from model import toy_transformer as tt
from model.head_probes import ROLE_THRESHOLD

SHORT = 300  # steps: past the phase change at the default settings, for several seeds


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)   # as in the training slot: bit-identical repeats
    yield
    torch.set_num_threads(previous)


def test_batch_repeats_the_segment_one_period_back():
    cfg = tt.ToyConfig()
    b = tt.make_batch(cfg, 64, torch.Generator().manual_seed(3))
    assert b.ids.shape == (64, cfg.n_ctx) and b.ids.min() >= 0 and b.ids.max() < cfg.vocab
    assert len(set(b.period.tolist())) > 3 and len(set(b.start.tolist())) > 3   # offsets vary
    for row, start, period, first, repeat in zip(b.ids, b.start, b.period, b.first, b.repeat):
        start, period = int(start), int(period)
        assert tt.SEGMENT[0] <= period <= tt.SEGMENT[1] and 0 <= start <= tt.MAX_START
        for i in range(start + period, cfg.n_ctx):
            assert row[i] == row[i - period]
        # position i predicts token i+1: the first copy's tokens 2..period, then every later token
        assert first.nonzero()[:, 0].tolist() == list(range(start, start + period - 1))
        assert repeat.nonzero()[:, 0].tolist() == list(range(start + period, cfg.n_ctx - 1))


def test_attention_is_causal_and_rows_sum_to_one():
    model = tt.ToyTransformer(tt.ToyConfig())
    _, patterns = model(tt.make_batch(model.cfg, 2, torch.Generator().manual_seed(0)).ids)
    assert patterns.shape == (2, 2, 4, 48, 48)
    assert torch.allclose(patterns.sum(-1), torch.ones(2, 2, 4, 48))
    assert patterns.triu(1).abs().max() == 0


def test_logged_scores_are_the_shared_probes_on_the_probe_sequences():
    config = tt.TrainConfig(steps=5, log_every=5)
    result = tt.train(config)
    probe_ids = tt.probe_sequences(result.model.cfg)
    assert probe_ids.shape == (tt.PROBE_COUNT, 2 * tt.PROBE_PERIOD)
    with torch.no_grad():
        _, p = result.model(probe_ids)                         # (L, P, h, n, n)
    # independent: mean weight from each query of the second copy to the key one period minus one back
    R = tt.PROBE_PERIOD
    manual = torch.stack([p[..., q, q - R + 1] for q in range(R, 2 * R)], -1).mean(-1).mean(1)
    assert torch.allclose(torch.tensor(result.logs[-1].induction), manual, atol=1e-6)
    assert torch.allclose(torch.tensor(result.logs[-1].induction),
                          probes.induction_score(p, R).mean(1), atol=1e-6)


def test_same_seed_same_curves_other_seed_other_curves():
    a = tt.train(tt.TrainConfig(seed=4, steps=40))
    b = tt.train(tt.TrainConfig(seed=4, steps=40))
    c = tt.train(tt.TrainConfig(seed=5, steps=40))
    strip = lambda r: [(g.step, g.loss, g.loss_first, g.loss_repeat, g.induction, g.previous_token) for g in r.logs]
    assert strip(a) == strip(b)
    assert a.sample_after.predicted == b.sample_after.predicted
    assert strip(a) != strip(c)


def test_untrained_model_guesses_uniformly():
    result = tt.train(tt.TrainConfig(steps=1))
    first = result.logs[0]
    assert first.step == 0
    assert abs(first.loss - math.log(48)) < 0.3


def test_first_log_is_the_runs_step_0_without_training():
    """GET /api/learn/start's measurement: the same numbers the run logs at step 0 (one thread, as the
    training slot and the first picture's thread run it), whatever the steps and learning rate."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for config in (tt.TrainConfig(seed=3, steps=20, lr=0.01), tt.TrainConfig(seed=0, layers=1, heads=2, steps=1)):
            run, first = tt.train(config).logs[0], tt.first_log(config)
            assert first.step == run.step == 0
            assert (first.loss, first.loss_first, first.loss_repeat, first.induction, first.previous_token) == \
                (run.loss, run.loss_first, run.loss_repeat, run.induction, run.previous_token)
        assert tt.first_log(tt.TrainConfig(seed=4)).loss != tt.first_log(tt.TrainConfig(seed=5)).loss
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_layers_grow_an_induction_head(seed):
    """The chapter's claim, at SHORT steps (the page's default trains longer)."""
    result = tt.train(tt.TrainConfig(seed=seed, steps=SHORT, layers=2))
    layer, head, score = result.induction_head()
    last = result.logs[-1]
    assert layer == 1 and score >= ROLE_THRESHOLD >= 0.5
    assert last.loss_repeat < 0.5 * last.loss_first
    # the phase change: at step 0 the repeats were as hard as the first occurrence
    assert abs(result.logs[0].loss_repeat - result.logs[0].loss_first) < 0.2
    # and layer 0 learned to look one token back (the half an induction head reads from)
    assert max(last.previous_token[0]) > max(0.3, 3 * max(result.logs[0].previous_token[0]))


def test_one_layer_grows_none():
    one = tt.train(tt.TrainConfig(seed=0, steps=SHORT, layers=1))
    two = tt.train(tt.TrainConfig(seed=0, steps=SHORT, layers=2))
    assert max(max(row) for row in one.logs[-1].induction) < 0.25
    assert one.induction_head(ROLE_THRESHOLD) is None
    # one layer lowers the repeats' loss a little (the next token is one already seen), never like two
    assert one.logs[-1].loss_repeat > two.logs[-1].loss_repeat + 1.0


def test_steps_are_bounded():
    with pytest.raises(ValueError):
        tt.train(tt.TrainConfig(steps=tt.MAX_STEPS + 1))


def test_cancel_stops_within_a_step():
    calls = []
    result = tt.train(tt.TrainConfig(steps=1000), stop=lambda: calls.append(1) or len(calls) > 3)
    assert result.stopped and result.logs[-1].step < 10
