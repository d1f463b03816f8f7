"""Chapter 2: text becomes tokens. Tokenize, decode ids back, and show a chat as the model reads it.

Tokenizing needs no model pass, so these handlers do not take the model lock. They are plain
`def` handlers, which FastAPI runs in its worker threads: even the longest allowed text never
holds up the event loop. Each parses, hands the request to `app/views/tokens.py` and returns.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import EngineDep
from app.schemas.common import ERRORS, from_query, ids_from_query
from app.schemas.tokens import ChatTemplateIn, ChatTemplateOut, DetokenizeIn, DetokenizeOut, TokenizeIn, TokenizeOut
from app.views import tokens as view
from model.errors import InputError

router = APIRouter(prefix="/api", tags=["tokens"])
_4XX = {k: v for k, v in ERRORS.items() if k in (413, 422)}


@router.post("/tokenize", response_model=TokenizeOut, responses=_4XX)
def tokenize(body: TokenizeIn, engine: EngineDep) -> TokenizeOut:
    """Cut text into the model's tokens, each with its id, text, bytes and character offsets."""
    return view.tokenize_out(engine, body.text)


@router.get("/tokenize", response_model=TokenizeOut, responses=_4XX, summary="Tokenize (the page's URL)")
def tokenize_get(engine: EngineDep, text: Annotated[str, Query(description="The text, as typed.")] = "") -> TokenizeOut:
    """The JSON twin of the /tokens page's text tab: its URL query `text`, answered as POST /api/tokenize."""
    return view.tokenize_out(engine, text)


@router.post("/detokenize", response_model=DetokenizeOut, responses=_4XX)
def detokenize(body: DetokenizeIn, engine: EngineDep) -> DetokenizeOut:
    """Turn a list of token ids back into text, describing each id."""
    return view.detokenize_out(engine, body.ids)


@router.get("/detokenize", response_model=DetokenizeOut, responses=_4XX, summary="Detokenize (the page's URL)")
def detokenize_get(engine: EngineDep, ids: Annotated[str, Query(description="Token ids, comma-separated, "
                                                                 "as in the /tokens page's URL.")] = "") -> DetokenizeOut:
    """The JSON twin of the /tokens page's ids tab: its URL query `ids` ("6403,28"), answered as POST /api/detokenize."""
    return view.detokenize_out(engine, ids_from_query(ids, "ids", "6403,28"))


@router.post("/chat/template", response_model=ChatTemplateOut, responses=_4XX)
def chat_template(body: ChatTemplateIn, engine: EngineDep) -> ChatTemplateOut:
    """Render messages through the model's own chat template: the exact tokens the model reads."""
    return view.chat_template_out(engine, body)


@router.get("/chat/template", response_model=ChatTemplateOut, responses=_4XX, summary="Chat template (one URL)")
def chat_template_get(engine: EngineDep,
                      messages: Annotated[str, Query(description="The messages as JSON text, the same list as "
                                                     "POST's `messages`: `[{\"role\":\"user\",\"content\":\"Hi\"}]`.")],
                      add_generation_prompt: Annotated[bool, Query(description="End with the tokens that open "
                                                                   "the assistant's turn.")] = True,
                      ) -> ChatTemplateOut:
    """The GET twin of POST /api/chat/template, answering the same request as one URL (the /chat page's
    first picture is drawn by the server from it)."""
    try:
        listed = json.loads(messages)
    except (ValueError, RecursionError):
        raise InputError(f"messages is {messages[:60]!r}, which is not JSON; send a JSON list of messages, such "
                         'as [{"role":"user","content":"Hi"}].', code="invalid", field="messages") from None
    return view.chat_template_out(engine, from_query(ChatTemplateIn, messages=listed,
                                                     add_generation_prompt=add_generation_prompt))
