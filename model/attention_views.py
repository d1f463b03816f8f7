"""What the attention chapter computes from an `Analysis`: one head's weights, every head in a
compact 8-bit form, and the "same word, different context" comparison.

Pure torch: reads the cached Analysis of a prompt (one forward pass shared by every view) and
never runs the model itself. Shapes: L layers, h query heads, n tokens, d = d_model.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import torch

from model.analysis import Analysis
from model.tokenizer import Token

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


# --- the same word in different sentences ---------------------------------------------------


class WordNotFound(ValueError):
    def __init__(self, word: str, text: str):
        super().__init__(f"{word!r} does not occur as a whole word in {text!r}")
        self.word, self.text = word, text


def find_word(text: str, tokens: list[Token], word: str) -> int:
    """Token position of `word` in `text`: its last whole-word occurrence, case ignored.

    A word may be cut into several tokens; we take the token holding its last character,
    because in a causal model that is the first position that has read the whole word."""
    word = word.strip()
    matches = list(re.finditer(rf"(?<!\w){re.escape(word)}(?!\w)", text, flags=re.IGNORECASE)) if word else []
    if not matches:
        raise WordNotFound(word, text)
    last_char = matches[-1].end() - 1
    for position, token in enumerate(tokens):
        if token.start <= last_char < token.end:
            return position
    raise WordNotFound(word, text)  # unreachable for offsets from our tokenizer


@dataclass
class Sentence:
    """One sentence of a comparison and where the shared word sits in it."""

    text: str
    analysis: Analysis
    position: int

    @property
    def path(self) -> torch.Tensor:
        """(L+1, d) the word's vector in the residual stream: embedding, then after each block."""
        return self.analysis.resid[:, self.position]

    def attention_from_word(self) -> torch.Tensor:
        """(L, position+1) how much the word attends to each earlier token, averaged over heads."""
        return self.analysis.attn_pattern[:, :, self.position, : self.position + 1].mean(1)


def top_attended(attention: torch.Tensor, k: int = 3) -> list[list[tuple[int, float]]]:
    """Per layer, the k key positions with the most attention, as (position, weight)."""
    k = min(k, attention.shape[-1])
    weights, positions = attention.topk(k, dim=-1)
    return [[(int(p), float(w)) for p, w in zip(ps, ws)] for ps, ws in zip(positions, weights)]


def cosine_by_layer(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """Cosine similarity of two (L+1, d) paths, layer by layer.

    Raw residual vectors, not centred: every vector shares a large common component, so values
    sit well above 0 throughout; what teaches is the *difference* between sentences."""
    return torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1).tolist()


@dataclass
class Projection:
    coords: list[torch.Tensor]     # per path, (L+1, 2)
    explained: tuple[float, float]  # share of the variance each axis keeps


def project_paths(paths: list[torch.Tensor]) -> Projection:
    """A 2D PCA of several (L+1, d) paths, fitted on all their points together.

    Each vector is scaled to unit length first: the residual stream's norm grows by two orders
    of magnitude through the layers, which would otherwise be all the picture shows, whereas
    cosine similarity (direction) is what the rest of the comparison measures."""
    points = torch.cat([p.float() / p.float().norm(dim=-1, keepdim=True).clamp_min(1e-12) for p in paths])
    centred = points - points.mean(0)
    _, s, v = torch.linalg.svd(centred, full_matrices=False)
    axes = v[:2].T                                                               # (d, 2)
    # Fix the sign of each axis so the picture does not flip between runs: the first path starts
    # on the negative side of both axes.
    projected = centred @ axes
    first = projected[0]
    axes = axes * torch.where(first > 0, -1.0, 1.0)
    projected = centred @ axes
    variance = s.pow(2)
    share = (variance[:2] / variance.sum().clamp_min(1e-12)).tolist()
    share += [0.0] * (2 - len(share))
    sizes = [p.shape[0] for p in paths]
    return Projection(coords=list(projected.split(sizes)), explained=(share[0], share[1]))
