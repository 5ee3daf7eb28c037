"""The outbox and what decides its contents: alerts, notices, events and their deliveries.

Everything here runs inside the transaction of the change that causes it, through a `Runner`:
the writer's DBAPI connection (`LedgerRepository`) or a SQLAlchemy connection (`CoreRunner`),
so an event is committed exactly when its cause is, and a delivery row waits for every
endpoint that subscribed to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from creditbook import ids
from creditbook.domain.alerts import Alert
from creditbook.domain.events import Event
from creditbook.domain.fields import dump_json, load_json
from creditbook.storage.tables import alerts, deliveries, events, notices, revisions, webhooks

ALERT_COLUMNS = tuple(alerts.c)
ALERTS_REVISION = "alerts"


class Runner(Protocol):
    def query(self, construct: Any) -> list[tuple[Any, ...]]: ...

    def execute(self, construct: Any) -> int: ...

    @property
    def dialect_name(self) -> str: ...


class CoreRunner:
    """A `Runner` over a SQLAlchemy connection (services, the clock, the dispatcher)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    @property
    def dialect_name(self) -> str:
        return self.connection.dialect.name

    def query(self, construct: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.connection.execute(construct)]

    def execute(self, construct: Any) -> int:
        return int(self.connection.execute(construct).rowcount)


# Alerts


def alerts_query(which_accounts: Any) -> Any:
    """The alerts of the accounts `which_accounts` (a condition on alerts.account_id) selects,
    as `Alert` takes them, by account then id."""
    return select(*ALERT_COLUMNS).where(which_accounts).order_by(alerts.c.account_id, alerts.c.id)


def load_alerts(runner: Runner, account_ids: Sequence[str]) -> list[Alert]:
    if not account_ids:
        return []
    query = alerts_query(alerts.c.account_id.in_(list(account_ids)))
    return [Alert(*row) for row in runner.query(query)]


def save_alert_states(runner: Runner, changed: Iterable[Alert]) -> None:
    """Write new states, and move the alerts revision so every cache reloads them."""
    moved = False
    for alert in changed:
        runner.execute(
            update(alerts)
            .where(alerts.c.account_id == alert.account_id, alerts.c.id == alert.id)
            .values(state=alert.state, changed_at_us=alert.changed_at_us)
        )
        moved = True
    if moved:
        bump_alerts_revision(runner)


def bump_alerts_revision(runner: Runner) -> None:
    runner.execute(
        update(revisions)
        .where(revisions.c.name == ALERTS_REVISION)
        .values(revision=revisions.c.revision + 1)
    )


# Notices: a once-only mark per account (a depletion, a grant's expiry notice)


def add_notice(runner: Runner, account_id: str, key: str, now_us: int) -> bool:
    """Mark `key` for the account; False when it was already marked (by anyone)."""
    module: Any = postgresql if runner.dialect_name == "postgresql" else sqlite
    statement = (
        module.insert(notices)
        .values(account_id=account_id, key=key, created_at_us=now_us)
        .on_conflict_do_nothing(index_elements=["account_id", "key"])
        .returning(notices.c.key)  # an INSERT's row count is not reliable across drivers
    )
    return len(runner.query(statement)) == 1


def drop_notices(runner: Runner, account_ids: Sequence[str], key: str) -> None:
    if account_ids:
        runner.execute(
            delete(notices).where(notices.c.account_id.in_(list(account_ids)), notices.c.key == key)
        )


# Events and deliveries


def write_events(runner: Runner, new: Sequence[Event], now_us: int) -> None:
    """Store the events and a pending delivery for each endpoint subscribed to each."""
    if not new:
        return
    runner.execute(insert(events).values([_event_row(e) for e in new]))
    hooks = _subscribers(runner, sorted({e.account_id for e in new}))
    rows = [
        _delivery_row(event, hook_id, now_us)
        for event in new
        for hook_id, types in hooks.get(event.account_id, [])
        if event.type in types
    ]
    if rows:
        runner.execute(insert(deliveries).values(rows))


def write_test_event(runner: Runner, event: Event, webhook_id: str, now_us: int) -> str:
    """Store a `webhook.test` event and its one delivery, to this endpoint only."""
    runner.execute(insert(events).values([_event_row(event)]))
    row = _delivery_row(event, webhook_id, now_us)
    runner.execute(insert(deliveries).values([row]))
    return str(row["id"])


def _subscribers(runner: Runner, account_ids: list[str]) -> dict[str, list[tuple[str, set[str]]]]:
    query = select(webhooks.c.account_id, webhooks.c.id, webhooks.c.events).where(
        and_(webhooks.c.account_id.in_(account_ids), webhooks.c.is_active.is_(True))
    )
    found: dict[str, list[tuple[str, set[str]]]] = {}
    for account_id, hook_id, types in runner.query(query):
        found.setdefault(account_id, []).append((hook_id, set(load_json(types))))
    return found


def _event_row(event: Event) -> dict[str, Any]:
    return {
        "account_id": event.account_id,
        "id": event.id,
        "type": event.type,
        "created_at_us": event.created_at_us,
        "data": dump_json(event.data),
    }


def _delivery_row(event: Event, webhook_id: str, now_us: int) -> dict[str, Any]:
    return {
        "account_id": event.account_id,
        "id": ids.new_id("dlv", now_us),
        "webhook_id": webhook_id,
        "event_id": event.id,
        "event_type": event.type,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at_us": now_us,
        "lease_until_us": 0,
        "last_status_code": None,
        "last_error": None,
        "created_at_us": now_us,
        "updated_at_us": now_us,
    }
