"""Webhook delivery to non-public addresses, on SQLite and PostgreSQL, against a real receiver
on loopback: a host name that resolves to loopback when it is delivered to (DNS rebinding: it
was registered as a name, not an address) is not contacted, and the attempt fails for good;
with `webhook_allow_private_networks` the same delivery goes through."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest

from creditbook.bootstrap import build
from creditbook.clock import US_PER_S, ManualClock
from creditbook.domain import events
from creditbook.services import egress
from creditbook.services.dispatch import Dispatcher
from tests.conftest import make_settings
from tests.receiver import Receiver

OPTIONS: dict[str, Any] = {
    "timeout_s": 2.0,
    "attempts_max": 5,
    "backoff_base_s": 10.0,
    "backoff_max_s": 100.0,
    "disable_after_failures": 100,
    "lease_s": 30.0,
    "interval_s": 0.02,
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def deliver_once(db_url: str, clock: ManualClock, url: str, allow_private: bool) -> list[Any]:
    """Register `url`, top the account up, run the dispatcher twice (the second time after any
    backoff); the delivery log."""
    settings = make_settings(
        db_url, webhook_allow_http=True, webhook_allow_private_networks=allow_private
    )
    services = build(settings, clock=clock)
    sender = Dispatcher(
        services.store, clock=clock, allow_private_networks=allow_private, **OPTIONS
    )
    try:
        account = services.accounts.create(email="egress@example.com")
        saved = services.webhooks.create(
            account_id=account.id, url=url, events=[events.CREDITS_ADDED]
        )
        services.ledger.grant(account_id=account.id, amount_micros=US_PER_S)
        assert sender.run_once() == 1
        clock.advance(1_000 * US_PER_S)
        assert sender.run_once() == 0  # nothing left to retry
        page = services.webhooks.deliveries(account_id=account.id, webhook_id=saved.webhook.id)
        return page.deliveries
    finally:
        sender.close()
        services.close()


def test_a_name_that_resolves_to_loopback_at_delivery_is_refused_without_retry(
    db_url: str, clock: ManualClock, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []

    def rebinding(host: str, _port: int) -> list[Any]:
        looked_up.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(egress, "resolve", rebinding)
    port = receiver.url.split(":")[2].split("/")[0]
    [logged] = deliver_once(db_url, clock, f"http://rebind.example:{port}/hook", False)
    assert looked_up == ["rebind.example"]
    assert receiver.received == []
    delivery = logged.delivery
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, None)
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("Refused: rebind.example resolves to 127.0.0.1")
    assert [a.error for a in logged.attempts] == [delivery.last_error]


def test_with_private_networks_allowed_the_loopback_name_is_delivered_to(
    db_url: str, clock: ManualClock, receiver: Receiver
) -> None:
    url = receiver.url.replace("127.0.0.1", "localhost")
    [logged] = deliver_once(db_url, clock, url, True)
    assert logged.delivery.status == "delivered"
    [got] = receiver.wait_for(1)
    assert got.json["type"] == events.CREDITS_ADDED
