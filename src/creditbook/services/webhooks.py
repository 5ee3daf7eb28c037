"""An account's webhook endpoints: register, read, replace, change, remove; the delivery log,
manual redelivery and test events. Called by the HTTP API and the CLI alike.

Secrets are returned whole only when they are made or set (`NewSecret.shown`); everything
else shows them masked (`whsec_...abcd`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from creditbook import ids, limits
from creditbook.domain import events
from creditbook.domain.history import decode_cursor, encode_cursor
from creditbook.domain.webhooks import (
    Attempt,
    Delivery,
    Status,
    Webhook,
    check_events,
    check_secret,
    check_url,
    new_secret,
)
from creditbook.errors import Conflict, InvalidInput, LimitReached, NotFound
from creditbook.storage.repositories import outbox
from creditbook.storage.repositories.webhooks import WebhookRepository
from creditbook.storage.store import Store

UNSET: Any = object()
DISABLED_BY_ACCOUNT = "Disabled by the account."


@dataclass(frozen=True, slots=True)
class Saved:
    """An endpoint as written, and whether the caller may see its secret whole."""

    webhook: Webhook
    secret_shown: bool


@dataclass(frozen=True, slots=True)
class LoggedDelivery:
    delivery: Delivery
    attempts: list[Attempt]


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    deliveries: list[LoggedDelivery]
    next_cursor: str | None
    limit: int


@dataclass(frozen=True, slots=True)
class Queued:
    delivery_id: str
    event_id: str
    event_type: str
    status: str = Status.PENDING.value


class Webhooks:
    def __init__(self, store: Store, *, allow_http: bool, allow_private: bool = False) -> None:
        self._store = store
        self._allow_http = allow_http
        self._allow_private = allow_private

    def _check_url(self, url: object) -> str:
        return check_url(url, allow_http=self._allow_http, allow_private=self._allow_private)

    # Endpoints

    def create(
        self, *, account_id: str, url: object, events: object, secret: object = None
    ) -> Saved:
        checked_url = self._check_url(url)
        types = check_events(events)
        chosen = None if secret is None else check_secret(secret)
        now = self._store.clock.now_us()
        values = {
            "account_id": account_id,
            "id": ids.new_id("wh", now),
            "url": checked_url,
            "events": types,
            "secret": chosen or new_secret(),
            "is_active": True,
            "failure_run": 0,
            "disabled_reason": None,
            "created_at_us": now,
            "updated_at_us": now,
        }
        with self._store.write() as uow:
            repo = WebhookRepository(uow.connection)
            if not repo.lock_account(account_id):
                raise NotFound("Account not found.")
            if repo.count(account_id) >= limits.webhooks_per_account_max:
                raise LimitReached(
                    f"An account may have at most {limits.webhooks_per_account_max} webhooks."
                )
            repo.add(values)
            uow.commit()
        return Saved(self.get(account_id=account_id, webhook_id=str(values["id"])), True)

    def get(self, *, account_id: str, webhook_id: str) -> Webhook:
        with self._store.read() as uow:
            found = WebhookRepository(uow.connection).get(account_id, webhook_id)
        if found is None:
            raise NotFound("Webhook not found.")
        return found

    def of_account(self, *, account_id: str) -> list[Webhook]:
        with self._store.read() as uow:
            return WebhookRepository(uow.connection).of_account(account_id)

    def replace(
        self,
        *,
        account_id: str,
        webhook_id: str,
        url: object,
        events: object,
        secret: object = UNSET,
        is_active: object = UNSET,
    ) -> Saved:
        """PUT: url and events are required; a secret not given is kept (a new one would
        silently break the receiver's verification)."""
        return self.update(
            account_id=account_id,
            webhook_id=webhook_id,
            url=url,
            events=events,
            secret=secret,
            is_active=is_active,
        )

    def update(
        self,
        *,
        account_id: str,
        webhook_id: str,
        url: object = UNSET,
        events: object = UNSET,
        secret: object = UNSET,
        is_active: object = UNSET,
    ) -> Saved:
        """PATCH: only what is given changes. `is_active=True` re-enables a disabled endpoint
        (its failure run starts again from zero); `False` pauses it."""
        values = self._changes(url=url, events=events, secret=secret, is_active=is_active)
        with self._store.write() as uow:
            repo = WebhookRepository(uow.connection)
            if repo.get(account_id, webhook_id) is None:
                raise NotFound("Webhook not found.")
            values["updated_at_us"] = self._store.clock.now_us()
            repo.change(account_id, webhook_id, values)
            uow.commit()
        webhook = self.get(account_id=account_id, webhook_id=webhook_id)
        return Saved(webhook, "secret" in values)

    def _changes(
        self, *, url: object, events: object, secret: object, is_active: object
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if url is not UNSET:
            values["url"] = self._check_url(url)
        if events is not UNSET:
            values["events"] = check_events(events)
        if secret is not UNSET and secret is not None:
            values["secret"] = check_secret(secret)
        if is_active is not UNSET and is_active is not None:
            if not isinstance(is_active, bool):
                raise InvalidInput("is_active", "Must be true or false.")
            values["is_active"] = is_active
            values["failure_run"] = 0
            values["disabled_reason"] = None if is_active else DISABLED_BY_ACCOUNT
        return values

    def remove(self, *, account_id: str, webhook_id: str) -> None:
        """The endpoint goes, with its deliveries and their log."""
        with self._store.write() as uow:
            if not WebhookRepository(uow.connection).remove(account_id, webhook_id):
                raise NotFound("Webhook not found.")
            uow.commit()

    # Deliveries

    def deliveries(
        self,
        *,
        account_id: str,
        webhook_id: str,
        limit: int = limits.page_size_default,
        cursor: str | None = None,
    ) -> DeliveryPage:
        """The endpoint's deliveries, newest first, each with its attempts."""
        if not 1 <= limit <= limits.page_size_max:
            raise InvalidInput("limit", f"Must be between 1 and {limits.page_size_max}.")
        before = None if cursor is None else _decode_cursor(cursor)
        with self._store.read() as uow:
            repo = WebhookRepository(uow.connection)
            if repo.get(account_id, webhook_id) is None:
                raise NotFound("Webhook not found.")
            rows = repo.deliveries(account_id, webhook_id, limit=limit, before=before)
            tried = repo.attempts(account_id, [d.id for d in rows])
        last = rows[-1] if len(rows) == limit else None
        next_cursor = None if last is None else _encode_cursor(last.created_at_us, last.id)
        logged = [LoggedDelivery(d, tried[d.id]) for d in rows]
        return DeliveryPage(logged, next_cursor, limit)

    def redeliver(self, *, account_id: str, webhook_id: str, delivery_id: str) -> Queued:
        """Send a delivery again, now, with the same event (and event id)."""
        now = self._store.clock.now_us()
        with self._store.write() as uow:
            repo = WebhookRepository(uow.connection)
            webhook = repo.get(account_id, webhook_id)
            found = repo.delivery(account_id, delivery_id)
            if webhook is None:
                raise NotFound("Webhook not found.")
            if found is None or found.webhook_id != webhook_id:
                raise NotFound("Delivery not found.")
            _require_active(webhook)
            repo.redeliver(account_id, delivery_id, now)
            uow.commit()
        return Queued(delivery_id, found.event_id, found.event_type)

    def send_test(self, *, account_id: str, webhook_id: str) -> Queued:
        """A `webhook.test` event delivered to this endpoint only."""
        now = self._store.clock.now_us()
        with self._store.write() as uow:
            repo = WebhookRepository(uow.connection)
            webhook = repo.get(account_id, webhook_id)
            if webhook is None:
                raise NotFound("Webhook not found.")
            _require_active(webhook)
            data = {"webhook_id": webhook_id, "message": "A test event from creditbook."}
            event = events.new_event(account_id, events.WEBHOOK_TEST, now, data)
            delivery_id = outbox.write_test_event(
                outbox.CoreRunner(uow.connection), event, webhook_id, now
            )
            uow.commit()
        return Queued(delivery_id, event.id, event.type)


def _require_active(webhook: Webhook) -> None:
    if not webhook.is_active:
        raise Conflict(
            'The webhook is disabled; re-enable it with PATCH {"is_active": true} first.'
        )


def _encode_cursor(at_us: int, last_id: str) -> str:
    return encode_cursor(f"{at_us}.{last_id}")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    at_text, _, last_id = decode_cursor(cursor).partition(".")
    if not (at_text.isascii() and at_text.isdigit() and len(at_text) <= 18) or not last_id:
        raise InvalidInput("cursor", "Not a cursor this API returned.")
    return int(at_text), last_id
