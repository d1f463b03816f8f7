"""Chapter 3: turn the model's embedding measurements into /api/embeddings responses."""

from __future__ import annotations

from app.schemas.embeddings import AnalogyExample, FirstPositionLayer, FirstPositionOut
from model.embeddings import ANALOGY_EXAMPLES, CONTEXT_PREFIX, FirstPosition


def _r(x: float) -> float:
    return round(float(x), 4)


def analogy_examples() -> list[AnalogyExample]:
    return [AnalogyExample(a=a, b=b, c=c, expected=e) for a, b, c, e in ANALOGY_EXAMPLES]


def first_position_out(found: FirstPosition) -> FirstPositionOut:
    return FirstPositionOut(
        words=list(found.words), context_prefix=CONTEXT_PREFIX,
        layers=[FirstPositionLayer(layer=i, length_ratio=_r(r), alone_cosine=_r(a), prefixed_cosine=_r(p))
                for i, (r, a, p) in enumerate(zip(found.length_ratio, found.alone_cosine, found.prefixed_cosine))])
