"""Alert thresholds and the event log of the caller's account (creditbook's own endpoints)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import Request
from pydantic import ConfigDict, Field, StrictInt
from starlette.responses import Response

from creditbook.api import render
from creditbook.api.auth import Caller, CustomerCaller, services_of
from creditbook.api.examples import documented
from creditbook.api.queries import documented_parameters, integer, single
from creditbook.api.responses import MoneyJSONResponse
from creditbook.api.routing import Router
from creditbook.api.schemas import Body
from creditbook.domain import events as ev
from creditbook.domain.alerts import KINDS, AlertSpec
from creditbook.errors import InvalidInput, PermissionDenied
from creditbook.money import parse_usd

router = Router(prefix="/api/v1", tags=["alerts"])

ALERT = {
    "id": "alr_019a6c2e-7d41-7c3b-9f00-3f6d8f0e2a11",
    "kind": "balance",
    "threshold": 25,
    "percent": None,
    "window_days": None,
    "horizon_days": None,
    "state": "ok",
    "changed_at": None,
    "created_at": "2026-11-25T10:00:00Z",
}
EVENT = {
    "id": "evt_019a6c2e-9b10-7a2d-8c44-5e1f0a9b7c21",
    "type": "balance.alert.triggered",
    "created_at": "2026-11-25T12:30:00Z",
    "account_id": "019a6c2e-7d41-7c3b-9f00-3f6d8f0e2a10",
    "data": {
        "alert_id": ALERT["id"],
        "kind": "balance",
        "state": "in_alarm",
        "threshold": 25,
        "balance": 24.96,
    },
}


class AlertIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"kind": "balance", "threshold": "25.00"}]},
    )

    kind: str = Field(description=f"One of {', '.join(KINDS)}.")
    threshold: Decimal | None = Field(None, description="balance: alarm below this (USD).")
    percent: StrictInt | None = Field(
        None, description="monthly_percent: alarm at this percent of the monthly limit."
    )
    window_days: StrictInt | None = Field(
        None, description="forecast: average the spend of this many past days."
    )
    horizon_days: StrictInt | None = Field(
        None, description="forecast: alarm when the balance runs out within this many days."
    )


def may_change_alerts(caller: Caller) -> None:
    if not caller.may_spend:
        raise PermissionDenied("A read key cannot change alerts; use a full key.")
    if caller.test:
        raise PermissionDenied("A test key cannot change alerts.")


@router.endpoint(
    "/alerts/",
    methods=["GET"],
    summary="The account's alert thresholds and their states",
    responses=documented(200, {"data": [ALERT]}, 401, 403),
)
def list_alerts(request: Request, caller: CustomerCaller) -> MoneyJSONResponse:
    single(request.query_params, ())
    found = services_of(request).alerts.list(account_id=caller.account_id)
    return MoneyJSONResponse({"data": [render.alert(a) for a in found]})


@router.endpoint(
    "/alerts/",
    methods=["POST"],
    status_code=201,
    summary="Add an alert threshold",
    responses=documented(201, {"data": ALERT}, 400, 401, 403),
)
def add_alert(request: Request, body: AlertIn, caller: CustomerCaller) -> MoneyJSONResponse:
    single(request.query_params, ())
    may_change_alerts(caller)
    threshold = None if body.threshold is None else parse_usd(body.threshold, field="threshold")
    spec = AlertSpec(body.kind, threshold, body.percent, body.window_days, body.horizon_days)
    made = services_of(request).alerts.add(account_id=caller.account_id, spec=spec)
    return MoneyJSONResponse({"data": render.alert(made)}, status_code=201)


@router.endpoint(
    "/alerts/{alert_id}/",
    methods=["DELETE"],
    status_code=204,
    summary="Remove an alert threshold",
    responses=documented(204, None, 401, 403, 404),
)
def remove_alert(request: Request, alert_id: str, caller: CustomerCaller) -> Response:
    single(request.query_params, ())
    may_change_alerts(caller)
    services_of(request).alerts.remove(account_id=caller.account_id, alert_id=alert_id)
    return Response(status_code=204)


EVENT_PARAMETERS = documented_parameters(
    ("limit", "integer", "Page size, 1-1000 (default 100)."),
    ("before", "string", "Only events older than this event id (the next page)."),
    ("type", "string", "Only events of this type."),
)


@router.endpoint(
    "/events/",
    methods=["GET"],
    summary="The account's events, newest first",
    responses=documented(200, {"data": [EVENT], "meta": {"next_before": None}}, 400, 401, 403),
    openapi_extra=EVENT_PARAMETERS,
)
def list_events(request: Request, caller: CustomerCaller) -> MoneyJSONResponse:
    values = single(request.query_params, ("limit", "before", "type"))
    kind = values.get("type")
    known = (*ev.SUBSCRIBABLE, ev.WEBHOOK_TEST)
    if kind is not None and kind not in known:
        raise InvalidInput("type", f"Unknown event type. Allowed: {', '.join(sorted(known))}.")
    limit = integer(values, "limit", 100)
    found = services_of(request).events.page(
        account_id=caller.account_id, limit=limit, before_id=values.get("before"), type_=kind
    )
    data: list[dict[str, Any]] = [ev.envelope(e) for e in found]
    following = found[-1].id if len(found) == limit else None
    return MoneyJSONResponse({"data": data, "meta": {"next_before": following}})
