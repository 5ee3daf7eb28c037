"""The webhook dispatcher: sends due deliveries, records every attempt, retries with backoff,
and disables an endpoint that keeps failing.

One round (`run_once`) is: claim due deliveries in a short transaction that leases them
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on SQLite), so dispatchers in several
threads or processes never send one delivery at the same time; then, outside any transaction,
POST each one, and record the attempt and its consequences in one transaction per delivery.
A delivery whose lease would run out before its request could time out is given back unsent.
`run(stop)` repeats rounds until `stop` is set, sleeping `interval_s` when nothing was due; a
bad row is logged and skipped, never the end of the loop.

Requests carry the Standard Webhooks headers (`webhook-id` = the event id, the same on every
retry; `webhook-timestamp`; `webhook-signature`) and `X-Webhook-Signature`, the base64
HMAC-SHA256 of the raw body keyed with the secret as shown. Redirects are not followed.

Unless private networks are allowed, connections go through `services.egress`: a host that
resolves to a loopback, private, link-local or otherwise non-public address is not contacted,
and the attempt fails for good (no retry).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from random import Random
from typing import Any

import httpx
from standardwebhooks import Webhook as StandardWebhook

from creditbook import __version__, limits
from creditbook.clock import US_PER_S, Clock, from_us
from creditbook.config import Settings
from creditbook.domain import events
from creditbook.domain.fields import dump_json, load_json
from creditbook.domain.webhooks import Status, Verdict, backoff_us, signing_key, truncate_error
from creditbook.domain.webhooks import verdict as judge_answer
from creditbook.services.egress import AddressRefused, PublicOnlyTransport
from creditbook.storage.repositories import outbox
from creditbook.storage.repositories.webhooks import Claimed, Outcome, WebhookRepository
from creditbook.storage.store import Store

log = logging.getLogger("creditbook.dispatch")
USER_AGENT = f"creditbook-webhooks/{__version__}"
ClientFactory = Callable[[], httpx.Client]


def body_of(claimed: Claimed) -> str:
    """The exact JSON text a receiver gets (decimals keep every digit)."""
    event = events.Event(
        claimed.account_id,
        claimed.event_id,
        claimed.event_type,
        claimed.event_created_at_us,
        load_json(claimed.event_data),
    )
    return dump_json(events.envelope(event))


def signed_headers(secret: str, event_id: str, at_us: int, body: str) -> dict[str, str]:
    """Standard Webhooks headers and `X-Webhook-Signature` for one request."""
    moment = from_us(at_us - at_us % US_PER_S)
    signature = StandardWebhook(signing_key(secret)).sign(event_id, moment, body)
    digest = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(at_us // US_PER_S),
        "webhook-signature": signature,
        "X-Webhook-Signature": base64.b64encode(digest).decode(),
    }


class Answer:
    """What came back from one POST: a status code, or an error instead."""

    def __init__(self, status_code: int | None, error: str | None, latency_us: int) -> None:
        self.status_code = status_code
        self.error = error
        self.latency_us = latency_us
        self.retry_after_s: float | None = None
        self.final = False  # a failure that no retry can mend


def refused(error: AddressRefused, started: float) -> Answer:
    answer = Answer(None, truncate_error(str(error)), _since(started))
    answer.final = True
    return answer


class Dispatcher:
    def __init__(
        self,
        store: Store,
        *,
        timeout_s: float,
        attempts_max: int,
        backoff_base_s: float,
        backoff_max_s: float,
        disable_after_failures: int,
        lease_s: float,
        interval_s: float,
        clock: Clock | None = None,
        client_factory: ClientFactory | None = None,
        random: Random | None = None,
        batch_size: int = limits.deliveries_per_round_max,
        allow_private_networks: bool = False,
    ) -> None:
        if not 1 <= attempts_max <= limits.webhook_attempts_max:
            raise ValueError(f"attempts_max must be 1..{limits.webhook_attempts_max}")
        if lease_s <= timeout_s:
            raise ValueError("lease_s must exceed timeout_s")
        self._store = store
        self._clock = clock or store.clock
        self._timeout_s = timeout_s
        self._attempts_max = attempts_max
        self._backoff = (backoff_base_s, backoff_max_s)
        self._disable_at = disable_after_failures
        self._lease_us = int(lease_s * US_PER_S)
        self._interval_s = interval_s
        self._batch_size = max(1, min(batch_size, limits.deliveries_per_round_max))
        self._random = random or Random()  # noqa: S311 - jitter, not secrets
        self._client_factory = client_factory or self._default_client
        self._client: httpx.Client | None = None
        self._allow_private = allow_private_networks

    @classmethod
    def from_settings(cls, store: Store, settings: Settings, **overrides: Any) -> Dispatcher:
        options: dict[str, Any] = {
            "timeout_s": settings.webhook_timeout_s,
            "attempts_max": settings.webhook_attempts_max,
            "backoff_base_s": settings.webhook_backoff_base_s,
            "backoff_max_s": settings.webhook_backoff_max_s,
            "disable_after_failures": settings.webhook_disable_after_failures,
            "lease_s": settings.webhook_lease_s,
            "interval_s": settings.dispatch_interval_s,
            "allow_private_networks": settings.webhook_allow_private_networks,
        }
        options.update(overrides)
        return cls(store, **options)

    def _default_client(self) -> httpx.Client:
        return httpx.Client(
            timeout=self._timeout_s,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
            transport=None if self._allow_private else PublicOnlyTransport(),
        )

    # The loop

    def run(self, stop: threading.Event) -> None:
        """Rounds until `stop` is set; sleeps `interval_s` (or until stopped) when idle."""
        log.info("webhook dispatcher started")
        try:
            while not stop.is_set():
                try:
                    attempted = self.run_once()
                except Exception:
                    log.exception("webhook dispatch round failed; trying again shortly")
                    attempted = 0
                if attempted == 0:
                    stop.wait(self._interval_s)
        finally:
            self.close()
            log.info("webhook dispatcher stopped")

    def run_once(self) -> int:
        """One round: claim what is due, send it; the number of deliveries attempted."""
        now = self._clock.now_us()
        with self._store.write() as uow:
            claimed = WebhookRepository(uow.connection).claim_due(
                now, self._lease_us, self._batch_size
            )
            uow.commit()
        attempted = 0
        for item in claimed:
            try:
                attempted += self._deliver(item)
            except Exception:
                log.exception(
                    "could not deliver; the delivery stays due after its lease",
                    extra={"delivery_id": item.id, "webhook_id": item.webhook_id},
                )
        return attempted

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # One delivery

    def _deliver(self, claimed: Claimed) -> int:
        at_us = self._clock.now_us()
        if at_us + int(self._timeout_s * US_PER_S) >= claimed.lease_until_us:
            with self._store.write() as uow:
                WebhookRepository(uow.connection).release(claimed)
                uow.commit()
            return 0
        body = body_of(claimed)
        headers = signed_headers(claimed.secret, claimed.event_id, at_us, body)
        answer = self._post(claimed.url, body, headers)
        outcome = self._outcome(claimed, answer, at_us)
        with self._store.write() as uow:
            repo = WebhookRepository(uow.connection)
            if not repo.record(claimed, outcome):
                log.warning(
                    "lost the lease on a delivery while sending it; its outcome is not recorded",
                    extra={"delivery_id": claimed.id, "webhook_id": claimed.webhook_id},
                )
                return 1
            self._count(uow.connection, repo, claimed, outcome)
            uow.commit()
        return 1

    def _post(self, url: str, body: str, headers: dict[str, str]) -> Answer:
        if self._client is None:
            self._client = self._client_factory()
        started = time.perf_counter()
        try:
            with self._client.stream("POST", url, content=body.encode(), headers=headers) as got:
                kept = _read_some(got)
                answer = Answer(got.status_code, None, _since(started))
                if not 200 <= got.status_code < 300:
                    answer.error = _describe(got, kept)
                answer.retry_after_s = _retry_after(got)
                return answer
        except AddressRefused as error:
            return refused(error, started)
        except httpx.TimeoutException:
            return Answer(None, f"No answer within {self._timeout_s:g} s.", _since(started))
        except httpx.HTTPError as error:
            return Answer(None, truncate_error(f"{type(error).__name__}: {error}"), _since(started))

    def _outcome(self, claimed: Claimed, answer: Answer, at_us: int) -> Outcome:
        found = judge_answer(answer.status_code)
        done_us = self._clock.now_us()
        status, next_us = Status.PENDING, done_us
        if found == Verdict.DELIVERED:
            status = Status.DELIVERED
        elif found == Verdict.REFUSED or answer.final or claimed.attempt >= self._attempts_max:
            status = Status.FAILED
        else:
            base_s, max_s = self._backoff
            wait = backoff_us(claimed.attempt, base_s=base_s, max_s=max_s, random=self._random)
            if answer.retry_after_s is not None:
                wait = max(wait, int(min(answer.retry_after_s, max_s) * US_PER_S))
            next_us = done_us + wait
        return Outcome(status, next_us, answer.status_code, answer.latency_us, answer.error, at_us)

    def _count(
        self, connection: Any, repo: WebhookRepository, claimed: Claimed, outcome: Outcome
    ) -> None:
        """The endpoint's run of failures: reset by a success; at the limit, disable it and
        tell the account (`webhook.disabled`, to its other endpoints)."""
        if outcome.status == Status.DELIVERED:
            repo.reset_failures(claimed.account_id, claimed.webhook_id, outcome.at_us)
            return
        last = outcome.error or f"HTTP {outcome.status_code}"
        reason = truncate_error(
            f"Disabled after {self._disable_at} failed attempts in a row; the last: {last}"
        )
        run = repo.count_failure(
            claimed.account_id,
            claimed.webhook_id,
            disable_at=self._disable_at,
            reason=reason,
            now_us=outcome.at_us,
        )
        if run is None:
            return
        data = {
            "webhook_id": claimed.webhook_id,
            "url": claimed.url,
            "reason": reason,
            "failure_run": run,
            "last_status_code": outcome.status_code,
        }
        event = events.new_event(claimed.account_id, events.WEBHOOK_DISABLED, outcome.at_us, data)
        outbox.write_events(outbox.CoreRunner(connection), [event], outcome.at_us)
        log.warning(
            "webhook disabled after repeated failures",
            extra={"webhook_id": claimed.webhook_id, "account_id": claimed.account_id},
        )


def _since(started: float) -> int:
    return int((time.perf_counter() - started) * US_PER_S)


def _read_some(response: httpx.Response) -> bytes:
    """At most `webhook_response_bytes_max` of the answer; the rest is not read (the
    connection is closed instead)."""
    kept = b""
    for chunk in response.iter_bytes():
        kept += chunk
        if len(kept) >= limits.webhook_response_bytes_max:
            break
    return kept[: limits.webhook_response_bytes_max]


def _describe(response: httpx.Response, kept: bytes) -> str:
    text = f"HTTP {response.status_code}"
    location = response.headers.get("location")
    if 300 <= response.status_code < 400 and location:
        text += f" (redirect to {location}, not followed)"
    excerpt = kept.decode("utf-8", errors="replace").strip()
    return truncate_error(f"{text}: {excerpt}" if excerpt else text)


def _retry_after(response: httpx.Response) -> int | None:
    """A `Retry-After` in seconds on 429 / 503 (an HTTP date is ignored)."""
    value = response.headers.get("retry-after", "").strip()
    if response.status_code not in (429, 503) or not value.isascii() or not value.isdigit():
        return None
    return min(int(value[:9]), 7 * 86_400)
