"""Request bodies. Unknown fields are refused; whole numbers must be JSON integers (not `true`,
not `3.0`); amounts are read as exact decimals and checked to the micro-dollar by the services.
Each model carries an example for the OpenAPI document."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from creditbook import limits


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ChargeIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"operation": "search_database", "units": 25, "idempotency_key": "req-7f3a"}
            ]
        },
    )

    operation: str = Field(description="Operation code, e.g. search_database.")
    units: StrictInt = Field(description="Units to charge (results, emails, requests).")
    idempotency_key: str | None = Field(
        None, description="Retries with the same key are answered once; also via header."
    )
    request_id: str | None = Field(None, description="Your request id, kept with the charge.")
    details: dict[str, Any] | None = Field(None, description="Free JSON kept with the charge.")
    account_id: str | None = Field(
        None, description="The account to charge: required with the operator token."
    )


class ChargeBatchIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "charges": [
                        {"operation": "email_find", "units": 1},
                        {"operation": "search_database", "units": 10},
                    ]
                }
            ]
        },
    )

    charges: list[dict[str, Any]] = Field(
        max_length=limits.batch_charges_max,
        description="Charges as for POST /charges/; each is answered on its own.",
    )
    account_id: str | None = Field(
        None, description="Default account for the charges (operator token)."
    )


class ReserveIn(ChargeIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"operation": "search_realtime", "units": 100, "ttl_s": 300}]
        },
    )

    ttl_s: StrictInt | None = Field(None, description="Seconds the hold lasts (default 900).")


class SettleIn(Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"units": 42}]})

    units: StrictInt = Field(description="Units actually delivered (at most those reserved).")
    account_id: str | None = None


class CancelIn(Body):
    account_id: str | None = None


class KeyIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Acme Corp", "client_id": "acme", "scope": "full"}]
        },
    )

    name: str | None = None
    client_id: str | None = None
    scope: Literal["read", "full"] = "full"
    test: StrictBool = False


class AccountIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "jordan.ellis@example.com",
                    "name": "Jordan Ellis",
                    "plan": "Pro",
                    "timezone": "Europe/Kyiv",
                    "monthly_limit": 10000,
                    "overdraft_limit": 0,
                }
            ]
        },
    )

    email: str
    name: str = ""
    plan: str = "Pay as you go"
    timezone: str = "UTC"
    monthly_limit: Decimal | None = Field(None, description="USD per month; null for no cap.")
    overdraft_limit: Decimal | None = None


class AccountPatch(Body):
    email: str | None = None
    name: str | None = None
    plan: str | None = None
    timezone: str | None = None
    status: Literal["active", "suspended"] | None = None
    monthly_limit: Decimal | None = None
    overdraft_limit: Decimal | None = None


class GrantIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "amount": 250,
                    "kind": "promotional",
                    "expires_at": "2026-12-31T00:00:00Z",
                    "idempotency_key": "promo-2026-q4",
                }
            ]
        },
    )

    amount: Decimal = Field(description="USD, at most 6 decimals.")
    kind: Literal["purchase", "promotional", "plan", "adjustment"] = "purchase"
    priority: StrictInt | None = None
    effective_at: str | None = None
    expires_at: str | None = None
    idempotency_key: str | None = None
    note: str | None = None


class AdjustmentIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"amount": -5, "reason": "Duplicate top-up"}]},
    )

    amount: Decimal = Field(description="Signed USD.")
    reason: str
    idempotency_key: str | None = None


class RefundIn(Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "Empty results"}]}
    )

    amount: Decimal | None = Field(None, description="USD; the whole charge when omitted.")
    reason: str = ""
    idempotency_key: str | None = None


class PriceIn(Body):
    operation: str
    unit_price: Decimal
    unit: str = "unit"
    description: str = ""


class TierIn(Body):
    name: str
    min_lifetime_spend: Decimal
    multiplier: Decimal


class PricesIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "effective_from": "2026-12-01T00:00:00Z",
                    "prices": [{"operation": "search_database", "unit_price": 0.018}],
                }
            ]
        },
    )

    effective_from: str | None = None
    prices: list[PriceIn] = Field(default_factory=list, max_length=1000)
    tiers: list[TierIn] | None = Field(None, max_length=100)


WEBHOOK_URL = "The endpoint that receives events: https:// (http:// only where the server allows)."
WEBHOOK_EVENTS = "Event types to send (docs/webhooks.md lists them)."
SIGNING_HELP = (
    "Signing secret: whsec_ + base64 of 24-64 bytes, or 8-255 printable ASCII characters. "
    "Generated (whsec_...) when omitted; kept as it is when omitted on PUT / PATCH."
)
WEBHOOK_ACTIVE = "false pauses the endpoint; true (re-)enables it and clears its failure run."


class WebhookIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://your-app.example/webhook",
                    "events": ["balance.alert.triggered", "credits.added"],
                }
            ]
        },
    )

    url: str = Field(description=WEBHOOK_URL)
    events: list[str] = Field(description=WEBHOOK_EVENTS, max_length=100)
    secret: str | None = Field(None, description=SIGNING_HELP)


class WebhookPut(WebhookIn):
    is_active: StrictBool | None = Field(None, description=WEBHOOK_ACTIVE)


class WebhookPatch(Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"is_active": True}]})

    url: str | None = Field(None, description=WEBHOOK_URL)
    events: list[str] | None = Field(None, description=WEBHOOK_EVENTS, max_length=100)
    secret: str | None = Field(None, description=SIGNING_HELP)
    is_active: StrictBool | None = Field(None, description=WEBHOOK_ACTIVE)
