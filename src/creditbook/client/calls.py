"""Every API call of the client, built as a `Call` that either client sends. Metering calls
always carry an idempotency key (generated when the caller gives none), so sending them again
after a lost answer charges once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from creditbook.client import models as m
from creditbook.client.core import API, PAGE_SIZE, Call, Safety, data, new_key, query

When = date | datetime | str


def me() -> Call[m.Me]:
    return Call("GET", f"{API}/accounts/me/", lambda b: m.Me.from_json(data(b)))


def usage(
    *,
    start: When | None,
    end: When | None,
    timezone: str | None,
    period: str | None,
    period_month: str | None,
) -> Call[m.Usage]:
    params = query(
        start_date=start,
        end_date=end,
        timezone=timezone,
        period=period,
        period_month=period_month,
    )
    return Call("GET", f"{API}/accounts/usage/", lambda b: m.Usage.from_json(data(b)), params)


def transactions_query(filters: Mapping[str, Any]) -> dict[str, str]:
    """The first page's query: the filters as given, and a page size."""
    return {"limit": str(PAGE_SIZE), **query(**filters)}


def transactions(params: Mapping[str, str]) -> Call[m.TransactionPage]:
    read = lambda b: m.TransactionPage.from_json(data(b))  # noqa: E731
    return Call("GET", f"{API}/accounts/transactions/", read, dict(params))


def transaction(transaction_id: str) -> Call[m.Transaction]:
    read = lambda b: m.Transaction.from_json(data(b))  # noqa: E731
    return Call("GET", f"{API}/accounts/transactions/{transaction_id}/", read)


def export(filters: Mapping[str, Any]) -> Call[None]:
    params = {**query(**filters), "format": "csv"}
    return Call("GET", f"{API}/accounts/transactions/", lambda _: None, params)


def token_analytics(
    *,
    start: When | None,
    end: When | None,
    timezone: str | None,
    client_id: str | None,
    token: str | None,
) -> Call[m.TokenAnalytics]:
    params = query(
        start_date=start, end_date=end, timezone=timezone, client_id=client_id, token=token
    )
    read = lambda b: m.TokenAnalytics.from_json(data(b))  # noqa: E731
    return Call("GET", f"{API}/accounts/tokens/analytics/", read, params)


def keys() -> Call[list[m.ApiKey]]:
    return Call("GET", f"{API}/accounts/keys/", lambda b: [m.ApiKey.from_json(k) for k in data(b)])


def create_key(
    *, name: str | None, client_id: str | None, scope: str, test: bool
) -> Call[m.ApiKey]:
    body = {"name": name, "client_id": client_id, "scope": scope, "test": test}
    read = lambda b: m.ApiKey.from_json(data(b))  # noqa: E731
    return Call("POST", f"{API}/accounts/keys/", read, body=body, safety=Safety.UNSENT_ONLY)


def revoke_key(key_id: str) -> Call[m.ApiKey]:
    read = lambda b: m.ApiKey.from_json(data(b))  # noqa: E731
    return Call("DELETE", f"{API}/accounts/keys/{key_id}/", read)


def _metered(
    operation: str, units: int, extra: Mapping[str, Any], idempotency_key: str | None
) -> dict[str, Any]:
    body = {"operation": operation, "units": units, "idempotency_key": idempotency_key}
    body.update({k: v for k, v in extra.items() if v is not None})
    if body["idempotency_key"] is None:
        body["idempotency_key"] = new_key()
    return body


def charge(
    *, operation: str, units: int, idempotency_key: str | None, extra: Mapping[str, Any]
) -> Call[m.Receipt]:
    body = _metered(operation, units, extra, idempotency_key)
    return Call("POST", f"{API}/charges/", m.Receipt.from_json, body=body)


def charge_batch(
    *, charges: Sequence[Mapping[str, Any]], account_id: str | None
) -> Call[m.BatchResult]:
    items = [{**c, "idempotency_key": c.get("idempotency_key") or new_key()} for c in charges]
    body: dict[str, Any] = {"charges": items}
    if account_id is not None:
        body["account_id"] = account_id
    return Call("POST", f"{API}/charges/batch/", m.BatchResult.from_json, body=body)


def reserve(
    *, operation: str, units: int, idempotency_key: str | None, extra: Mapping[str, Any]
) -> Call[m.Reservation]:
    body = _metered(operation, units, extra, idempotency_key)
    return Call("POST", f"{API}/reservations/", m.Reservation.from_json, body=body)


def settle(*, reservation_id: str, units: int, account_id: str | None) -> Call[m.Receipt]:
    body: dict[str, Any] = {"units": units}
    if account_id is not None:
        body["account_id"] = account_id
    path = f"{API}/reservations/{reservation_id}/settle/"
    return Call("POST", path, m.Receipt.from_json, body=body)


def cancel(*, reservation_id: str, account_id: str | None) -> Call[m.Receipt]:
    body = {} if account_id is None else {"account_id": account_id}
    path = f"{API}/reservations/{reservation_id}/cancel/"
    return Call("POST", path, m.Receipt.from_json, body=body)


def alerts() -> Call[list[m.Alert]]:
    return Call("GET", f"{API}/alerts/", lambda b: [m.Alert.from_json(a) for a in data(b)])


def add_alert(
    *,
    kind: str,
    threshold: Decimal | None,
    percent: int | None,
    window_days: int | None,
    horizon_days: int | None,
) -> Call[m.Alert]:
    fields = {
        "kind": kind,
        "threshold": threshold,
        "percent": percent,
        "window_days": window_days,
        "horizon_days": horizon_days,
    }
    body = {k: v for k, v in fields.items() if v is not None}
    read = lambda b: m.Alert.from_json(data(b))  # noqa: E731
    return Call("POST", f"{API}/alerts/", read, body=body, safety=Safety.UNSENT_ONLY)


def remove_alert(alert_id: str) -> Call[None]:
    return Call("DELETE", f"{API}/alerts/{alert_id}/", lambda _: None)


def events(*, limit: int | None, before: str | None, type_: str | None) -> Call[m.EventPage]:
    params = query(limit=limit, before=before, type=type_)
    return Call("GET", f"{API}/events/", m.EventPage.from_json, params)


# Webhooks: Generect's shapes (bare objects), and creditbook's delivery log.

HOOKS = f"{API}/webhooks"


def webhooks() -> Call[list[m.Webhook]]:
    return Call("GET", f"{HOOKS}/", lambda b: [m.Webhook.from_json(w) for w in b])


def webhook(webhook_id: str) -> Call[m.Webhook]:
    return Call("GET", f"{HOOKS}/{webhook_id}/", m.Webhook.from_json)


def _hook_body(url: str | None, events: Sequence[str] | None, secret: str | None) -> Any:
    fields = {"url": url, "events": None if events is None else list(events), "secret": secret}
    return {k: v for k, v in fields.items() if v is not None}


def create_webhook(*, url: str, events: Sequence[str], secret: str | None) -> Call[m.Webhook]:
    body = _hook_body(url, events, secret)
    return Call("POST", f"{HOOKS}/", m.Webhook.from_json, body=body, safety=Safety.UNSENT_ONLY)


def replace_webhook(
    webhook_id: str, *, url: str, events: Sequence[str], secret: str | None
) -> Call[m.Webhook]:
    body = _hook_body(url, events, secret)
    return Call("PUT", f"{HOOKS}/{webhook_id}/", m.Webhook.from_json, body=body)


def update_webhook(webhook_id: str, fields: Mapping[str, Any]) -> Call[m.Webhook]:
    return Call("PATCH", f"{HOOKS}/{webhook_id}/", m.Webhook.from_json, body=dict(fields))


def delete_webhook(webhook_id: str) -> Call[None]:
    return Call("DELETE", f"{HOOKS}/{webhook_id}/", lambda _: None)


def send_test(webhook_id: str) -> Call[m.Queued]:
    path = f"{HOOKS}/{webhook_id}/test/"
    return Call("POST", path, m.Queued.from_json, safety=Safety.UNSENT_ONLY)


def webhook_deliveries(
    webhook_id: str, *, limit: int | None, cursor: str | None
) -> Call[m.DeliveryPage]:
    params = query(limit=limit, cursor=cursor)
    return Call("GET", f"{HOOKS}/{webhook_id}/deliveries/", m.DeliveryPage.from_json, params)


def redeliver(webhook_id: str, delivery_id: str) -> Call[m.Queued]:
    path = f"{HOOKS}/{webhook_id}/deliveries/{delivery_id}/redeliver/"
    return Call("POST", path, m.Queued.from_json, safety=Safety.UNSENT_ONLY)
