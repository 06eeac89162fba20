"""Whose customer is it: a customer's feed belongs to one organization (contract section 4).

A customer belongs to the first organization with the right to claim it: a token whose
`customers` claim holds it (an admin's wildcard covers only customers its organization
already owns), or a message or member event of the messages plugin, which made the same
check before publishing. The plugin keeps its own record (it may touch no other plugin's
tables); an owner never changes, so each node remembers the owners it has looked up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise.exceptions import IntegrityError

from core.api import ErrorCode, LvngError, not_yours, now_utc
from plugins.activity.models import ActivityCustomer

if TYPE_CHECKING:
    from core.api import Identity


def not_granted(customer_id: str) -> LvngError:
    return LvngError(ErrorCode.FORBIDDEN, f"your token does not grant customer {customer_id}")


class Customers:
    """Owners of customers' feeds, on one node (cached: an owner never changes)."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    async def owner(self, customer_id: str) -> str | None:
        found = self._owners.get(customer_id)
        if found is None:
            row = await ActivityCustomer.get_or_none(customer_id=customer_id)
            if row is not None:
                found = self._owners[customer_id] = row.organization_id
        return found

    async def claim(self, customer_id: str, organization_id: str) -> str:
        """Make `organization_id` the owner unless someone is; the owner afterwards."""
        try:
            await ActivityCustomer.create(
                customer_id=customer_id, organization_id=organization_id, created_at=now_utc()
            )
        except IntegrityError:
            pass  # claimed meanwhile, maybe by another node
        self._owners.pop(customer_id, None)
        owner = await self.owner(customer_id)
        assert owner is not None
        return owner

    async def check_reader(self, identity: Identity, customer_id: str, *, claim: bool) -> bool:
        """Raise FORBIDDEN unless the user may read the customer's feed: the customer in
        the token's `customers` claim, or an admin of the organization that owns it.

        True when the organization owns it; False for a customer no one has yet that the
        token may claim but `claim` says not to (reading an empty feed claims nothing).
        """
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

    async def check_publisher(self, identity: Identity, customer_id: str) -> None:
        """Raise FORBIDDEN unless a `service` token of the customer's organization posts
        (a customer no one has yet is claimed only if the token's claim holds it)."""
        if not identity.is_service:
            raise LvngError(ErrorCode.FORBIDDEN, "posting activity needs a service token")
        owner = await self.owner(customer_id)
        if owner is None:
            if customer_id not in identity.customers:
                raise not_granted(customer_id)
            owner = await self.claim(customer_id, identity.organization_id)
        if owner != identity.organization_id:
            raise not_yours("customer", customer_id)

    async def accepts(self, organization_id: str, customer_id: str, *, claim: bool) -> bool:
        """Whether an item of `organization_id` may go into the customer's feed (for
        domain events): the organization owns it, or (with `claim`) no one does yet."""
        owner = await self.owner(customer_id)
        if owner is None and claim:
            owner = await self.claim(customer_id, organization_id)
        return owner == organization_id
