"""Alerts, depletion notices and the clock's jobs, on SQLite and PostgreSQL, each checked
against an independent count of what should have happened."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from creditbook.bootstrap import Services, build
from creditbook.clock import US_PER_DAY, ManualClock
from creditbook.domain import events as ev
from creditbook.domain.alerts import AlertSpec
from creditbook.domain.grants import GrantKind
from creditbook.errors import InsufficientFunds, InvalidInput
from creditbook.money import parse_usd
from creditbook.storage.tables import grants, transactions
from tests.conftest import make_settings
from tests.recompute import table_counts


def usd(text: str) -> int:
    return parse_usd(text, field="test")


@pytest.fixture
def quiet(db_url: str, clock: ManualClock) -> Iterator[Services]:
    """Services whose new accounts get no default alerts, so each test sets its own."""
    built = build(make_settings(db_url, default_alerts="", alert_margin_percent=10), clock=clock)
    try:
        yield built
    finally:
        built.close()


def events_of(services: Services, account_id: str, type_: str) -> list[ev.Event]:
    return services.events.page(account_id=account_id, limit=1000, type_=type_)


def balance_of(services: Services, account_id: str) -> int:
    return services.accounts.get(account_id=account_id).balance_micros


def test_a_balance_oscillating_around_a_threshold_for_1000_charges_alarms_once_per_crossing(
    quiet: Services,
) -> None:
    account = quiet.accounts.create(email="osc@example.com")
    quiet.ledger.grant(account_id=account.id, amount_micros=usd("12"))
    alert = quiet.alerts.add(
        account_id=account.id, spec=AlertSpec("balance", threshold_micros=usd("10"))
    )
    line, clear_at = usd("10"), usd("11")  # 10% dead band
    rng = random.Random(7)
    in_alarm, triggered, resolved, below, dips, was_below = False, 0, 0, 0, 0, False
    for _ in range(1000):
        quiet.ledger.charge(
            account_id=account.id, operation="search_database", units=rng.randint(1, 30)
        )
        steps = [balance_of(quiet, account.id)]
        if steps[0] < usd("10.4") and rng.random() < 0.5:
            quiet.ledger.grant(
                account_id=account.id, amount_micros=usd(rng.choice(["0.5", "1.2", "2"]))
            )
            steps.append(balance_of(quiet, account.id))
        for balance in steps:  # the alert is judged after every change
            below += balance < line
            dips += balance < line and not was_below  # a naive alert would fire on each
            was_below = balance < line
            if not in_alarm and balance < line:
                in_alarm, triggered = True, triggered + 1
            elif in_alarm and balance >= clear_at:
                in_alarm, resolved = False, resolved + 1
    assert triggered >= 3 and dips > triggered and below > 2 * triggered  # hovered, and crossed
    fired = events_of(quiet, account.id, ev.ALERT_TRIGGERED)
    cleared = events_of(quiet, account.id, ev.ALERT_RESOLVED)
    assert (len(fired), len(cleared)) == (triggered, resolved)
    assert all(e.data["alert_id"] == alert.id for e in fired + cleared)
    state = quiet.alerts.list(account_id=account.id)[0].state
    assert state == ("in_alarm" if in_alarm else "ok")


def test_a_monthly_percent_alert_fires_when_spend_reaches_the_share_of_the_limit(
    quiet: Services,
) -> None:
    account = quiet.accounts.create(email="m@example.com", monthly_limit_micros=usd("10"))
    quiet.ledger.grant(account_id=account.id, amount_micros=usd("20"))
    quiet.alerts.add(account_id=account.id, spec=AlertSpec("monthly_percent", percent=80))
    for _ in range(7):
        quiet.ledger.charge(account_id=account.id, operation="search_database", units=50)  # $1
    assert events_of(quiet, account.id, ev.ALERT_TRIGGERED) == []
    quiet.ledger.charge(account_id=account.id, operation="search_database", units=50)  # $8 of $10
    fired = events_of(quiet, account.id, ev.ALERT_TRIGGERED)
    assert len(fired) == 1 and fired[0].data["percent"] == 80


def test_an_alert_added_below_the_line_triggers_at_once(quiet: Services) -> None:
    account = quiet.accounts.create(email="a@example.com")
    quiet.ledger.grant(account_id=account.id, amount_micros=usd("3"))
    made = quiet.alerts.add(
        account_id=account.id, spec=AlertSpec("balance", threshold_micros=usd("5"))
    )
    assert made.state == "in_alarm"
    assert len(events_of(quiet, account.id, ev.ALERT_TRIGGERED)) == 1


def test_an_alert_missing_what_its_kind_needs_is_refused_naming_the_field(
    quiet: Services,
) -> None:
    account = quiet.accounts.create(email="b@example.com")
    with pytest.raises(InvalidInput) as missing:
        quiet.alerts.add(account_id=account.id, spec=AlertSpec("forecast", window_days=7))
    assert missing.value.field == "horizon_days"
    with pytest.raises(InvalidInput) as extra:
        quiet.alerts.add(account_id=account.id, spec=AlertSpec("balance", usd("1"), percent=5))
    assert extra.value.field == "percent"


def test_new_accounts_get_the_default_alerts_in_state_ok(services: Services) -> None:
    account = services.accounts.create(email="c@example.com")
    found = services.alerts.list(account_id=account.id)
    assert sorted(a.kind for a in found) == [
        "balance",
        "forecast",
        "monthly_percent",
        "monthly_percent",
    ]
    assert {a.state for a in found} == {"ok"}


def test_depletion_is_told_once_until_credits_are_added(quiet: Services) -> None:
    account = quiet.accounts.create(email="d@example.com")
    quiet.ledger.grant(account_id=account.id, amount_micros=usd("0.05"))
    quiet.ledger.charge(account_id=account.id, operation="search_database", units=2)
    for _ in range(5):
        with pytest.raises(InsufficientFunds):
            quiet.ledger.charge(account_id=account.id, operation="search_database", units=2)
    assert len(events_of(quiet, account.id, ev.DEPLETED)) == 1
    quiet.ledger.grant(account_id=account.id, amount_micros=usd("0.01"))
    with pytest.raises(InsufficientFunds):
        quiet.ledger.charge(account_id=account.id, operation="search_database", units=2)
    assert len(events_of(quiet, account.id, ev.DEPLETED)) == 2
    added = events_of(quiet, account.id, ev.CREDITS_ADDED)
    assert [e.data["amount"] for e in reversed(added)] == [
        ev.usd(usd("0.05")),
        ev.usd(usd("0.01")),
    ]


def test_a_forecast_alert_fires_for_a_steady_burn_and_not_for_a_flat_account(
    quiet: Services, clock: ManualClock
) -> None:
    steady = quiet.accounts.create(email="steady@example.com")
    flat = quiet.accounts.create(email="flat@example.com")
    spec = AlertSpec("forecast", window_days=7, horizon_days=7)
    for account in (steady, flat):
        quiet.ledger.grant(account_id=account.id, amount_micros=usd("40"))
        quiet.alerts.add(account_id=account.id, spec=spec)
    fired_on: list[int] = []
    for day in range(10):
        quiet.ledger.charge(account_id=steady.id, operation="search_database", units=150)  # $3
        quiet.clockwork.judge_forecasts()
        quiet.clockwork.judge_forecasts()  # a second run the same day changes nothing
        if len(events_of(quiet, steady.id, ev.ALERT_TRIGGERED)) > len(fired_on):
            fired_on.append(day)
        clock.advance(US_PER_DAY)
    # $3 a day over the last 7 days; zero within 7 days once the balance is at most $21.
    assert fired_on == [6]  # balance 40 - 21 = 19 after the 7th charge (day 6)
    assert events_of(quiet, flat.id, ev.ALERT_TRIGGERED) == []
    data = events_of(quiet, steady.id, ev.ALERT_TRIGGERED)[0].data
    assert data["kind"] == "forecast" and data["window_days"] == 7


def test_the_clock_opens_a_write_transaction_only_when_it_has_something_to_write(
    quiet: Services, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = quiet.accounts.create(email="calm@example.com")
    quiet.ledger.grant(
        account_id=account.id, amount_micros=usd("40"), expires_at_us=clock.now_us() + US_PER_DAY
    )
    quiet.alerts.add(
        account_id=account.id, spec=AlertSpec("forecast", window_days=1, horizon_days=7)
    )
    quiet.ledger.charge(account_id=account.id, operation="search_database", units=50)  # $1
    writes: list[int] = []
    opened = quiet.store.write
    monkeypatch.setattr(quiet.store, "write", lambda: writes.append(1) or opened())
    first = quiet.clockwork.send_expiry_notices()  # the grant expires within the window
    assert (first, len(writes)) == (1, 1)
    assert quiet.clockwork.send_expiry_notices() == 0 and len(writes) == 1  # nothing new
    assert quiet.clockwork.judge_forecasts() == 0 and len(writes) == 1  # $1/day, $39 left
    quiet.ledger.charge(account_id=account.id, operation="search_database", units=1900)  # $38
    assert quiet.clockwork.judge_forecasts() == 1 and len(writes) == 2
    assert quiet.clockwork.judge_forecasts() == 0 and len(writes) == 2
    assert len(events_of(quiet, account.id, ev.ALERT_TRIGGERED)) == 1


def test_the_clocks_loop_judges_forecasts_once_per_forecast_interval(
    quiet: Services, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    judged: list[int] = []
    judge = quiet.clockwork.judge_forecasts
    monkeypatch.setattr(quiet.clockwork, "judge_forecasts", lambda: judged.append(1) or judge())
    expired: list[int] = []
    expire = quiet.ledger.expire_all
    monkeypatch.setattr(quiet.ledger, "expire_all", lambda: expired.append(1) or expire())
    for _ in range(10):  # rounds 30 s apart over 300 s: the default forecast interval
        quiet.clockwork.next_round()
        clock.advance(30 * 1_000_000)
    assert (len(judged), len(expired)) == (1, 10)
    quiet.clockwork.next_round()  # 300 s after the first judging
    assert (len(judged), len(expired)) == (2, 11)
    quiet.clockwork.run_once()  # `creditbook worker --once`: everything, now
    assert (len(judged), len(expired)) == (3, 12)


def plan_grants(services: Services, account_id: str) -> list[tuple[int, int]]:
    g = grants.c
    query = (
        select(g.amount_micros, g.remaining_micros)
        .where(g.account_id == account_id, g.kind == GrantKind.PLAN.value)
        .order_by(g.created_at_us)
    )
    with services.store.engine.connect() as connection:
        return [(int(a), int(r)) for a, r in connection.execute(query)]


def test_renewal_runs_twice_for_the_same_period_and_changes_nothing_the_second_time(
    quiet: Services, clock: ManualClock
) -> None:
    account = quiet.accounts.create(email="plan@example.com")
    quiet.plans.subscribe(
        account_id=account.id,
        allotment_micros=usd("50"),
        cycle_day=1,
        rollover="capped",
        rollover_cap_micros=usd("20"),
    )
    assert quiet.clockwork.renew_plans() == 1
    before = table_counts(quiet.store.engine)
    assert quiet.clockwork.renew_plans() == 0
    assert table_counts(quiet.store.engine) == before
    assert plan_grants(quiet, account.id) == [(usd("50"), usd("50"))]
    quiet.ledger.charge(account_id=account.id, operation="search_database", units=500)  # $10
    clock.advance(31 * US_PER_DAY)  # into the next cycle (START is March 5th)
    assert quiet.clockwork.renew_plans() == 1
    assert quiet.clockwork.renew_plans() == 0
    # $40 left of the old allotment: written off, $20 of it carried into the new grant.
    assert plan_grants(quiet, account.id) == [(usd("50"), 0), (usd("70"), usd("70"))]
    assert balance_of(quiet, account.id) == usd("70")
    assert quiet.verifier.verify().ok


def test_renewal_without_rollover_carries_nothing(quiet: Services, clock: ManualClock) -> None:
    account = quiet.accounts.create(email="none@example.com")
    quiet.plans.subscribe(account_id=account.id, allotment_micros=usd("5"), cycle_day=3)
    quiet.clockwork.renew_plans()
    clock.advance(40 * US_PER_DAY)
    quiet.clockwork.renew_plans()
    assert plan_grants(quiet, account.id) == [(usd("5"), 0), (usd("5"), usd("5"))]
    expired = events_of(quiet, account.id, ev.CREDITS_EXPIRED)
    assert [e.data["amount"] for e in expired] == [ev.usd(usd("5"))]


def test_expiry_and_notices_run_twice_change_nothing_the_second_time(
    quiet: Services, clock: ManualClock
) -> None:
    account = quiet.accounts.create(email="exp@example.com")
    now = clock.now_us()
    soon = quiet.ledger.grant(
        account_id=account.id, amount_micros=usd("3"), expires_at_us=now + 3 * US_PER_DAY
    )
    quiet.ledger.grant(
        account_id=account.id, amount_micros=usd("4"), expires_at_us=now + 30 * US_PER_DAY
    )
    assert quiet.clockwork.send_expiry_notices() == 1  # only the one within 7 days
    assert quiet.clockwork.send_expiry_notices() == 0
    notice = events_of(quiet, account.id, ev.CREDITS_EXPIRING)
    assert [e.data["grant_id"] for e in notice] == [soon.transaction.grant_id]
    clock.advance(4 * US_PER_DAY)
    first = quiet.clockwork.run_once()
    before = table_counts(quiet.store.engine)
    second = quiet.clockwork.run_once()
    assert (first.expired, second.expired) == (1, 0)
    assert table_counts(quiet.store.engine) == before
    assert balance_of(quiet, account.id) == usd("4")
    with quiet.store.engine.connect() as connection:
        kinds = connection.execute(
            select(transactions.c.type).where(transactions.c.account_id == account.id)
        ).scalars()
        assert sorted(kinds) == ["expiration", "top_up", "top_up"]
