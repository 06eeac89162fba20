"""The HTTP surface of the core (contract section 10) and helpers for plugins' routes."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from sanic import Blueprint, Request, json
from sanic.exceptions import RequestCancelled, SanicException
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse, raw

from core import wire
from core.database import ping_database, store_unavailable
from core.errors import ErrorCode, LvngError
from core.metrics import exposition
from core.validation import Model, validate_object

if TYPE_CHECKING:
    from core.identity import Identity
    from core.platform import Platform

log = logging.getLogger("lvng.http")

core_routes = Blueprint("core")


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.ctx.platform
    return platform


# Requests that change something: each counts as one event against the caller's
# per-user window (contract section 13), as a socket event does.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def authenticate(request: Request) -> Identity:
    """The caller's identity from `Authorization: Bearer <JWT>`, or LvngError (401).

    A write (`WRITE_METHODS`) also counts against the caller's rate-limit window, the one
    its sockets share (a `service` token's own): over it, LvngError(RATE_LIMITED), a 429
    with `Retry-After`. Every route that authenticates is covered, whichever plugin's."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise LvngError(ErrorCode.AUTH_REQUIRED, "send Authorization: Bearer <JWT>")
    platform = platform_of(request)
    identity = platform.verifier.verify(token.strip())
    if request.method in WRITE_METHODS and not getattr(request.ctx, "lvng_charged", False):
        platform.user_windows.charge(identity)
    return identity


async def charge_shared_write(request: Request) -> None:
    """With Redis: a write's charge in the window every node shares (issue 26), made before
    the route (`authenticate` is synchronous). A request without a valid token is left to
    the route's `authenticate`."""
    platform = platform_of(request)
    windows = platform.user_windows
    if windows.shared is None or request.method not in WRITE_METHODS:
        return
    if request.path.startswith("/socket.io"):
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return
    try:
        identity = platform.verifier.verify(token.strip())
    except LvngError:
        return
    request.ctx.lvng_charged = True
    await windows.charge_shared(identity)
    if not windows.is_shared(identity.organization_id, identity.user_id):
        # Its events count on this node: the write does too, so this node sees them all.
        windows.charge(identity)


def parse_body(request: Request, schema: type[Model]) -> Model:
    """The JSON body validated by `schema`, or LvngError(VALIDATION_ERROR).

    The body passes the same checks as a socket payload (core.wire): no NaN or Infinity,
    nesting at most 32 levels, text without NUL or lone surrogates.
    """
    try:
        body = wire.loads(request.body) if request.body else None
    except ValueError:
        raise LvngError(ErrorCode.VALIDATION_ERROR, "the body is not valid JSON") from None
    if isinstance(body, wire.Refused):
        raise LvngError(ErrorCode.VALIDATION_ERROR, body.reason)
    if isinstance(body, dict):
        wire.check_value(body)
    return validate_object(schema, body, "the body must be a JSON object")


def error_response(code: ErrorCode, message: str, status: int, **extra: Any) -> HTTPResponse:
    """`{"error": {code, message, ...extra}}`; a `retryAfterMs` is also a `Retry-After`
    header (whole seconds, rounded up)."""
    headers = {}
    retry_after_ms = extra.get("retryAfterMs")
    if isinstance(retry_after_ms, int) and retry_after_ms > 0:
        headers["Retry-After"] = str(-(-retry_after_ms // 1000))
    return json(
        {"error": {"code": code.value, "message": message, **extra}},
        status=status,
        headers=headers,
    )


@core_routes.get("/healthz")
async def healthz(request: Request) -> HTTPResponse:
    return json({"status": "ok"})


# A store that has not answered within this many seconds counts as not ready, so neither
# /readyz nor a /metrics scrape hangs on a store that went away.
STORE_CHECK_TIMEOUT = 2.0


async def check_stores(platform: Platform) -> dict[str, str]:
    """Ping the database and (when configured) Redis; set `lvng_ready{store}` to 1 or 0.

    Returns the failed stores with why, empty when every store answered."""
    checks = {"database": ping_database}
    if platform.redis is not None:
        checks["redis"] = platform.redis.ping
    failed: dict[str, str] = {}
    for store, ping in checks.items():
        try:
            await asyncio.wait_for(ping(), STORE_CHECK_TIMEOUT)
        except TimeoutError:
            failed[store] = f"no answer within {STORE_CHECK_TIMEOUT:g} s"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            failed[store] = f"{type(exc).__name__}: {exc}"
        platform.metrics.ready.labels(store=store).set(0 if store in failed else 1)
    return failed


@core_routes.get("/readyz")
async def readyz(request: Request) -> HTTPResponse:
    """Unauthenticated, so it names the failed stores and nothing more; the reasons go
    to the server's log."""
    failed = await check_stores(platform_of(request))
    for store, why in failed.items():
        log.warning("readyz: %s: %s", store, why)
    if "redis" in failed:
        # Connection caps and event limits count on each node meanwhile (issue 26).
        body = {"status": "unavailable", "failed": list(failed), "limits": "per-node"}
        return json(body, status=503)
    if failed:
        return json({"status": "unavailable", "failed": list(failed)}, status=503)
    return json({"status": "ready"})


@core_routes.get("/asyncapi.json")
async def asyncapi(request: Request) -> HTTPResponse:
    """The AsyncAPI 3.0 document of the enabled plugins' events (public, like the
    reference it describes)."""
    from core.asyncapi import document

    platform = platform_of(request)
    return json(document(platform.events, host=request.host, plugins=platform.plugins.names))


@core_routes.get("/lvng.d.ts")
async def typescript(request: Request) -> HTTPResponse:
    """TypeScript declarations of the enabled plugins' events (`lvng typescript`), made
    from the same schemas as `/asyncapi.json`; public like it."""
    from core.typescript import declarations

    platform = platform_of(request)
    text = declarations(platform.events, plugins=platform.plugins.names)
    return raw(
        text.encode(),
        content_type="application/typescript; charset=utf-8",
        headers={"content-disposition": 'inline; filename="lvng.d.ts"'},
    )


@core_routes.get("/metrics")
async def metrics(request: Request) -> HTTPResponse:
    platform = platform_of(request)
    await check_stores(platform)  # lvng_ready is as fresh as the scrape
    body, content_type = exposition(platform.metrics_registry)
    return raw(body, content_type=content_type)


def _end_engineio_session(request: Request) -> None:
    """A polling POST over Sanic's body limit never reaches Engine.IO, which would end the
    session itself (as it does for a body over its own 1 MB buffer): end it here, or the
    client, whose writer has given up, would linger until the ping timeout."""
    sid = request.args.get("sid")
    if request.path.rstrip("/") != "/socket.io" or not sid:
        return
    sio = platform_of(request).sio
    sio.start_background_task(sio.eio.disconnect, sid)


class JSONErrorHandler(ErrorHandler):
    """Every HTTP error as `{error: {code, message}}`; never a traceback."""

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, LvngError):
            return error_response(
                exception.code, exception.message, exception.http_status, **exception.extra
            )
        if isinstance(exception, RequestCancelled):  # the client went away mid-request
            return error_response(ErrorCode.UNAVAILABLE, "request cancelled", 503)
        if store_unavailable(exception):
            log.error(
                "HTTP %s %s: store unavailable: %s: %s",
                request.method,
                request.path,
                type(exception).__name__,
                exception,
            )
            return error_response(ErrorCode.UNAVAILABLE, "a backing store is unavailable", 503)
        if isinstance(exception, SanicException):
            status = exception.status_code
            code = {
                400: ErrorCode.VALIDATION_ERROR,
                401: ErrorCode.AUTH_REQUIRED,
                403: ErrorCode.FORBIDDEN,
                404: ErrorCode.NOT_FOUND,
                413: ErrorCode.PAYLOAD_TOO_LARGE,
                503: ErrorCode.UNAVAILABLE,
            }.get(status, ErrorCode.VALIDATION_ERROR if status < 500 else ErrorCode.INTERNAL_ERROR)
            message = str(exception) if status < 500 else "internal error"
            if status == 413:
                _end_engineio_session(request)
            return error_response(code, message, status)
        log.error("HTTP %s %s failed", request.method, request.path, exc_info=exception)
        return error_response(ErrorCode.INTERNAL_ERROR, "internal error; it has been logged", 500)
