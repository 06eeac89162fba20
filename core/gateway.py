"""The Socket.IO side of the core: handshake, event dispatch, token expiry, disconnect.

Every incoming event passes, in order: rate limit → known event? → payload validation →
handler → ack. A failure of any step reaches the client as an `error` event and as a
failed ack, is counted, and leaves the connection up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import socketio
from pydantic import BaseModel, ConfigDict, Field

from core.clock import iso_from_epoch, now_iso
from core.cluster.owed import CatchingUp
from core.data import Session
from core.database import store_unavailable
from core.departures import Departures
from core.errors import ErrorCode, LvngError
from core.metrics import UNKNOWN_EVENT_LABEL
from core.platform import EventContext
from core.ratelimit import SlidingWindow
from core.reconnects import Reconnects
from core.rooms import Room
from core.transport.closing import SHUTDOWN_REASON, close_transport, release_long_poll
from core.validation import validate_payload
from core.wire import Refused, check_value

if TYPE_CHECKING:
    from core.platform import Platform

log = logging.getLogger("lvng.gateway")

CORE_PLUGIN = "core"


class AuthRefresh(BaseModel):
    model_config = ConfigDict(extra="ignore")
    token: str = Field(min_length=1, max_length=8192)


def _token_from(environ: dict[str, Any], auth: Any) -> Any:
    if isinstance(auth, dict) and auth.get("token") not in (None, ""):
        return auth["token"]
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class Gateway:
    """Binds the platform to python-socketio's connect, disconnect and catch-all events."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.sio: socketio.AsyncServer = platform.sio
        self.metrics = platform.metrics
        # Per user: its sockets' slots are `platform.slots`; the rate-limit window they
        # share with the user's HTTP writes is `platform.user_windows`.
        self.clock: Callable[[], float] = time.time  # the wall clock tokens' exp is on
        self.departures = Departures(platform)
        self.reconnects = Reconnects(platform, getattr(self.sio, "recovery", None))
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        self.sio.on("*", self.on_event)
        platform.events.registrar(CORE_PLUGIN).add("auth:refresh", AuthRefresh, self.refresh)
        # No plugin listens for activity: the hot path does not even look at the clock.
        self._tell_activity = platform.plugins.implements("lvng_client_active")

    # --- handshake ---------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            identity = self.platform.verifier.verify(_token_from(environ, auth))
            settings = self.platform.settings
            saved = self.reconnects.claimed(sid, identity)
            # A slot of LVNG_MAX_CONNECTIONS_PER_USER, counted on every node (core/slots.py).
            await self.platform.slots.claim(identity, sid)
        except LvngError as exc:
            self.metrics.connection_rejects.labels(reason=exc.code.value.lower()).inc()
            # The reason only: never the token, which may be a live credential.
            log.info("handshake refused (%s): %s", exc.code.value, exc.message)
            self.reconnects.refuse(sid)
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code.value, "message": exc.message}
            ) from None
        session = Session(
            sid=sid,
            identity=identity,
            limiter=SlidingWindow(settings.rate_limit_events, settings.rate_limit_window),
        )
        self.platform.sessions[sid] = session
        self.reconnects.start(session, saved)
        rooms = self.platform.rooms
        try:
            await rooms.join(
                session,
                Room.of(identity.organization_id, "org", identity.organization_id),
                authorize=False,
                enter=saved is None,
            )
            await rooms.join(
                session,
                Room.of(identity.organization_id, "user", identity.user_id),
                authorize=False,
                enter=saved is None,
            )
            back = None if saved is None else await self.reconnects.restore(session, saved)
        except Exception as exc:
            if not store_unavailable(exc):
                raise
            self.reconnects.refuse(sid)
            log.warning("handshake of %s refused: a backing store is unavailable: %r", sid, exc)
            self.platform.sessions.pop(sid, None)
            await self._forget_socket(session)  # a refused handshake holds no slot
            self.metrics.connection_rejects.labels(reason="unavailable").inc()
            raise socketio.exceptions.ConnectionRefusedError(
                "a backing store is unavailable; try again",
                {
                    "code": ErrorCode.UNAVAILABLE.value,
                    "message": "a backing store is unavailable; try again",
                },
            ) from None
        self._schedule_expiry(session)
        self.metrics.connections_total.inc()
        self.metrics.connections_active.inc()
        # The CONNECT packet goes out when this handler returns; `connected` must follow it.
        welcome = self._welcome(session, back)
        self.platform.tasks.spawn(welcome, name=f"welcome {sid}")

    async def _welcome(self, session: Session, back: list[Room] | None = None) -> None:
        """`connected`, then the hooks; `back`: a recovery's rooms (see Reconnects)."""
        identity = session.identity
        payload: dict[str, Any] = {
            "socketId": session.sid,
            "userId": identity.user_id,
            "organizationId": identity.organization_id,
            "timestamp": now_iso(),
        }
        if back is not None:
            payload["recovered"] = True
        await self.sio.emit("connected", payload, to=session.sid)
        if session.sid in self.platform.sessions:
            await self.platform.plugins.fan_out(
                "lvng_client_connected", session=session, platform=self.platform
            )
        if back is not None and session.sid in self.platform.sessions:
            await self.platform.plugins.fan_out(
                "lvng_client_recovered", session=session, rooms=back, platform=self.platform
            )

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        session = self.platform.sessions.pop(sid, None)
        if session is None:
            return
        await self._forget_socket(session)
        self._release_long_poll(sid)
        self.metrics.connections_active.dec()
        if session.expiry is not None:
            session.expiry.cancel()
        self.reconnects.save(session, reason)
        await self.platform.plugins.fan_out(
            "lvng_client_disconnected",
            session=session,
            platform=self.platform,
            reason=str(reason or "disconnected"),
        )
        # Rooms of the domains first, the org and user rooms last (presence goes last).
        for room in sorted(session.rooms, key=lambda r: r.kind in ("org", "user")):
            try:
                await self.departures.leave_room(session, room, "disconnected")
            except Exception as exc:
                if not (store_unavailable(exc) or isinstance(exc, CatchingUp)):
                    raise
                # Redis is down (or this node still owes the cluster what it missed): the
                # other rooms are still left (and told) where they can be; this one's leave
                # is owed to the cluster, made (and told) once Redis is back
                # (core/cluster/owed.py).
                log.warning(
                    "%s left %s while a store is unavailable; its leave is owed: %s: %s",
                    sid,
                    room.name,
                    type(exc).__name__,
                    exc,
                )
                self.departures.owe_leave(session, room, "disconnected")

    async def _forget_socket(self, session: Session) -> None:
        await self.platform.slots.release(session.organization_id, session.user_id, session.sid)

    def _release_long_poll(self, sid: str) -> None:
        """Answer a polling client's pending GET now instead of after the ping timeout.

        Engine.IO keeps the long-poll of a client that said goodbye open for up to
        ping_interval + ping_timeout (85 s): a request held for nothing, and a Python
        client whose disconnect() waits that long.
        """
        release_long_poll(self.sio, sid)

    # --- token expiry ------------------------------------------------------------------

    def _schedule_expiry(self, session: Session) -> None:
        if session.expiry is not None:
            session.expiry.cancel()
        delay = max(0.0, session.identity.expires_at - self.clock())
        loop = asyncio.get_running_loop()
        # A bound method and an argument, not a closure: one object fewer per socket.
        session.expiry = loop.call_later(delay, self._expiry_due, session.sid)

    def _expiry_due(self, sid: str) -> None:
        self.platform.tasks.spawn(self._expire(sid), name=f"expiry {sid}")

    async def _expire(self, sid: str) -> None:
        session = self.platform.sessions.get(sid)
        if session is None:
            return
        if session.identity.expires_at > self.clock():
            # Early: uvloop's timers count from the loop's cached time, so under load they
            # fire up to one loop iteration early. Giving up here left the socket connected
            # for good after its token expired; wait for the rest instead.
            self._schedule_expiry(session)
            return
        self.metrics.token_expiries.inc()
        await self.sio.emit(
            "error",
            {
                "code": ErrorCode.TOKEN_EXPIRED.value,
                "message": "the token has expired; reconnect with a new one",
                "event": None,
            },
            to=sid,
        )
        await self.sio.disconnect(sid)

    async def refresh(self, ctx: EventContext, payload: AuthRefresh) -> dict[str, Any]:
        """A new token is a new set of rights: everything is checked before the identity
        is replaced; then the socket leaves each room the new identity may not join."""
        identity = self.platform.verifier.verify(payload.token)
        current = ctx.identity
        if (identity.user_id, identity.organization_id) != (
            current.user_id,
            current.organization_id,
        ):
            raise LvngError(
                ErrorCode.FORBIDDEN, "the new token is for another user or organization"
            )
        expires_at = iso_from_epoch(identity.expires_at)
        session = ctx.session
        rooms = self.platform.rooms
        lost = [
            room
            for room in sorted(session.rooms, key=lambda r: r.scope)
            if room.kind not in ("org", "user") and not await rooms.may_join(identity, room)
        ]
        session.identity = identity
        self._schedule_expiry(session)
        for room in lost:
            await self.departures.leave_room(session, room, "revoked")
        return {"expiresAt": expires_at, "left": [room.name for room in lost]}

    # --- dispatch ----------------------------------------------------------------------

    async def on_event(self, event: str | None, sid: str, *args: Any) -> dict[str, Any] | None:
        """Every packet a client sends on a connected socket, whatever its name
        (core.socketserver): `event` is None when it has no string name, and a packet the
        server refused to decode comes as a single `Refused` argument."""
        session = self.platform.sessions.get(sid)
        if session is None:
            return None
        self.platform.figures.event(session.organization_id)
        spec = self.platform.events.get(event) if isinstance(event, str) else None
        label = spec.name if spec else UNKNOWN_EVENT_LABEL
        self.metrics.events_received.labels(event=label).inc()
        started = time.perf_counter()
        context: EventContext | None = None
        try:
            verdict = session.limiter.hit()
            if not verdict.allowed:
                self.metrics.rate_limited.inc()
                if verdict.disconnect:
                    self.metrics.rate_limit_disconnects.inc()
                    log.warning(
                        "disconnecting %s (user %s): three times the rate limit",
                        sid,
                        session.user_id,
                    )
                    self.platform.tasks.spawn(
                        self.sio.disconnect(sid), name=f"rate-limit disconnect {sid}"
                    )
                raise LvngError(
                    ErrorCode.RATE_LIMITED,
                    f"rate limit of {session.limiter.limit} events per "
                    f"{session.limiter.window:g} s exceeded",
                    retryAfterMs=verdict.retry_after_ms,
                )
            windows = self.platform.user_windows
            if windows.is_shared(session.organization_id, session.user_id):
                # Counted in Redis (a user on several nodes), under the socket's lock: its
                # events reach their handlers in order all the same (the lock is FIFO).
                async with session.lock:
                    await windows.charge_shared(session.identity)
            else:
                self._charge_user(session)
            if self.platform.stopping:
                raise LvngError(
                    ErrorCode.UNAVAILABLE, "the server is stopping; send again once reconnected"
                )
            if len(args) == 1 and isinstance(args[0], Refused):
                raise LvngError(ErrorCode.VALIDATION_ERROR, args[0].reason)
            if self._tell_activity:
                self._active(session)
            if spec is None:
                raise LvngError(
                    ErrorCode.UNKNOWN_EVENT,
                    self.platform.plugins.unknown_event_message(event)
                    if isinstance(event, str)
                    else "an event name must be a string",
                )
            for arg in args:
                check_value(arg)
            payload = validate_payload(spec.schema, args)
            context = EventContext(self.platform, session, spec.name, spec.plugin)
            # One event at a time per socket, in arrival order: a client's sends stay ordered.
            async with session.lock:
                result = await spec.handler(context, payload)
            return {"ok": True, **(result or {})}
        except LvngError as exc:
            return await self._fail(session, event, label, exc)
        except Exception as exc:
            if store_unavailable(exc):
                log.error(
                    "store unavailable: event=%s sid=%s: %s: %s",
                    event,
                    sid,
                    type(exc).__name__,
                    exc,
                )
                return await self._fail(
                    session,
                    event,
                    label,
                    LvngError(ErrorCode.UNAVAILABLE, "a backing store is unavailable; try again"),
                )
            log.exception("handler failed: event=%s sid=%s user=%s", event, sid, session.user_id)
            return await self._fail(
                session,
                event,
                label,
                LvngError(ErrorCode.INTERNAL_ERROR, "internal error; it has been logged"),
            )
        finally:
            self.metrics.event_duration.labels(event=label).observe(time.perf_counter() - started)
            # The after-ack invariant (core/turns.py), kept here and nowhere else: nothing
            # is awaited between the handler's return and ours, so python-socketio queues
            # the ack before this task, or anything the handler started, runs. The queued
            # work (emits, turn releases) runs in a task that starts after that. It runs
            # after a failure too: what a handler committed is told, and turns are freed.
            if context is not None and len(context.after_ack):
                self.platform.tasks.spawn(context.after_ack.run(), name=f"after-ack {event}")

    def _charge_user(self, session: Session) -> None:
        """The user's shared window, after the socket's own (raises RATE_LIMITED)."""
        self.platform.user_windows.charge(session.identity)

    def _active(self, session: Session) -> None:
        """Any accepted event is activity: stamp it, and tell plugins at most once per
        `platform.activity_interval` per socket (`lvng_client_active`), in the background."""
        now = time.monotonic()
        session.last_event_at = now
        if now - session.activity_told_at < self.platform.activity_interval:
            return
        session.activity_told_at = now
        self.platform.tasks.spawn(
            self.platform.plugins.fan_out(
                "lvng_client_active", session=session, platform=self.platform
            ),
            name=f"activity {session.sid}",
        )

    async def _fail(
        self, session: Session, event: str | None, label: str, exc: LvngError
    ) -> dict[str, Any]:
        self.metrics.event_errors.labels(event=label, code=exc.code.value).inc()
        self.platform.figures.error(session.organization_id)
        error = exc.to_dict()
        shown_event = event if isinstance(event, str) and len(event) <= 128 else None
        self.platform.recent_errors.append(
            {
                "timestamp": now_iso(),
                "organizationId": session.organization_id,
                "userId": session.user_id,
                "socketId": session.sid,
                "event": shown_event,
                "code": error["code"],
                "message": error["message"],
            }
        )
        if session.sid in self.platform.sessions:
            await self.sio.emit("error", {**error, "event": shown_event}, to=session.sid)
        return {"ok": False, "error": error}

    # --- stop --------------------------------------------------------------------------

    async def stop(self, timeout: float, on_drained: Callable[[], None] | None = None) -> None:
        """Refuse new events, let in-flight ones finish (up to `timeout` s), then drop every
        client's transport so that clients reconnect by themselves (contract section 1).

        In-flight events hold their socket's lock; once each lock has been taken and given
        back, every event received before the stop has been handled and its ack queued.
        `on_drained` runs then, before the first transport is closed.

        From the start of the stop this node runs none of its deadlines (presence's
        offline grace, say): a survivor adopts them (Redis), or they end with the process;
        a stop of thousands of sockets that outlasted the grace announced them offline to
        every socket still connected meanwhile (bench/README.md, issue 25).
        """
        self.platform.stopping = True
        self.platform.deadlines.hold()
        sessions = list(self.platform.sessions.values())

        async def drained(session: Session) -> None:
            async with session.lock:
                pass

        if sessions:
            done, pending = await asyncio.wait(
                [asyncio.ensure_future(drained(s)) for s in sessions], timeout=timeout
            )
            for task in pending:
                task.cancel()
            if pending:
                log.warning(
                    "stopping with %d socket(s) still handling an event after %g s",
                    len(pending),
                    timeout,
                )
        if on_drained is not None:
            on_drained()
        await asyncio.gather(
            *(close_transport(self.sio, s.sid, SHUTDOWN_REASON) for s in sessions),
            return_exceptions=True,
        )
