"""Error codes of the contract (section 3) and the exception that carries one."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    AUTH_REQUIRED = "AUTH_REQUIRED"
    AUTH_INVALID = "AUTH_INVALID"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    RATE_LIMITED = "RATE_LIMITED"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    NOT_IN_ROOM = "NOT_IN_ROOM"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNKNOWN_EVENT = "UNKNOWN_EVENT"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


# HTTP status for each code, used by the HTTP API's JSON errors.
HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.AUTH_REQUIRED: 401,
    ErrorCode.AUTH_INVALID: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.NOT_IN_ROOM: 403,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNKNOWN_EVENT: 404,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL_ERROR: 500,
}


class LvngError(Exception):
    """A failure the client is told about: a contract code, a message, optional extra keys.

    Raised by handlers, the dispatcher and HTTP routes alike; `extra` keys (such as
    `retryAfterMs`) are added to the client's `error` payload and the failed ack.
    """

    def __init__(self, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.extra = extra

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message, **self.extra}


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one line naming it."""


class PluginError(Exception):
    """A plugin could not be loaded or registered; the message names the plugin."""


class DatabaseError(Exception):
    """The database could not be reached or migrated at start; the message is one line."""


def not_yours(kind: str, value: str) -> LvngError:
    """The refusal of an id another organization owns (contract section 4): the same words
    for channels, customers and swarm sessions, saying nothing of the owner."""
    return LvngError(ErrorCode.FORBIDDEN, f"you may not use {kind} {value}")


def one_line(exc: BaseException) -> str:
    """`Type: message` on one line, for failures that must print as one line (start-up,
    migrations)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"
