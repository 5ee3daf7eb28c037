"""The running totals on the usage buckets (migration 0005): after charges, refunds, writes
into a bucket older than a series' latest and multi-bucket batches, each series' cum columns
are its running sums; `verify` reports one that is not; 0005 fills them from 0004's buckets,
and its downgrade gives back 0004's tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from itertools import accumulate
from pathlib import Path

import pytest
from sqlalchemy import Engine, text, update

from creditbook.bootstrap import Services
from creditbook.clock import US_PER_DAY, US_PER_S, ManualClock, from_us
from creditbook.domain.usage import BUCKET_US
from creditbook.storage.engine import create_engine
from creditbook.storage.migrate import downgrade, upgrade
from creditbook.storage.repositories.audit import AuditRepository
from creditbook.storage.repositories.ledger import LedgerRepository, LedgerStatements
from creditbook.storage.tables import usage_buckets
from tests.conftest import BACKENDS, scratch_pg

HOUR_US = 4 * BUCKET_US
MINUTE_US = 60 * US_PER_S
Series = dict[tuple[str, str], list[tuple[int, tuple[int, ...], tuple[int, ...]]]]


def stored_series(engine: Engine, account_id: str) -> Series:
    """(operation, key) -> [(bucket start, (spend, units, charges), (their cum columns))]."""
    series: Series = {}
    with engine.connect() as connection:
        for op, key, start, figures, totals in AuditRepository(connection).usage_series(account_id):
            series.setdefault((op, key), []).append((start, figures, totals))
    return series


def assert_running_sums(series: Series) -> None:
    for buckets in series.values():
        sums = list(accumulate((figures for _s, figures, _c in buckets), running_add))
        assert [cums for _s, _f, cums in buckets] == sums


def running_add(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def charge_at(services: Services, clock: ManualClock, account_id: str, at_us: int) -> str:
    clock.set(at_us)
    receipt = services.ledger.charge(account_id=account_id, operation="email_find", units=2)
    return receipt.transaction.id


@pytest.fixture
def funded(services: Services) -> str:
    account = services.accounts.create(email="running@example.com")
    services.ledger.grant(account_id=account.id, amount_micros=50_000_000)
    return account.id


def test_running_totals_follow_charges_refunds_and_a_write_into_an_older_bucket(
    services: Services, clock: ManualClock, funded: str
) -> None:
    granted = clock.now_us()
    first = charge_at(services, clock, funded, granted + 2 * HOUR_US)
    for hours in (3, 4, 7):
        charge_at(services, clock, funded, granted + hours * HOUR_US)
    services.ledger.refund(account_id=funded, transaction_id=first)
    # Another process whose clock is behind: its charge lands before the series' latest bucket.
    charge_at(services, clock, funded, granted + 5 * HOUR_US)
    charge_at(services, clock, funded, granted + HOUR_US)

    series = stored_series(services.store.engine, funded)

    assert_running_sums(series)
    starts = [start for start, _f, _c in series[("email_find", "")]]
    assert starts == sorted(starts) and len(starts) == 6
    assert services.verifier.verify(account_id=funded).ok


def test_running_totals_hold_after_one_batch_across_buckets_older_and_newer_than_the_latest(
    services: Services, clock: ManualClock, funded: str
) -> None:
    engine = services.store.engine
    base = clock.now_us() // BUCKET_US * BUCKET_US
    batches = [
        {(funded, base + 10 * BUCKET_US, "email_find", ""): [100, 1, 1]},
        {  # into an old bucket, a new old one, the latest, a new latest; and another series
            (funded, base + 2 * BUCKET_US, "email_find", ""): [7, 1, 1],
            (funded, base + 5 * BUCKET_US, "email_find", ""): [-3, 0, 0],
            (funded, base + 10 * BUCKET_US, "email_find", ""): [11, 2, 1],
            (funded, base + 12 * BUCKET_US, "email_find", ""): [13, 1, 1],
            (funded, base + 3 * BUCKET_US, "phone_find", "key_1"): [5, 1, 1],
        },
        {(funded, base + 2 * BUCKET_US, "email_find", ""): [1, 1, 1]},
        {  # three rows of one series: statements of 2 and 1 rows (powers of two)
            (funded, base + 20 * BUCKET_US, "email_find", ""): [2, 1, 1],
            (funded, base + 21 * BUCKET_US, "email_find", ""): [3, 1, 1],
            (funded, base + 22 * BUCKET_US, "email_find", ""): [5, 1, 1],
        },
        {  # more rows than one statement carries, older buckets last
            (funded, base + n * BUCKET_US, "email_find", ""): [n, 1, 1]
            for n in [*range(30, 330), *range(25, 30)]
        },
    ]
    for batch in batches:
        write_usage(engine, batch)

    series = stored_series(engine, funded)

    assert_running_sums(series)
    for (operation, key), buckets in series.items():
        written: dict[int, tuple[int, ...]] = {}
        for batch in batches:
            for (_account, start, op, api_key), figures in batch.items():
                if (op, api_key) == (operation, key):
                    written[start] = running_add(written.get(start, (0, 0, 0)), tuple(figures))
        assert [(start, figures) for start, figures, _c in buckets] == sorted(written.items())


def write_usage(engine: Engine, usage: dict[tuple[str, int, str, str], list[int]]) -> None:
    """One writer batch's usage, through the writer's statements on a DBAPI connection."""
    raw = engine.raw_connection()
    try:
        repo = LedgerRepository(raw.driver_connection, LedgerStatements(engine.dialect.name))
        repo.upsert_usage(usage)
        raw.commit()
    finally:
        raw.close()


def test_verify_reports_the_first_bucket_whose_running_totals_are_wrong(
    services: Services, clock: ManualClock, funded: str
) -> None:
    now = clock.now_us()
    for hours in (0, 1, 2):
        charge_at(services, clock, funded, now + hours * HOUR_US)
    assert services.verifier.verify(account_id=funded).ok
    middle = now + HOUR_US - (now + HOUR_US) % BUCKET_US
    with services.store.engine.begin() as connection:
        connection.execute(
            update(usage_buckets)
            .where(usage_buckets.c.bucket_start_us == middle)
            .values(cum_units=usage_buckets.c.cum_units + 1)
        )

    report = services.verifier.verify(account_id=funded)

    assert [p.check for p in report.problems] == ["usage"]
    assert f"bucket {middle}" in report.problems[0].detail
    assert "running totals" in report.problems[0].detail


@pytest.fixture(params=BACKENDS)
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, not migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    yield from scratch_pg(request, prefix="creditbook_m")


OLD_BUCKETS = [  # (account, start, operation, key, spend): two series of one account, and another
    ("a", 500 * HOUR_US, "email_find", "", 10),
    ("a", 500 * HOUR_US + 3 * BUCKET_US, "email_find", "", -4),
    ("a", 501 * HOUR_US, "email_find", "", 7),
    ("a", 500 * HOUR_US + BUCKET_US, "email_find", "k", 3),
    ("b", 499 * HOUR_US, "email_find", "", 20),
]


def load_0004(engine: Engine) -> None:
    upgrade(engine, "0004")
    with engine.begin() as connection:
        for account in ("a", "b"):
            connection.execute(
                text(
                    "INSERT INTO accounts VALUES (:a, :e, '', 'p', 'UTC', 'active',"
                    " NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0)"
                ),
                {"a": account, "e": f"{account}@example.com"},
            )
        for account, start, operation, key, spend in OLD_BUCKETS:
            connection.execute(
                text("INSERT INTO usage_buckets VALUES (:a, :start, :op, :key, :spend, 1, 1)"),
                {"a": account, "start": start, "op": operation, "key": key, "spend": spend},
            )


def expected_series(account: str) -> Series:
    series: Series = {}
    for a, start, operation, key, spend in sorted(OLD_BUCKETS, key=lambda b: b[1]):
        if a == account:
            series.setdefault((operation, key), []).append((start, (spend, 1, 1), ()))
    for key, buckets in series.items():
        sums = accumulate((f for _s, f, _c in buckets), running_add)
        series[key] = [(s, f, c) for (s, f, _c), c in zip(buckets, sums, strict=True)]
    return series


def test_migration_0005_fills_running_totals_from_0004_buckets_and_its_downgrade_restores_them(
    blank_url: str,
) -> None:
    engine = create_engine(blank_url)
    try:
        load_0004(engine)
        assert upgrade(engine, "0005") == "0005"
        upgraded = {account: stored_series(engine, account) for account in ("a", "b")}
        assert downgrade(engine, "0004") == "0004"
        with engine.connect() as connection:
            buckets = connection.execute(
                text("SELECT count(*), sum(spend_micros) FROM usage_buckets")
            ).one()
            hours = connection.execute(
                text("SELECT count(*), sum(spend_micros) FROM usage_hours")
            ).one()
    finally:
        engine.dispose()

    assert upgraded == {account: expected_series(account) for account in ("a", "b")}
    spent = sum(b[4] for b in OLD_BUCKETS)
    assert tuple(buckets) == (len(OLD_BUCKETS), spent)
    assert hours[1] == spent and hours[0] == len(
        {(b[0], b[1] // HOUR_US, b[3]) for b in OLD_BUCKETS}
    )


def test_a_report_for_one_api_key_counts_that_keys_series_only(
    services: Services, clock: ManualClock, funded: str
) -> None:
    spent: dict[str | None, int] = {}
    for index, key in enumerate(["key_a", None, "key_b", "key_a", None]):
        clock.advance(HOUR_US)
        receipt = services.ledger.charge(
            account_id=funded, operation="email_find", units=1 + index, api_key_id=key
        )
        spent[key] = spent.get(key, 0) - receipt.transaction.credits_micros
    start = from_us(clock.now_us()).date() - timedelta(days=2)
    end = start + timedelta(days=4)

    def spend(key: str | None) -> int:
        report = services.usage.report(account_id=funded, start=start, end=end, api_key_id=key)
        return report.total.total.spend_micros

    assert spend("key_a") == spent["key_a"]
    assert spend("key_b") == spent["key_b"]
    assert spend(None) == sum(spent.values())


def test_days_agree_with_the_charges_whether_the_bucket_before_midnight_has_all_some_or_no_series(
    services: Services, clock: ManualClock, funded: str
) -> None:
    """PostgreSQL reads the bucket just before each midnight for all series at once and seeks
    only for the series missing there: here day 1 ends with every series in that bucket, day 2
    with one of them, day 3 with none; per key and for the whole account."""
    midnight = clock.now_us() - clock.now_us() % US_PER_DAY + US_PER_DAY
    plan = [  # (day, minutes before its end, operation, key)
        (0, 600, "email_find", "key_a"), (0, 10, "email_find", "key_a"),
        (0, 5, "phone_find", "key_b"), (0, 1, "email_find", None),
        (1, 700, "phone_find", "key_b"), (1, 3, "email_find", "key_a"),
        (2, 900, "email_find", None), (2, 300, "phone_find", "key_b"),
    ]  # fmt: skip
    spent: dict[tuple[int, str | None], int] = {}
    for day, minutes, operation, key in plan:
        clock.set(midnight + (day + 1) * US_PER_DAY - minutes * MINUTE_US)
        receipt = services.ledger.charge(
            account_id=funded, operation=operation, units=1 + day, api_key_id=key
        )
        cost = -receipt.transaction.credits_micros
        spent[day, key] = spent.get((day, key), 0) + cost
    first = from_us(midnight).date()
    end = first + timedelta(days=4)

    for key in ("key_a", "key_b", None):
        report = services.usage.report(account_id=funded, start=first, end=end, api_key_id=key)
        days = [bucket.total.spend_micros for bucket in report.series]
        keys = ["key_a", "key_b", None] if key is None else [key]
        expected = [sum(spent.get((day, k), 0) for k in keys) for day in range(4)]
        assert days == expected, key
