"""How a transformer learns: a tiny transformer trained live (`POST /api/learn`), and SmolLM2's
induction heads switched off (`POST /api/learn/knockout`).

Training runs in the training slot (app/training.py), not on the model thread: one run at a
time on one thread, refused with 503 while another runs, stopped when its client goes away.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import StreamingResponse

from app.deps import EngineDep
from app.schemas.common import ERRORS, from_query
from app.schemas.learn import DEFAULTS, KnockoutIn, KnockoutOut, LearnIn, LearnOut, LearnStartOut
from app.views import learn as view

router = APIRouter(prefix="/api", tags=["learn"])

LEARN_EXAMPLES = {
    "default": {"summary": "Two layers: an induction head forms", "value": {"seed": 0, "steps": 300, "layers": 2}},
    "one_layer": {"summary": "One layer: no induction head can form", "value": {"seed": 0, "steps": 300, "layers": 1}},
    "stream": {"summary": "Stream progress as server-sent events",
               "value": {"seed": 0, "steps": 300, "layers": 2, "stream": True}},
}
LearnBody = Annotated[LearnIn, Body(openapi_examples=LEARN_EXAMPLES)]

STREAM_DOC = """With `"stream": true` the answer is a server-sent-event stream (`text/event-stream`):

| event | data |
| --- | --- |
| `start` | `{config, steps}`: the settings in full and the steps that will be logged |
| `progress` | `{step, loss, loss_first, loss_repeat, induction, previous_token, seconds}` at every logged step, the first at step 0 |
| `done` | the JSON answer |
| `error` | `{detail, code}` instead of `done` (training diverged: lower `lr`) |

Training runs in its own slot, one run at a time per server on one thread (the language model
keeps the other cores): while one runs, another request gets 503 `training_busy` with Retry-After.
A run stops within a step when its client goes away."""


@router.post("/learn", response_model=LearnOut, summary="Train a tiny transformer live",
             description="""Train a tiny transformer (attention-only, learned positions) from random weights on
random tokens in which a segment of 6-16 tokens repeats, at a start and period that change from sequence to
sequence. Every `log_every` steps the held-out loss is measured on the segment's first occurrence (nothing
predicts it) and on its repeats (copying from the earlier copy does), and every head is scored by the same
induction and previous-token probes as SmolLM2's heads (GET /api/heads). With two layers an induction head
forms and the repeats' loss drops suddenly; with one it cannot. The same settings give the same numbers.

""" + STREAM_DOC, responses={
    **ERRORS, 503: {"model": ERRORS[503]["model"], "description": "Another training run is going on "
                    "(`training_busy`), or the model is busy; retry after Retry-After seconds."},
    200: {"description": "The run (JSON), or with `stream` an event stream.",
          "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def learn(body: LearnBody, engine: EngineDep, request: Request):
    """Train a tiny transformer and return (or stream) its loss curves and per-head probe scores."""
    job = await view.start(engine, body, request)
    if job is None:
        return view.busy()
    if body.stream:
        return StreamingResponse(view.event_stream(job, body), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return await view.result(job, request)


@router.get("/learn/start", response_model=LearnStartOut, responses=ERRORS,
            summary="A training run's start and its untrained model (the page's first picture)")
async def learn_start(engine: EngineDep,
                      seed: Annotated[int, Query(description="As in POST /api/learn.")] = DEFAULTS.seed,
                      steps: Annotated[int, Query(description="As in POST /api/learn.")] = DEFAULTS.steps,
                      lr: Annotated[float, Query(description="As in POST /api/learn.")] = DEFAULTS.lr,
                      layers: Annotated[int, Query(description="As in POST /api/learn: 1 or 2.")] = DEFAULTS.layers,
                      heads: Annotated[int, Query(description="As in POST /api/learn.")] = DEFAULTS.heads,
                      ) -> LearnStartOut:
    """What POST /api/learn's stream sends first for the same settings, without training: its `start`
    event and its first `progress` event, the untrained model measured at step 0 (the same numbers the
    run logs; `seconds` is this measurement's own). Takes no training slot, so it is answered while a
    run goes on. The /learn page's HTML carries it, drawn, before its own run's stream begins."""
    body = from_query(LearnIn, seed=seed, steps=steps, lr=lr, layers=layers, heads=heads)
    return await view.first_response(engine, body)


@router.post("/learn/knockout", response_model=KnockoutOut, responses=ERRORS,
             summary="Switch SmolLM2's induction heads off")
async def knockout(body: KnockoutIn, engine: EngineDep) -> KnockoutOut:
    """Loss on the repeated half of random token sequences: all heads on, the induction heads off, as many random other heads off."""
    return await view.knockout_response(engine, body)
