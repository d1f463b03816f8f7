"""How a transformer learns: a tiny transformer trained live (`POST /api/learn`), and SmolLM2's
induction heads switched off (`POST /api/learn/knockout`).

Training runs in the training slot (app/training.py), not on the model thread: one run at a
time on one thread, refused with 503 while another runs, stopped when its client goes away.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, StreamingResponse

from app.deps import EngineDep
from app.schemas.common import ERRORS
from app.schemas.learn import KnockoutIn, KnockoutOut, LearnIn, LearnOut
from app.training import Job, TrainingBusy, TrainingSlot, warm
from app.views import heads as heads_view
from app.views import learn as view
from model.errors import InputError
from model.toy_transformer import Diverged

router = APIRouter(prefix="/api", tags=["learn"])

LEARN_EXAMPLES = {
    "default": {"summary": "Two layers: an induction head forms", "value": {"seed": 0, "steps": 300, "layers": 2}},
    "one_layer": {"summary": "One layer: no induction head can form", "value": {"seed": 0, "steps": 300, "layers": 1}},
    "stream": {"summary": "Stream progress as server-sent events",
               "value": {"seed": 0, "steps": 300, "layers": 2, "stream": True}},
}
LearnBody = Annotated[LearnIn, Body(openapi_examples=LEARN_EXAMPLES)]
DONE = object()
BUSY = ("A training run is already going on on this server (one at a time, so the model stays quick for "
        "everyone); try again when it ends, within a minute.")

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


def _slot(request: Request) -> TrainingSlot:
    state = request.app.state
    if getattr(state, "training", None) is None:
        state.training = TrainingSlot()
    return state.training


def _busy() -> JSONResponse:
    return JSONResponse(status_code=503, headers={"Retry-After": "10"},
                        content={"detail": BUSY, "code": "training_busy", "field": None, "limit": 1, "actual": None})


def _diverged(exc: Diverged) -> InputError:
    return InputError(f"{exc}; lower lr (0.001 to 0.01 works well).", code="diverged", field="lr", actual=exc.step)


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def _events(job: Job, body: LearnIn) -> AsyncIterator[bytes]:
    try:
        yield _sse("start", view.start_out(view.train_config(body)).model_dump())
        while (item := await job.events.get()) is not DONE:
            yield _sse("progress", item.model_dump())
        try:
            result = job.future.result()
        except Diverged as exc:
            err = _diverged(exc)
            yield _sse("error", {"detail": err.detail, "code": err.code})
            return
        yield _sse("done", result.model_dump())
    finally:
        job.cancel()  # the client went away (or the run ended): stop within a step


async def _result(job: Job, request: Request) -> LearnOut:
    future = asyncio.wrap_future(job.future)
    try:
        while True:
            done, _ = await asyncio.wait({future}, timeout=0.5)
            if done:
                return future.result()
            if await request.is_disconnected():
                job.cancel()
    finally:
        job.cancel()


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
    await warm(engine)
    job = _start(request, body)
    if job is None:
        return _busy()
    if body.stream:
        return StreamingResponse(_events(job, body), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    try:
        return await _result(job, request)
    except Diverged as exc:
        raise _diverged(exc) from None


def _start(request: Request, body: LearnIn) -> Job | None:
    try:
        job = _slot(request).start(functools.partial(view.train, body))
    except TrainingBusy:
        return None
    loop = job.loop
    job.future.add_done_callback(lambda _: loop.call_soon_threadsafe(job.events.put_nowait, DONE))
    return job


@router.post("/learn/knockout", response_model=KnockoutOut, responses=ERRORS,
             summary="Switch SmolLM2's induction heads off")
async def knockout(body: KnockoutIn, engine: EngineDep) -> KnockoutOut:
    """Loss on the repeated half of random token sequences: all heads on, the induction heads off, as many random other heads off."""
    scores = await heads_view.scores(engine)  # measured once per model, shared with GET /api/heads
    return await engine.run(view.knockout, engine, body, scores)
