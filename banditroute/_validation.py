"""Pydantic models that raise banditroute's own `InvalidInput` with a readable message."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import InvalidInput

__all__ = ["StrictModel", "describe_validation_error"]


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``field == value, must be ...`` in pydantic's words."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "value"
        shown = repr(err.get("input"))
        if len(shown) > 60:
            shown = shown[:57] + "..."
        message = err["msg"]
        message = message[0].lower() + message[1:] if message else message
        parts.append(f"{field} == {shown}: {message}")
    return "; ".join(parts)


class StrictModel(BaseModel):
    """Frozen, no unknown fields, errors raised as `error_class` (an `InvalidInput`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    error_class: ClassVar[type[InvalidInput]] = InvalidInput

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise self.error_class(describe_validation_error(exc)) from None
