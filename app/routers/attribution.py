"""Why this token: POST /api/attribution (and its GET twin, the /why page's URL query) parses, hands the
request to `app/views/attribution.py` and returns."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query

from app.deps import EngineDep
from app.schemas.attribution import ATTRIBUTION_EXAMPLES, AttributionIn, AttributionOut
from app.schemas.common import ERRORS, from_query
from app.views import attribution as view

AttributionBody = Annotated[AttributionIn, Body(openapi_examples=ATTRIBUTION_EXAMPLES)]

router = APIRouter(prefix="/api", tags=["attribution"])


@router.post("/attribution", response_model=AttributionOut, responses=ERRORS, summary="Why this token?")
async def attribution(body: AttributionBody, engine: EngineDep) -> AttributionOut:
    """The target's next-token logit split into the parts that wrote it (the embedding, every head, every
    MLP; the final norm's scale frozen), the strongest parts switched off as a check, and each input
    token's saliency (gradient x input, integrated gradients)."""
    return await view.attribution_response(engine, body)


FIELD = {name: field.description for name, field in AttributionIn.model_fields.items()}


@router.get("/attribution", response_model=AttributionOut, responses=ERRORS, summary="Why this token? (the page's URL)")
async def attribution_get(engine: EngineDep,
                          text: Annotated[str, Query(description="The prompt, as typed; with `mode=chat`, the "
                                                     "user's message.")],
                          mode: Annotated[Literal["text", "chat"], Query(description="`text`: the prompt as "
                                          "typed; `chat`: one user message through the chat template, the "
                                          "assistant's turn opened (as `messages` in the POST).")] = "text",
                          target: Annotated[int | None, Query(description=FIELD["target"])] = None,
                          contrast: Annotated[int | None, Query(description=FIELD["contrast"])] = None,
                          ig_steps: Annotated[int | None, Query(description=FIELD["ig_steps"])] = None,
                          saliency: Annotated[bool, Query(description=FIELD["saliency"])] = True,
                          check_parts: Annotated[int, Query(description=FIELD["check_parts"])] = 3,
                          ) -> AttributionOut:
    """The JSON twin of the /why page: its URL query (`text`, `mode`, `target`, `contrast`) answered as
    POST /api/attribution answers the same request; the page's first request adds `saliency=false`."""
    source = {"messages": [{"role": "user", "content": text}]} if mode == "chat" else {"text": text}
    body = from_query(AttributionIn, **source, target=target, contrast=contrast, ig_steps=ig_steps,
                      saliency=saliency, check_parts=check_parts)
    return await view.attribution_response(engine, body)
