"""Attention: one head's weights, every head compactly, and the same word in different contexts.

Each handler parses, hands the request to its view in `app/views/attention.py` and returns the
answer. Every view reads the prompt's one cached Analysis; nothing here runs the model beyond
that. Head ablation ("switch a head off") is an option of `POST /api/predict` (`ablate`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from app.deps import EngineDep
from app.schemas.attention import ALL_HEADS_EXAMPLES, ATTENTION_EXAMPLES, AllHeadsOut, AttentionIn, AttentionOut
from app.schemas.attention import (SENSE_HEADS_EXAMPLES, SENSES_EXAMPLES, SenseHeadsIn, SenseHeadsOut, SensesIn,
                                   SensesOut)
from app.schemas.common import ERRORS, TextIn, from_query
from app.views import attention as view

# Request bodies with the examples /docs offers.
AttentionBody = Annotated[AttentionIn, Body(openapi_examples=ATTENTION_EXAMPLES)]
AllHeadsBody = Annotated[TextIn, Body(openapi_examples=ALL_HEADS_EXAMPLES)]
SensesBody = Annotated[SensesIn, Body(openapi_examples=SENSES_EXAMPLES)]
SenseHeadsBody = Annotated[SenseHeadsIn, Body(openapi_examples=SENSE_HEADS_EXAMPLES)]

router = APIRouter(prefix="/api", tags=["attention"])


@router.post("/attention", response_model=AttentionOut, responses=ERRORS, summary="One head's attention weights")
async def attention(body: AttentionBody, engine: EngineDep) -> AttentionOut:
    """One head's attention weights for a prompt (row = query token, column = key token), or with
    `average` the mean of the layer's heads."""
    return await view.head_response(engine, body)


@router.get("/attention", response_model=AttentionOut, responses=ERRORS, summary="One head (the page's URL)")
async def attention_get(engine: EngineDep,
                        text: Annotated[str, Query(description="The prompt, as typed.")],
                        layer: Annotated[int, Query(description="Layer, 0-based.")],
                        head: Annotated[int, Query(description="Query head, 0-based.")],
                        avg: Annotated[bool, Query(description="The layer's average instead of one head.")] = False,
                        ) -> AttentionOut:
    """The JSON twin of the /attention page: its URL query (`text`, `layer`, `head`, `avg`) answered
    as POST /api/attention answers the same request."""
    return await view.head_response(engine, from_query(AttentionIn, text=text, layer=layer, head=head, average=avg))


@router.post("/attention/all", response_model=AllHeadsOut, responses=ERRORS, summary="Every head at once")
async def attention_all(body: AllHeadsBody, engine: EngineDep) -> AllHeadsOut:
    """Every head of every layer at once, one byte per weight, lower triangle only, base64."""
    return await view.all_heads_response(engine, body.text)


@router.post("/attention/senses", response_model=SensesOut, responses=ERRORS,
             summary="Does the model tell a word's senses apart?")
async def senses(body: SensesBody, engine: EngineDep) -> SensesOut:
    """The word compared with itself, depth by depth: mean cosine within a group of sentences (one sense) and across groups."""
    return await view.senses_response(engine, body)


@router.post("/attention/senses/heads", response_model=SenseHeadsOut, responses=ERRORS,
             summary="Which heads look from the word at its sense words")
async def sense_heads(body: SenseHeadsBody, engine: EngineDep) -> SenseHeadsOut:
    """Every head's attention from the word to each group's sense words, against a plain control word in its place."""
    return await view.sense_heads_response(engine, body)
