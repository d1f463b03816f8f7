"""Generation: a validated request becomes a `Run` that steps one token per engine job; each
step is turned into a `GeneratedToken`, as JSON or as server-sent events.

Each token is one step of `model.generate.generate` (one token's forward pass over the KV
cache), run on the model thread under the model lock, so other requests interleave between the
tokens of a long reply; between steps the stream checks whether the client is still there.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from fastapi import Request

from app.engine import Engine, Overloaded, Prompt
from app.schemas.generate import GeneratedToken, GenerateDone, GenerateEnd, GenerateIn, GenerateOut, GenerateStart
from app.views.chat_prompt import chat_prompt
from app.views.common import tokens_out
from app.views.predict import continued_prompt, top_predictions
from model.errors import InputError
from model.generate import Step, TextStream, generate


@dataclass
class Run:
    """A validated generation request, ready to step."""

    prompt: Prompt
    seed: int
    requested: int   # max_new_tokens as asked
    max_steps: int   # as many as fit in the context window
    steps: Iterator[Step]
    text: TextStream  # the reply's text so far, for each token's `delta`


async def start(body: GenerateIn, engine: Engine) -> Run:
    limit = engine.settings.max_new_tokens
    if body.max_new_tokens > limit:
        raise InputError(f"max_new_tokens is {body.max_new_tokens}; this server generates at most {limit} tokens "
                         "per request. Ask for fewer.", code="out_of_range", field="max_new_tokens", limit=limit,
                         actual=body.max_new_tokens)
    if body.messages is not None:
        prompt = chat_prompt(engine, body.messages)
        cache = next_logits = None  # a chat's template is not a prompt other views share: no Analysis
    else:
        prompt = continued_prompt(engine, body.text, body.append_ids)
        analysis = await engine.analyse(prompt)  # shared with /api/predict: the prompt pass is reused
        cache, next_logits = analysis.kv_cache, analysis.next_logits
    room = engine.cfg.context_length - len(prompt.tokens)
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    max_steps = min(body.max_new_tokens, room)
    steps = generate(engine.model, prompt.ids, max_steps, body.temperature, body.top_k, body.top_p, seed,
                     stop_ids=engine.tokenizer.stop_ids, cache=cache, next_logits=next_logits)
    return Run(prompt, seed, body.max_new_tokens, max_steps, steps, TextStream())


def _token(engine: Engine, run: Run, index: int, step: Step, alternatives: int) -> GeneratedToken:
    t = engine.tokenizer.describe(step.id)
    # A stop token is not part of the text; it ends it (a character left incomplete becomes U+FFFD).
    stop = step.id in engine.tokenizer.stop_ids
    delta = run.text.flush() if stop else run.text.push(engine.tokenizer.token_bytes(step.id))
    return GeneratedToken(index=index, id=step.id, text=t.text, display=t.display, bytes=t.bytes_hex,
                          partial=t.partial, special=t.special, delta=delta,
                          probability=float(step.dist.probs[step.id]),
                          alternatives=top_predictions(engine.tokenizer, step.dist, step.logits, alternatives)
                          if alternatives else [])


async def _tokens(run: Run, body: GenerateIn, engine: Engine, request: Request) -> AsyncIterator[GeneratedToken]:
    """Step the generation, one token per model-lock turn, until it ends or the client leaves."""
    for index in range(run.max_steps):
        if await request.is_disconnected():
            return
        # The step and its vocabulary-wide top-k both run in the worker, off the event loop.
        token = await engine.run(_next_token, engine, run, index, body.alternatives)
        if token is None:
            return
        yield token


def _next_token(engine: Engine, run: Run, index: int, alternatives: int) -> GeneratedToken | None:
    step = next(run.steps, None)
    return None if step is None else _token(engine, run, index, step, alternatives)


def _end(engine: Engine, run: Run, generated: list[GeneratedToken]) -> GenerateEnd:
    stopped = bool(generated) and generated[-1].id in engine.tokenizer.stop_ids
    ids = [g.id for g in generated[:-1 if stopped else None]]
    reason = ("stop_token" if stopped else
              "max_new_tokens" if len(generated) >= run.requested else "context_length")
    return GenerateEnd(text=engine.tokenizer.decode(ids), stop_reason=reason)


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def event_stream(run: Run, body: GenerateIn, engine: Engine, request: Request) -> AsyncIterator[bytes]:
    start = GenerateStart(prompt_tokens=tokens_out(run.prompt.tokens), seed=run.seed)
    yield _sse("start", start.model_dump())
    generated: list[GeneratedToken] = []
    try:
        async for token in _tokens(run, body, engine, request):
            generated.append(token)
            yield _sse("token", token.model_dump())
    except Overloaded:
        yield _sse("error", {"detail": "The model is busy with other requests; retry in a few seconds.",
                             "code": "busy"})
        return
    if await request.is_disconnected():
        return  # nobody is listening for the summary
    yield _sse("done", GenerateDone(**_end(engine, run, generated).model_dump(), count=len(generated)).model_dump())




async def generate_out(run: Run, body: GenerateIn, engine: Engine, request: Request) -> GenerateOut:
    """The whole reply as one JSON answer."""
    generated = [token async for token in _tokens(run, body, engine, request)]
    return GenerateOut(prompt_tokens=tokens_out(run.prompt.tokens), seed=run.seed,
                       generated=generated, **_end(engine, run, generated).model_dump())
