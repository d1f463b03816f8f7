"""The OpenAPI document says what the API really answers: every error is `{"detail": "..."}`.

FastAPI documents 422 with its own list-of-objects schema, but our validation handler answers
one readable sentence; this rewrites the document to match and documents the errors every
model endpoint can give (413 too long, 422 invalid, 503 busy)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string", "description": "What was wrong and what to change."}},
}
ERROR_RESPONSES = {
    "400": "The body could not be read as JSON (for example it is not valid UTF-8).",
    "413": "The text or request body is longer than the configured limit.",
    "422": "A field is missing, of the wrong type or out of range; `detail` names it.",
    "503": "The server is busy; retry after the `Retry-After` seconds.",
}


def install(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        components["Error"] = ERROR_SCHEMA
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        for path_item in doc.get("paths", {}).values():
            for method, operation in path_item.items():
                responses = operation.setdefault("responses", {})
                codes = ERROR_RESPONSES if method == "post" else {"503": ERROR_RESPONSES["503"]}
                for code, description in codes.items():
                    responses[code] = {"description": description, "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        app.openapi_schema = doc
        return doc

    app.openapi = openapi
