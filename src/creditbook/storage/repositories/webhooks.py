"""Webhook endpoints, their deliveries and attempts in the database.

The dispatcher's two short transactions live here too: `claim_due` takes due deliveries and
leases them (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so concurrent dispatchers take
disjoint rows; on SQLite the write lock taken at BEGIN serialises claims), and `record` writes
an attempt and its consequences once the request is over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from creditbook.domain.fields import dump_json, load_json
from creditbook.domain.webhooks import Attempt, Delivery, Status, Webhook
from creditbook.storage.tables import accounts, deliveries, delivery_attempts, events, webhooks

WEBHOOK_COLUMNS = (
    webhooks.c.account_id,
    webhooks.c.id,
    webhooks.c.url,
    webhooks.c.events,
    webhooks.c.secret,
    webhooks.c.is_active,
    webhooks.c.failure_run,
    webhooks.c.disabled_reason,
    webhooks.c.created_at_us,
    webhooks.c.updated_at_us,
)
DELIVERY_COLUMNS = (
    deliveries.c.account_id,
    deliveries.c.id,
    deliveries.c.webhook_id,
    deliveries.c.event_id,
    deliveries.c.event_type,
    deliveries.c.status,
    deliveries.c.attempts,
    deliveries.c.next_attempt_at_us,
    deliveries.c.last_status_code,
    deliveries.c.last_error,
    deliveries.c.created_at_us,
    deliveries.c.updated_at_us,
)


class Claimed(NamedTuple):
    """A leased delivery with what sending it needs."""

    account_id: str
    id: str
    webhook_id: str
    attempt: int  # the number of the attempt about to be made
    lease_until_us: int
    url: str
    secret: str
    event_id: str
    event_type: str
    event_created_at_us: int
    event_data: str  # JSON text, as stored


class Outcome(NamedTuple):
    """What one attempt found and what it means for the delivery."""

    status: Status
    next_attempt_at_us: int
    status_code: int | None
    latency_us: int
    error: str | None
    at_us: int


def _webhook(row: Sequence[Any]) -> Webhook:
    values = list(row)
    values[3] = list(load_json(values[3]))
    values[5] = bool(values[5])
    return Webhook(*values)


def _delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(*row)


class WebhookRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    # Endpoints

    def lock_account(self, account_id: str) -> bool:
        """Serialise changes to one account's endpoints (PostgreSQL row lock; SQLite already
        holds the write lock); False when there is no such account."""
        query = select(accounts.c.id).where(accounts.c.id == account_id).with_for_update()
        return self.connection.execute(query).first() is not None

    def count(self, account_id: str) -> int:
        query = select(func.count()).where(webhooks.c.account_id == account_id)
        return int(self.connection.execute(query).scalar_one())

    def add(self, values: dict[str, Any]) -> None:
        self.connection.execute(insert(webhooks), {**values, "events": dump_json(values["events"])})

    def get(self, account_id: str, webhook_id: str) -> Webhook | None:
        row = self.connection.execute(
            select(*WEBHOOK_COLUMNS).where(
                webhooks.c.account_id == account_id, webhooks.c.id == webhook_id
            )
        ).first()
        return None if row is None else _webhook(row)

    def of_account(self, account_id: str) -> list[Webhook]:
        query = (
            select(*WEBHOOK_COLUMNS)
            .where(webhooks.c.account_id == account_id)
            .order_by(webhooks.c.created_at_us, webhooks.c.id)
        )
        return [_webhook(row) for row in self.connection.execute(query)]

    def change(self, account_id: str, webhook_id: str, values: dict[str, Any]) -> None:
        if "events" in values:
            values = {**values, "events": dump_json(values["events"])}
        self.connection.execute(
            update(webhooks)
            .where(webhooks.c.account_id == account_id, webhooks.c.id == webhook_id)
            .values(**values)
        )

    def remove(self, account_id: str, webhook_id: str) -> bool:
        """The endpoint, its deliveries and their attempts."""
        for table in (delivery_attempts, deliveries):
            self.connection.execute(
                delete(table).where(
                    table.c.account_id == account_id, table.c.webhook_id == webhook_id
                )
            )
        gone = self.connection.execute(
            delete(webhooks).where(webhooks.c.account_id == account_id, webhooks.c.id == webhook_id)
        )
        return gone.rowcount == 1

    # The delivery log

    def deliveries(
        self, account_id: str, webhook_id: str, *, limit: int, before: tuple[int, str] | None
    ) -> list[Delivery]:
        """Newest first; `before` = (created_at_us, id) of the last row of the previous page."""
        query = (
            select(*DELIVERY_COLUMNS)
            .where(deliveries.c.account_id == account_id, deliveries.c.webhook_id == webhook_id)
            .order_by(deliveries.c.created_at_us.desc(), deliveries.c.id.desc())
            .limit(limit)
        )
        if before is not None:
            at_us, last_id = before
            query = query.where(
                or_(
                    deliveries.c.created_at_us < at_us,
                    and_(deliveries.c.created_at_us == at_us, deliveries.c.id < last_id),
                )
            )
        return [_delivery(row) for row in self.connection.execute(query)]

    def delivery(self, account_id: str, delivery_id: str) -> Delivery | None:
        row = self.connection.execute(
            select(*DELIVERY_COLUMNS).where(
                deliveries.c.account_id == account_id, deliveries.c.id == delivery_id
            )
        ).first()
        return None if row is None else _delivery(row)

    def attempts(self, account_id: str, delivery_ids: Sequence[str]) -> dict[str, list[Attempt]]:
        found: dict[str, list[Attempt]] = {d: [] for d in delivery_ids}
        if not delivery_ids:
            return found
        query = (
            select(
                delivery_attempts.c.delivery_id,
                delivery_attempts.c.attempt,
                delivery_attempts.c.at_us,
                delivery_attempts.c.status_code,
                delivery_attempts.c.latency_us,
                delivery_attempts.c.error,
            )
            .where(
                delivery_attempts.c.account_id == account_id,
                delivery_attempts.c.delivery_id.in_(list(delivery_ids)),
            )
            .order_by(delivery_attempts.c.delivery_id, delivery_attempts.c.attempt)
        )
        for delivery_id, *rest in self.connection.execute(query):
            found[delivery_id].append(Attempt(*rest))
        return found

    def redeliver(self, account_id: str, delivery_id: str, now_us: int) -> None:
        """Pending again, due now, same event. An attempt in flight keeps its lease: the new
        try waits for it, so one delivery is never sent twice at once."""
        self.connection.execute(
            update(deliveries)
            .where(deliveries.c.account_id == account_id, deliveries.c.id == delivery_id)
            .values(status=Status.PENDING.value, next_attempt_at_us=now_us, updated_at_us=now_us)
        )

    # The dispatcher

    def claim_due(self, now_us: int, lease_us: int, limit: int) -> list[Claimed]:
        """Lease up to `limit` due deliveries of active endpoints, oldest due first."""
        query = (
            select(
                deliveries.c.account_id,
                deliveries.c.id,
                deliveries.c.webhook_id,
                deliveries.c.attempts,
                webhooks.c.url,
                webhooks.c.secret,
                deliveries.c.event_id,
                events.c.type,
                events.c.created_at_us,
                events.c.data,
            )
            .join(
                webhooks,
                and_(
                    webhooks.c.account_id == deliveries.c.account_id,
                    webhooks.c.id == deliveries.c.webhook_id,
                ),
            )
            .join(
                events,
                and_(
                    events.c.account_id == deliveries.c.account_id,
                    events.c.id == deliveries.c.event_id,
                ),
            )
            .where(
                deliveries.c.status == Status.PENDING.value,
                deliveries.c.next_attempt_at_us <= now_us,
                deliveries.c.lease_until_us <= now_us,
                webhooks.c.is_active.is_(True),
            )
            .order_by(deliveries.c.next_attempt_at_us)
            .limit(limit)
            .with_for_update(of=deliveries, skip_locked=True)
        )
        rows = list(self.connection.execute(query))
        if not rows:
            return []
        lease_until = now_us + lease_us
        self.connection.execute(
            update(deliveries)
            .where(deliveries.c.id.in_([row[1] for row in rows]))
            .values(lease_until_us=lease_until, updated_at_us=now_us)
        )
        return [
            Claimed(a, d, w, attempts + 1, lease_until, url, secret, e, t, c, data)
            for a, d, w, attempts, url, secret, e, t, c, data in rows
        ]

    def release(self, claimed: Claimed) -> None:
        """Give a lease back unused (the delivery stays due)."""
        self.connection.execute(
            update(deliveries)
            .where(
                deliveries.c.account_id == claimed.account_id,
                deliveries.c.id == claimed.id,
                deliveries.c.lease_until_us == claimed.lease_until_us,
            )
            .values(lease_until_us=0)
        )

    def record(self, claimed: Claimed, outcome: Outcome) -> bool:
        """The attempt and the delivery's new state; False (nothing written) when the lease
        was lost meanwhile, so another dispatcher owns the delivery now."""
        moved = self.connection.execute(
            update(deliveries)
            .where(
                deliveries.c.account_id == claimed.account_id,
                deliveries.c.id == claimed.id,
                deliveries.c.lease_until_us == claimed.lease_until_us,
                deliveries.c.attempts == claimed.attempt - 1,
            )
            .values(
                status=outcome.status.value,
                attempts=claimed.attempt,
                next_attempt_at_us=outcome.next_attempt_at_us,
                lease_until_us=0,
                last_status_code=outcome.status_code,
                last_error=outcome.error,
                updated_at_us=outcome.at_us,
            )
        )
        if moved.rowcount != 1:
            return False
        self.connection.execute(
            insert(delivery_attempts),
            {
                "account_id": claimed.account_id,
                "delivery_id": claimed.id,
                "attempt": claimed.attempt,
                "webhook_id": claimed.webhook_id,
                "at_us": outcome.at_us,
                "status_code": outcome.status_code,
                "latency_us": outcome.latency_us,
                "error": outcome.error,
            },
        )
        return True

    def reset_failures(self, account_id: str, webhook_id: str, now_us: int) -> None:
        self.connection.execute(
            update(webhooks)
            .where(
                webhooks.c.account_id == account_id,
                webhooks.c.id == webhook_id,
                webhooks.c.failure_run != 0,
            )
            .values(failure_run=0, updated_at_us=now_us)
        )

    def count_failure(
        self, account_id: str, webhook_id: str, *, disable_at: int, reason: str, now_us: int
    ) -> int | None:
        """One more failure in a row; when that reaches `disable_at` on an active endpoint,
        disable it here and return the run (else None). Only one caller ever sees the run."""
        key = and_(webhooks.c.account_id == account_id, webhooks.c.id == webhook_id)
        self.connection.execute(
            update(webhooks).where(key).values(failure_run=webhooks.c.failure_run + 1)
        )
        disabled = self.connection.execute(
            update(webhooks)
            .where(key, webhooks.c.is_active.is_(True), webhooks.c.failure_run >= disable_at)
            .values(is_active=False, disabled_reason=reason, updated_at_us=now_us)
        )
        if disabled.rowcount != 1:
            return None
        run = self.connection.execute(select(webhooks.c.failure_run).where(key)).scalar_one()
        return int(run)
