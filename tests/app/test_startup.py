"""What a start of the server spends is kept to what serving needs (docs/PERFORMANCE.md, "Start-up")."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fastapi.routing import APIRoute

from app.main import create_app
from app.routers import attention, pages, tokens


def test_the_server_does_not_import_httpx():
    """The pages and the warm-up ask the app in-process (app/inprocess.py): importing httpx, with the rich
    console its command-line tool loads, cost every start 0.13-0.16 s."""
    code = "import sys, app.main; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.real
def test_a_cached_start_does_not_import_gguf(real_engine):
    """Each storage type's bits per weight come from the weight cache's metadata (model/weights.py
    `bits_per_weight`): importing gguf for its block sizes cost every start about 50 ms."""
    code = ("import sys; from app.engine import load_engine; from app.settings import Settings; "
            "e = load_engine(Settings()); print([s.type for s in e.storage], 'gguf' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "['Q4_1', 'Q8_0', 'F32'] False"


def test_the_routers_routes_are_the_apps_own(tiny_engine):
    """Not wrapped in an inclusion, which FastAPI builds a second time at the first request (0.24 s)."""
    app = create_app(engine=tiny_engine)
    own = [r for r in app.router.routes if isinstance(r, APIRoute)]
    for router in (tokens.router, attention.router, pages.router):
        assert all(any(r is mine for r in own) for mine in router.routes)
    assert all(isinstance(r, APIRoute) or hasattr(r, "path") for r in app.router.routes)
