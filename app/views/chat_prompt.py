"""A conversation as the prompt the model reads: the messages written out through the model's chat
template with the assistant's turn opened, within the prompt limits. Every view that reads a chat
(POST /api/generate, POST /api/attribution, /v1/chat/completions) builds its prompt here, so they
read the same tokens."""

from __future__ import annotations

from app.engine import Engine, Prompt
from app.schemas.generate import Message
from model.errors import InputError


def render_chat(engine: Engine, messages: list[Message]) -> str:
    """The messages through the chat template, with the assistant's turn opened."""
    # Text typed into a message must stay text: "<|im_end|>" in a user's message would otherwise
    # become the real control token and let the message end its own turn and write the assistant's.
    specials = [engine.tokenizer.data.tokens[i] for i in sorted(engine.tokenizer.special_ids)]
    for i, message in enumerate(messages):
        found = next((s for s in specials if s in message.content), None)
        if found is not None:
            raise InputError(f"messages.{i}.content contains {found}, one of the chat template's control tokens; "
                             "remove it (the /tokens page shows what it would do).", code="control_token",
                             field=f"messages.{i}.content")
    try:
        return engine.tokenizer.apply_chat_template([m.model_dump() for m in messages], add_generation_prompt=True)
    except Exception as exc:  # a template may reject a conversation (e.g. roles out of order)
        raise InputError(f"messages: the model's chat template cannot render this conversation ({exc}).",
                         code="template_refused", field="messages") from exc


def chat_prompt(engine: Engine, messages: list[Message]) -> Prompt:
    """The conversation written out through the template, within the prompt limits.

    A chat grows by a question and a reply each turn, so it is the whole conversation that
    reaches the limit, usually long after each message on its own was short: say so."""
    text = render_chat(engine, messages)
    return engine.prompt(text, field="messages",
                         subject="messages: the conversation, written out through the chat template,",
                         advice="Remove or shorten earlier messages, or start a new chat.")
