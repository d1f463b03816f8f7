"""Requests and responses of the learning chapter: a tiny transformer trained live
(`POST /api/learn`) and SmolLM2's induction heads switched off (`POST /api/learn/knockout`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.common import StrictModel
from model import head_probes
from model import toy_transformer as tt

LR_MAX = 0.05
HEADS_MAX = 8
DEFAULTS = tt.TrainConfig()


class LearnIn(StrictModel):
    seed: int = Field(DEFAULTS.seed, ge=0, le=tt.MAX_SEED, description="Seeds the starting weights and the "
                      "training batches: the same settings give the same curves.", examples=[0])
    steps: int = Field(DEFAULTS.steps, ge=1, le=tt.MAX_STEPS, description=f"Training steps (AdamW on a fresh "
                       f"batch of {DEFAULTS.batch} sequences each), at most {tt.MAX_STEPS}.", examples=[500])
    layers: Literal[1, 2] = Field(DEFAULTS.layers, description="Attention layers. One layer cannot form an "
                                  "induction head: a key there knows only its own token, not the one before it.")
    heads: int = Field(DEFAULTS.heads, ge=1, le=HEADS_MAX, description="Attention heads per layer.")
    lr: float = Field(DEFAULTS.lr, gt=0, le=LR_MAX, description="Learning rate of AdamW.", examples=[0.003])
    stream: bool = Field(False, description="Answer with a server-sent-event stream: `start`, a `progress` "
                         f"event every {DEFAULTS.log_every} steps, then `done` with the JSON answer.")


class ConfigOut(BaseModel):
    seed: int
    steps: int
    layers: int
    heads: int
    lr: float
    batch: int = Field(..., description="Sequences per training step.")
    log_every: int = Field(..., description="The held-out loss and the probes are measured every this many steps.")
    vocab: int = Field(..., description="Token ids 0..vocab-1 (random tokens, no meaning).")
    n_ctx: int = Field(..., description="Tokens per sequence.")
    d_model: int
    d_head: int
    mlp: bool = Field(..., description="Whether the blocks have an MLP (attention-only when false).")
    segment: list[int] = Field(..., description="Shortest and longest repeated segment (its period).")
    max_start: int = Field(..., description="The segment first starts after 0 to this many random tokens.")
    n_params: int = Field(..., description="Weights and biases of the model.")
    probe_period: int = Field(..., description="Induction probe: random tokens written twice, this many each time.")
    uniform_loss: float = Field(..., description="ln(vocab): the loss of a uniform guess, the best possible on a "
                                "random token nothing predicts.")
    threshold: float = Field(..., description="A head of this tiny transformer counts as an induction head from "
                             f"this induction score on ({head_probes.ROLE_THRESHOLD}: half its weight). GET /api/heads "
                             "names SmolLM2's induction heads from a score of "
                             f"{head_probes.INDUCTION_THRESHOLD}, set in the gap between that model's clear and "
                             "partial induction heads. A head counts as a previous-token head from this "
                             "previous-token score on, here and in GET /api/heads.")


class Progress(BaseModel):
    """One measurement during training (the stream's `progress` event)."""

    step: int
    loss: float = Field(..., description="Mean next-token loss on the held-out sequences.")
    loss_first: float = Field(..., description="... on the repeated segment's first occurrence.")
    loss_repeat: float = Field(..., description="... on its repeats (every token after the first copy).")
    induction: list[list[float]] = Field(..., description="(layers, heads): every head's induction score.")
    previous_token: list[list[float]] = Field(..., description="(layers, heads): every head's previous-token score.")
    seconds: float = Field(..., description="Since training started.")


class HeadCurve(BaseModel):
    layer: int = Field(..., description="Counted from 0.")
    head: int = Field(..., description="Counted from 0.")
    induction: list[float] = Field(..., description="Induction score at each logged step.")
    previous_token: list[float] = Field(..., description="Previous-token score at each logged step.")


class HeadScore(BaseModel):
    layer: int
    head: int
    score: float


class Guesses(BaseModel):
    predicted: list[int] = Field(..., description="The most probable next token at each position (n-1).")
    probability: list[float] = Field(..., description="The probability given to the true next token (n-1).")


class SampleOut(BaseModel):
    tokens: list[int] = Field(..., description="A fresh sequence the model never trained on.")
    start: int = Field(..., description="Where its segment first starts.")
    period: int = Field(..., description="The segment's length.")
    before: Guesses = Field(..., description="The untrained model's guesses.")
    after: Guesses = Field(..., description="The trained model's guesses.")


class FinalOut(BaseModel):
    induction_head: HeadScore | None = Field(..., description="The head with the highest induction score at the end, "
                                             "if it reaches `config.threshold`; else null.")
    best_head: HeadScore = Field(..., description="The head with the highest induction score, whatever it is.")
    previous_token_head: HeadScore = Field(..., description="The first layer's head with the highest previous-token "
                                           "score: the kind of head an induction head needs before it (this field does not test that one "
                                           "reads from it).")
    previous_two_back: float = Field(..., description="Control for previous_token_head's score: its mean attention "
                                     "from each token to the one two before it, on the same held-out sequences.")
    previous_even: float = Field(..., description="Control for previous_token_head's score: the previous-token "
                                 "score of attention spread evenly over each token's keys (itself and every token "
                                 "before it) on the held-out sequences' length: a head that looks nowhere in "
                                 "particular.")
    sample: SampleOut
    pattern: list[list[float]] = Field(..., description="best_head's attention on the sample (row = query).")
    previous_pattern: list[list[float]] = Field(..., description="previous_token_head's attention on the sample.")


class LearnOut(BaseModel):
    config: ConfigOut
    steps: list[int] = Field(..., description="The logged steps.")
    loss: list[float]
    loss_first: list[float]
    loss_repeat: list[float]
    heads: list[HeadCurve]
    final: FinalOut
    stopped: bool = Field(..., description="True when the run was cancelled before its last step.")
    seconds: float = Field(..., description="Training time on this server.")


class StartOut(BaseModel):
    config: ConfigOut
    steps: list[int] = Field(..., description="The steps that will be logged.")


class LearnStartOut(BaseModel):
    """GET /api/learn/start: what the stream of POST /api/learn sends first, as one JSON answer."""

    start: StartOut = Field(..., description="The stream's `start` event: the settings in full, the steps to log.")
    progress: Progress = Field(..., description="Its first `progress` event: the untrained model measured at "
                               "step 0 (the same numbers as the run's; `seconds` is this measurement's own time).")


# --- the real model ---------------------------------------------------------------------------------------


class KnockoutIn(StrictModel):
    seed: int = Field(1, ge=0, le=2**31 - 1, description="Seeds the random sequences and the random heads. The "
                      "heads' induction scores (GET /api/heads) come from other sequences (seed 0), so the heads "
                      "are not tested on the data that picked them.", examples=[1])
    sequences: int = Field(3, ge=1, le=10, description="Random token sequences, each written twice.")
    draws: int = Field(3, ge=1, le=5, description="Draws of random other heads, as many as the induction heads.")


class KnockoutOut(BaseModel):
    heads: list[HeadScore] = Field(..., description="SmolLM2's induction heads (role `induction` in GET /api/heads), "
                                   "with their induction scores.")
    random_heads: list[list[HeadScore]] = Field(..., description="Each draw of as many other heads (score: their "
                                                "induction score).")
    period: int = Field(..., description="Random tokens per copy.")
    sequences: int
    loss_first: float = Field(..., description="Mean loss on the first copy (tokens 2..), all heads on: nothing "
                              "predicts these, the baseline.")
    loss_all_on: float = Field(..., description="Mean loss on the second copy (tokens 2..), all heads on.")
    loss_heads_off: float = Field(..., description="... with the induction heads switched off.")
    loss_random_off: list[float] = Field(..., description="... with each draw of random other heads off.")
    uniform_loss: float = Field(..., description="ln(vocabulary size): the loss of a uniform guess.")
