"""/embeddings' first picture: the 2-D word map (embeddings.js plotMap), from GET /api/embeddings/map's
answer, drawn as Plotly draws it at the page's two chart widths: the same colour per word set, the legend
above the map (three short entries to a line on a phone), the word labels placed by the twin of the
page's declutterLabels (a label that would overlap another or a dot is left out, as the page leaves it
out), gridlines and axis titles. A 3-D map (dims=3, only when the URL asks for it) gets no picture: the
page draws it with the full Plotly bundle.

Sizes, offsets and fonts are Plotly's own for this chart, measured in Chromium on the page's chart
(717 px wide on a 1280 px screen, 350 px on a 390 px phone; 540 px high). Three drawings, one shown by
the chart's width (embeddings.css): the phone's below 520 px (where the page's chart takes its phone
layout, kit/plotly.js isNarrow), one 560 px wide up to 640 px (a 1000 px window), the wide one above
(scaled down to 520 px, its labels would be 9 px)."""

from __future__ import annotations

import math

from app.pictures.svg import esc, svg, text

# embeddings.js GROUP_COLOURS: a fixed colour per set, so "Animals" is the same blue on every map.
GROUP_COLOURS = {"animals": "#4453c7", "young": "#d9682b", "countries": "#1f8a5b", "capitals": "#c23b3b",
                 "numbers": "#8a4fbf", "colours": "#b07d12", "yours": "#1d2130"}
PAIR_LINE = "rgba(93,99,116,0.35)"
GRID = "#ecece6"  # embeddings.js axis gridcolor
HEIGHT = 540
LABEL_SIZE, MARKER = 12, 10  # textfont size, marker size (declutterLabels' defaults)
TITLE_SIZE = 16  # Plotly's axis titles at the pages' 13 px font
# Plotly's autorange of the y axis for these markers (5% of the axis and the markers' radius on each
# side, as it computes them before the legend grows the top margin): 7.3% of the span on each side.
Y_PAD = 0.0730479

# Advance widths of DejaVu Sans (the pages' font where system-ui has none), in thousandths of an em, for
# ASCII 32..126: the legend's entries follow each other by their text's width, as Plotly measures it.
_WIDTHS = [318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636,
           636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752,
           295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390,
           838, 500, 500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411,
           521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838]


def _width(s: str, size: float) -> float:
    return size * sum(_WIDTHS[ord(c) - 32] if 32 <= ord(c) < 127 else 1000 if ord(c) > 0x2E80 else 620
                      for c in s) / 1000


def _js_length(s: str) -> int:
    """JavaScript's String length (UTF-16 code units): what declutterLabels measures a label by."""
    return len(s.encode("utf-16-le")) // 2


def _plot_text(s: str) -> str:
    """kit/dom.js plotText: the label as the page hands it to Plotly (and measures it)."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def short_label(s: str, n: int = 16) -> str:
    """embeddings.js shortLabel: at most n characters (whole code points), "…" when cut."""
    return s[:n - 1] + "…" if len(s) > n else s


def _js_round(x: float) -> int:
    return math.floor(x + 0.5)


def axis_title(answer: dict, i: int) -> str:
    """embeddings.js axisTitle, for a 2-D map."""
    if answer["method"] == "pca":
        return f"PC{i + 1} ({_js_round(100 * answer['explained'][i])}% of the spread)"
    return f"{'t-SNE' if answer['method'] == 'tsne' else 'UMAP'} {i + 1}"


# --- Plotly's axes ------------------------------------------------------------------------------------

def auto_ticks(lo: float, hi: float, length: float, min_px: float) -> tuple[list[float], float]:
    """Plotly's automatic ticks on a linear axis of `length` px (axes.prepTicks / autoTicks), and their
    step: about one per min_px (80 on x, 40 on y), 4 to 9 of them, from 0, 2, 5 or 10 times a power of
    ten apart (Lib.roundUp: the first of 2, 5, 10 above the rough step)."""
    rough = (hi - lo) / (min(9, max(4, length / min_px)) + 1)
    base = 10 ** math.floor(math.log10(rough))
    step = base * next((m for m in (2, 5) if m > rough / base), 10)
    first = math.ceil(lo / step - 1e-9)
    return [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)], step


def tick_text(value: float, step: float) -> str:
    """A tick as Plotly writes it: the step's decimals, trailing zeros dropped, a real minus sign."""
    decimals = max(0, math.ceil(-math.log10(step) - 1e-9))
    written = f"{value:.{decimals}f}"
    if "." in written:
        written = written.rstrip("0").rstrip(".")
    if float(written) == 0:
        return "0"
    return written.replace("-", "−")


# --- labels -------------------------------------------------------------------------------------------

# Plotly's textposition, and where it draws the text: (anchor, dx, baseline dy) from the dot's centre.
_PLACES = {"top center": ("middle", 0, -10.2), "bottom center": ("middle", 0, 16.4),
           "middle right": ("start", 7.3, 3.1), "middle left": ("end", -7.3, 3.1)}


def declutter(items: list[dict], plot_w: float, plot_h: float, width: float, margin: dict) -> int:
    """The twin of api.js declutterLabels: each item ({k, i, x, y, label}, x and y in px from the plot
    area's top left) gets `place` (a textposition) or None when every place would overlap a dot or a
    label already placed, or leave the chart; the least crowded labels placed first. Returns how many
    were left out."""
    char_w, h, r = LABEL_SIZE * 0.62, LABEL_SIZE + 2, MARKER / 2 + 1
    inside = [p for p in items if 0 <= p["x"] <= plot_w and 0 <= p["y"] <= plot_h]
    for p in items:
        p["place"] = None
    for p in inside:
        p["w"] = max(1, _js_length(p["label"])) * char_w
    spots = [
        ("top center", lambda p: (p["x"] - p["w"] / 2, p["y"] - r - h, p["x"] + p["w"] / 2, p["y"] - r)),
        ("bottom center", lambda p: (p["x"] - p["w"] / 2, p["y"] + r, p["x"] + p["w"] / 2, p["y"] + r + h)),
        ("middle right", lambda p: (p["x"] + r, p["y"] - h / 2, p["x"] + r + p["w"], p["y"] + h / 2)),
        ("middle left", lambda p: (p["x"] - r - p["w"], p["y"] - h / 2, p["x"] - r, p["y"] + h / 2)),
    ]

    def overlaps(a, b):
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    def on_chart(box):
        return (box[0] >= -margin["l"] and box[2] <= width - margin["l"]
                and box[1] >= -margin["t"] and box[3] <= HEIGHT - margin["t"])

    taken = [(p["x"] - r + 1, p["y"] - r + 1, p["x"] + r - 1, p["y"] + r - 1) for p in inside]
    for a in inside:
        a["crowd"] = sum(1 for b in inside if abs(a["x"] - b["x"]) < 40 and abs(a["y"] - b["y"]) < 20)
    hidden = 0
    for p in sorted(inside, key=lambda p: (p["crowd"], p["k"], p["i"])):
        spot = next(((name, box(p)) for name, box in spots
                     if on_chart(box(p)) and not any(overlaps(t, box(p)) for t in taken)), None)
        if spot is None:
            hidden += 1
            continue
        taken.append(spot[1])
        p["place"] = spot[0]
    return hidden


# --- the map ------------------------------------------------------------------------------------------

def _legend(entries: list[tuple[str, str, bool]], width: float, narrow: bool) -> tuple[list[str], int]:
    """The legend's entries (name, colour, is the pairs' line) as Plotly lays them out above the plot:
    one after the other (wrapping at the chart's width); on a phone three to a line, 11 px."""
    size = 11 if narrow else 13
    placed, x, row = [], 0.0, 0
    for n, (name, colour, line) in enumerate(entries):
        if narrow:
            x, row = (n % 3) * 113.52, n // 3
        elif x and 50 + x + 45 + _width(name, size) > width:
            x, row = 0.0, row + 1
        placed.append((x, row, name, colour, line))
        if not narrow:
            x += 45 + _width(name, size)
    return placed, row + 1


WIDTHS = {"wide": 717, "mid": 560, "narrow": 350}  # the drawings' widths; the page's phone layout below 520


def draw(answer: dict, width: float) -> tuple[str, int]:
    """One drawing of the map (Plotly's layout at that chart width), and how many labels it leaves out."""
    narrow = width < 520
    points, groups = answer["points"], answer["groups"]
    entries = []
    if answer["pairs"]:
        kinds = [k for k, ok in (("animal → young", "young" in groups and "animals" in groups),
                                 ("country → capital", "capitals" in groups and "countries" in groups)) if ok]
        entries.append(("pairs" if narrow else f"pairs: {', '.join(kinds)}", PAIR_LINE, True))
    entries += [(label, GROUP_COLOURS.get(group, GROUP_COLOURS["yours"]), False) for group, label in groups.items()]
    legend, rows = _legend(entries, width, narrow)
    # Margins once Plotly's automargin has made room for the legend (one line on a wide chart, two on a
    # phone's) and the tick labels.
    if narrow:
        margin = {"l": 45, "r": 6, "t": 58 + 19 * (rows - 2), "b": 40}
    else:
        margin = {"l": 50, "r": 10, "t": 45 + 19 * (rows - 1), "b": 40}
    plot_w, plot_h = width - margin["l"] - margin["r"], HEIGHT - margin["t"] - margin["b"]

    xs = [p["coords"][0] for p in points]
    ys = [p["coords"][1] for p in points]
    # embeddings.js: the x range leaves room for the labels of the outermost words; y is Plotly's autorange.
    lo, hi = min(xs), max(xs)
    pad = (0.2 if narrow else 0.1) * (hi - lo or 1)
    x0, x1 = lo - pad, hi + pad
    ylo, yhi = min(ys), max(ys)
    span = yhi - ylo
    y0, y1 = (ylo - Y_PAD * span, yhi + Y_PAD * span) if span else (ylo - 1, yhi + 1)
    px = lambda v: plot_w * (v - x0) / (x1 - x0)  # noqa: E731  px from the plot area's left
    py = lambda v: plot_h * (y1 - v) / (y1 - y0)  # noqa: E731  px from its top
    L, T = margin["l"], margin["t"]
    parts: list[str] = []

    # Gridlines and tick labels.
    x_ticks, x_step = auto_ticks(x0, x1, plot_w, 80)
    y_ticks, y_step = auto_ticks(y0, y1, plot_h, 40)
    for v in x_ticks:
        x = L + px(v)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{T}" y2="{T + plot_h}" stroke="{GRID}"/>')
        parts.append(text(x, T + plot_h + 14, tick_text(v, x_step), anchor="middle"))
    for v in y_ticks:
        y = T + py(v)
        parts.append(f'<line x1="{L}" x2="{L + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(text(L - 1, y + 4.55, tick_text(v, y_step), anchor="end"))
    parts.append(text(L + plot_w / 2, HEIGHT - 4.2, axis_title(answer, 0), anchor="middle", size=TITLE_SIZE))
    cy = T + plot_h / 2
    parts.append(text(14.9, cy, axis_title(answer, 1), anchor="middle", size=TITLE_SIZE,
                      extra=f' transform="rotate(-90 14.9 {cy:.1f})"'))

    # The legend.
    size = 11 if narrow else 13
    legend_h = (29 if narrow else 30) + 19 * (rows - 1)
    top = T - 0.01 * plot_h - legend_h
    left = 3.6 if narrow else L
    first_row = 14.5 if narrow else 14.95
    for x, row, name, colour, line in legend:
        ex, ey = left + x, top + first_row + 19 * row
        if line:
            parts.append(f'<line x1="{ex + 5:.1f}" x2="{ex + 35:.1f}" y1="{ey:.1f}" y2="{ey:.1f}" '
                         f'stroke="{PAIR_LINE}" stroke-width="1.5"/>')
        else:
            parts.append(f'<circle cx="{ex + 20:.1f}" cy="{ey:.1f}" r="5" fill="{colour}" stroke="#fff"/>')
        parts.append(text(ex + 40, ey + (4.29 if narrow else 5.07), name, size=size))

    # The pairs' lines, under the dots.
    if answer["pairs"]:
        d = "".join(f"M{L + px(points[i]['coords'][0]):.1f},{T + py(points[i]['coords'][1]):.1f}"
                    f"L{L + px(points[j]['coords'][0]):.1f},{T + py(points[j]['coords'][1]):.1f}"
                    for i, j in answer["pairs"])
        parts.append(f'<path d="{d}" fill="none" stroke="{PAIR_LINE}" stroke-width="1.5"/>')

    # The dots and their labels, one set after the other (a later set drawn over an earlier one).
    items = []
    for k, group in enumerate(groups):
        for i, p in enumerate(q for q in points if q["group"] == group):
            items.append({"k": k, "i": i, "group": group, "x": px(p["coords"][0]), "y": py(p["coords"][1]),
                          "word": short_label(p["word"]), "label": _plot_text(short_label(p["word"]))})
    hidden = declutter(items, plot_w, plot_h, width, margin)
    for group in groups:
        colour = GROUP_COLOURS.get(group, GROUP_COLOURS["yours"])
        mine = [p for p in items if p["group"] == group]
        parts.append(f'<g fill="{colour}" stroke="#fff">'
                     + "".join(f'<circle cx="{L + p["x"]:.1f}" cy="{T + p["y"]:.1f}" r="5"/>' for p in mine) + "</g>")
        labels = []
        for p in mine:
            if p["place"]:
                anchor, dx, dy = _PLACES[p["place"]]
                labels.append(text(L + p["x"] + dx, T + p["y"] + dy, p["word"], anchor=anchor))
        parts.append(f'<g fill="{colour}" font-size="{LABEL_SIZE}">{"".join(labels)}</g>')
    return svg(width, HEIGHT, "".join(parts), describe(answer, hidden)), hidden


def describe(answer: dict, hidden: int) -> str:
    """The map in words (embeddings.js describeMap, with every set's words, as the picture shows them)."""
    n = len(answer["points"])
    what = "input embeddings" if answer["mode"] == "static" else f"hidden states at layer {answer['layer']}"
    method = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[answer["method"]]
    words = "; ".join(f"{label}: " + ", ".join(p["word"] for p in answer["points"] if p["group"] == group)
                      for group, label in answer["groups"].items())
    said = f"Map of {n} words, {what}, {method} in 2D"
    if answer["method"] == "pca":
        said += (f"; {axis_title(answer, 0)} across, {axis_title(answer, 1)} up. These 2 axes show "
                 f"{_js_round(100 * sum(answer['explained']))}% of how the words' vectors differ")
    said += f". {words}."
    if hidden:
        said += f" {hidden} label{'' if hidden == 1 else 's'} left out where they would overlap others."
    return said


def status(answer: dict) -> str:
    """What embeddings.js describeMap writes under the map (#map-status), but the pairs' sentence and the
    layer count, which this answer does not hold."""
    what = "input embeddings" if answer["mode"] == "static" else f"hidden states at layer {answer['layer']}"
    method = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[answer["method"]]
    said = f"{len(answer['points'])} words, {what}, {method} in 2D."
    if answer["method"] == "pca":
        said += f" These 2 axes show {_js_round(100 * sum(answer['explained']))}% of how the words' vectors differ."
    return said


def picture(answer: dict, url: str) -> str | None:
    if answer.get("dims") != 2 or not answer.get("points"):
        return None  # a 3-D map is the page's own (the full Plotly bundle), never the first view's
    # Without JavaScript the page's buttons stay as the template has them ("Input embedding" pressed, PCA)
    # and #map-status empty: which vectors and projection the map shows is written under it, shown only
    # when scripting is off (app.css .first-nojs), so with JavaScript the picture keeps the chart's size.
    caption = f'<p class="first-nojs first-text">{esc(status(answer))}</p>'
    return "".join(draw(answer, width)[0].replace('class="first-svg"', f'class="first-svg first-{name}"', 1)
                   for name, width in WIDTHS.items()) + caption
