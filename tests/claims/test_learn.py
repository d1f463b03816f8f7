"""Claims of chapter 4b, How a transformer learns (docs/CLAIMS.md, section 4b).

The tiny transformer's claims are about the page's default settings (model/toy_transformer.py's
TrainConfig), trained here exactly as the page trains them (one thread, seeded): each run takes
seconds to half a minute. The knockout claims are about SmolLM2-135M-Instruct (`smollm2`)."""

from __future__ import annotations

import math

import pytest
import torch

from app.schemas.learn import KnockoutIn
from app.views import heads as heads_view
from app.views import learn as view
from model import head_probes
from model import toy_transformer as tt


@pytest.fixture(scope="module")
def runs():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {layers: tt.train(tt.TrainConfig(layers=layers)) for layers in (1, 2)}
    finally:
        torch.set_num_threads(previous)


def _steepest_drop(logs):
    drops = [(logs[i - 1].loss_repeat - logs[i].loss_repeat, i) for i in range(1, len(logs))]
    return max(drops)[1]


def test_default_two_layers_grow_an_induction_head_in_the_second_layer(runs):
    result = runs[2]
    layer, head, score = result.induction_head()
    assert layer == 1 and score >= head_probes.ROLE_THRESHOLD
    last = result.logs[-1]
    assert last.loss_repeat < 0.5 * last.loss_first


def test_at_step_0_the_repeats_are_as_hard_as_the_first_time(runs):
    for result in runs.values():
        first = result.logs[0]
        assert abs(first.loss_repeat - first.loss_first) < 0.1
        assert abs(first.loss_first - math.log(48)) < 0.3


def test_default_run_shows_a_sudden_drop(runs):
    """"a sudden drop, the phase change": where the repeats' loss falls fastest between two
    measurements it falls at least 3 times as fast per step as on average before (the page's
    rule), and the drop comes after the first few measurements, not at the start."""
    logs = runs[2].logs
    i = _steepest_drop(logs)
    during = (logs[i - 1].loss_repeat - logs[i].loss_repeat) / (logs[i].step - logs[i - 1].step)
    before = (logs[0].loss_repeat - logs[i - 1].loss_repeat) / logs[i - 1].step
    assert during >= 3 * before
    assert logs[i].step >= 50


def test_one_layer_grows_no_induction_head_and_helps_only_a_little(runs):
    one, two = runs[1], runs[2]
    assert one.induction_head(head_probes.ROLE_THRESHOLD) is None
    assert max(max(row) for row in one.logs[-1].induction) < 0.25
    # "helps a little and never like copying the right one"
    assert one.logs[-1].loss_repeat < one.logs[-1].loss_first - 0.5
    assert one.logs[-1].loss_repeat > two.logs[-1].loss_repeat + 1.0


def test_the_first_time_stays_near_the_uniform_guess(runs):
    uniform = math.log(48)
    for result in runs.values():
        assert uniform - 0.2 < result.logs[-1].loss_first < uniform + 0.5


def test_layer_0_learns_to_look_one_token_back(runs):
    logs = runs[2].logs
    assert max(logs[-1].previous_token[0]) > 3 * max(logs[0].previous_token[0])


@pytest.fixture(scope="module")
def knockout(smollm2):
    scores = heads_view.scores_now(smollm2)
    return smollm2.locked(view.knockout, smollm2, KnockoutIn(), scores)


def test_smollm2_copies_on_the_second_copy(knockout):
    """"with all heads on, the second copy costs far less than the first: the model copies"."""
    assert knockout.loss_all_on < 0.5 * knockout.loss_first


def test_smollm2_induction_heads_off_break_copying_more_than_random_heads(knockout):
    assert len(knockout.heads) >= 2
    assert knockout.loss_heads_off > knockout.loss_all_on + 2.0
    assert knockout.loss_heads_off > max(knockout.loss_random_off) + 1.0
