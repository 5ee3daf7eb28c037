"""Typed answers. Money is always an exact `Decimal` (the JSON is read with
`parse_float=Decimal`). For Generect's documented account endpoints only the documented fields
are required; creditbook's extras are read when present and otherwise `None`, and anything
else is ignored, so the same client reads Generect's own API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

Json = dict[str, Any]


def money(value: Any) -> Decimal:
    """An exact amount from a JSON number (int or Decimal) or decimal text; never a float."""
    if isinstance(value, bool | float):
        raise TypeError(f"not an exact amount: {value!r}")
    return Decimal(value)


def money_or_none(value: Any) -> Decimal | None:
    return None if value is None else money(value)


def moment(text: Any) -> datetime | None:
    """An ISO 8601 time; leniently, since Generect omits the offset in some fields."""
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def amounts(values: Any) -> dict[str, Decimal]:
    return {str(k): money(v) for k, v in (values or {}).items()}


@dataclass(frozen=True, slots=True)
class Credits:
    balance: Decimal
    used_this_month: Decimal | None
    monthly_limit: Decimal | None
    reserved: Decimal | None = None
    available: Decimal | None = None

    @classmethod
    def from_json(cls, raw: Json) -> Credits:
        return cls(
            balance=money(raw["balance"]),
            used_this_month=money_or_none(raw.get("used_this_month")),
            monthly_limit=money_or_none(raw.get("monthly_limit")),
            reserved=money_or_none(raw.get("reserved")),
            available=money_or_none(raw.get("available")),
        )


@dataclass(frozen=True, slots=True)
class Me:
    """`GET /accounts/me/`: the documented profile and credits."""

    id: str
    email: str | None
    name: str | None
    plan: str | None
    credits: Credits
    preview_tier: bool | None

    @classmethod
    def from_json(cls, raw: Json) -> Me:
        return cls(
            id=str(raw["id"]),
            email=raw.get("email"),
            name=raw.get("name"),
            plan=raw.get("plan"),
            credits=Credits.from_json(raw["credits"]),
            preview_tier=raw.get("preview_tier"),
        )


@dataclass(frozen=True, slots=True)
class Usage:
    """`GET /accounts/usage/`: spend by operation over a period (documented fields)."""

    period: str
    total_credits: Decimal
    breakdown: dict[str, Decimal]

    @classmethod
    def from_json(cls, raw: Json) -> Usage:
        return cls(
            period=str(raw.get("period", "")),
            total_credits=money(raw.get("total_credits", 0)),
            breakdown=amounts(raw.get("breakdown")),
        )


@dataclass(frozen=True, slots=True)
class Transaction:
    """One history row: the documented fields, plus creditbook's balance after, if given."""

    id: str
    timestamp: datetime | None
    type: str
    credits: Decimal
    balance_type: str | None
    status: str | None
    balance_after: Decimal | None = None

    @classmethod
    def from_json(cls, raw: Json) -> Transaction:
        details = raw.get("details") or {}
        return cls(
            id=str(raw["id"]),
            timestamp=moment(raw.get("timestamp")),
            type=str(raw.get("type", "")),
            credits=money(raw.get("credits", 0)),
            balance_type=details.get("balance_type"),
            status=details.get("status"),
            balance_after=money_or_none(details.get("balance_after")),
        )


@dataclass(frozen=True, slots=True)
class TransactionPage:
    transactions: list[Transaction]
    next_cursor: str | None
    has_cursor: bool  # whether the server pages by cursor (creditbook) or only by offset

    @classmethod
    def from_json(cls, raw: Json) -> TransactionPage:
        rows = [Transaction.from_json(t) for t in raw.get("transactions", [])]
        return cls(rows, raw.get("next_cursor"), "next_cursor" in raw)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a charge, settle or cancel did: the transaction and the account after it."""

    transaction: Transaction
    amount_charged: Decimal
    reserved: Decimal
    balance: Decimal
    available: Decimal
    replayed: bool
    test: bool

    @classmethod
    def from_json(cls, body: Json) -> Receipt:
        meta = body["meta"]
        return cls(
            transaction=Transaction.from_json(body["data"]),
            amount_charged=money(meta["amount_charged"]),
            reserved=money(meta.get("reserved", 0)),
            balance=money(meta["balance"]),
            available=money(meta.get("available", meta["balance"])),
            replayed=bool(meta.get("replayed", False)),
            test=bool(meta.get("test", False)),
        )


ChargeResult = Receipt


@dataclass(frozen=True, slots=True)
class Reservation:
    """A hold on the worst-case cost of `units`, until settled, cancelled or expired."""

    id: str
    operation: str
    units: int
    reserved: Decimal
    expires_at: datetime | None
    receipt: Receipt

    @classmethod
    def from_json(cls, body: Json) -> Reservation:
        data = body["data"]
        details = data.get("details") or {}
        return cls(
            id=str(data["id"]),
            operation=str(details.get("operation") or data.get("type")),
            units=int(details.get("reserved_units") or 0),
            reserved=money(body["meta"]["reserved"]),
            expires_at=moment(details.get("expires_at")),
            receipt=Receipt.from_json(body),
        )


@dataclass(frozen=True, slots=True)
class BatchItem:
    index: int
    status: int
    transaction_id: str | None
    amount_charged: Decimal | None
    balance: Decimal | None
    replayed: bool
    detail: Any

    @classmethod
    def from_json(cls, raw: Json) -> BatchItem:
        return cls(
            index=int(raw["index"]),
            status=int(raw["status"]),
            transaction_id=raw.get("transaction_id"),
            amount_charged=money_or_none(raw.get("amount_charged")),
            balance=money_or_none(raw.get("balance")),
            replayed=bool(raw.get("replayed", False)),
            detail=raw.get("detail"),
        )


@dataclass(frozen=True, slots=True)
class BatchResult:
    items: list[BatchItem]
    succeeded: int
    failed: int
    amount_charged: Decimal

    @classmethod
    def from_json(cls, body: Json) -> BatchResult:
        meta = body["meta"]
        return cls(
            items=[BatchItem.from_json(i) for i in body["data"]],
            succeeded=int(meta["succeeded"]),
            failed=int(meta["failed"]),
            amount_charged=money(meta["amount_charged"]),
        )


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str | None
    client_id: str | None
    scope: str | None
    test: bool
    is_active: bool
    created_at: datetime | None
    prefix: str | None = None
    secret: str | None = None  # only in the answer that created the key

    @classmethod
    def from_json(cls, raw: Json) -> ApiKey:
        return cls(
            id=str(raw["id"]),
            name=raw.get("name"),
            client_id=raw.get("client_id"),
            scope=raw.get("scope"),
            test=bool(raw.get("test", False)),
            is_active=bool(raw.get("is_active", True)),
            created_at=moment(raw.get("created_at")),
            prefix=raw.get("prefix"),
            secret=raw.get("key"),
        )


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """One token's line of `/accounts/tokens/analytics/` (documented fields)."""

    token: str
    name: str | None
    client_id: str | None
    is_active: bool
    created_at: datetime | None
    total_requests: int
    by_endpoint: dict[str, int]
    by_status: dict[str, int]

    @classmethod
    def from_json(cls, raw: Json) -> TokenUsage:
        return cls(
            token=str(raw.get("token", "")),
            name=raw.get("name"),
            client_id=raw.get("client_id"),
            is_active=bool(raw.get("is_active", True)),
            created_at=moment(raw.get("created_at")),
            total_requests=int(raw.get("total_requests", 0)),
            by_endpoint={str(k): int(v) for k, v in (raw.get("by_endpoint") or {}).items()},
            by_status={str(k): int(v) for k, v in (raw.get("by_status") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class TokenAnalytics:
    start: datetime | None
    end: datetime | None
    total_requests: int
    tokens: list[TokenUsage]

    @classmethod
    def from_json(cls, raw: Json) -> TokenAnalytics:
        period = raw.get("period") or {}
        return cls(
            start=moment(period.get("start")),
            end=moment(period.get("end")),
            total_requests=int(raw.get("total_requests", 0)),
            tokens=[TokenUsage.from_json(t) for t in raw.get("tokens", [])],
        )


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    kind: str
    threshold: Decimal | None
    percent: int | None
    window_days: int | None
    horizon_days: int | None
    state: str
    changed_at: datetime | None
    created_at: datetime | None

    @classmethod
    def from_json(cls, raw: Json) -> Alert:
        return cls(
            id=str(raw["id"]),
            kind=str(raw["kind"]),
            threshold=money_or_none(raw.get("threshold")),
            percent=raw.get("percent"),
            window_days=raw.get("window_days"),
            horizon_days=raw.get("horizon_days"),
            state=str(raw.get("state", "")),
            changed_at=moment(raw.get("changed_at")),
            created_at=moment(raw.get("created_at")),
        )


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    created_at: datetime | None
    data: Json = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Json) -> Event:
        return cls(
            id=str(raw["id"]),
            type=str(raw["type"]),
            created_at=moment(raw.get("created_at")),
            data=dict(raw.get("data") or {}),
        )


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[Event]
    next_before: str | None

    @classmethod
    def from_json(cls, body: Json) -> EventPage:
        meta = body.get("meta") or {}
        return cls([Event.from_json(e) for e in body["data"]], meta.get("next_before"))


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    events: list[str]
    secret: str  # whole only in the answer that made or set it; masked otherwise
    is_active: bool
    created_at: datetime | None
    updated_at: datetime | None
    disabled_reason: str | None = None

    @classmethod
    def from_json(cls, raw: Json) -> Webhook:
        return cls(
            id=str(raw["id"]),
            url=str(raw["url"]),
            events=[str(e) for e in raw.get("events") or []],
            secret=str(raw.get("secret") or ""),
            is_active=bool(raw.get("is_active")),
            created_at=moment(raw.get("created_at")),
            updated_at=moment(raw.get("updated_at")),
            disabled_reason=raw.get("disabled_reason"),
        )


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    attempt: int
    at: datetime | None
    status_code: int | None
    latency_ms: Decimal | None
    error: str | None

    @classmethod
    def from_json(cls, raw: Json) -> DeliveryAttempt:
        latency = raw.get("latency_ms")
        return cls(
            attempt=int(raw["attempt"]),
            at=moment(raw.get("at")),
            status_code=raw.get("status_code"),
            latency_ms=None if latency is None else Decimal(str(latency)),
            error=raw.get("error"),
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    attempt_log: list[DeliveryAttempt]

    @classmethod
    def from_json(cls, raw: Json) -> Delivery:
        return cls(
            id=str(raw["id"]),
            event_id=str(raw["event_id"]),
            event_type=str(raw["event_type"]),
            status=str(raw["status"]),
            attempts=int(raw.get("attempts") or 0),
            last_status_code=raw.get("last_status_code"),
            attempt_log=[DeliveryAttempt.from_json(a) for a in raw.get("attempt_log") or []],
        )


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    deliveries: list[Delivery]
    next_cursor: str | None

    @classmethod
    def from_json(cls, body: Json) -> DeliveryPage:
        page = body["data"]
        found = [Delivery.from_json(d) for d in page["deliveries"]]
        return cls(found, page.get("next_cursor"))


@dataclass(frozen=True, slots=True)
class Queued:
    """A delivery waiting to go (the answer of a test or a redelivery)."""

    delivery_id: str
    status: str
    event: str

    @classmethod
    def from_json(cls, body: Json) -> Queued:
        data = body["data"]
        return cls(str(data["delivery_id"]), str(data["status"]), str(body["meta"]["event"]))
