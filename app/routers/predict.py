"""Next-token endpoints: the distribution after a prompt (with sampling settings and head
ablation), the logit lens through the layers, and how surprising each prompt token was.
Each handler parses, hands the request to its view in `app/views/predict.py` and returns."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from app.deps import EngineDep
from app.schemas.common import ERRORS, from_query, ids_from_query
from app.schemas.predict import (LENS_EXAMPLES, PREDICT_EXAMPLES, SURPRISE_EXAMPLES, LensIn, LensOut, PredictIn,
                                 PredictOut, SurpriseIn, SurpriseOut)
from app.views import predict as view
from model.errors import check_index

# Request bodies with the examples /docs offers.
PredictBody = Annotated[PredictIn, Body(openapi_examples=PREDICT_EXAMPLES)]
LensBody = Annotated[LensIn, Body(openapi_examples=LENS_EXAMPLES)]
SurpriseBody = Annotated[SurpriseIn, Body(openapi_examples=SURPRISE_EXAMPLES)]

router = APIRouter(prefix="/api", tags=["predict"])


@router.post("/predict", response_model=PredictOut, responses=ERRORS, summary="Next-token probabilities")
async def predict(body: PredictBody, engine: EngineDep) -> PredictOut:
    """Probabilities of every possible next token after `text`, most probable first, marked with
    whether temperature/top-k/top-p still allow each to be drawn; optionally with attention heads off."""
    return await view.predict_response(engine, body)


@router.get("/predict", response_model=PredictOut, responses=ERRORS, summary="Next-token probabilities (the page's URL)")
async def predict_get(engine: EngineDep,
                      text: Annotated[str, Query(description="The prompt, as typed.")],
                      steps: Annotated[str, Query(description="Generated token ids after the text, comma-separated "
                                                  "(read as ids, like append_ids).")] = "",
                      at: Annotated[int, Query(description="Show the distribution before step `at` (0-based); "
                                               "-1 (any negative, or a step past the last) = after every step.")] = -1,
                      temperature: float = 1.0, top_k: int = 10, top_p: float = 1.0,
                      n_predictions: int = 20) -> PredictOut:
    """The JSON twin of the /predict page: its URL query (`text`, `steps`, `at`, `temperature`,
    `top_k`, `top_p`) answered as POST /api/predict answers the same request."""
    ids = ids_from_query(steps, "steps", "7042,30")
    for i, token_id in enumerate(ids):
        check_index(f"steps.{i}", token_id, engine.tokenizer.vocab_size, "token ids")
    body = from_query(PredictIn, {"append_ids": "steps"}, text=text, append_ids=ids if at < 0 else ids[:at],
                      temperature=temperature, top_k=top_k, top_p=top_p, n_predictions=n_predictions)
    return await view.predict_response(engine, body)


@router.post("/logit-lens", response_model=LensOut, responses=ERRORS, summary="Logit lens")
async def lens(body: LensBody, engine: EngineDep) -> LensOut:
    """The token each layer would predict next at the prompt's last positions (the logit lens):
    how the answer forms through the layers."""
    return await view.lens_response(engine, body)


@router.post("/surprise", response_model=SurpriseOut, responses=ERRORS, summary="Surprise of each prompt token")
async def surprise_of(body: SurpriseBody, engine: EngineDep) -> SurpriseOut:
    """How probable the model found each token of the prompt, given the tokens before it."""
    return await view.surprise_response(engine, body)
