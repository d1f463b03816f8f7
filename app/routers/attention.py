"""Attention: one head's weights, every head compactly, and the same word in different contexts.

Every view reads the prompt's one cached Analysis; nothing here runs the model beyond that.
Head ablation ("switch a head off") is an option of `POST /api/predict` (`ablate`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from app.deps import EngineDep
from app.engine import Engine
from app.schemas.attention import (ALL_HEADS_EXAMPLES, ATTENTION_EXAMPLES, COMPARE_EXAMPLES, AllHeadsOut,
                                   AttendedOut, AttentionIn, AttentionOut, CompareIn, CompareOut, ContextOut,
                                   SentenceOut)
from app.schemas.attention import (SENSE_HEADS_EXAMPLES, SENSES_EXAMPLES, SenseHeadsIn, SenseHeadsOut, SensesIn,
                                   SensesOut)
from app.schemas.common import ERRORS, TextIn, TokenOut
from app.views import attention as attention_views
from model import attention_views as views
from model.errors import InputError, check_index

# Request bodies with the examples /docs offers.
AttentionBody = Annotated[AttentionIn, Body(openapi_examples=ATTENTION_EXAMPLES)]
AllHeadsBody = Annotated[TextIn, Body(openapi_examples=ALL_HEADS_EXAMPLES)]
CompareBody = Annotated[CompareIn, Body(openapi_examples=COMPARE_EXAMPLES)]
SensesBody = Annotated[SensesIn, Body(openapi_examples=SENSES_EXAMPLES)]
SenseHeadsBody = Annotated[SenseHeadsIn, Body(openapi_examples=SENSE_HEADS_EXAMPLES)]

router = APIRouter(prefix="/api", tags=["attention"])


def _rounded(t, digits: int = 6) -> list:
    # Six decimals keep the JSON short and lose nothing a picture or a 1e-4 check can see.
    scale = 10.0 ** digits
    return ((t.double() * scale).round() / scale).tolist()


@router.post("/attention", response_model=AttentionOut, responses=ERRORS, summary="One head's attention weights")
async def attention(body: AttentionBody, engine: EngineDep) -> AttentionOut:
    """One head's attention weights for a prompt: row = query token, column = key token."""
    cfg = engine.cfg
    check_index("layer", body.layer, cfg.n_layers, "layers")
    check_index("head", body.head, cfg.n_heads, "query heads per layer")
    analysis = await engine.analyse(engine.prompt(body.text))
    # Rounding n x n weights is torch work (50 ms at 512 tokens): in the worker, off the event loop.
    weights = await engine.run(lambda: _rounded(views.head_weights(analysis, body.layer, body.head)))
    return AttentionOut(
        tokens=[TokenOut.of(t) for t in analysis.tokens], layer=body.layer, head=body.head,
        kv_head=views.kv_head_of(body.head, cfg.n_heads, cfg.n_kv_heads), weights=weights)


@router.post("/attention/all", response_model=AllHeadsOut, responses=ERRORS, summary="Every head at once")
async def attention_all(body: AllHeadsBody, engine: EngineDep) -> AllHeadsOut:
    """Every head of every layer at once, one byte per weight, lower triangle only, base64."""
    cfg = engine.cfg
    prompt = engine.prompt(body.text)
    # L*h*n(n+1)/2 bytes grow with the square of the prompt: longer prompts are refused (413)
    # rather than sending tens of megabytes of thumbnails.
    limit = engine.settings.max_all_heads_tokens
    if len(prompt.tokens) > limit:
        raise InputError(f"text is {len(prompt.tokens)} tokens long; all heads at once are sent for at most "
                         f"{limit} tokens. Shorten the text, or ask POST /api/attention for one head.",
                         code="too_long", field="text", limit=limit, actual=len(prompt.tokens))
    analysis = await engine.analyse(prompt)
    return AllHeadsOut(
        tokens=[TokenOut.of(t) for t in analysis.tokens],
        n_layers=cfg.n_layers, n_heads=cfg.n_heads, n_kv_heads=cfg.n_kv_heads,
        kv_head_of=[views.kv_head_of(h, cfg.n_heads, cfg.n_kv_heads) for h in range(cfg.n_heads)],
        layout="byte (layer * n_heads + head) * n(n+1)/2 + i(i+1)/2 + j holds weight (query i, key j <= i)",
        scale=views.QUANT_SCALE, max_error=views.QUANT_MAX_ERROR,
        data=await engine.run(views.encode_all_heads, analysis))


async def _sentence(engine: Engine, text: str, index: int, word: str) -> views.Sentence:
    prompt = engine.prompt(text, field=f"sentences.{index}")
    try:
        position = views.find_word(text, prompt.tokens, word)
    except views.WordNotFound:
        raise InputError(f"sentences.{index} does not contain the word {word!r}; every sentence must share it "
                         "(whole word, any case).", code="word_not_found", field=f"sentences.{index}") from None
    return views.Sentence(text, await engine.analyse(prompt), position)


def _context(sentences: list[views.Sentence], word: str, index: int) -> ContextOut:
    for s_index, s in enumerate(sentences):
        try:
            position = views.find_word(s.text, s.analysis.tokens, word)
        except views.WordNotFound:
            continue
        target = s.analysis.resid[:, position]
        return ContextOut(word=word, sentence=s_index, position=position,
                          similarity=[views.cosine_by_layer(other.path, target) for other in sentences])
    raise InputError(f"context_words.{index} ({word!r}) occurs in none of the sentences; name a word that one "
                     "of them contains, such as 'river' or 'money'.", code="word_not_found",
                     field=f"context_words.{index}")


@router.post("/attention/compare", response_model=CompareOut, responses=ERRORS,
             summary="One word in different sentences")
async def compare(body: CompareBody, engine: EngineDep) -> CompareOut:
    """The same word in different sentences, layer by layer: what it attends to, and how its vector moves."""
    word = body.word.strip()
    if not word:
        raise InputError("word is blank; type the word the sentences share, such as 'bank'.", code="empty",
                         field="word")
    sentences = [await _sentence(engine, text, i, word) for i, text in enumerate(body.sentences)]
    return await engine.run(_compare_out, engine, body, word, sentences)


def _compare_out(engine: Engine, body: CompareIn, word: str, sentences: list[views.Sentence]) -> CompareOut:
    """(runs in the worker) The comparison's torch work: cosines, the projection, attention rows."""
    contexts = [_context(sentences, w.strip(), i) for i, w in enumerate(body.context_words) if w.strip()]
    projection = views.project_paths([s.path for s in sentences])
    out = []
    for s, coords in zip(sentences, projection.coords):
        attention = s.attention_from_word()
        out.append(SentenceOut(
            text=s.text, tokens=[TokenOut.of(t) for t in s.analysis.tokens], position=s.position,
            attention=_rounded(attention),
            top=[[AttendedOut(position=p, weight=round(w, 6)) for p, w in layer]
                 for layer in views.top_attended(attention)],
            path=_rounded(coords)))
    return CompareOut(
        word=word, n_layers=engine.cfg.n_layers, sentences=out, contexts=contexts,
        between=[views.cosine_by_layer(sentences[0].path, s.path) for s in sentences[1:]],
        explained=list(projection.explained))


@router.post("/attention/senses", response_model=SensesOut, responses=ERRORS,
             summary="Does the model tell a word's senses apart?")
async def senses(body: SensesBody, engine: EngineDep) -> SensesOut:
    """The word compared with itself, depth by depth: mean cosine within a group of sentences (one sense) and across groups."""
    return await attention_views.senses_response(engine, body)


@router.post("/attention/senses/heads", response_model=SenseHeadsOut, responses=ERRORS,
             summary="Which heads look from the word at its sense words")
async def sense_heads(body: SenseHeadsBody, engine: EngineDep) -> SenseHeadsOut:
    """Every head's attention from the word to each group's sense words, against a plain control word in its place."""
    return await attention_views.sense_heads_response(engine, body)
