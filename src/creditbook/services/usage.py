"""Usage reports: spend, units and charges by operation for local dates in any time zone."""

from __future__ import annotations

from datetime import date

from creditbook.domain.usage import (
    UsageReport,
    check_range,
    fold,
    instants,
    parse_period,
    parse_zone,
    period_rows,
    period_starts,
)
from creditbook.storage.repositories.usage import UsageRepository
from creditbook.storage.store import Store


class Usage:
    def __init__(self, store: Store) -> None:
        self._store = store

    def report(
        self,
        *,
        account_id: str,
        start: date,
        end: date,
        timezone: str = "UTC",
        period: str = "day",
        api_key_id: str | None = None,
    ) -> UsageReport:
        """Totals for the local dates [start, end) in `timezone`, and one bucket per period."""
        zone = parse_zone(timezone)
        chosen = parse_period(period)
        check_range(start, end)
        starts = period_starts(start, end, chosen)
        at_us = instants(starts, end, zone)
        with self._store.read(transaction=False) as uow:  # one statement
            totals = UsageRepository(uow.connection).totals_before(
                account_id, at_us, api_key_id=api_key_id
            )
        return fold(period_rows(starts, totals), start=start, end=end, zone=zone, period=chosen)
