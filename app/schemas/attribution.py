"""Requests and responses of POST /api/attribution: why the model gives this token its logit."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from app.schemas.common import StrictModel, TokenOut
from app.schemas.generate import Message


class AttributionIn(StrictModel):
    text: str | None = Field(None, description="The prompt, as typed. Send either `text` or `messages`.",
                             examples=["The capital of France is"])
    messages: list[Message] | None = Field(None, min_length=1, max_length=100, description="A chat: rendered "
                                           "with the model's chat template and the assistant's turn opened, as "
                                           "POST /api/generate reads it; the template's tokens get their share "
                                           "too. Send either `text` or `messages`.")
    target: int | None = Field(None, ge=0, description="The token id to explain; default: the most probable "
                               "next token.", examples=[7042])
    contrast: int | None = Field(None, ge=0, description="A second token id: explain the difference of the two "
                                 "logits (target minus contrast), e.g. ' Paris' vs ' London'.")
    ig_steps: int | None = Field(None, ge=1, le=256, description="Integrated gradients: intervals of the path from "
                                 "the baseline to the input (steps + 1 gradient evaluations); default 32.")
    saliency: bool = Field(True, description="Compute gradient x input and integrated gradients (many forward "
                           "and backward passes); false answers the direct parts alone, at once.")
    check_parts: int = Field(3, ge=0, le=20, description="How many of the strongest parts (heads and MLPs that "
                             "push the logit up the most) to switch off in the `check` experiment; 0 skips it.")

    @model_validator(mode="after")
    def _one_source(self) -> "AttributionIn":
        if (self.text is None) == (self.messages is None):
            raise ValueError("send either `text` (a prompt) or `messages` (a chat), not both and not neither")
        return self


class TokenLogit(BaseModel):
    id: int = Field(..., description="Token id in the model's vocabulary.")
    text: str = Field(..., description="The token's text, leading space included.")
    display: str = Field(..., description="`text` with whitespace made visible.")
    bytes: str = Field("", description="The token's bytes in hex, e.g. 'f0 9f' (a piece of a character shows "
                       "U+FFFD in `text`).")
    partial: bool = Field(False, description="The token is a piece of a UTF-8 character (see `bytes`).")
    logit: float = Field(..., description="Its next-token logit, as POST /api/predict reports it.")
    probability: float = Field(..., description="softmax of the logits at temperature 1.")


class PartsOut(BaseModel):
    embedding: float = Field(..., description="The last token's embedding's contribution.")
    heads: list[list[float]] = Field(..., description="n_layers x n_heads: each attention head's contribution "
                                     "(its output before the output projection, times its columns of W_O).")
    mlps: list[float] = Field(..., description="n_layers: each MLP's contribution.")


class PartRef(BaseModel):
    kind: str = Field(..., description="'head' or 'mlp'.")
    layer: int
    head: int | None = Field(None, description="The head, for kind 'head'.")
    contribution: float = Field(..., description="Its direct contribution to `total`.")


class ReactingLayer(BaseModel):
    layer: int
    heads: list[int] = Field(..., description="Its heads that react (the ones still on, from the layer after the "
                             "earliest switched-off part).")
    mlp: bool = Field(..., description="Whether its MLP reacts (still on, and after a switched-off part).")


class CheckOut(BaseModel):
    parts: list[PartRef] = Field(..., description="The parts switched off: the strongest pushers of `total`.")
    predicted: float = Field(..., description="The change of `total` the attribution predicts: minus their "
                             "summed contributions (frozen norm, nothing else reacts).")
    norm_only: float = Field(..., description="The change with these parts' outputs taken out of the final "
                             "residual stream and the final norm recomputed (no other part reacts).")
    actual: float = Field(..., description="The real change: the parts switched off at every position and the "
                          "model run on (the norm and the parts in `reacting` react).")
    reacting: list[ReactingLayer] = Field(..., description="The parts that react to the switched-off ones: every "
                                          "part still on after the earliest of them, per layer (layers where "
                                          "nothing reacts left out; empty when nothing comes after them).")
    probability_before: float = Field(..., description="The target's probability with every part on.")
    probability_after: float = Field(..., description="The target's probability with these parts off.")
    top_after: TokenLogit = Field(..., description="The most probable next token with these parts off.")


class SaliencyOut(BaseModel):
    gradient_x_input: list[float] = Field(..., description="Per input token: the gradient of `total` with respect "
                                          "to its embedding, dotted with that embedding.")
    integrated_gradients: list[float] = Field(..., description="Per input token: the gradient averaged along the "
                                              "straight path from the baseline to the input, dotted with "
                                              "(input - baseline).")
    baseline: str = Field(..., description="What the path starts from, in words.")
    steps: int = Field(..., description="Intervals of the path (trapezoid rule over steps + 1 points).")
    completeness: float | None = Field(..., description="sum(integrated_gradients) / (f(input) - f(baseline)); 1 "
                                       "when the integral is exact; null when f(input) equals f(baseline) "
                                       "(there is no difference to account for).")
    f_input: float = Field(..., description="`total` at the input (the model's logit, or logit difference).")
    f_baseline: float = Field(..., description="The same at the baseline.")


class AttributionOut(BaseModel):
    tokens: list[TokenOut] = Field(..., description="The tokens the model reads (for chat: the rendered template; "
                                   "`start`/`end` are then offsets into that rendering, the `text` of POST "
                                   "/api/chat/template).")
    target: TokenLogit
    contrast: TokenLogit | None = None
    top: list[TokenLogit] = Field(..., description="The most probable next tokens (to pick a target or a contrast).")
    scale: float = Field(..., description="The final RMSNorm's factor 1/rms(x) at the last position, frozen.")
    parts: PartsOut
    total: float = Field(..., description="The target's logit (minus the contrast's): what the parts add up to.")
    parts_sum: float = Field(..., description="The sum of every part (equals `total` up to float rounding).")
    check: CheckOut | None = Field(None, description="The strongest parts switched off; null when check_parts is 0.")
    saliency: SaliencyOut | None = Field(None, description="Null when `saliency` is false.")


ATTRIBUTION_EXAMPLES = {
    "why": {"summary": "Why ' Paris'? Direct parts, the check and saliency",
            "value": {"text": "The capital of France is"}},
    "contrast": {"summary": "' Paris' versus ' London' (ids 7042 and 4528)",
                 "value": {"text": "The capital of France is", "target": 7042, "contrast": 4528}},
    "chat": {"summary": "A chat message, through the chat template",
             "value": {"messages": [{"role": "user", "content": "What is the capital of France?"}]}},
    "fast": {"summary": "Direct parts only (no saliency)",
             "value": {"text": "The capital of France is", "saliency": False}},
}
