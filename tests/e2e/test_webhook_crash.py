"""Crash safety of the outbox: events committed by a server that is SIGKILLed before it
delivers them (and again in the middle of delivering them) all reach the receiver after
restarts — each event id exactly once after deduplication, at least once on the wire."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.e2e.api import Api, Customer, decoded
from tests.e2e.server import ServerProcess, database
from tests.receiver import Receiver, Reply

GRANTS = 25
SUBSCRIBED = ["credits.added", "balance.alert.triggered"]
QUIET = {
    "CREDITBOOK_WEBHOOK_ALLOW_HTTP": "true",
    "CREDITBOOK_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",  # the receiver is on loopback
    "CREDITBOOK_RUN_CLOCK": "false",
}
DELIVERING = {
    "CREDITBOOK_WEBHOOK_ALLOW_HTTP": "true",
    "CREDITBOOK_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
    "CREDITBOOK_RUN_CLOCK": "true",
    "CREDITBOOK_DISPATCH_INTERVAL_S": "0.1",
    "CREDITBOOK_WEBHOOK_TIMEOUT_S": "2",
    "CREDITBOOK_WEBHOOK_LEASE_S": "4",
    "CREDITBOOK_WEBHOOK_BACKOFF_BASE_S": "0.5",
}


def _event_ids(server: ServerProcess, who: Customer) -> set[str]:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        found = decoded(http.get("/api/v1/events/", headers=who.headers, params={"limit": "1000"}))
    return {e["id"] for e in found["data"] if e["type"] in SUBSCRIBED}


def _commit_events(server: ServerProcess, receiver: Receiver) -> set[str]:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        api = Api(http, server.admin_token)
        who = api.customer(balance=None)
        body = {"url": receiver.url, "events": SUBSCRIBED}
        assert api.post(who, "/api/v1/webhooks/", body).status_code == 201
        for i in range(GRANTS):
            api.grant(who.account_id, Decimal("0.5") + i)
    return _event_ids(server, who)


@pytest.mark.parametrize("backend", BACKENDS)
def test_events_committed_before_a_sigkill_are_all_delivered_after_restarts(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with database(backend, request, tmp_path) as url, Receiver(Reply(delay_s=0.05)) as receiver:
        server = ServerProcess(url, tmp_path)
        server.extra_env = QUIET  # commits events, delivers none
        server.start()
        try:
            committed = _commit_events(server, receiver)
            assert len(committed) >= GRANTS and receiver.received == []
            server.kill()
            server.extra_env = DELIVERING
            server.start()
            time.sleep(0.4)  # some deliveries in flight...
            server.kill()  # ...and killed again, mid-delivery
            server.start()
            deadline = time.monotonic() + 60
            while set(receiver.per_event) < committed and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            server.stop()
    assert set(receiver.per_event) == committed  # each event id, after dedup, exactly once
    assert all(count >= 1 for count in receiver.per_event.values())
    assert sum(receiver.per_event.values()) >= len(committed)
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert all(r.json["id"] == i for r, i in zip(receiver.received, ids, strict=True))
