"""OpenAI-compatible answers (/v1): a validated request becomes the same generation as POST
/api/generate (the same prompt building, chat template, KV-cache reuse and `model.generate`
steps), reported in the OpenAI API's shapes, with log-probabilities from the float64 softmax at
temperature 1 that chapter 5's probabilities come from (`model.sampling.logprobabilities`).

Each token is one engine job (its step and its vocabulary-wide top log-probabilities run in the
model thread), so other requests interleave between the tokens of a long completion.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from app.engine import Engine, Overloaded, Prompt
from app.schemas.generate import Message
from app.schemas.openai import (ChatChoice, ChatChunkChoice, ChatCompletion, ChatCompletionChunk, ChatCompletionIn,
                                ChatDelta, ChatMessageOut, ChoiceLogprobs, Completion, CompletionChoice,
                                CompletionIn, CompletionLogprobs, ModelList, ModelObject, TextPart, TokenLogprob,
                                TopLogprob, Usage)
from app.views.chat_prompt import chat_prompt
from model.errors import InputError, check_index
from model.generate import TextStream, generate
from model.sampling import logprobabilities
from model.scoring import score_tokens, top_logprobs

# --- errors in the OpenAI shape ---------------------------------------------------------------------


class OpenAIHTTPError(Exception):
    """An error only the /v1 endpoints give (an unknown model), already in OpenAI's terms."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type


def error_json(status: int, message: str, type: str, param: str | None, code: str | None,
               headers: dict | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, headers=headers,
                        content={"error": {"message": message, "type": type, "param": param, "code": code}})


# Native codes that OpenAI's API names differently.
_CODES = {"too_many_tokens": "context_length_exceeded", "too_many_characters": "context_length_exceeded"}


def reshape(status: int, body: dict, headers: dict | None = None) -> JSONResponse:
    """A native error body (`detail`, `code`, `field`, ...) as OpenAI's `{"error": {...}}`: a
    request the caller can fix is a 400 (OpenAI's status for invalid parameters and for a prompt
    over the context), the rest keep their status."""
    code = body.get("code")
    if status in (413, 422):
        status = 400
    kind = "invalid_request_error" if status < 500 else "server_error"
    return error_json(status, str(body.get("detail")), kind, body.get("field"), _CODES.get(code, code), headers)


async def openai_error(request: Request, exc: OpenAIHTTPError) -> JSONResponse:
    return error_json(exc.status, exc.message, exc.type, exc.param, exc.code)


# --- models -----------------------------------------------------------------------------------------


def _model_object(engine: Engine) -> ModelObject:
    source = Path(engine.source) if engine.source else None
    created = int(source.stat().st_mtime) if source is not None and source.is_file() else 0
    return ModelObject(id=engine.display_name, created=created)


def models(engine: Engine) -> ModelList:
    return ModelList(data=[_model_object(engine)])


def model(engine: Engine, model_id: str) -> ModelObject:
    _check_model(engine, model_id)
    return _model_object(engine)


def _check_model(engine: Engine, model_id: str) -> None:
    if model_id != engine.display_name:
        raise OpenAIHTTPError(404, f"The model `{model_id[:100]}` does not exist; this server runs "
                              f"`{engine.display_name}` (GET /v1/models lists it).", "model", "model_not_found")


# --- one request, ready to step ---------------------------------------------------------------------


@dataclass
class Scored:
    """One generated or prompt token with its log-probability and the most probable tokens there."""

    id: int
    logprob: float | None
    top: list[tuple[int, float]] | None
    offset: int  # where its text starts, in characters of prompt + completion


@dataclass
class Piece:
    """Text released to the client, with the tokens that wrote it."""

    text: str
    tokens: list[Scored]


@dataclass
class OpenAIRun:
    engine: Engine
    prompt: Prompt
    max_steps: int
    requested: int
    top: int | None  # None: no log-probabilities asked
    stops: list[str]
    seed: int
    temperature: float
    top_p: float
    cache: object = None
    next_logits: object = None
    id: str = field(default_factory=lambda: secrets.token_hex(12))
    created: int = field(default_factory=lambda: int(time.time()))
    completion_tokens: int = 0
    finish_reason: str = "length"


def _check_max(engine: Engine, value: int, name: str) -> None:
    limit = engine.settings.max_new_tokens
    if value > limit:
        raise InputError(f"{name} is {value}; this server generates at most {limit} tokens per request.",
                         code="out_of_range", field=name, limit=limit, actual=value)


def _completion_prompt(engine: Engine, prompt: str | list[int]) -> Prompt:
    if isinstance(prompt, str):
        return engine.prompt(prompt, field="prompt")
    tk = engine.tokenizer
    if not prompt:
        raise InputError("prompt is an empty list of token ids; send text or at least one id.", code="empty",
                         field="prompt")
    for i, token_id in enumerate(prompt):
        check_index(f"prompt.{i}", token_id, tk.vocab_size, "token ids")
    engine.check_tokens(len(prompt), "prompt")
    tokens, end = [], 0
    for token_id in prompt:
        start, end = end, end + len(tk.token_text(token_id))
        tokens.append(tk.describe(token_id, start, end))
    return Prompt("".join(tk.token_text(i) for i in prompt), tokens)


def _stops(stop: str | list[str] | None) -> list[str]:
    """`stop` as OpenAI takes it (one text, a list or nothing), as a list."""
    return [stop] if isinstance(stop, str) else list(stop or [])


def _message_text(content: str | list[TextPart]) -> str:
    """A message's `content`: its text, or its text parts joined."""
    return content if isinstance(content, str) else "".join(p.text for p in content)


def _run(engine: Engine, body, prompt: Prompt, max_tokens: int, top: int | None) -> OpenAIRun:
    room = engine.cfg.context_length - len(prompt.tokens)
    return OpenAIRun(engine, prompt, max_steps=max(0, min(max_tokens, room)), requested=max_tokens, top=top,
                     stops=_stops(body.stop), seed=body.seed if body.seed is not None else secrets.randbelow(2**31),
                     temperature=1.0 if body.temperature is None else body.temperature,
                     top_p=1.0 if body.top_p is None else body.top_p)


async def start_completion(engine: Engine, body: CompletionIn) -> tuple[OpenAIRun, object]:
    """The run and the prompt's Analysis (shared with /api/predict and /api/generate)."""
    _check_model(engine, body.model)
    max_tokens = 16 if body.max_tokens is None else body.max_tokens
    _check_max(engine, max_tokens, "max_tokens")
    prompt = _completion_prompt(engine, body.prompt)
    analysis = await engine.analyse(prompt)
    run = _run(engine, body, prompt, max_tokens, body.logprobs)
    run.cache, run.next_logits = analysis.kv_cache, analysis.next_logits
    return run, analysis


async def start_chat(engine: Engine, body: ChatCompletionIn) -> OpenAIRun:
    _check_model(engine, body.model)
    name = "max_completion_tokens" if body.max_completion_tokens is not None else "max_tokens"
    asked = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    if asked is not None:
        _check_max(engine, asked, name)
    messages = []
    for i, m in enumerate(body.messages):
        try:
            messages.append(Message(role="system" if m.role == "developer" else m.role, content=_message_text(m.content)))
        except ValidationError as exc:
            raise InputError(f"messages.{i}.content: {exc.errors()[0]['msg']}", code="invalid",
                             field=f"messages.{i}.content") from None
    prompt = chat_prompt(engine, messages)
    # A chat's template is not a prompt other views share: no Analysis, as in POST /api/generate.
    return _run(engine, body, prompt, asked if asked is not None else engine.settings.max_new_tokens,
                (body.top_logprobs or 0) if body.logprobs else None)


# --- stepping ---------------------------------------------------------------------------------------


def _held_back(text: str, stops: list[str]) -> int:
    """How many trailing characters could still be the start of a stop sequence."""
    longest = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:k]):
                longest = k
                break
    return longest


def _step(run: OpenAIRun, steps):
    """One generated token with its log-probability at temperature 1 (in the model thread)."""
    step = next(steps, None)
    if step is None:
        return None
    logp = logprobabilities(step.logits)
    top = list(zip(*top_logprobs(logp, run.top))) if run.top is not None else None
    return step.id, float(logp[step.id]), top


async def pieces(run: OpenAIRun, request: Request) -> AsyncIterator[Piece]:
    """The completion's text as it may be released (never part of a stop sequence), with its
    tokens; sets `run.finish_reason` and `run.completion_tokens` as it goes."""
    engine, tk = run.engine, run.engine.tokenizer
    steps = generate(engine.model, run.prompt.ids, run.max_steps, run.temperature, 0, run.top_p, run.seed,
                     stop_ids=tk.stop_ids, cache=run.cache, next_logits=run.next_logits)
    stream, text, released, pending = TextStream(), "", 0, []
    base = len(run.prompt.text)
    run.finish_reason = "length"
    cut = None
    for _ in range(run.max_steps):
        if await request.is_disconnected():
            return
        got = await engine.run(_step, run, steps)
        if got is None:
            break
        token_id, logprob, top = got
        run.completion_tokens += 1
        if token_id in tk.stop_ids:
            run.finish_reason = "stop"
            break
        offset = len(text)
        text += stream.push(tk.token_bytes(token_id))
        pending.append(Scored(token_id, logprob, top, base + offset))
        found = [i for i in (text.find(s, max(0, released - len(s))) for s in run.stops) if i >= 0]
        if found:
            run.finish_reason, cut = "stop", min(found)
            break
        safe = len(text) - _held_back(text, run.stops)
        ready = [t for t in pending if t.offset - base < safe]
        if safe > released or ready:
            pending = pending[len(ready):]
            yield Piece(text[released:safe], ready)
            released = safe
    if cut is None:
        text += stream.flush()
        cut = len(text)
    ready = [t for t in pending if t.offset - base < cut]
    if cut > released or ready:
        yield Piece(text[released:cut], ready)


def _scored_prompt(run: OpenAIRun, analysis) -> list[Scored]:
    """The prompt's own tokens scored (the first has nothing before it: null), in the model thread."""
    scores = score_tokens(analysis.model, analysis.final_hidden, analysis.ids, run.top or 0)
    return [Scored(t.id, lp, None if lp is None else list(zip(ids, vals)), t.start)
            for t, lp, ids, vals in zip(run.prompt.tokens, scores.logprobs, scores.top_ids, scores.top_logprobs)]


def _usage(run: OpenAIRun) -> Usage:
    n = len(run.prompt.tokens)
    return Usage(prompt_tokens=n, completion_tokens=run.completion_tokens, total_tokens=n + run.completion_tokens)


def _sse(data: dict | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _busy() -> bytes:
    return _sse({"error": {"message": "The model is busy with other requests; retry in a few seconds.",
                           "type": "server_error", "param": None, "code": "busy"}})


# --- completions ------------------------------------------------------------------------------------


def _completion_logprobs(engine: Engine, tokens: list[Scored]) -> CompletionLogprobs:
    tk = engine.tokenizer
    return CompletionLogprobs(
        tokens=[tk.token_text(t.id) for t in tokens],
        token_logprobs=[t.logprob for t in tokens],
        top_logprobs=[None if t.top is None else {tk.token_text(i): v for i, v in t.top} for t in tokens],
        text_offset=[t.offset for t in tokens])


async def completion(engine: Engine, body: CompletionIn, request: Request) -> Completion:
    run, analysis = await start_completion(engine, body)
    scored = await engine.run(_scored_prompt, run, analysis) if body.echo and run.top is not None else []
    text = run.prompt.text if body.echo else ""
    async for piece in pieces(run, request):
        text += piece.text
        scored += piece.tokens
    logprobs = _completion_logprobs(engine, scored) if run.top is not None else None
    return Completion(id="cmpl-" + run.id, created=run.created, model=engine.display_name, usage=_usage(run),
                      choices=[CompletionChoice(text=text, logprobs=logprobs, finish_reason=run.finish_reason)])


async def completion_stream(engine: Engine, body: CompletionIn, request: Request) -> AsyncIterator[bytes]:
    run, analysis = await start_completion(engine, body)
    usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(text: str, tokens: list[Scored] | None, finish: str | None) -> bytes:
        logprobs = _completion_logprobs(engine, tokens) if run.top is not None and tokens is not None else None
        out = Completion(id="cmpl-" + run.id, created=run.created, model=engine.display_name,
                         choices=[CompletionChoice(text=text, logprobs=logprobs, finish_reason=finish)])
        return _sse(out.model_dump(exclude={"usage"} if not usage else set()))

    async def stream() -> AsyncIterator[bytes]:
        try:
            if body.echo:
                scored = await engine.run(_scored_prompt, run, analysis) if run.top is not None else None
                yield chunk(run.prompt.text, scored, None)
            async for piece in pieces(run, request):
                yield chunk(piece.text, piece.tokens, None)
        except Overloaded:
            yield _busy()
            return
        yield chunk("", [] if run.top is not None else None, run.finish_reason)
        if usage:
            yield _sse(Completion(id="cmpl-" + run.id, created=run.created, model=engine.display_name, choices=[],
                                  usage=_usage(run)).model_dump())
        yield _sse("[DONE]")

    return stream()


# --- chat completions -------------------------------------------------------------------------------


def _chat_logprobs(engine: Engine, tokens: list[Scored]) -> list[TokenLogprob]:
    tk = engine.tokenizer

    def entry(token_id: int, logprob: float) -> dict:
        return {"token": tk.token_text(token_id), "logprob": logprob, "bytes": list(tk.token_bytes(token_id))}

    return [TokenLogprob(**entry(t.id, t.logprob), top_logprobs=[TopLogprob(**entry(i, v)) for i, v in t.top or []])
            for t in tokens]


async def chat_completion(engine: Engine, body: ChatCompletionIn, request: Request) -> ChatCompletion:
    run = await start_chat(engine, body)
    text, scored = "", []
    async for piece in pieces(run, request):
        text += piece.text
        scored += piece.tokens
    logprobs = ChoiceLogprobs(content=_chat_logprobs(engine, scored)) if run.top is not None else None
    return ChatCompletion(id="chatcmpl-" + run.id, created=run.created, model=engine.display_name,
                          usage=_usage(run), choices=[ChatChoice(message=ChatMessageOut(content=text),
                                                                 logprobs=logprobs, finish_reason=run.finish_reason)])


async def chat_stream(engine: Engine, body: ChatCompletionIn, request: Request) -> AsyncIterator[bytes]:
    run = await start_chat(engine, body)
    usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(delta: ChatDelta, tokens: list[Scored] | None = None, finish: str | None = None) -> bytes:
        logprobs = ChoiceLogprobs(content=_chat_logprobs(engine, tokens)) if tokens is not None else None
        out = ChatCompletionChunk(id="chatcmpl-" + run.id, created=run.created, model=engine.display_name,
                                  choices=[ChatChunkChoice(delta=delta, logprobs=logprobs, finish_reason=finish)])
        data = out.model_dump(exclude={"usage"} if not usage else set())
        data["choices"][0]["delta"] = delta.model_dump(exclude_none=True)
        return _sse(data)

    async def stream() -> AsyncIterator[bytes]:
        yield chunk(ChatDelta(role="assistant", content=""))
        try:
            async for piece in pieces(run, request):
                yield chunk(ChatDelta(content=piece.text), piece.tokens if run.top is not None else None)
        except Overloaded:
            yield _busy()
            return
        yield chunk(ChatDelta(), finish=run.finish_reason)
        if usage:
            yield _sse(ChatCompletionChunk(id="chatcmpl-" + run.id, created=run.created, model=engine.display_name,
                                           choices=[], usage=_usage(run)).model_dump())
        yield _sse("[DONE]")

    return stream()
