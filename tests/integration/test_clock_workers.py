"""Two `creditbook worker` processes against one PostgreSQL: nothing is granted, expired or
noticed twice."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from sqlalchemy import func, select

from creditbook.bootstrap import Services, build
from creditbook.clock import US_PER_DAY, ManualClock
from creditbook.domain import events as ev
from creditbook.domain.grants import GrantKind
from creditbook.storage.tables import events, grants, transactions
from tests.conftest import make_settings

ACCOUNTS = 200
HOUR_US = 3_600_000_000


def _seed(url: str, now_us: int) -> list[str]:
    clock = ManualClock(now_us - 2 * US_PER_DAY)
    services = build(make_settings(url, default_alerts=""), clock=clock)
    made: list[str] = []
    try:
        for i in range(ACCOUNTS):
            account = services.accounts.create(email=f"w{i}@example.com")
            services.plans.subscribe(account_id=account.id, allotment_micros=5_000_000, cycle_day=1)
            for expires in (now_us - HOUR_US, now_us + 2 * US_PER_DAY):
                services.ledger.grant(
                    account_id=account.id, amount_micros=1_000_000, expires_at_us=expires
                )
            made.append(account.id)
    finally:
        services.close()
    return made


def _workers(url: str, count: int) -> int:
    """Run `count` workers at once; the renewals they report as fresh, summed."""
    env = {**os.environ, "CREDITBOOK_DATABASE_URL": url, "CREDITBOOK_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "creditbook", "worker", "--once"]
    running = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(count)
    ]
    renewed = 0
    for process in running:
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0, out
        renewed += int(out.split("renewed ")[1].split(",")[0])
    return renewed


def _per_account(url: str, query: object) -> dict[str, int]:
    services = build(make_settings(url))
    try:
        with services.store.engine.connect() as connection:
            return {row[0]: int(row[1]) for row in connection.execute(query)}  # type: ignore[call-overload]
    finally:
        services.close()


def _notices(url: str) -> list[str]:
    services = build(make_settings(url))
    try:
        return [e.data["grant_id"] for a in _all_ids(services) for e in _expiring(services, a)]
    finally:
        services.close()


def _all_ids(services: Services) -> list[str]:
    return [a.id for a in services.accounts.page(limit=1000)]


def _expiring(services: Services, account_id: str) -> list[ev.Event]:
    return services.events.page(account_id=account_id, type_=ev.CREDITS_EXPIRING)


def test_two_worker_processes_grant_expire_and_notice_everything_exactly_once(
    pg_url: str,
) -> None:
    now = time.time_ns() // 1_000
    accounts = _seed(pg_url, now)
    assert _workers(pg_url, 2) == ACCOUNTS  # between them, each renewal once
    assert _workers(pg_url, 2) == 0  # and again: a second round finds nothing to do
    once = dict.fromkeys(accounts, 1)
    g, t, e = grants.c, transactions.c, events.c
    plan = select(g.account_id, func.count()).where(g.kind == GrantKind.PLAN.value)
    assert _per_account(pg_url, plan.group_by(g.account_id)) == once
    expiry = select(t.account_id, func.count()).where(t.type == "expiration")
    assert _per_account(pg_url, expiry.group_by(t.account_id)) == once
    expired = select(e.account_id, func.count()).where(e.type == ev.CREDITS_EXPIRED)
    assert _per_account(pg_url, expired.group_by(e.account_id)) == once
    # Notices: one per grant expiring within the window (the $1 grant and the new plan grant).
    notices = _notices(pg_url)
    assert len(notices) == len(set(notices)) == 2 * ACCOUNTS
    services = build(make_settings(pg_url))
    try:
        assert services.verifier.verify().ok
    finally:
        services.close()
