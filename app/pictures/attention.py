"""/attention's first picture: one head's heatmap (attention.js drawHeatmap -> attention/heatmap.js
drawAttentionHeatmap -> kit/heatmap.js drawHeatmap), from GET /api/attention's answer: the future masked
(left empty above the diagonal), the page's colour scale and colour bar, labels thinned as the page
thins them, a wide drawing and a phone one (the kit's narrow layout: colour bar above, labels turned)."""

from __future__ import annotations

import numpy as np

from app.pictures.svg import (
    heatmap,
    nice_ticks,
    thin,
    to_fixed,
    token_label,
)

# attention/colours.js STOPS (tests/app/test_first_picture_attention.py checks they are the same).
STOPS = [(0, (255, 255, 255)), (0.03, (222, 230, 247)), (0.12, (158, 186, 232)),
         (0.35, (84, 121, 207)), (0.7, (42, 60, 160)), (1, (20, 24, 82))]
# The drawings' widths (the page's chart is drawn at its node's width): .grid-side's wide column at 1280 px
# and up; a 560 px one for columns of 520-640 px (a 900-1000 px window), where the wide one scaled down would
# have 9 px labels; the phone's (the page's narrow layout, below 520 px). attention.css shows the one for the
# column's own width.
WIDTHS = {"wide": 718, "mid": 560, "narrow": 348}
WIDE, NARROW = WIDTHS["wide"], WIDTHS["narrow"]


def pct(w: float) -> str:
    """attention/heatmap.js pct."""
    return f"{to_fixed(w * 100, 1 if w < 0.1 else 0)}%"


def describe(labels: list[str], weights: np.ndarray, title: str) -> str:
    """attention/heatmap.js describeAttention: where the tokens after the first look, in words."""
    n = len(labels)
    label = lambda i: f"“{labels[i]}”"
    if n < 2:
        return f"{title}: one token, which can only look at itself."
    sink = 0.0
    for i in range(1, n):  # added in the page's order (a float sum's last bits depend on it)
        sink += float(weights[i, 0])
    # The 3 largest weights of rows 1.. on columns 1..row, ties in the page's order (row by row): a stable
    # sort, as Array.prototype.sort, then the first 3.
    rows, cols = np.tril_indices(n - 1)
    rows, cols = rows + 1, cols + 1
    values = weights[rows, cols]
    top = np.argsort(-values, kind="stable")[:3]
    largest = "; ".join(f"#{rows[k]} {label(rows[k])} looks at #{cols[k]} {label(cols[k])} {pct(float(values[k]))}"
                        for k in top)
    return (f"{title}: {n} tokens. The tokens after the first put {pct(sink / (n - 1))} of their attention on the "
            f"first token, {label(0)}, on average. Largest weights elsewhere: {largest}.")


def draw(labels: list[str], z: np.ndarray, label: str, title: str, *, width: float, narrow: bool) -> str:
    n = len(labels)
    height = max(460, min(760, 140 + n * 20))  # drawAttentionHeatmap's height
    x_ticks = thin(n, max(100, width - (70 if narrow else 190)), 16 if narrow else 14)
    y_ticks = thin(n, height - 140, 12)
    bar_ticks = nice_ticks(1.0, 2 if narrow else 5)  # Plotly's own: 0, 50%, 100% on a phone's short bar
    return heatmap(
        z, width=width, height=height, scale=STOPS, zmin=0, zmax=1,
        label=label,
        margin=(4, 30 + 44, 4, 6) if narrow else (20, 34, 10, 20),
        x_ticks=[(j, labels[j]) for j in x_ticks], y_ticks=[(i, labels[i]) for i in y_ticks],
        tick_size=10 if narrow or n > 24 else 12, x_angle=-50 if n > 6 or narrow else 0,
        x_title="key: the token looked at", y_title="query: the token looking", axis_title_size=11 if narrow else 13,
        title=title, title_size=13 if narrow else 15, gaps=n < 30,
        colorbar={"title": "weight", "ticks": [(v, f"{v * 100:.0f}%") for v in bar_ticks], "horizontal": narrow})


def picture(answer: dict, url: str) -> str | None:
    tokens, weights = answer.get("tokens") or [], answer.get("weights") or []
    if not tokens or len(weights) != len(tokens):
        return None
    # attention.js drawHeatmap's title.
    title = (f"Layer {answer['layer']}: average of its {answer['n_heads']} heads" if answer.get("average")
             else f"Layer {answer['layer']} · head {answer['head']}")
    labels = [token_label(t) for t in tokens]
    z = np.array(weights, dtype=float)
    label = f"Attention heatmap. {describe(labels, z, title)}"
    z[np.triu_indices(len(tokens), 1)] = np.nan  # the future: empty, as the page leaves it (null)
    return "".join(draw(labels, z, label, title, width=width, narrow=width < 520)
                   .replace('class="first-svg"', f'class="first-svg first-{name}"', 1) for name, width in WIDTHS.items())
