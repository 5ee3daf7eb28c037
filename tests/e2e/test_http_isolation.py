"""Tenant isolation, walked from the OpenAPI document of a real server: every customer route
with an id in its path is called with the ids of another account's transactions, keys,
reservations, alerts, webhooks and deliveries, and every customer filter that names
something (`client_id`, `token`, `before`, `cursor`) with another account's values. Each answer
is a 404 (or 403) or an empty result, never the other account's data, and the other account
is left as it was. A new path parameter or filter fails the walk until it is listed here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.api import Api, Customer, decoded
from tests.e2e.server import ServerProcess

HOOK_URL = "https://hooks.example.com/isolation"
HOOK_EVENTS = ["credits.added"]
SPEND = {"operation": "search_database", "units": 1}
# A valid body for each call with one, so that validation (400) cannot hide the answer.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/reservations/{reservation_id}/settle/"): {"units": 1},
    ("PUT", "/api/v1/webhooks/{webhook_id}/"): {"url": HOOK_URL, "events": HOOK_EVENTS},
    ("PATCH", "/api/v1/webhooks/{webhook_id}/"): {"is_active": False},
}
# At least these routes are walked (the walk takes every route with a path parameter).
ID_ROUTES = {
    "/api/v1/accounts/transactions/{transaction_id}/",
    "/api/v1/accounts/keys/{key_id}/",
    "/api/v1/reservations/{reservation_id}/settle/",
    "/api/v1/reservations/{reservation_id}/cancel/",
    "/api/v1/alerts/{alert_id}/",
    "/api/v1/webhooks/{webhook_id}/",
    "/api/v1/webhooks/{webhook_id}/test/",
    "/api/v1/webhooks/{webhook_id}/deliveries/",
    "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver/",
}
# Query parameters that name another account's things (the rest are dates, pages, kinds).
NAMING_FILTERS = {"client_id", "token", "before", "cursor"}


@dataclass(frozen=True, slots=True)
class Tenant:
    """An account with one of everything that has an id."""

    customer: Customer
    ids: dict[str, str]  # path parameter -> an id of this account
    filters: dict[str, str]  # naming filter -> a value of this account
    secrets: list[str]

    @property
    def everything(self) -> set[str]:
        """Every value that must never appear in an answer to another account."""
        who = self.customer
        values = {who.account_id, who.email, who.key.id, who.key.secret, *self.secrets}
        return values | set(self.ids.values()) | set(self.filters.values())


def _data(response: Any) -> Any:
    assert response.status_code in (200, 201, 202), response.text
    return decoded(response)


def _webhook_and_delivery(api: Api, who: Customer) -> tuple[dict[str, Any], str]:
    body = {"url": HOOK_URL, "events": HOOK_EVENTS}
    hook = _data(api.send("POST", "/api/v1/webhooks/", headers=who.headers, body=body))
    queued = api.post(who, f"/api/v1/webhooks/{hook['id']}/test/")
    return hook, _data(queued)["data"]["delivery_id"]


def _second_key(api: Api, who: Customer, client_id: str) -> dict[str, Any]:
    body = {"name": f"{client_id} key", "client_id": client_id}
    made: dict[str, Any] = _data(api.post(who, "/api/v1/accounts/keys/", body))["data"]
    return made


def _cursors(api: Api, who: Customer) -> tuple[str, str]:
    """A next-page cursor of the account's transactions, and its newest event's id."""
    page = _data(api.get(who, "/api/v1/accounts/transactions/", limit="1"))["data"]
    events = _data(api.get(who, "/api/v1/events/", limit="1"))
    return page["next_cursor"], events["data"][0]["id"]


def tenant(api: Api, label: str) -> Tenant:
    who = api.customer(balance="50")
    charge = api.charged(who)["id"]
    api.charged(who)
    held = _data(api.post(who, "/api/v1/reservations/", {**SPEND, "units": 3}))["data"]["id"]
    alert = _data(api.post(who, "/api/v1/alerts/", {"kind": "balance", "threshold": "5"}))
    hook, delivery = _webhook_and_delivery(api, who)
    key = _second_key(api, who, f"client-{label}")
    cursor, event = _cursors(api, who)
    ids = {
        "transaction_id": charge,
        "key_id": key["id"],
        "reservation_id": held,
        "alert_id": alert["data"]["id"],
        "webhook_id": hook["id"],
        "delivery_id": delivery,
    }
    filters = {"client_id": f"client-{label}", "token": key["key"], "cursor": cursor}
    filters["before"] = event
    return Tenant(who, ids, filters, [hook["secret"], key["key"]])


@pytest.fixture(scope="module")
def openapi(server: ServerProcess) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
    return document


def customer_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v1/") or path.startswith("/api/v1/admin/"):
            continue
        for method, operation in operations.items():
            found.append((method.upper(), path, operation))
    return found


def parameters(operation: dict[str, Any], where: str) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == where]


def _ids(rows: list[dict[str, Any]], *fields: str) -> list[tuple[Any, ...]]:
    return [tuple(row[f] for f in ("id", *fields)) for row in rows]


def snapshot(api: Api, who: Tenant) -> list[Any]:
    """What a foreign call could change of the other account (not what its dispatcher, busy
    failing to reach hooks.example.com meanwhile, changes)."""
    customer, hook = who.customer, who.ids["webhook_id"]
    me = _data(api.get(customer, "/api/v1/accounts/me/"))["data"]
    history = api.transactions(customer)
    keys = _data(api.get(customer, "/api/v1/accounts/keys/"))["data"]
    alerts = _data(api.get(customer, "/api/v1/alerts/"))["data"]
    hooks = _data(api.get(customer, "/api/v1/webhooks/"))
    deliveries = _data(api.get(customer, f"/api/v1/webhooks/{hook}/deliveries/"))["data"]
    return [
        me["credits"],
        _ids(history, "credits", "details"),
        _ids(keys, "is_active"),
        _ids(alerts, "kind", "threshold"),
        _ids(hooks, "url", "events", "secret", "is_active"),
        _ids(deliveries["deliveries"], "event_id"),
    ]


def assert_foreign(response: Any, theirs: Tenant, sent: set[str]) -> None:
    assert response.status_code in (403, 404), (response.status_code, response.text)
    leaked = {value for value in theirs.everything - sent if value in response.text}
    assert not leaked, (leaked, response.text)


def test_every_customer_route_with_an_id_refuses_another_accounts_ids(
    api: Api, openapi: dict[str, Any]
) -> None:
    mine, theirs = tenant(api, "mine"), tenant(api, "theirs")
    before = snapshot(api, theirs)
    walked = set()
    for method, path, operation in customer_operations(openapi):
        names = parameters(operation, "path")
        if not names:
            continue
        unknown = [name for name in names if name not in theirs.ids]
        assert not unknown, f"{method} {path}: no foreign id for {unknown}; add one to tenant()"
        for target in _targets(names, mine, theirs):
            url = path.format(**target)
            body = BODIES.get((method, path))
            response = api.send(method, url, headers=mine.customer.headers, body=body)
            assert_foreign(response, theirs, set(target.values()))
            walked.add((method, path))
    assert {path for _, path in walked} >= ID_ROUTES, walked
    assert snapshot(api, theirs) == before


def _targets(names: list[str], mine: Tenant, theirs: Tenant) -> list[dict[str, str]]:
    """Each way of naming something of theirs: all their ids; and, for nested paths, my
    parent with their child (my webhook, their delivery)."""
    every = [{name: theirs.ids[name] for name in names}]
    if len(names) > 1:
        parents = {name: mine.ids[name] for name in names[:-1]}
        every.append({**parents, names[-1]: theirs.ids[names[-1]]})
    return every


def test_every_customer_filter_that_names_something_ignores_another_accounts_values(
    api: Api, openapi: dict[str, Any]
) -> None:
    mine, theirs = tenant(api, "me2"), tenant(api, "them2")
    tried = []
    for method, path, operation in customer_operations(openapi):
        if method != "GET" or parameters(operation, "path"):
            continue
        for name in set(parameters(operation, "query")) & NAMING_FILTERS:
            value = theirs.filters[name]
            response = api.get(mine.customer, path, **{name: value})
            assert response.status_code in (200, 400, 404), (path, name, response.text)
            leaked = {v for v in theirs.everything - {value} if v in response.text}
            assert not leaked, (path, name, leaked, response.text)
            tried.append((path, name))
    assert {name for _, name in tried} == NAMING_FILTERS, tried
