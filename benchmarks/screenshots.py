"""README screenshots: every page of the app in headless Chromium, as it looks today.

    make screenshots     (or: .venv/bin/python -m benchmarks.screenshots [page ...])

Starts the app with uvicorn on a free loopback port (the real model), opens each page with a
meaningful state in its URL, waits until its pictures have been drawn, and saves the first
screenful (1280 x 800) to docs/screenshots/<page>.png, and the same at phone size (390 x 844, a
touch screen) to docs/screenshots/phone/<page>.png. A page that logs a JavaScript error is
reported and the script exits non-zero, so a broken page never becomes a README picture.

    .venv/bin/python -m benchmarks.screenshots --phone attention     only the phone shots (or --desktop)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlencode

from benchmarks import chromium

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
# Sizes: (folder under docs/screenshots, browser context options). The phone is a touch screen, so
# pages show what they show on a phone (no Plotly toolbar, "tap" instead of "hover").
SIZES = {
    "desktop": (OUT, {"viewport": VIEWPORT, "device_scale_factor": 1}),
    "phone": (OUT / "phone", {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1,
                              "is_mobile": True, "has_touch": True}),
}
MAX_BYTES = 400_000  # README pictures stay small


@dataclass(frozen=True)
class Shot:
    name: str     # docs/screenshots/<name>.png
    path: str     # page path
    query: dict   # state in the URL
    caption: str  # what the picture shows (printed, and used in the README)
    ready: str = ""   # a selector that exists once the page's main picture is drawn
    scroll: str = ""  # scroll so this element is near the top of the picture (default: the page top)
    above: int = 16   # pixels of the page kept above that element
    wait: int = 60_000  # milliseconds to wait for `ready`

    @property
    def url(self) -> str:
        return self.path + (f"?{urlencode(self.query)}" if self.query else "")


SHOTS = [
    Shot("tour", "/", {"text": "The capital of France is"},
         "The tour: one prompt as tokens, as points, as attention and as next-token probabilities",
         ready="#j-bars .main-svg", scroll="#journey"),
    Shot("network", "/network", {"trained": "1"},
         "1. A neural network: nine pixels in, four probabilities out, trained live"),
    Shot("tokens", "/tokens", {}, "2. Tokens: text cut into pieces with ids", ready=".tok"),
    Shot("embeddings", "/embeddings", {}, "3. Embeddings: words as points, analogies as directions",
         ready="#map-plot .main-svg", scroll="#map-plot", above=130),
    Shot("attention", "/attention", {"text": "The capital of France is", "layer": 23, "head": 4},
         "4. Attention: one head's weights; “is” looks at “France”", ready="#heatmap .main-svg",
         scroll="#heatmap", above=90),
    Shot("inside", "/inside", {"text": "The capital of France is", "layer": 18, "head": 1},
         "4a. Inside a layer: where one attention weight comes from (query·key, ÷√64, softmax), for “is” in layer 18",
         ready="#chapter4[data-same]", scroll="#scores", above=150),
    Shot("learn", "/learn", {}, "4b. How a transformer learns: a tiny transformer trained live; the repeats' loss "
         "drops when an induction head forms", ready="#after:not([hidden])", scroll="#controls-title", above=40,
         wait=300_000),  # trains the default run first (seconds; longer on a busy machine)
    Shot("predict", "/predict", {"text": "The capital of France is"},
         "5. Next token: “ Paris” at p = 0.77, with temperature, top-k and top-p", ready="#chart .main-svg",
         scroll="#chart", above=300),
    Shot("why", "/why", {"text": "The capital of France is"},
         "5a. Why this token? “ Paris”'s logit split into every head's and MLP's push, adding up exactly",
         ready="#waterfall .main-svg", scroll="#sum-panel", above=20),
    Shot("chat", "/chat", {}, "6. Chat: a reply streamed token by token over the chat template"),
]
CHAT_QUESTION = "What is the capital of France?"


def with_real_reply(shot: Shot, base: str) -> Shot:
    """The chat shows a conversation whose reply the model really wrote (greedy, so repeatable)."""
    if shot.name != "chat":
        return shot
    messages = [{"role": "user", "content": CHAT_QUESTION}]
    request = urllib.request.Request(f"{base}/api/generate", method="POST",
                                     headers={"Content-Type": "application/json"},
                                     data=json.dumps({"messages": messages, "max_new_tokens": 60,
                                                      "temperature": 0}).encode())
    with urllib.request.urlopen(request, timeout=120) as response:
        reply = json.load(response)["text"]
    conversation = messages + [{"role": "assistant", "content": reply}]
    return replace(shot, query={**shot.query, "c": json.dumps(conversation)})

# Done when no request has been in flight for a while, nothing is marked busy, and every
# visible plot container has been drawn by Plotly.
SETTLED = """() => {
  const visible = (n) => n.offsetParent !== null && n.getBoundingClientRect().height > 0;
  if (document.querySelector('.busy')) return false;
  return [...document.querySelectorAll('.plot')].filter(visible)
    .every((p) => p.querySelector('.main-svg') || p.querySelector('.empty-view') || p.childElementCount === 0
               || p.dataset.settled === '1');
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"], cwd=ROOT, env={**os.environ})
    deadline = time.time() + 180
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the app exited with code {server.returncode} before it answered")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/model", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise RuntimeError("the app did not answer within 180 s")


def take(page, base: str, shot: Shot, out: Path = OUT) -> tuple[Path, list[str]]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console.error: {msg.text}") if msg.type == "error" else None)
    page.goto(base + shot.url, wait_until="networkidle")
    if shot.ready:
        page.wait_for_selector(shot.ready, timeout=shot.wait)
    try:
        page.wait_for_function(SETTLED, timeout=15_000)
    except Exception:  # some picture below the fold is still drawing or hidden: the ready one is there
        print(f"      note: {shot.name}: not every picture had settled after 15 s")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(800)  # Plotly transitions and fonts
    if shot.scroll:  # the element's top at the top of the picture, a little air above it
        page.evaluate("([s, above]) => window.scrollTo(0, document.querySelector(s).getBoundingClientRect().top"
                      " + window.scrollY - above)", [shot.scroll, shot.above])
    else:
        page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    path = out / f"{shot.name}.png"
    page.screenshot(path=str(path))
    return path, errors


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    sizes = [name for name in SIZES if f"--{name}" in argv] or list(SIZES)
    argv = [a for a in argv if not a.startswith("--")]
    wanted = [s for s in SHOTS if not argv or s.name in argv]
    unknown = set(argv) - {s.name for s in SHOTS}
    if unknown:
        print(f"unknown page(s): {', '.join(sorted(unknown))}; choose from {', '.join(s.name for s in SHOTS)}")
        return 2
    if not chromium.CHROMIUM.exists():
        print("Debian's chromium is missing: `make chromium` installs it")
        return 1
    for name in sizes:
        SIZES[name][0].mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = start_server(port)
    failures = 0
    try:
        with sync_playwright() as p:
            browser = chromium.launch(p)
            base = f"http://127.0.0.1:{port}"
            for shot in wanted:
                shot = with_real_reply(shot, base)
                for size in sizes:
                    out, options = SIZES[size]
                    context = browser.new_context(**options)
                    page = context.new_page()
                    page.set_default_timeout(60_000)
                    started = time.perf_counter()
                    path, errors = take(page, base, shot, out)
                    context.close()
                    size_bytes = path.stat().st_size
                    status = "ok" if not errors and size_bytes <= MAX_BYTES else "CHECK"
                    failures += status != "ok"
                    print(f"{status:5} {path.relative_to(ROOT)}  {size_bytes / 1000:.0f} kB  "
                          f"{time.perf_counter() - started:.1f} s  {shot.url[:100]}")
                    for error in errors:
                        print(f"      {error}")
                    if size_bytes > MAX_BYTES:
                        print(f"      larger than {MAX_BYTES // 1000} kB")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
