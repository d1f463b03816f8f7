"""The pages' stylesheets written into their HTML (`<style>`) instead of linked.

On a first visit the server computes the page's first picture while the browser reads the head; a
linked stylesheet is one more request that the server answers beside that pass, on the same 2 cores
and the same interpreter, and the browser's first render waits for it. Written in, the pictures of
the pages whose answers take 0.1-0.4 s came 50-200 ms sooner (docs/PERFORMANCE.md, session 12: median
navigation -> first picture on a just-started server, 8 visits alternating with the linked pages).
Each page carries 11-21 kB more HTML (4-6 kB gzipped); the files stay served under /static/css.
"""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

CSS_DIR = Path(__file__).resolve().parents[1] / "static" / "css"
_read: dict[str, tuple[int, Markup]] = {}  # name -> (mtime_ns, the <style> element)


def style(name: str) -> Markup:
    """`static/css/<name>` as a `<style>` element, read again only when the file changes."""
    path = CSS_DIR / name
    if path.parent != CSS_DIR or path.suffix != ".css":
        raise ValueError(f"not a stylesheet of static/css: {name!r}")
    mtime = path.stat().st_mtime_ns
    kept = _read.get(name)
    if kept is None or kept[0] != mtime:
        css = path.read_text(encoding="utf-8")
        if "</style" in css.lower():  # would end the element early
            raise ValueError(f"{name} contains '</style', which cannot be written into a <style> element")
        kept = _read[name] = (mtime, Markup(f'<style data-file="/static/css/{name}">\n{css}</style>'))
    return kept[1]
