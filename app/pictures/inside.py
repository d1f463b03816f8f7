"""/inside's first picture: section 1's colour strips (inside.js drawAll -> drawNorm1 -> drawStrip), the
first chart of the page and the first it draws: the token's vector coming into the layer (resid_pre),
divided by its root-mean-square, and times RMSNorm's gains (norm1, what attention reads), one thin
column per number, each row's colours stopping at its 6th-largest |entry|. From GET /api/inside's answer."""

from __future__ import annotations

import math

from app.pictures.svg import (
    auto_dtick,
    esc,
    heatmap,
    responsive,
    to_exponential,
    to_fixed,
    token_label,
)

# inside.js NEG, POS, DIVERGING and CLIP_RANK (tests/app/test_first_picture_inside.py checks they are the same).
NEG, POS = "#4453c7", "#d9682b"
DIVERGING = [(0, NEG), (0.5, "#ffffff"), (1, POS)]
CLIP_RANK = 6
# The strips' width on the page as laid out: the panel at 1280 px and up, and on a 390 px phone. Each
# drawing is fluid (as wide as the panel, its x positions proportional): these set its margins and ticks.
WIDE, NARROW = 1096, 348


def fmt(x: float, d: int = 3) -> str:
    """inside.js fmt."""
    if not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    a = abs(x)
    if a != 0 and (a >= 1e5 or a < 10 ** -d):
        return to_exponential(x, 2)
    return to_fixed(x, d)


def signed(x: float, d: int = 2) -> str:
    return ("+" if x >= 0 else "−") + fmt(abs(x), d)


def norm(values: list[float]) -> float:
    total = 0.0
    for x in values:  # in order, as the page's reduce adds them
        total += x * x
    return math.sqrt(total)


def by_magnitude(values: list[float]) -> list[tuple[int, float]]:
    return sorted(enumerate(values), key=lambda p: -abs(p[1]))  # stable, as the page's sort


def clip_of(values: list[float]) -> float:
    """inside.js clipOf: the colour limit of a strip, its CLIP_RANK-th largest |entry| (1 when 0)."""
    sizes = sorted((abs(x) for x in values), reverse=True)
    return sizes[min(CLIP_RANK - 1, len(sizes) - 1)] or 1.0


def strip_text(rows: list[tuple[str, list[float]]]) -> str:
    """inside.js stripText: each row's length and largest entries, the strip's text equivalent."""
    return "; ".join(f"{name}: length {fmt(norm(values), 1)}, largest entries "
                     + ", ".join(f"#{i} {signed(x)}" for i, x in by_magnitude(values)[:3])
                     for name, values in rows) + "."


def tops(rows: list[tuple[str, list[float]]]) -> str:
    """inside.js drawTops: under the strip, each row's entries beyond its colour limit (at most CLIP_RANK - 1)
    with their values, or its largest when none is; and its length."""
    lines = []
    for name, values in rows:
        clip = clip_of(values)
        over = [(i, x) for i, x in by_magnitude(values) if abs(x) > clip][:CLIP_RANK - 1]
        line = f'<span class="top-name">{esc(name)}</span>'
        if not over:
            i, x = by_magnitude(values)[0]
            line += f'<span class="muted">none beyond the colour scale; largest </span><code>#{i} {esc(signed(x))}</code>'
        line += "".join(f'<code class="{"pos" if x >= 0 else "neg"}">#{i} {esc(signed(x))}</code>' for i, x in over)
        line += f'<span class="muted"> · length {esc(fmt(norm(values), 1))}</span>'
        lines.append(f'<p class="top-line">{line}</p>')
    return "".join(lines)


def draw(z: list[list[float]], names: list[str], label: str, *, width: float) -> str:
    n = len(z[0])
    dtick = auto_dtick(n, width - 16)  # Plotly's own ticks on the x axis (drawStrip leaves them to it)
    ticks = [(int(k * dtick), f"{k * dtick:g}") for k in range(int((n - 1) // dtick) + 1)]
    return heatmap(
        z, width=width, height=58 + len(z) * 48, scale=DIVERGING, zmin=-1, zmax=1, label=label,
        margin=(8, 12, 8, 40), x_ticks=ticks, tick_size=10, tick_mono=False,
        x_title=f"entry (0 to {n - 1})", axis_title_size=16, standoff=8, ygap=18, row_titles=names,
        automargin=False,  # drawStrip's own x axis, without the kit's automargin
        fluid=True)  # the container's whole width at any window, its labels never scaled


def picture(answer: dict, url: str) -> str | None:
    resid, norm1, rms = answer.get("resid_pre"), answer.get("norm1"), answer.get("rms1")
    tokens, position = answer.get("tokens") or [], answer.get("position")
    if not resid or not norm1 or not rms or position is None or not 0 <= position < len(tokens):
        return None
    rows = [("coming in (resid_pre)", resid), (f"÷ {fmt(rms, 2)}", [x / rms for x in resid]),
            ("× gain = what attention reads (norm1)", norm1)]
    clips = [clip_of(values) for _, values in rows]
    z = [[max(-1.0, min(1.0, x / clip)) for x in values] for clip, (_, values) in zip(clips, rows)]
    names = [name for name, _ in rows]
    label = (f"The residual stream and its RMSNorm as colour strips, for “{token_label(tokens[position])}” "
             f"entering layer {answer['layer']}: {strip_text(rows)}")
    # drawNorm1's summary, which the page writes above the strips: here inside the picture (the page's own,
    # above it, is empty and hidden until the module fills it), so nothing moves when the module draws.
    gains = answer["norm1_gain"]
    summary = (f'<p class="summary first-summary">Token “{esc(token_label(tokens[position]))}” entering layer '
               f'{esc(answer["layer"])}: its {esc(answer["d_model"])} numbers have a root-mean-square of '
               f"<strong>{esc(fmt(rms, 3))}</strong>. RMSNorm divides every number by it, then multiplies each by its "
               f"gain (this layer's gains run from {esc(fmt(min(gains), 2))} to {esc(fmt(max(gains), 2))}).</p>")
    # The entries beyond the colour limit, which the note below the strips says are listed under them: the
    # page's module lists them there (#norm1-top) once it has drawn; without JavaScript only this list does
    # (app.css shows .first-nojs then alone, so nothing moves when the module replaces the picture).
    listed = f'<div class="tops first-nojs">{tops([rows[0], rows[2]])}</div>'
    return summary + responsive(draw(z, names, label, width=WIDE), draw(z, names, label, width=NARROW)) + listed
