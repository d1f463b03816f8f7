"""Chapter 2: text becomes tokens. Tokenize, decode ids back, and show a chat as the model reads it.

Tokenizing needs no model pass, so these handlers do not take the model lock. They are plain
`def` handlers, which FastAPI runs in its worker threads: even the longest allowed text never
holds up the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter
from jinja2 import TemplateError

from app.deps import EngineDep
from app.schemas.common import ERRORS, TokenOut
from app.schemas.tokens import (ChatTemplateIn, ChatTemplateOut, ChatTokenOut, DetokenizeIn, DetokenizeOut,
                                MessageSpan, TokenizeIn, TokenizeOut)
from model.errors import InputError, check_index
from model.token_views import decode_ids, render_chat

router = APIRouter(prefix="/api", tags=["tokens"])
_4XX = {k: v for k, v in ERRORS.items() if k in (413, 422)}


@router.post("/tokenize", response_model=TokenizeOut, responses=_4XX)
def tokenize(body: TokenizeIn, engine: EngineDep) -> TokenizeOut:
    """Cut text into the model's tokens, each with its id, text, bytes and character offsets."""
    # Unlike engine.prompt, empty or blank text is fine here: it simply has zero (or space) tokens.
    tokens = engine.tokenize(body.text)
    n_chars = len(body.text)
    return TokenizeOut(tokens=[TokenOut.of(t) for t in tokens], count=len(tokens), characters=n_chars,
                       words=len(body.text.split()),
                       chars_per_token=round(n_chars / len(tokens), 3) if tokens else None,
                       max_prompt_tokens=engine.settings.max_prompt_tokens)


@router.post("/detokenize", response_model=DetokenizeOut, responses=_4XX)
def detokenize(body: DetokenizeIn, engine: EngineDep) -> DetokenizeOut:
    """Turn a list of token ids back into text, describing each id."""
    limit, vocab = engine.settings.max_prompt_chars, engine.tokenizer.vocab_size
    if len(body.ids) > limit:
        raise InputError(f"ids has {len(body.ids)} entries; the limit is {limit}. Send fewer ids.",
                         code="too_many_items", field="ids", limit=limit, actual=len(body.ids))
    for i, token_id in enumerate(body.ids):
        check_index(f"ids.{i}", token_id, vocab, "token ids", f"ids.{i} is {token_id}, which is not a token id: "
                    f"ids run from 0 to {vocab - 1} (the vocabulary has {vocab} tokens).")
    text, tokens = decode_ids(engine.tokenizer, body.ids)
    again = engine.tokenizer.encode(text)
    return DetokenizeOut(text=text, tokens=[TokenOut.of(t) for t in tokens], count=len(tokens),
                         retokenized=again, canonical=again == body.ids)


@router.post("/chat/template", response_model=ChatTemplateOut, responses=_4XX)
def chat_template(body: ChatTemplateIn, engine: EngineDep) -> ChatTemplateOut:
    """Render messages through the model's own chat template: the exact tokens the model reads."""
    engine.check_characters(sum(len(m.content) for m in body.messages), "messages",
                            "messages (all contents together)")
    messages = [m.model_dump() for m in body.messages]
    try:
        chat = render_chat(engine.tokenizer, messages, body.add_generation_prompt)
    except (TemplateError, ValueError) as exc:  # a template may refuse an order of roles, or be missing
        raise InputError(f"messages: the model's chat template refused them ({exc}). "
                         "Change the order or roles of the messages.", code="template_refused",
                         field="messages") from exc
    tokens = [ChatTokenOut(**TokenOut.of(c.token).model_dump(), message=c.message, source=c.source)
              for c in chat.tokens]
    return ChatTemplateOut(text=chat.text, tokens=tokens, count=len(tokens),
                           special_count=sum(t.special for t in tokens),
                           spans=[MessageSpan(role=s.role, start=s.start, end=s.end) for s in chat.spans],
                           max_prompt_tokens=engine.settings.max_prompt_tokens)
