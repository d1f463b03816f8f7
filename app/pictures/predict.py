"""/predict's first picture: the bar chart of the most probable next tokens (predict.js drawChart), from
GET /api/predict's answer."""

from __future__ import annotations

from app.pictures.svg import hbars, percent, responsive, token_label

ACCENT, BLOCKED = "#4453c7", "#c9cbd6"  # predict.js: can be drawn / ruled out by top-k or top-p
WIDE = 704  # #chart's width in a 1280 px window and wider


def picture(answer: dict, url: str) -> str | None:
    predictions = answer.get("predictions") or []
    if not predictions:
        return None
    labels = [token_label(p) for p in predictions]
    top = ", ".join(f"“{name}” {percent(p['probability'])}" for name, p in zip(labels[:3], predictions))
    bars = dict(values=[p["probability"] for p in predictions],
                colours=[ACCENT if p["allowed"] else BLOCKED for p in predictions],
                value_text=[percent(p["probability"]) for p in predictions],
                axis_title="probability", label=f"The {len(predictions)} most probable next tokens: {top}, …")
    # On a phone, as predict.js: a long token cut short on its axis, smaller margins and fonts.
    cut = [name if len(name) <= 7 else name[:6] + "…" for name in labels]
    # The wide drawing as wide as the chart on a desktop (#chart is 704 px from a 1280 px window up), so its
    # bars and ticks are Plotly's there. Both keep the chart's height when scaled down into a narrower
    # column (nothing below moves when Plotly replaces them); predict.css picks the drawing by the chart's
    # own width, as predict.js picks its layout (kit/plotly.js isNarrow: under 520 px).
    # Without JavaScript the sampling sliders stand where the browser puts a range with no value (top-k at
    # 25 of 50): the settings that coloured the bars are written under them, shown only then (app.css).
    allowed = answer["draw"]["allowed_count"]
    settings = (f'<p class="first-nojs first-text">Temperature {answer["temperature"]:g}, top-k {answer["top_k"]}, '
                f'top-p {answer["top_p"]:g}: {allowed:,} token{"" if allowed == 1 else "s"} can be drawn.</p>')
    return responsive(hbars(labels, **bars, width=WIDE, fixed_height=True),
                      hbars(cut, **bars, width=340, left=62, right=34, font=11, fixed_height=True)) + settings
