"""Small SVG drawing for the server-drawn first pictures (app/pictures): every text escaped, sizes in a
viewBox so a picture scales to its container's width, fonts and colours as the pages' Plotly charts."""

from __future__ import annotations

import math
import re

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


def svg(width: float, height: float, body: str, label: str) -> str:
    """An SVG scaled to its container's width (at most its own), with a text equivalent."""
    return (f'<svg class="first-svg" viewBox="0 0 {width:g} {height:g}" width="100%" style="max-width:{width:g}px" '
            f'role="img" aria-label="{esc(label)}" font-family="{esc(FONT)}" font-size="13" fill="{INK}">'
            f"<title>{esc(label)}</title>{body}</svg>")


def text(x: float, y: float, content: str, *, anchor: str = "start", size: float | None = None,
         fill: str | None = None, family: str | None = None, extra: str = "") -> str:
    attrs = f' text-anchor="{anchor}"' if anchor != "start" else ""
    attrs += f' font-size="{size:g}"' if size else ""
    attrs += f' fill="{fill}"' if fill else ""
    attrs += f' font-family="{esc(family)}"' if family else ""
    return f'<text x="{x:.1f}" y="{y:.1f}"{attrs}{extra}>{esc(content)}</text>'


def rect(x: float, y: float, w: float, h: float, fill: str, extra: str = "") -> str:
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" fill="{fill}"{extra}/>'


def hbars(labels: list[str], values: list[float], colours: list[str], value_text: list[str], *,
          axis_title: str, label: str, width: int = 640, row: int = 24, left: int = 120, right: int = 50,
          font: float = 13, tick_format=lambda v: f"{v * 100:.0f}%") -> str:
    """Horizontal bars, top to bottom, as the pages' Plotly bar charts: a label per bar at the left (in
    the monospace font tokens use), the value written after the bar, an x axis from 0 with gridlines."""
    top, bottom = 10, 40
    height = 40 + row * len(values)  # as the Plotly chart that replaces it (no jump when it does)
    row = (height - top - bottom) / max(len(values), 1)
    plot_w = width - left - right
    high = max(values, default=0) * 1.15 or 1
    x = lambda v: left + plot_w * v / high  # noqa: E731
    parts = []
    for tick in nice_ticks(high):
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" y2="{height - bottom}" stroke="{GRID}"/>')
        parts.append(text(x(tick), height - bottom + 16, tick_format(tick), anchor="middle", size=12, fill=MUTED))
    parts.append(text(left + plot_w / 2, height - 6, axis_title, anchor="middle", fill=MUTED))
    for i, (name, value, colour, written) in enumerate(zip(labels, values, colours, value_text)):
        y = top + i * row
        bar_h = row * 0.75
        parts.append(rect(left, y + (row - bar_h) / 2, x(value) - left, bar_h, colour))
        parts.append(text(left - 6, y + row / 2 + 4.5, name, anchor="end", family=MONO, size=font))
        parts.append(text(x(value) + 4, y + row / 2 + 4.5, written, size=font))
    return svg(width, height, "".join(parts), label)
