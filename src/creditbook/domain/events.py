"""Events: what creditbook tells an account's webhooks, written to the outbox in the same
database transaction as the change that caused it.

An event's id is stable: every delivery of it, first try or fifth, carries the same id, so a
receiver can drop the copies that at-least-once delivery may bring.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from creditbook import ids
from creditbook.clock import iso_z
from creditbook.money import to_decimal

ALERT_TRIGGERED = "balance.alert.triggered"
ALERT_RESOLVED = "balance.alert.resolved"
DEPLETED = "balance.depleted"
CREDITS_ADDED = "credits.added"
CREDITS_EXPIRING = "credits.expiring"
CREDITS_EXPIRED = "credits.expired"
WEBHOOK_DISABLED = "webhook.disabled"
WEBHOOK_TEST = "webhook.test"

# The reference API's events: accepted in subscriptions for compatibility; creditbook itself
# never emits them.
REFERENCE_TYPES = (
    "email.find.bulk.completed",
    "phone.find.bulk.completed",
    "enrich.lead.bulk.completed",
    "enrich.company.bulk.completed",
    "status.incident.created",
    "status.incident.updated",
    "status.incident.resolved",
    "status.maintenance.started",
    "status.maintenance.completed",
)
CREDITBOOK_TYPES = (
    ALERT_TRIGGERED,
    ALERT_RESOLVED,
    DEPLETED,
    CREDITS_ADDED,
    CREDITS_EXPIRING,
    CREDITS_EXPIRED,
    WEBHOOK_DISABLED,
)
SUBSCRIBABLE = tuple(sorted((*REFERENCE_TYPES, *CREDITBOOK_TYPES)))


class Event(NamedTuple):
    account_id: str
    id: str
    type: str
    created_at_us: int
    data: dict[str, Any]


def new_event(account_id: str, type_: str, at_us: int, data: dict[str, Any]) -> Event:
    return Event(account_id, ids.new_id("evt", at_us), type_, at_us, data)


def usd(micros: int | None) -> Any:
    """Money in an event: an exact decimal JSON number of USD (at most 6 decimals)."""
    return None if micros is None else to_decimal(micros)


def timestamp(at_us: int | None) -> str | None:
    """Times in an event: ISO 8601 in UTC with a `Z`."""
    return None if at_us is None else iso_z(at_us)


def envelope(event: Event) -> dict[str, Any]:
    """The JSON body a webhook receives."""
    return {
        "id": event.id,
        "type": event.type,
        "created_at": timestamp(event.created_at_us),
        "account_id": event.account_id,
        "data": event.data,
    }
