"""Response headers that keep user and model text from ever running as code, and the body limit."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline scripts anywhere: every script is a file under /static or /vendor. 'unsafe-inline' for styles
# only: Plotly writes inline style attributes, and every page carries its stylesheets as <style> elements
# (app/stylesheets.py).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
# /docs starts Swagger UI from a small inline script (FastAPI writes it), so
# they get a policy of their own: still nothing from other origins.
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'")

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        is_docs = scope["path"] in DOCS_PATHS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + HEADERS
                headers.append((b"content-security-policy", (DOCS_CSP if is_docs else CSP).encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with 413, before any of it is parsed."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send, int(declared))
        received, too_large, started = 0, False, False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            # A body without Content-Length (chunked) is only found too large while FastAPI reads
            # it, and FastAPI turns any error there into its own 400 "error parsing the body":
            # drop that answer, the 413 below replaces it.
            nonlocal started
            if too_large and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            pass
        if too_large and not started:
            await self._refuse(send, None)  # the body was not read to its end: its size is unknown

    async def _refuse(self, send: Send, actual: int | None) -> None:
        import json
        body = json.dumps({"detail": f"The request body is larger than {self.max_bytes} bytes; "
                                     "send less text (TT_MAX_BODY_BYTES sets the limit).",
                           "code": "body_too_large", "field": "body", "limit": self.max_bytes,
                           "actual": actual}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
