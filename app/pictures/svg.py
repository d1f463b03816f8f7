"""Small SVG drawing for the server-drawn first pictures (app/pictures): every text escaped, sizes in a
viewBox so a picture scales to its container's width, fonts and colours as the pages' Plotly charts."""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import re
import struct
import unicodedata
import zlib
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from markupsafe import escape

FONT = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif"
MONO = "ui-monospace, 'DejaVu Sans Mono', monospace"
INK, MUTED, GRID = "#1d2130", "#5d6374", "#e6e8ef"


def esc(text) -> str:
    """Text for an SVG or HTML text node or attribute value."""
    return str(escape(str(text)))


# --- tokens as people see them: the Python twin of static/js/kit/chips.js plainTokenLabel -----------

_VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍"}
_INVISIBLE = re.compile("[\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
                        "\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
                        "\ufe00-\ufe0f\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
                        "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef]")


def visible_controls(text: str) -> str:
    """Control and invisible format characters and variation selectors as visible stand-ins."""
    def one(m: re.Match) -> str:
        code = ord(m.group())
        if code < 0x20:
            return chr(0x2400 + code)
        if code == 0x7F:
            return "␡"
        return f"⟨U+{code:04X}⟩"
    return _INVISIBLE.sub(one, text)


def show_whitespace(text: str) -> str:
    return visible_controls("".join(_VISIBLE.get(ch, ch) for ch in text))


def _utf8_runs(hex_bytes: str) -> list[tuple[str, object]]:
    """Whole UTF-8 characters ("text", str) and loose bytes ("bytes", [int]), in order."""
    data = [int(h, 16) for h in hex_bytes.split()]
    runs: list[tuple[str, object]] = []

    def push(kind: str, value) -> None:
        if runs and runs[-1][0] == kind:
            runs[-1] = (kind, runs[-1][1] + value)
        else:
            runs.append((kind, value))

    i = 0
    while i < len(data):
        b = data[i]
        n = 1 if b < 0x80 else 2 if 0xC2 <= b < 0xE0 else 3 if 0xE0 <= b < 0xF0 else 4 if 0xF0 <= b < 0xF5 else 0
        seq = data[i:i + n]
        if n and len(seq) == n and all(c & 0xC0 == 0x80 for c in seq[1:]):
            try:
                push("text", bytes(seq).decode("utf-8"))
                i += n
                continue
            except UnicodeDecodeError:
                pass
        push("bytes", [b])
        i += 1
    return runs


def token_label(t: dict) -> str:
    """A token as chart labels show it: ␣ ⏎ for whitespace, ⟨U+FE0F⟩ for an invisible character, the
    loose bytes of a piece of a character in hex ("␣F0 9F"), never "�"."""
    if t.get("special"):
        return t["text"]
    if not t.get("partial") or not t.get("bytes"):
        return visible_controls(t["display"]) if t.get("display") is not None else show_whitespace(t["text"])
    out = ""
    for kind, value in _utf8_runs(t["bytes"]):
        if kind == "text":
            out += show_whitespace(value)
        else:
            hexed = " ".join(f"{b:02X}" for b in value)
            out += (" " if out and out[-1] not in "␣⏎⇥␍" else "") + hexed
    return out


def percent(p: float) -> str:
    """A probability as the pages write it (predict.js pct)."""
    if p > 0.999:
        return ">99.9%"
    if p >= 0.001:
        return f"{p * 100:.1f}%"
    if p >= 1e-6:  # JavaScript's toPrecision(2): two significant digits, trailing zero kept
        x = float(f"{p * 100:.2g}")
        return f"{x:.{max(0, 1 - math.floor(math.log10(x)))}f}%"
    return "<0.0001%"


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to about `high` (1, 2 or 5 times a power of ten apart)."""
    if high <= 0:
        return [0.0]
    raw = high / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(int(high / step + 1e-9) + 1)]


def responsive(wide: str, narrow: str) -> str:
    """Two drawings of one picture: app.css shows the narrow one on a phone, the wide one elsewhere (a
    picture scaled down to a phone's width would have unreadable 7 px labels)."""
    return wide.replace('class="first-svg"', 'class="first-svg first-wide"', 1) + \
        narrow.replace('class="first-svg"', 'class="first-svg first-narrow"', 1)


def svg(width: float, height: float, body: str, label: str, *, fixed_height: bool = False, fluid: bool = False) -> str:
    """An SVG scaled to its container's width (at most its own), with a text equivalent. fixed_height:
    the element keeps `height` px (the drawing scaled down inside it, at its top left, when the container
    is narrower), as a Plotly chart of a set height does. fluid: no scaling at all, the container's whole
    width and `height` px (the body gives its x positions in percent: see heatmap's fluid)."""
    size = f"max-width:{width:g}px;height:{height:g}px" if fixed_height else f"max-width:{width:g}px"
    keep = ' preserveAspectRatio="xMinYMin meet"' if fixed_height else ""
    box = f'viewBox="0 0 {width:g} {height:g}"{keep} width="100%" style="{size}"'
    if fluid:
        box = f'width="100%" height="{height:g}" style="height:{height:g}px"'
    return (f'<svg class="first-svg" {box} '
            f'role="img" aria-label="{esc(label)}" font-family="{esc(FONT)}" font-size="13" fill="{INK}">'
            f"<title>{esc(label)}</title>{body}</svg>")


def text(x: float | str, y: float, content: str, *, anchor: str = "start", size: float | None = None,
         fill: str | None = None, family: str | None = None, extra: str = "") -> str:
    """x: px, or a string as given (e.g. a percentage of a fluid picture's width)."""
    attrs = f' text-anchor="{anchor}"' if anchor != "start" else ""
    attrs += f' font-size="{size:g}"' if size else ""
    attrs += f' fill="{fill}"' if fill else ""
    attrs += f' font-family="{esc(family)}"' if family else ""
    return f'<text x="{x if isinstance(x, str) else f"{x:.1f}"}" y="{y:.1f}"{attrs}{extra}>{esc(content)}</text>'


def rect(x: float, y: float, w: float, h: float, fill: str, extra: str = "") -> str:
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" fill="{fill}"{extra}/>'


def hbars(labels: list[str], values: list[float], colours: list[str], value_text: list[str], *,
          axis_title: str, label: str, width: int = 640, row: int = 24, left: int = 120, right: int = 50,
          font: float = 13, tick_format=lambda v: f"{v * 100:.0f}%", fixed_height: bool = False) -> str:
    """Horizontal bars, top to bottom, as the pages' Plotly bar charts: a label per bar at the left (in
    the monospace font tokens use), the value written after the bar, an x axis from 0 with gridlines at
    Plotly's own ticks for the plot's width, tick labels and axis title in Plotly's sizes (13 and 16, ink).
    fixed_height: see svg()."""
    top, bottom = 10, 40
    height = 40 + row * len(values)  # as the Plotly chart that replaces it (no jump when it does)
    row = (height - top - bottom) / max(len(values), 1)
    plot_w = width - left - right
    high = max(values, default=0) * 1.15 or 1
    x = lambda v: left + plot_w * v / high  # noqa: E731
    parts = []
    step = auto_dtick(high, plot_w)
    for k in range(int(high / step + 1e-9) + 1):
        tick = k * step
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" y2="{height - bottom}" stroke="{GRID}"/>')
        parts.append(text(x(tick), height - bottom + 17, tick_format(tick), anchor="middle", size=13))
    parts.append(text(left + plot_w / 2, height - 4, axis_title, anchor="middle", size=16))
    for i, (name, value, colour, written) in enumerate(zip(labels, values, colours, value_text)):
        y = top + i * row
        bar_h = row * 0.75
        parts.append(rect(left, y + (row - bar_h) / 2, x(value) - left, bar_h, colour))
        parts.append(text(left - 6, y + row / 2 + 4.5, name, anchor="end", family=MONO, size=font))
        parts.append(text(x(value) + 4, y + row / 2 + 4.5, written, size=font))
    return svg(width, height, "".join(parts), label, fixed_height=fixed_height)


# --- heatmaps: the twin of static/js/kit/heatmap.js drawHeatmap, as Plotly draws it -------------------

def to_fixed(x: float, digits: int) -> str:
    """JavaScript's x.toFixed(digits): the exact binary value rounded, a tie away from zero (Python's
    format rounds a tie to even: 12.5 -> "12", where the pages write "13")."""
    if not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    # (-0).toFixed(2) is "0.00", but (-0.0001).toFixed(2) is "-0.00", as Decimal writes them.
    return str(Decimal(x if x else 0.0).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def to_exponential(x: float, digits: int) -> str:
    """JavaScript's x.toExponential(digits): "1.23e+5", "4.00e-4"."""
    mantissa, exponent = f"{x:.{digits}e}".split("e")
    return f"{mantissa}e{'+' if int(exponent) >= 0 else '-'}{abs(int(exponent))}"


def thin(n: int, length: float, gap: float) -> list[int]:
    """Every k-th index of n so that labels keep `gap` px apart in `length` px, the first one always
    (kit/heatmap.js thin)."""
    step = max(1, math.ceil(n * gap / max(60, length)))
    return list(range(0, n, step))


def auto_dtick(span: float, length: float) -> float:
    """The distance between Plotly's own ticks on an x axis of `length` px spanning `span` (its
    autoTicks: about one tick per 80 px, 4 to 9 of them, 1, 2 or 5 times a power of ten apart)."""
    rough = span / (min(9, max(4, length / 80)) + 1)
    base = 10 ** math.floor(math.log10(rough))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= rough * (1 - 1e-9))


def _rgb(colour) -> tuple[int, int, int]:
    if isinstance(colour, str):
        return tuple(int(colour[k:k + 2], 16) for k in (1, 3, 5))  # "#rrggbb"
    return tuple(colour)


def scale_colours(scale, t: np.ndarray) -> np.ndarray:
    """(..., 3) RGB of values t in 0..1 on `scale` [(position, "#rrggbb" or (r, g, b)), ...], linear in
    RGB between stops, rounded: as Plotly colours a heatmap's cells and attention/colours.js rgb()."""
    at = np.array([p for p, _ in scale], dtype=float)
    rgb = np.array([_rgb(c) for _, c in scale], dtype=float)
    t = np.nan_to_num(np.clip(t, 0.0, 1.0), nan=0.0)  # an empty cell (NaN) gets a colour its caller leaves out
    return np.floor(np.stack([np.interp(t, at, rgb[:, k]) for k in range(3)], axis=-1) + 0.5).astype(np.uint8)


def png(rgba: np.ndarray) -> bytes:
    """A PNG of an (h, w, 4) uint8 array (no filter, zlib): a heatmap's cells as one image."""
    h, w, _ = rgba.shape
    raw = np.zeros((h, w * 4 + 1), dtype=np.uint8)  # each scanline: filter byte 0, then the pixels
    raw[:, 1:] = rgba.reshape(h, w * 4)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))


def text_width(content: str, size: float, mono: bool = False) -> float:
    """About how wide a text is drawn (for margins, as Plotly's automargin measures them)."""
    wide = sum(1 for ch in content if unicodedata.east_asian_width(ch) in "WF")
    return size * ((0.6 if mono else 0.56) * (len(content) - wide) + 1.0 * wide)


_ids = itertools.count()
_last_images: dict[bytes, list[str]] = {}  # the latest cells drawn: a page's wide and phone drawings share them


def _images(values: np.ndarray, scale, zmin: float, span: float, bands: list[tuple[int, int]]) -> list[str]:
    """Base64 PNGs of the cells, one per band of rows (NaN transparent); the latest kept, since a
    picture's wide and phone drawings have the same cells (a 481-token heatmap: ~50 ms each time)."""
    key = hashlib.blake2b(values.tobytes() + repr((values.shape, scale, zmin, span, bands)).encode(),
                          digest_size=16).digest()
    if key in _last_images:
        return _last_images[key]
    rgba = np.concatenate([scale_colours(scale, (values - zmin) / span),
                           np.where(np.isnan(values), 0, 255).astype(np.uint8)[..., None]], axis=-1)
    images = [base64.b64encode(png(rgba[a:b])).decode("ascii") for a, b in bands]
    _last_images.clear()
    _last_images[key] = images
    return images


def heatmap(z: list[list[float | None]] | np.ndarray, *, width: float, height: float, scale, zmin: float, zmax: float,
            label: str, margin: tuple[float, float, float, float] = (20, 10, 10, 20),
            x_ticks: list[tuple[int, str]] = (), y_ticks: list[tuple[int, str]] = (),
            tick_size: float = 12, tick_mono: bool = True, x_angle: float = 0,
            x_title: str = "", y_title: str = "", axis_title_size: float = 13, standoff: float = 6,
            title: str = "", title_size: float = 15, gaps: bool = False, ygap: float = 0,
            colorbar: dict | None = None, row_titles: list[str] | None = None, row_title_size: float = 11,
            automargin: bool = True, fluid: bool = False) -> str:
    """A heatmap as kit/heatmap.js has Plotly draw it: row 0 at the top, None (NaN) cells left empty (the
    background shows, as the future in causal attention), labels at the given rows/columns
    [(index, text)] (thinned by the caller as the page thins them), axis titles, a title at the top left,
    and a colour bar: {title, ticks: [(value, text)], horizontal} (at the right; a phone's above the plot,
    in the top margin the caller leaves for it). margin (left, top, right, bottom): Plotly's layout
    margins, grown as its automargin grows them for tick labels and axis titles (unless `automargin` is
    False: an axis the page lays out itself, without automargin, keeps its margins).

    With gaps (Plotly's xgap/ygap of 1 px, small grids) every cell is a rectangle; without, the cells are
    one PNG image stretched over the plot (as Plotly draws a heatmap: any number of cells in a few KB),
    or one per row when rows have `ygap` px between them (strips). Height is kept at `height` px
    whatever the width (as Plotly's chart), the drawing scaled down inside it when the column is
    narrower than `width`, so nothing below moves when the page's own chart replaces it.

    fluid: nothing scaled, the picture as wide as its container and `height` px tall, every x position
    a percentage of `width` (its margins grow or shrink with it): texts keep their size at any width.
    For pictures without turned labels, y axis title or colour bar (strips)."""
    if fluid and (x_angle or y_title or colorbar is not None):
        raise ValueError("a fluid heatmap has no turned labels, y axis title or colour bar")
    rows, cols = len(z), len(z[0]) if len(z) else 0
    left, top, right, bottom = margin
    mono_ticks = tick_mono
    # Automargin: tick labels, then the axis title beyond them.
    y_extent = max((text_width(t, tick_size, mono_ticks) for _, t in y_ticks), default=0)
    y_extent = min(y_extent, width * 0.4)
    grow = max if automargin else (lambda base, needed: base)
    plot_l = grow(left, 8 + (axis_title_size + standoff if y_title else 0) + (y_extent + 6 if y_ticks else 0))
    x_extent = max((text_width(t, tick_size, mono_ticks) for _, t in x_ticks), default=0)
    x_extent = min(x_extent, height * 0.3)
    if x_angle:
        a = math.radians(abs(x_angle))
        labels_h = x_extent * math.sin(a) + tick_size * math.cos(a)
    else:
        labels_h = tick_size if x_ticks else 0
    plot_b = height - grow(bottom, 6 + (axis_title_size * 1.2 + standoff if x_title else 0) + (labels_h + 6 if x_ticks else 0))
    plot_t = top
    bar = colorbar or {}
    bar_ticks = bar.get("ticks", [])
    vertical = colorbar is not None and not bar.get("horizontal")
    bar_labels = max((text_width(t, tick_size) for _, t in bar_ticks), default=0)
    plot_r = width - right - ((14 + 12 + 4 + bar_labels + 6 + (axis_title_size + 4 if bar.get("title") else 0))
                              if vertical else 0)
    plot_w, plot_h = plot_r - plot_l, plot_b - plot_t
    cw, rh = plot_w / max(cols, 1), plot_h / max(rows, 1)
    uid = next(_ids)
    parts: list[str] = []
    X = (lambda x: f"{x / width * 100:.3f}%") if fluid else (lambda x: x)  # an x position
    W = (lambda w: f"{w / width * 100:.3f}%") if fluid else (lambda w: f"{w:.1f}")  # a width

    # The cells.
    values = z.astype(float) if isinstance(z, np.ndarray) else \
        np.array([[np.nan if v is None else v for v in row] for row in z], dtype=float).reshape(rows, cols)
    span = (zmax - zmin) or 1.0
    if gaps:
        rgb = scale_colours(scale, (values - zmin) / span)
        empty = np.isnan(values)
        g = 1.0
        yg = ygap or g
        for i in range(rows):
            for j in range(cols):
                if not empty[i, j]:
                    r, gr, b = rgb[i, j]
                    x0, y0, w0, h0 = plot_l + j * cw + g / 2, plot_t + i * rh + yg / 2, max(cw - g, 0), max(rh - yg, 0)
                    parts.append(f'<rect x="{W(x0)}" y="{y0:.1f}" width="{W(w0)}" height="{h0:.1f}" '
                                 f'fill="#{r:02x}{gr:02x}{b:02x}"/>')
    else:
        bands = [(i, i + 1) for i in range(rows)] if ygap else [(0, rows)]
        for (a, b), data in zip(bands, _images(values, scale, zmin, span, bands)):
            parts.append(f'<image x="{W(plot_l)}" y="{plot_t + a * rh + ygap / 2:.1f}" width="{W(plot_w)}" '
                         f'height="{(b - a) * rh - ygap:.1f}" preserveAspectRatio="none" '
                         f'style="image-rendering:pixelated" href="data:image/png;base64,{data}"/>')

    # Row titles: above each row, in the gap between rows (inside.js drawStrip's annotations).
    for i, name in enumerate(row_titles or []):
        parts.append(text(X(plot_l + 3), plot_t + i * rh + ygap / 2 - 3, name, size=row_title_size))

    # Tick labels and axis titles.
    for j, name in x_ticks:
        x = plot_l + (j + 0.5) * cw
        if x_angle:
            y = plot_b + 6 + tick_size * 0.3
            parts.append(text(x, y, name, anchor="end", size=tick_size, family=MONO if mono_ticks else None,
                              extra=f' transform="rotate({x_angle:g} {x:.1f} {y:.1f})"'))
        else:
            parts.append(text(X(x), plot_b + 4 + tick_size, name, anchor="middle", size=tick_size,
                              family=MONO if mono_ticks else None))
    for i, name in y_ticks:
        parts.append(text(X(plot_l - 6), plot_t + (i + 0.5) * rh + tick_size * 0.35, name, anchor="end", size=tick_size,
                          family=MONO if mono_ticks else None))
    if x_title:
        top_of_title = plot_b + (labels_h + 4 if x_ticks else 0) + standoff
        parts.append(text(X((plot_l + plot_r) / 2), top_of_title + axis_title_size * 0.8, x_title, anchor="middle",
                          size=axis_title_size))
    if y_title:
        x = plot_l - (y_extent + 6 if y_ticks else 0) - standoff - axis_title_size * 0.25
        y = (plot_t + plot_b) / 2
        parts.append(text(x, y, y_title, anchor="middle", size=axis_title_size,
                          extra=f' transform="rotate(-90 {x:.1f} {y:.1f})"'))
    if title:
        parts.append(text(X(width * 0.02), title_size + 4, title, size=title_size))

    # The colour bar: a gradient through the scale's stops, zmin to zmax.
    if colorbar is not None:
        grad = f"tt-colorbar-{uid}"
        horizontal = not vertical
        stops = "".join(f'<stop offset="{p:g}" stop-color="#{"".join(f"{c:02x}" for c in _rgb(c))}"/>' for p, c in scale)
        direction = 'x1="0" y1="0" x2="1" y2="0"' if horizontal else 'x1="0" y1="1" x2="0" y2="0"'
        parts.append(f'<defs><linearGradient id="{grad}" {direction}>{stops}</linearGradient></defs>')
        if vertical:
            bx, by, bw, bh = plot_r + 14, plot_t + 10, 12, plot_h - 20
            parts.append(rect(bx, by, bw, bh, f"url(#{grad})", ' stroke="#444" stroke-width="1"'))
            for v, name in bar_ticks:
                parts.append(text(bx + bw + 4, by + bh * (1 - (v - zmin) / span) + tick_size * 0.35, name, size=tick_size))
            if bar.get("title"):
                x, y = bx + bw + 4 + bar_labels + 6 + axis_title_size * 0.8, by + bh / 2
                parts.append(text(x, y, bar["title"], anchor="middle", size=axis_title_size,
                                  extra=f' transform="rotate(-90 {x:.1f} {y:.1f})"'))
        else:
            name_w = text_width(bar.get("title", ""), 11) + 8 if bar.get("title") else 0
            bx, bh = plot_l + 10 + name_w, 8
            bw = max(20.0, plot_l + 0.6 * plot_w - 10 - bx)
            by = plot_t - 33
            if bar.get("title"):
                parts.append(text(plot_l + 10, by + bh, bar["title"], size=11))
            parts.append(rect(bx, by, bw, bh, f"url(#{grad})", ' stroke="#444" stroke-width="1"'))
            for v, name in bar_ticks:
                parts.append(text(bx + bw * (v - zmin) / span, by + bh + tick_size + 2, name, anchor="middle", size=tick_size))
    return svg(width, height, "".join(parts), label, fixed_height=not fluid, fluid=fluid)
