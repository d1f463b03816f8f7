"""The front-end kit (static/js/kit/) on a real page: Plotly loaded only when asked for (the small
2-D bundle, the full one only for 3-D), the loader hides views when a request fails and draws only
the latest answer, the heatmap writes a text equivalent, and chart labels show pieces of characters
as hex bytes. /tokens draws no Plotly chart of its own, so what is on the page here is the kit's."""

import gzip

import httpx
import pytest
from playwright.sync_api import expect

from app import assets
from tests.browser.checks import assert_charts_uncut, assert_fits_phone, axe_violations, cut_chart_parts

pytestmark = [pytest.mark.browser, pytest.mark.real]
expect.set_options(timeout=30_000)


def open_kit(page, path="/tokens"):
    """`path` loaded, with the kit's modules on window.kit."""
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    page.goto(path)
    page.evaluate("""async () => {
      const [load, heatmap, chips, plotly] = await Promise.all(["load", "heatmap", "chips", "plotly"]
        .map((m) => import(`/static/js/kit/${m}.js`)));
      window.kit = { ...load, ...heatmap, ...chips, ...plotly };
      const box = document.createElement("section");
      box.id = "kit-test";
      box.innerHTML = '<p id="kit-error"></p><div id="kit-view" class="plot"></div><p id="kit-other">words</p>';
      document.querySelector("main").prepend(box);
    }""")
    return scripts


def test_heatmap_loads_the_small_bundle_and_writes_a_text_equivalent(page):
    scripts = open_kit(page)
    page.evaluate("""() => kit.drawHeatmap(document.getElementById("kit-view"), {
        z: [[0.1, null], [0.7, 0.2]], x: [{ text: "The" }, { text: " cat" }], y: ["The", kit.plainTokenLabel(" cat")], title: "Head 3",
        format: (v) => `${Math.round(v * 100)}%` })""")
    expect(page.locator("#kit-view .main-svg").first).to_be_visible()
    assert any(assets.PLOTLY_2D.name in url for url in scripts), scripts
    assert not any(assets.PLOTLY_FULL_NAME in url for url in scripts), "the full bundle was loaded for a 2-D chart"
    # Tokens' ticks read as the chips do, spaces made visible.
    ticks = page.locator("#kit-view .xtick text").all_text_contents()
    assert ticks == ["The", "␣cat"]
    caption = page.locator("#kit-view-text")
    expect(caption).to_have_text("Head 3: 2 rows × 2 columns. Largest: ␣cat · The 70%; ␣cat · ␣cat 20%; The · The 10%.")
    assert page.locator("#kit-view").get_attribute("aria-describedby") == "kit-view-text"


def test_plotly3d_loads_the_full_bundle_only_when_asked(page):
    scripts = open_kit(page)
    draw = """() => kit.drawHeatmap(document.getElementById("kit-view"), { z: [[1, 2], [3, 4]], title: "Before" })"""
    page.evaluate(draw)  # drawn by the 2-D bundle
    assert not any(assets.PLOTLY_FULL_NAME in url for url in scripts)
    has3d = page.evaluate("""async () => { const P = await kit.plotly3d();
        return Object.keys(P.PlotSchema.get().traces).includes("scatter3d"); }""")
    assert has3d
    assert any(assets.PLOTLY_FULL_NAME in url for url in scripts)
    # From then on plotly() answers the same full bundle: one Plotly per page, and a chart the 2-D
    # bundle drew is redrawn by the full one.
    assert page.evaluate("async () => (await kit.plotly()) === (await kit.plotly3d())")
    page.evaluate(draw.replace("Before", "After"))
    expect(page.locator("#kit-view .gtitle")).to_have_text("After")
    page.evaluate("""async () => { const P = await kit.plotly3d();
        await P.newPlot(document.getElementById("kit-other"), [{ type: "scatter3d", mode: "markers",
          x: [0, 1], y: [0, 1], z: [0, 1] }], {}, kit.plotConfig); }""")
    expect(page.locator("#kit-other .gl-container")).to_have_count(1)


def test_loader_hides_views_on_failure_and_shows_them_again(page):
    open_kit(page)
    page.evaluate("""() => {
      window.answers = [];
      window.load = kit.loader({
        run: async (signal, text) => {
          const r = await fetch("/api/predict", { method: "POST", signal, headers: { "Content-Type": "application/json" },
                                                    body: JSON.stringify({ text, n_predictions: 1 }) });
          const data = await r.json();
          if (!r.ok) throw Object.assign(new Error(data.detail), { code: data.code });
          return data;
        },
        draw: (data) => { document.getElementById("kit-other").textContent = `${data.tokens.length} tokens`; },
        views: ["kit-view", "kit-other"], error: "kit-error",
        message: (e) => `failed: ${e.code}`,
      });
    }""")
    page.evaluate("() => load('The capital of France is')")
    expect(page.locator("#kit-other")).to_have_text("5 tokens")
    page.evaluate("() => load('')")  # the server refuses an empty text
    expect(page.locator("#kit-error")).to_have_text("failed: empty")
    assert page.locator("#kit-error").get_attribute("role") == "alert"
    expect(page.locator("#kit-other")).to_be_hidden()
    expect(page.locator("#kit-view")).to_be_hidden()
    page.evaluate("() => load('Hello')")
    expect(page.locator("#kit-other")).to_have_text("1 tokens")
    expect(page.locator("#kit-other")).to_be_visible()
    expect(page.locator("#kit-error")).to_have_text("")


def test_loader_draws_only_the_latest_answer(page):
    open_kit(page)
    drawn = page.evaluate("""async () => {
      const drawn = [];
      const load = kit.loader({
        run: (signal, name, ms) => new Promise((resolve, reject) => {
          const t = setTimeout(() => resolve(name), ms);
          signal.addEventListener("abort", () => { clearTimeout(t); reject(new DOMException("aborted", "AbortError")); });
        }),
        draw: (data) => drawn.push(data), views: ["kit-view"], error: "kit-error",
      });
      const slow = load("first", 300);
      const stale = document.getElementById("kit-view").classList.contains("stale");
      const fast = load("second", 10);
      await Promise.all([slow, fast]);
      return { drawn, stale, after: document.getElementById("kit-view").className, error: document.getElementById("kit-error").textContent };
    }""")
    assert drawn == {"drawn": ["second"], "stale": True, "after": "plot", "error": ""}


def test_plain_token_labels_show_pieces_of_characters_and_invisible_ones(page):
    open_kit(page)
    labels = page.evaluate("""() => [
      kit.plainTokenLabel({ text: " \\ufffd", display: "␣\\ufffd", bytes: "20 f0 9f", partial: true }),
      kit.plainTokenLabel({ text: "\\ufffd", display: "\\ufffd", bytes: "e7", partial: true }),
      kit.plainTokenLabel({ text: "a\\ufffd", display: "a\\ufffd", bytes: "61 e7 8c", partial: true }),
      kit.plainTokenLabel({ text: "\\ufe0f", display: "\\ufe0f", bytes: "ef b8 8f", partial: false }),
      kit.plainTokenLabel({ text: "<|im_start|>", special: true }),
      kit.plainTokenLabel("\\u200d\\n"),
    ]""")
    assert labels == ["␣F0 9F", "E7", "a E7 8C", "⟨U+FE0F⟩", "<|im_start|>", "⟨U+200D⟩⏎"]


def test_touch_screens_get_no_plotly_toolbar_over_the_chart(phone_page):
    open_kit(phone_page)
    assert phone_page.evaluate("() => kit.isTouch && kit.plotConfig.displayModeBar === false")
    phone_page.evaluate("""() => kit.drawHeatmap(document.getElementById("kit-view"), {
        z: Array.from({ length: 12 }, (_, i) => Array.from({ length: 12 }, (_, j) => (j > i ? null : 1 / (i + 1)))),
        x: Array.from({ length: 12 }, (_, i) => `tok${i}`), y: Array.from({ length: 12 }, (_, i) => `tok${i}`),
        title: "Twelve tokens" })""")
    expect(phone_page.locator("#kit-view .main-svg").first).to_be_visible()
    assert phone_page.locator("#kit-view .modebar").count() == 0
    assert_fits_phone(phone_page)
    assert_charts_uncut(phone_page)  # the colour bar above the plot, every label inside
    # The check sees a cut label: a chart narrower than its labels need, with no room for them.
    phone_page.evaluate("""async () => { const P = await kit.plotly();
        await P.relayout(document.getElementById("kit-view"), { "xaxis.automargin": false, "yaxis.automargin": false,
          "margin.l": 0, "margin.b": 0 }); }""")
    assert cut_chart_parts(phone_page)


def test_vendor_files_are_versioned_cached_and_gzipped(live_server):
    name = assets.PLOTLY_2D.name
    answer = httpx.get(f"{live_server}/vendor/{name}", headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.headers["content-encoding"] == "gzip"
    assert "immutable" in answer.headers["cache-control"]
    assert answer.content == assets.PLOTLY_2D.path.read_bytes()  # httpx decodes the gzip
    assert int(answer.headers["content-length"]) == len(gzip.compress(answer.content, compresslevel=9, mtime=0))
    assert httpx.get(f"{live_server}/vendor/{assets.AXE.name}").status_code == 404  # tests only, not served


def test_the_2d_bundle_draws_the_trace_types_of_the_site_2d_charts(page):
    """The committed partial bundle (app/assets.py PLOTLY_2D) draws what the pages' 2-D charts use:
    scatter lines and markers, horizontal and vertical bars, a heatmap with a colour bar, shapes and
    annotations on a log axis; a trace type it was built without is not drawn."""
    scripts = open_kit(page)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.evaluate("""async () => { const P = await kit.plotly(), view = document.getElementById("kit-view");
      await P.newPlot(view, [
          { type: "scatter", mode: "lines+markers", x: [1, 2, 3], y: [0.2, 0.5, 0.4], name: "line" },
          { type: "bar", orientation: "h", x: [0.3, 0.6], y: ["a", "b"], xaxis: "x2", yaxis: "y2", name: "bars" },
          { type: "bar", x: ["c", "d"], y: [2, 3], xaxis: "x3", yaxis: "y3", name: "columns" },
          { type: "heatmap", z: [[1, 2], [3, 4]], xaxis: "x4", yaxis: "y4", colorbar: { x: 1.1 } }],
        { grid: { rows: 2, columns: 2, pattern: "independent" }, yaxis: { type: "log" },
          shapes: [{ type: "line", xref: "x", yref: "paper", x0: 2, x1: 2, y0: 0, y1: 1 }],
          annotations: [{ text: "note", x: 2, y: 0.5, xref: "x", yref: "y" }] }, kit.plotConfig); }""")
    view = page.locator("#kit-view")
    expect(view.locator(".scatterlayer .trace .lines path")).to_have_count(1)
    expect(view.locator(".scatterlayer .trace .points path")).to_have_count(3)
    expect(view.locator(".barlayer .trace .point")).to_have_count(4)
    expect(view.locator(".heatmaplayer image")).to_have_count(1)
    expect(view.locator(".colorbar")).to_have_count(1)
    expect(view.locator(".annotation-text")).to_have_text("note")
    expect(view.locator(".shapelayer path")).to_have_count(1)
    assert errors == []
    assert any(assets.PLOTLY_2D.name in url for url in scripts), scripts
    assert not any(assets.PLOTLY_FULL_NAME in url for url in scripts)
    # Built without pie: such a chart would have to call plotly3d() (the full bundle).
    assert page.evaluate("""async () => { const P = await kit.plotly(), view = document.getElementById("kit-view");
      await P.newPlot(view, [{ type: "pie", values: [1, 2] }]);
      return view.querySelectorAll(".pielayer .slice").length; }""") == 0


SHARED = {"include": [["header.site-header"], ["nav.next-prev"], ["footer.site-footer"]]}


@pytest.mark.parametrize("path", ["/", "/tokens", "/attention"])
def test_the_shared_header_navigation_and_footer_pass_axe(page, phone_page, path):
    for p in (page, phone_page):
        p.goto(path)
        expect(p.locator("footer.site-footer")).to_be_visible()
        assert axe_violations(p, context=SHARED) == []


def test_the_shared_page_frame_fits_a_phone(phone_page):
    phone_page.goto("/tokens")  # no chart of its own: what could scroll sideways is the frame
    expect(phone_page.locator("#chips .tok").first).to_be_visible()
    assert_fits_phone(phone_page)
    # The chapter list scrolls inside its own row instead of widening the page.
    nav = phone_page.locator("nav.chapters")
    assert nav.evaluate("n => n.scrollWidth > n.clientWidth && getComputedStyle(n).overflowX === 'auto'")


def test_the_phone_check_sees_a_page_grown_past_the_phone(phone_page):
    """A phone zooms out to show a page wider than its screen, so window.innerWidth grows with the page
    (to 570 px on /tokens' chat inspector before 2534d3b) and a check against it alone never fails."""
    phone_page.goto("/tokens")
    expect(phone_page.locator("#chips .tok").first).to_be_visible()
    phone_page.evaluate("""() => { const wide = document.createElement('div');
        wide.style.cssText = 'width: 600px; height: 10px'; document.querySelector('main').append(wide); }""")
    assert phone_page.evaluate("() => document.documentElement.scrollWidth") > 390
    with pytest.raises(AssertionError, match="scrolls sideways"):
        assert_fits_phone(phone_page)


def test_instructions_say_tap_on_touch_screens(page, phone_page):
    script = """async () => {
      const hint = Object.assign(document.createElement("span"), { id: "kit-hint", textContent: "Click a row" });
      hint.dataset.touch = "Tap a row";
      document.querySelector("main").prepend(hint);
      (await import("/static/js/kit/touch.js")).touchWords(document.querySelector("main"));
    }"""
    for p, expected in ((phone_page, "Tap a row"), (page, "Click a row")):
        p.goto("/chat")  # a page with no data-touch handling of its own
        assert p.locator('script[src="/static/js/kit/touch.js"]').count() == 1  # base.html loads it
        p.evaluate(script)
        expect(p.locator("#kit-hint")).to_have_text(expected)


def test_shared_styles_keep_text_readable_also_when_stale(page):
    """app.css's shared classes pass axe's contrast check, including a view marked stale while a
    newer answer loads (greyed, not faded below 4.5:1) and a clickable chip without a colour."""
    page.goto("/chat")
    page.evaluate("""() => { const box = Object.assign(document.createElement("div"), { id: "k", className: "panel" });
      for (const [tag, cls, text] of [["p", "error", "The text is too long."], ["p", "note", "A note"],
          ["p", "status", "Loading…"], ["p", "explain", "Explain"], ["p", "eyebrow", "Chapter"], ["p", "lede", "Lede"],
          ["span", "tok special", "<|im_start|>"], ["span", "tok partial", "E7"], ["button", "secondary", "Secondary"],
          ["button", "", "Primary"], ["p", "stale", "Stale text"], ["p", "stale explain", "Stale muted"],
          ["button", "tok", "chip"]]) {
        box.append(Object.assign(document.createElement(tag), { className: cls, textContent: text })); }
      document.querySelector("main").prepend(box); }""")
    assert axe_violations(page, context="#k") == []


def test_the_first_request_leaves_before_plotly_runs(page):
    """On a chart page the first API request goes out before the charting code is run: the loader
    sends it, then asks for Plotly (preloaded by base.html, run when asked). (top_p=0.90, a number the
    server does not write back alike, so it names no first request: no answer inside the page.)"""
    page.goto("/predict?text=The+capital+of+France+is&top_p=0.90")
    expect(page.locator("#chart .main-svg").first).to_be_visible()
    marks = page.evaluate("""() => Object.fromEntries(performance.getEntriesByType('mark')
        .map((m) => [m.name.split(' ')[0], m.startTime]).reverse())""")  # reversed: the first of each name wins
    assert marks["kit:request"] <= marks["kit:plotly-asked"] < marks["kit:plotly"], marks
    api = page.evaluate("""() => performance.getEntriesByType('resource')
        .filter((e) => new URL(e.name).pathname.startsWith('/api/')).map((e) => e.startTime)""")
    assert min(api) < marks["kit:plotly"]
    assert page.locator(f'link[rel="preload"][href="/vendor/{assets.PLOTLY_2D.name}"]').count() == 1
