"""Figures the dashboard derives from the services' answers: credits expiring soon, the run-out
forecast, the most expensive operations, and what real-time operations would cost from the
database. Pure functions of what the services returned; integers of micro-USD throughout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from creditbook.clock import US_PER_DAY
from creditbook.domain.grants import Grant
from creditbook.domain.pricing import PriceBook
from creditbook.domain.usage import Figures

FORECAST_WINDOW_DAYS = 14
CHEAPER = {"search_realtime": "search_database", "enrich_realtime": "enrich_database"}
TOP_OPERATIONS = 3


@dataclass(frozen=True, slots=True)
class Forecast:
    window_days: int
    daily_micros: int
    days_left: int | None  # None: no recent spend, or nothing left to spend
    runs_out: date | None


def expiring(grants: list[Grant], now_us: int, days: int) -> list[Grant]:
    """Open grants holding credit that expire within `days` days, soonest first."""
    until = now_us + days * US_PER_DAY
    found = [
        g
        for g in grants
        if not g.is_overdraft
        and g.remaining_micros > 0
        and g.expires_at_us is not None
        and now_us < g.expires_at_us <= until
    ]
    return sorted(found, key=lambda g: g.expires_at_us or 0)


def forecast(balance_micros: int, spent_micros: int, today: date, window_days: int) -> Forecast:
    """At the average daily spend of the window, how many whole days the balance lasts."""
    daily = spent_micros // window_days
    if daily <= 0 or balance_micros <= 0:
        return Forecast(window_days, daily, 0 if balance_micros <= 0 else None, None)
    days = balance_micros // daily
    runs_out = today + timedelta(days=days) if days < 36_500 else None
    return Forecast(window_days, daily, days, runs_out)


@dataclass(frozen=True, slots=True)
class OperationRow:
    operation: str
    spend_micros: int
    units: int
    charges: int
    share_percent: int
    top: bool


def operation_rows(breakdown: dict[str, Figures]) -> list[OperationRow]:
    """Operations by spend, most expensive first; the first few (with any spend) marked."""
    total = sum(f.spend_micros for f in breakdown.values())
    ordered = sorted(breakdown.items(), key=lambda item: (-item[1].spend_micros, item[0]))
    return [
        OperationRow(
            op,
            f.spend_micros,
            f.units,
            f.charges,
            f.spend_micros * 100 // total if total > 0 else 0,
            index < TOP_OPERATIONS and f.spend_micros > 0,
        )
        for index, (op, f) in enumerate(ordered)
    ]


@dataclass(frozen=True, slots=True)
class Hint:
    operation: str
    instead: str
    spend_micros: int
    units: int
    would_cost_micros: int

    @property
    def saving_micros(self) -> int:
        return self.spend_micros - self.would_cost_micros


def realtime_hints(breakdown: dict[str, Figures], book: PriceBook, now_us: int) -> list[Hint]:
    """For each real-time operation with spend, the same spend at the database price."""
    prices = {p.operation: p.unit_price_micros for p in book.operations(now_us)}
    hints: list[Hint] = []
    for operation, instead in CHEAPER.items():
        used = breakdown.get(operation)
        dearer, cheaper = prices.get(operation), prices.get(instead)
        if used is None or used.spend_micros <= 0 or not dearer or cheaper is None:
            continue
        would_cost = used.spend_micros * cheaper // dearer
        if would_cost < used.spend_micros:
            hints.append(Hint(operation, instead, used.spend_micros, used.units, would_cost))
    return hints
