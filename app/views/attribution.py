"""Why this token: the prompt's cached Analysis split into the parts that wrote the target's
logit (model/attribution.py), checked by switching the strongest parts off, and the input
tokens' saliency. The direct parts and the check are one engine job (they read the kept
Analysis plus one resumed pass); the saliency is another (many forward and backward passes)."""

from __future__ import annotations

import math

from app.engine import Engine, Prompt
from app.schemas.attribution import (AttributionIn, AttributionOut, CheckOut, PartRef, PartsOut, ReactingLayer,
                                     SaliencyOut, TokenLogit)
from app.views.chat_prompt import chat_prompt
from app.views.common import rounded, tokens_out
from model import attribution
from model.analysis import Analysis
from model.errors import check_index
from model.sampling import probabilities
from model.tokenizer import ModelTokenizer

TOP = 8  # next-token candidates offered as targets


def prompt_of(engine: Engine, body: AttributionIn) -> Prompt:
    """`text` as typed, or `messages` through the chat template with the assistant's turn opened
    (exactly as POST /api/generate reads a chat)."""
    return chat_prompt(engine, body.messages) if body.messages is not None else engine.prompt(body.text)


def _token(tokenizer: ModelTokenizer, token_id: int, logits, probs) -> TokenLogit:
    t = tokenizer.describe(token_id)
    return TokenLogit(id=token_id, text=t.text, display=t.display, bytes=t.bytes_hex, partial=t.partial,
                      logit=float(logits[token_id]), probability=float(probs[token_id]))


def _check(engine: Engine, analysis: Analysis, parts: attribution.DirectParts, target: int, contrast: int | None,
           k: int, probs) -> CheckOut | None:
    if k == 0:
        return None
    heads, mlps = attribution.strongest(parts, k)
    result = attribution.check(analysis, parts, target, contrast, heads, mlps)
    refs = [PartRef(kind="head", layer=l, head=h, contribution=float(parts.heads[l, h])) for l, h in heads]
    refs += [PartRef(kind="mlp", layer=l, contribution=float(parts.mlps[l])) for l in mlps]
    refs.sort(key=lambda r: -r.contribution)
    after = result.logits_after
    probs_after = probabilities(after)
    reacting = [ReactingLayer(layer=l, heads=hs, mlp=m) for l, hs, m in result.reacting]
    return CheckOut(parts=refs, predicted=result.predicted, norm_only=result.norm_only, actual=result.actual,
                    reacting=reacting,
                    probability_before=float(probs[target]), probability_after=float(probs_after[target]),
                    top_after=_token(engine.tokenizer, int(after.argmax()), after, probs_after))


def direct(engine: Engine, prompt: Prompt, body: AttributionIn) -> AttributionOut:
    """The direct parts, their total and the check (call in the worker: it may run the prompt)."""
    vocab = engine.tokenizer.vocab_size
    for field in ("target", "contrast"):
        value = getattr(body, field)
        if value is not None:
            check_index(field, value, vocab, "token ids")
    analysis = engine.analysis(prompt)
    logits = analysis.next_logits
    probs = probabilities(logits)
    target = body.target if body.target is not None else int(logits.argmax())
    contrast = body.contrast
    parts = attribution.direct_parts(analysis, target, contrast)
    tk = engine.tokenizer
    return AttributionOut(
        tokens=tokens_out(prompt.tokens),
        target=_token(tk, target, logits, probs),
        contrast=_token(tk, contrast, logits, probs) if contrast is not None else None,
        top=[_token(tk, i, logits, probs) for i in probs.topk(TOP).indices.tolist()],
        scale=parts.scale,
        parts=PartsOut(embedding=parts.embedding, heads=rounded(parts.heads), mlps=rounded(parts.mlps)),
        total=parts.logit,
        parts_sum=parts.parts_sum,
        check=_check(engine, analysis, parts, target, contrast, body.check_parts, probs),
    )


def saliency(engine: Engine, prompt: Prompt, target: int, contrast: int | None, steps: int) -> SaliencyOut:
    """Gradient x input and integrated gradients per token (call in the worker)."""
    s = attribution.saliency(engine.model, prompt.ids, target, contrast, steps)
    return SaliencyOut(gradient_x_input=rounded(s.gradient_x_input), integrated_gradients=rounded(s.integrated_gradients),
                       baseline=s.baseline, steps=s.steps, completeness=None if math.isnan(s.completeness) else s.completeness, f_input=s.f_input,
                       f_baseline=s.f_baseline)


async def attribution_response(engine: Engine, body: AttributionIn) -> AttributionOut:
    prompt = prompt_of(engine, body)
    out = await engine.run(direct, engine, prompt, body)
    if body.saliency:
        steps = body.ig_steps if body.ig_steps is not None else attribution.DEFAULT_STEPS
        contrast = out.contrast.id if out.contrast is not None else None
        out.saliency = await engine.run(saliency, engine, prompt, out.target.id, contrast, steps)
    return out
