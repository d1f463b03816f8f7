"""Shared fixtures.

- `tiny_engine` / `tiny_client`: a random-weight Llama of the same architecture (fast, no download).
- `real_engine` / `real_client`: the real SmolLM2 weights (fetched by `make test`), loaded once.
- `hf_reference`: HF transformers loading the same GGUF, the independent implementation.
- `live_server` / `page`: the real app on a loopback port, driven in headless Chromium.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from app.engine import Engine, load_engine
from app.main import create_app
from app.settings import Settings
from benchmarks import chromium
from model.tiny import tiny_model

torch.set_num_threads(max(1, torch.get_num_threads()))


@pytest.fixture(scope="session")
def tiny_engine() -> Engine:
    model, tokenizer = tiny_model(seed=0)
    return Engine(model, tokenizer, Settings(max_prompt_tokens=64, max_prompt_chars=400, max_new_tokens=32))


@pytest.fixture
def make_client():
    """Factory: a TestClient over an app built around the given engine (and optional settings)."""
    clients = []

    def make(engine: Engine, settings: Settings | None = None) -> TestClient:
        client = TestClient(create_app(settings=settings or engine.settings, engine=engine))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def tiny_client(tiny_engine, make_client) -> TestClient:
    return make_client(tiny_engine)


@pytest.fixture(scope="session")
def real_engine() -> Engine:
    """The real model. `make test` fetches the weights first; without them this fails loudly."""
    return load_engine(Settings())


@pytest.fixture
def real_client(real_engine, make_client) -> TestClient:
    return make_client(real_engine)


@pytest.fixture(scope="session")
def hf_reference(real_engine):
    """HF transformers' own Llama over the same GGUF (eager attention): the independent check."""
    transformers = pytest.importorskip("transformers")
    gguf = Path(real_engine.source)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, attn_implementation="eager", dtype=torch.float32)
    return model.eval()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(real_engine):
    """The real app served by uvicorn on a loopback port, in a background thread."""
    import uvicorn

    port = _free_port()
    app = create_app(engine=real_engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    if not chromium.CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make test` (it installs it) or apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = chromium.launch(p, ["--disable-quic", "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


def _is_expected_4xx(text: str) -> bool:
    # Chromium logs every 4xx answer as a console error; a page that shows the server's "text is
    # too long" message is working as designed. 5xx answers still fail the test.
    return "Failed to load resource: the server responded with a status of 4" in text


def watched_page(browser, live_server, context: dict, expected: Callable[[str], bool] = _is_expected_4xx) -> Iterator:
    """A fresh page in a context of its own; the test fails if the page logs a JavaScript error or a
    console error that `expected` does not allow (tests/browser/conftest.py builds its phone and busy
    pages with it)."""
    ctx = browser.new_context(**context, base_url=live_server)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}")
            if msg.type == "error" and not expected(msg.text) else None)
    page.set_default_timeout(30_000)
    yield page
    ctx.close()
    assert not errors, "the page reported errors:\n" + "\n".join(errors)


@pytest.fixture
def page(browser, live_server):
    """A fresh page; the test fails if the page logs a JavaScript error, a CSP violation or a 5xx."""
    yield from watched_page(browser, live_server, {"viewport": {"width": 1280, "height": 900}})


SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture
def screenshot(page):
    """Save a full-page screenshot to docs/screenshots/test-<name>.png (looked at by a person)."""
    def shoot(name: str) -> Path:
        path = SCREENSHOTS / "tmp" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
        return path
    return shoot


@pytest.fixture(autouse=True, scope="session")
def _patient_first_pictures():
    """A page waits PICTURE_WAIT_SECONDS (1.5 s) for its server-drawn first picture before sending the rest
    without it: on a loaded test machine that could make a test that expects the picture flaky. Tests
    wait longer; the one about the limit sets it itself."""
    from app.routers import pages

    before, pages.PICTURE_WAIT_SECONDS = pages.PICTURE_WAIT_SECONDS, 60.0
    yield
    pages.PICTURE_WAIT_SECONDS = before
