"""Chapter 4a, inside one layer: every number one token meets in one block, for one head.

The handlers parse, hand the request to `app/views/inside.py` and return its answer; the values
come from the prompt's one cached Analysis (and its block, run again on the kept residual stream)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from app.deps import EngineDep
from app.schemas.common import ERRORS, from_query
from app.schemas.inside import INSIDE_EXAMPLES, InsideIn, InsideOut
from app.views import inside as view

InsideBody = Annotated[InsideIn, Body(openapi_examples=INSIDE_EXAMPLES)]

router = APIRouter(prefix="/api", tags=["inside"])


@router.post("/inside", response_model=InsideOut, responses=ERRORS, summary="One token through one layer")
async def inside(body: InsideBody, engine: EngineDep) -> InsideOut:
    """Every number of one layer for one token and query head: the residual stream and RMSNorm, the query and
    keys after RoPE, scores, scaling, softmax (chapter 4's weights), the weighted values, the heads joined and
    added back, the SwiGLU MLP, and how much every layer changed the token's vector."""
    return await view.inside_response(engine, body)


@router.get("/inside", response_model=InsideOut, responses=ERRORS, summary="One token through one layer (the page's URL)")
async def inside_get(engine: EngineDep,
                     text: Annotated[str, Query(description="The prompt, as typed.")],
                     layer: Annotated[int, Query(description="Layer, 0-based.")],
                     head: Annotated[int, Query(description="Query head, 0-based.")],
                     position: Annotated[int | None, Query(description="Token, 0-based; omitted = the last.")] = None,
                     ) -> InsideOut:
    """The JSON twin of the /inside page: its URL query answered as POST /api/inside answers the same request."""
    return await view.inside_response(engine, from_query(InsideIn, text=text, layer=layer, head=head,
                                                         position=position))
