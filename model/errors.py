"""Errors the caller can fix, raised anywhere below the web layer.

The model layer (and the engine that runs it) knows nothing of HTTP: it raises `InputError`
with a machine-readable `code`, the `field` at fault and, for limits, the `limit` and the
`actual` value. `app/main.py` maps it to an HTTP answer in one place: the status is chosen from
the code (a limit exceeded is 413, anything else 422) and the JSON body carries `detail` (one
sentence that says what to change) beside `code`, `field`, `limit` and `actual`, so a page can
react to a code instead of matching English text.
"""

from __future__ import annotations

# Codes whose answer is 413 Content Too Large; every other code is 422.
TOO_LARGE = {"too_long", "too_many_tokens", "too_many_characters", "too_many_items"}


class InputError(ValueError):
    """A request the caller can fix. `detail` is a sentence that says what to change."""

    def __init__(self, detail: str, *, code: str, field: str | None = None,
                 limit: int | float | None = None, actual: int | float | None = None):
        super().__init__(detail)
        self.detail, self.code, self.field, self.limit, self.actual = detail, code, field, limit, actual

    @property
    def status(self) -> int:
        return 413 if self.code in TOO_LARGE else 422

    def body(self) -> dict:
        return {"detail": self.detail, "code": self.code, "field": self.field,
                "limit": self.limit, "actual": self.actual}


def check_index(field: str, value: int, count: int, what: str, detail: str | None = None) -> None:
    """One check for every 0-based index into the model (layer, head, position, token id, ...).

    `detail` replaces the standard sentence where an endpoint words it for its own request; the
    code, field, limit and actual stay the same."""
    if not 0 <= value < count:
        raise InputError(detail or f"{field} must be between 0 and {count - 1} (this model has {count} {what}, "
                         f"counted from 0); got {value}.", code="out_of_range", field=field, limit=count - 1,
                         actual=value)
