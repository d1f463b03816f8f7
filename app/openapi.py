"""The OpenAPI document says what the API really answers: every error is
`{"detail": "...", "code": "...", "field": ..., "limit": ..., "actual": ...}`.

FastAPI documents 422 with its own list-of-objects schema, but our validation handler answers
one readable sentence; this rewrites the document to match and documents the errors each
endpoint can give (400 unreadable body, 413 too long, 422 invalid, 503 busy). It also gives
the two request and response models that share a class name in different modules readable
names (`NetworkPredictIn` rather than `app__schemas__network__PredictIn`).

So that client generators (openapi-python-client) accept it: every schema's `title` is its
unique component name, operation ids are readable (`post_logit_lens`), event streams name the
schema of each event's data (`x-events`), the loaded model's index ranges (layers, heads, token
ids) are written as minimum/maximum, and integer bounds are integers. The /v1 endpoints document
OpenAI's error shape."""

from __future__ import annotations

import json
import re

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["detail", "code"],
    "properties": {
        "detail": {"type": "string", "description": "What was wrong and what to change, in one sentence."},
        "code": {"type": "string", "description": "A stable name of the problem for programs to test: "
                 "'too_many_tokens', 'too_many_characters', 'too_long', 'body_too_large', 'empty', "
                 "'out_of_range', 'invalid', 'missing', 'invalid_json', 'missing_body', 'busy', 'not_found', ..."},
        "field": {"type": ["string", "null"], "description": "The request field at fault ('text', 'layer', "
                  "'ablate.0.head', 'body'), or null."},
        "limit": {"type": ["number", "null"], "description": "The limit the value broke, where there is one."},
        "actual": {"type": ["number", "null"], "description": "The value, count or length that broke it."},
    },
}
ERROR_RESPONSES = {
    "400": "The body could not be decoded: it is not valid UTF-8.",
    "413": "The text or request body is longer than the configured limit.",
    "415": "The body is not sent as JSON: set the header `Content-Type: application/json`.",
    "422": "A field is missing, of the wrong type or out of range, the body is not a valid JSON object, or "
           "the JSON nests deeper than 32 levels; `detail` names it.",
    "503": "The server is busy; retry after the `Retry-After` seconds.",
}
# GETs without parameters that run the model: measured the first time they are asked (then kept), so a
# first request past the model's queue is answered 503 `busy` like any other.
MEASURED_ON_FIRST_REQUEST = {"/api/heads", "/api/embeddings/first-position"}
# FastAPI's name for a model whose class name another module also uses.
_QUALIFIED = re.compile(r"^app__schemas__(?P<module>[a-z_]+)__(?P<name>\w+)$")


def readable_name(qualified: str) -> str:
    """`app__schemas__network__PredictIn` -> `NetworkPredictIn`; `app__schemas__predict__PredictIn`
    -> `PredictIn` (the module already names it)."""
    match = _QUALIFIED.match(qualified)
    if not match:
        return qualified
    module = "".join(part.title() for part in match["module"].split("_"))
    name = match["name"]
    return name if name.startswith(module) else module + name


def _rename_refs(node, renames: dict[str, str]):
    if isinstance(node, dict):
        return {key: (_ref(value, renames) if key == "$ref" else _rename_refs(value, renames))
                for key, value in node.items()}
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


def _ref(value: str, renames: dict[str, str]) -> str:
    prefix = "#/components/schemas/"
    if value.startswith(prefix) and value[len(prefix):] in renames:
        return prefix + renames[value[len(prefix):]]
    return value


def _error_codes(path: str, method: str, operation: dict) -> list[str]:
    """The errors an operation can answer. Without a body or parameters nothing can be malformed,
    too long or invalid; a GET without parameters reads what is loaded and never waits for the model,
    except those that measure the model on their first request (503 `busy`)."""
    if method != "get":
        return list(ERROR_RESPONSES)
    # A GET with a query (the JSON twins of pages) reads text and may run the model.
    if operation.get("parameters"):
        return ["413", "422", "503"]
    return ["503"] if path in MEASURED_ON_FIRST_REQUEST else []


OPENAI_ERROR_RESPONSES = {
    "400": "A parameter is missing, invalid or over a limit (the prompt over the context: code "
           "`context_length_exceeded`); `error.param` names it.",
    "415": "The body is not sent as JSON: set the header `Content-Type: application/json`.",
    "503": "The server is busy; retry after the `Retry-After` seconds.",
}


def _openai_errors(method: str, responses: dict) -> None:
    """The /v1 endpoints answer errors in OpenAI's shape, a fixable request as 400 (never 422); a
    body over the server's byte limit is still refused with the native 413 before it is read."""
    if method != "post":
        return
    for code, description in OPENAI_ERROR_RESPONSES.items():
        responses[code] = {"description": description, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}}}
    responses["413"] = {"description": ERROR_RESPONSES["413"], "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


# --- readable operation ids ---------------------------------------------------------------------


def operation_id(path: str, method: str, operation: dict) -> str:
    """`post_logit_lens` for POST /api/logit-lens, `get_attention` for GET /api/attention; the
    OpenAI-compatible endpoints keep OpenAI's own names (`create_chat_completion`, `list_models`),
    which are their handlers' names."""
    if path.startswith("/v1/"):
        return operation["operationId"].split("_v1_")[0]
    words = re.sub(r"[^a-z0-9]+", "_", path.removeprefix("/api/").lower()).strip("_")
    return f"{method}_{words}"


# --- the model's limits, where JSON Schema can say them ------------------------------------------

# (schema, property) -> what its integer counts: a layer, a query head, a residual-stream layer
# (0 = the embedding .. n_layers) or a token id. The server checks each with model.errors.check_index.
MODEL_INDEXES = {
    ("AttentionIn", "layer"): "layer", ("AttentionIn", "head"): "head",
    ("InsideIn", "layer"): "layer", ("InsideIn", "head"): "head",
    ("HeadIn", "layer"): "layer", ("HeadIn", "head"): "head",
    ("MapIn", "layer"): "resid_layer", ("SentencesIn", "layer"): "resid_layer",
    ("AttributionIn", "target"): "token", ("AttributionIn", "contrast"): "token",
    ("AttentionIn", "append_ids"): "token", ("PredictIn", "append_ids"): "token", ("LensIn", "append_ids"): "token", ("SurpriseIn", "append_ids"): "token",
    ("GenerateIn", "append_ids"): "token", ("DetokenizeIn", "ids"): "token", ("CompletionIn", "prompt"): "token",
}
# GET query parameters: (path, name) -> the same kinds.
QUERY_INDEXES = {
    ("/api/attention", "layer"): "layer", ("/api/attention", "head"): "head",
    ("/api/inside", "layer"): "layer", ("/api/inside", "head"): "head",
    ("/api/heads/probe", "layer"): "layer", ("/api/heads/probe", "head"): "head",
    ("/api/embeddings/map", "layer"): "resid_layer",
}


def _largest(app: FastAPI) -> dict[str, int] | None:
    engine = getattr(app.state, "engine", None)
    if engine is None:
        return None
    cfg = engine.cfg
    return {"layer": cfg.n_layers - 1, "head": cfg.n_heads - 1, "resid_layer": cfg.n_layers,
            "token": engine.tokenizer.vocab_size - 1}


def _bound_integers(schema: dict, largest: int) -> None:
    """Every integer inside `schema` (itself, an array's items, a branch of anyOf) is 0..largest."""
    if schema.get("type") == "integer":
        schema["minimum"], schema["maximum"] = 0, largest
    for branch in schema.get("anyOf", []):
        _bound_integers(branch, largest)
    if isinstance(schema.get("items"), dict):
        _bound_integers(schema["items"], largest)


def _model_limits(doc: dict, largest: dict[str, int]) -> None:
    schemas = doc["components"]["schemas"]
    for (name, prop), kind in MODEL_INDEXES.items():
        target = schemas.get(name, {}).get("properties", {}).get(prop)
        if target is not None:
            _bound_integers(target, largest[kind])
    for path, item in doc["paths"].items():
        for parameter in item.get("get", {}).get("parameters", []):
            kind = QUERY_INDEXES.get((path, parameter.get("name")))
            if kind is not None:
                _bound_integers(parameter["schema"], largest[kind])


INT64_MAX = 2**63 - 1  # the seeds' bound (torch's generator takes an int64)


def _integer_bounds(node) -> None:
    """FastAPI's OpenAPI model writes `ge=1` on an int as 1.0; an integer's bounds are written as
    integers. A float has 53 bits: `le=2**63 - 1` came back as 2**63, a seed the server refuses, so
    that float is written as int64's largest again (no bound of the API is 2**63 itself)."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if isinstance(node.get(key), float) and node[key].is_integer():
                    node[key] = INT64_MAX if node[key] == float(INT64_MAX) else int(node[key])
        for value in node.values():
            _integer_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _integer_bounds(value)


# --- event streams --------------------------------------------------------------------------------


def _event_streams() -> dict[tuple[str, str], tuple[str, dict]]:
    """(path, method) -> (how the stream is framed, event name -> the model of its `data`)."""
    from app.schemas import generate, learn, openai

    return {
        ("/api/generate", "post"): ("event", {"start": generate.GenerateStart, "token": generate.GeneratedToken,
                                              "done": generate.GenerateDone, "error": ErrorEvent}),
        ("/api/learn", "post"): ("event", {"start": learn.StartOut, "progress": learn.Progress,
                                           "done": learn.LearnOut, "error": ErrorEvent}),
        ("/v1/completions", "post"): ("data", {"chunk": openai.Completion}),
        ("/v1/chat/completions", "post"): ("data", {"chunk": openai.ChatCompletionChunk}),
    }


class ErrorEvent(BaseModel):
    """A stream's `error` event, instead of `done`."""

    detail: str
    code: str


FRAMING = {
    "event": "Server-sent events: each is an `event: <name>` line, a `data: <JSON>` line and a blank line. "
             "`x-events` gives the schema of each event's data.",
    "data": "Server-sent events as the OpenAI API sends them: `data: <JSON chunk>` lines separated by blank "
            "lines, ending with `data: [DONE]`; `x-events.chunk` is each chunk's schema (a server too busy to "
            "go on sends `data: {\"error\": {...}}`, as OpenAIError).",
}


def _describe_streams(doc: dict) -> None:
    schemas = doc["components"]["schemas"]
    for (path, method), (framing, events) in _event_streams().items():
        operation = doc["paths"].get(path, {}).get(method)
        if operation is None:
            continue
        refs = {}
        for event, model in events.items():
            found = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in found.pop("$defs", {}).items():
                schemas.setdefault(name, sub)
            schemas.setdefault(model.__name__, found)
            refs[event] = {"$ref": f"#/components/schemas/{model.__name__}"}
        content = operation["responses"]["200"].setdefault("content", {})
        stream = content.setdefault("text/event-stream", {})  # keeps the route's own `example`
        stream["schema"] = {"type": "string", "description": FRAMING[framing], "x-events": refs}


def _own_description(declared: dict | None, code: str) -> str:
    """A route's own words for an error it documents beyond the common ones (POST /api/learn's 503
    `training_busy`), else the common description. The routers' shared `ERRORS` say the common thing."""
    from app.schemas.common import ERRORS

    description = (declared or {}).get("description")
    common = ERRORS.get(int(code), {}).get("description")
    return description if description and description != common else ERROR_RESPONSES[code]


def install(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        for path, path_item in doc.get("paths", {}).items():
            for method, operation in path_item.items():
                responses = operation.setdefault("responses", {})
                declared = {code: responses.pop(code) for code in ("400", "413", "415", "422", "503")
                            if code in responses}
                if path.startswith("/v1/"):
                    _openai_errors(method, responses)
                    continue
                for code in _error_codes(path, method, operation):
                    responses[code] = {"description": _own_description(declared.get(code), code), "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        renames = {name: readable_name(name) for name in components if readable_name(name) != name}
        clash = set(renames.values()) & (set(components) - set(renames))
        if clash or len(set(renames.values())) != len(renames):
            raise RuntimeError(f"OpenAPI schema names would clash: {sorted(clash) or renames}")
        doc = _rename_refs(doc, renames)
        components = doc["components"]["schemas"]
        doc["components"]["schemas"] = {renames.get(name, name): schema for name, schema in components.items()}
        doc["components"]["schemas"]["Error"] = ERROR_SCHEMA
        _describe_streams(doc)
        for name, schema in doc["components"]["schemas"].items():
            schema["title"] = name  # a generator names its classes by title: each must be unique
        ids = {}
        for path, path_item in doc["paths"].items():
            for method, operation in path_item.items():
                operation["operationId"] = operation_id(path, method, operation)
                ids.setdefault(operation["operationId"], []).append(f"{method.upper()} {path}")
        if any(len(v) > 1 for v in ids.values()):
            raise RuntimeError(f"OpenAPI operation ids repeat: {[v for v in ids.values() if len(v) > 1]}")
        largest = _largest(app)
        if largest is not None:
            _model_limits(doc, largest)
        _integer_bounds(doc)
        referenced = set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(doc)))
        if "ErrorOut" not in referenced:  # the error model routers name; every error is `Error` here
            doc["components"]["schemas"].pop("ErrorOut", None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi
