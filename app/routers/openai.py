"""OpenAI-compatible endpoints under /v1: point the official `openai` client (or anything built on
it) at `http://127.0.0.1:8000/v1` with any API key. Each handler parses, hands the request to
`app/views/openai.py` and returns; errors here are `{"error": {message, type, param, code}}`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import StreamingResponse

from app.deps import EngineDep
from app.schemas.openai import (CHAT_EXAMPLES, COMPLETION_EXAMPLES, OPENAI_ERRORS, ChatCompletion, ChatCompletionIn,
                                Completion, CompletionIn, ModelList, ModelObject)
from app.views import openai as view

CompletionBody = Annotated[CompletionIn, Body(openapi_examples=COMPLETION_EXAMPLES)]
ChatBody = Annotated[ChatCompletionIn, Body(openapi_examples=CHAT_EXAMPLES)]

router = APIRouter(prefix="/v1", tags=["openai"])

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _stream_doc(chunk: str) -> dict:
    return {"description": f"The answer (JSON), or with `stream` server-sent events: `data: {{{chunk}}}` lines, "
                           "the last chunk with `finish_reason`, then (with `stream_options.include_usage`) one "
                           "with empty `choices` and `usage`, then `data: [DONE]`. A server too busy to go on "
                           "sends `data: {\"error\": {...}}` instead.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}}}


@router.get("/models", response_model=ModelList, summary="List models (OpenAI-compatible)")
def list_models(engine: EngineDep) -> ModelList:
    """The one model this server runs."""
    return view.models(engine)


@router.get("/models/{model_id}", response_model=ModelObject, responses={404: OPENAI_ERRORS[404]},
            summary="Retrieve a model (OpenAI-compatible)")
def retrieve_model(model_id: str, engine: EngineDep) -> ModelObject:
    """The model with this id, or a 404 `model_not_found`."""
    return view.model(engine, model_id)


@router.post("/completions", response_model=Completion, summary="Complete a text (OpenAI-compatible)",
             responses={**OPENAI_ERRORS, 200: _stream_doc("Completion")})
async def create_completion(body: CompletionBody, engine: EngineDep, request: Request):
    """Continue `prompt` as OpenAI's legacy completions endpoint does: greedy at temperature 0 (the
    same tokens as POST /api/generate), `logprobs` (natural logs at temperature 1, the same softmax
    as POST /api/predict), `echo` to score the prompt's own tokens."""
    if body.stream:
        return StreamingResponse(await view.completion_stream(engine, body, request),
                                 media_type="text/event-stream", headers=STREAM_HEADERS)
    return await view.completion(engine, body, request)


@router.post("/chat/completions", response_model=ChatCompletion, summary="Answer a chat (OpenAI-compatible)",
             responses={**OPENAI_ERRORS, 200: _stream_doc("ChatCompletionChunk")})
async def create_chat_completion(body: ChatBody, engine: EngineDep, request: Request):
    """Answer `messages` through the model's chat template, as OpenAI's chat completions endpoint
    does, with `logprobs`/`top_logprobs` (each with its UTF-8 `bytes`) and `usage`."""
    if body.stream:
        return StreamingResponse(await view.chat_stream(engine, body, request),
                                 media_type="text/event-stream", headers=STREAM_HEADERS)
    return await view.chat_completion(engine, body, request)
