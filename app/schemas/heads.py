"""Head roles: every head's probe scores (`GET /api/heads`) and one head on the induction probe."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.common import TokenOut

Role = Literal["previous_token", "induction", "first_token"]


class ProbesOut(BaseModel):
    previous_token: str = Field(..., description="How the previous-token score is measured, in one sentence.")
    induction: str = Field(..., description="How the induction score is measured, in one sentence.")
    first_token: str = Field(..., description="How the first-token score is measured, in one sentence.")


class ScoresOut(BaseModel):
    previous_token: float = Field(..., description="Mean weight to the token just before, on ordinary text.")
    induction: float = Field(..., description="Mean weight to the token after the earlier copy, on repeated "
                                              "random tokens.")
    first_token: float = Field(..., description="Mean weight on the first token, on ordinary text.")


class HeadOut(BaseModel):
    layer: int
    head: int
    kv_head: int = Field(..., description="The key/value head this query head reads (grouped-query attention).")
    scores: ScoresOut
    role: Role | None = Field(..., description="What the head does beyond the default: induction or "
                              "previous_token when that score reaches its threshold (the larger wins when both "
                              "do), else first_token when that one does, else null; `probes` states each "
                              "threshold.")


class HeadsOut(BaseModel):
    probes: ProbesOut
    heads: list[HeadOut] = Field(..., description="Every head, layer-major: layer 0 heads 0..h-1, then layer 1, ...")


class HeadProbeOut(BaseModel):
    layer: int
    head: int
    sequence: int = Field(..., description="Which of the probe's random sequences this is (counted from 0).")
    n_sequences: int = Field(..., description="How many random sequences the induction score averages over.")
    period: int = Field(..., description="R: the sequence is R random word tokens, then the same R again.")
    tokens: list[TokenOut] = Field(..., description="The 2R tokens the model read (no special token in front).")
    weights: list[list[float]] = Field(..., description="This head's attention weights on the sequence: row = "
                                       "query, column = key (6 decimals).")
    score: float = Field(..., description="Mean weight from each token of the second copy to the token after its "
                                          "earlier copy, on this sequence.")
    induction: float = Field(..., description="The head's induction score: the same mean over every sequence of "
                                              "the probe (as in GET /api/heads).")
    role: Role | None = Field(..., description="The head's role, as in GET /api/heads.")
