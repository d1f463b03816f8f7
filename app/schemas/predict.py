"""Requests and responses of the next-token endpoints: predict, logit lens, surprise."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.schemas.common import StrictModel, TextIn, TokenOut


class SamplingIn(StrictModel):
    """The three settings that reshape the next-token distribution (shared with generation)."""

    temperature: float = Field(1.0, ge=0, le=10, description="Divides the logits before the softmax: below 1 "
                               "sharpens the distribution, above 1 flattens it; 0 means greedy (only the most "
                               "probable token can be drawn; probabilities are then shown at temperature 1).")
    top_k: int = Field(10, ge=0, le=1_000_000, description="Only the k most probable tokens can be drawn; 0 = no limit.")
    top_p: float = Field(1.0, gt=0, le=1, description="Only the smallest set of most probable tokens whose "
                         "probabilities add up to at least top_p can be drawn (nucleus sampling); 1 = no limit.")


class ContinuedIn(StrictModel):
    append_ids: list[int] = Field([], max_length=4096, description="Token ids that follow the tokens of `text`, "
                                  "read exactly as given: tokens generated earlier, kept as the model wrote them "
                                  "instead of being re-tokenized as text (a byte-level model can write a piece of "
                                  "a character, which text cannot hold). Their `start`/`end` are len(text). "
                                  "With append_ids, `text` may be \"\": the prompt is then these ids alone.",
                                  examples=[[]])


class HeadIn(StrictModel):
    layer: int = Field(..., ge=0, description="0-based layer.")
    head: int = Field(..., ge=0, description="0-based query head within the layer.")


class PredictIn(TextIn, ContinuedIn, SamplingIn):
    ablate: list[HeadIn] = Field([], max_length=1000, description="Attention heads to switch off (their output "
                                 "z is zeroed); the response then also carries `baseline`, the predictions with "
                                 "every head on.", examples=[[{"layer": 3, "head": 2}]])
    n_predictions: int = Field(20, ge=1, le=200, description="How many of the most probable tokens to return.")
    guess: str | None = Field(None, max_length=200, description="A guess at the next token's text (leading space "
                              "included, e.g. ' Paris'); the response says how the model ranks its first token.",
                              examples=[" Paris"])


class TokenProb(BaseModel):
    id: int = Field(..., description="Token id in the model's vocabulary.")
    text: str = Field(..., description="The token's text, leading space included.")
    display: str = Field(..., description="`text` with whitespace made visible.")
    bytes: str = Field(..., description="The token's raw bytes in hex, e.g. 'f0 9f' (as in `tokens`).")
    partial: bool = Field(..., description="The bytes are only part of a UTF-8 character: `text` then shows "
                          "U+FFFD; label the token by its `bytes`.")
    probability: float


class Prediction(TokenProb):
    probability: float = Field(..., description="softmax(logits / temperature) over the whole vocabulary (at "
                               "temperature 0, greedy, the probabilities at temperature 1).")
    logprob: float = Field(..., description="Natural log of `probability`, computed in float64 without "
                           "underflow (finite even where `probability` rounds to 0): sum them to score a text.")
    logit: float = Field(..., description="The raw score before the softmax.")
    allowed: bool = Field(..., description="top-k and top-p still allow this token to be drawn.")
    sample_probability: float = Field(..., description="The chance it is drawn: its probability renormalised "
                                      "over the allowed tokens (0 when not allowed).")


class Guess(BaseModel):
    text: str = Field(..., description="The guess as sent.")
    token: Prediction = Field(..., description="The guess's first token, as the model scores it.")
    rank: int = Field(..., description="1 = the model's most probable token.")
    tokens_in_guess: int = Field(..., description="How many tokens the guess is; only the first is ranked.")


class DrawOut(BaseModel):
    allowed_count: int = Field(..., description="How many tokens top-k and top-p leave in the draw.")
    allowed_mass: float = Field(..., description="Their total probability before renormalising.")
    entropy_bits: float = Field(..., description="Uncertainty of the distribution, in bits (0 = certain).")


class PredictOut(BaseModel):
    tokens: list[TokenOut]
    predictions: list[Prediction] = Field(..., description="Most probable first (with the ablated heads off, "
                                          "when `ablate` is given).")
    baseline: list[Prediction] | None = Field(None, description="The same list with every head on; only when "
                                              "`ablate` is non-empty.")
    ablated: list[HeadIn] = Field([], description="The heads that were switched off (distinct, sorted).")
    draw: DrawOut
    guess: Guess | None = Field(None, description="How the model ranks `guess`; only when it was sent.")
    temperature: float = Field(..., description="The settings used, as sent (or their defaults).")
    top_k: int
    top_p: float


class LensIn(TextIn, ContinuedIn):
    last: int = Field(16, ge=1, le=64, description="Show the prompt's last `last` positions (a heatmap of "
                      "hundreds of columns cannot be read).")


class LensCell(TokenProb):
    probability: float = Field(..., description="Probability of this top-1 token at this layer "
                               "(softmax at temperature 1).")
    target_probability: float | None = Field(None, description="Probability this layer gives the token that "
                                             "actually comes next in the prompt (null at the last position).")


class LensOut(BaseModel):
    tokens: list[TokenOut]
    positions: list[int] = Field(..., description="The prompt positions shown (columns).")
    layers: list[str] = Field(..., description="Row labels: 'embed', then 'layer 0' .. 'layer L-1' (after each block).")
    cells: list[list[LensCell]] = Field(..., description="layers x positions: the token each layer's residual "
                                        "stream predicts next, through the final norm and unembedding, with its "
                                        "probability at temperature 1. The last row (after the last layer) is "
                                        "the model's own prediction: at the last position, the first of POST "
                                        "/api/predict's `predictions`.")


class SurpriseIn(TextIn, ContinuedIn):
    pass


class SurpriseToken(TokenOut):
    probability: float | None = Field(..., description="p(this token | the tokens before it); null for the first.")
    logprob: float | None = Field(..., description="Natural log of `probability` (float64, finite even where "
                                  "`probability` rounds to 0); null for the first. Their sum is the log-probability "
                                  "of the text after its first token.")
    surprisal_bits: float | None = Field(..., description="-log2 probability: 0 = certain, 10 = one in 1024.")
    expected: TokenProb | None = Field(None, description="The token the model found most probable here "
                                        "(null for the first token).")


class SurpriseOut(BaseModel):
    tokens: list[SurpriseToken]
    mean_surprisal_bits: float | None = Field(..., description="Average over the predicted tokens; "
                                              "2 ** this is the perplexity.")


# Request bodies offered in /docs ("Try it out" sends the one picked): each works as it is.
PREDICT_EXAMPLES = {
    "next_token": {"summary": "The most probable next tokens",
                   "value": {"text": "The capital of France is", "n_predictions": 5}},
    "sampling": {"summary": "Which tokens temperature, top-k and top-p leave in the draw",
                 "value": {"text": "My favourite colour is", "temperature": 0.7, "top_k": 40, "top_p": 0.9,
                           "n_predictions": 10}},
    "ablate": {"summary": "Switch attention heads off (compare with `baseline`)",
               "value": {"text": "The capital of France is", "ablate": [{"layer": 3, "head": 2},
                                                                         {"layer": 10, "head": 0}],
                         "n_predictions": 5}},
    "guess": {"summary": "Rank a guess among the whole vocabulary",
              "value": {"text": "The capital of France is", "guess": " Lyon", "n_predictions": 3}},
    "append_ids": {"summary": "Continue after generated tokens, sent back as ids",
                   "description": "7042 is ' Paris' and 30 is '.', as `generated[i].id` of POST /api/generate "
                                  "returned them.",
                   "value": {"text": "The capital of France is", "append_ids": [7042, 30], "n_predictions": 5}},
}
LENS_EXAMPLES = {
    "lens": {"summary": "The top token of every layer at the last 5 positions",
             "value": {"text": "The capital of France is", "last": 5}},
}
SURPRISE_EXAMPLES = {
    "surprise": {"summary": "How expected each token of a sentence was",
                 "value": {"text": "The capital of France is Paris."}},
}
