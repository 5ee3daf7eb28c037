"""Transactions: the customer-visible credit movements that journal entries sit under.

A transaction is `pending` while a reservation holds money, `success` once settled, and `error`
when a reservation was cancelled or expired. Charges carry negative credits. Once settled, a
transaction never changes; a refund is a new transaction that points to the charge it reverses.
Only reservations carry an expiry (`expires_at_us`); that is how they are told from one-step
charges.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from creditbook.domain.pricing import PPM_ONE


class Status(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    ERROR = "error"


class TransactionType:
    """The `type` of movements that are not charges (charges carry their operation code)."""

    TOP_UP = "top_up"
    GRANT = "grant"
    REFUND = "refund"
    EXPIRATION = "expiration"
    ADJUSTMENT = "adjustment"


NON_CHARGE_TYPES = frozenset(
    {
        TransactionType.TOP_UP,
        TransactionType.GRANT,
        TransactionType.REFUND,
        TransactionType.EXPIRATION,
        TransactionType.ADJUSTMENT,
    }
)


@dataclass(slots=True)
class Transaction:
    account_id: str
    id: str
    created_at_us: int
    type: str
    status: str
    credits_micros: int
    balance_after_micros: int
    operation: str | None = None
    units: int = 0
    reserved_units: int = 0
    reserved_micros: int = 0
    unit_price_micros: int = 0
    multiplier_ppm: int = PPM_ONE
    settled_at_us: int | None = None
    expires_at_us: int | None = None
    api_key_id: str | None = None
    idempotency_key: str | None = None
    request_id: str | None = None
    reverses_id: str | None = None
    grant_id: str | None = None
    note: str | None = None
    details: dict[str, Any] | None = None
    entry_first_seq: int | None = None  # journal entries of the latest posting, a seq range
    entry_last_seq: int | None = None

    @property
    def is_reservation(self) -> bool:
        return self.expires_at_us is not None

    @property
    def is_charge(self) -> bool:
        return self.operation is not None and self.type == self.operation


class Receipt(NamedTuple):
    """The outcome of one ledger command, as the caller sees it."""

    transaction: Transaction
    charged_micros: int  # what this command took from the balance (0 for credits)
    reserved_micros: int  # what the transaction holds now
    balance_micros: int  # settled balance after the command
    available_micros: int  # what could still be spent after the command
    replayed: bool = False  # an idempotent replay of an earlier outcome
    test: bool = False  # answered for a test key: nothing was written
