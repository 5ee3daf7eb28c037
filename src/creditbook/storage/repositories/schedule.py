"""What the clock reads: due renewals, grants about to expire, forecast alerts and the spend
that feeds them. Each query is bounded (`limit`) and ordered, so a round takes a page."""

from __future__ import annotations

from sqlalchemy import Connection, and_, exists, literal, select, union, update

from creditbook.domain.alerts import FORECAST, Alert
from creditbook.domain.grants import OVERDRAFT, Grant
from creditbook.domain.plans import Subscription
from creditbook.storage.repositories.ledger import GRANT_COLUMNS
from creditbook.storage.repositories.outbox import ALERT_COLUMNS
from creditbook.storage.repositories.usage import TIME_MAX_US, UsageRepository
from creditbook.storage.tables import (
    accounts,
    alerts,
    grants,
    notices,
    subscriptions,
    transactions,
)

EXPIRING_NOTICE = "expiring:"


class ScheduleRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def accounts_due(self, now_us: int, *, after: str | None, limit: int) -> list[str]:
        """Accounts with a reservation past its TTL or a grant past its expiry that still
        holds credit, in id order after `after` (both lookups use partial indexes)."""
        t, g = transactions.c, grants.c
        pending = select(t.account_id).where(t.status == "pending", t.expires_at_us <= now_us)
        expired = select(g.account_id).where(
            g.expires_at_us.is_not(None), g.remaining_micros > 0, g.expires_at_us <= now_us
        )
        if after is not None:
            pending = pending.where(t.account_id > after)
            expired = expired.where(g.account_id > after)
        both = union(pending, expired).subquery()
        query = select(both.c.account_id).order_by(both.c.account_id).limit(limit)
        return list(self.connection.execute(query).scalars())

    def due_subscriptions(self, now_us: int, limit: int) -> list[tuple[Subscription, str]]:
        """Subscriptions whose renewal time has come, with the account's time zone."""
        query = (
            select(*subscriptions.c, accounts.c.timezone)
            .join(accounts, accounts.c.id == subscriptions.c.account_id)
            .where(subscriptions.c.next_renewal_at_us <= now_us)
            .order_by(subscriptions.c.next_renewal_at_us, subscriptions.c.account_id)
            .limit(limit)
        )
        return [(Subscription(*row[:-1]), row[-1]) for row in self.connection.execute(query)]

    def move_renewal(self, account_id: str, *, was_us: int, next_us: int, now_us: int) -> bool:
        """Compare and set: False when another process moved it first."""
        s = subscriptions.c
        result = self.connection.execute(
            update(subscriptions)
            .where(s.account_id == account_id, s.next_renewal_at_us == was_us)
            .values(next_renewal_at_us=next_us, updated_at_us=now_us)
        )
        return result.rowcount == 1

    def expiring_unnoticed(self, now_us: int, until_us: int, limit: int) -> list[Grant]:
        g = grants.c
        noticed = exists().where(
            notices.c.account_id == g.account_id,
            notices.c.key == literal(EXPIRING_NOTICE) + g.id,
        )
        query = (
            select(*GRANT_COLUMNS)
            .where(
                g.expires_at_us.is_not(None),
                g.remaining_micros > 0,
                g.expires_at_us > now_us,
                g.expires_at_us <= until_us,
                g.kind != OVERDRAFT,
                ~noticed,
            )
            .order_by(g.expires_at_us, g.account_id, g.id)
            .limit(limit)
        )
        return [Grant(*row) for row in self.connection.execute(query)]

    def forecast_alerts(self, *, after: tuple[str, str] | None, limit: int) -> list[Alert]:
        a = alerts.c
        query = select(*ALERT_COLUMNS).where(a.kind == FORECAST)
        if after is not None:
            query = query.where(
                (a.account_id > after[0]) | and_(a.account_id == after[0], a.id > after[1])
            )
        query = query.order_by(a.account_id, a.id).limit(limit)
        return [Alert(*row) for row in self.connection.execute(query)]

    def balances(self, account_ids: list[str]) -> dict[str, int]:
        query = select(accounts.c.id, accounts.c.balance_micros).where(
            accounts.c.id.in_(account_ids)
        )
        return {row[0]: int(row[1]) for row in self.connection.execute(query)}

    def spend_since(self, account_id: str, since_us: int) -> int:
        """Spend of the buckets starting at `since` or later: from the running totals, two
        seeks per series (the buckets' key starts with the series, not the time)."""
        totals = UsageRepository(self.connection).totals_between(account_id, since_us, TIME_MAX_US)
        return sum(spend for _op, _key, spend, _units, _count in totals)

    def swap_state(self, alert: Alert, *, was: str) -> bool:
        """Compare and set an alert's state: False when another process changed it first."""
        a = alerts.c
        result = self.connection.execute(
            update(alerts)
            .where(a.account_id == alert.account_id, a.id == alert.id, a.state == was)
            .values(state=alert.state, changed_at_us=alert.changed_at_us)
        )
        return result.rowcount == 1
