"""The OpenAPI document says what the API really answers: every error is
`{"detail": "...", "code": "...", "field": ..., "limit": ..., "actual": ...}`.

FastAPI documents 422 with its own list-of-objects schema, but our validation handler answers
one readable sentence; this rewrites the document to match and documents the errors each
endpoint can give (400 unreadable body, 413 too long, 422 invalid, 503 busy). It also gives
the two request and response models that share a class name in different modules readable
names (`NetworkPredictIn` rather than `app__schemas__network__PredictIn`)."""

from __future__ import annotations

import json
import re

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

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
    "400": "The body could not be read as JSON (for example it is not valid UTF-8).",
    "413": "The text or request body is longer than the configured limit.",
    "422": "A field is missing, of the wrong type or out of range; `detail` names it.",
    "503": "The server is busy; retry after the `Retry-After` seconds.",
}
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


def _error_codes(method: str, operation: dict) -> list[str]:
    """The errors an operation can answer. Without a body or parameters nothing can be malformed,
    too long or invalid; the GET endpoints read what is loaded and never wait for the model (503)."""
    if method != "get":
        return list(ERROR_RESPONSES)
    # A GET with a query (the JSON twins of pages) reads text and may run the model.
    return ["413", "422", "503"] if operation.get("parameters") else []


OPENAI_ERROR_RESPONSES = {
    "400": "A parameter is missing, invalid or over a limit (the prompt over the context: code "
           "`context_length_exceeded`); `error.param` names it.",
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
                for code in ("400", "413", "422", "503"):
                    responses.pop(code, None)
                if path.startswith("/v1/"):
                    _openai_errors(method, responses)
                    continue
                for code in _error_codes(method, operation):
                    responses[code] = {"description": ERROR_RESPONSES[code], "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        renames = {name: readable_name(name) for name in components if readable_name(name) != name}
        clash = set(renames.values()) & (set(components) - set(renames))
        if clash or len(set(renames.values())) != len(renames):
            raise RuntimeError(f"OpenAPI schema names would clash: {sorted(clash) or renames}")
        doc = _rename_refs(doc, renames)
        components = doc["components"]["schemas"]
        doc["components"]["schemas"] = {renames.get(name, name): schema for name, schema in components.items()}
        doc["components"]["schemas"]["Error"] = ERROR_SCHEMA
        referenced = set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(doc)))
        if "ErrorOut" not in referenced:  # the error model routers name; every error is `Error` here
            doc["components"]["schemas"].pop("ErrorOut", None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi
