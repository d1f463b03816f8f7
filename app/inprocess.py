"""A GET asked of the app itself, in-process: through its middleware, routes, checks and cache exactly
as a browser's request, without a socket.

The pages use it to compute their first picture's answer (app/routers/pages.py) and the lifespan for its
warm-up request (app/main.py). It replaces httpx's ASGITransport there: importing httpx (with the
command-line tool it loads when rich is installed) took 0.13-0.16 s of every start on the 2-core
machine, and a server needs nothing else from it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def json(self):
        return json.loads(self.body)


async def get(app, url: str, host: str = "in-process") -> Answer:
    """GET `url` (a path with its query) of the ASGI `app`. The body is asked for uncompressed (no
    Accept-Encoding). An exception the app raises propagates, as a route's bug should not hide."""
    parts = urlsplit(url)
    # As a browser sends them (anything not ASCII percent-encoded) and a server reads them (ASGI's
    # `path` percent-decoded; `raw_path` and `query_string` as sent).
    raw_path = quote(parts.path, safe="/%:@!$&'()*+,;=~")
    query = quote(parts.query, safe="/?%:@!$&'()*+,;=~")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "headers": [(b"host", host.encode("ascii"))], "scheme": "http",
        "path": unquote(raw_path), "raw_path": raw_path.encode("ascii"), "query_string": query.encode("ascii"),
        "server": (host, 80), "client": ("127.0.0.1", 0), "root_path": "",
    }
    status, headers, body = None, [], []
    complete = asyncio.Event()
    asked = False

    async def receive() -> dict:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await complete.wait()  # a streaming answer listens for a disconnect: none until it is all sent
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))
            if not message.get("more_body", False):
                complete.set()

    try:
        await app(scope, receive, send)
    finally:
        complete.set()  # a receive still waiting returns
    if status is None:
        raise RuntimeError(f"the app sent no answer to GET {url}")
    return Answer(status, headers, b"".join(body))
