"""/learn's first picture: the loss chart (learn.js drawCurves) as the run starts, from GET /api/learn/start's
answer: the run's settings (the x axis to its last step, the uniform guess ln V) and the untrained model
measured at step 0 (its loss on the segment's first occurrence and on its repeats, one dot each: a line
needs two measurements). The stream of POST /api/learn then draws every later step."""

from __future__ import annotations

import math

from app.pictures.svg import nice_ticks, responsive, svg, text, to_fixed

FIRST, REPEAT, UNIFORM = "#8a8fa3", "#d9682b", "#4453c7"  # learn.js drawCurves
GRID, ZERO = "#eeeeee", "#444444"                      # Plotly's default grid and zero lines
HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 340, 60, 20, 20, 100   # learn.js: height 340, margin l 60 r 20 t 20 b 100
FONT_SIZE, TITLE_SIZE = 13, 16                            # kit/plotly.js plotLayout; Plotly's axis titles: 1.2x


def _fmt(x: float) -> str:
    """learn.js fmt: two decimals (toFixed(2): a tie goes up, where Python's format rounds it to even)."""
    return to_fixed(x, 2)


def _step_ticks(steps: int, plot_w: float) -> list[int]:
    """The x axis' ticks about as Plotly picks them for these labels: at least ~200 px apart, 1, 2 or 5
    times a power of ten (every 100 steps of 500 on a 1015 px axis, every 200 on a 270 px one)."""
    raw = steps / (max(plot_w / 200, 2) + 1)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(1, round(step))
    return list(range(0, steps + 1, step))


def _chart(answer: dict, width: int, bottom: int, legend_rows: list[list[int]]) -> str:
    config, log = answer["start"]["config"], answer["progress"]
    steps, uniform = config["steps"], config["uniform_loss"]
    first, repeat = log["loss_first"], log["loss_repeat"]
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - TOP - bottom
    font = FONT_SIZE
    # rangemode "tozero": from 0 to the highest value, with Plotly's padding above it (about 8% here).
    high = max(first, repeat, uniform) * 1.08
    x = lambda s: LEFT + plot_w * s / steps
    y = lambda v: TOP + plot_h * (1 - v / high)
    parts = []
    for tick in nice_ticks(high):
        if tick > 0:
            parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="{GRID}"/>')
        parts.append(text(LEFT - 4, y(tick) + font * 0.35, f"{tick:g}", anchor="end", size=font))
    for tick in _step_ticks(steps, plot_w):
        if tick > 0:
            parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="{GRID}"/>')
        parts.append(text(x(tick), TOP + plot_h + font + 5, f"{tick:g}", anchor="middle", size=font))
    parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="{ZERO}"/>')
    parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="{ZERO}"/>')
    parts.append(text(LEFT + plot_w / 2, TOP + plot_h + 55, "training step", anchor="middle", size=TITLE_SIZE))
    parts.append(text(20, TOP + plot_h / 2, "loss (nats per token)", anchor="middle", size=TITLE_SIZE,
                      extra=f' transform="rotate(-90 20 {TOP + plot_h / 2:.1f})"'))
    parts.append(f'<line x1="{x(0):.1f}" x2="{x(steps):.1f}" y1="{y(uniform):.1f}" y2="{y(uniform):.1f}" '
                 f'stroke="{UNIFORM}" stroke-width="1.5" stroke-dasharray="3,3"/>')
    for value, colour in ((first, FIRST), (repeat, REPEAT)):
        parts.append(f'<circle cx="{x(0):.1f}" cy="{y(value):.1f}" r="4.5" fill="{colour}"/>')
    # The legend, below the axis title (Plotly: horizontal, at y = -0.28 of the plot's height).
    items = [("dot", FIRST, "first time (unpredictable)"), ("dot", REPEAT, "repeats (copyable)"),
             ("line", UNIFORM, f"uniform guess, ln {config['vocab']}")]
    top = TOP + plot_h + 0.28 * plot_h
    for r, row in enumerate(legend_rows):
        left, mid = LEFT, top + 14 + r * 20.5
        for i in row:
            kind, colour, name = items[i]
            if kind == "dot":
                parts.append(f'<circle cx="{left + 20}" cy="{mid:.1f}" r="4.5" fill="{colour}"/>')
            else:
                parts.append(f'<line x1="{left + 5}" x2="{left + 35}" y1="{mid:.1f}" y2="{mid:.1f}" stroke="{colour}" '
                             'stroke-width="1.5" stroke-dasharray="3,3"/>')
            parts.append(text(left + 40, mid + font * 0.35, name, size=font))
            left += 40 + len(name) * 6.2 + 12
    label = (f"Loss by training step, at step 0 of {steps} (before any training): first time {_fmt(first)}, "
             f"repeats {_fmt(repeat)} nats per token; a uniform guess, ln {config['vocab']}, is {_fmt(uniform)}.")
    # The chart's height whatever the column's width (a 900 px window's 815 px chart: the drawing scaled down
    # was 253 px tall, the page's chart 340, and what follows jumped when Plotly replaced it).
    return svg(width, HEIGHT, "".join(parts), label, fixed_height=True)


def picture(answer: dict, url: str) -> str | None:
    if answer.get("progress", {}).get("step") != 0:
        return None
    # Wide: the chart as wide as the page's (1095 px on a 1280 px screen), the legend on one row. On a
    # phone (350 px) Plotly wraps the legend, one entry a row, and makes room for it below the axis.
    # Without JavaScript the form above is empty (learn.js fills it): the settings of this model are written
    # under the chart, shown only when scripting is off (app.css .first-nojs).
    c = answer["start"]["config"]
    settings = (f'<p class="first-nojs first-text">Before any training (step 0 of {c["steps"]:,}): {c["layers"]} '
                f'layer{"" if c["layers"] == 1 else "s"} of {c["heads"]} head{"" if c["heads"] == 1 else "s"}, '
                f'learning rate {c["lr"]:g}, seed {c["seed"]}.</p>')
    return responsive(_chart(answer, 1095, BOTTOM, [[0, 1, 2]]), _chart(answer, 350, 135, [[0], [1], [2]])) + settings
