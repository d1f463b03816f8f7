"""The learning chapter's answers: a training run of the tiny transformer turned into curves,
per-head probe scores and a before/after sample (started in the training slot, streamed as events
or awaited as JSON); SmolLM2's induction heads switched off."""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import torch
from fastapi import Request
from fastapi.responses import JSONResponse

from app.engine import Engine
from app.schemas.learn import (ConfigOut, FinalOut, Guesses, HeadCurve, HeadScore, KnockoutIn, KnockoutOut, LearnIn,
                               LearnOut, LearnStartOut, Progress, SampleOut, StartOut)
from app.training import Job, TrainingBusy, TrainingSlot, warm
from app.views import heads as heads_view
from model import head_probes, induction
from model import toy_transformer as tt
from model.errors import InputError

DIGITS = 5


def _r(x: float) -> float:
    return round(float(x), DIGITS)


def _rows(t: torch.Tensor | list) -> list:
    return (torch.as_tensor(t, dtype=torch.float64) * 10**DIGITS).round().div(10**DIGITS).tolist()


def train_config(body: LearnIn) -> tt.TrainConfig:
    return tt.TrainConfig(seed=body.seed, steps=body.steps, layers=body.layers, heads=body.heads, lr=body.lr)


def config_out(config: tt.TrainConfig) -> ConfigOut:
    cfg = config.model_config()
    n_params = sum(p.numel() for p in tt.ToyTransformer(cfg).parameters())
    return ConfigOut(seed=config.seed, steps=config.steps, layers=config.layers, heads=config.heads, lr=config.lr,
                     batch=config.batch, log_every=config.log_every, vocab=cfg.vocab, n_ctx=cfg.n_ctx,
                     d_model=cfg.d_model, d_head=cfg.d_head, mlp=cfg.mlp, segment=list(tt.SEGMENT),
                     max_start=tt.MAX_START, n_params=n_params, probe_period=tt.PROBE_PERIOD,
                     uniform_loss=math.log(cfg.vocab), threshold=head_probes.ROLE_THRESHOLD)


def start_out(config: tt.TrainConfig) -> StartOut:
    return StartOut(config=config_out(config), steps=tt.logged_steps(config.steps, config.log_every))


def progress_out(log: tt.Log) -> Progress:
    return Progress(step=log.step, loss=_r(log.loss), loss_first=_r(log.loss_first), loss_repeat=_r(log.loss_repeat),
                    induction=_rows(log.induction), previous_token=_rows(log.previous_token),
                    seconds=round(log.seconds, 3))


def _head(scores: torch.Tensor, layer: int | None = None) -> HeadScore:
    """The head with the highest score (within `layer` if given). scores: (layers, heads)."""
    if layer is not None:
        head = int(scores[layer].argmax())
        return HeadScore(layer=layer, head=head, score=_r(scores[layer, head]))
    layer, head = divmod(int(scores.argmax()), scores.shape[1])
    return HeadScore(layer=layer, head=head, score=_r(scores[layer, head]))


def learn_out(result: tt.TrainResult) -> LearnOut:
    """(training thread) The whole run as the JSON answer."""
    logs, config = result.logs, result.config
    last = result.logs[-1]
    induction_scores = torch.tensor(last.induction, dtype=torch.float64)     # (L, h)
    previous_scores = torch.tensor(last.previous_token, dtype=torch.float64)
    best, previous = _head(induction_scores), _head(previous_scores, layer=0)
    sample = result.sample_after
    with torch.no_grad():
        _, patterns = result.model(torch.tensor([sample.ids]))                # (L, 1, h, n, n)
    two_back, even = tt.previous_token_controls(result.model, config.model_config(), previous.layer, previous.head)
    curves = [HeadCurve(layer=l, head=h, induction=[_r(g.induction[l][h]) for g in logs],
                        previous_token=[_r(g.previous_token[l][h]) for g in logs])
              for l in range(config.layers) for h in range(config.heads)]
    final = FinalOut(
        induction_head=best if best.score >= head_probes.ROLE_THRESHOLD else None, best_head=best,
        previous_token_head=previous, previous_two_back=_r(two_back), previous_even=_r(even),
        sample=SampleOut(tokens=sample.ids, start=sample.start, period=sample.period,
                         before=Guesses(predicted=result.sample_before.predicted,
                                        probability=_rows(result.sample_before.probability)),
                         after=Guesses(predicted=sample.predicted, probability=_rows(sample.probability))),
        pattern=_rows(patterns[best.layer, 0, best.head]),
        previous_pattern=_rows(patterns[previous.layer, 0, previous.head]))
    return LearnOut(config=config_out(config), steps=[g.step for g in logs], loss=[_r(g.loss) for g in logs],
                    loss_first=[_r(g.loss_first) for g in logs], loss_repeat=[_r(g.loss_repeat) for g in logs],
                    heads=curves, final=final, stopped=result.stopped, seconds=round(result.seconds, 3))


def train(body: LearnIn, job: Job) -> LearnOut:
    """(training thread) Train, sending a `progress` event to the job at every logged step."""
    result = tt.train(train_config(body), on_log=lambda log: job.emit(progress_out(log)),
                      stop=job.cancelled.is_set)
    return learn_out(result)


# --- the run's first picture: its start and step 0, without training (GET /api/learn/start) -----------

# The untrained model measured once per seed and shape (about 70 ms on one thread; the numbers depend on
# nothing else), on a thread of its own: not the training slot (a run going on would refuse it, and the
# page's own run must find the slot free), not the model thread (the language model's requests).
_first_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="learn-first")


@functools.lru_cache(maxsize=32)
def _first_log(seed: int, layers: int, heads: int) -> tt.Log:
    """(first thread) The step-0 measurement, on one thread as the training slot runs it: the same
    numbers bit for bit."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return tt.first_log(tt.TrainConfig(seed=seed, layers=layers, heads=heads))
    finally:
        torch.set_num_threads(previous)


async def first_response(engine: Engine, body: LearnIn) -> LearnStartOut:
    """The stream's first two events for `body` (its `start` and its step-0 `progress`), as one answer."""
    await warm(engine)  # as before a run: the model thread fixes its thread count before one is set to 1
    log = await asyncio.get_running_loop().run_in_executor(_first_thread, _first_log, body.seed, body.layers,
                                                           body.heads)
    return LearnStartOut(start=start_out(train_config(body)), progress=progress_out(log))


# --- a run in the training slot: started, streamed or awaited ------------------------------------------

DONE = object()
BUSY = ("A training run is already going on on this server (one at a time, so the model stays quick for "
        "everyone); try again when it ends, within a minute.")


def _slot(request: Request) -> TrainingSlot:
    state = request.app.state
    if getattr(state, "training", None) is None:
        state.training = TrainingSlot()
    return state.training


async def start(engine: Engine, body: LearnIn, request: Request) -> Job | None:
    """The run started in the training slot, or None while another run holds it."""
    await warm(engine)
    try:
        job = _slot(request).start(functools.partial(train, body))
    except TrainingBusy:
        return None
    loop = job.loop
    # (A server shutting down mid-run has closed its loop: nobody is left to tell.)
    job.future.add_done_callback(lambda _: loop.is_closed() or loop.call_soon_threadsafe(job.events.put_nowait, DONE))
    return job


def busy() -> JSONResponse:
    """503 `training_busy`: refused at once rather than queued, so nobody waits a minute unseen."""
    return JSONResponse(status_code=503, headers={"Retry-After": "10"},
                        content={"detail": BUSY, "code": "training_busy", "field": None, "limit": 1, "actual": None})


def _diverged(exc: tt.Diverged) -> InputError:
    return InputError(f"{exc}; lower lr (0.001 to 0.01 works well).", code="diverged", field="lr", actual=exc.step)


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def event_stream(job: Job, body: LearnIn) -> AsyncIterator[bytes]:
    """The run as server-sent events: start, progress at every logged step, then done (or error)."""
    try:
        yield _sse("start", start_out(train_config(body)).model_dump())
        while (item := await job.events.get()) is not DONE:
            yield _sse("progress", item.model_dump())
        try:
            outcome = job.future.result()
        except tt.Diverged as exc:
            err = _diverged(exc)
            yield _sse("error", {"detail": err.detail, "code": err.code})
            return
        yield _sse("done", outcome.model_dump())
    finally:
        job.cancel()  # the client went away (or the run ended): stop within a step


async def result(job: Job, request: Request) -> LearnOut:
    """The run's JSON answer once it ends; stopped within a step if the client goes away."""
    future = asyncio.wrap_future(job.future)
    try:
        while True:
            done, _ = await asyncio.wait({future}, timeout=0.5)
            if done:
                try:
                    return future.result()
                except tt.Diverged as exc:
                    raise _diverged(exc) from None
            if await request.is_disconnected():
                job.cancel()
    finally:
        job.cancel()


# --- the real model ---------------------------------------------------------------------------------------


async def knockout_response(engine: Engine, body: KnockoutIn) -> KnockoutOut:
    scores = await heads_view.scores(engine)  # measured once per model, shared with GET /api/heads
    return await engine.run(knockout, engine, body, scores)


def knockout(engine: Engine, body: KnockoutIn, scores: head_probes.HeadScores) -> KnockoutOut:
    """(model thread) The model's induction heads (by `scores`, as in GET /api/heads) off, against as
    many random other heads off."""
    roles = head_probes.roles(scores)
    cfg = engine.cfg
    chosen = [(l, h) for l in range(cfg.n_layers) for h in range(cfg.n_heads) if roles[l][h] == "induction"]
    chosen.sort(key=lambda lh: -float(scores.induction[lh]))
    sequences = head_probes.induction_sequences(engine.tokenizer, seed=body.seed, count=body.sequences)
    result = induction.knockout(engine.model, sequences, chosen, draws=body.draws, seed=body.seed)

    def named(heads: list[tuple[int, int]]) -> list[HeadScore]:
        return [HeadScore(layer=l, head=h, score=_r(scores.induction[l, h])) for l, h in heads]

    return KnockoutOut(heads=named(result.heads), random_heads=[named(r) for r in result.random_heads],
                       period=sequences.shape[1] // 2, sequences=len(sequences),
                       loss_first=_r(result.loss_first), loss_all_on=_r(result.loss_all_on),
                       loss_heads_off=_r(result.loss_heads_off),
                       loss_random_off=[_r(x) for x in result.loss_random_off],
                       uniform_loss=_r(math.log(cfg.vocab_size)))
