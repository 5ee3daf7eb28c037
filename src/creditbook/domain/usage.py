"""Usage buckets and calendar periods in any IANA time zone.

Settled spend is kept in 15-minute UTC buckets. Every UTC offset in use today is a multiple of
15 minutes (Asia/Kathmandu is +05:45, India +05:30), so every local midnight falls on a bucket
boundary and day / week / month totals are exact in every zone, DST days included.

To sum buckets by local day without reading each bucket, the range is cut into segments: runs
of ordinary 24-hour days sharing one UTC offset, where the local day number is
`(bucket_start + offset) // day`, and the odd days around a DST change (23 or 25 hours), summed
as one range each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from creditbook import limits
from creditbook.clock import US_PER_DAY, US_PER_S, to_us
from creditbook.errors import InvalidInput

BUCKET_US = 15 * 60 * US_PER_S
HOUR_US = 4 * BUCKET_US  # the rollup's grain (usage_hours)
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


@dataclass(frozen=True, slots=True)
class Segment:
    """Buckets in [lo_us, hi_us): either a run of days at one offset, or one odd day."""

    lo_us: int
    hi_us: int
    offset_us: int | None  # the run's UTC offset; None for a single odd day
    day: date | None  # the odd day, when offset_us is None

    def day_number(self, bucket_us: int) -> int:
        if self.offset_us is None:
            assert self.day is not None
            return (self.day - EPOCH).days
        return (bucket_us + self.offset_us) // US_PER_DAY


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


def plan_segments(start: date, end: date, zone: ZoneInfo) -> list[Segment]:
    """Cover the local days [start, end) of `zone` with as few segments as possible."""
    check_range(start, end)
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    bounds = [local_midnight_us(day, zone) for day in days]
    for day, bound in zip(days, bounds, strict=True):
        if bound % BUCKET_US:
            raise InvalidInput(
                "timezone", f"{zone.key} on {day.isoformat()} is not on a 15-minute offset."
            )
    segments: list[Segment] = []
    for index, day in enumerate(days[:-1]):
        lo, hi = bounds[index], bounds[index + 1]
        offset = (day - EPOCH).days * US_PER_DAY - lo
        regular = hi - lo == US_PER_DAY
        last = segments[-1] if segments else None
        if regular and last is not None and last.offset_us == offset and last.hi_us == lo:
            segments[-1] = Segment(last.lo_us, hi, offset, None)
        elif regular:
            segments.append(Segment(lo, hi, offset, None))
        else:
            segments.append(Segment(lo, hi, None, day))
    return segments


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
        self.total.add(spend, units, charges)
        figures = self.breakdown.get(operation)
        if figures is None:  # not setdefault: that would build a Figures for every row
            figures = self.breakdown[operation] = Figures()
        figures.add(spend, units, charges)


@dataclass(slots=True)
class UsageReport:
    start: date
    end: date  # exclusive
    timezone: str
    period: Period
    total: Bucket
    series: list[Bucket]


DayRow = tuple[int, str, int, int, int]  # day number, operation, spend, units, charges


def period_starts(start: date, end: date, period: Period) -> list[date]:
    """Where each period of the series begins; the first and last are clipped to the range."""
    starts = [start]
    cursor = start
    while True:
        if period is Period.DAY:
            cursor += timedelta(days=1)
        elif period is Period.WEEK:
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
