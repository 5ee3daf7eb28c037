"""Grants (credit blocks) and the order in which charges draw on them.

Order: lowest priority number first, then the soonest expiry (a grant that never expires comes
after every grant that does), then the oldest. The overdraft grant, which only ever goes below
zero, always comes last.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from creditbook import limits
from creditbook.errors import InvalidInput


class GrantKind(StrEnum):
    PURCHASE = "purchase"
    PROMOTIONAL = "promotional"
    PLAN = "plan"
    ADJUSTMENT = "adjustment"
    OVERDRAFT = "overdraft"  # the account's debt, created by the ledger; never granted by hand


OVERDRAFT = GrantKind.OVERDRAFT.value
OVERDRAFT_GRANT_ID = "grt_overdraft"  # one per account (the key is account_id + id)

# Free credits that may expire go first, paid credits last, unless the grant says otherwise.
DEFAULT_PRIORITY = {
    GrantKind.PROMOTIONAL: 10,
    GrantKind.PLAN: 20,
    GrantKind.ADJUSTMENT: 30,
    GrantKind.PURCHASE: 40,
    GrantKind.OVERDRAFT: limits.priority_max,
}

# How each kind appears in the transaction history (the wire's `type`).
TRANSACTION_TYPE = {
    GrantKind.PURCHASE: "top_up",
    GrantKind.PROMOTIONAL: "grant",
    GrantKind.PLAN: "grant",
    GrantKind.ADJUSTMENT: "adjustment",
    GrantKind.OVERDRAFT: "adjustment",
}


@dataclass(slots=True)
class Grant:
    account_id: str
    id: str
    kind: str
    priority: int
    effective_at_us: int
    expires_at_us: int | None
    created_at_us: int
    amount_micros: int
    remaining_micros: int
    held_micros: int = 0

    @property
    def is_overdraft(self) -> bool:
        return self.kind == GrantKind.OVERDRAFT

    def order_key(self) -> tuple[bool, int, bool, int, int, str]:
        expires = self.expires_at_us
        return (
            self.is_overdraft,
            self.priority,
            expires is None,
            expires or 0,
            self.created_at_us,
            self.id,
        )

    def is_live(self, now_us: int) -> bool:
        """Spendable now: already effective and not yet expired."""
        if self.effective_at_us > now_us:
            return False
        return self.expires_at_us is None or now_us < self.expires_at_us

    def is_expired(self, now_us: int) -> bool:
        return self.expires_at_us is not None and self.expires_at_us <= now_us

    def free_micros(self, now_us: int, overdraft_limit_micros: int) -> int:
        """What a new charge may still take from this grant."""
        free = self.remaining_micros - self.held_micros
        if self.kind == OVERDRAFT:
            free += overdraft_limit_micros
        elif self.effective_at_us > now_us or (
            self.expires_at_us is not None and self.expires_at_us <= now_us
        ):
            return 0
        return free if free > 0 else 0


def available_micros(grants: Iterable[Grant], now_us: int, overdraft_limit_micros: int) -> int:
    """What one more charge could take now: free credit, plus overdraft room.

    Once the account has an overdraft grant, its room is part of that grant's free amount.
    """
    free = 0
    has_debt = False
    for grant in grants:
        free += grant.free_micros(now_us, overdraft_limit_micros)
        has_debt = has_debt or grant.is_overdraft
    return free if has_debt else free + overdraft_limit_micros


def parse_kind(value: str) -> GrantKind:
    try:
        kind = GrantKind(value)
    except ValueError:
        kind = GrantKind.OVERDRAFT
    if kind is GrantKind.OVERDRAFT:
        allowed = ", ".join(k.value for k in GrantKind if k is not GrantKind.OVERDRAFT)
        raise InvalidInput("kind", f"Unknown grant kind {value!r}; allowed: {allowed}.")
    return kind


def check_priority(priority: int) -> int:
    if not 0 <= priority < limits.priority_max:
        raise InvalidInput("priority", f"Must be between 0 and {limits.priority_max - 1}.")
    return priority
