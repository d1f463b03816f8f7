"""Request parsing that nothing can break, in front of FastAPI's own:

- a POST body to /api or /v1 must say it is JSON (`Content-Type: application/json`): anything
  else is a 415 that names the header to set (FastAPI would read it as a string and answer a
  puzzling "valid dictionary" error);
- a JSON body nested deeper than `MAX_DEPTH` is a 422 `too_deep`, checked by counting brackets
  before anything parses it recursively (Python's json module, pydantic and our own checks all
  recurse, and a body nested near Python's recursion limit could otherwise end in a 500);
- `HEAD` is answered wherever `GET` is: as the GET, without the body (`HeadAsGet`, the outermost
  middleware, so the headers are the GET's as sent: compressed where the GET is).

Errors have the native shape under /api and OpenAI's under /v1, as every other error."""

from __future__ import annotations

import json
import re
from itertools import accumulate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_DEPTH = 32  # the deepest real request (the network's weights) is 6 levels
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def nesting_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (strings skipped; no recursion)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(_STEP[b] for b in brackets), default=0)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _error_body(path: str, status: int, detail: str, code: str, field: str, limit=None, actual=None):
    if path.startswith("/v1/"):
        return (400 if status == 422 else status), {"error": {
            "message": detail, "type": "invalid_request_error", "param": field, "code": code}}
    return status, {"detail": detail, "code": code, "field": field, "limit": limit, "actual": actual}


async def _answer(send: Send, path: str, status: int, detail: str, code: str, field: str, **extra) -> None:
    status, body = _error_body(path, status, detail, code, field, **extra)
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


# Set in the scope of a HEAD answered as a GET.
HEAD_KEY = "transformer_tour.head"


def is_head(scope: Scope) -> bool:
    """This GET answers a HEAD: its body will be dropped."""
    return bool(scope.get(HEAD_KEY))


class HeadAsGet:
    """A HEAD is answered as the GET, headers only (Content-Length and Content-Encoding stay the GET's).
    The GET's scope says it is a HEAD (`is_head`), so a page does not compute a first picture nobody
    will receive. Outermost: inside the compression middleware, a HEAD's empty body went out
    uncompressed, with the uncompressed length and no Content-Encoding where the GET had both."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET", HEAD_KEY: True}, receive, headers_only)


class JsonBodyGuard:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if scope["method"] not in ("POST", "PUT", "PATCH") or not path.startswith(("/api/", "/v1/")):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending its body
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body.strip():
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            if not _is_json(content_type):
                got = f"Content-Type: {content_type}" if content_type else "no Content-Type header"
                return await _answer(send, path, 415, f"The body must be JSON: set the header Content-Type: "
                                     f"application/json (the request had {got}).", "unsupported_media_type",
                                     "content-type")
            depth = nesting_depth(body)
            if depth > MAX_DEPTH:
                return await _answer(send, path, 422, f"The JSON body nests arrays and objects {depth} levels deep; "
                                     f"no request needs more than {MAX_DEPTH}.", "too_deep", "body",
                                     limit=MAX_DEPTH, actual=depth)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
