"""HTTP routes of the activity plugin (contract sections 8 and 10), one Blueprint.

GET  /api/v1/customers/{customerId}/activity?before=&limit=  users with the customer
                                                             in their token, org admins
POST /api/v1/customers/{customerId}/activity                 a `service` token of the
                                                             customer's organization
"""

from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse

from core.api import (
    ErrorCode,
    LvngError,
    authenticate,
    parse_body,
    platform_of,
    require_id,
    validate_object,
)
from plugins.activity import payloads
from plugins.activity.feed import Draft
from plugins.activity.schemas import NewItem, PageQuery
from plugins.activity.state import ActivityState

routes = Blueprint("activity", url_prefix="/api/v1")


@routes.get("/customers/<customer_id:str>/activity")
async def customer_activity(request: Request, customer_id: str) -> HTTPResponse:
    """`{customerId, items, hasMore}`, newest first."""
    identity = authenticate(request)
    require_id(customer_id, "customerId")
    query = validate_object(
        PageQuery,
        {key: request.args.get(key) for key in ("before", "limit") if key in request.args},
    )
    a = platform_of(request).state_of("activity", ActivityState)
    if not await a.customers.check_reader(identity, customer_id, claim=False):
        if query.before is not None:
            raise LvngError(
                ErrorCode.NOT_FOUND,
                f"no item {query.before} in the activity of customer {customer_id}",
            )
        return json(payloads.page(customer_id, [], False))
    rows, has_more = await a.feed.newest(
        identity.organization_id, customer_id, limit=query.limit, before=query.before
    )
    return json(payloads.page(customer_id, rows, has_more))


@routes.post("/customers/<customer_id:str>/activity")
async def post_activity(request: Request, customer_id: str) -> HTTPResponse:
    """A service's item: 201 with the item as `activity:new` carries it. The actor is the
    token's user unless `actorId` says otherwise; the subject the customer unless given."""
    identity = authenticate(request)
    require_id(customer_id, "customerId")
    body = parse_body(request, NewItem)
    a = platform_of(request).state_of("activity", ActivityState)
    await a.customers.check_publisher(identity, customer_id)
    actor_id = body.actorId or identity.user_id
    actor_name = body.actorName or (identity.user_name if body.actorId is None else body.actorId)
    subject_type, subject_id = (
        (body.subject.type, body.subject.id) if body.subject else ("customer", customer_id)
    )
    draft = Draft(
        body.type, body.summary, actor_id, actor_name, subject_type, subject_id, body.data
    )
    row = await a.feed.add(identity.organization_id, customer_id, draft, claim=False)
    if row is None:  # the owner was checked above and never changes
        raise LvngError(ErrorCode.INTERNAL_ERROR, "internal error; it has been logged")
    return json(payloads.item(row), status=201)
