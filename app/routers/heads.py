"""Head roles: what each of the model's heads does, measured by standard probes over all heads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import EngineDep
from app.schemas.common import ERRORS
from app.schemas.heads import HeadProbeOut, HeadsOut
from app.views import heads as view

router = APIRouter(prefix="/api", tags=["attention"])


@router.get("/heads", response_model=HeadsOut, responses=ERRORS, summary="Every head's role, measured")
async def heads(engine: EngineDep) -> HeadsOut:
    """Every head's previous-token, induction and first-token scores and its role (measured once per model)."""
    return view.heads_out(engine, await view.scores(engine))


@router.get("/heads/probe", response_model=HeadProbeOut, responses=ERRORS, summary="One head on the induction probe")
async def probe(engine: EngineDep,
                layer: Annotated[int, Query(description="Layer, counted from 0.", examples=[18])],
                head: Annotated[int, Query(description="Query head within the layer, counted from 0.", examples=[6])],
                sequence: Annotated[int, Query(description="Which random sequence of the probe.")] = 0) -> HeadProbeOut:
    """One head's attention on one of the induction probe's sequences of random tokens written twice."""
    view.check_probe_request(engine, layer, head, sequence)
    scores = await view.scores(engine)
    return await engine.run(view.probe_out, engine, scores, layer, head, sequence)
