"""Why this token: POST /api/attribution parses, hands the request to `app/views/attribution.py`
and returns."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from app.deps import EngineDep
from app.schemas.attribution import ATTRIBUTION_EXAMPLES, AttributionIn, AttributionOut
from app.schemas.common import ERRORS
from app.views import attribution as view

AttributionBody = Annotated[AttributionIn, Body(openapi_examples=ATTRIBUTION_EXAMPLES)]

router = APIRouter(prefix="/api", tags=["attribution"])


@router.post("/attribution", response_model=AttributionOut, responses=ERRORS, summary="Why this token?")
async def attribution(body: AttributionBody, engine: EngineDep) -> AttributionOut:
    """The target's next-token logit split into the parts that wrote it (the embedding, every head, every
    MLP; the final norm's scale frozen), the strongest parts switched off as a check, and each input
    token's saliency (gradient x input, integrated gradients)."""
    return await view.attribution_response(engine, body)
