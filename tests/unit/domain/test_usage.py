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
    Segment,
    bucket_start_us,
    check_range,
    fold,
    local_midnight_us,
    month_range,
    parse_period,
    parse_zone,
    period_starts,
)
from creditbook.domain.usage import plan_segments as plan
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


def assert_contiguous(segments: list[Segment], start: date, end: date, zone: ZoneInfo) -> None:
    assert segments[0].lo_us == local_midnight_us(start, zone)
    assert segments[-1].hi_us == local_midnight_us(end, zone)
    for left, right in pairwise(segments):
        assert left.hi_us == right.lo_us


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


# Segments


def test_utc_days_make_one_segment_with_no_offset() -> None:
    segments = plan(date(2026, 3, 1), date(2026, 4, 1), UTC_ZONE)
    assert segments == [Segment(utc(2026, 3, 1), utc(2026, 4, 1), 0, None)]
    assert segments[0].day_number(utc(2026, 3, 31, 23, 45)) == day_number(date(2026, 3, 31))


def test_new_york_spring_forward_day_is_a_single_23_hour_segment() -> None:
    # DST begins on Sunday 2026-03-08 at 02:00 EST (07:00 UTC).
    start, end = date(2026, 3, 1), date(2026, 3, 15)
    segments = plan(start, end, NEW_YORK)

    assert segments == [
        Segment(utc(2026, 3, 1, 5), utc(2026, 3, 8, 5), -5 * HOUR_US, None),
        Segment(utc(2026, 3, 8, 5), utc(2026, 3, 9, 4), None, date(2026, 3, 8)),
        Segment(utc(2026, 3, 9, 4), utc(2026, 3, 15, 4), -4 * HOUR_US, None),
    ]
    assert segments[1].hi_us - segments[1].lo_us == 23 * HOUR_US
    assert_contiguous(segments, start, end, NEW_YORK)


def test_new_york_fall_back_day_is_a_single_25_hour_segment() -> None:
    # DST ends on Sunday 2026-11-01 at 02:00 EDT (06:00 UTC).
    start, end = date(2026, 10, 25), date(2026, 11, 8)
    segments = plan(start, end, NEW_YORK)

    assert segments == [
        Segment(utc(2026, 10, 25, 4), utc(2026, 11, 1, 4), -4 * HOUR_US, None),
        Segment(utc(2026, 11, 1, 4), utc(2026, 11, 2, 5), None, date(2026, 11, 1)),
        Segment(utc(2026, 11, 2, 5), utc(2026, 11, 8, 5), -5 * HOUR_US, None),
    ]
    assert segments[1].hi_us - segments[1].lo_us == 25 * HOUR_US
    assert_contiguous(segments, start, end, NEW_YORK)


def test_a_new_york_year_has_exactly_two_odd_days() -> None:
    segments = plan(date(2026, 1, 1), date(2027, 1, 1), NEW_YORK)
    assert [s.day for s in segments if s.offset_us is None] == [
        date(2026, 3, 8),
        date(2026, 11, 1),
    ]
    assert len(segments) == 5


def test_buckets_map_to_their_new_york_local_day_on_both_sides_of_the_change() -> None:
    before, odd, after = plan(date(2026, 3, 7), date(2026, 3, 10), NEW_YORK)
    # 23:45 EST on Saturday 7 March is 04:45 UTC on the 8th.
    assert before.day_number(utc(2026, 3, 8, 4, 45)) == day_number(date(2026, 3, 7))
    assert odd.day_number(utc(2026, 3, 8, 5)) == day_number(date(2026, 3, 8))
    assert odd.day_number(utc(2026, 3, 9, 3, 45)) == day_number(date(2026, 3, 8))
    # 00:00 EDT on Monday 9 March is 04:00 UTC.
    assert after.day_number(utc(2026, 3, 9, 4)) == day_number(date(2026, 3, 9))


def test_kolkata_has_no_dst_and_a_half_hour_offset() -> None:
    start, end = date(2026, 1, 1), date(2026, 12, 31)
    segments = plan(start, end, KOLKATA)
    offset = 5 * HOUR_US + 30 * MINUTE_US
    assert segments == [Segment(utc(2025, 12, 31, 18, 30), utc(2026, 12, 30, 18, 30), offset, None)]
    # 18:30 UTC on 5 March is 00:00 on 6 March in Kolkata; 18:15 UTC is still the 5th.
    assert segments[0].day_number(utc(2026, 3, 5, 18, 30)) == day_number(date(2026, 3, 6))
    assert segments[0].day_number(utc(2026, 3, 5, 18, 15)) == day_number(date(2026, 3, 5))


def test_kathmandu_runs_on_a_quarter_hour_offset() -> None:
    segments = plan(date(2026, 3, 1), date(2026, 3, 8), KATHMANDU)
    offset = 5 * HOUR_US + 45 * MINUTE_US
    assert segments == [Segment(utc(2026, 2, 28, 18, 15), utc(2026, 3, 7, 18, 15), offset, None)]
    assert segments[0].day_number(utc(2026, 3, 4, 18, 15)) == day_number(date(2026, 3, 5))
    assert segments[0].day_number(utc(2026, 3, 4, 18)) == day_number(date(2026, 3, 4))


def test_kathmandus_move_from_0530_to_0545_makes_a_short_odd_day() -> None:
    # On 1986-01-01 Nepal moved from UTC+5:30 to UTC+5:45: that day lasted 23 h 45 min.
    start, end = date(1985, 12, 30), date(1986, 1, 4)
    segments = plan(start, end, KATHMANDU)
    assert [s.day for s in segments] == [None, date(1986, 1, 1), None]
    assert segments[0].offset_us == 5 * HOUR_US + 30 * MINUTE_US
    assert segments[2].offset_us == 5 * HOUR_US + 45 * MINUTE_US
    assert segments[1].hi_us - segments[1].lo_us == 23 * HOUR_US + 45 * MINUTE_US
    assert_contiguous(segments, start, end, KATHMANDU)


def test_a_zone_whose_midnight_is_off_the_quarter_hour_is_refused() -> None:
    # Liberia kept UTC-0:44:30 until 1972.
    with pytest.raises(InvalidInput) as caught:
        plan(date(1971, 1, 1), date(1971, 1, 3), ZoneInfo("Africa/Monrovia"))
    assert caught.value.field == "timezone"


def test_every_local_midnight_of_a_segment_plan_is_a_bucket_boundary() -> None:
    for zone in [NEW_YORK, KOLKATA, KATHMANDU]:
        for segment in plan(date(2026, 1, 1), date(2027, 1, 1), zone):
            assert segment.lo_us % BUCKET_US == 0 and segment.hi_us % BUCKET_US == 0


def test_plan_segments_refuses_a_bad_range() -> None:
    with pytest.raises(InvalidInput) as caught:
        plan(date(2026, 3, 2), date(2026, 3, 2), UTC_ZONE)
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
