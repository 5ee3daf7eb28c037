"""Webhook endpoints of an account, compatible with Generect's webhooks API (bare objects and
arrays, as the reference shows them), plus creditbook's delivery log and redelivery.

Any key of the account may read; changing anything takes a full key. Secrets are shown whole
in the answer that made or set them, masked everywhere else.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from creditbook.api import examples, render
from creditbook.api.auth import Caller, CustomerCaller, services_of
from creditbook.api.examples import documented
from creditbook.api.queries import documented_parameters, integer, single
from creditbook.api.responses import MoneyJSONResponse
from creditbook.api.routing import Router
from creditbook.api.schemas import WebhookIn, WebhookPatch, WebhookPut
from creditbook.errors import PermissionDenied
from creditbook.services.webhooks import UNSET, Saved

router = Router(prefix="/api/v1/webhooks", tags=["Webhooks"])
ONE = "/{webhook_id}/"
DELIVERIES_PARAMETERS = documented_parameters(
    ("limit", "integer", "Page size, 1-1000 (default 100)."),
    ("cursor", "string", "next_cursor of the previous page."),
)


def may_change_webhooks(caller: Caller) -> None:
    if not caller.may_spend:
        raise PermissionDenied("A read key cannot change webhooks; use a full key.")


def _saved(saved: Saved, status_code: int = 200) -> MoneyJSONResponse:
    body = render.webhook(saved.webhook, show_secret=saved.secret_shown)
    return MoneyJSONResponse(body, status_code=status_code)


@router.endpoint(
    "/",
    methods=["GET"],
    summary="List webhooks",
    description="The account's endpoints, oldest first; secrets masked.",
    responses=documented(200, [examples.WEBHOOK], 401, 403),
)
def list_webhooks(request: Request, caller: CustomerCaller) -> MoneyJSONResponse:
    single(request.query_params, ())
    found = services_of(request).webhooks.of_account(account_id=caller.account_id)
    return MoneyJSONResponse([render.webhook(w) for w in found])


@router.endpoint(
    "/",
    methods=["POST"],
    status_code=201,
    summary="Register webhook",
    description="The answer carries the whole secret, this once.",
    responses=documented(201, examples.WEBHOOK_CREATED, 400, 401, 403, 429),
)
def create_webhook(request: Request, body: WebhookIn, caller: CustomerCaller) -> MoneyJSONResponse:
    may_change_webhooks(caller)
    saved = services_of(request).webhooks.create(
        account_id=caller.account_id, url=body.url, events=body.events, secret=body.secret
    )
    return _saved(saved, 201)


@router.endpoint(
    ONE,
    methods=["GET"],
    summary="Retrieve webhook",
    responses=documented(200, examples.WEBHOOK, 401, 403, 404),
)
def get_webhook(request: Request, webhook_id: str, caller: CustomerCaller) -> MoneyJSONResponse:
    single(request.query_params, ())
    found = services_of(request).webhooks.get(account_id=caller.account_id, webhook_id=webhook_id)
    return MoneyJSONResponse(render.webhook(found))


@router.endpoint(
    ONE,
    methods=["PUT"],
    summary="Update webhook",
    description="Replace url and events; a secret not given is kept.",
    responses=documented(200, examples.WEBHOOK, 400, 401, 403, 404),
)
def replace_webhook(
    request: Request, webhook_id: str, body: WebhookPut, caller: CustomerCaller
) -> MoneyJSONResponse:
    may_change_webhooks(caller)
    saved = services_of(request).webhooks.replace(
        account_id=caller.account_id,
        webhook_id=webhook_id,
        url=body.url,
        events=body.events,
        secret=body.secret if body.secret is not None else UNSET,
        is_active=body.is_active if body.is_active is not None else UNSET,
    )
    return _saved(saved)


@router.endpoint(
    ONE,
    methods=["PATCH"],
    summary="Partially update webhook",
    description="Change what is given. `is_active: true` re-enables a disabled endpoint.",
    responses=documented(200, examples.WEBHOOK, 400, 401, 403, 404),
)
def patch_webhook(
    request: Request, webhook_id: str, body: WebhookPatch, caller: CustomerCaller
) -> MoneyJSONResponse:
    may_change_webhooks(caller)
    given = body.model_fields_set
    changes: dict[str, Any] = {
        name: getattr(body, name) if name in given else UNSET
        for name in ("url", "events", "secret", "is_active")
    }
    saved = services_of(request).webhooks.update(
        account_id=caller.account_id, webhook_id=webhook_id, **changes
    )
    return _saved(saved)


_REMOVED = documented(204, None, 401, 403, 404)
_REMOVED[204] = {"description": "Webhook removed"}


@router.endpoint(
    ONE,
    methods=["DELETE"],
    status_code=204,
    summary="Delete webhook",
    description="Removes the endpoint with its deliveries and their log.",
    responses=_REMOVED,
)
def delete_webhook(request: Request, webhook_id: str, caller: CustomerCaller) -> Response:
    may_change_webhooks(caller)
    services_of(request).webhooks.remove(account_id=caller.account_id, webhook_id=webhook_id)
    return Response(status_code=204)


@router.endpoint(
    f"{ONE}test/",
    methods=["POST"],
    status_code=202,
    summary="Test webhook",
    description="Queue a `webhook.test` event for this endpoint only.",
    responses=documented(202, examples.QUEUED, 401, 403, 404, 409),
)
def test_webhook(request: Request, webhook_id: str, caller: CustomerCaller) -> MoneyJSONResponse:
    may_change_webhooks(caller)
    queued = services_of(request).webhooks.send_test(
        account_id=caller.account_id, webhook_id=webhook_id
    )
    return MoneyJSONResponse(render.queued(queued), status_code=202)


@router.endpoint(
    f"{ONE}deliveries/",
    methods=["GET"],
    summary="Delivery log",
    description="The endpoint's deliveries, newest first, each with its attempts.",
    responses=documented(200, examples.DELIVERIES, 400, 401, 403, 404),
    openapi_extra=DELIVERIES_PARAMETERS,
)
def deliveries(request: Request, webhook_id: str, caller: CustomerCaller) -> MoneyJSONResponse:
    values = single(request.query_params, ("limit", "cursor"))
    page = services_of(request).webhooks.deliveries(
        account_id=caller.account_id,
        webhook_id=webhook_id,
        limit=integer(values, "limit", 100),
        cursor=values.get("cursor"),
    )
    body = {
        "deliveries": [render.delivery(d) for d in page.deliveries],
        "next_cursor": page.next_cursor,
        "limit": page.limit,
    }
    return MoneyJSONResponse({"data": body})


@router.endpoint(
    f"{ONE}deliveries/{{delivery_id}}/redeliver/",
    methods=["POST"],
    status_code=202,
    summary="Redeliver",
    description="Send the delivery again now, with the same event and event id.",
    responses=documented(202, examples.QUEUED, 401, 403, 404, 409),
)
def redeliver(
    request: Request, webhook_id: str, delivery_id: str, caller: CustomerCaller
) -> MoneyJSONResponse:
    may_change_webhooks(caller)
    queued = services_of(request).webhooks.redeliver(
        account_id=caller.account_id, webhook_id=webhook_id, delivery_id=delivery_id
    )
    return MoneyJSONResponse(render.queued(queued), status_code=202)
