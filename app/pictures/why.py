"""/why's first picture: the waterfall of the largest parts of the target's score (why.js drawWaterfall), from
GET /api/attribution's answer (the direct parts, saliency=false).

why.js draws it as Plotly's horizontal `bar` with `base`: from 0 the largest parts one by one (each bar
starts where the one before ended; red up, blue down), the others in one bar, the total last from 0 (ink),
each value written outside its bar, a short grey connector from each bar's end to the next bar. Two
drawings, as why.js lays the chart out for its own width (kit/plotly.js isNarrow, under 520 px); why.css
shows the one for the width the chart's element has (a container query: the page's side column on a
desktop is as narrow as a phone)."""

from __future__ import annotations

import math

from app.pictures.svg import INK, auto_dtick, esc, rect, responsive, svg, text, text_width, to_fixed, token_label

UP, DOWN, TOTAL = "#c8372d", "#2f5fc4", INK  # why.js UP, DOWN, and the total's "#1d2130"
CONNECTOR = "#9aa0ae"  # why.js: the connectors' line colour
GRID, ZERO = "#eee", "#444"  # Plotly's gridlines and zero line (its defaults: the layout sets neither)
WATERFALL_PARTS = 10  # why.js WATERFALL_PARTS
HEIGHT = 420  # why.js: the waterfall's layout height
MINUS = "\u2212"  # why.js fmt and Plotly's tick labels write a minus sign, not a hyphen


def fmt(value: float, digits: int = 2) -> str:
    """why.js fmt: "+1.23", "−0.45"."""
    return ("+" if value >= 0 else MINUS) + to_fixed(abs(value), digits)


def js_sum(values) -> float:
    """Added one after the other from 0, as why.js's reduce does."""
    total = 0.0
    for v in values:
        total += v
    return total


def top_parts(answer: dict, k: int = WATERFALL_PARTS) -> tuple[list[tuple[str, float]], float, int]:
    """why.js topParts: the k largest parts in size (JavaScript's sort is stable, as Python's), the
    others' sum and count."""
    parts = answer["parts"]
    named = [("embedding", parts["embedding"])]
    named += [(f"L{layer}H{head}", v) for layer, row in enumerate(parts["heads"]) for head, v in enumerate(row)]
    named += [(f"MLP {layer}", v) for layer, v in enumerate(parts["mlps"])]
    named.sort(key=lambda p: -abs(p[1]))
    top, rest = named[:k], named[k:]
    return top, js_sum(v for _, v in rest), len(rest)


def _range(low: float, high: float) -> tuple[float, float]:
    """Plotly's autorange of bars with a base: 5% of the axis added beyond the data at each side, except a
    side at 0 when a bar starts at 0 (here the first and the total do)."""
    low, high = min(low, 0.0), max(high, 0.0)
    pad_low, pad_high = low < 0, high > 0
    span = (high - low) or 1.0
    span /= 1 - 0.05 * (pad_low + pad_high)
    return low - 0.05 * span * pad_low, high + 0.05 * span * pad_high


def _tick_text(value: float, step: float) -> str:
    """A tick label as Plotly writes it: as many decimals as the step needs, a minus sign."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    written = f"{abs(value):.{decimals}f}"
    return (MINUS if value < 0 and float(written) else "") + written


def drawing(names: list[str], values: list[float], bases: list[float], colours: list[str], labels: list[str],
            *, width: int, margin_left: int, right: int, font: float, label: str) -> str:
    """Floating horizontal bars, the first at the top of a category axis, as why.js lays them out: margins
    t 10 and b 30, the left one pushed out to fit the axis's labels (as Plotly's automargin does: they
    start about 8 px from the edge), values written 3 px beyond each bar's end, an x axis titled "score"
    with gridlines and a zero line."""
    top, bottom = 10, 30
    left = max(margin_left, math.ceil(9 + max(text_width(n, font) for n in names)))
    plot_w, plot_h = width - left - right, HEIGHT - top - bottom
    ends = [b + v for b, v in zip(bases, values)]
    low, high = _range(min(*bases, *ends), max(*bases, *ends))
    x = lambda v: left + plot_w * (v - low) / (high - low)
    row = plot_h / len(names)
    y = lambda c: top + (c + 0.5) * row  # category c's centre (c may be fractional), the first at the top
    parts = []
    step = auto_dtick(high - low, plot_w)
    for i in range(math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9) + 1):
        tick = i * step
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" y2="{top + plot_h}" '
                     f'stroke="{ZERO if i == 0 else GRID}"/>')
        parts.append(text(x(tick), top + plot_h + 14, _tick_text(tick, step), anchor="middle"))
    parts.append(text(left + plot_w / 2, HEIGHT - 4, "score", anchor="middle", size=16))
    bar_h = row * 0.8
    for i, (name, value, base, colour, written) in enumerate(zip(names, values, bases, colours, labels)):
        start, end = x(base), x(base + value)
        baseline = y(i) + font * 0.35
        parts.append(rect(min(start, end), y(i) - bar_h / 2, abs(end - start), bar_h, colour))
        parts.append(text(left - 1, baseline, name, anchor="end", size=font))
        parts.append(text(end + 3, baseline, written, size=font) if value >= 0 else
                     text(end - 3, baseline, written, anchor="end", size=font))
    for i in range(len(names) - 1):  # from each step's end down to the next bar
        end = x(bases[i] + values[i])
        parts.append(f'<line x1="{end:.1f}" x2="{end:.1f}" y1="{y(i + 0.4):.1f}" y2="{y(i + 0.6):.1f}" '
                     f'stroke="{CONNECTOR}"/>')
    return svg(width, HEIGHT, "".join(parts), label, fixed_height=True)


def picture(answer: dict, url: str) -> str | None:
    parts = answer.get("parts") or {}
    if not parts.get("heads") or not parts.get("mlps"):
        return None
    top, rest, rest_count = top_parts(answer)
    steps = [v for _, v in top] + [rest]
    bases, running = [], 0.0
    for v in steps:
        bases.append(running)
        running += v
    total = answer["total"]
    what = f"“{token_label(answer['target'])}”"
    if answer.get("contrast"):
        what += f" minus that of “{token_label(answer['contrast'])}”"
    # The chart's text equivalent (why.js #waterfall-text), with what it explains.
    words = (f"Waterfall of the largest contributions to the score of {what}. From 0, the largest parts one by "
             f"one: {', '.join(f'{name} {fmt(v)}' for name, v in top)}; the {rest_count} others together "
             f"{fmt(rest)}; total {to_fixed(total, 2)}.")
    bars = dict(values=steps + [total], bases=bases + [0.0], colours=[UP if v >= 0 else DOWN for v in steps] + [TOTAL],
                labels=[fmt(v) for v in steps] + [to_fixed(total, 2)], label=words)
    names = [name for name, _ in top]
    # Which score this is, for a reader without JavaScript: the page's "Explain" menu names it once its
    # module ran (app.css shows .first-nojs only when scripting is off).
    named = f'<p class="first-nojs first-text">The score of {esc(what)}</p>'
    return responsive(
        drawing(names + [f"{rest_count} others", "total"], **bars, width=690, margin_left=80, right=50, font=13),
        drawing(names + ["others", "total"], **bars, width=340, margin_left=8, right=36, font=11)) + named
