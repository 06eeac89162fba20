"""Which organization owns each customer id, for every plugin (contract sections 4 and 13).

A customer id belongs to the first organization with the right to claim it: a token whose
`customers` claim holds it (an admin's wildcard covers only customers its organization
already owns), or a plugin acting for such a token. Before issue 21 the messages plugin
(`messages_customer`) and the activity plugin (`activity_customer`) each kept their own
record, so a customer could belong to one organization in one plugin and to another in
the other. Now both ask this registry (`platform.customers`, reached through core.api),
and so does the core's join rule for customer rooms.

An owner never changes, so each node remembers the owners it looked up (at most
`CACHED` of them). `core/customers/reconcile.py` folds the plugins' old tables into
`core_customer` (first owner wins, see docs/decisions.md).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from tortoise import Tortoise
from tortoise.exceptions import IntegrityError

from core.clock import now_utc
from core.errors import ErrorCode, LvngError, not_yours

if TYPE_CHECKING:
    from core.identity import Identity

CACHED = 100_000  # owners one node remembers


def not_granted(customer_id: str) -> LvngError:
    """The refusal of a customer the token does not name (nor cover as an admin's)."""
    return LvngError(ErrorCode.FORBIDDEN, f"your token does not grant customer {customer_id}")


class CustomerOwners:
    """Which organization owns each customer id; one per platform (`platform.customers`)."""

    def __init__(self, cached: int = CACHED) -> None:
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._cached = cached

    @staticmethod
    def available() -> bool:
        """Whether the registry's table is there (a database is open: some enabled
        plugin keeps data)."""
        return Tortoise.is_inited() and "core" in Tortoise.apps

    async def owner(self, customer_id: str) -> str | None:
        """The owning organization, or None while no one has claimed it."""
        found = self._owners.get(customer_id)
        if found is not None:
            self._owners.move_to_end(customer_id)
            return found
        from core.customers.models import CustomerOwner

        row = await CustomerOwner.get_or_none(customer_id=customer_id)
        if row is None:
            return None
        self._remember(customer_id, row.organization_id)
        return row.organization_id

    def _remember(self, customer_id: str, organization_id: str) -> None:
        self._owners[customer_id] = organization_id
        if len(self._owners) > self._cached:
            self._owners.popitem(last=False)

    async def claim(self, customer_id: str, organization_id: str) -> str:
        """Make `organization_id` the owner unless someone is already; the owner after
        (two nodes claiming at once meet in the primary key: the first insert wins)."""
        from core.customers.models import CustomerOwner

        try:
            await CustomerOwner.create(
                customer_id=customer_id, organization_id=organization_id, created_at=now_utc()
            )
        except IntegrityError:
            pass  # claimed meanwhile, maybe by another node
        self._owners.pop(customer_id, None)
        owner = await self.owner(customer_id)
        assert owner is not None
        return owner

    async def check(self, identity: Identity, customer_id: str, *, claim: bool) -> bool:
        """Raise FORBIDDEN unless `identity` may use the customer: in its token's
        `customers` claim, or an admin of the organization that owns it; and never when
        another organization owns it.

        True when the identity's organization owns it (claimed here when no one did and
        `claim` says so); False for a customer no one owns yet that the token may claim
        but `claim` says not to (reading an empty feed, say, claims nothing)."""
        if not identity.may_access_customer(customer_id):
            raise not_granted(customer_id)
        owner = await self.owner(customer_id)
        if owner is None:
            if customer_id not in identity.customers:  # an admin's wildcard claims nothing
                raise not_granted(customer_id)
            if not claim:
                return False
            owner = await self.claim(customer_id, identity.organization_id)
        if owner != identity.organization_id:
            raise not_yours("customer", customer_id)
        return True

    async def accepts(self, organization_id: str, customer_id: str, *, claim: bool) -> bool:
        """Whether something of `organization_id` may be about the customer (a domain
        event, say, whose publisher checked the token): the organization owns it, or
        (with `claim`) no one does yet, and then it does."""
        owner = await self.owner(customer_id)
        if owner is None and claim:
            owner = await self.claim(customer_id, organization_id)
        return owner == organization_id
