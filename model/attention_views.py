"""What the attention chapter computes from an `Analysis`: one head's weights and every head in a
compact 8-bit form (the fair sense test is in model/senses.py).

Pure torch: reads the cached Analysis of a prompt (one forward pass shared by every view) and
never runs the model itself. Shapes: L layers, h query heads, n tokens, d = d_model.
"""

from __future__ import annotations

import base64

import torch

from model.analysis import Analysis

# --- one head -------------------------------------------------------------------------------


def head_weights(analysis: Analysis, layer: int, head: int) -> torch.Tensor:
    """(n, n) attention of one head: row = query position, column = key position."""
    return analysis.attn_pattern[layer, head]


def layer_average(analysis: Analysis, layer: int) -> torch.Tensor:
    """(n, n) the mean of every query head's weights in one layer (float64: exact to print)."""
    return analysis.attn_pattern[layer].double().mean(0)


def kv_head_of(head: int, n_heads: int, n_kv_heads: int) -> int:
    """The key/value head a query head reads under grouped-query attention.

    The forward pass (model.llama.Attention) groups `n_heads // n_kv_heads` consecutive query
    heads on each key/value head, so query heads 0, 1, 2 share key/value head 0, and so on."""
    return head // (n_heads // n_kv_heads)


# --- every head, compactly ------------------------------------------------------------------
#
# All heads of a prompt are L * h * n * n floats: 270 heads of a 64-token prompt are 4.4 MB as
# float32 and three times that as JSON text. Two facts make it small: nothing lies above the
# diagonal (a token never attends forward), so only the lower triangle n(n+1)/2 is sent, and a
# thumbnail needs no more than 256 shades, so each weight is one byte, round(w * 255). A
# 64-token prompt then takes 270 * 2080 bytes = 0.56 MB, 0.75 MB as base64.

QUANT_LEVELS = 255
QUANT_SCALE = 1.0 / QUANT_LEVELS
QUANT_MAX_ERROR = 0.5 / QUANT_LEVELS  # rounding to the nearest level is off by at most half a step


def triangle_size(n: int) -> int:
    """How many weights a causal n x n pattern has on or below the diagonal."""
    return n * (n + 1) // 2


def encode_lower_uint8(pattern: torch.Tensor) -> bytes:
    """Quantise (..., n, n) causal patterns to one byte per weight, lower triangle only.

    Order: every leading index in turn (layer, then head), then row by row, columns 0..row; so
    weight (i, j) of pattern k is byte k * n(n+1)/2 + i(i+1)/2 + j."""
    n = pattern.shape[-1]
    rows, cols = torch.tril_indices(n, n)                                        # row-major
    lower = pattern[..., rows, cols]                                             # (..., n(n+1)/2)
    quantised = (lower.float() * QUANT_LEVELS).round().clamp(0, QUANT_LEVELS).to(torch.uint8)
    return quantised.contiguous().numpy().tobytes()


def decode_lower_uint8(data: bytes, leading: tuple[int, ...], n: int) -> torch.Tensor:
    """The inverse of `encode_lower_uint8`: (*leading, n, n) weights, zero above the diagonal."""
    size = triangle_size(n)
    flat = torch.frombuffer(bytearray(data), dtype=torch.uint8).float() * QUANT_SCALE
    if flat.numel() != size * int(torch.tensor(leading).prod()):
        raise ValueError(f"{flat.numel()} bytes do not hold {leading} patterns of {n} tokens")
    out = torch.zeros(*leading, n, n)
    rows, cols = torch.tril_indices(n, n)
    out[..., rows, cols] = flat.view(*leading, size)
    return out


def encode_all_heads(analysis: Analysis) -> str:
    """Every head of every layer, (L, h) patterns, as base64 of `encode_lower_uint8`."""
    return base64.b64encode(encode_lower_uint8(analysis.attn_pattern)).decode("ascii")


def encode_layer_averages(analysis: Analysis) -> str:
    """Each layer's mean of its heads' exact weights, (L,) patterns, as base64 of `encode_lower_uint8`
    (one rounding of the exact mean, not the mean of rounded heads)."""
    return base64.b64encode(encode_lower_uint8(analysis.attn_pattern.double().mean(1))).decode("ascii")


def first_token_share(analysis: Analysis) -> float | None:
    """The weight queries 1..n-1 put on the first token, averaged over every head of every layer
    (None for a one-token prompt, whose only query can look nowhere else)."""
    if analysis.n_tokens < 2:
        return None
    return float(analysis.attn_pattern[:, :, 1:, 0].double().mean())
