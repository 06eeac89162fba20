"""`Caller`: the first argument of every plugin service call.

Who acts (the identity), from which socket (None over HTTP), and the after-ack queue the
emits of what they do go to: a socket event's (`ctx.caller`), or an HTTP route's own
(`Caller(identity, platform.after_ack())`, run by the route with `await
caller.after.run()`). A service takes it in place of an `EventContext` (which HTTP has
not) or of loose fields, so one service method serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.data import Session
    from core.identity import Identity
    from core.turns import AfterAck


@dataclass(frozen=True, slots=True)
class Caller:
    """Who acts, from which socket (None over HTTP), and the queue of their emits."""

    identity: Identity
    after: AfterAck
    session: Session | None = None

    @property
    def socket(self) -> Session:
        """The caller's socket, for what only a socket can do (join, leave, be a
        member); a RuntimeError over HTTP."""
        if self.session is None:
            raise RuntimeError("this needs the caller's socket: the call came over HTTP")
        return self.session

    @property
    def sid(self) -> str | None:
        return self.session.sid if self.session is not None else None

    @property
    def org(self) -> str:
        return self.identity.organization_id

    @property
    def user_id(self) -> str:
        return self.identity.user_id

    @property
    def user_name(self) -> str:
        return self.identity.user_name
