"""Shapes shared by several endpoints."""

from __future__ import annotations

import re
import types
import typing

from typing import TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from model.errors import InputError


_SURROGATE = re.compile("[\ud800-\udfff]")


def _find_surrogate(value, path: str) -> str | None:
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _find_surrogate(item, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def _numbers_only(annotation) -> tuple[bool, bool]:
    """(admits a number, admits a bool) for a field's type, looking through Optional/Union,
    Annotated and constrained types (StrictBool is a bool)."""
    if annotation is bool:
        return False, True
    if annotation in (int, float):
        return True, False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated) and args:
        parts = [_numbers_only(a) for a in (args[:1] if typing.get_origin(annotation) is typing.Annotated else args)]
        return any(p[0] for p in parts), any(p[1] for p in parts)
    return False, annotation is typing.Any


def _number_items(annotation):
    """The item type of a list of numbers (list[int], list[int] | None), else None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        found = [_number_items(a) for a in typing.get_args(annotation)]
        return next((f for f in found if f is not None), None)
    if typing.get_origin(annotation) is list and typing.get_args(annotation):
        item = typing.get_args(annotation)[0]
        number, boolean = _numbers_only(item)
        return item if number and not boolean else None
    return None


class BeyondLimit(ValueError):
    """A field validator's check of a bound pydantic cannot state itself (a length after stripping, a
    count inside a list): the 422 handler reports `limit` and `actual` from it, as from max_length."""

    def __init__(self, message: str, *, limit: int | float, actual: int | float):
        super().__init__(message)
        self.limit, self.actual = limit, actual


class StrictModel(BaseModel):
    """Requests reject unknown fields (a misspelt option is an error rather than ignored),
    NaN and infinite numbers, strings that are not valid Unicode, and `true`/`false` where a
    number is expected (Python counts a bool as the integer 1 or 0; a JSON client does not)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value, info: ValidationInfo):
        if isinstance(value, bool) or (isinstance(value, list) and any(isinstance(v, bool) for v in value)):
            annotation = cls.model_fields[info.field_name].annotation
            number, boolean = _numbers_only(annotation)
            if isinstance(value, bool) and number and not boolean:
                raise ValueError(f"Input should be a number, not {str(value).lower()}")
            if isinstance(value, list) and _number_items(annotation) is not None:
                # As text, each is refused where it stands (`ids.0: Input should be a valid integer`).
                return [str(v).lower() if isinstance(v, bool) else v for v in value]
        return value

    @model_validator(mode="before")
    @classmethod
    def _reject_lone_surrogates(cls, data):
        # JSON may carry "\ud800" escapes that decode to half of a UTF-16 pair: not a character,
        # and the tokenizer cannot encode it. Refuse it here, once, for every request model.
        where = _find_surrogate(data, "")
        if where is not None:
            raise InputError(f"{where} contains a lone UTF-16 surrogate (an escape like \\ud800 that is "
                             "half of a character); send valid Unicode text", code="invalid", field=where)
        return data


M = TypeVar("M", bound=BaseModel)


def from_query(model: type[M], renamed: dict[str, str] | None = None, **values) -> M:
    """A request model built from a GET's query parameters (the JSON twin of a page): a value the
    model refuses is the same 422 as in a POST body, never a 500. `renamed` maps a model field to the
    query parameter that carries it (`learning_rate` -> `lr`), so the error names what was sent."""
    try:
        return model(**values)
    except ValidationError as exc:
        errors = exc.errors()
        for err in errors:
            loc = err.get("loc") or ()
            if loc and loc[0] in (renamed or {}):
                err["loc"] = (renamed[loc[0]], *loc[1:])
        raise RequestValidationError(errors) from None


def ids_from_query(value: str, field: str, example: str) -> list[int]:
    """Token ids as a page's URL holds them ("6403,28", spaces allowed): a value that is not ids is a
    422 naming `field`, with `example` as the shape to send."""
    try:
        return [int(s) for s in value.replace(" ", ",").split(",") if s.strip()]
    except ValueError:
        raise InputError(f"{field} is {value[:60]!r}; send token ids separated by commas, such as {example}.",
                         code="invalid", field=field) from None


class TextIn(StrictModel):
    text: str = Field(..., description="The prompt, as typed.", examples=["The capital of France is"])


class TokenOut(BaseModel):
    id: int = Field(..., description="Token id in the model's vocabulary.")
    text: str = Field(..., description="The token's text, leading space included; bytes that are only "
                                       "part of a character show as U+FFFD.")
    start: int = Field(..., description="Character offset where the token starts in the input text.")
    end: int = Field(..., description="Character offset where the token ends (exclusive).")
    display: str = Field(..., description="`text` with whitespace made visible (␣ space, ⏎ newline, ⇥ tab).")
    bytes: str = Field(..., description="The token's raw bytes in hex, e.g. 'f0 9f'.")
    special: bool = Field(False, description="A control token such as <|im_start|>.")
    partial: bool = Field(False, description="The bytes are only part of a UTF-8 character.")


class ErrorOut(BaseModel):
    detail: str | list = Field(..., description="What was wrong with the request and what to change.")
    code: str | None = Field(None, description="A stable, machine-readable name of the problem, e.g. "
                             "'too_many_tokens', 'empty', 'out_of_range' (absent on some framework errors).")
    field: str | None = Field(None, description="The request field at fault, e.g. 'text' or 'layer'.")
    limit: int | float | None = Field(None, description="The limit the value broke, where there is one.")
    actual: int | float | None = Field(None, description="The value that broke it (a length, a count, an index).")


ERRORS = {
    413: {"model": ErrorOut, "description": "The text or body is longer than the configured limit."},
    422: {"model": ErrorOut, "description": "A field is missing, of the wrong type or out of range."},
    503: {"model": ErrorOut, "description": "The server is busy; retry after the Retry-After seconds."},
}
