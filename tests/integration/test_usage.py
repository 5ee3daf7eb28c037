"""Usage totals by local day, week and month, in zones with DST and odd offsets, compared with
an independent recomputation from the stored transactions (zoneinfo per transaction)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from creditbook.bootstrap import Services
from creditbook.clock import ManualClock, to_us
from creditbook.errors import InvalidInput
from creditbook.money import parse_usd
from tests.recompute import spend_by_local_day

ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu"]
OPERATIONS = ["search_database", "email_find", "phone_find", "enrich_realtime"]
START, END = date(2026, 3, 1), date(2026, 12, 1)


def _moments() -> list[int]:
    """Every 37 minutes around both 2026 New York DST changes, plus one microsecond either
    side of local midnight in every zone on those days."""
    moments: set[int] = set()
    for first in (datetime(2026, 3, 6, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC)):
        moments.update(to_us(first + timedelta(minutes=37 * n)) for n in range(190))
        for zone in ZONES:
            for days in range(5):
                midnight = datetime.combine(
                    first.date() + timedelta(days=days), datetime.min.time(), ZoneInfo(zone)
                )
                moments.update((to_us(midnight) - 1, to_us(midnight)))
    return sorted(moments)


def _non_zero(days: dict[date, dict[str, int]]) -> dict[date, dict[str, int]]:
    kept = {day: {op: v for op, v in ops.items() if v} for day, ops in days.items()}
    return {day: ops for day, ops in kept.items() if ops}


@pytest.fixture
def busy_account(services: Services, clock: ManualClock) -> str:
    account = services.accounts.create(email="usage@example.com")
    services.ledger.grant(account_id=account.id, amount_micros=parse_usd("100000", field="t"))
    charges = []
    for index, moment in enumerate(_moments()):
        clock.set(moment)
        receipt = services.ledger.charge(
            account_id=account.id, operation=OPERATIONS[index % 4], units=1 + index % 7
        )
        charges.append(receipt.transaction.id)
    for transaction_id in charges[::25]:  # refunds, booked against the original charge's day
        services.ledger.refund(account_id=account.id, transaction_id=transaction_id)
    clock.set(to_us(datetime(2026, 11, 20, tzinfo=UTC)))
    return account.id


@pytest.mark.parametrize("zone", ZONES)
def test_daily_usage_matches_a_recomputation_from_the_transactions(
    services: Services, busy_account: str, zone: str
) -> None:
    report = services.usage.report(
        account_id=busy_account, start=START, end=END, timezone=zone, period="day"
    )
    expected = spend_by_local_day(services.store.engine, busy_account, zone)

    got = {
        bucket.start: {op: f.spend_micros for op, f in bucket.breakdown.items()}
        for bucket in report.series
    }
    assert _non_zero(got) == _non_zero(expected)
    assert len(report.series) == (END - START).days
    assert report.total.total.spend_micros == sum(sum(ops.values()) for ops in expected.values())


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("period", ["week", "month"])
def test_weekly_and_monthly_usage_are_the_sums_of_their_local_days(
    services: Services, busy_account: str, zone: str, period: str
) -> None:
    report = services.usage.report(
        account_id=busy_account, start=START, end=END, timezone=zone, period=period
    )
    expected = spend_by_local_day(services.store.engine, busy_account, zone)
    totals: dict[date, int] = defaultdict(int)
    for day, ops in expected.items():
        if period == "week":
            starts = max(START, day - timedelta(days=day.weekday()))
        else:
            starts = day.replace(day=1)
        totals[starts] += sum(ops.values())

    got = {bucket.start: bucket.total.spend_micros for bucket in report.series}
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in totals.items() if v}
    assert all(b.start < b.end for b in report.series)
    assert report.series[0].start == START and report.series[-1].end == END


def test_an_unknown_time_zone_or_period_is_refused_naming_the_field(
    services: Services, busy_account: str
) -> None:
    with pytest.raises(InvalidInput) as zone:
        services.usage.report(account_id=busy_account, start=START, end=END, timezone="Mars/Base")
    with pytest.raises(InvalidInput) as period:
        services.usage.report(account_id=busy_account, start=START, end=END, period="year")
    with pytest.raises(InvalidInput) as backwards:
        services.usage.report(account_id=busy_account, start=END, end=START)
    assert (zone.value.field, period.value.field, backwards.value.field) == (
        "timezone",
        "period",
        "end_date",
    )
