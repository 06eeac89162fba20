"""Who may subscribe, read and post, tried as an attacker would (contract section 4:
`activity:{customerId}` as for the customer's conversations)."""

from __future__ import annotations

import pytest

from tests.activity.support import (
    get_page,
    post_item,
    service_token,
    subscribe,
    subscribed,
    uid,
)
from tests.messages.support import expect_error, in_conversation


def refused(customer: str) -> dict[str, str]:
    return {"code": "FORBIDDEN", "message": f"your token does not grant customer {customer}"}


def not_yours(customer: str) -> dict[str, str]:
    return {"code": "FORBIDDEN", "message": f"you may not use customer {customer}"}


async def test_only_the_customers_users_and_the_orgs_admins_subscribe_or_read(server):
    org, customer = uid("org"), uid("cust")
    posted = await post_item(server, org, customer)
    target = {"customerId": customer}

    # Another customer in the claim, or none: refused, and nothing is heard.
    eve = await server.connect("eve", org, customers=[uid("cust")])
    assert await expect_error(eve, "activity:subscribe", target, "FORBIDDEN") == refused(customer)
    await expect_error(eve, "activity:read", {**target, "itemId": posted["id"]}, "NOT_IN_ROOM")
    for claims in ({"customers": [uid("cust")]}, {}, {"roles": ["service"]}):
        body = await get_page(server, server.token("eve", org, **claims), customer, expect=403)
        assert body["error"] == refused(customer), claims
    later = await post_item(server, org, customer)
    # The org's admin may, without the customer in its token.
    admin, snapshot = await subscribed(server, org, customer, "boss", roles=["admin"], customers=[])
    assert snapshot["items"] == [later, posted]
    page = await get_page(server, server.token("boss", org, roles=["admin"]), customer)
    assert page["items"] == [later, posted]
    assert eve.unread("activity:new") == [] and eve.unread("activity:subscribed") == []


async def test_another_organization_is_refused_and_creates_nothing(server):
    org_a, org_b, customer = uid("org"), uid("org"), uid("cust")
    alice, _ = await subscribed(server, org_a, customer, "alice")  # org A claims it
    posted = await post_item(server, org_a, customer)
    assert await alice.next("activity:new") == posted

    for claims in (
        {"customers": [customer]},
        {"roles": ["admin"]},
        {"roles": ["admin"], "customers": [customer]},
    ):
        mallory = await server.connect("mallory", org_b, **claims)
        error = await expect_error(
            mallory, "activity:subscribe", {"customerId": customer}, "FORBIDDEN"
        )
        assert error == not_yours(customer), claims
        body = await get_page(
            server, server.token("mallory", org_b, **claims), customer, expect=403
        )
        assert body["error"] == not_yours(customer), claims
    # A service token of another organization cannot post, even naming the customer.
    for token in (
        service_token(server, org_b, customer),
        service_token(server, org_b, roles=["service", "admin"]),
    ):
        answer = await post_item(server, org_b, customer, token=token, expect=403)
        assert answer["error"] == not_yours(customer)
    # Nor can a token of the right organization that is no service.
    answer = await post_item(
        server,
        org_a,
        customer,
        expect=403,
        token=server.token("alice", org_a, customers=[customer], roles=["admin"]),
    )
    assert answer["error"] == {
        "code": "FORBIDDEN",
        "message": "posting activity needs a service token",
    }
    # Org A's feed heard nothing of it: the next thing it hears is org A's own item.
    marker = await post_item(server, org_a, customer)
    assert await alice.next("activity:new") == marker
    page = await get_page(server, server.token("alice", org_a, customers=[customer]), customer)
    assert page["items"] == [marker, posted]


async def test_an_admins_wildcard_claims_no_customer(server):
    """An unowned customer can be claimed only by a token naming it: an admin's wildcard
    (or a service token without it) opens nothing and claims nothing."""
    org_a, org_b, customer = uid("org"), uid("org"), uid("cust")
    admin = await server.connect("boss", org_a, roles=["admin"])
    assert await expect_error(
        admin, "activity:subscribe", {"customerId": customer}, "FORBIDDEN"
    ) == refused(customer)
    body = await get_page(
        server, server.token("boss", org_a, roles=["admin"]), customer, expect=403
    )
    assert body["error"] == refused(customer)
    answer = await post_item(
        server,
        org_a,
        customer,
        expect=403,
        token=service_token(server, org_a, roles=["service", "admin"]),
    )
    assert answer["error"] == refused(customer)
    # Still no one's: org B's user naming it claims it.
    _, snapshot = await subscribed(server, org_b, customer, "bob")
    assert snapshot == {"customerId": customer, "items": [], "hasMore": False, "unreadCount": 0}
    answer = await post_item(server, org_a, customer, expect=403)
    assert answer["error"] == not_yours(customer)


@pytest.fixture(scope="module")
def serial(start_server, tmp_path_factory):
    """A server that makes one item from domain events at a time, in publish order: an
    item heard is proof that every event published before it was dealt with."""
    workdir = tmp_path_factory.mktemp("serial")
    (workdir / "lvng.toml").write_text("[plugins.activity]\nitem_writers = 1\n")
    return start_server(args=["--config", str(workdir / "lvng.toml")], workdir=workdir)


async def test_another_organization_cannot_open_a_conversation_of_the_feeds_customer(serial):
    """A customer id the feed knows as org A's is org A's in conversations too (one owner
    registry in the core, issue 21): org B's token naming it opens nothing, and the feed
    hears nothing of org B."""
    org_a, org_b, customer, elsewhere = uid("org"), uid("org"), uid("cust"), uid("cust")
    alice, _ = await subscribed(serial, org_a, customer, "alice", customers=[customer, elsewhere])
    await subscribe(alice, elsewhere)
    mallory = await serial.connect("mallory", org_b, customers=[customer])
    await expect_error(
        mallory,
        "conversation:join",
        {"customerId": customer, "conversationId": uid("conv")},
        "FORBIDDEN",
    )
    carol = await in_conversation(serial, org_a, elsewhere, uid("conv"), "carol")
    marker = await alice.next("activity:new")
    assert (marker["customerId"], marker["actorId"]) == (elsewhere, "carol")
    assert alice.unread("activity:new") == []
    page = await get_page(serial, serial.token("alice", org_a, customers=[customer]), customer)
    assert page["items"] == []
    await carol.close()


async def test_reading_needs_a_subscription_and_an_item_of_that_feed(server):
    org, customer, other = uid("org"), uid("cust"), uid("cust")
    posted = await post_item(server, org, customer)
    elsewhere = await post_item(server, org, other, token=service_token(server, org, other))
    viewer = await server.connect("viewer", org, customers=[customer, other])
    await expect_error(
        viewer, "activity:read", {"customerId": customer, "itemId": posted["id"]}, "NOT_IN_ROOM"
    )
    await subscribe(viewer, customer)
    for item_id in (elsewhere["id"], "act_unknown"):
        error = await expect_error(
            viewer, "activity:read", {"customerId": customer, "itemId": item_id}, "NOT_FOUND"
        )
        assert error["message"] == f"no item {item_id} in the activity of customer {customer}"
    for payload in (
        {"customerId": customer},
        {"customerId": "bad id", "itemId": "x"},
        {"itemId": posted["id"]},
    ):
        await expect_error(viewer, "activity:read", payload, "VALIDATION_ERROR")
    await expect_error(viewer, "activity:subscribe", {"customerId": ""}, "VALIDATION_ERROR")
