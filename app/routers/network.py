"""Chapter 1 API: the 3x3 symbol network. Stateless: clients send the weights they hold.
Each handler parses, hands the request to `app/views/network.py` and returns."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import EngineDep
from app.schemas.common import ERRORS, from_query
from app.schemas.network import (DatasetOut, GradientIn, GradientOut, InitIn, NetworkOut, PredictIn, PredictOut,
                                 TrainIn, TrainOut)
from app.views import network as view
from model.errors import InputError

router = APIRouter(prefix="/api/network", tags=["network"], responses=ERRORS)


@router.get("/dataset", response_model=DatasetOut)
def dataset() -> DatasetOut:
    """The four symbols, the training set and the held-out set, with default settings and limits."""
    return view.dataset_out()


@router.post("/init", response_model=NetworkOut)
def init(body: InitIn) -> NetworkOut:
    """Fresh weights and biases, each drawn from -1..1 by a generator seeded with `seed`."""
    return view.init_out(body)


@router.post("/predict", response_model=PredictOut)
def predict(body: PredictIn) -> PredictOut:
    """Run one drawing through the network: every layer's values and the four probabilities."""
    return view.predict_out(body)


@router.post("/train", response_model=TrainOut)
async def train(body: TrainIn, engine: EngineDep) -> TrainOut:
    """Train by gradient descent with backpropagation; returns the loss curve, accuracies and weight snapshots."""
    return await view.train_response(engine, body)


@router.get("/train", response_model=TrainOut, summary="Train (the page's URL)")
async def train_get(engine: EngineDep,
                    px: Annotated[str, Query(description="The drawing, 9 pixels row by row: 1 white, 0 black.")]
                    = "010111010",
                    lr: Annotated[float, Query(description="learning_rate.")] = 0.5,
                    epochs: int = 200, h1: int = 6, h2: int = 5, seed: int = 1,
                    squash: Annotated[str, Query(description="tanh or sigmoid (the last hidden layer).")] = "tanh"
                    ) -> TrainOut:
    """The JSON twin of the /network page (chapter 1): its URL query (`px`, `lr`, `epochs`, `h1`, `h2`,
    `seed`, `squash`) answered as POST /api/network/train answers the same request, with `px` as `pixels`."""
    if len(px) != 9 or set(px) - {"0", "1"}:
        raise InputError(f"px is {px[:20]!r}; send 9 pixels as 0 (black) and 1 (white), row by row, such as "
                         "010111010.", code="invalid", field="px")
    body = from_query(TrainIn, {"learning_rate": "lr"}, seed=seed, hidden=[h1, h2], learning_rate=lr,
                      epochs=epochs, squash=squash, pixels=[1.0 if c == "1" else -1.0 for c in px])
    return await view.train_response(engine, body)


@router.post("/gradient", response_model=GradientOut)
def gradient(body: GradientIn) -> GradientOut:
    """For one drawing and its right symbol: the loss, the error, and dLoss/dw of every weight (by autograd)."""
    return view.gradient_out(body)
