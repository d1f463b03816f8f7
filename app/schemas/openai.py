"""Requests and responses of the OpenAI-compatible endpoints under /v1, as the OpenAI API
spells them (field names, defaults, `object` tags), so the official `openai` client and code
written for it work unchanged. Only what this model can honour is accepted: a parameter it
cannot honour (n > 1, penalties, tools) is a 400 naming it, never silently ignored."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, model_validator

from app.schemas.common import StrictModel
from model.errors import InputError

MAX_STOP = 4  # OpenAI's limit on stop sequences
MAX_TOP_LOGPROBS = 20


class ModelObject(BaseModel):
    id: str = Field(..., description="The model's name, to send as `model`.", examples=["SmolLM2-135M-Instruct"])
    object: Literal["model"] = "model"
    created: int = Field(..., description="Unix time of the model file.")
    owned_by: str = Field("transformer-tour", description="Who serves it.")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


class StreamOptions(StrictModel):
    include_usage: StrictBool = Field(False, description="Send one more chunk before `data: [DONE]` whose "
                                      "`choices` is empty and whose `usage` counts the tokens.")


class _SamplingIn(StrictModel):
    model: str = Field(..., description="The model's id, as GET /v1/models lists it.",
                       examples=["SmolLM2-135M-Instruct"])
    temperature: float | None = Field(1.0, ge=0, le=2, description="0 is greedy (the same tokens as POST "
                                      "/api/generate at temperature 0). Null means 1.")
    top_p: float | None = Field(1.0, gt=0, le=1, description="Nucleus sampling, as in POST /api/generate. "
                                "Null means 1.")
    seed: StrictInt | None = Field(None, ge=0, le=2**63 - 1, description="The same seed and settings give the same "
                                   "tokens (and the same as POST /api/generate with top_k 0).")
    stop: str | list[str] | None = Field(None, description="Up to 4 texts that end the completion; the text "
                                         "returned stops before the first of them.")
    stream: StrictBool | None = Field(False, description="Answer with server-sent events, `data: {chunk}` "
                                      "lines ending with `data: [DONE]`, as the OpenAI API streams.")
    stream_options: StreamOptions | None = None
    n: StrictInt | None = Field(1, ge=1, le=1, description="Only 1 choice per request.")
    frequency_penalty: float | None = Field(0, ge=0, le=0, description="Not supported: only 0.")
    presence_penalty: float | None = Field(0, ge=0, le=0, description="Not supported: only 0.")
    user: str | None = Field(None, max_length=256, description="Accepted and ignored.")

    @model_validator(mode="after")
    def _check_stop(self):
        stops = [self.stop] if isinstance(self.stop, str) else (self.stop or [])
        if len(stops) > MAX_STOP:
            raise InputError(f"stop: at most {MAX_STOP} stop sequences (got {len(stops)})", code="invalid",
                             field="stop", limit=MAX_STOP, actual=len(stops))
        if any(s == "" for s in stops):
            raise InputError("stop: a stop sequence cannot be empty", code="invalid", field="stop")
        if self.stream_options is not None and not self.stream:
            raise InputError("stream_options: only allowed when stream is true", code="invalid",
                             field="stream_options")
        return self


class CompletionIn(_SamplingIn):
    prompt: str | list[StrictInt] = Field(..., description="The text to continue, or its token ids.",
                                          examples=["The capital of France is"])
    max_tokens: StrictInt | None = Field(16, ge=0, description="Most tokens to generate (0 with `echo` scores "
                                         "the prompt only). Null means 16.")
    echo: StrictBool | None = Field(False, description="Return the prompt before the completion; with `logprobs`, "
                                    "the prompt's own tokens are scored too (the first one null).")
    logprobs: StrictInt | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS, description="Return each token's log-probability "
                                       "(natural log, softmax at temperature 1) and the `logprobs` most probable "
                                       "tokens at each position.")
    suffix: None = Field(None, description="Not supported.")


class TextPart(StrictModel):
    type: Literal["text"]
    text: str = Field(..., max_length=20_000)


class ChatMessageIn(StrictModel):
    role: Literal["system", "developer", "user", "assistant"] = Field(..., description="`developer` is read "
                                                                      "as `system`.")
    content: str | list[TextPart] = Field(..., description="Text, or a list of text parts (joined).")
    name: str | None = Field(None, max_length=64, description="Accepted and ignored.")


class ChatCompletionIn(_SamplingIn):
    messages: list[ChatMessageIn] = Field(..., min_length=1, max_length=100, description="The conversation, "
                                          "rendered with the model's chat template as POST /api/generate renders "
                                          "its `messages`.")
    max_tokens: StrictInt | None = Field(None, ge=1, description="Most tokens to generate (deprecated by OpenAI "
                                         "in favour of max_completion_tokens). Null: the server's limit.")
    max_completion_tokens: StrictInt | None = Field(None, ge=1, description="Most tokens to generate.")
    logprobs: StrictBool | None = Field(False, description="Return each generated token's log-probability "
                                        "(natural log, softmax at temperature 1) with its UTF-8 bytes.")
    top_logprobs: StrictInt | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS, description="With `logprobs`, "
                                           "the most probable tokens at each position.")

    @model_validator(mode="after")
    def _check_top(self):
        if self.top_logprobs and not self.logprobs:
            raise InputError("top_logprobs: logprobs must be true to ask for top_logprobs", code="invalid",
                             field="top_logprobs")
        return self


# --- answers -------------------------------------------------------------------------------------


class Usage(BaseModel):
    prompt_tokens: int = Field(..., description="Tokens the model read (for chat: the rendered template).")
    completion_tokens: int = Field(..., description="Tokens it generated, a final end-of-text or end-of-turn "
                                   "token included.")
    total_tokens: int


class CompletionLogprobs(BaseModel):
    tokens: list[str] = Field(..., description="Each token's text (bytes that are only part of a character "
                              "show as U+FFFD).")
    token_logprobs: list[float | None] = Field(..., description="log p(token | the tokens before it); null for "
                                               "the prompt's first token.")
    top_logprobs: list[dict[str, float] | None] = Field(..., description="The most probable tokens at each "
                                                        "position, text to log-probability; null for the first.")
    text_offset: list[int] = Field(..., description="Where each token starts in prompt + completion, in "
                                   "characters.")


class CompletionChoice(BaseModel):
    index: int = 0
    text: str
    logprobs: CompletionLogprobs | None = None
    finish_reason: Literal["stop", "length"] | None = Field(..., description="stop: an end-of-text token or a "
                                                            "stop sequence; length: max_tokens or the context "
                                                            "window; null in a stream's chunks before the last.")


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[CompletionChoice]
    usage: Usage | None = None


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = Field(..., description="The token's UTF-8 bytes (a token may hold part of a "
                                    "character).")


class TokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob] | None
    refusal: list[TokenLogprob] | None = None


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatMessageOut
    logprobs: ChoiceLogprobs | None = None
    finish_reason: Literal["stop", "length"]


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[ChatChoice]
    usage: Usage


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChunkChoice(BaseModel):
    index: int = 0
    delta: ChatDelta
    logprobs: ChoiceLogprobs | None = None
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionChunk(BaseModel):
    """One `data:` line of a streamed chat completion."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[ChatChunkChoice]
    usage: Usage | None = None


class OpenAIErrorBody(BaseModel):
    message: str
    type: str = Field(..., description="invalid_request_error, server_error, ...")
    param: str | None = Field(None, description="The request field at fault.")
    code: str | None = Field(None, description="model_not_found, context_length_exceeded, invalid, missing, "
                             "out_of_range, empty, control_token, invalid_json, busy, ...")


class OpenAIError(BaseModel):
    error: OpenAIErrorBody


OPENAI_ERRORS = {
    400: {"model": OpenAIError, "description": "A parameter is missing, invalid or over a limit."},
    404: {"model": OpenAIError, "description": "No such model."},
    503: {"model": OpenAIError, "description": "The server is busy; retry after the Retry-After seconds."},
}

COMPLETION_EXAMPLES = {
    "greedy": {"summary": "Continue a text, greedy",
               "value": {"model": "SmolLM2-135M-Instruct", "prompt": "The capital of France is",
                         "max_tokens": 8, "temperature": 0}},
    "score": {"summary": "Score a text: echo with logprobs, nothing generated",
              "value": {"model": "SmolLM2-135M-Instruct", "prompt": "The capital of France is Paris.",
                        "max_tokens": 0, "echo": True, "logprobs": 3}},
}
CHAT_EXAMPLES = {
    "chat": {"summary": "Answer a question, greedy, with log-probabilities",
             "value": {"model": "SmolLM2-135M-Instruct", "temperature": 0, "max_tokens": 20, "logprobs": True,
                       "top_logprobs": 3,
                       "messages": [{"role": "user", "content": "What is the capital of France?"}]}},
}
