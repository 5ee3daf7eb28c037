"""Accounts and API keys as the rest of the package sees them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from creditbook.clock import month_start_us
from creditbook.domain.book import AccountState


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Scope(StrEnum):
    READ = "read"  # account endpoints only
    FULL = "full"  # may also spend


TEST_KEY_PREFIX = "test_"
LIVE_KEY_PREFIX = "cb_"


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    email: str
    name: str
    plan: str
    timezone: str
    status: str
    monthly_limit_micros: int | None
    overdraft_limit_micros: int
    balance_micros: int
    reserved_micros: int
    lifetime_spend_micros: int
    month_start_us: int
    month_spend_micros: int
    entry_seq: int
    created_at_us: int
    updated_at_us: int

    def spent_this_month_micros(self, now_us: int) -> int:
        """Spend in the current UTC month; the stored figure belongs to an older month until
        the next write rolls it over."""
        return self.month_spend_micros if self.month_start_us == month_start_us(now_us) else 0

    def state(self, now_us: int) -> AccountState:
        """The ledger's view of the account as of `now_us` (this month's spend rolled over)."""
        return AccountState(
            self.id,
            self.status,
            self.overdraft_limit_micros,
            self.monthly_limit_micros,
            self.balance_micros,
            self.reserved_micros,
            self.lifetime_spend_micros,
            month_start_us(now_us),
            self.spent_this_month_micros(now_us),
            self.entry_seq,
        )


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    account_id: str
    prefix: str
    name: str | None
    client_id: str | None
    scope: str
    is_test: bool
    is_active: bool
    created_at_us: int
    last_used_at_us: int | None
    revoked_at_us: int | None


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created: the only moment its secret exists outside the caller's hands."""

    key: ApiKey
    secret: str
