"""Attention chapter: the responses built from cached Analyses (the maths is in model/).

One head's weights or the layer's average (`POST`/`GET /api/attention`), every head packed as
bytes (`POST /api/attention/all`). The fair sense test (`POST /api/attention/senses`) and its
per-head evidence (`POST /api/attention/senses/heads`) read one cached Analysis per sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from app.engine import Engine
from app.views.common import rounded, tokens_out
from app.views.predict import continued_prompt
from app.schemas.attention import AllHeadsOut, AttentionIn, AttentionOut
from app.schemas.attention import (CueSentenceOut, HeadCueOut, MeanHeadOut, OccurrenceOut, SenseHeadsIn,
                                   SenseHeadsOut, SenseLayerOut, SensesIn, SensesOut)
from app.schemas.predict import HeadIn
from model import attention_views as views
from model import senses
from model.analysis import Analysis
from model.errors import InputError, check_index


@dataclass
class Reading:
    """One sentence of a sense test, read by the model, and where the word sits in it."""

    group: int
    sentence: int
    text: str
    analysis: Analysis
    position: int


def _word(word: str, field: str = "word") -> str:
    word = word.strip()
    if not word:
        raise InputError(f"{field} is blank; type the word to follow, such as 'bank'.", code="empty", field=field)
    return word


async def read_groups(engine: Engine, word: str, groups: list[list[str]]) -> list[Reading]:
    """Every sentence's cached Analysis and the word's position; a missing word is a 422 naming
    the sentence (`groups.1.0`). Every sentence is checked before any is run."""
    prompts = []
    for g, group in enumerate(groups):
        for s, text in enumerate(group):
            field = f"groups.{g}.{s}"
            prompt = engine.prompt(text, field=field)
            prompts.append((g, s, prompt, senses.word_position(text, prompt.tokens, word, field)))
    return [Reading(g, s, prompt.text, await engine.analyse(prompt), position) for g, s, prompt, position in prompts]


async def senses_response(engine: Engine, body: SensesIn) -> SensesOut:
    word = _word(body.word)
    cfg = engine.cfg
    for i, h in enumerate(body.ablate):
        check_index(f"ablate.{i}.layer", h.layer, cfg.n_layers, "layers")
        check_index(f"ablate.{i}.head", h.head, cfg.n_heads, "query heads per layer")
    heads = sorted({(h.layer, h.head) for h in body.ablate})
    readings = await read_groups(engine, word, body.groups)
    return await engine.run(senses_out, word, readings, heads)


def senses_out(word: str, readings: list[Reading], heads: list[tuple[int, int]] = ()) -> SensesOut:
    """(in the worker) Within- and across-group cosines of the word's vectors, depth by depth, with
    the given heads switched off."""
    vectors = torch.stack([senses.residual_without_heads(r.analysis, list(heads))[:, r.position].float()
                           for r in readings]) if heads else \
        senses.word_vectors([r.analysis for r in readings], [r.position for r in readings])
    within, across = senses.within_across(vectors, [r.group for r in readings])
    return SensesOut(
        word=word, ablated=[HeadIn(layer=l, head=h) for l, h in heads],
        occurrences=[OccurrenceOut(group=r.group, sentence=r.sentence, token_index=r.position) for r in readings],
        layers=[SenseLayerOut(layer=l, within=_round(w), across=_round(a))
                for l, (w, a) in enumerate(zip(within, across))])


def _round(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(x, digits)


async def sense_heads_response(engine: Engine, body: SenseHeadsIn) -> SenseHeadsOut:
    word, control = _word(body.word), _word(body.control, "control")
    if len(body.cues) != len(body.groups):
        raise InputError(f"cues has {len(body.cues)} lists for {len(body.groups)} groups; give one list of sense "
                         "words per group.", code="mismatch", field="cues")
    if control.lower() == word.lower():
        raise InputError("control is the word itself; name a plain word whose meaning does not change, such as "
                         "'table'.", code="invalid", field="control")
    for g, group in enumerate(body.groups):
        for s, text in enumerate(group):
            if senses.occurs(text, control):
                raise InputError(f"control {control!r} already occurs in groups.{g}.{s}; name a word the sentences "
                                 "do not contain.", code="invalid", field="control")
    readings = await read_groups(engine, word, body.groups)
    swapped = [[senses.swap_word(text, word, control) for text in group] for group in body.groups]
    controls = await read_groups(engine, control, swapped)
    cues = []
    for r in readings:
        found = senses.cue_positions(r.text, r.analysis.tokens, body.cues[r.group], r.position)
        if not found:
            raise InputError(f"groups.{r.group}.{r.sentence} ({r.text!r}) has none of the sense words of cues."
                             f"{r.group} before {word!r}; the model reads left to right, so only words before it "
                             "can give it its sense.", code="no_cue", field=f"groups.{r.group}.{r.sentence}")
        cues.append(found)
    return await engine.run(sense_heads_out, word, control, readings, controls, body.cues, cues)


def sense_heads_out(word: str, control: str, readings: list[Reading], controls: list[Reading],
                    cue_words: list[list[str]], cues: list[list[int]]) -> SenseHeadsOut:
    """(in the worker) Every head's attention from the word to the cues, against the control word."""
    from_word = torch.stack([senses.attention_to(r.analysis, r.position, c) for r, c in zip(readings, cues)])
    from_control = torch.stack([
        senses.attention_to(k.analysis, k.position,
                            senses.cue_positions(k.text, k.analysis.tokens, cue_words[k.group], k.position))
        for k in controls])                                                      # (S, L, h)
    difference = from_word - from_control
    to_first = torch.stack([senses.attention_to(r.analysis, r.position, [0]) for r in readings])
    mean_word, mean_control, mean_diff = from_word.mean(0), from_control.mean(0), difference.mean(0)
    lowest = difference.min(0).values
    n_heads = mean_diff.shape[1]
    order = mean_diff.flatten().argsort(descending=True).tolist()
    heads = [HeadCueOut(layer=i // n_heads, head=i % n_heads,
                        word_to_cues=round(float(mean_word.flatten()[i]), 6),
                        control_to_cues=round(float(mean_control.flatten()[i]), 6),
                        difference=round(float(mean_diff.flatten()[i]), 6),
                        lowest_difference=round(float(lowest.flatten()[i]), 6)) for i in order]
    return SenseHeadsOut(
        word=word, control=control,
        sentences=[CueSentenceOut(group=r.group, sentence=r.sentence, text=r.text,
                                  tokens=tokens_out(r.analysis.tokens), token_index=r.position,
                                  cue_tokens=c, control_text=k.text)
                   for r, k, c in zip(readings, controls, cues)],
        heads=heads,
        mean_head=MeanHeadOut(word_to_cues=round(float(from_word.mean()), 6),
                              control_to_cues=round(float(from_control.mean()), 6),
                              word_to_first=round(float(to_first.mean()), 6)))


# --- one head, or the layer's average ------------------------------------------------------------


async def head_response(engine: Engine, body: AttentionIn) -> AttentionOut:
    """One head's weights (or the layer's average), in one engine job: the prompt's Analysis
    (cached, or computed) and the rounding of n x n weights (50 ms at 512 tokens) both off the loop."""
    cfg = engine.cfg
    check_index("layer", body.layer, cfg.n_layers, "layers")
    check_index("head", body.head, cfg.n_heads, "query heads per layer")
    prompt = continued_prompt(engine, body.text, body.append_ids)
    return await engine.run(lambda: head_out(engine.analysis(prompt), body))


def head_out(analysis: Analysis, body: AttentionIn) -> AttentionOut:
    cfg = analysis.model.cfg
    kv = None if body.average else views.kv_head_of(body.head, cfg.n_heads, cfg.n_kv_heads)
    weights = (views.layer_average(analysis, body.layer) if body.average
               else views.head_weights(analysis, body.layer, body.head))
    return AttentionOut(
        tokens=tokens_out(analysis.tokens), layer=body.layer, head=body.head, average=body.average, kv_head=kv,
        shares_kv_with=[] if kv is None else [h for h in range(cfg.n_heads) if h != body.head
                                               and views.kv_head_of(h, cfg.n_heads, cfg.n_kv_heads) == kv],
        n_layers=cfg.n_layers, n_heads=cfg.n_heads, n_kv_heads=cfg.n_kv_heads, weights=rounded(weights))


# --- every head at once --------------------------------------------------------------------------


async def all_heads_response(engine: Engine, text: str) -> AllHeadsOut:
    """Every head of every layer as bytes, for prompts up to `max_all_heads_tokens`: the bytes grow
    with the square of the prompt, so longer ones are refused (413 `too_long`, with the limit)
    rather than sending tens of megabytes of thumbnails."""
    prompt = engine.prompt(text)
    limit = engine.settings.max_all_heads_tokens
    if len(prompt.tokens) > limit:
        raise InputError(f"text is {len(prompt.tokens)} tokens long; all heads at once are sent for at most "
                         f"{limit} tokens. Shorten the text, or ask POST /api/attention for one head.",
                         code="too_long", field="text", limit=limit, actual=len(prompt.tokens))
    return await engine.run(lambda: all_heads_out(engine.analysis(prompt)))


def all_heads_out(analysis: Analysis) -> AllHeadsOut:
    cfg = analysis.model.cfg
    return AllHeadsOut(
        tokens=tokens_out(analysis.tokens),
        n_layers=cfg.n_layers, n_heads=cfg.n_heads, n_kv_heads=cfg.n_kv_heads,
        kv_head_of=[views.kv_head_of(h, cfg.n_heads, cfg.n_kv_heads) for h in range(cfg.n_heads)],
        layout="byte (layer * n_heads + head) * n(n+1)/2 + i(i+1)/2 + j holds weight (query i, key j <= i)",
        scale=views.QUANT_SCALE, max_error=views.QUANT_MAX_ERROR, data=views.encode_all_heads(analysis),
        layer_averages=views.encode_layer_averages(analysis), first_token_share=views.first_token_share(analysis))
