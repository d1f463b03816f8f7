"""Chapter 2: text to tokens and back, and a chat as the model reads it. No model pass: these
views only tokenize, so they run in FastAPI's worker threads without the model lock."""

from __future__ import annotations

from jinja2 import TemplateError

from app.engine import Engine
from app.schemas.tokens import (ChatTemplateIn, ChatTemplateOut, ChatTokenOut, DetokenizeOut, MessageSpan,
                                TokenizeOut)
from app.views.common import token_out, tokens_out
from model.errors import InputError, check_index
from model.token_views import decode_ids, render_chat


def tokenize_out(engine: Engine, text: str) -> TokenizeOut:
    """Unlike a prompt, empty or blank text is fine here: it simply has zero (or space) tokens."""
    tokens = engine.tokenize(text)
    n_chars = len(text)
    return TokenizeOut(tokens=tokens_out(tokens), count=len(tokens), characters=n_chars, words=len(text.split()),
                       chars_per_token=round(n_chars / len(tokens), 3) if tokens else None,
                       max_prompt_tokens=engine.settings.max_prompt_tokens)


def detokenize_out(engine: Engine, ids: list[int]) -> DetokenizeOut:
    limit, vocab = engine.settings.max_prompt_chars, engine.tokenizer.vocab_size
    if len(ids) > limit:
        raise InputError(f"ids has {len(ids)} entries; the limit is {limit}. Send fewer ids.",
                         code="too_many_items", field="ids", limit=limit, actual=len(ids))
    for i, token_id in enumerate(ids):
        check_index(f"ids.{i}", token_id, vocab, "token ids", f"ids.{i} is {token_id}, which is not a token id: "
                    f"ids run from 0 to {vocab - 1} (the vocabulary has {vocab} tokens).")
    text, tokens = decode_ids(engine.tokenizer, ids)
    again = engine.tokenizer.encode(text)
    exact = b"".join(engine.tokenizer.token_bytes(i) for i in ids) == text.encode("utf-8")
    return DetokenizeOut(text=text, tokens=tokens_out(tokens), count=len(tokens), retokenized=again,
                         canonical=again == ids, exact=exact)


def chat_template_out(engine: Engine, body: ChatTemplateIn) -> ChatTemplateOut:
    engine.check_characters(sum(len(m.content) for m in body.messages), "messages",
                            "messages (all contents together)")
    messages = [m.model_dump() for m in body.messages]
    try:
        chat = render_chat(engine.tokenizer, messages, body.add_generation_prompt)
    except (TemplateError, ValueError) as exc:  # a template may refuse an order of roles, or be missing
        raise InputError(f"messages: the model's chat template refused them ({exc}). "
                         "Change the order or roles of the messages.", code="template_refused",
                         field="messages") from exc
    tokens = [ChatTokenOut(**token_out(c.token).model_dump(), message=c.message, source=c.source,
                           added_turn=c.added_turn) for c in chat.tokens]
    return ChatTemplateOut(text=chat.text, tokens=tokens, count=len(tokens),
                           special_count=sum(t.special for t in tokens),
                           spans=[MessageSpan(role=s.role, start=s.start, end=s.end) for s in chat.spans],
                           max_prompt_tokens=engine.settings.max_prompt_tokens)
