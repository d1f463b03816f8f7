"""Small pieces every view uses: tensors to short JSON numbers, tokens to their JSON form."""

from __future__ import annotations

import torch

from app.schemas.common import TokenOut
from model.tokenizer import Token


def rounded(t: torch.Tensor, digits: int = 6) -> list:
    """A tensor as nested lists of floats with `digits` decimals: the JSON stays short and loses
    nothing a picture or a 1e-4 check can see. Torch work: call it in the worker."""
    scale = 10.0 ** digits
    return ((t.double() * scale).round() / scale).tolist()


def token_out(t: Token) -> TokenOut:
    """A token as every answer lists it (the tokenizer's `Token` has the same fields, bytes as hex)."""
    return TokenOut(id=t.id, text=t.text, start=t.start, end=t.end, display=t.display,
                    bytes=t.bytes_hex, special=t.special, partial=t.partial)


def tokens_out(tokens: list[Token]) -> list[TokenOut]:
    return [token_out(t) for t in tokens]
