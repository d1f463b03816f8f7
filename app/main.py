"""The ASGI app: `app.main:app`. `create_app` builds it; the lifespan loads the model once."""

from __future__ import annotations

import gc

# No cyclic garbage collection while the app is imported and built: importing torch, pydantic and
# the schemas creates a few hundred thousand objects and nothing to collect, and each full
# collection walks all of them (measured on the 2-core Zen 3: importing torch and the app 3.5-4.1 s
# with collections, 2.8-3.4 s without). Re-enabled at the end of this module, with what was built
# frozen (gc.freeze) so the server's later full collections skip the import's objects.
_COLLECTING = gc.isenabled()
gc.disable()

import asyncio
import json
import logging
import re
from contextlib import asynccontextmanager
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.concurrency import run_in_threadpool

from app.engine import Engine, Overloaded, load_engine
from app.schemas.common import BeyondLimit
from model.errors import InputError
from app import docs, inprocess, openapi
from app.routers import (attention, attribution, embeddings, generate, heads, inside, learn, model_info, network, pages,
                         predict, tokens)
from app.routers import openai as openai_api
from app.views import openai as openai_view
from app.parsing import HeadAsGet, JsonBodyGuard
from app.security import BodySizeLimit, SecurityHeaders
from app.settings import Settings

log = logging.getLogger("transformer_tour")
ROOT = Path(__file__).resolve().parents[1]

DESCRIPTION = """
A real pretrained transformer (SmolLM2-135M-Instruct by default) running on the CPU, with JSON
endpoints for every step from text to next token: tokens, embeddings, attention weights per
head, next-token probabilities and generation. Bad input gets a 4xx whose `detail` says what
to change. The pages of the site read these same endpoints.
"""


# pydantic names the member of a union it tried inside an error's location (`prompt.str`,
# `prompt.list[int].0`, `messages.0.content.list[TextPart].0.type`): not a field the client sent.
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|none|[\w-]+\[.*\])$")


def _field_path(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query")
             and not (isinstance(p, str) and _UNION_MEMBER.match(p))]
    return ".".join(parts) or "body"


def _body_hint(request: Request) -> str:
    """What to send to this endpoint: its first documented example, else its required fields."""
    try:
        spec = request.app.openapi()  # built once, then kept by FastAPI
        operation = spec["paths"][request.url.path][request.method.lower()]
        content = operation["requestBody"]["content"]["application/json"]
        examples = content.get("examples") or {}
        if examples:
            return "send a JSON object such as " + json.dumps(next(iter(examples.values()))["value"])
        name = content["schema"]["$ref"].rsplit("/", 1)[-1]
        required = spec["components"]["schemas"][name].get("required", [])
        return "send a JSON object" + (f" with the fields {', '.join(required)}" if required else "")
    except (KeyError, StopIteration, TypeError):
        return "send a JSON object"


def _short(value, limit: int = 60) -> str:
    """A rejected value for a message: its repr, long strings cut with an ellipsis inside the quotes."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit] + "…"
    text = repr(value)
    return text if len(text) <= limit + 10 else text[:limit] + "…"


_LIMIT_KEYS = ("le", "lt", "ge", "gt", "max_length", "min_length")


def _answer(request: Request, status: int, content: dict, headers: dict | None = None) -> JSONResponse:
    """An error answer: the native shape under /api, OpenAI's `{"error": {...}}` under /v1."""
    if request.url.path.startswith("/v1/"):
        return openai_view.reshape(status, content, headers)
    return JSONResponse(status_code=status, content=content, headers=headers)


def _error(detail: str, code: str, field: str | None = None, limit=None, actual=None) -> dict:
    """Every 4xx/5xx JSON body: `detail` for people, `code`/`field`/`limit`/`actual` for programs."""
    return {"detail": detail, "code": code, "field": field, "limit": limit, "actual": actual}


def _limit_and_actual(err: dict) -> tuple:
    """The bound a pydantic error names (le=10, max_length=4, ...) and the value or length that broke it."""
    ctx = err.get("ctx") or {}
    if isinstance(ctx.get("error"), BeyondLimit):
        return ctx["error"].limit, ctx["error"].actual
    key = next((k for k in _LIMIT_KEYS if isinstance(ctx.get(k), (int, float)) and not isinstance(ctx[k], bool)),
               None)
    if key is None:
        return None, None
    got = err.get("input")
    if key.endswith("_length"):
        return ctx[key], len(got) if hasattr(got, "__len__") else None
    return ctx[key], got if isinstance(got, (int, float)) and not isinstance(got, bool) else None


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 whose `detail` is one readable sentence per problem, naming the field; `code`, `field`,
    `limit` and `actual` describe the first problem."""
    problems, first = [], None
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            problems.append(f"the body is not valid JSON; {_body_hint(request)}")
            first = first or {"code": "invalid_json", "field": "body"}
            continue
        where = _field_path(err.get("loc", ()))
        if err.get("type") == "missing" and where == "body":
            problems.append(f"the request has no JSON body; {_body_hint(request)} (/docs describes every field)")
            first = first or {"code": "missing_body", "field": "body"}
            continue
        if err.get("type") in ("model_attributes_type", "dict_type", "model_type") and where == "body":
            problems.append(f"the body is not a JSON object; {_body_hint(request)}")
            first = first or {"code": "invalid", "field": "body"}
            continue
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, InputError):  # a model validator's check, naming its own field and code
            problems.append(cause.detail)
            first = first or {"code": cause.code, "field": cause.field, "limit": cause.limit, "actual": cause.actual}
            continue
        got = err.get("input")
        shown = f" (got {_short(got)})" if got is not None and not isinstance(got, (dict, list)) else ""
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        # Model-level checks name their field in the message already.
        problems.append(message + shown if where == "body" else f"{where}: {message}{shown}")
        if first is None:
            limit, actual = _limit_and_actual(err)
            first = {"code": "missing" if err.get("type") == "missing" else "invalid", "field": where,
                     "limit": limit, "actual": actual}
    return _answer(request, 422, _error("; ".join(problems), **(first or {"code": "invalid"})))


HTTP_CODES = {400: "unparsable_body", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail, field = exc.detail, None
    if exc.status_code == 400 and detail == "There was an error parsing the body":
        detail = ("The body could not be parsed: send UTF-8 encoded JSON, such as "
                  '{"text": "The capital of France is"}')
        field = "body"
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"Nothing is at {request.url.path}; /docs lists every endpoint."
    if exc.status_code == 405 and detail == "Method Not Allowed":
        detail = f"{request.url.path} does not answer {request.method}; /docs lists the methods it does answer."
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return _answer(request, exc.status_code, _error(str(detail), code, field), exc.headers)


async def input_error(request: Request, exc: InputError) -> JSONResponse:
    """The model layer's `InputError`, mapped to HTTP here and nowhere else."""
    return _answer(request, exc.status, exc.body())


BUSY = "The model is busy with other requests; retry in a few seconds."


async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
    return _answer(request, 503, _error(BUSY, "busy"), {"Retry-After": "2"})


async def _first_request(app: FastAPI) -> None:
    """One page asked of the app itself before it serves anyone: the first request through Starlette
    builds its middleware stack and routes, and the first page render reads the model's shape for the
    template (about 40 ms here, otherwise paid by a newcomer's first visit). /tokens runs no model pass."""
    try:
        await inprocess.get(app, "/tokens?text=", host="warm-up")
    except Exception:  # a warm-up must never stop the app from starting
        log.exception("warm-up request")


async def _on_a_thread_that_ends(fn, *args):
    """`fn(*args)` on a thread of its own that ends when it returns: for the model's loading. A thread
    that ran torch on several threads keeps an OpenMP team of helper threads for as long as it lives,
    and once libgomp manages more threads than there are cores it spins only 100 rounds instead of
    GOMP_SPINCOUNT's (app/__init__.py) at every barrier of every pass, then sleeps (a shared pool thread from
    run_in_threadpool lives on). Measured: a pass on the model thread slept at a barrier about 250
    times instead of about 20, and took 45-49 ms instead of 39 (docs/PERFORMANCE.md)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="load") as thread:
        return await asyncio.wrap_future(thread.submit(fn, *args))


def _one_torch_thread_here() -> None:
    """Torch work on the event loop's thread (small: /learn's settings build the toy model to count its
    parameters) runs on one thread, so this thread never gets an OpenMP team either (see
    `_on_a_thread_that_ends`; measured: a /learn visit left one more OpenMP thread and passes slept
    about 300 times instead of about 70). get_num_threads first: torch sets a thread's count from the
    process-wide one at its first parallel work, and the model thread sets that one per job."""
    torch.get_num_threads()
    torch.set_num_threads(1)


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes as the app's own, where `app.include_router` would wrap them in an inclusion.
    An APIRouter has already given each of its routes its prefix, tags and responses; FastAPI (0.165)
    builds every included route a second time, for its inclusion, at the first request: 0.24 s of each
    start on the 2-core machine, for routes that come out the same (the OpenAPI schema and the answers
    are identical). Our routers need nothing an inclusion would combine (no include-time prefix,
    dependencies, response class or body limit). What this gives up: `app.dependency_overrides`, which
    FastAPI hands a route only through an inclusion (each route's handler is built with its overrides'
    provider); nothing uses it, as tests build an app around the engine they want (`create_app(engine=)`).
    A router that needs either goes through `include_router`."""
    app.router.routes.extend(router.routes)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app. Tests pass a ready `engine` (e.g. the tiny random model) to skip loading."""
    settings = settings or (engine.settings if engine else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        warming = asyncio.ensure_future(run_in_threadpool(pages.warm))  # beside the model's loading
        if app.state.engine is None:
            app.state.engine = await _on_a_thread_that_ends(load_engine, settings)
            log.info("model loaded from %s in %.1f s", app.state.engine.source, app.state.engine.load_seconds)
            _one_torch_thread_here()
        await warming
        await _first_request(app)
        yield

    app = FastAPI(title="transformer-tour", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # app/docs.py serves /docs from local files
    app.state.settings = settings
    app.state.engine = engine
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Overloaded, overloaded)
    app.add_exception_handler(InputError, input_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(openai_view.OpenAIHTTPError, openai_view.openai_error)
    # Innermost: a body that is not JSON (415) or nested too deep (422).
    app.add_middleware(JsonBodyGuard)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Large answers (all 270 heads, embeddings maps) shrink several-fold; event streams are
    # left alone by the middleware so tokens still arrive one by one.
    app.add_middleware(GZipMiddleware, minimum_size=2048, compresslevel=5)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)  # outermost: a HEAD's headers are the GET's as sent (compressed too)

    for module in (model_info, tokens, network, embeddings, attention, heads, inside, learn, predict, attribution,
                   generate, openai_api, pages):
        _add_routes(app, module.router)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    openapi.install(app)
    docs.install(app)
    return app


try:
    app = create_app()
finally:
    gc.freeze()
    if _COLLECTING:
        gc.enable()
