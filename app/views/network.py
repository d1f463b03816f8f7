"""Chapter 1: the 3x3 symbol network (model/network.py) turned into responses. Stateless:
clients send the weights they hold. Training runs as one engine job (see `train_response`)."""

from __future__ import annotations

import math

import torch

from app.engine import Engine
from app.schemas.network import (DatasetOut, Defaults, ExampleOut, GradientIn, GradientOut, InitIn, LayerWeights,
                                 Limits, NetworkOut, NetworkWeights, PredictIn, PredictOut, Snapshot, SymbolOut,
                                 TrainIn, TrainOut, WeightStepOut)
from model import network as nn
from model.errors import InputError

SNAPSHOT_DIGITS = 5


def network_of(weights: NetworkWeights) -> nn.Network:
    """The weights a client sent (already checked for shape by the schema), as the model's network."""
    return nn.network_from_lists([(layer.weights, layer.biases) for layer in weights.layers])


def weights_out(lists: list[tuple[list[list[float]], list[float]]]) -> NetworkWeights:
    """A network's (weights, biases) lists in the answer's shape, built without validating: the
    values come from the model, not from a client."""
    return NetworkWeights.model_construct(layers=[LayerWeights.model_construct(weights=w, biases=b) for w, b in lists])


def dataset_out() -> DatasetOut:
    def examples(items: tuple[nn.Example, ...]) -> list[ExampleOut]:
        return [ExampleOut(pixels=list(e.pixels), label=e.label, flipped=list(e.flipped)) for e in items]
    return DatasetOut(
        symbols=[SymbolOut(name=s.name, label=s.label, pixels=list(s.pixels)) for s in nn.SYMBOLS],
        train=examples(nn.DATASET.train), heldout=examples(nn.DATASET.heldout),
        defaults=Defaults(), limits=Limits())


def init_out(body: InitIn) -> NetworkOut:
    net = nn.init_network(tuple(body.hidden), body.seed)
    return NetworkOut(weights=weights_out(nn.network_to_lists(net)), sizes=nn.sizes_of(net),
                      n_params=sum(layer.weights.numel() + layer.biases.numel() for layer in net))


def predict_out(body: PredictIn) -> PredictOut:
    net = network_of(body.weights)
    out = nn.forward(net, torch.tensor([body.pixels], dtype=nn.DTYPE), body.squash)
    probabilities = out.probabilities[0].tolist()
    _check_finite(probabilities)
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return PredictOut(activations=[a[0].tolist() for a in out.activations], sums=[z[0].tolist() for z in out.sums],
                      probabilities=probabilities, prediction=best, symbol=nn.SYMBOLS[best].label)


async def train_response(engine: Engine, body: TrainIn) -> TrainOut:
    # Training runs single-threaded (see nn.single_threaded) under the engine's lock, because the
    # torch thread count is process-wide; runs are short (well under a second at the defaults).
    return await engine.run(train_out, body)


def train_out(body: TrainIn) -> TrainOut:
    with nn.single_threaded():
        start = (network_of(body.weights) if body.weights is not None
                 else nn.init_network(tuple(body.hidden), body.seed))
        result = nn.train(start, body.learning_rate, body.epochs, last=body.squash)
        if not nn.is_finite(result.net) or not all(map(math.isfinite, result.loss)):
            raise InputError(f"training diverged at learning_rate {body.learning_rate}; lower learning_rate "
                             "(0.1 to 1 works well)", code="diverged", field="learning_rate")
        probe = torch.tensor([body.pixels], dtype=nn.DTYPE) if body.pixels is not None else None
        snapshots = []
        for snap in result.snapshots:
            activations = None
            if probe is not None:
                activations = [a[0].tolist() for a in nn.forward(snap.net, probe, body.squash).activations]
            snapshots.append(Snapshot(
                epoch=snap.epoch, loss=snap.loss, train_accuracy=snap.train_accuracy,
                heldout_accuracy=snap.heldout_accuracy, activations=activations,
                weights=weights_out(nn.network_to_lists(snap.net, SNAPSHOT_DIGITS))))
        clean_x = torch.tensor([s.pixels for s in nn.SYMBOLS], dtype=nn.DTYPE)
        x_train, _ = nn.Dataset.tensors(nn.DATASET.train)
        x_held, _ = nn.Dataset.tensors(nn.DATASET.heldout)
        return TrainOut(
            epochs=body.epochs, loss=result.loss, train_accuracy=result.train_accuracy,
            heldout_accuracy=result.heldout_accuracy, snapshots=snapshots,
            clean_accuracy=nn.accuracy(result.net, clean_x, torch.arange(nn.N_OUTPUTS), body.squash),
            weights=weights_out(nn.network_to_lists(result.net)),
            train_predictions=nn.predictions(result.net, x_train, body.squash),
            heldout_predictions=nn.predictions(result.net, x_held, body.squash))


def gradient_out(body: GradientIn) -> GradientOut:
    net = network_of(body.weights)
    target = body.target if body.target is not None else nn.nearest_symbol(body.pixels)
    step = nn.explain_step(net, body.pixels, target, body.squash)
    _check_finite([step.loss])
    focus = None
    if body.weight is not None:
        ref = body.weight
        w = nn.explain_weight(net, step, body.pixels, target, ref.layer, ref.to, ref.from_, body.learning_rate,
                             body.squash)
        focus = WeightStepOut(layer=ref.layer, to=ref.to, from_=ref.from_, learning_rate=body.learning_rate,
                              loss=step.loss, **vars(w))
    return GradientOut(loss=step.loss, target=target, probabilities=step.probabilities, error=step.error,
                       activations=step.activations, deltas=step.deltas,
                       gradients=weights_out(step.gradients), weight=focus)


def _check_finite(values: list[float]) -> None:
    if not all(map(math.isfinite, values)):
        raise InputError("weights: these weights make the sums overflow; send smaller weights", code="overflow",
                         field="weights")
