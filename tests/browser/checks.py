"""Checks every page's browser tests share (issue 20): fits a phone, hides stale views on failure,
no serious accessibility violation. Page owners call these from their own tests; the phone
fixture is in tests/browser/conftest.py. See static/js/kit/README.md."""

from __future__ import annotations

from typing import Callable, Iterable

from playwright.sync_api import Page, expect

from app import assets

# An iPhone 12-15 sized screen: what "right on a phone" is checked at.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def axe_violations(page: Page, rules_off: Iterable[str] = (), context: str | dict | None = None) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one readable line each
    ("rule: help (n nodes: selector, ...)"); [] when there are none. The page's CSP forbids inline
    scripts, so axe is evaluated through the DevTools protocol instead of a <script> tag. axe-core is
    fetched by `python -m app.assets --tests` (`make test`). `context`: a selector or axe's
    {"include": [[selector], ...]} to check only part of the page (default: all of it)."""
    path = assets.AXE.path
    if not path.exists():
        raise AssertionError(f"{path} is missing: run `make test` or `.venv/bin/python -m app.assets --tests`")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(path.read_text(encoding="utf-8") + "\n;undefined")
    results = page.evaluate("""async ([off, context]) => {
        const rules = Object.fromEntries(off.map((id) => [id, { enabled: false }]));
        const r = await window.axe.run(context || document, { rules, resultTypes: ["violations"] });
        return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
          .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                         nodes: v.nodes.map((n) => n.target.join(" ")) }));
    }""", [list(rules_off), context])
    return [f"{v['id']} ({v['impact']}): {v['help']} ({len(v['nodes'])} nodes: {', '.join(v['nodes'][:5])})"
            for v in results]


def assert_fits_phone(page: Page, min_plot_width: int = 250) -> None:
    """The page does not scroll sideways as a whole, and every visible Plotly chart has a plot area
    (the part inside the axes) at least `min_plot_width` px wide."""
    widths = page.evaluate("""() => ({ scroll: document.documentElement.scrollWidth,
        body: document.body.scrollWidth, view: window.innerWidth })""")
    # A phone (is_mobile) zooms out to show a page wider than its screen, so its window grows with
    # the page and innerWidth alone never shows the overflow: hold the page to the width it was given.
    if page.viewport_size:
        widths["view"] = min(widths["view"], page.viewport_size["width"])
    assert max(widths["scroll"], widths["body"]) <= widths["view"], (
        f"the page scrolls sideways: {max(widths['scroll'], widths['body'])} px wide in a {widths['view']} px "
        f"window; widest elements: {_widest(page)}")
    plots = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
        .filter((p) => p.offsetParent !== null && p.getBoundingClientRect().width > 0)
        .map((p) => {
          const areas = [...p.querySelectorAll('.nsewdrag, .draglayer .xy rect')]
            .map((r) => r.getBoundingClientRect().width);
          const scene = p.querySelector('.gl-container, .svg-container');
          return { id: p.id || p.className, area: areas.length ? Math.max(...areas) : (scene ? scene.getBoundingClientRect().width : 0),
                   right: p.getBoundingClientRect().right };
        })""")
    narrow = [p for p in plots if p["area"] < min_plot_width]
    assert not narrow, f"plot areas narrower than {min_plot_width} px at {widths['view']} px: {narrow}"
    cut = [p for p in plots if p["right"] > widths["view"] + 1]
    assert not cut, f"charts reaching past the right edge of a {widths['view']} px window: {cut}"


CHART_PARTS = ".xtick text, .ytick text, .colorbar, .legend, .gtitle, .g-xtitle, .g-ytitle, .cbtitle"


def cut_chart_parts(page: Page) -> list[str]:
    """Tick labels, titles, colour bars and legends of visible Plotly charts that stick out of their
    chart (cut off by its SVG) or out of the window; [] when every part shows whole."""
    return page.evaluate("""(parts) => {
      const out = [];
      for (const plot of document.querySelectorAll('.js-plotly-plot')) {
        if (plot.offsetParent === null) continue;
        const svg = plot.querySelector('.main-svg');
        if (!svg) continue;
        const box = svg.getBoundingClientRect();
        for (const part of plot.querySelectorAll(parts)) {
          const r = part.getBoundingClientRect();
          if (r.width === 0 || r.height === 0) continue;
          const name = (part.textContent || part.getAttribute('class') || '').trim().slice(0, 30);
          if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
            out.push(`#${plot.id}: "${name}" outside its chart`);
          else if (r.left < -1 || r.right > window.innerWidth + 1)
            out.push(`#${plot.id}: "${name}" outside the window`);
        }
      }
      return out;
    }""", CHART_PARTS)


def assert_charts_uncut(page: Page) -> None:
    """Every visible Plotly chart shows its tick labels, titles, colour bar and legend whole (call it
    once the charts have settled: Plotly places ticks in a second step)."""
    cut = cut_chart_parts(page)
    assert not cut, "parts of charts are cut off: " + "; ".join(cut[:10])


def _widest(page: Page) -> list[str]:
    """The elements sticking out furthest on the right, to say what makes a page scroll sideways."""
    return page.evaluate("""() => [...document.querySelectorAll('body *')]
        .map((e) => [e, e.getBoundingClientRect().right])
        .filter(([, r]) => r > window.innerWidth + 1)
        .sort((a, b) => b[1] - a[1]).slice(0, 5)
        .map(([e, r]) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : ''} (${Math.round(r)} px)`)""")


def assert_failure_hides(page: Page, selectors: Iterable[str], act: Callable[[], None], error: str,
                         timeout: float = 30_000) -> None:
    """The views in `selectors` show now; after `act()` makes their request fail, the `error`
    element says so and none of them is visible any more (hidden, not left beside the error)."""
    selectors = list(selectors)
    for selector in selectors:
        expect(page.locator(selector).first, f"{selector} should show before the failure").to_be_visible(timeout=timeout)
    act()
    expect(page.locator(error), "the error should say what went wrong").not_to_have_text("", timeout=timeout)
    expect(page.locator(error)).to_be_visible(timeout=timeout)
    for selector in selectors:
        expect(page.locator(selector).first, f"{selector} still shows beside the error").to_be_hidden(timeout=timeout)


def route_busy(page: Page, pattern: str) -> None:
    """Answer every request to `pattern` as a busy server does (503, code "busy"); use it on the
    `busy_page` fixture, which expects those 503s."""
    page.route(pattern, lambda route: route.fulfill(
        status=503, content_type="application/json",
        body='{"detail": "The model is busy with other requests; retry in a few seconds.", "code": "busy"}'))
