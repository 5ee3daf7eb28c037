"""Security properties of a real server (docs/security.md): failed authentications are rate
limited per client address; no secret reaches the database in plaintext (keys) or the logs
(keys, the admin token, webhook secrets); CSV cells cannot run as spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from creditbook.storage.engine import normalise_url
from creditbook.storage.tables import metadata
from tests.e2e.api import Api, Customer, assert_error, decoded
from tests.e2e.server import ServerProcess, database

LIMITED = {"CREDITBOOK_AUTH_FAILURES_MAX": "3", "CREDITBOOK_AUTH_FAILURE_WINDOW_S": "2"}
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LWZvci10aGUtbG9nLXRlc3QtMTIzNDU2Nzg5MA=="
ME = "/api/v1/accounts/me/"


class OwnServer(ServerProcess):
    """A server of the test's own, with its settings; `started` also gives its client."""

    clients: list[httpx.Client]

    def started(self, **env: str) -> Api:
        self.extra_env = env
        self.start()
        self.clients.append(httpx.Client(base_url=self.base_url, timeout=30))
        return Api(self.clients[-1], self.admin_token)


@pytest.fixture
def own_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OwnServer]:
    with database("sqlite", request, tmp_path) as url:
        server = OwnServer(url, tmp_path)
        server.clients = []
        try:
            yield server
        finally:
            for client in server.clients:
                client.close()
            server.stop()


def bad(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


# Rate limiting of failed authentication


def test_an_address_that_keeps_failing_to_authenticate_gets_429_until_the_window_ends(
    own_server: OwnServer,
) -> None:
    api = own_server.started(**LIMITED)
    who = api.customer()
    assert_error(api.client.get(ME), 401)  # no credentials: not a guess, not counted
    api.me(who)  # a success is not counted either
    for secret in ("cb_live_unknown", "Basic x", f"{api.admin_token}x"):
        assert_error(api.client.get(ME, headers=bad(secret)), 401)
    refused = api.client.get(ME, headers=who.headers)  # even a good key, from this address
    detail = assert_error(refused, 429)
    assert "Too many failed authentications" in detail
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    assert_error(api.admin("GET", "/accounts/"), 429)
    time.sleep(int(refused.headers["retry-after"]) + 0.1)
    assert api.me(who)["id"] == who.account_id


def sign_in_form(client: httpx.Client, key: str) -> httpx.Response:
    """Post `key` to the dashboard's sign-in form with the guest session's CSRF token."""
    form = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None, form.text
    return client.post("/sign-in", data={"csrf_token": token.group(1), "key": key})


def test_wrong_keys_on_the_dashboard_sign_in_form_count_towards_the_same_limit(
    own_server: OwnServer,
) -> None:
    api = own_server.started(**LIMITED)
    who = api.customer()
    assert sign_in_form(api.client, "").status_code == 401  # nothing typed: not counted
    for secret in ("cb_live_unknown", "cb_live_unknown_too"):
        answer = sign_in_form(api.client, secret)
        assert answer.status_code == 401 and "was not accepted" in answer.text
    assert_error(api.client.get(ME, headers=bad("cb_live_third")), 401)  # the API's door
    refused = sign_in_form(api.client, who.key.secret)  # even the right key, from here
    assert refused.status_code == 429 and "Too many keys were refused" in refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    assert_error(api.client.get(ME, headers=who.headers), 429)
    time.sleep(int(refused.headers["retry-after"]) + 0.1)
    opened = sign_in_form(api.client, who.key.secret)
    assert opened.status_code == 303 and opened.headers["location"] == "/"


# Secrets at rest and in logs


def database_text(url: str) -> str:
    """Every row of every table, as text."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            rows = [
                repr(tuple(row))
                for table in metadata.sorted_tables
                for row in connection.execute(select(table))
            ]
    finally:
        engine.dispose()
    assert len(rows) > 10
    return "\n".join(rows)


def test_the_database_holds_key_hashes_never_the_keys(api: Api, server: ServerProcess) -> None:
    keys = [api.customer().key for _ in range(3)]
    keys += [api.create_key(api.customer(balance=None).account_id, test=True, scope="read")]
    text = database_text(server.database_url)
    for key in keys:
        assert key.id in text  # the key is there, by id
        assert key.secret not in text
        assert key.secret[-12:] not in text  # not even most of it
    assert api.admin_token not in text


def exercise(api: Api, who: Customer) -> None:
    """Requests that carry every kind of secret, right and wrong, in headers and query."""
    api.me(who)
    api.charged(who)
    analytics = "/api/v1/accounts/tokens/analytics/"
    assert api.get(who, analytics, token=who.key.secret).status_code == 200
    assert_error(api.client.get(ME, headers=bad(who.key.secret + "x")), 401)
    assert_error(api.client.get("/api/v1/admin/accounts/", headers=bad(api.admin_token[:-1])), 401)
    hook = {"url": "https://hooks.example.com/x", "events": ["credits.added"]}
    made = api.post(who, "/api/v1/webhooks/", {**hook, "secret": WEBHOOK_SECRET})
    assert made.status_code == 201, made.text
    queued = api.post(who, f"/api/v1/webhooks/{decoded(made)['id']}/test/")
    assert queued.status_code == 202
    api.grant(who.account_id, "1")


def test_no_secret_reaches_the_logs_even_at_debug_level(own_server: OwnServer) -> None:
    api = own_server.started(CREDITBOOK_LOG_LEVEL="debug", CREDITBOOK_DISPATCH_INTERVAL_S="0.1")
    who = api.customer()
    exercise(api, who)
    time.sleep(1.0)  # the dispatcher tries the webhook (and logs its failure) meanwhile
    own_server.stop()
    lines = own_server.log_path.read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(r.get("level") == "debug" for r in records), lines[:5]
    assert any(r.get("api_key_id") == who.key.id for r in records)  # keys logged by id only
    text = "\n".join(lines)
    for secret in (who.key.secret, api.admin_token, WEBHOOK_SECRET, WEBHOOK_SECRET[6:]):
        assert secret not in text


# CSV injection


def test_every_free_text_cell_of_the_csv_export_is_formula_safe(api: Api) -> None:
    who = api.customer(balance="10")
    starts = ["=1+2", "+SUM(A1)", "-2+3", "@cmd"]
    for n, start in enumerate(starts):
        fields = {"idempotency_key": f"{start}-{n}", "request_id": start}
        assert api.charge(who, **fields).status_code == 201
    adjust = f"/accounts/{who.account_id}/adjustments/"
    for reason in ("=HYPERLINK(evil)", "-1+1", "@SUM(A1)"):  # the note
        made = api.admin("POST", adjust, {"amount": "-1", "reason": reason})
        assert made.status_code == 201, made.text
    # A tab or CR never gets that far: tokens are printable ASCII, notes refuse control
    # characters (csv_text would neutralise them all the same).
    assert_error(api.charge(who, request_id="\tx"), 400, field="request_id")
    refused = api.admin("POST", adjust, {"amount": "-1", "reason": "\r=1"})
    assert_error(refused, 400, field="reason")
    export = api.get(who, "/api/v1/accounts/transactions/", format="csv")
    rows = list(csv.DictReader(io.StringIO(export.text, newline="")))
    text_cells = [r[c] for r in rows for c in ("idempotency_key", "request_id", "note") if r[c]]
    assert len(text_cells) == 2 * len(starts) + 3
    assert all(cell.startswith("'") for cell in text_cells), text_cells
    charges = [r for r in rows if r["type"] == "search_database"]
    assert all(_plain_number(r["credits"]) and r["credits"].startswith("-") for r in charges)
    assert all(_plain_number(r[c]) for r in rows for c in ("balance_after", "unit_price", "units"))


def _plain_number(cell: Any) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return not cell.startswith("'")


# Webhook destinations


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
    ],
)
def test_a_webhook_to_a_private_address_is_refused_with_a_400_on_url(api: Api, url: str) -> None:
    who = api.customer()
    body = {"url": url, "events": ["credits.added"]}
    detail = assert_error(api.post(who, "/api/v1/webhooks/", body), 400, field="url")
    assert "public address" in detail["url"][0]
    assert decoded(api.get(who, "/api/v1/webhooks/")) == []
