"""app/inprocess.get: a GET asked of the app itself answers exactly as the same request over HTTP."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from app import inprocess


def _get(app, url: str) -> inprocess.Answer:
    return asyncio.run(inprocess.get(app, url))


def test_an_api_answer_is_the_same_as_over_http(tiny_client):
    url = "/api/tokenize?text=" + "caf%C3%A9%20na%C3%AFve%20%F0%9F%99%82"
    inside, outside = _get(tiny_client.app, url), tiny_client.get(url)
    assert inside.status == outside.status_code == 200
    assert inside.json() == outside.json()
    assert inside.json()["count"] > 3


def test_a_refusal_and_a_missing_page_answer_their_4xx(tiny_client):
    refused = _get(tiny_client.app, "/api/tokenize?text=" + "x" * 5000)
    assert refused.status == 413 and "detail" in refused.json()
    missing = _get(tiny_client.app, "/nothing-here")
    assert missing.status == 404 and "/docs" in missing.json()["detail"]


def test_an_answer_comes_uncompressed_through_the_middleware(tiny_client):
    # Large enough for the gzip middleware, which compresses only for a client that accepts it.
    answer = _get(tiny_client.app, "/api/attention?text=" + "ab%20" * 15 + "&layer=0&head=0")
    headers = dict(answer.headers)
    assert answer.status == 200 and b"content-encoding" not in headers
    assert len(answer.body) > 2048 and answer.json()["tokens"]


def test_a_streamed_answer_is_read_to_its_end():
    app = FastAPI()

    @app.get("/stream")
    def stream():
        return StreamingResponse(iter([b"one ", b"two ", b"three"]), media_type="text/plain")

    answer = _get(app, "/stream")
    assert answer.status == 200 and answer.body == b"one two three"


def test_an_exception_in_the_app_is_raised_not_hidden():
    app = FastAPI()

    @app.get("/broken")
    def broken():
        raise RuntimeError("a route's bug")

    with pytest.raises(RuntimeError, match="a route's bug"):
        _get(app, "/broken")


def test_the_url_is_read_as_a_server_reads_it():
    # ASGI's `path` is percent-decoded; text that is not ASCII goes as a browser sends it (UTF-8, %XX).
    app = FastAPI()

    @app.get("/p/{name}")
    def echo(name: str, q: str = ""):
        return {"name": name, "q": q}

    assert _get(app, "/p/a%20b%C3%A9?q=caf%C3%A9+x").json() == {"name": "a bé", "q": "café x"}
    assert _get(app, "/p/é?q=café naïve").json() == {"name": "é", "q": "café naïve"}
