"""Requests and responses of generation: from text or from chat messages, streamed or not."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from app.schemas.common import StrictModel, TokenOut
from app.schemas.predict import ContinuedIn, Prediction, SamplingIn
from model.errors import InputError


class Message(StrictModel):
    role: Literal["system", "user", "assistant"] = Field(..., description="Who says it.")
    content: str = Field(..., max_length=20_000, description="What they say, as plain text.")


class GenerateIn(ContinuedIn, SamplingIn):
    text: str | None = Field(None, description="A prompt to continue. Send either `text` or `messages`.",
                             examples=["The capital of France is"])
    messages: list[Message] | None = Field(None, min_length=1, max_length=100, description="A chat to answer: "
                                           "rendered with the model's chat template, and the reply stops at the "
                                           "end-of-turn token. Send either `text` or `messages`.")
    max_new_tokens: int = Field(32, ge=1, description="Most tokens to generate (the server's limit is "
                                "max_new_tokens in GET /api/model `limits`).")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="Seeds the random draws: the same seed and "
                             "settings give the same tokens. Omitted: the server picks one and returns it.",
                             examples=[42])
    stream: bool = Field(False, description="Answer with a server-sent-event stream (text/event-stream): a "
                         "`start` event, one `token` event per token, then a `done` event (see the 200 answer "
                         "of POST /api/generate).")
    alternatives: int = Field(5, ge=0, le=20, description="For every generated token, the most probable tokens "
                              "it was drawn from (what else could have come there).")

    @model_validator(mode="after")
    def _one_source(self) -> "GenerateIn":
        if (self.text is None) == (self.messages is None):
            raise ValueError("send either `text` (a prompt to continue) or `messages` (a chat to answer), "
                             "not both and not neither")
        if self.append_ids and self.text is None:
            raise InputError("append_ids continue `text`; a chat's tokens come from its `messages`", code="invalid",
                             field="append_ids")
        return self


class GeneratedToken(BaseModel):
    index: int = Field(..., description="0 for the first generated token.")
    id: int = Field(..., description="Token id; send the ids back as `append_ids` to continue from exactly "
                    "these tokens.")
    text: str = Field(..., description="The token's text (a piece of a character shows as U+FFFD).")
    display: str = Field(..., description="`text` with whitespace made visible.")
    bytes: str = Field(..., description="The token's raw bytes in hex, e.g. 'f0 9f' (as in `tokens`).")
    partial: bool = Field(False, description="The bytes are only part of a UTF-8 character: `text` then shows "
                          "U+FFFD; label the token by its `bytes`.")
    special: bool = Field(False, description="A control token such as <|im_end|>.")
    delta: str = Field("", description="What this token adds to the decoded reply text: empty while it is a piece "
                       "of a character (an emoji or CJK character can take several tokens), then the whole "
                       "character; empty for the final stop token. Joining every `delta` gives the reply as "
                       "decoded so far, with no U+FFFD pieces.")
    probability: float = Field(..., description="Its probability at the sampling temperature, over the whole "
                               "vocabulary before top-k/top-p (at temperature 0, greedy, at temperature 1).")
    alternatives: list[Prediction] = Field([], description="The most probable tokens at this step, the drawn "
                                           "one among them when it is probable enough.")


class GenerateStart(BaseModel):
    prompt_tokens: list[TokenOut] = Field(..., description="The exact token sequence the model reads (for chat: "
                                          "the rendered template with its role markers; `start`/`end` are then "
                                          "offsets into that rendering, the `text` of POST /api/chat/template).")
    seed: int = Field(..., description="The seed used; send it again to repeat the draw.")


class GenerateEnd(BaseModel):
    text: str = Field(..., description="The generated text: every generated token decoded at once, without a "
                      "final stop token. When max_new_tokens cuts a character (an emoji, a CJK character) "
                      "after its first pieces, those pieces end the text as U+FFFD, which the `delta`s leave "
                      "out; continue with the tokens' ids as `append_ids` to complete it.")
    stop_reason: Literal["stop_token", "max_new_tokens", "context_length"] = Field(..., description=(
        "stop_token: the model ended its text or turn (the stop token is the last of `generated`); "
        "max_new_tokens: the reply reached max_new_tokens; context_length: the model's context is full."))


class GenerateDone(GenerateEnd):
    """The stream's last event, `done`."""

    count: int = Field(..., description="How many `token` events were sent.")


class GenerateOut(GenerateStart, GenerateEnd):
    generated: list[GeneratedToken] = Field(..., description="The tokens in order, a final stop token included.")


# Request bodies offered in /docs ("Try it out" sends the one picked): each works as it is.
GENERATE_EXAMPLES = {
    "greedy": {"summary": "Continue a text, greedy (temperature 0)",
               "value": {"text": "The capital of France is", "max_new_tokens": 8, "temperature": 0}},
    "sampled": {"summary": "Sample with a seed (the same seed gives the same text)",
                "value": {"text": "Once upon a time", "max_new_tokens": 20, "temperature": 0.8, "top_k": 40,
                          "top_p": 0.95, "seed": 42}},
    "chat": {"summary": "Answer a chat through the model's chat template",
             "value": {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                                    {"role": "user", "content": "What is the capital of France?"}],
                       "max_new_tokens": 40, "temperature": 0}},
    "stream": {"summary": "Stream the tokens as server-sent events",
               "value": {"text": "Once upon a time", "max_new_tokens": 20, "seed": 42, "stream": True}},
}
