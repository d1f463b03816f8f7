"""The 3x3 network: its data, its maths, and that training really learns (fast: no language model)."""

import itertools

import pytest
import torch

from model import network as nn

DEFAULT_HIDDEN, DEFAULT_LR, DEFAULT_EPOCHS, DEFAULT_SEED = (6, 5), 0.5, 200, 1


def hamming(a, b) -> int:
    return sum(x != y for x, y in zip(a, b))


@pytest.fixture(scope="module")
def trained():
    with nn.single_threaded():
        return nn.train(nn.init_network(DEFAULT_HIDDEN, DEFAULT_SEED), DEFAULT_LR, DEFAULT_EPOCHS)


def clean_tensors():
    return (torch.tensor([s.pixels for s in nn.SYMBOLS], dtype=nn.DTYPE), torch.arange(len(nn.SYMBOLS)))


def test_symbols_are_nine_pixels_of_plus_or_minus_one_and_far_apart():
    assert len(nn.SYMBOLS) == nn.N_OUTPUTS == 4
    for s in nn.SYMBOLS:
        assert len(s.pixels) == 9 and set(s.pixels) == {-1.0, 1.0}
    # Two flipped pixels must never carry one symbol closer to another: distance >= 5 everywhere.
    assert min(hamming(a.pixels, b.pixels) for a, b in itertools.combinations(nn.SYMBOLS, 2)) >= 5


def test_dataset_has_clean_and_noisy_training_examples_and_a_disjoint_heldout_set():
    data = nn.make_dataset()
    assert {e.pixels for e in data.train if not e.flipped} == {s.pixels for s in nn.SYMBOLS}
    assert {len(e.flipped) for e in data.train} == {0, 1, 2}
    assert {len(e.flipped) for e in data.heldout} == {1, 2}
    assert not {e.pixels for e in data.train} & {e.pixels for e in data.heldout}
    for e in data.train + data.heldout:
        assert hamming(e.pixels, nn.SYMBOLS[e.label].pixels) == len(e.flipped)
        assert nn.nearest_symbol(list(e.pixels)) == e.label  # every example has one right answer
    assert [sum(e.label == k for e in data.heldout) for k in range(4)] == [16] * 4


def test_dataset_is_reproducible_from_its_seed_and_changes_with_it():
    assert nn.make_dataset(7) == nn.make_dataset(7)
    assert nn.make_dataset(7).heldout != nn.make_dataset(8).heldout


def test_init_draws_weights_in_minus_one_to_one_reproducibly():
    a, b, c = nn.init_network((6, 5), 3), nn.init_network((6, 5), 3), nn.init_network((6, 5), 4)
    assert nn.sizes_of(a) == [9, 6, 5, 4]
    assert [layer.weights.shape for layer in a] == [(6, 9), (5, 6), (4, 5)]
    for layer in a:
        assert layer.weights.abs().max() <= 1 and layer.biases.abs().max() <= 1
    assert nn.network_to_lists(a) == nn.network_to_lists(b) != nn.network_to_lists(c)


def test_forward_is_weighted_sums_squashed_by_tanh_then_softmax():
    net = nn.init_network((3, 2), 0)
    x = torch.tensor([nn.SYMBOLS[0].pixels], dtype=nn.DTYPE)
    out = nn.forward(net, x)
    # Neuron 0 of hidden 1 by hand: sum of weight * pixel, plus bias, squashed.
    by_hand = sum(net[0].weights[0, i].item() * x[0, i].item() for i in range(9)) + net[0].biases[0].item()
    assert out.sums[0][0, 0].item() == pytest.approx(by_hand)
    assert out.activations[1][0, 0].item() == pytest.approx(torch.tanh(torch.tensor(by_hand)).item())
    assert all(a.abs().max() <= 1 for a in out.activations[1:3])
    assert out.probabilities.sum().item() == pytest.approx(1.0)
    assert out.probabilities.min() > 0


def test_default_training_learns_every_clean_symbol_and_generalises_to_heldout_noise(trained):
    x, y = clean_tensors()
    assert nn.accuracy(trained.net, x, y) == 1.0
    assert trained.heldout_accuracy[-1] >= 0.9
    assert trained.train_accuracy[-1] == 1.0
    assert trained.loss[-1] < trained.loss[0] / 10


def test_training_is_reproducible(trained):
    with nn.single_threaded():
        again = nn.train(nn.init_network(DEFAULT_HIDDEN, DEFAULT_SEED), DEFAULT_LR, DEFAULT_EPOCHS)
    assert again.loss == trained.loss
    assert nn.network_to_lists(again.net) == nn.network_to_lists(trained.net)


def test_training_works_from_most_seeds_not_just_the_default():
    x, y = clean_tensors()
    good = 0
    with nn.single_threaded():
        for seed in range(2, 8):
            result = nn.train(nn.init_network(DEFAULT_HIDDEN, seed), DEFAULT_LR, DEFAULT_EPOCHS, snapshots=2)
            good += nn.accuracy(result.net, x, y) == 1.0 and result.heldout_accuracy[-1] >= 0.9
    assert good >= 5


def test_training_records_every_epoch_and_snapshots_denser_early(trained):
    assert len(trained.loss) == len(trained.train_accuracy) == len(trained.heldout_accuracy) == DEFAULT_EPOCHS + 1
    epochs = [s.epoch for s in trained.snapshots]
    assert epochs[0] == 0 and epochs[-1] == DEFAULT_EPOCHS and epochs == sorted(set(epochs))
    assert epochs[5] - epochs[4] < epochs[-1] - epochs[-2]
    assert trained.snapshots[0].loss == trained.loss[0]
    assert nn.network_to_lists(trained.snapshots[-1].net) == nn.network_to_lists(trained.net)


def test_training_does_not_change_the_starting_network():
    start = nn.init_network((4, 4), 5)
    before = nn.network_to_lists(start)
    nn.train(start, 0.5, 3)
    assert nn.network_to_lists(start) == before


def test_explained_step_matches_the_chain_rule_by_hand():
    net = nn.init_network((4, 3), 2)
    pixels, target = list(nn.SYMBOLS[2].pixels), 2
    step = nn.explain_step(net, pixels, target)
    probs = torch.tensor(step.probabilities)
    assert step.loss == pytest.approx(-torch.log(probs[target]).item())
    assert step.error == pytest.approx((probs - torch.eye(4)[target]).tolist())
    assert step.deltas[2] == pytest.approx(step.error)  # at the outputs, delta is the error
    # dLoss/dW = delta (receiving neuron) times the input along the edge, in every layer.
    for k in range(3):
        outer = torch.outer(torch.tensor(step.deltas[k]), torch.tensor(step.activations[k]))
        assert torch.tensor(step.gradients[k][0]) == pytest.approx(outer)
        assert step.gradients[k][1] == pytest.approx(step.deltas[k])


def test_explained_weight_update_lowers_this_examples_loss():
    net = nn.init_network((4, 3), 2)
    pixels, target = list(nn.SYMBOLS[1].pixels), 1
    step = nn.explain_step(net, pixels, target)
    # The input-layer weight with the largest gradient: its small step must help.
    grads = torch.tensor(step.gradients[0][0]).abs()
    to, frm = divmod(int(grads.argmax()), grads.shape[1])
    w = nn.explain_weight(net, step, pixels, target, 0, to, frm, 0.1)
    assert w.gradient == pytest.approx(w.delta * w.input)
    assert w.new_weight == pytest.approx(w.weight - 0.1 * w.gradient)
    assert w.loss_after < step.loss
    assert w.target_probability_after > w.target_probability
    assert w.delta == pytest.approx(w.slope * w.backflow)  # backpropagation for a hidden neuron
    out = nn.explain_weight(net, step, pixels, target, 2, target, 0, 0.1)
    assert out.slope is None and out.delta == pytest.approx(step.error[target])


def test_snapshot_epochs_cover_the_whole_run():
    assert nn.snapshot_epochs(5, 60) == [0, 1, 2, 3, 4, 5]
    marks = nn.snapshot_epochs(1000, 60)
    assert marks[0] == 0 and marks[-1] == 1000 and len(marks) <= 60


def test_nearest_symbol_of_a_clean_drawing_is_itself():
    for i, s in enumerate(nn.SYMBOLS):
        assert nn.nearest_symbol(list(s.pixels)) == i


def test_single_threaded_restores_the_thread_count():
    before = torch.get_num_threads()
    with nn.single_threaded():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
