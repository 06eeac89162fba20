"""One validation path for everything a client sends: socket payloads, HTTP bodies and
query strings all fail alike, with `VALIDATION_ERROR` and a message naming the field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from core.errors import ErrorCode, LvngError
from core.identity import is_valid_id

Model = TypeVar("Model", bound=BaseModel)


def describe_validation_error(exc: ValidationError) -> str:
    """One readable line: `content: String should have at most 10000 characters`."""
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def validate_object(
    schema: type[Model], value: Any, not_object: str = "the payload must be an object"
) -> Model:
    """`value` (a JSON object) validated by `schema`, or LvngError(VALIDATION_ERROR)."""
    if not isinstance(value, dict):
        raise LvngError(ErrorCode.VALIDATION_ERROR, not_object)
    try:
        return schema.model_validate(value)
    except ValidationError as exc:
        raise LvngError(ErrorCode.VALIDATION_ERROR, describe_validation_error(exc)) from None


def validate_payload(schema: type[BaseModel] | None, args: tuple[Any, ...]) -> Any:
    """An event's arguments as its handler takes them: one object (absent means `{}`)."""
    if len(args) > 1:
        raise LvngError(ErrorCode.VALIDATION_ERROR, "send one payload object per event")
    payload = args[0] if args else None
    if schema is None:
        if payload is not None and not isinstance(payload, dict):
            raise LvngError(ErrorCode.VALIDATION_ERROR, "the payload must be an object")
        return payload
    return validate_object(schema, {} if payload is None else payload)


def require_id(value: str, what: str) -> str:
    """`value` if it is an id of the contract's shape (a path part, say), else
    LvngError(VALIDATION_ERROR) naming `what`."""
    if not is_valid_id(value):
        raise LvngError(
            ErrorCode.VALIDATION_ERROR, f"{what} must be 1 to 128 characters of A-Z a-z 0-9 _ . : -"
        )
    return value
