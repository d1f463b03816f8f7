"""/chat's first picture: the conversation as the model reads it, token chips as chat.js drawTemplate
draws them (special tokens dark, the template's words and the messages' own in the legend's colours, a
line break after each token that ends a line) and the count below them, from GET /api/chat/template's answer."""

from __future__ import annotations

from app.pictures.chips import token_chip
from app.pictures.svg import esc


def _chip(t: dict) -> str:
    cls = "" if t.get("special") else "legend-template" if t["source"] == "template" else "legend-content"
    title = f"id {t['id']}" + (f" · message {t['message'] + 1}" if t["message"] is not None else " · opens the reply")
    return token_chip(t, cls=cls, title=title) + ("<br>" if t["text"].endswith("\n") else "")


def picture(answer: dict, url: str) -> str | None:
    tokens = answer["tokens"]
    if not tokens:
        return None
    # The count chat.js writes below the tokens (#template-count), here at the picture's foot.
    count = f"Right now: {answer['count']} tokens of the {answer['max_prompt_tokens']} a prompt may have."
    return "".join(_chip(t) for t in tokens) + f'<p class="template-count">{esc(count)}</p>'
