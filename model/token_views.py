"""Two views of the tokenizer that the tokens chapter teaches with, built on `ModelTokenizer`:

- `decode_ids`: ids back to text, with each token's character span in that text, so a pasted
  list of ids can be shown as the same chips as typed text;
- `render_chat`: messages through the model's chat template, with each token tagged by the
  message that wrote it, by whether it is the message's own text or the template's, and by
  whether it belongs to a turn the template adds on its own (SmolLM2's default system turn).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, replace

from jinja2 import TemplateError

from model.tokenizer import ModelTokenizer, Token


def decode_ids(tokenizer: ModelTokenizer, ids: list[int]) -> tuple[str, list[Token]]:
    """Decode `ids` byte by byte, giving each token the characters its bytes produced.

    A character split over several tokens (an emoji is 4 bytes, often 3 tokens) only appears
    once its last byte arrives; every piece of it gets that character's span, as `tokenize`
    does for typed text. Pieces that never complete a character (a pasted list may stop
    halfway) decode to U+FFFD, and that replacement character is their span.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text: list[str] = []
    tokens: list[Token] = []
    waiting: list[int] = []  # indexes of tokens whose bytes have not produced a character yet
    length = 0

    def settle(piece: str) -> None:
        """The first character of `piece` is the one the waiting tokens began."""
        nonlocal waiting
        for i in waiting:  # its start is where its own text (if any) began
            tokens[i] = replace(tokens[i], end=length + min(1, len(piece)))
        waiting = []

    for token_id in ids:
        raw = tokenizer.token_bytes(token_id)
        if waiting and raw and not 0x80 <= raw[0] <= 0xBF:
            # This token cannot continue the waiting character: close it as U+FFFD first.
            flushed = decoder.decode(b"", final=True)
            decoder.reset()
            settle(flushed)
            text.append(flushed)
            length += len(flushed)
        piece = decoder.decode(raw)
        if not piece:
            tokens.append(tokenizer.describe(token_id, length, length))
            waiting.append(len(tokens) - 1)
            continue
        settle(piece)
        # A token that completes a character shares that character's span with its other pieces.
        tokens.append(tokenizer.describe(token_id, length, length + len(piece)))
        text.append(piece)
        length += len(piece)
        if decoder.getstate()[0]:  # it also began a character that a later token completes
            waiting.append(len(tokens) - 1)
    tail = decoder.decode(b"", final=True)
    settle(tail)
    text.append(tail)
    return "".join(text), tokens


@dataclass(frozen=True)
class ChatToken:
    token: Token
    message: int | None  # index of the message that wrote it; None for the generation prompt
    source: str          # "content" (the message's own text) or "template" (added around it)
    added_turn: bool     # in a turn the template writes on its own, before message `message`


@dataclass(frozen=True)
class Span:
    role: str
    start: int
    end: int


@dataclass(frozen=True)
class RenderedChat:
    text: str
    tokens: list[ChatToken]
    spans: list[Span]
    added_turns: list[Span]  # turns the template wrote for no message, each inside the next message's span


def _message_spans(tokenizer: ModelTokenizer, messages: list[dict], add_generation_prompt: bool,
                   text: str) -> list[Span]:
    """Each message's part of `text`, found by rendering the chat one message longer at a time.

    Chat templates write the messages in order, so the rendering of the first k messages is a
    prefix of the whole; where a template does not (it may look ahead), return no spans.
    """
    spans, previous = [], ""
    for k, message in enumerate(messages):
        prefix = tokenizer.apply_chat_template(messages[:k + 1], add_generation_prompt=False)
        if not prefix.startswith(previous) or not text.startswith(prefix):
            return []
        spans.append(Span(message["role"], len(previous), len(prefix)))
        previous = prefix
    if add_generation_prompt and len(previous) < len(text):
        spans.append(Span("generation prompt", len(previous), len(text)))
    return spans if (spans and spans[-1].end == len(text)) else []


def _content_ranges(text: str, messages: list[dict], spans: list[Span]) -> list[tuple[int, int]]:
    """Where each message's own content sits inside its span (the last occurrence: the template
    writes its own text, such as the role name or a default system message, before it)."""
    ranges = []
    for message, span in zip(messages, spans):
        content = message["content"]
        at = text.rfind(content, span.start, span.end) if content else -1
        ranges.append((at, at + len(content)) if at >= 0 else (0, 0))
    return ranges


# A system message's content that no template writes on its own, to find what surrounds a content.
_PROBE = "\u27e6probe\u27e7"


def _added_turn(tokenizer: ModelTokenizer, messages: list[dict], k: int, add_generation_prompt: bool,
                text: str, span: Span) -> Span | None:
    """The system turn the template wrote on its own at the start of message k's span, if any.

    Such a turn (SmolLM2 writes a default system message when the chat opens without one) is
    what a system message of some content D would render there. So: render a probe system
    message before message k to learn the system turn's frame (the text before and after its
    content) and message k's own turn; if the span is frame + D + own turn, it is an added
    turn exactly when rendering the chat with a system message D at k gives the same text.
    """
    before, prefix = messages[:k], text[:span.start]
    probe = {"role": "system", "content": _PROBE}
    try:
        with_probe = tokenizer.apply_chat_template([*before, probe], add_generation_prompt=False)
        then_own = tokenizer.apply_chat_template([*before, probe, messages[k]], add_generation_prompt=False)
    except TemplateError:  # a template may refuse a system message there
        return None
    if not with_probe.startswith(prefix) or not then_own.startswith(with_probe):
        return None
    frame, own = with_probe[len(prefix):], then_own[len(with_probe):]
    at = frame.rfind(_PROBE)
    if at < 0:
        return None
    opening, closing = frame[:at], frame[at + len(_PROBE):]
    part = text[span.start:span.end]
    added = len(part) - len(own)  # characters before the message's own turn
    if added < len(opening) + len(closing) or not (part.startswith(opening) and part.endswith(closing + own)):
        return None
    default = {"role": "system", "content": part[len(opening):added - len(closing)]}
    try:
        same = tokenizer.apply_chat_template([*before, default, *messages[k:]], add_generation_prompt) == text
    except TemplateError:
        return None
    return Span("system", span.start, span.start + added) if same else None


def _added_turns(tokenizer: ModelTokenizer, messages: list[dict], add_generation_prompt: bool, text: str,
                 spans: list[Span]) -> list[Span]:
    """The turns the template wrote for no message of the chat, in order."""
    found = (_added_turn(tokenizer, messages, k, add_generation_prompt, text, span)
             for k, span in enumerate(spans[:len(messages)]))
    return [turn for turn in found if turn is not None]


def render_chat(tokenizer: ModelTokenizer, messages: list[dict], add_generation_prompt: bool = True) -> RenderedChat:
    """The exact token sequence the model reads for `messages`, each token tagged by its origin."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt)
    spans = _message_spans(tokenizer, messages, add_generation_prompt, text)
    contents = _content_ranges(text, messages, spans)
    added = _added_turns(tokenizer, messages, add_generation_prompt, text, spans)
    tagged = []
    for token in tokenizer.tokenize(text):
        message, source = None, "template"
        for k, span in enumerate(spans):
            if span.start <= token.start < span.end:
                message = k if k < len(messages) else None
                break
        if message is not None:  # a special token can be content too: typed "<|im_end|>" becomes one
            lo, hi = contents[message]
            if token.start < hi and token.end > lo:
                source = "content"
        in_added = any(turn.start <= token.start < turn.end for turn in added)
        tagged.append(ChatToken(token, message, source, in_added))
    return RenderedChat(text, tagged, spans, added)
