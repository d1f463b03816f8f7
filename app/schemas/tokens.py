"""Requests and responses of the tokens chapter: text -> tokens, ids -> text, chat -> tokens."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictInt

from app.schemas.common import StrictModel, TokenOut

# A chat long enough to teach with; the total length of its contents is bounded by the
# prompt-character setting in the handler (settings are per app, these shapes are not).
MAX_CHAT_MESSAGES = 32


class TokenizeIn(StrictModel):
    text: str = Field(..., description="Any text, as typed; empty text has zero tokens. At most "
                                       "`max_prompt_chars` characters (see GET /api/model).",
                      examples=["The capital of France is Paris."])


class TokenizeOut(BaseModel):
    tokens: list[TokenOut] = Field(..., description="The tokens in order; `start`/`end` are character "
                                                    "offsets into `text` (the pieces of one character share its offsets).")
    count: int = Field(..., description="Number of tokens.")
    characters: int = Field(..., description="Number of characters (Unicode code points) in `text`.")
    words: int = Field(..., description="Number of whitespace-separated words in `text`.")
    chars_per_token: float | None = Field(..., description="characters / count; null for empty text.")
    max_prompt_tokens: int = Field(..., description="The longest prompt, in tokens, that the model "
                                                    "chapters (attention, predict, ...) accept.")


class DetokenizeIn(StrictModel):
    ids: list[StrictInt] = Field(..., description="Token ids, each in 0..vocab_size-1; at most "
                                                  "`max_prompt_chars` of them.", examples=[[504, 3575, 282, 4649]])


class DetokenizeOut(BaseModel):
    text: str = Field(..., description="The ids decoded back to text (bytes that never complete a "
                                       "character show as U+FFFD).")
    tokens: list[TokenOut] = Field(..., description="Each id described; `start`/`end` are character "
                                                    "offsets into `text`.")
    count: int = Field(..., description="Number of ids.")
    retokenized: list[int] = Field(..., description="The ids the tokenizer gives when it reads `text` "
                                                    "again.")
    canonical: bool = Field(..., description="True when `retokenized` equals `ids`: the tokenizer itself "
                                             "would cut the text this way.")
    exact: bool = Field(..., description="True when `text` holds exactly the ids' bytes. False when some ids "
                                         "stop inside a character: their bytes decode to U+FFFD, so `text` (and "
                                         "`retokenized`) stand for different bytes than the ids.")


class ChatMessageIn(StrictModel):
    role: Literal["system", "user", "assistant"] = Field(..., description="Who speaks.")
    content: str = Field(..., description="What they say.", examples=["What is a token?"])


class ChatTemplateIn(StrictModel):
    messages: list[ChatMessageIn] = Field(..., min_length=1, max_length=MAX_CHAT_MESSAGES,
                                          description=f"1 to {MAX_CHAT_MESSAGES} messages; their contents "
                                                      "together at most `max_prompt_chars` characters.")
    add_generation_prompt: bool = Field(True, description="End with the tokens that open the assistant's "
                                                          "turn, as when asking the model to reply.")


class ChatTokenOut(TokenOut):
    start: int = Field(..., description="Character offset where the token starts in `text`, the chat as the "
                                        "template rendered it.")
    end: int = Field(..., description="Character offset in `text` where the token ends (exclusive).")
    message: int | None = Field(..., description="Index of the message whose rendering wrote this token; "
                                                 "null for the generation prompt.")
    source: Literal["content", "template"] = Field(..., description="'content' when the token overlaps the "
                                                   "message's own text, 'template' when the chat template "
                                                   "added it (special tokens, role names, line breaks, a default "
                                                   "system message).")
    added_turn: bool = Field(..., description="True when the token is in a turn the chat template writes on its "
                                              "own, for no message sent: SmolLM2's default system turn when the chat "
                                              "has no system message. Such a turn lies in the part of `text` of the "
                                              "message it comes before, so `message` is that message's index and "
                                              "`source` is 'template'.")


class MessageSpan(BaseModel):
    role: str = Field(..., description="The message's role, or 'generation prompt'.")
    start: int = Field(..., description="Character offset in `text` where this message's rendering starts.")
    end: int = Field(..., description="Character offset where it ends (exclusive).")


class ChatTemplateOut(BaseModel):
    text: str = Field(..., description="The messages rendered by the model's own chat template.")
    tokens: list[ChatTokenOut] = Field(..., description="The exact token sequence the model reads, "
                                                        "special tokens marked.")
    count: int = Field(..., description="Number of tokens.")
    special_count: int = Field(..., description="How many of them are special (control) tokens.")
    spans: list[MessageSpan] = Field(..., description="Where each message (then the generation prompt) "
                                                      "lies in `text`; empty if the template does not "
                                                      "render messages one after another.")
    max_prompt_tokens: int = Field(..., description="The longest prompt, in tokens, that the model "
                                                    "chapters accept.")
