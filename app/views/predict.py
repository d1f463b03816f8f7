"""Next-token chapter: the distribution after a prompt (sampling settings, heads switched off),
the logit lens and each prompt token's surprise, built from the prompt's cached Analysis.

Everything that touches the 49,152-entry vocabulary runs in one engine job, in the model thread:
on the event loop it would compete with a running pass for the cores."""

from __future__ import annotations

import math

from app.engine import Engine, Prompt
from app.schemas.predict import (DrawOut, Guess, HeadIn, LensCell, LensIn, LensOut, PredictIn, PredictOut,
                                 Prediction, SurpriseIn, SurpriseOut, SurpriseToken, TokenProb)
from app.views.common import token_out, tokens_out
from model.ablation import ablated_next_logits
from model.errors import InputError, check_index
from model.lens import logit_lens, surprise
from model.sampling import Distribution, distribution
from model.tokenizer import ModelTokenizer

# --- tokens with their probabilities (also used by generation) -------------------------------------


def token_prob(tokenizer: ModelTokenizer, token_id: int, probability: float) -> TokenProb:
    t = tokenizer.describe(token_id)
    return TokenProb(id=token_id, text=t.text, display=t.display, bytes=t.bytes_hex, partial=t.partial,
                     probability=probability)


def prediction(tokenizer: ModelTokenizer, dist: Distribution, logits, token_id: int) -> Prediction:
    """One token's row of a Distribution (model.sampling) with its raw logit."""
    t = tokenizer.describe(token_id)
    return Prediction(id=token_id, text=t.text, display=t.display, bytes=t.bytes_hex, partial=t.partial,
                      probability=float(dist.probs[token_id]),
                      logprob=float(dist.logprobs[token_id]),
                      logit=float(logits[token_id]), allowed=bool(dist.allowed[token_id]),
                      sample_probability=float(dist.sample_probs[token_id]))


def top_predictions(tokenizer: ModelTokenizer, dist: Distribution, logits, n: int) -> list[Prediction]:
    """The n most probable tokens, most probable first. Ranked by logit: the probabilities follow
    the logits' order, but at a low temperature most of them underflow float32 to exactly 0 (and
    the top one to exactly 1), and a ranking of equal zeros would be arbitrary."""
    ids = logits.topk(min(n, logits.shape[0])).indices.tolist()
    return [prediction(tokenizer, dist, logits, i) for i in ids]


# --- the prompt: text, then token ids as given ----------------------------------------------------


def continued_prompt(engine: Engine, text: str, append_ids: list[int]) -> Prompt:
    """`text`'s tokens followed by `append_ids` as given, within the prompt limits. With ids to
    append, `text` may be empty: the prompt is then the ids alone (e.g. ids from /api/tokenize)."""
    tk = engine.tokenizer
    for i, token_id in enumerate(append_ids):
        check_index(f"append_ids.{i}", token_id, tk.vocab_size, "token ids",
                    f"append_ids.{i} is {token_id}; token ids are 0 to {tk.vocab_size - 1}.")
    if not append_ids:
        return engine.prompt(text)
    prompt = Prompt("", []) if text == "" else engine.prompt(text)
    engine.check_tokens(len(prompt.tokens) + len(append_ids), "append_ids",
                        detail="text and append_ids are {actual} tokens together; the limit is {limit} tokens. "
                               "Remove some appended tokens or shorten the text.")
    end = len(text)
    return Prompt(text + tk.decode(append_ids), prompt.tokens + [tk.describe(i, end, end) for i in append_ids])


# --- POST /api/predict ----------------------------------------------------------------------------


def _heads(engine: Engine, ablate: list[HeadIn]) -> list[tuple[int, int]]:
    """Distinct (layer, head) pairs, or a 422 naming the entry and the valid range."""
    cfg = engine.cfg
    for i, h in enumerate(ablate):
        check_index(f"ablate.{i}.layer", h.layer, cfg.n_layers, "layers",
                    f"ablate.{i}.layer is {h.layer}; this model's layers are 0 to {cfg.n_layers - 1}.")
        check_index(f"ablate.{i}.head", h.head, cfg.n_heads, "query heads per layer",
                    f"ablate.{i}.head is {h.head}; every layer has heads 0 to {cfg.n_heads - 1}.")
    return sorted({(h.layer, h.head) for h in ablate})


def _guess(engine: Engine, text: str, dist: Distribution, logits) -> Guess:
    ids = engine.tokenizer.encode(text)
    if not ids:
        raise InputError("guess is empty; type the token you expect next, e.g. ' Paris'.", code="empty", field="guess")
    first = ids[0]
    # On the logits, not the probabilities: at a low temperature most probabilities are exactly 0 in
    # float32, and a guess among them would be ranked just after the last nonzero one.
    rank = int((logits > logits[first]).sum()) + 1
    return Guess(text=text, token=prediction(engine.tokenizer, dist, logits, first), rank=rank,
                 tokens_in_guess=len(ids))


def _entropy_bits(probs) -> float:
    p = probs[probs > 0]
    return float(-(p * p.log()).sum() / math.log(2))


async def predict_response(engine: Engine, body: PredictIn) -> PredictOut:
    prompt = continued_prompt(engine, body.text, body.append_ids)
    heads = _heads(engine, body.ablate)
    return await engine.run(lambda: predict_out(engine, prompt, heads, body))


def predict_out(engine: Engine, prompt: Prompt, heads: list[tuple[int, int]], body: PredictIn) -> PredictOut:
    tk = engine.tokenizer

    def shaped(logits) -> tuple[Distribution, list]:
        dist = distribution(logits, body.temperature, body.top_k, body.top_p)
        return dist, top_predictions(tk, dist, logits, body.n_predictions)

    analysis = engine.analysis(prompt)
    logits = ablated_next_logits(analysis, heads) if heads else analysis.next_logits
    dist, predictions = shaped(logits)
    allowed = dist.allowed
    return PredictOut(
        tokens=tokens_out(prompt.tokens),
        predictions=predictions, baseline=shaped(analysis.next_logits)[1] if heads else None,
        ablated=[HeadIn(layer=layer, head=head) for layer, head in heads],
        draw=DrawOut(allowed_count=int(allowed.sum()), allowed_mass=float(dist.probs[allowed].sum()),
                     entropy_bits=_entropy_bits(dist.probs)),
        guess=_guess(engine, body.guess, dist, logits) if body.guess is not None else None,
        temperature=body.temperature, top_k=body.top_k, top_p=body.top_p,
    )


# --- POST /api/logit-lens -------------------------------------------------------------------------


async def lens_response(engine: Engine, body: LensIn) -> LensOut:
    prompt = continued_prompt(engine, body.text, body.append_ids)
    return await engine.run(lambda: lens_out(engine, prompt, body.last))


def lens_out(engine: Engine, prompt: Prompt, last: int) -> LensOut:
    analysis = engine.analysis(prompt)
    n = analysis.n_tokens
    result = logit_lens(analysis, list(range(max(0, n - last), n)))
    tk = engine.tokenizer
    cells = []
    for ids, probs, targets in zip(result.top_ids.tolist(), result.top_probs.tolist(),
                                   result.target_probs.tolist()):
        cells.append([LensCell(**token_prob(tk, i, p).model_dump(),
                               target_probability=None if math.isnan(t) else t)
                      for i, p, t in zip(ids, probs, targets)])
    return LensOut(tokens=tokens_out(prompt.tokens), positions=result.positions,
                   layers=["embed"] + [f"layer {i}" for i in range(engine.cfg.n_layers)], cells=cells)


# --- POST /api/surprise ---------------------------------------------------------------------------


async def surprise_response(engine: Engine, body: SurpriseIn) -> SurpriseOut:
    prompt = continued_prompt(engine, body.text, body.append_ids)
    return await engine.run(lambda: surprise_out(engine, prompt))


def surprise_out(engine: Engine, prompt: Prompt) -> SurpriseOut:
    result = surprise(engine.analysis(prompt))
    tokens, bits = [], []
    for i, t in enumerate(prompt.tokens):
        logp = float(result.logprobs[i])
        if math.isnan(logp):
            tokens.append(SurpriseToken(**token_out(t).model_dump(), probability=None, logprob=None,
                                        surprisal_bits=None))
            continue
        bits.append(-logp / math.log(2))
        tokens.append(SurpriseToken(
            **token_out(t).model_dump(), probability=math.exp(logp), logprob=logp, surprisal_bits=bits[-1],
            expected=token_prob(engine.tokenizer, int(result.top_ids[i]), float(result.top_probs[i]))))
    return SurpriseOut(tokens=tokens, mean_surprisal_bits=sum(bits) / len(bits) if bits else None)
