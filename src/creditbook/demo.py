"""Demo data: accounts with 90 days of plausible traffic over every operation.

Traffic is replayed through the real ledger with a clock that walks through the past 90 days,
so the demo's balances, usage and transactions obey every invariant `creditbook verify` checks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from creditbook.bootstrap import build
from creditbook.clock import US_PER_DAY, US_PER_S, ManualClock, SystemClock
from creditbook.config import Settings
from creditbook.domain.accounts import NewKey
from creditbook.domain.commands import Charge
from creditbook.errors import CreditbookError
from creditbook.services.ledger import charge_command

DEMO_EMAIL = "demo@creditbook.example"
DAYS = 90

# Operation, typical units per call, relative call frequency.
TRAFFIC = (
    ("search_database", 25, 30),
    ("search_realtime", 10, 12),
    ("enrich_database", 5, 15),
    ("enrich_realtime", 3, 8),
    ("email_find", 4, 14),
    ("email_validate", 20, 8),
    ("preview", 50, 6),
    ("phone_find", 1, 4),
    ("count_realtime", 1, 3),
)


@dataclass(frozen=True, slots=True)
class DemoResult:
    account_id: str
    key: NewKey
    charges: int


def fresh_key(settings: Settings) -> tuple[str, NewKey] | None:
    """A new key for the demo account when it exists already, else None."""
    services = build(settings)
    try:
        found = [a for a in services.accounts.page(limit=1000) if a.email == DEMO_EMAIL]
        if not found:
            return None
        key = services.accounts.create_key(
            account_id=found[0].id, name="Demo key", client_id="demo"
        )
        return found[0].id, key
    finally:
        services.close()


def seed(settings: Settings, *, seed_value: int = 7, calls_per_day: int = 120) -> DemoResult:
    """Create the demo account and replay 90 days of traffic ending now."""
    rng = random.Random(seed_value)
    now = SystemClock().now_us()
    clock = ManualClock(now - DAYS * US_PER_DAY)
    services = build(settings, clock=clock)
    try:
        account = services.accounts.create(
            email=DEMO_EMAIL, name="Demo Company", plan="Pro", timezone="America/New_York"
        )
        key = services.accounts.create_key(account_id=account.id, name="Demo key", client_id="demo")
        services.ledger.grant(account_id=account.id, amount_micros=500_000_000, kind="purchase")
        services.ledger.grant(
            account_id=account.id,
            amount_micros=50_000_000,
            kind="promotional",
            expires_at_us=now + 30 * US_PER_DAY,
        )
        charges = 0
        for day in range(DAYS):
            if day % 30 == 29:
                services.ledger.grant(account_id=account.id, amount_micros=1_000_000_000)
            batch = _day_of_traffic(rng, account.id, key.key.id, calls_per_day)
            for at_us, command in batch:
                clock.set(at_us + day * US_PER_DAY)
                outcome = services.ledger.charge_many([command])[0]
                charges += not isinstance(outcome, CreditbookError)
        clock.set(now)
        return DemoResult(account.id, key, charges)
    finally:
        services.close()


def _day_of_traffic(
    rng: random.Random, account_id: str, key_id: str, calls: int
) -> list[tuple[int, Charge]]:
    start = SystemClock().now_us() - DAYS * US_PER_DAY
    weights = [weight for _op, _units, weight in TRAFFIC]
    picks = rng.choices(TRAFFIC, weights=weights, k=rng.randint(calls // 2, calls))
    moments = sorted(rng.randrange(0, 86_400) for _ in picks)
    return [
        (
            start + second * US_PER_S,
            charge_command(
                account_id=account_id,
                operation=operation,
                units=rng.randint(1, 2 * units),
                api_key_id=key_id,
            ),
        )
        for second, (operation, units, _w) in zip(moments, picks, strict=True)
    ]
