"""Chapter 1: a neural network small enough to see whole.

Nine inputs, one per pixel of a 3x3 display (1 = white, lit; -1 = black), two hidden layers of
tanh neurons (the last may squash with a sigmoid into 0..1 instead, as the usual telling has it),
and four outputs turned into probabilities by softmax, one per symbol. It is
trained by plain gradient descent: PyTorch's autograd does the backpropagation, and every step
is `w <- w - learning_rate * dLoss/dw` written out by hand, so nothing is hidden in an optimiser.

Everything here is a pure function of its inputs (pixels, weights, seed, settings): the server
keeps no per-user state, the page holds the weights and sends them back.

Shapes: a network with hidden sizes (h1, h2) has three layers; layer k maps n_k inputs to
m_k outputs with `weights` (m_k, n_k) and `biases` (m_k,): (9 -> h1), (h1 -> h2), (h2 -> 4).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

import torch

N_INPUTS = 9
N_OUTPUTS = 4
DTYPE = torch.float64  # tiny network: float64 costs nothing and JSON round-trips it exactly

# --- the symbols and the data set ---------------------------------------------------------------


@dataclass(frozen=True)
class Symbol:
    name: str
    label: str  # how the page names it
    drawing: str  # 3 rows of 3: '#' lit (white, 1), '.' dark (black, -1)

    @property
    def pixels(self) -> tuple[float, ...]:
        return tuple(1.0 if c == "#" else -1.0 for c in self.drawing.replace("/", ""))


# Four shapes a 3x3 display can show that differ from each other in at least 6 of the 9 pixels.
# That margin is why these four and not, say, X, O, + and a line: + and a line differ in only
# 2 pixels, so a "+" with two flipped pixels *is* a line and no network could be right about it.
# With a distance of 6, a symbol with one or two flipped pixels is still closer to itself than
# to any other symbol, so the held-out noisy set has one right answer per example.
SYMBOLS: tuple[Symbol, ...] = (
    Symbol("plus", "+", ".#./###/.#."),
    Symbol("slash", "/", "..#/.#./#.."),
    Symbol("L", "L", "#../#../###"),
    Symbol("seven", "7", "###/..#/..#"),
)
DATA_SEED = 1


@dataclass(frozen=True)
class Example:
    pixels: tuple[float, ...]
    label: int  # index into SYMBOLS
    flipped: tuple[int, ...]  # which pixels (0..8, row by row) differ from the clean symbol


@dataclass(frozen=True)
class Dataset:
    train: tuple[Example, ...]
    heldout: tuple[Example, ...]

    @staticmethod
    def tensors(examples: tuple[Example, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.tensor([e.pixels for e in examples], dtype=DTYPE)  # (n, 9)
        y = torch.tensor([e.label for e in examples], dtype=torch.long)  # (n,)
        return x, y


def flip(pixels: tuple[float, ...], which: tuple[int, ...]) -> tuple[float, ...]:
    return tuple(-p if i in which else p for i, p in enumerate(pixels))


def make_dataset(seed: int = DATA_SEED, train_one_flip: int = 5, train_two_flips: int = 10,
                 heldout_one_flip: int = 4, heldout_two_flips: int = 12) -> Dataset:
    """Per symbol: the clean drawing plus noisy copies for training, other noisy copies held out.

    Each symbol has 9 one-pixel and 36 two-pixel variants; a seeded shuffle deals them out, so
    no held-out drawing is ever seen in training (the split is the same on every machine).
    """
    rng = random.Random(seed)
    train: list[Example] = []
    heldout: list[Example] = []
    for label, symbol in enumerate(SYMBOLS):
        ones = [(i,) for i in range(N_INPUTS)]
        twos = list(itertools.combinations(range(N_INPUTS), 2))
        rng.shuffle(ones)
        rng.shuffle(twos)
        clean = symbol.pixels
        train.append(Example(clean, label, ()))
        for which in ones[:train_one_flip] + twos[:train_two_flips]:
            train.append(Example(flip(clean, which), label, which))
        held = (ones[train_one_flip:train_one_flip + heldout_one_flip]
                + twos[train_two_flips:train_two_flips + heldout_two_flips])
        for which in held:
            heldout.append(Example(flip(clean, which), label, which))
    return Dataset(tuple(train), tuple(heldout))


DATASET = make_dataset()

# --- the network ----------------------------------------------------------------------------------


@dataclass
class Layer:
    weights: torch.Tensor  # (out, in)
    biases: torch.Tensor  # (out,)


Network = list[Layer]


def sizes_of(net: Network) -> list[int]:
    """[9, h1, h2, 4] for a network with hidden sizes h1, h2."""
    return [net[0].weights.shape[1]] + [layer.weights.shape[0] for layer in net]


def init_network(hidden: tuple[int, int], seed: int) -> Network:
    """Every weight and bias drawn uniformly from -1..1 by a generator seeded with `seed`."""
    gen = torch.Generator().manual_seed(seed)
    sizes = [N_INPUTS, *hidden, N_OUTPUTS]

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, dtype=DTYPE) * 2 - 1

    return [Layer(uniform(n_out, n_in), uniform(n_out)) for n_in, n_out in zip(sizes, sizes[1:])]


def network_from_lists(layers: list[tuple[list[list[float]], list[float]]]) -> Network:
    return [Layer(torch.tensor(w, dtype=DTYPE), torch.tensor(b, dtype=DTYPE)) for w, b in layers]


def network_to_lists(net: Network, digits: int | None = None) -> list[tuple[list[list[float]], list[float]]]:
    """Plain lists for JSON; `digits` rounds (for animation frames, where exactness is not needed)."""
    def out(t: torch.Tensor):
        return (t.round(decimals=digits) if digits is not None else t).tolist()
    return [(out(layer.weights), out(layer.biases)) for layer in net]


@dataclass
class Forward:
    sums: list[torch.Tensor]  # per layer: the weighted sums z = W a + b, (n, out)
    activations: list[torch.Tensor]  # inputs, then each layer's output: (n, 9), (n, h1), (n, h2), (n, 4)

    @property
    def logits(self) -> torch.Tensor:
        return self.sums[-1]

    @property
    def probabilities(self) -> torch.Tensor:
        return self.activations[-1]


# How the last hidden layer squashes its sums: "tanh" (-1..1, the default: on this network it
# trains several times faster) or "sigmoid" (0..1, as the usual telling of this network has it).
# The first hidden layer always uses tanh.
SQUASHES = ("tanh", "sigmoid")


def squash(z: torch.Tensor, kind: str) -> torch.Tensor:
    if kind not in SQUASHES:
        raise ValueError(f"squash is {kind!r}; choose one of {', '.join(SQUASHES)}")
    return torch.sigmoid(z) if kind == "sigmoid" else torch.tanh(z)


def slope(a: float, kind: str) -> float:
    """The squashing function's slope at a neuron whose output is `a` (tanh: 1 - a^2; sigmoid: a(1 - a))."""
    return a * (1 - a) if kind == "sigmoid" else 1 - a * a


def forward(net: Network, x: torch.Tensor, last: str = "tanh") -> Forward:
    """x (n, 9) -> every layer's sums and outputs. The first hidden layer squashes with tanh into
    -1..1, the last hidden layer with `last` (tanh, or sigmoid into 0..1); the output layer's sums
    become probabilities with softmax (they add up to 1)."""
    sums, activations = [], [x]
    a = x
    for k, layer in enumerate(net):
        z = a @ layer.weights.T + layer.biases  # (n, out): each neuron adds up its weighted inputs
        if k == len(net) - 1:
            a = torch.softmax(z, dim=-1)
        else:
            a = squash(z, last if k == len(net) - 2 else "tanh")
        sums.append(z)
        activations.append(a)
    return Forward(sums, activations)


def loss_fn(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy: the mean of -log(probability given to the right symbol)."""
    return torch.nn.functional.cross_entropy(logits, targets)


def accuracy(net: Network, x: torch.Tensor, y: torch.Tensor, last: str = "tanh") -> float:
    with torch.no_grad():
        return (forward(net, x, last).logits.argmax(dim=-1) == y).double().mean().item()


def predictions(net: Network, x: torch.Tensor, last: str = "tanh") -> list[int]:
    with torch.no_grad():
        return forward(net, x, last).logits.argmax(dim=-1).tolist()


# --- training ---------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    epoch: int
    net: Network
    loss: float
    train_accuracy: float
    heldout_accuracy: float


@dataclass
class TrainResult:
    net: Network
    loss: list[float]  # training loss before each epoch's update, then after the last: epochs + 1 values
    train_accuracy: list[float]  # same epochs as `loss`
    heldout_accuracy: list[float]
    snapshots: list[Snapshot] = field(default_factory=list)


def snapshot_epochs(epochs: int, count: int) -> list[int]:
    """About `count` epochs from 0 to `epochs`, denser at the start, where the weights move most."""
    if epochs <= count:
        return list(range(epochs + 1))
    marks = {round(epochs * (i / (count - 1)) ** 2) for i in range(count)}
    return sorted(marks | {0, epochs})


def train(net: Network, learning_rate: float, epochs: int, dataset: Dataset = DATASET,
          snapshots: int = 60, last: str = "tanh") -> TrainResult:
    """Full-batch gradient descent: each epoch looks at every training example once, measures
    the mean loss, asks autograd for dLoss/dw of every weight and moves each one downhill."""
    params = [p.clone().requires_grad_(True) for layer in net for p in (layer.weights, layer.biases)]
    current = [Layer(params[i], params[i + 1]) for i in range(0, len(params), 2)]
    x, y = Dataset.tensors(dataset.train)
    xh, yh = Dataset.tensors(dataset.heldout)
    keep = set(snapshot_epochs(epochs, snapshots))
    result = TrainResult(net=[], loss=[], train_accuracy=[], heldout_accuracy=[])

    for epoch in range(epochs + 1):
        out = forward(current, x, last)
        loss = loss_fn(out.logits, y)
        train_acc = (out.logits.argmax(dim=-1) == y).double().mean().item()
        held_acc = accuracy(current, xh, yh, last)
        result.loss.append(loss.item())
        result.train_accuracy.append(train_acc)
        result.heldout_accuracy.append(held_acc)
        if epoch in keep:
            frozen = [Layer(layer.weights.detach().clone(), layer.biases.detach().clone()) for layer in current]
            result.snapshots.append(Snapshot(epoch, frozen, loss.item(), train_acc, held_acc))
        if epoch == epochs:
            break
        grads = torch.autograd.grad(loss, params)  # backpropagation
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= learning_rate * g  # the whole of gradient descent

    result.net = [Layer(layer.weights.detach(), layer.biases.detach()) for layer in current]
    return result


# --- one step, shown in full ---------------------------------------------------------------------


@dataclass
class StepExplained:
    """Everything about one gradient-descent step on one example, for the page to show."""

    loss: float  # -log p(target)
    probabilities: list[float]
    error: list[float]  # p - one_hot(target): dLoss/dlogit for each output
    deltas: list[list[float]]  # per layer: dLoss/dz for each neuron (backpropagated error)
    gradients: list[tuple[list[list[float]], list[float]]]  # dLoss/dW, dLoss/db per layer
    activations: list[list[float]]


@dataclass
class WeightStep:
    """One weight w (layer, to, from): how its gradient is made and what the update does."""

    weight: float
    input: float  # the value arriving along this edge (a pixel or a hidden neuron's output)
    delta: float  # dLoss/dz of the receiving neuron
    gradient: float  # dLoss/dw = delta * input (autograd's value)
    new_weight: float  # w - learning_rate * gradient
    loss_after: float  # the example's loss with only this weight changed
    target_probability: float
    target_probability_after: float
    # For a hidden neuron, delta = slope * sum_k W[k, to] * delta_next[k]: the squashing function's
    # slope at this neuron (tanh: 1 - a^2, sigmoid: a(1 - a)) times the error flowing back from above. None for output neurons,
    # whose delta is simply the error p - one_hot.
    slope: float | None = None
    backflow: float | None = None


def explain_step(net: Network, pixels: list[float], target: int, last: str = "tanh") -> StepExplained:
    """Loss, error and dLoss/d(everything) for one example, all computed by autograd."""
    params = [p.clone().requires_grad_(True) for layer in net for p in (layer.weights, layer.biases)]
    current = [Layer(params[i], params[i + 1]) for i in range(0, len(params), 2)]
    x = torch.tensor([pixels], dtype=DTYPE)
    out = forward(current, x, last)
    for z in out.sums:
        z.retain_grad()  # keep dLoss/dz, the "delta" backpropagation passes from layer to layer
    loss = loss_fn(out.logits, torch.tensor([target]))
    loss.backward()
    probs = out.probabilities[0].detach()
    one_hot = torch.nn.functional.one_hot(torch.tensor(target), N_OUTPUTS).to(DTYPE)
    return StepExplained(
        loss=loss.item(),
        probabilities=probs.tolist(),
        error=(probs - one_hot).tolist(),
        deltas=[z.grad[0].tolist() for z in out.sums],
        gradients=[(params[i].grad.tolist(), params[i + 1].grad.tolist()) for i in range(0, len(params), 2)],
        activations=[a[0].detach().tolist() for a in out.activations],
    )


def explain_weight(net: Network, step: StepExplained, pixels: list[float], target: int,
                   layer: int, to: int, frm: int, learning_rate: float, last: str = "tanh") -> WeightStep:
    """Zoom in on one weight of `step` and try its update on the same example."""
    w = net[layer].weights[to, frm].item()
    grad = step.gradients[layer][0][to][frm]
    new_w = w - learning_rate * grad
    nudged = [Layer(lay.weights.clone(), lay.biases.clone()) for lay in net]
    nudged[layer].weights[to, frm] = new_w
    x = torch.tensor([pixels], dtype=DTYPE)
    with torch.no_grad():
        after = forward(nudged, x, last)
        loss_after = loss_fn(after.logits, torch.tensor([target])).item()
    explained = WeightStep(
        weight=w, input=step.activations[layer][frm], delta=step.deltas[layer][to], gradient=grad,
        new_weight=new_w, loss_after=loss_after, target_probability=step.probabilities[target],
        target_probability_after=after.probabilities[0, target].item())
    if layer < len(net) - 1:
        a = step.activations[layer + 1][to]
        explained.slope = slope(a, last if layer == len(net) - 2 else "tanh")
        explained.backflow = sum(net[layer + 1].weights[k, to].item() * d
                                 for k, d in enumerate(step.deltas[layer + 1]))
    return explained


def nearest_symbol(pixels: list[float]) -> int:
    """The symbol whose clean drawing is closest (fewest differing pixels; grey counts by half)."""
    distances = [sum(abs(p - q) for p, q in zip(pixels, s.pixels)) for s in SYMBOLS]
    return min(range(len(SYMBOLS)), key=lambda i: (distances[i], i))


def is_finite(net: Network) -> bool:
    return all(math.isfinite(v) for layer in net for t in (layer.weights, layer.biases)
               for v in t.flatten().tolist())


class single_threaded:
    """Run torch on one thread for the duration (a context manager).

    With more than one intra-op thread, torch sends even a 30-element tanh or exp through an
    OpenMP parallel region; on a busy CPU each region waits milliseconds for a sleeping worker,
    so a 200-epoch training run of this tiny network takes seconds instead of a tenth of one.
    The thread count is process-wide, so callers must hold whatever lock keeps other torch work
    from running meanwhile (the app uses the engine's model lock).
    """

    def __enter__(self) -> None:
        self.previous = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self.previous)
