"""Whose customer is it: a customer's feed belongs to one organization (contract section 4).

The owner is the core's to keep, for every plugin (`platform.customers`, core.api's
`CustomerOwners`): a customer belongs to the first organization with the right to claim it,
in any plugin: a token whose `customers` claim holds it (an admin's wildcard covers only
customers its organization already owns), or a message or member event of the messages
plugin, which made the same check before publishing. This module is the feed's rules on
top of it: who may read, who may post.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.api import ErrorCode, LvngError, not_yours

if TYPE_CHECKING:
    from core.api import CustomerOwners, Identity


def not_granted(customer_id: str) -> LvngError:
    return LvngError(ErrorCode.FORBIDDEN, f"your token does not grant customer {customer_id}")


class Customers:
    """The feed's access rules over the core's owner registry."""

    def __init__(self, owners: CustomerOwners) -> None:
        self.owners = owners

    async def check_reader(self, identity: Identity, customer_id: str, *, claim: bool) -> bool:
        """Raise FORBIDDEN unless the user may read the customer's feed: the customer in
        the token's `customers` claim, or an admin of the organization that owns it.

        True when the organization owns it; False for a customer no one has yet that the
        token may claim but `claim` says not to (reading an empty feed claims nothing).
        """
        return await self.owners.check(identity, customer_id, claim=claim)

    async def check_publisher(self, identity: Identity, customer_id: str) -> None:
        """Raise FORBIDDEN unless a `service` token of the customer's organization posts
        (a customer no one has yet is claimed only if the token's claim holds it)."""
        if not identity.is_service:
            raise LvngError(ErrorCode.FORBIDDEN, "posting activity needs a service token")
        owner = await self.owners.owner(customer_id)
        if owner is None:
            if customer_id not in identity.customers:
                raise not_granted(customer_id)
            owner = await self.owners.claim(customer_id, identity.organization_id)
        if owner != identity.organization_id:
            raise not_yours("customer", customer_id)

    async def accepts(self, organization_id: str, customer_id: str, *, claim: bool) -> bool:
        """Whether an item of `organization_id` may go into the customer's feed (for
        domain events): the organization owns it, or (with `claim`) no one does yet."""
        return await self.owners.accepts(organization_id, customer_id, claim=claim)
