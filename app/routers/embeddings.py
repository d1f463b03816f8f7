"""Chapter 3: the model's own vectors for words and sentences, placed on maps, added and compared.
Each handler parses, hands the request to `app/views/embeddings.py` and returns."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import EngineDep
from app.schemas.common import ERRORS, from_query
from app.schemas.embeddings import (AnalogyIn, AnalogyOut, FirstPositionOut, MapIn, MapOut, NeighboursIn,
                                    NeighboursOut, SentencesIn, SentencesOut, SetsOut)
from app.views import embeddings as view

router = APIRouter(prefix="/api/embeddings", tags=["embeddings"], responses=ERRORS)


@router.get("/sets", response_model=SetsOut)
def word_sets(engine: EngineDep) -> SetsOut:
    """The ready-made word sets for the map, the request limits and the contextual-mode prefix."""
    return view.sets_out(engine)


@router.get("/first-position", response_model=FirstPositionOut)
async def first_position(engine: EngineDep) -> FirstPositionOut:
    """Why hidden states are read after a prefix, measured on this model layer by layer: how much longer
    the first position's vector is than the others', and how alike words look when each stands first
    (read alone) or after the prefix. Computed once per model, then cached."""
    return await view.first_position_response(engine)


@router.post("/map", response_model=MapOut)
async def word_map(req: MapIn, engine: EngineDep) -> MapOut:
    """Place words on a 2D or 3D map of the model's own vectors, each with its nearest tokens."""
    return await view.map_response(engine, req)


@router.get("/map", response_model=MapOut, summary="Word map (the page's URL)")
async def word_map_get(engine: EngineDep,
                       sets: Annotated[str, Query(description="Ready-made sets, comma-separated.")]
                       = "animals,countries,numbers,colours",
                       words: Annotated[str, Query(description="Your own words, separated by commas or new lines.")]
                       = "",
                       method: str = "pca", dims: int = 2, mode: str = "static", layer: int | None = None,
                       pooling: str = "mean", wl: bool = True,
                       neighbours: Annotated[int, Query(description="Nearest tokens listed per word: 10, as the page "
                                                        "asks (POST's default is 8).")] = 10) -> MapOut:
    """The JSON twin of the /embeddings page's word map: its URL query (`sets`, `words`, `method`, `dims`,
    `mode`, `layer`, `pooling`, `wl`) answered as POST /api/embeddings/map answers the same request."""
    body = from_query(MapIn, sets=[x for x in sets.split(",") if x], words=[w.strip() for w in re.split(r"[,\n]", words)
                                                                              if w.strip()],
                      method=method, dims=dims, mode=mode, layer=layer, pooling=pooling, word_like=wl,
                      neighbours=neighbours)
    return await view.map_response(engine, body)


@router.post("/neighbours", response_model=NeighboursOut)
async def neighbours(req: NeighboursIn, engine: EngineDep) -> NeighboursOut:
    """The tokens whose input embedding points most nearly the same way as the word's (cosine)."""
    return await view.neighbours_response(engine, req)


@router.post("/analogy", response_model=AnalogyOut)
async def word_analogy(req: AnalogyIn, engine: EngineDep) -> AnalogyOut:
    """a - b + c on the input embeddings: the nearest tokens (inputs excluded), ranked by cosine."""
    return await view.analogy_response(engine, req)


@router.post("/sentences", response_model=SentencesOut)
async def sentences(req: SentencesIn, engine: EngineDep) -> SentencesOut:
    """One vector per sentence (mean hidden state at a layer), their cosine similarities and a map."""
    return await view.sentences_response(engine, req)
