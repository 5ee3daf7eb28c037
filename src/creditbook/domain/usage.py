"""Usage buckets and calendar periods in any IANA time zone.

Settled spend is kept in 15-minute UTC buckets. Every UTC offset in use today is a multiple of
15 minutes (Asia/Kathmandu is +05:45, India +05:30), so every local midnight falls on a bucket
boundary and day / week / month totals are exact in every zone, DST days included.

Each bucket also carries the running totals of its series (account, operation, API key), so
the usage of [a, b) is C(b) - C(a), where C(t) is the running total of the series' latest
bucket starting before t. A report of N periods needs the N + 1 instants at which its periods
begin and end (`instants`), and C at each of them (`period_rows`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from creditbook import limits
from creditbook.clock import US_PER_S, to_us
from creditbook.errors import InvalidInput

BUCKET_US = 15 * 60 * US_PER_S
EPOCH = date(1970, 1, 1)
FIRST_DAY = date(1970, 1, 2)  # no zone's local midnight falls before the epoch from here on


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def bucket_start_us(at_us: int) -> int:
    return at_us - at_us % BUCKET_US


def parse_zone(name: str) -> ZoneInfo:
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise InvalidInput("timezone", f"Unknown time zone {name!r}; use an IANA name.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a folder such as "America" is OSError
        raise InvalidInput("timezone", f"Unknown time zone {name!r}; use an IANA name.") from None


def parse_period(value: str) -> Period:
    try:
        return Period(value)
    except ValueError:
        raise InvalidInput("period", "Must be one of: day, week, month.") from None


def local_midnight_us(day: date, zone: ZoneInfo) -> int:
    """The UTC instant at which `day` begins in `zone` (the first instant after a DST gap)."""
    return to_us(datetime.combine(day, time(0), tzinfo=zone))


LAST_DAY = date(2999, 12, 31)  # a ledger has no business with dates past this


def check_date(field: str, value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise InvalidInput(field, f"Must be between {FIRST_DAY} and {LAST_DAY}.")
    return value


def check_range(start: date, end: date) -> None:
    if start < FIRST_DAY:
        raise InvalidInput("start_date", f"Must be on or after {FIRST_DAY.isoformat()}.")
    if end <= start:
        raise InvalidInput("end_date", "Must be after the start date.")
    if (end - start).days > limits.usage_range_days_max:
        raise InvalidInput("end_date", f"At most {limits.usage_range_days_max} days per query.")


def instants(starts: list[date], end: date, zone: ZoneInfo) -> list[int]:
    """The UTC instants at which the local dates `starts` and `end` begin in `zone`."""
    found = []
    for day in [*starts, end]:
        at_us = local_midnight_us(day, zone)
        if at_us % BUCKET_US:
            raise InvalidInput(
                "timezone", f"{zone.key} on {day.isoformat()} is not on a 15-minute offset."
            )
        found.append(at_us)
    return found


@dataclass(slots=True)
class Figures:
    spend_micros: int = 0
    units: int = 0
    charges: int = 0

    def add(self, spend: int, units: int, charges: int) -> None:
        self.spend_micros += spend
        self.units += units
        self.charges += charges


@dataclass(slots=True)
class Bucket:
    """One period of a series: [start, end) in local dates, with its breakdown."""

    start: date
    end: date
    total: Figures = field(default_factory=Figures)
    breakdown: dict[str, Figures] = field(default_factory=dict)

    def add(self, operation: str, spend: int, units: int, charges: int) -> None:
        # A report of a year by day adds thousands of rows: the sums are inlined.
        total = self.total
        total.spend_micros += spend
        total.units += units
        total.charges += charges
        figures = self.breakdown.get(operation)
        if figures is None:  # not setdefault: that would build a Figures for every row
            self.breakdown[operation] = Figures(spend, units, charges)
        else:
            figures.spend_micros += spend
            figures.units += units
            figures.charges += charges


@dataclass(slots=True)
class UsageReport:
    start: date
    end: date  # exclusive
    timezone: str
    period: Period
    total: Bucket
    series: list[Bucket]


DayRow = tuple[int, str, int, int, int]  # day number, operation, spend, units, charges
# operation, API key, and the series' running spend, units and charges at each instant
SeriesTotals = tuple[str, str, list[int], list[int], list[int]]


def period_rows(starts: list[date], totals: Iterable[SeriesTotals]) -> list[DayRow]:
    """Each series' usage in each period, C(period end) - C(period start), as a row dated
    on the period's first day; periods without usage left out."""
    days = [(day - EPOCH).days for day in starts]
    rows: list[DayRow] = []
    for operation, _key, spend, units, count in totals:
        for n, day in enumerate(days):
            if count[n + 1] != count[n] or spend[n + 1] != spend[n] or units[n + 1] != units[n]:
                rows.append(
                    (
                        day,
                        operation,
                        spend[n + 1] - spend[n],
                        units[n + 1] - units[n],
                        count[n + 1] - count[n],
                    )
                )
    return rows


def period_starts(start: date, end: date, period: Period) -> list[date]:
    """Where each period of the series begins; the first and last are clipped to the range."""
    if period is Period.DAY:
        return [start + timedelta(days=n) for n in range(max((end - start).days, 1))]
    starts = [start]
    cursor = start
    while True:
        if period is Period.WEEK:
            cursor += timedelta(days=7 - cursor.weekday())
        else:
            cursor = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
        if cursor >= end:
            return starts
        starts.append(cursor)


def fold(
    rows: Iterable[DayRow], *, start: date, end: date, zone: ZoneInfo, period: Period
) -> UsageReport:
    """Sum per-day rows into the total and one bucket per period."""
    starts = period_starts(start, end, period)
    series = [Bucket(s, e) for s, e in zip(starts, [*starts[1:], end], strict=True)]
    total = Bucket(start, end)
    index_of: dict[int, int] = {}
    for index, bucket in enumerate(series):
        for n in range((bucket.start - EPOCH).days, (bucket.end - EPOCH).days):
            index_of[n] = index
    for day_number, operation, spend, units, charges in rows:
        assert day_number in index_of, f"day {day_number} is outside the report"
        series[index_of[day_number]].add(operation, spend, units, charges)
        total.add(operation, spend, units, charges)
    return UsageReport(start, end, zone.key, period, total, series)


def month_range(label: str) -> tuple[date, date]:
    """The local dates [first, next first) of a `YYYY-MM` label."""
    try:
        first = datetime.strptime(label, "%Y-%m").replace(tzinfo=UTC).date()
    except ValueError:
        raise InvalidInput("period_month", "Must be a month as YYYY-MM.") from None
    check_date("period_month", first)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following
