"""HTTP routes of the webhooks plugin, one Blueprint; an `admin` of the organization.

GET  /api/v1/admin/webhooks?state=open|failed|pending|delivered   `{deliveries, pending,
                                                                  failed}`, newest first
POST /api/v1/admin/webhooks/{deliveryId}/resend                   the delivery, pending again
"""

from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse

from core.api import ErrorCode, Identity, LvngError, authenticate, platform_of, validate_object
from plugins.webhooks.models import FAILED, PENDING
from plugins.webhooks.schemas import ListQuery
from plugins.webhooks.state import WebhooksState

routes = Blueprint("webhooks", url_prefix="/api/v1/admin/webhooks")


def _admin(request: Request) -> Identity:
    identity = authenticate(request)
    if not identity.is_admin:
        raise LvngError(ErrorCode.FORBIDDEN, "webhooks are for an admin of the organization")
    return identity


@routes.get("")
async def listing(request: Request) -> HTTPResponse:
    identity = _admin(request)
    query = validate_object(
        ListQuery, {key: request.args.get(key) for key in ("state",) if key in request.args}
    )
    states = (FAILED, PENDING) if query.state == "open" else (query.state,)
    w = platform_of(request).state_of("webhooks", WebhooksState)
    return json(await w.deliveries.listing(identity.organization_id, states))


@routes.post("/<delivery_id:int>/resend")
async def resend(request: Request, delivery_id: int) -> HTTPResponse:
    identity = _admin(request)
    w = platform_of(request).state_of("webhooks", WebhooksState)
    return json(await w.deliveries.resend(identity.organization_id, delivery_id))
