"""Webhook endpoints and the dispatcher against a real HTTP receiver on loopback, on SQLite
and PostgreSQL: signatures, retries with backoff, what each answer means, disabling an endpoint
that keeps failing, manual redelivery, and dispatchers in parallel never sending one delivery
twice at once. Time is a ManualClock moved by the tests; nothing sleeps through a backoff."""

from __future__ import annotations

import base64
import hashlib
import hmac
import multiprocessing
import threading
from collections.abc import Iterator
from random import Random
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook as StandardWebhook

from creditbook.bootstrap import Services, build
from creditbook.clock import US_PER_S, Clock, ManualClock, SystemClock
from creditbook.domain import events
from creditbook.domain.fields import load_json
from creditbook.domain.webhooks import JITTER, Webhook
from creditbook.errors import Conflict, InvalidInput, LimitReached, NotFound
from creditbook.services.dispatch import Dispatcher
from creditbook.storage.tables import deliveries
from creditbook.storage.tables import events as events_table
from tests.conftest import make_settings
from tests.receiver import Receiver, Reply

BASE_S = 10.0
# The receiver listens on 127.0.0.1: plain http to a private address, both off by default.
LOOPBACK = {"webhook_allow_http": True, "webhook_allow_private_networks": True}
MAX_S = 1_000.0


@pytest.fixture
def hooks(db_url: str, clock: ManualClock) -> Iterator[Services]:
    built = build(make_settings(db_url, **LOOPBACK), clock=clock)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def dispatcher(services: Services, clock: Clock, **overrides: Any) -> Dispatcher:
    options: dict[str, Any] = {
        "timeout_s": 2.0,
        "attempts_max": 5,
        "backoff_base_s": BASE_S,
        "backoff_max_s": MAX_S,
        "disable_after_failures": 100,
        "lease_s": 30.0,
        "interval_s": 0.02,
        "random": Random(20260305),
        "allow_private_networks": True,  # the receiver listens on loopback
    }
    options.update(overrides)
    return Dispatcher(services.store, clock=clock, **options)


def endpoint(
    services: Services, url: str, types: tuple[str, ...] = (events.CREDITS_ADDED,), **kw: Any
) -> Webhook:
    account = services.accounts.create(email="hooks@example.com")
    saved = services.webhooks.create(account_id=account.id, url=url, events=list(types), **kw)
    return saved.webhook


def top_up(services: Services, hook: Webhook, usd: int = 5) -> None:
    services.ledger.grant(account_id=hook.account_id, amount_micros=usd * US_PER_S)


def log_of(services: Services, hook: Webhook) -> list[Any]:
    page = services.webhooks.deliveries(account_id=hook.account_id, webhook_id=hook.id)
    return page.deliveries


# Signatures


@pytest.mark.parametrize("secret", [None, "your-secret-for-signature"])
def test_a_delivery_verifies_with_standard_webhooks_and_its_x_webhook_signature_matches(
    db_url: str, receiver: Receiver, secret: str | None
) -> None:
    # The library checks the timestamp against the wall clock, so this test runs on it.
    now = ManualClock(SystemClock().now_us())
    services = build(make_settings(db_url, **LOOPBACK), clock=now)
    try:
        hook = endpoint(services, receiver.url, secret=secret)
        top_up(services, hook, 12)
        assert dispatcher(services, now).run_once() == 1
    finally:
        services.close()
    [got] = receiver.wait_for(1)
    key = hook.secret.encode() if secret else hook.secret  # as docs/webhooks.md says
    payload = StandardWebhook(key).verify(got.body, got.headers)
    assert payload["type"] == events.CREDITS_ADDED and payload["account_id"] == hook.account_id
    assert got.headers["webhook-id"] == payload["id"]
    expected = hmac.new(hook.secret.encode(), got.body, hashlib.sha256).digest()
    assert got.headers["x-webhook-signature"] == base64.b64encode(expected).decode()
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("creditbook-webhooks/")


def test_the_body_is_the_event_envelope_with_exact_decimal_amounts(
    hooks: Services, clock: ManualClock, receiver: Receiver
) -> None:
    hook = endpoint(hooks, receiver.url)
    hooks.ledger.grant(account_id=hook.account_id, amount_micros=1_234_567)
    dispatcher(hooks, clock).run_once()
    [got] = receiver.wait_for(1)
    assert b'"amount":1.234567' in got.body
    body = got.json
    assert set(body) == {"id", "type", "created_at", "account_id", "data"}
    assert body["created_at"] == "2026-03-05T12:00:00Z"
    assert set(body["data"]) == {
        "transaction_id", "grant_id", "kind", "amount", "expires_at", "balance"
    }  # fmt: skip


# Retries and backoff


def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth_attempt_after_doubling_waits(
    hooks: Services, clock: ManualClock, receiver: Receiver
) -> None:
    receiver.script(Reply(500), Reply(502), Reply(503))
    hook = endpoint(hooks, receiver.url)
    top_up(hooks, hook)
    sender = dispatcher(hooks, clock)
    gaps: list[int] = []
    for _ in range(4):
        assert sender.run_once() == 1
        [delivery] = log_of(hooks, hook)
        if delivery.delivery.status == "pending":
            gaps.append(delivery.delivery.next_attempt_at_us - clock.now_us())
            assert sender.run_once() == 0  # not due yet
            clock.set(delivery.delivery.next_attempt_at_us)
    [logged] = log_of(hooks, hook)
    assert logged.delivery.status == "delivered" and logged.delivery.attempts == 4
    assert [a.status_code for a in logged.attempts] == [500, 502, 503, 200]
    assert [a.attempt for a in logged.attempts] == [1, 2, 3, 4]
    assert logged.attempts[0].error == "HTTP 500: ok" and logged.attempts[3].error is None
    for number, gap in enumerate(gaps, start=1):
        nominal = BASE_S * 2 ** (number - 1) * US_PER_S
        assert nominal * (1 - JITTER) <= gap <= nominal * (1 + JITTER), (number, gap)
    assert gaps[0] < gaps[1] < gaps[2]
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # one event id


def test_waits_stop_growing_at_the_maximum(hooks: Services, clock: ManualClock) -> None:
    with Receiver(default=Reply(500)) as failing:
        hook = endpoint(hooks, failing.url)
        top_up(hooks, hook)
        sender = dispatcher(hooks, clock, attempts_max=12, backoff_max_s=40.0)
        waits = []
        for _ in range(6):
            sender.run_once()
            [logged] = log_of(hooks, hook)
            waits.append(logged.delivery.next_attempt_at_us - clock.now_us())
            clock.set(logged.delivery.next_attempt_at_us)
    assert all(wait <= 40 * US_PER_S for wait in waits)
    assert all(wait >= 40 * (1 - JITTER) * US_PER_S for wait in waits[3:])


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_a_4xx_answer_fails_the_delivery_at_once_without_a_retry(
    hooks: Services, clock: ManualClock, status: int
) -> None:
    with Receiver(default=Reply(status, body=b"gone")) as refusing:
        hook = endpoint(hooks, refusing.url)
        top_up(hooks, hook)
        sender = dispatcher(hooks, clock)
        assert sender.run_once() == 1
        clock.advance(10 * MAX_S * US_PER_S)
        assert sender.run_once() == 0
    [logged] = log_of(hooks, hook)
    assert logged.delivery.status == "failed" and logged.delivery.attempts == 1
    assert logged.delivery.last_status_code == status
    assert logged.delivery.last_error == f"HTTP {status}: gone"


@pytest.mark.parametrize("status", [408, 429, 500, 503, 301])
def test_408_429_5xx_and_redirects_are_retried(
    hooks: Services, clock: ManualClock, receiver: Receiver, status: int
) -> None:
    receiver.script(Reply(status, headers={"Location": "https://elsewhere.example/"}))
    hook = endpoint(hooks, receiver.url)
    top_up(hooks, hook)
    sender = dispatcher(hooks, clock)
    sender.run_once()
    [logged] = log_of(hooks, hook)
    assert logged.delivery.status == "pending" and logged.delivery.last_status_code == status
    clock.set(logged.delivery.next_attempt_at_us)
    assert sender.run_once() == 1
    [logged] = log_of(hooks, hook)
    assert logged.delivery.status == "delivered" and logged.delivery.attempts == 2
    assert len(receiver.received) == 2  # the redirect was not followed


def test_a_retry_after_on_429_is_honoured_when_longer_than_the_backoff(
    hooks: Services, clock: ManualClock, receiver: Receiver
) -> None:
    receiver.script(Reply(429, headers={"Retry-After": "300"}))
    hook = endpoint(hooks, receiver.url)
    top_up(hooks, hook)
    dispatcher(hooks, clock).run_once()
    [logged] = log_of(hooks, hook)
    assert logged.delivery.next_attempt_at_us - clock.now_us() == 300 * US_PER_S


def test_a_receiver_slower_than_the_timeout_is_retried_and_the_attempt_says_why(
    hooks: Services, clock: ManualClock, receiver: Receiver
) -> None:
    receiver.script(Reply(200, delay_s=1.5))
    hook = endpoint(hooks, receiver.url)
    top_up(hooks, hook)
    sender = dispatcher(hooks, clock, timeout_s=0.3)
    sender.run_once()
    [logged] = log_of(hooks, hook)
    assert logged.delivery.status == "pending"
    assert logged.attempts[0].status_code is None
    assert logged.attempts[0].error == "No answer within 0.3 s."
    assert 0.3 * US_PER_S <= logged.attempts[0].latency_us < 1.5 * US_PER_S
    clock.set(logged.delivery.next_attempt_at_us)
    sender.run_once()
    assert log_of(hooks, hook)[0].delivery.status == "delivered"


def test_an_unreachable_endpoint_is_retried_with_the_connection_error_recorded(
    hooks: Services, clock: ManualClock
) -> None:
    with Receiver() as closed:
        url = closed.url
    hook = endpoint(hooks, url)
    top_up(hooks, hook)
    dispatcher(hooks, clock).run_once()
    [logged] = log_of(hooks, hook)
    assert logged.delivery.status == "pending" and logged.attempts[0].status_code is None
    assert logged.attempts[0].error is not None and "ConnectError" in logged.attempts[0].error


def test_a_delivery_is_failed_after_the_last_allowed_attempt(
    hooks: Services, clock: ManualClock
) -> None:
    with Receiver(default=Reply(500)) as failing:
        hook = endpoint(hooks, failing.url)
        top_up(hooks, hook)
        sender = dispatcher(hooks, clock, attempts_max=3)
        for _ in range(5):
            sender.run_once()
            clock.advance(int(MAX_S * US_PER_S))
        assert len(failing.received) == 3
    [logged] = log_of(hooks, hook)
    assert logged.delivery.status == "failed" and logged.delivery.attempts == 3


# Disabling


def test_an_endpoint_is_disabled_after_its_failure_run_and_patch_re_enables_it(
    hooks: Services, clock: ManualClock
) -> None:
    with Receiver(default=Reply(500)) as failing, Receiver() as watcher:
        hook = endpoint(hooks, failing.url)
        other = hooks.webhooks.create(
            account_id=hook.account_id, url=watcher.url, events=[events.WEBHOOK_DISABLED]
        ).webhook
        for _ in range(3):
            top_up(hooks, hook)  # three deliveries, each failing once in this round
        sender = dispatcher(hooks, clock, disable_after_failures=3)
        assert sender.run_once() == 3
        after = hooks.webhooks.get(account_id=hook.account_id, webhook_id=hook.id)
        assert not after.is_active and after.failure_run == 3
        assert after.disabled_reason is not None and "HTTP 500" in after.disabled_reason
        # The disabled endpoint's deliveries stay pending, visible, and are not sent.
        clock.advance(int(MAX_S * US_PER_S))
        assert sender.run_once() == 1  # only the webhook.disabled event, to the other endpoint
        [told] = watcher.wait_for(1)
        assert told.json["type"] == events.WEBHOOK_DISABLED
        assert told.json["data"]["webhook_id"] == hook.id
        assert told.json["data"]["failure_run"] == 3
        assert len(failing.received) == 3
        assert [d.delivery.status for d in log_of(hooks, hook)] == ["pending"] * 3
        with pytest.raises(Conflict):
            hooks.webhooks.send_test(account_id=hook.account_id, webhook_id=hook.id)

        failing.default = Reply(200)
        saved = hooks.webhooks.update(
            account_id=hook.account_id, webhook_id=hook.id, is_active=True
        )
        assert saved.webhook.is_active and saved.webhook.failure_run == 0
        assert saved.webhook.disabled_reason is None
        assert sender.run_once() == 3
    assert [d.delivery.status for d in log_of(hooks, hook)] == ["delivered"] * 3
    assert other.is_active


def test_the_webhook_disabled_event_is_stored_even_with_no_endpoint_to_tell(
    hooks: Services, clock: ManualClock
) -> None:
    with Receiver(default=Reply(503)) as failing:
        hook = endpoint(hooks, failing.url)
        top_up(hooks, hook)
        dispatcher(hooks, clock, disable_after_failures=1).run_once()
    with hooks.store.read() as uow:
        rows = list(
            uow.connection.execute(
                select(events_table.c.type, events_table.c.data).where(
                    events_table.c.account_id == hook.account_id
                )
            )
        )
    disabled = [load_json(data) for kind, data in rows if kind == events.WEBHOOK_DISABLED]
    assert len(disabled) == 1 and disabled[0]["webhook_id"] == hook.id


def test_a_success_resets_the_failure_run(
    hooks: Services, clock: ManualClock, receiver: Receiver
) -> None:
    receiver.script(Reply(500), Reply(500))
    hook = endpoint(hooks, receiver.url)
    top_up(hooks, hook)
    sender = dispatcher(hooks, clock, disable_after_failures=3)
    for _ in range(3):
        sender.run_once()
        clock.advance(int(MAX_S * US_PER_S))
    found = hooks.webhooks.get(account_id=hook.account_id, webhook_id=hook.id)
    assert found.is_active and found.failure_run == 0


# Redelivery and the test event


def test_a_manual_redelivery_sends_the_same_event_id_again(
    hooks: Services, clock: ManualClock, receiver: Receiver
) -> None:
    hook = endpoint(hooks, receiver.url)
    top_up(hooks, hook)
    sender = dispatcher(hooks, clock)
    sender.run_once()
    [logged] = log_of(hooks, hook)
    assert logged.delivery.status == "delivered"
    queued = hooks.webhooks.redeliver(
        account_id=hook.account_id, webhook_id=hook.id, delivery_id=logged.delivery.id
    )
    assert queued.event_id == logged.delivery.event_id and queued.status == "pending"
    assert sender.run_once() == 1
    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == queued.event_id
    assert first.body == second.body
    [again] = log_of(hooks, hook)
    assert again.delivery.status == "delivered" and [a.attempt for a in again.attempts] == [1, 2]


def test_a_test_event_goes_to_that_endpoint_only(
    hooks: Services, clock: ManualClock, receiver: Receiver
) -> None:
    hook = endpoint(hooks, receiver.url, types=tuple(events.SUBSCRIBABLE))
    with Receiver() as bystander:
        hooks.webhooks.create(
            account_id=hook.account_id, url=bystander.url, events=list(events.SUBSCRIBABLE)
        )
        queued = hooks.webhooks.send_test(account_id=hook.account_id, webhook_id=hook.id)
        assert dispatcher(hooks, clock).run_once() == 1
        assert bystander.received == []
    [got] = receiver.wait_for(1)
    assert got.json["type"] == events.WEBHOOK_TEST and got.json["id"] == queued.event_id
    assert got.json["data"]["webhook_id"] == hook.id


def test_a_redelivery_of_another_endpoints_delivery_is_not_found(
    hooks: Services, clock: ManualClock, receiver: Receiver
) -> None:
    hook = endpoint(hooks, receiver.url)
    second = hooks.webhooks.create(
        account_id=hook.account_id, url=receiver.url, events=[events.CREDITS_ADDED]
    ).webhook
    top_up(hooks, hook)
    [logged] = log_of(hooks, hook)
    with pytest.raises(NotFound):
        hooks.webhooks.redeliver(
            account_id=hook.account_id, webhook_id=second.id, delivery_id=logged.delivery.id
        )


# Dispatchers in parallel


def _deliveries_for(services: Services, hooks_count: int, events_each: int, url: str) -> int:
    for _ in range(hooks_count):
        hook = endpoint(services, url)
        for _ in range(events_each):
            top_up(services, hook, 1)
    with services.store.read() as uow:
        return len(list(uow.connection.execute(select(deliveries.c.id))))


def test_four_dispatcher_threads_send_every_delivery_exactly_once(hooks: Services) -> None:
    with Receiver(default=Reply(200, delay_s=0.01)) as counting:
        total = _deliveries_for(hooks, 6, 10, counting.url)
        senders = [dispatcher(hooks, SystemClock(), batch_size=5) for _ in range(4)]
        stop = threading.Event()
        threads = [threading.Thread(target=s.run, args=(stop,)) for s in senders]
        for thread in threads:
            thread.start()
        counting.wait_for(total, timeout_s=60)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert total == 60
    assert len(counting.per_event) == total
    assert set(counting.per_event.values()) == {1}
    assert set(counting.most_in_flight.values()) == {1}


def _dispatch_in_process(url: str, stop_after_s: float) -> None:
    services = build(make_settings(url, **LOOPBACK))
    try:
        sender = Dispatcher.from_settings(services.store, services.settings, batch_size=5)
        stop = threading.Event()
        threading.Timer(stop_after_s, stop.set).start()
        sender.run(stop)
    finally:
        services.close()


def test_two_dispatcher_processes_on_postgresql_send_every_delivery_exactly_once(
    pg_url: str,
) -> None:
    services = build(make_settings(pg_url, **LOOPBACK))
    try:
        with Receiver(default=Reply(200, delay_s=0.01)) as counting:
            total = _deliveries_for(services, 5, 10, counting.url)
            context = multiprocessing.get_context("spawn")
            workers = [
                context.Process(target=_dispatch_in_process, args=(pg_url, 8.0)) for _ in range(2)
            ]
            for worker in workers:
                worker.start()
            counting.wait_for(total, timeout_s=60)
            for worker in workers:
                worker.join(timeout=60)
                assert worker.exitcode == 0
    finally:
        services.close()
    assert len(counting.per_event) == total == 50
    assert set(counting.per_event.values()) == {1}
    assert set(counting.most_in_flight.values()) == {1}


# The endpoints themselves


def test_unknown_events_are_refused_listing_every_allowed_one_sorted(hooks: Services) -> None:
    account = hooks.accounts.create(email="x@example.com")
    with pytest.raises(InvalidInput) as refused:
        hooks.webhooks.create(
            account_id=account.id, url="https://a.example/", events=["email.find.completed"]
        )
    allowed = sorted(events.SUBSCRIBABLE)
    assert refused.value.detail == {
        "events": [f"Unsupported events: ['email.find.completed']. Allowed: {allowed!r}"]
    }


@pytest.mark.parametrize(
    ("url", "allow_http"),
    [
        ("http://a.example/hook", False),
        ("ftp://a.example/hook", True),
        ("https:///no-host", True),
        ("https://user:pw@a.example/", True),
        ("https://a.example/" + "x" * 2100, True),
        ("https://a.example:99999/", True),
        ("not a url", True),
    ],
)
def test_urls_that_are_not_https_to_a_host_are_refused(
    db_url: str, clock: ManualClock, url: str, allow_http: bool
) -> None:
    services = build(make_settings(db_url, webhook_allow_http=allow_http), clock=clock)
    try:
        account = services.accounts.create(email="x@example.com")
        with pytest.raises(InvalidInput) as refused:
            services.webhooks.create(account_id=account.id, url=url, events=["credits.added"])
        assert refused.value.field == "url"
    finally:
        services.close()


@pytest.mark.parametrize("secret", ["short", "has space inside", "whsec_notbase64!!!!!!!!", 5])
def test_secrets_outside_the_rules_are_refused(hooks: Services, secret: object) -> None:
    account = hooks.accounts.create(email="x@example.com")
    with pytest.raises(InvalidInput) as refused:
        hooks.webhooks.create(
            account_id=account.id, url="https://a.example/", events=["credits.added"], secret=secret
        )
    assert refused.value.field == "secret"


def test_a_generated_secret_is_a_standard_webhooks_secret(hooks: Services) -> None:
    account = hooks.accounts.create(email="x@example.com")
    saved = hooks.webhooks.create(
        account_id=account.id, url="https://a.example/", events=["credits.added"]
    )
    assert saved.secret_shown and saved.webhook.secret.startswith("whsec_")
    assert len(base64.b64decode(saved.webhook.secret.removeprefix("whsec_"))) == 24


def test_an_account_has_at_most_the_limit_of_webhooks(hooks: Services) -> None:
    account = hooks.accounts.create(email="x@example.com")
    for _ in range(20):
        hooks.webhooks.create(
            account_id=account.id, url="https://a.example/", events=["credits.added"]
        )
    with pytest.raises(LimitReached):
        hooks.webhooks.create(
            account_id=account.id, url="https://a.example/", events=["credits.added"]
        )


def test_another_accounts_webhook_is_not_found(hooks: Services) -> None:
    mine = hooks.accounts.create(email="a@example.com")
    theirs = hooks.accounts.create(email="b@example.com")
    hook = hooks.webhooks.create(
        account_id=theirs.id, url="https://a.example/", events=["credits.added"]
    ).webhook
    for call in (
        lambda: hooks.webhooks.get(account_id=mine.id, webhook_id=hook.id),
        lambda: hooks.webhooks.update(account_id=mine.id, webhook_id=hook.id, url="https://b.c/"),
        lambda: hooks.webhooks.remove(account_id=mine.id, webhook_id=hook.id),
        lambda: hooks.webhooks.send_test(account_id=mine.id, webhook_id=hook.id),
        lambda: hooks.webhooks.deliveries(account_id=mine.id, webhook_id=hook.id),
    ):
        with pytest.raises(NotFound):
            call()
    assert hooks.webhooks.get(account_id=theirs.id, webhook_id=hook.id).url == "https://a.example/"


def test_removing_an_endpoint_removes_its_deliveries(
    hooks: Services, clock: ManualClock, receiver: Receiver
) -> None:
    hook = endpoint(hooks, receiver.url)
    top_up(hooks, hook)
    hooks.webhooks.remove(account_id=hook.account_id, webhook_id=hook.id)
    assert dispatcher(hooks, clock).run_once() == 0
    with hooks.store.read() as uow:
        assert list(uow.connection.execute(select(deliveries.c.id))) == []


def test_the_delivery_log_pages_newest_first_with_a_cursor(
    hooks: Services, clock: ManualClock, receiver: Receiver
) -> None:
    hook = endpoint(hooks, receiver.url)
    for _ in range(5):
        top_up(hooks, hook)
        clock.advance(1_000)
    seen: list[str] = []
    cursor = None
    while True:
        page = hooks.webhooks.deliveries(
            account_id=hook.account_id, webhook_id=hook.id, limit=2, cursor=cursor
        )
        seen += [d.delivery.id for d in page.deliveries]
        cursor = page.next_cursor
        if cursor is None:
            break
    created = [d.delivery for d in log_of(hooks, hook)]
    assert seen == [d.id for d in created] and len(seen) == 5
    assert [d.created_at_us for d in created] == sorted(d.created_at_us for d in created)[::-1]
    with pytest.raises(InvalidInput):
        hooks.webhooks.deliveries(account_id=hook.account_id, webhook_id=hook.id, cursor="junk")
