"""First visit to each chapter page in headless Chromium, on a cold browser cache (issue 20).

    .venv/bin/python -m benchmarks.bench_first_visit [--repeats=N] [page ...]      (part of `make bench`)

The app runs in its own process (uvicorn, the real model, as `make run`); each visit is a fresh
browser context (empty cache), and a MutationObserver installed before any page script notes
when the page's first picture appears. Reported per page:

- JS before chart: the JavaScript the page loaded (uncompressed, as parsed) before its first
  picture, and what went over the wire (gzip). Goal: <= 1.5 MB uncompressed.
- nav -> chart, fresh server: navigation start to the first picture, on a server just started
  (nothing about this prompt computed yet: a newcomer's first visit), median of the visits.
- API alone, fresh server: the API requests the page had answered by then, replayed from Python
  on another just-started server, all sent at once (so the least time those answers can take).
  Goal: nav -> chart <= 1.5x API alone. A request the page's HTML preloads (the GET twin of its
  first request, app/views/first_request.py) is one of them, replayed as that GET: the same view
  answers it as the POST it replaces, so the comparison is the same as before the preloads.
- warm: the same two on a server that has answered this page before (the page's own cost: loading
  and running its code and Plotly, drawing), each once the server has finished what the previous
  visit asked (`wait_idle`).
- the browser's floor: the same kind of visit to a 100-byte page whose picture is in its HTML, served
  by a plain Python server in this process (HTTP/1.0, no compression): about what a navigation in a
  fresh context costs this browser on this machine at this moment, whatever the page. A page's
  "nav -> first picture" minus the floor is roughly what the page and the model add (with
  --split-cores the floor's server shares the browser's core, unlike the app); each page's row
  gives it against the API alone too ("less the floor").

Chromium is launched by benchmarks/chromium.py (its omnibox popups off: with them, headless Chromium
spent about one core on the first 1.5 s of every fresh context, so of every visit).

--split-cores: the browser (and this script) on the first core, every server on the others, as when
the browser and the server are different machines. On one shared machine a preloaded request's pass
competes with the page's own loading for the same cores; split, it does not. Both figures (nav and
API alone) are then taken on the same smaller server, so the ratio stays a like-for-like comparison.
"""

from __future__ import annotations

import html
import json
import re
import os
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import httpx

from benchmarks.common import header, row
from benchmarks import chromium
from benchmarks.screenshots import free_port, start_server
from model.speed import process_cpu_ticks

GOAL_BYTES = 1_500_000
GOAL_RATIO = 1.5
CHART = ".js-plotly-plot .main-svg"
# A first picture the server drew into the page's HTML (app/pictures): the static SVG or chips, shown
# until the page's module draws its own.
SERVER_DRAWN = "[data-first-picture] > *"
INLINE_ANSWER = re.compile(r'data-first-answer="([^"]+)"')
TEXT = "The capital of France is"
# A prompt whose pass takes long enough to matter beside the page's own loading (about 200 tokens).
LONG_TEXT = " ".join(["The river rose in the hills, ran past the old mill and the market town, and met the sea at a "
                      "harbour where ships from many countries unloaded grain, wool and timber."] * 6)


@dataclass(frozen=True)
class Visit:
    name: str
    path: str
    query: dict
    first: str = CHART  # the selector of the page's first picture

    @property
    def url(self) -> str:
        return self.path + (f"?{urlencode(self.query)}" if self.query else "")


VISITS = [
    Visit("network", "/network", {}),
    Visit("tokens", "/tokens", {"text": TEXT}, first="#chips .tok"),
    Visit("embeddings", "/embeddings", {}),
    Visit("attention", "/attention", {"text": TEXT}),
    Visit("inside", "/inside", {"text": TEXT}),
    Visit("learn", "/learn", {}),
    Visit("predict", "/predict", {"text": TEXT}),
    Visit("predict-long", "/predict", {"text": LONG_TEXT}),
    Visit("why", "/why", {"text": TEXT}),
    Visit("chat", "/chat", {}, first="#template-tokens .tok"),
]

# Runs before any script of the page: the time (ms since navigation start) the first picture appears.
WATCH = """(() => {
  const selector = %s;
  const seen = () => { if (window.__firstChart === undefined && document.querySelector(selector)) {
    window.__firstChart = performance.now(); observer.disconnect(); } };
  const observer = new MutationObserver(seen);
  observer.observe(document, { childList: true, subtree: true });
})();"""

SCRIPTS_BEFORE = """(t) => performance.getEntriesByType('resource')
  .filter((e) => new URL(e.name).pathname.endsWith('.js') && e.responseEnd <= t)
  .map((e) => ({ url: new URL(e.name).pathname, size: e.decodedBodySize, wire: e.transferSize }))"""
# Where the time went, from the kit's performance marks (static/js/kit/load.js, plotly.js): the first
# request asked for by the page's module, its answer, Plotly's 2-D bundle run; and the request the
# HTML preloaded (resource timing), if any: sent as the head was read, answered.
MARKS = """() => { const first = (prefix) => { const m = performance.getEntriesByType('mark')
    .find((e) => e.name.startsWith(prefix)); return m ? m.startTime : null; };
  const preload = performance.getEntriesByType('resource')
    .find((e) => e.initiatorType === 'link' && new URL(e.name).pathname.startsWith('/api/'));
  const nav = performance.getEntriesByType('navigation')[0];
  return { html: nav ? nav.responseStart : null, request: first('kit:request'), answer: first('kit:answer'), plotly: first('kit:plotly '),
    preload: preload ? preload.startTime : null, preloaded: preload ? preload.responseEnd : null }; }"""
# The API answers the page had in hand when its first chart appeared (requests still in flight then,
# for pictures further down, are not what the first chart waited for).
API_BEFORE = """(t) => performance.getEntriesByType('resource')
  .filter((e) => new URL(e.name).pathname.startsWith('/api/') && e.responseEnd <= t)
  .map((e) => e.name)"""


def visit(browser, base: str, v: Visit, timeout_ms: int = 300_000) -> dict:
    """One cold-cache visit: first-chart time, scripts before it, API requests started before it."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(WATCH % json.dumps(f"{v.first}, {SERVER_DRAWN}"))
    page = context.new_page()
    requests: list[dict] = []
    page.on("request", lambda r: requests.append({"method": r.method, "url": r.url, "body": r.post_data})
            if urlsplit(r.url).path.startswith("/api/") else None)
    response = page.goto(base + v.url, wait_until="commit")
    page.wait_for_function("() => window.__firstChart !== undefined", timeout=timeout_ms, polling=50)
    # The answer the server computed for the page and wrote into it (app/pictures) is one of the
    # page's API requests too, made by the server on the page's behalf: replayed as its GET.
    inline = INLINE_ANSWER.findall(response.text())
    first = page.evaluate("() => window.__firstChart")
    scripts = page.evaluate(SCRIPTS_BEFORE, first)
    answered = page.evaluate(API_BEFORE, first)
    marks = page.evaluate(MARKS)
    context.close()
    # Requests in the order made, the first k of each URL where k answers of that URL had arrived.
    left = {url: answered.count(url) for url in set(answered)}
    api = [{"method": "GET", "url": base + html.unescape(url), "body": None} for url in inline]
    for r in requests:
        if left.get(r["url"], 0) > 0:
            left[r["url"]] -= 1
            api.append(r)
    return {"ms": first, "scripts": scripts, "api": api, "marks": marks}


def replay(base: str, api: list[dict]) -> float:
    """Seconds for the page's API requests alone, all started together from Python against `base`.
    A streamed answer (server-sent events) counts until its first event, as a page can draw then."""
    if not api:
        return 0.0
    done: list[float] = []
    # A client per request, each made before the clock starts: making one builds a TLS context and reads
    # a certificate bundle (about 57 ms of CPU here), which a browser's request does not pay, so timing it
    # overstated every "API alone" (and so flattered every ratio) until session 12.
    clients = [httpx.Client(timeout=300) for _ in api]
    start = time.perf_counter()

    def one(r: dict, client: httpx.Client) -> None:
        parts = urlsplit(r["url"])
        url = base + parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"Content-Type": "application/json"} if r["body"] else {}
        with client.stream(r["method"], url, content=r["body"], headers=headers) as answer:
            for _ in answer.iter_bytes():
                if answer.headers.get("content-type", "").startswith("text/event-stream"):
                    break
        done.append(time.perf_counter() - start)

    threads = [threading.Thread(target=one, args=(r, c)) for r, c in zip(api, clients)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for c in clients:
            c.close()
    return max(done)


FLOOR_PAGE = b'<!doctype html><title>floor</title><div data-first-picture><svg width="10" height="10"></svg></div>'


@contextmanager
def floor_server():
    """A plain HTTP server in this process answering every GET with FLOOR_PAGE."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(FLOOR_PAGE)))
            self.end_headers()
            self.wfile.write(FLOOR_PAGE)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def floor_ms(browser, visits: int = 5) -> float:
    """The browser's own navigation: median ms from navigation start to FLOOR_PAGE's picture in the DOM,
    each visit in a fresh context, as the pages' visits are."""
    times = []
    with floor_server() as base:
        for _ in range(visits):
            times.append(visit(browser, base, Visit("floor", "/", {}, first=SERVER_DRAWN))["ms"])
    return statistics.median(times)


SPLIT: dict[str, set[int]] = {}  # --split-cores: {"browser": {0}, "server": {1, ...}}


def wait_idle(pid: int, quiet: float = 0.3, most: float = 60.0) -> None:
    """Until the server has used no CPU for `quiet` seconds: a page's module asks further answers after
    its first picture (more maps, the logit lens, generated steps), and a closed browser context does not
    stop the server computing them, so the next visit would queue behind them."""
    deadline, last, still = time.monotonic() + most, process_cpu_ticks(pid), 0.0
    while still < quiet and time.monotonic() < deadline:
        time.sleep(0.1)
        now = process_cpu_ticks(pid)
        still = still + 0.1 if now == last else 0.0
        last = now
    if still < quiet:
        print(f"  (the server was still busy after {most:.0f} s: the next visit may queue behind it)", flush=True)


@contextmanager
def fresh_server():
    """A just-started app (nothing computed for any prompt yet) on a free port (on the server's
    cores with --split-cores: it inherits this process's affinity while it starts)."""
    if SPLIT:
        os.sched_setaffinity(0, SPLIT["server"])
    try:
        server = start_server(port := free_port())
    finally:
        if SPLIT:
            os.sched_setaffinity(0, SPLIT["browser"])
    try:
        yield f"http://127.0.0.1:{port}", server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def measure(browser, v: Visit, repeats: int = 2) -> dict:
    cold_nav, cold_api, colds = [], [], []
    for _ in range(repeats):
        with fresh_server() as (base, _):
            first = visit(browser, base, v)
            colds.append(first)
        with fresh_server() as (base, _):
            cold_api.append(replay(base, first["api"]) * 1000)
        cold_nav.append(first["ms"])
    with fresh_server() as (base, pid):
        visit(browser, base, v)  # the server computes this page's answers once
        warm, warm_api = [], []
        for _ in range(repeats):
            wait_idle(pid)
            warm.append(visit(browser, base, v))
        for _ in range(repeats):
            wait_idle(pid)
            warm_api.append(replay(base, warm[0]["api"]) * 1000)
    scripts = first["scripts"]
    def mark(name):
        values = [c["marks"][name] for c in colds if c["marks"][name] is not None]
        return statistics.median(values) if values else None

    return {
        "marks": {k: mark(k) for k in ("html", "request", "answer", "plotly", "preload", "preloaded")},
        "js_bytes": sum(s["size"] for s in scripts), "js_wire": sum(s["wire"] for s in scripts),
        "scripts": scripts, "n_api": len(first["api"]),
        "nav_ms": statistics.median(cold_nav), "api_ms": statistics.median(cold_api),
        "warm_nav_ms": statistics.median(w["ms"] for w in warm), "warm_api_ms": statistics.median(warm_api),
    }


def main(argv: list[str] | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    argv = argv or []
    repeats = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--repeats=")), 2)
    cores = sorted(os.sched_getaffinity(0))
    if "--split-cores" in argv and len(cores) >= 2:
        SPLIT.update(browser={cores[0]}, server=set(cores[1:]))
        os.sched_setaffinity(0, SPLIT["browser"])  # Chromium, launched below, inherits it
    argv = [a for a in argv if not a.startswith("--")]
    wanted = [v for v in VISITS if not argv or v.name in argv]
    header("First visit, cold browser cache (headless Chromium; goal: JS before the first chart "
           f"<= {GOAL_BYTES / 1e6:.1f} MB, navigation -> first chart <= {GOAL_RATIO}x the page's API calls alone)")
    if not chromium.CHROMIUM.exists():
        row("skipped", "", "Debian's chromium is missing: `make chromium` installs it")
        return {}
    results = {}
    with sync_playwright() as p:
        browser = chromium.launch(p)
        floors = [floor_ms(browser)]
        row("the browser's own navigation", f"{floors[0]:.0f} ms",
            "a 100-byte page with its picture in its HTML, fresh context, median of 5")
        for v in wanted:
            try:
                r = measure(browser, v, repeats)
            except Exception as exc:  # one page failing to draw should not hide the others' figures
                row(v.name, "FAILED", f"{type(exc).__name__}: {str(exc).splitlines()[0][:90]}")
                continue
            results[v.name] = r
            ratio = r["nav_ms"] / r["api_ms"] if r["api_ms"] else None
            ok_bytes = "ok" if r["js_bytes"] <= GOAL_BYTES else "OVER"
            row(f"{v.name}: JS before first picture", f"{r['js_bytes'] / 1e6:.2f} MB",
                f"{ok_bytes}; {r['js_wire'] / 1e6:.2f} MB over the wire, {len(r['scripts'])} files")
            # Beside the goal's ratio, the same less the browser's own navigation (the floor, measured first):
            # what the page and the model add to any visit, against the answers alone.
            verdict = "no API call before it" if ratio is None else \
                (f"{'ok' if ratio <= GOAL_RATIO else 'OVER'}: {ratio:.2f}x the API alone ({r['api_ms']:.0f} ms, "
                 f"{r['n_api']} requests); less the floor {(r['nav_ms'] - floors[0]) / r['api_ms']:.2f}x")
            row(f"{v.name}: nav -> first picture", f"{r['nav_ms']:.0f} ms", verdict)
            m = r["marks"]
            if m["html"] is not None:
                row(f"{v.name}:   the HTML's first byte", f"{m['html']:.0f} ms")
            if m["preload"] is not None:
                row(f"{v.name}:   preloaded from the head", f"{m['preload']:.0f} ms", f"answered {m['preloaded']:.0f} ms")
            if m["request"] is not None:
                row(f"{v.name}:   module asks first", f"{m['request']:.0f} ms",
                    (f"answered {m['answer']:.0f} ms" if m["answer"] is not None else "")
                    + (f", Plotly run {m['plotly']:.0f} ms" if m["plotly"] is not None else ""))
            row(f"{v.name}:   warm server", f"{r['warm_nav_ms']:.0f} ms", f"API alone {r['warm_api_ms']:.0f} ms")
        floors.append(floor_ms(browser))
        row("the browser's own navigation, again", f"{floors[1]:.0f} ms",
            "the same, after the pages (the machine's noise: compare a page with both)")
        browser.close()
    results["floor"] = {"before_ms": floors[0], "after_ms": floors[1]}
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
