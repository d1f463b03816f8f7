"""Requests and responses of the 3x3 network chapter (/api/network/...).

The server keeps no per-user state: a client holds the network's weights (as returned by
`init` or `train`) and sends them back with `predict` and `gradient`.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from app.schemas.common import BeyondLimit, StrictModel
from model.errors import InputError
from model.network import N_INPUTS, N_OUTPUTS, SYMBOLS

HIDDEN_MAX = 12
EPOCHS_MAX = 1000
LEARNING_RATE_MAX = 5.0
WEIGHT_LIMIT = 1e6  # far beyond anything training reaches; keeps sums finite
SEED_MAX = 2**31 - 1

DEFAULT_HIDDEN = (6, 5)
DEFAULT_LEARNING_RATE = 0.5
DEFAULT_EPOCHS = 200
DEFAULT_SEED = 1


def _nine_pixels(values: list[float]) -> list[float]:
    if len(values) != N_INPUTS:
        raise ValueError(f"send exactly {N_INPUTS} pixel values, row by row from the top left "
                         f"(1 = white, -1 = black); got {len(values)}")
    for i, v in enumerate(values):
        if not -1 <= v <= 1:
            raise ValueError(f"pixel {i} is {v}; every pixel must lie between -1 (black) and 1 (white)")
    return values


def _hidden_sizes(values: list[int]) -> list[int]:
    if len(values) != 2:
        raise ValueError(f"give two hidden-layer sizes, e.g. [6, 5]; got {len(values)}")
    for i, n in enumerate(values):
        if not 1 <= n <= HIDDEN_MAX:
            message = f"hidden layer {i + 1} has {n} neurons; choose 1 to {HIDDEN_MAX}"
            raise BeyondLimit(message, limit=HIDDEN_MAX, actual=n) if n > HIDDEN_MAX else ValueError(message)
    return values


Pixels = Annotated[list[float], AfterValidator(_nine_pixels), Field(
    description="9 pixel values, row by row from the top left, each from -1 (black) to 1 (white).",
    examples=[[-1, 1, -1, 1, 1, 1, -1, 1, -1]])]
Hidden = Annotated[list[int], AfterValidator(_hidden_sizes), Field(
    description=f"Neurons in the two hidden layers, each 1 to {HIDDEN_MAX}.", examples=[list(DEFAULT_HIDDEN)])]
Seed = Annotated[int, Field(ge=0, le=SEED_MAX, description="Seeds the starting weights (same seed, same network).")]
Squash = Annotated[Literal["tanh", "sigmoid"], Field(
    description="How the last hidden layer squashes its sums: tanh into -1..1 (the default; on this network it "
                "trains several times faster) or sigmoid into 0..1 (as the usual telling has it). The first "
                "hidden layer always uses tanh. Send the same value the weights were trained with.")]
LearningRate = Annotated[float, Field(gt=0, le=LEARNING_RATE_MAX,
                                      description="Step size of gradient descent: w <- w - learning_rate * dLoss/dw.")]


class LayerWeights(StrictModel):
    weights: list[list[float]] = Field(..., description="(out, in): row j holds neuron j's weight for each input.")
    biases: list[float] = Field(..., description="(out,): added to each neuron's weighted sum.")


class NetworkWeights(StrictModel):
    """Three layers: 9 -> h1, h1 -> h2, h2 -> 4."""

    layers: list[LayerWeights]

    @model_validator(mode="after")
    def _shapes(self) -> "NetworkWeights":
        if len(self.layers) != 3:
            raise ValueError(f"a network has 3 layers of weights (inputs->hidden 1->hidden 2->outputs); "
                             f"got {len(self.layers)}")
        n_in = N_INPUTS
        for k, layer in enumerate(self.layers):
            n_out = len(layer.biases)
            expected_out = N_OUTPUTS if k == 2 else None
            if expected_out is not None and n_out != expected_out:
                raise ValueError(f"layers.{k} feeds the {N_OUTPUTS} outputs, so it needs {N_OUTPUTS} biases; got {n_out}")
            if expected_out is None and not 1 <= n_out <= HIDDEN_MAX:
                raise ValueError(f"layers.{k} has {n_out} neurons; a hidden layer has 1 to {HIDDEN_MAX}")
            if len(layer.weights) != n_out or any(len(row) != n_in for row in layer.weights):
                raise ValueError(f"layers.{k}.weights must be {n_out} rows (one per neuron) of {n_in} numbers "
                                 f"(one per input)")
            values = [v for row in layer.weights for v in row] + layer.biases
            if any(not math.isfinite(v) or abs(v) > WEIGHT_LIMIT for v in values):
                raise ValueError(f"layers.{k} has a value beyond ±{WEIGHT_LIMIT:g}; send finite, moderate weights")
            n_in = n_out
        return self

    @property
    def hidden(self) -> list[int]:
        return [len(self.layers[0].biases), len(self.layers[1].biases)]


# --- dataset ---------------------------------------------------------------------------------------


class SymbolOut(BaseModel):
    name: str
    label: str = Field(..., description="How the symbol is shown, e.g. '+'.")
    pixels: list[float]


class ExampleOut(BaseModel):
    pixels: list[float]
    label: int = Field(..., description="Index of the right symbol.")
    flipped: list[int] = Field(..., description="Pixels (0..8) that differ from the clean symbol.")


class Limits(BaseModel):
    hidden_max: int = HIDDEN_MAX
    epochs_max: int = EPOCHS_MAX
    learning_rate_max: float = LEARNING_RATE_MAX
    seed_max: int = SEED_MAX


class Defaults(BaseModel):
    hidden: list[int] = list(DEFAULT_HIDDEN)
    learning_rate: float = DEFAULT_LEARNING_RATE
    epochs: int = DEFAULT_EPOCHS
    seed: int = DEFAULT_SEED


class DatasetOut(BaseModel):
    symbols: list[SymbolOut]
    train: list[ExampleOut] = Field(..., description="Clean symbols and noisy copies the network learns from.")
    heldout: list[ExampleOut] = Field(..., description="Other noisy copies, never trained on: the fair test.")
    defaults: Defaults
    limits: Limits


# --- init / predict -----------------------------------------------------------------------------------


class InitIn(StrictModel):
    seed: Seed = DEFAULT_SEED
    hidden: Hidden = list(DEFAULT_HIDDEN)


class NetworkOut(BaseModel):
    weights: NetworkWeights
    sizes: list[int] = Field(..., description="Neurons per layer, inputs to outputs, e.g. [9, 6, 5, 4].")
    n_params: int = Field(..., description="Number of weights and biases.")


class PredictIn(StrictModel):
    pixels: Pixels
    weights: NetworkWeights
    squash: Squash = "tanh"


class PredictOut(BaseModel):
    activations: list[list[float]] = Field(..., description="Every layer's values: the 9 inputs, hidden 1 and "
                                           "hidden 2 (tanh, -1..1; with squash sigmoid, hidden 2 is 0..1), then the 4 output "
                                           "probabilities.")
    sums: list[list[float]] = Field(..., description="Each neuron's weighted sum before squashing, per layer "
                                    "(for the outputs: the logits that softmax turns into probabilities).")
    probabilities: list[float] = Field(..., description="One per symbol, adding up to 1.")
    prediction: int = Field(..., description="Index of the most probable symbol: the network's answer.")
    symbol: str = Field(..., description="Label of that symbol.")


# --- train ----------------------------------------------------------------------------------------------


class TrainIn(StrictModel):
    seed: Seed = DEFAULT_SEED
    hidden: Hidden | None = Field(None, description=f"Neurons in the two hidden layers, each 1 to {HIDDEN_MAX}; "
                                  f"default: the sizes of `weights` if sent, else {list(DEFAULT_HIDDEN)}.")
    learning_rate: LearningRate = DEFAULT_LEARNING_RATE
    squash: Squash = "tanh"
    epochs: Annotated[int, Field(ge=1, le=EPOCHS_MAX, description="Passes over the training set; each is "
                                 "one gradient-descent step on the mean loss.")] = DEFAULT_EPOCHS
    weights: NetworkWeights | None = Field(None, description="Continue from these weights instead of fresh "
                                           "ones from `seed` (then `hidden` must match them).")
    pixels: Pixels | None = Field(None, description="A drawing whose activations each snapshot includes, so a "
                                  "client can animate the network's answer as it learns.")

    @model_validator(mode="after")
    def _hidden_matches_weights(self) -> "TrainIn":
        if self.hidden is None:
            self.hidden = self.weights.hidden if self.weights is not None else list(DEFAULT_HIDDEN)
        elif self.weights is not None and self.weights.hidden != self.hidden:
            raise InputError(f"hidden is {self.hidden} but the weights have hidden layers of "
                             f"{self.weights.hidden} neurons; send matching sizes or leave out weights",
                             code="invalid", field="hidden")
        return self


class Snapshot(BaseModel):
    epoch: int
    loss: float
    train_accuracy: float
    heldout_accuracy: float
    weights: NetworkWeights = Field(..., description="The weights at this epoch (rounded to 5 decimals).")
    activations: list[list[float]] | None = Field(None, description="Activations for `pixels`, if sent.")


class TrainOut(BaseModel):
    epochs: int
    loss: list[float] = Field(..., description="Mean training loss at epochs 0..epochs (before each update, "
                              "then after the last).")
    train_accuracy: list[float] = Field(..., description="Share of training examples right, per epoch.")
    heldout_accuracy: list[float] = Field(..., description="Share of held-out examples right, per epoch.")
    clean_accuracy: float = Field(..., description="Share of the 4 clean symbols right at the end.")
    snapshots: list[Snapshot] = Field(..., description="Weights at about 60 epochs, denser early on.")
    weights: NetworkWeights = Field(..., description="The final weights, exact: send them to predict.")
    train_predictions: list[int] = Field(..., description="Final answer for each training example.")
    heldout_predictions: list[int] = Field(..., description="Final answer for each held-out example.")


# --- one step in full -------------------------------------------------------------------------------------


class WeightRef(StrictModel):
    model_config = ConfigDict(populate_by_name=True)

    layer: int = Field(..., ge=0, le=2, description="0: inputs->hidden 1, 1: hidden 1->hidden 2, 2: hidden 2->outputs.")
    to: int = Field(..., ge=0, description="The receiving neuron in the layer above.")
    from_: int = Field(..., ge=0, alias="from", description="The sending neuron (or pixel) below.")


class GradientIn(StrictModel):
    pixels: Pixels
    target: int | None = Field(None, ge=0, lt=N_OUTPUTS, description="Index of the symbol this drawing should "
                               f"be ({', '.join(f'{i}: {s.label}' for i, s in enumerate(SYMBOLS))}); "
                               "leave out for the symbol the drawing is closest to.")
    weights: NetworkWeights
    learning_rate: LearningRate = DEFAULT_LEARNING_RATE
    squash: Squash = "tanh"
    weight: WeightRef | None = Field(None, description="One weight to explain in full.")

    @model_validator(mode="after")
    def _weight_exists(self) -> "GradientIn":
        if self.weight is not None:
            w = self.weight
            rows = self.weights.layers[w.layer].weights
            if w.to >= len(rows) or w.from_ >= len(rows[0]):
                raise InputError(f"weight: layers.{w.layer} has {len(rows)} receiving neurons and {len(rows[0])} "
                                 f"inputs; 'to' must be below {len(rows)} and 'from' below {len(rows[0])}",
                                 code="out_of_range", field="weight")
        return self


class WeightStepOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    layer: int
    to: int
    from_: int = Field(..., alias="from")
    weight: float = Field(..., description="w now.")
    input: float = Field(..., description="The value arriving along this edge (pixel or neuron output).")
    delta: float = Field(..., description="dLoss/dz of the receiving neuron: how the loss moves with its sum.")
    gradient: float = Field(..., description="dLoss/dw = delta * input.")
    new_weight: float = Field(..., description="w - learning_rate * gradient.")
    learning_rate: float
    loss: float = Field(..., description="The example's loss now.")
    loss_after: float = Field(..., description="The example's loss with only this weight updated.")
    target_probability: float
    target_probability_after: float
    slope: float | None = Field(None, description="Hidden neurons: tanh's slope 1 - a², one factor of delta.")
    backflow: float | None = Field(None, description="Hidden neurons: the error flowing back from the layer "
                                   "above, sum_k w_k * delta_k; delta = slope * backflow.")


class GradientOut(BaseModel):
    loss: float = Field(..., description="-log(probability of the target symbol).")
    target: int
    probabilities: list[float]
    error: list[float] = Field(..., description="probability - (1 for the target, 0 otherwise), per output: "
                               "dLoss/d(logit).")
    activations: list[list[float]]
    deltas: list[list[float]] = Field(..., description="dLoss/dz for every neuron, per layer (hidden 1, hidden 2, "
                                      "outputs), as backpropagation computes them from the top down.")
    gradients: NetworkWeights = Field(..., description="dLoss/dw and dLoss/db for every weight and bias.")
    weight: WeightStepOut | None = None
