"""The clock: the jobs that time, not a request, sets off.

Each round: renew plan allotments that are due, expire reservations past their TTL and write
off expired grants, send `credits.expiring` notices, and judge run-out forecasts. Every job is
idempotent per period and safe when several processes run it against one database:

- a renewal is a ledger `Renew` whose idempotency key names the period (a second run replays
  it), and the subscription's next date moves by compare-and-set;
- expiry goes through the ledger writer, which locks the account and finds nothing left the
  second time;
- a notice is a row with a unique key, inserted with the event in one transaction;
- a forecast alert moves by compare-and-set on its state, with its event in that transaction;
  it is judged outside any write transaction, so a round that moves nothing writes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from creditbook import limits
from creditbook.domain import events as ev
from creditbook.domain.alerts import US_PER_DAY, Alert, judge, read_forecast
from creditbook.domain.commands import Renew
from creditbook.domain.grants import Grant
from creditbook.domain.plans import CAPPED, GRACE_US, Subscription, cycle_start_us, next_cycle_us
from creditbook.domain.transactions import Receipt
from creditbook.domain.usage import parse_zone
from creditbook.errors import CreditbookError
from creditbook.services.ledger import Ledger
from creditbook.storage.repositories import outbox
from creditbook.storage.repositories.schedule import EXPIRING_NOTICE, ScheduleRepository
from creditbook.storage.store import Store

log = logging.getLogger("creditbook.clock")


@dataclass(slots=True)
class Round:
    """What one round did, job by job."""

    renewed: int = 0
    expired: int = 0
    notices: int = 0
    forecasts: int = 0
    failures: list[str] = field(default_factory=list)


class Clockwork:
    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        *,
        expiring_window_s: int,
        forecast_interval_s: float = 300.0,
        page_size: int = limits.clock_accounts_per_round_max,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._window_us = expiring_window_s * 1_000_000
        self._forecast_interval_us = int(forecast_interval_s * 1_000_000)
        self._forecasts_next_us: int | None = None
        self._page = page_size

    def run_once(self, *, forecasts: bool = True) -> Round:
        done = Round()
        jobs: list[tuple[str, Callable[[], int]]] = [
            ("renewed", self.renew_plans),
            ("expired", self._ledger.expire_all),
            ("notices", self.send_expiry_notices),
        ]
        if forecasts:
            jobs.append(("forecasts", self.judge_forecasts))
        for name, job in jobs:
            try:
                setattr(done, name, job())
            except Exception as error:  # one failing job must not stop the others
                log.exception("clock job %s failed", name)
                done.failures.append(f"{name}: {error}")
        return done

    def run(self, stop: threading.Event, *, interval_s: float) -> None:
        """Rounds every `interval_s` until `stop` is set (for a thread or `creditbook worker`)."""
        while not stop.is_set():
            self.next_round()
            stop.wait(interval_s)

    def next_round(self) -> Round:
        """A round of the loop: every job, and the forecasts when their interval has passed.
        Judging a forecast reads the account's usage; a burn rate over days needs no judging
        every 30 s, and at 0.4 ms an alert a round over many accounts would cost a core."""
        now = self._store.clock.now_us()
        due = self._forecasts_next_us is None or now >= self._forecasts_next_us
        if due:
            self._forecasts_next_us = now + self._forecast_interval_us
        return self.run_once(forecasts=due)

    # Renewals

    def renew_plans(self) -> int:
        renewed = 0
        while True:
            now = self._store.clock.now_us()
            with self._store.read() as uow:
                due = ScheduleRepository(uow.connection).due_subscriptions(now, self._page)
            if not due:
                return renewed
            for subscription, zone in due:
                renewed += self._renew(subscription, zone, now)

    def _renew(self, sub: Subscription, zone_name: str, now_us: int) -> int:
        zone = parse_zone(zone_name)
        # After downtime, only the current cycle is granted: missed ones have ended.
        start = max(sub.next_renewal_at_us, cycle_start_us(now_us, sub.cycle_day, zone))
        following = next_cycle_us(start, sub.cycle_day, zone)
        command = Renew(
            sub.account_id,
            start,
            sub.allotment_micros,
            sub.rollover_cap_micros if sub.rollover == CAPPED else None,
            following + GRACE_US,
            f"plan-renewal:{start}",
        )
        result = self._store.submit([command])[0]
        if isinstance(result, CreditbookError):
            log.error("plan renewal of %s failed: %s", sub.account_id, result)
        fresh = isinstance(result, Receipt) and not result.replayed
        with self._store.write() as uow:
            ScheduleRepository(uow.connection).move_renewal(
                sub.account_id, was_us=sub.next_renewal_at_us, next_us=following, now_us=now_us
            )
            uow.commit()
        return int(fresh)

    # Expiry notices

    def send_expiry_notices(self) -> int:
        sent = 0
        while True:
            now = self._store.clock.now_us()
            # Found outside the write transaction: a round that finds nothing (most rounds)
            # never takes SQLite's write lock from the ledger's writer.
            with self._store.read(transaction=False) as uow:
                repo = ScheduleRepository(uow.connection)
                found = repo.expiring_unnoticed(now, now + self._window_us, self._page)
            if not found:
                return sent
            with self._store.write() as uow:
                runner = outbox.CoreRunner(uow.connection)
                news = [_expiring(g, now) for g in found if _first_notice(runner, g, now)]
                outbox.write_events(runner, news, now)
                uow.commit()
            sent += len(news)

    # Forecasts

    def judge_forecasts(self) -> int:
        """Judge every forecast alert, a page at a time. The readings (a usage lookup per
        alert) are taken outside any write transaction; only the alerts that move are then
        written, by compare-and-set, with their events. So on SQLite a round holds the write
        lock only for what it changes, never while it reads."""
        moved = 0
        after: tuple[str, str] | None = None
        while True:
            now = self._store.clock.now_us()
            with self._store.read(transaction=False) as uow:
                repo = ScheduleRepository(uow.connection)
                found = repo.forecast_alerts(after=after, limit=self._page)
                if not found:
                    return moved
                changes = _judge_page(repo, found, now)
            if changes:
                moved += self._save_forecasts(changes, now)
            after = (found[-1].account_id, found[-1].id)

    def _save_forecasts(self, changes: list[tuple[Alert, str, ev.Event]], now_us: int) -> int:
        with self._store.write() as uow:
            repo = ScheduleRepository(uow.connection)
            news = [event for alert, was, event in changes if repo.swap_state(alert, was=was)]
            if news:
                runner = outbox.CoreRunner(uow.connection)
                outbox.bump_alerts_revision(runner)
                outbox.write_events(runner, news, now_us)
                uow.commit()
        return len(news)


def _first_notice(runner: outbox.Runner, grant: Grant, now_us: int) -> bool:
    return outbox.add_notice(runner, grant.account_id, EXPIRING_NOTICE + grant.id, now_us)


def _expiring(grant: Grant, now_us: int) -> ev.Event:
    data = {
        "grant_id": grant.id,
        "kind": str(grant.kind),
        "remaining": ev.usd(grant.remaining_micros),
        "expires_at": ev.timestamp(grant.expires_at_us),
    }
    return ev.new_event(grant.account_id, ev.CREDITS_EXPIRING, now_us, data)


def _judge_page(
    repo: ScheduleRepository, found: list[Alert], now_us: int
) -> list[tuple[Alert, str, ev.Event]]:
    """The alerts of the page that move: each with the state it moves from and its event."""
    balances = repo.balances(sorted({a.account_id for a in found}))
    changes: list[tuple[Alert, str, ev.Event]] = []
    for alert in found:
        if alert.account_id not in balances:
            continue
        since = now_us - (alert.window_days or 1) * US_PER_DAY
        reading = read_forecast(
            alert, balances[alert.account_id], repo.spend_since(alert.account_id, since)
        )
        was = alert.state
        event = judge(alert, reading, now_us)
        if event is not None:
            changes.append((alert, was, event))
    return changes
