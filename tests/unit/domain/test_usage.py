"""Usage buckets, local days in any zone (DST included), periods and report folding."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from creditbook import limits
from creditbook.clock import to_us
from creditbook.domain.usage import (
    BUCKET_US,
    EPOCH,
    FIRST_DAY,
    Period,
    bucket_start_us,
    check_range,
    fold,
    instants,
    local_midnight_us,
    month_range,
    parse_period,
    parse_zone,
    period_rows,
    period_starts,
)
from creditbook.errors import InvalidInput

HOUR_US = 3_600 * 1_000_000
MINUTE_US = 60 * 1_000_000
UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
KATHMANDU = ZoneInfo("Asia/Kathmandu")


def utc(*args: int) -> int:
    return to_us(datetime(*args, tzinfo=UTC))  # type: ignore[misc]


def day_number(day: date) -> int:
    return (day - EPOCH).days


# Buckets


def test_a_bucket_starts_on_the_quarter_hour_at_or_before_the_moment() -> None:
    quarter = utc(2026, 3, 5, 12, 15)
    assert BUCKET_US == 15 * MINUTE_US
    assert bucket_start_us(quarter) == quarter
    assert bucket_start_us(quarter + 1) == quarter
    assert bucket_start_us(quarter + 15 * MINUTE_US - 1) == quarter
    assert bucket_start_us(quarter - 1) == quarter - 15 * MINUTE_US
    assert bucket_start_us(utc(2026, 3, 5, 12, 7, 30, 123_456)) == utc(2026, 3, 5, 12, 0)


# Local midnights


@pytest.mark.parametrize(
    ("zone", "day", "midnight"),
    [
        ("UTC", date(2026, 3, 5), (2026, 3, 5, 0, 0)),
        ("America/New_York", date(2026, 1, 15), (2026, 1, 15, 5, 0)),  # EST, UTC-5
        ("America/New_York", date(2026, 7, 15), (2026, 7, 15, 4, 0)),  # EDT, UTC-4
        ("Asia/Kolkata", date(2026, 3, 5), (2026, 3, 4, 18, 30)),  # UTC+5:30
        ("Asia/Kathmandu", date(2026, 3, 5), (2026, 3, 4, 18, 15)),  # UTC+5:45
        # Cuba springs forward at midnight: 00:00 does not exist on 2026-03-08, and the day
        # begins at the first instant after the gap, 01:00 CDT = 05:00 UTC.
        ("America/Havana", date(2026, 3, 8), (2026, 3, 8, 5, 0)),
        # Cuba falls back at 01:00 CDT to 00:00 CST: the day begins at the first midnight.
        ("America/Havana", date(2026, 11, 1), (2026, 11, 1, 4, 0)),
    ],
)
def test_local_midnight_is_the_utc_instant_the_local_day_begins(
    zone: str, day: date, midnight: tuple[int, ...]
) -> None:
    assert local_midnight_us(day, ZoneInfo(zone)) == utc(*midnight)


# Instants: where each period begins and the report ends


def daily(start: date, end: date, zone: ZoneInfo) -> list[int]:
    return instants(period_starts(start, end, Period.DAY), end, zone)


def test_utc_days_begin_every_24_hours_at_utc_midnight() -> None:
    found = daily(date(2026, 3, 1), date(2026, 4, 1), UTC_ZONE)
    assert len(found) == 32
    assert found[0] == utc(2026, 3, 1) and found[-1] == utc(2026, 4, 1)
    assert {b - a for a, b in pairwise(found)} == {24 * HOUR_US}


def test_new_york_spring_forward_day_lasts_23_hours() -> None:
    # DST begins on Sunday 2026-03-08 at 02:00 EST (07:00 UTC).
    found = daily(date(2026, 3, 7), date(2026, 3, 10), NEW_YORK)
    assert found == [
        utc(2026, 3, 7, 5),
        utc(2026, 3, 8, 5),
        utc(2026, 3, 9, 4),
        utc(2026, 3, 10, 4),
    ]
    assert [b - a for a, b in pairwise(found)] == [24 * HOUR_US, 23 * HOUR_US, 24 * HOUR_US]


def test_new_york_fall_back_day_lasts_25_hours() -> None:
    # DST ends on Sunday 2026-11-01 at 02:00 EDT (06:00 UTC).
    found = daily(date(2026, 10, 31), date(2026, 11, 3), NEW_YORK)
    assert found == [
        utc(2026, 10, 31, 4),
        utc(2026, 11, 1, 4),
        utc(2026, 11, 2, 5),
        utc(2026, 11, 3, 5),
    ]
    assert [b - a for a, b in pairwise(found)] == [24 * HOUR_US, 25 * HOUR_US, 24 * HOUR_US]


def test_a_new_york_year_has_exactly_two_days_that_are_not_24_hours() -> None:
    start = date(2026, 1, 1)
    found = daily(start, date(2027, 1, 1), NEW_YORK)
    odd = [
        start + timedelta(days=n)
        for n, (a, b) in enumerate(pairwise(found))
        if b - a != 24 * HOUR_US
    ]
    assert odd == [date(2026, 3, 8), date(2026, 11, 1)]


def test_kolkata_and_kathmandu_days_begin_at_their_half_and_quarter_hour_offsets() -> None:
    assert daily(date(2026, 3, 6), date(2026, 3, 7), KOLKATA) == [
        utc(2026, 3, 5, 18, 30),
        utc(2026, 3, 6, 18, 30),
    ]
    assert daily(date(2026, 3, 5), date(2026, 3, 6), KATHMANDU) == [
        utc(2026, 3, 4, 18, 15),
        utc(2026, 3, 5, 18, 15),
    ]


def test_kathmandus_move_from_0530_to_0545_makes_a_short_day() -> None:
    # On 1986-01-01 Nepal moved from UTC+5:30 to UTC+5:45: that day lasted 23 h 45 min.
    found = daily(date(1985, 12, 31), date(1986, 1, 3), KATHMANDU)
    lengths = [b - a for a, b in pairwise(found)]
    assert lengths == [24 * HOUR_US, 23 * HOUR_US + 45 * MINUTE_US, 24 * HOUR_US]


def test_weekly_instants_are_the_local_midnights_of_each_monday_and_the_end() -> None:
    start, end = date(2026, 3, 4), date(2026, 3, 20)
    starts = period_starts(start, end, Period.WEEK)
    found = instants(starts, end, NEW_YORK)
    assert found == [local_midnight_us(day, NEW_YORK) for day in [*starts, end]]
    assert len(found) == 4


def test_a_zone_whose_midnight_is_off_the_quarter_hour_is_refused() -> None:
    # Liberia kept UTC-0:44:30 until 1972.
    with pytest.raises(InvalidInput) as caught:
        daily(date(1971, 1, 1), date(1971, 1, 3), ZoneInfo("Africa/Monrovia"))
    assert caught.value.field == "timezone"


def test_every_local_midnight_of_a_year_is_a_bucket_boundary() -> None:
    for zone in [NEW_YORK, KOLKATA, KATHMANDU]:
        assert all(at % BUCKET_US == 0 for at in daily(date(2026, 1, 1), date(2027, 1, 1), zone))


# Period rows: differences of running totals


def test_period_rows_are_the_differences_of_running_totals_per_series() -> None:
    starts = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
    totals = [  # operation, key, running spend, units and charges at each of the 4 instants
        ("email_find", "", [0, 100, 100, 250], [0, 2, 2, 5], [0, 1, 1, 3]),
        ("email_find", "k1", [40, 40, 30, 30], [1, 1, 1, 1], [1, 1, 2, 2]),  # a refund
    ]
    rows = sorted(period_rows(starts, totals))
    assert rows == sorted(
        [
            (day_number(date(2026, 3, 1)), "email_find", 100, 2, 1),
            (day_number(date(2026, 3, 2)), "email_find", -10, 0, 1),
            (day_number(date(2026, 3, 3)), "email_find", 150, 3, 2),
        ]
    )


def test_period_rows_of_no_series_are_empty() -> None:
    assert period_rows([date(2026, 3, 1)], []) == []


def test_check_range_refuses_an_empty_range() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_range(date(2026, 3, 2), date(2026, 3, 2))
    assert caught.value.field == "end_date"


# Periods


def test_daily_periods_start_on_every_day() -> None:
    starts = period_starts(date(2026, 2, 27), date(2026, 3, 3), Period.DAY)
    assert starts == [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 2)]


def test_weekly_periods_start_on_mondays_after_a_clipped_first_week() -> None:
    # 2026-03-04 is a Wednesday; the following Mondays are the 9th and the 16th.
    starts = period_starts(date(2026, 3, 4), date(2026, 3, 20), Period.WEEK)
    assert starts == [date(2026, 3, 4), date(2026, 3, 9), date(2026, 3, 16)]
    assert all(s.weekday() == 0 for s in starts[1:])


def test_a_week_starting_on_a_monday_is_not_split() -> None:
    starts = period_starts(date(2026, 3, 2), date(2026, 3, 16), Period.WEEK)
    assert starts == [date(2026, 3, 2), date(2026, 3, 9)]


def test_weekly_periods_cross_the_year_end() -> None:
    # 2026-12-30 is a Wednesday; the next Monday is 2027-01-04.
    starts = period_starts(date(2026, 12, 30), date(2027, 1, 12), Period.WEEK)
    assert starts == [date(2026, 12, 30), date(2027, 1, 4), date(2027, 1, 11)]


def test_monthly_periods_start_on_the_first_and_december_rolls_into_january() -> None:
    starts = period_starts(date(2026, 11, 15), date(2027, 2, 10), Period.MONTH)
    assert starts == [date(2026, 11, 15), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)]


def test_a_range_shorter_than_one_period_has_one_start() -> None:
    assert period_starts(date(2026, 3, 4), date(2026, 3, 6), Period.WEEK) == [date(2026, 3, 4)]
    assert period_starts(date(2026, 3, 4), date(2026, 4, 1), Period.MONTH) == [date(2026, 3, 4)]


# Folding


def test_fold_sums_rows_into_the_bucket_of_their_day_and_the_total() -> None:
    start, end = date(2026, 3, 2), date(2026, 3, 16)  # two whole weeks, Monday to Monday
    rows = [
        (day_number(date(2026, 3, 2)), "search", 100, 1, 1),
        (day_number(date(2026, 3, 8)), "enrich", 50, 5, 2),  # Sunday: still week one
        (day_number(date(2026, 3, 9)), "search", 30, 3, 1),  # Monday: week two
        (day_number(date(2026, 3, 15)), "search", 5, 1, 1),
    ]

    report = fold(rows, start=start, end=end, zone=NEW_YORK, period=Period.WEEK)

    assert (report.start, report.end, report.timezone, report.period) == (
        start,
        end,
        "America/New_York",
        Period.WEEK,
    )
    first, second = report.series
    assert (first.start, first.end, second.start, second.end) == (
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2026, 3, 9),
        date(2026, 3, 16),
    )
    assert (first.total.spend_micros, first.total.units, first.total.charges) == (150, 6, 3)
    assert first.breakdown["search"].spend_micros == 100
    assert first.breakdown["enrich"].units == 5
    assert (second.total.spend_micros, second.total.units, second.total.charges) == (35, 4, 2)
    assert set(second.breakdown) == {"search"}
    assert (report.total.total.spend_micros, report.total.total.charges) == (185, 5)
    assert report.total.breakdown["search"].spend_micros == 135
    assert report.total.breakdown["enrich"].spend_micros == 50


def test_fold_without_rows_gives_empty_buckets_for_every_period() -> None:
    start, end = date(2026, 11, 15), date(2027, 2, 10)
    report = fold([], start=start, end=end, zone=UTC_ZONE, period=Period.MONTH)
    assert [(b.start, b.end) for b in report.series] == [
        (date(2026, 11, 15), date(2026, 12, 1)),
        (date(2026, 12, 1), date(2027, 1, 1)),
        (date(2027, 1, 1), date(2027, 2, 1)),
        (date(2027, 2, 1), date(2027, 2, 10)),
    ]
    assert all(b.total.spend_micros == 0 and b.breakdown == {} for b in report.series)


def test_fold_by_day_puts_each_row_on_its_own_day() -> None:
    start = date(2026, 3, 1)
    rows = [(day_number(start + timedelta(days=n)), "op", n + 1, 1, 1) for n in range(3)]
    report = fold(
        rows, start=start, end=start + timedelta(days=3), zone=UTC_ZONE, period=Period.DAY
    )
    assert [b.total.spend_micros for b in report.series] == [1, 2, 3]


# Month labels, zones, periods, ranges


@pytest.mark.parametrize(
    ("label", "first", "following"),
    [
        ("2026-03", date(2026, 3, 1), date(2026, 4, 1)),
        ("2026-11", date(2026, 11, 1), date(2026, 12, 1)),
        ("2026-12", date(2026, 12, 1), date(2027, 1, 1)),
        ("2028-02", date(2028, 2, 1), date(2028, 3, 1)),
    ],
)
def test_month_range_is_the_first_day_to_the_next_first_day(
    label: str, first: date, following: date
) -> None:
    assert month_range(label) == (first, following)


@pytest.mark.parametrize("label", ["", "2026-13", "2026-00", "2026/03", "march", "2026-03-01"])
def test_month_range_refuses_anything_but_a_year_and_month(label: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        month_range(label)
    assert caught.value.field == "period_month"


@pytest.mark.parametrize("name", ["UTC", "America/New_York", "Asia/Kathmandu", "Europe/Kyiv"])
def test_parse_zone_accepts_iana_names(name: str) -> None:
    assert parse_zone(name).key == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Mars/Olympus_Mons",
        "/etc/passwd",
        "../etc/passwd",
        "America/../UTC",
        ".hidden",
        "a\x00b",
        "X" * 65,
        "America/New_York/",
    ],
)
def test_parse_zone_refuses_unknown_or_path_like_names(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_zone(name)
    assert caught.value.field == "timezone"


@pytest.mark.parametrize("name", ["America", "Etc"])
def test_parse_zone_refuses_a_zone_directory_name(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_zone(name)
    assert caught.value.field == "timezone"


@pytest.mark.parametrize("value", ["day", "week", "month"])
def test_parse_period_accepts_the_three_periods(value: str) -> None:
    assert parse_period(value) is Period(value)


@pytest.mark.parametrize("value", ["", "year", "Day", "days"])
def test_parse_period_refuses_anything_else(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_period(value)
    assert caught.value.field == "period"


def test_check_range_accepts_from_the_first_day_up_to_the_longest_range() -> None:
    check_range(FIRST_DAY, FIRST_DAY + timedelta(days=1))
    check_range(date(2026, 1, 1), date(2026, 1, 1) + timedelta(days=limits.usage_range_days_max))


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (date(1970, 1, 1), date(1970, 1, 5), "start_date"),
        (date(2026, 3, 5), date(2026, 3, 5), "end_date"),
        (date(2026, 3, 5), date(2026, 3, 4), "end_date"),
        (
            date(2026, 1, 1),
            date(2026, 1, 1) + timedelta(days=limits.usage_range_days_max + 1),
            "end_date",
        ),
    ],
)
def test_check_range_refuses_bad_ranges_naming_the_field(
    start: date, end: date, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_range(start, end)
    assert caught.value.field == field
