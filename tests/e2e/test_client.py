"""creditbook.client against a real server on both databases: every method, sync and async;
paging to the end; the CSV export; retries that charge once; errors as typed exceptions."""

from __future__ import annotations

import asyncio
import csv
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from creditbook.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    InsufficientFundsError,
    NotFoundError,
    PermissionDeniedError,
    Retries,
    TransactionPage,
    ValidationError,
)
from creditbook.client.core import following
from tests.e2e.api import Api, Customer
from tests.e2e.server import ServerProcess

FAST = Retries(attempts=4, backoff_s=0.01, max_backoff_s=0.05)


def client_for(server: ServerProcess, who: Customer, **kw: object) -> Client:
    return Client(base_url=server.base_url, key=who.key.secret, retries=FAST, **kw)  # type: ignore[arg-type]


def test_every_client_method_answers_with_typed_exact_values(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    who = api.customer(balance="10.000001")
    with client_for(server, who) as client:
        me = client.me()
        assert me.id == who.account_id and me.credits.balance == Decimal("10.000001")
        receipt = client.charge(operation="email_validate", units=3, request_id="r-1")
        assert receipt.amount_charged == Decimal("0.015") and not receipt.replayed
        assert receipt.balance == Decimal("9.985001")
        assert isinstance(receipt.transaction.credits, Decimal)
        batch = client.charge_batch(charges=[{"operation": "search_database", "units": 2}] * 2)
        assert batch.succeeded == 2 and batch.amount_charged == Decimal("0.08")
        held = client.reserve(operation="search_database", units=10, ttl_s=60)
        assert held.units == 10 and held.reserved == Decimal("0.2")
        settled = client.settle(reservation_id=held.id, units=4)
        assert settled.amount_charged == Decimal("0.08")
        other = client.reserve(operation="search_database", units=5)
        assert client.cancel(reservation_id=other.id).amount_charged == 0
        assert client.cancel(reservation_id=other.id).replayed
        spent = Decimal("0.015") + Decimal("0.08") + Decimal("0.08")
        assert client.me().credits.balance == Decimal("10.000001") - spent
        usage = client.usage(timezone="Europe/Kyiv", period="week")
        assert usage.total_credits == spent
        assert usage.breakdown == {
            "email_validate": Decimal("0.015"),
            "search_database": Decimal("0.16"),
        }
        page = client.transactions(limit=2)
        assert len(page.transactions) == 2 and page.next_cursor
        one = client.transaction(transaction_id=receipt.transaction.id)
        assert one.credits == Decimal("-0.015") and one.status == "success"
        made = client.create_key(name="second", client_id="acme", scope="read")
        assert made.secret and made.scope == "read"
        assert {k.id for k in client.keys()} == {who.key.id, made.id}  # noqa: SIM118
        assert not client.revoke_key(key_id=made.id).is_active
        analytics = client.token_analytics(client_id="acme")
        assert analytics.total_requests == 0 and len(analytics.tokens) == 1
        alert = client.add_alert(kind="balance", threshold=Decimal("50.5"))
        assert alert.threshold == Decimal("50.5") and alert.state == "in_alarm"
        assert alert.id in [a.id for a in client.alerts()]
        events = client.events(limit=10)
        assert "balance.alert.triggered" in {e.type for e in events.events}
        client.remove_alert(alert_id=alert.id)
        assert alert.id not in [a.id for a in client.alerts()]
        assert client.export_csv(path=tmp_path / "h.csv") > 0


def test_the_async_client_has_the_same_methods_and_answers(api: Api, server: ServerProcess) -> None:
    who = api.customer(balance="10")

    async def scenario() -> None:
        async with AsyncClient(base_url=server.base_url, key=who.key.secret, retries=FAST) as c:
            receipt = await c.charge(operation="search_database", units=5, idempotency_key="k1")
            again = await c.charge(operation="search_database", units=5, idempotency_key="k1")
            assert again.replayed and again.transaction.id == receipt.transaction.id
            held = await c.reserve(operation="email_find", units=2)
            assert (await c.settle(reservation_id=held.id, units=1)).amount_charged == Decimal(
                "0.02"
            )
            other = await c.reserve(operation="email_find", units=2)
            await c.cancel(reservation_id=other.id)
            batch = await c.charge_batch(charges=[{"operation": "email_find", "units": 1}])
            assert batch.items[0].status == 201
            assert (await c.me()).credits.balance == Decimal("9.86")
            assert (await c.usage()).total_credits == Decimal("0.14")
            rows = [t async for t in c.iter_transactions(limit=2)]
            assert len(rows) == 5  # 4 charges (one settled reservation) + the grant, no cancel
            assert (await c.transaction(transaction_id=rows[0].id)).id == rows[0].id
            key = await c.create_key(name="k", test=True)
            assert key.test and len(await c.keys()) == 2
            await c.revoke_key(key_id=key.id)
            assert (await c.token_analytics()).tokens
            alert = await c.add_alert(kind="monthly_percent", percent=80)
            assert alert.id in [a.id for a in await c.alerts()]
            await c.remove_alert(alert_id=alert.id)
            assert all(e.id for e in (await c.events(limit=5)).events)
            assert (await c.transactions(limit=1)).transactions

    asyncio.run(scenario())
    cancelled = [t for t in api.transactions(who, status="error")]
    assert len(cancelled) == 1


def test_iterating_transactions_reaches_the_end_and_equals_the_total_count(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    who = api.customer(balance="100")
    for units in range(1, 12):
        api.charged(who, "search_database", units)
    with client_for(server, who) as client:
        rows = list(client.iter_transactions(limit=3))
        filtered = list(client.iter_transactions(limit=4, type="search_database"))
        written = client.export_csv(path=tmp_path / "all.csv")
    assert len(rows) == 12 and len({r.id for r in rows}) == 12  # 11 charges and the grant
    assert len(filtered) == 11
    assert [r.id for r in rows] == [t["id"] for t in api.transactions(who, limit="1000")]
    with (tmp_path / "all.csv").open(newline="") as f:
        exported = list(csv.DictReader(f))
    assert written > 0 and len(exported) == 12
    assert {r.id for r in rows} == {e["id"] for e in exported}
    by_id = {r.id: r for r in rows}
    for line in exported:
        assert Decimal(line["credits"]) == by_id[line["id"]].credits


def test_offset_paging_is_used_when_the_server_gives_no_cursor() -> None:
    full = TransactionPage([object()] * 3, None, has_cursor=False)  # type: ignore[list-item]
    assert following({"limit": "3"}, full) == {"limit": "3", "offset": "3"}
    short = TransactionPage([object()] * 2, None, has_cursor=False)  # type: ignore[list-item]
    assert following({"limit": "3", "offset": "3"}, short) is None
    last = TransactionPage([], None, has_cursor=True)
    assert following({"limit": "3"}, last) is None


class DropAfterSending(httpx.BaseTransport):
    """Forwards each request to the server; for the first `drops` requests matching `path`,
    the answer is then thrown away and the connection reported as dropped."""

    def __init__(self, path: str, drops: int = 1, status: int | None = None) -> None:
        self.inner = httpx.HTTPTransport()
        self.path, self.drops, self.status = path, drops, status
        self.sent: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.sent.append(request.url.path)
        if request.url.path == self.path and self.drops > 0:
            self.drops -= 1
            if self.status is not None:
                return httpx.Response(self.status, text="bad gateway")
            raise httpx.ReadError("connection dropped after sending", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("failure", [None, 502, 503, 504])
def test_a_charge_retried_after_a_lost_answer_is_charged_exactly_once(
    api: Api, server: ServerProcess, failure: int | None
) -> None:
    who = api.customer(balance="10")
    transport = DropAfterSending("/api/v1/charges/", drops=2, status=failure)
    with client_for(server, who, transport=transport) as client:
        receipt = client.charge(operation="search_database", units=5)
    assert transport.sent.count("/api/v1/charges/") == 3
    assert receipt.replayed and receipt.amount_charged == Decimal("0.1")
    assert api.balance(who) == Decimal("9.9")
    assert len(api.transactions(who, type="search_database")) == 1


def test_a_settle_retried_after_a_dropped_connection_settles_once(
    api: Api, server: ServerProcess
) -> None:
    who = api.customer(balance="10")
    path_holder: list[str] = []
    with client_for(server, who) as plain:
        held = plain.reserve(operation="search_database", units=10)
    path_holder.append(f"/api/v1/reservations/{held.id}/settle/")
    transport = DropAfterSending(path_holder[0])
    with client_for(server, who, transport=transport) as client:
        settled = client.settle(reservation_id=held.id, units=3)
    assert settled.amount_charged == Decimal("0.06") and api.balance(who) == Decimal("9.94")


def test_errors_are_raised_as_typed_exceptions_with_status_and_detail_and_never_retried(
    api: Api, server: ServerProcess
) -> None:
    who = api.customer(balance="1")
    transport = DropAfterSending("/", drops=0)
    with client_for(server, who, transport=transport) as client:
        with pytest.raises(ValidationError) as bad:
            client.transactions(status="done")
        assert bad.value.status_code == 400 and "status" in bad.value.detail
        with pytest.raises(InsufficientFundsError) as poor:
            client.charge(operation="search_database", units=1000)
        assert poor.value.detail == "Insufficient funds in the account."
        with pytest.raises(NotFoundError):
            client.transaction(transaction_id="txn_nope")
        client.charge(operation="search_database", units=1, idempotency_key="same")
        with pytest.raises(ConflictError):
            client.charge(operation="search_database", units=2, idempotency_key="same")
    assert len(transport.sent) == 5  # one request each: 4xx answers are final
    reader = api.create_key(who.account_id, scope="read")
    with Client(base_url=server.base_url, key=reader.secret) as read_only:
        with pytest.raises(PermissionDeniedError) as denied:
            read_only.charge(operation="search_database", units=1)
        assert denied.value.status_code == 403
    with Client(base_url=server.base_url, key="cb_unknown") as stranger:
        with pytest.raises(AuthenticationError) as unknown:
            stranger.me()
        assert unknown.value.status_code == 401 and unknown.value.request_id


HOOK_EVENTS = ["credits.added", "balance.depleted"]


def test_webhook_methods_cover_every_webhook_endpoint_sync_and_async(
    api: Api, server: ServerProcess
) -> None:
    who = api.customer(balance="1")
    with client_for(server, who) as client:
        made = client.create_webhook(url="https://hooks.example.com/a", events=HOOK_EVENTS)
        assert made.secret.startswith("whsec_") and made.is_active
        listed = client.webhooks()
        assert [w.id for w in listed] == [made.id] and listed[0].secret != made.secret
        assert client.webhook(webhook_id=made.id).url == "https://hooks.example.com/a"
        replaced = client.replace_webhook(
            webhook_id=made.id, url="https://hooks.example.com/b", events=["credits.added"]
        )
        assert replaced.events == ["credits.added"]
        paused = client.update_webhook(webhook_id=made.id, is_active=False)
        assert not paused.is_active
        client.update_webhook(webhook_id=made.id, is_active=True)
        queued = client.test_webhook(webhook_id=made.id)
        assert queued.event == "webhook.test" and queued.status == "pending"
        log = client.webhook_deliveries(webhook_id=made.id, limit=10)
        assert queued.delivery_id in [d.id for d in log.deliveries]
        again = client.redeliver(webhook_id=made.id, delivery_id=queued.delivery_id)
        assert again.delivery_id == queued.delivery_id
        with pytest.raises(ValidationError):
            client.create_webhook(url="https://hooks.example.com/c", events=["nope"])

    async def scenario() -> None:
        async with AsyncClient(base_url=server.base_url, key=who.key.secret, retries=FAST) as c:
            assert [w.id for w in await c.webhooks()] == [made.id]
            assert (await c.webhook(webhook_id=made.id)).is_active
            page = await c.webhook_deliveries(webhook_id=made.id)
            assert page.deliveries
            await c.delete_webhook(webhook_id=made.id)
            with pytest.raises(NotFoundError):
                await c.webhook(webhook_id=made.id)

    asyncio.run(scenario())
