"""The ledger's rules, on SQLite and on PostgreSQL, each checked against the stored rows."""

from __future__ import annotations

import pytest

from creditbook.bootstrap import Services
from creditbook.clock import US_PER_DAY, US_PER_S, ManualClock, month_start_us
from creditbook.domain.accounts import Account
from creditbook.domain.pricing import Price, SpendTier
from creditbook.errors import (
    AccountSuspended,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidInput,
    MonthlyLimitReached,
    NotFound,
    NothingToRefund,
    ReservationClosed,
    UnknownOperation,
)
from creditbook.money import parse_usd
from creditbook.services.ledger import charge_command
from tests.recompute import account_transactions, journal_balance, table_counts


def usd(text: str) -> int:
    return parse_usd(text, field="test")


def open_account(services: Services, **fields: object) -> Account:
    return services.accounts.create(email="ops@example.com", name="Ops", **fields)  # type: ignore[arg-type]


def remaining_by_grant(services: Services, account_id: str) -> dict[str, int]:
    summary = services.accounts.summary(account_id=account_id)
    return {g.id: g.remaining_micros for g in summary.grants}


def assert_verified(services: Services) -> None:
    report = services.verifier.verify()
    assert report.ok, report.problems


def test_charges_draw_from_lowest_priority_then_soonest_expiry_then_oldest(
    services: Services, clock: ManualClock
) -> None:
    account = open_account(services)
    soon = clock.now_us() + 10 * US_PER_DAY
    later = clock.now_us() + 20 * US_PER_DAY
    paid = services.ledger.grant(account_id=account.id, amount_micros=usd("5"), priority=50)
    clock.advance(1)
    never_old = services.ledger.grant(account_id=account.id, amount_micros=usd("1"), priority=5)
    clock.advance(1)
    never_new = services.ledger.grant(account_id=account.id, amount_micros=usd("1"), priority=5)
    expiring_later = services.ledger.grant(
        account_id=account.id, amount_micros=usd("1"), priority=5, expires_at_us=later
    )
    expiring_soon = services.ledger.grant(
        account_id=account.id, amount_micros=usd("1"), priority=5, expires_at_us=soon
    )
    order = [expiring_soon, expiring_later, never_old, never_new, paid]
    ids = [r.transaction.grant_id for r in order]

    # 4.5 USD: the four priority-5 grants in order, then half a dollar of the paid grant.
    services.ledger.charge(account_id=account.id, operation="search_database", units=225)

    remaining = remaining_by_grant(services, account.id)
    assert [remaining.get(grant_id, 0) for grant_id in ids] == [0, 0, 0, 0, usd("4.5")]
    entries = [
        t
        for t in account_transactions(services.store.engine, account.id)
        if t["type"] == "search_database"
    ]
    assert len(entries) == 1 and entries[0]["credits_micros"] == -usd("4.5")
    assert_verified(services)


def test_a_charge_that_does_not_fit_is_refused_and_writes_nothing(services: Services) -> None:
    account = open_account(services)
    services.ledger.grant(account_id=account.id, amount_micros=usd("1"))
    before = table_counts(services.store.engine)

    with pytest.raises(InsufficientFunds) as refused:
        services.ledger.charge(
            account_id=account.id, operation="phone_find", units=3, idempotency_key="k-1"
        )

    assert refused.value.detail == "Insufficient funds in the account."
    assert table_counts(services.store.engine) == before
    assert services.accounts.get(account_id=account.id).balance_micros == usd("1")
    # The key was not kept with the refusal: once funded, the same key goes through.
    services.ledger.grant(account_id=account.id, amount_micros=usd("1"))
    receipt = services.ledger.charge(
        account_id=account.id, operation="phone_find", units=3, idempotency_key="k-1"
    )
    assert receipt.charged_micros == usd("1.2") and not receipt.replayed
    assert_verified(services)


def test_overdraft_lets_a_charge_go_below_zero_down_to_the_limit_only(services: Services) -> None:
    account = open_account(services, overdraft_limit_micros=usd("1"))
    services.ledger.grant(account_id=account.id, amount_micros=usd("0.5"))

    receipt = services.ledger.charge(account_id=account.id, operation="search_database", units=70)
    assert receipt.balance_micros == -usd("0.9")
    with pytest.raises(InsufficientFunds):
        services.ledger.charge(account_id=account.id, operation="search_database", units=6)

    topped = services.ledger.grant(account_id=account.id, amount_micros=usd("2"))
    assert topped.balance_micros == usd("1.1")
    summary = services.accounts.summary(account_id=account.id)
    assert summary.available_micros == usd("2.1")  # 1.1 left plus the whole overdraft room
    assert journal_balance(services.store.engine, account.id) == usd("1.1")
    assert_verified(services)


def test_replaying_an_idempotency_key_returns_the_original_and_charges_once(
    services: Services,
) -> None:
    account = open_account(services)
    services.ledger.grant(account_id=account.id, amount_micros=usd("10"))
    first = services.ledger.charge(
        account_id=account.id, operation="email_find", units=5, idempotency_key="req-42"
    )
    again = services.ledger.charge(
        account_id=account.id, operation="email_find", units=5, idempotency_key="req-42"
    )

    assert again.replayed and not first.replayed
    assert again.transaction.id == first.transaction.id
    assert again.balance_micros == first.balance_micros == usd("9.9")
    assert services.accounts.get(account_id=account.id).balance_micros == usd("9.9")
    charges = [
        t
        for t in account_transactions(services.store.engine, account.id)
        if t["type"] == "email_find"
    ]
    assert len(charges) == 1
    with pytest.raises(IdempotencyConflict):
        services.ledger.charge(
            account_id=account.id, operation="email_find", units=6, idempotency_key="req-42"
        )
    assert_verified(services)


def test_the_same_idempotency_key_on_two_accounts_charges_both(services: Services) -> None:
    first, second = open_account(services), open_account(services)
    for account in (first, second):
        services.ledger.grant(account_id=account.id, amount_micros=usd("1"))
        services.ledger.charge(
            account_id=account.id, operation="preview", units=1, idempotency_key="shared"
        )
    assert services.accounts.get(account_id=first.id).balance_micros == usd("0.998")
    assert services.accounts.get(account_id=second.id).balance_micros == usd("0.998")


def test_settling_below_the_reservation_releases_the_rest(services: Services) -> None:
    account = open_account(services)
    services.ledger.grant(account_id=account.id, amount_micros=usd("10"))
    held = services.ledger.reserve(account_id=account.id, operation="search_realtime", units=100)
    assert held.reserved_micros == usd("4") and held.available_micros == usd("6")
    assert services.accounts.get(account_id=account.id).reserved_micros == usd("4")

    settled = services.ledger.settle(
        account_id=account.id, reservation_id=held.transaction.id, units=30
    )

    assert settled.charged_micros == usd("1.2")
    assert settled.transaction.status == "success" and settled.transaction.units == 30
    account_now = services.accounts.get(account_id=account.id)
    assert (account_now.balance_micros, account_now.reserved_micros) == (usd("8.8"), 0)
    again = services.ledger.settle(
        account_id=account.id, reservation_id=held.transaction.id, units=30
    )
    assert again.replayed and again.charged_micros == usd("1.2")
    with pytest.raises(ReservationClosed):
        services.ledger.settle(account_id=account.id, reservation_id=held.transaction.id, units=31)
    assert_verified(services)


def test_settling_more_units_than_reserved_is_refused(services: Services) -> None:
    account = open_account(services)
    services.ledger.grant(account_id=account.id, amount_micros=usd("10"))
    held = services.ledger.reserve(account_id=account.id, operation="email_find", units=2)
    with pytest.raises(InvalidInput) as refused:
        services.ledger.settle(account_id=account.id, reservation_id=held.transaction.id, units=3)
    assert refused.value.field == "units"


def test_cancelling_a_reservation_releases_all_of_it(services: Services) -> None:
    account = open_account(services)
    services.ledger.grant(account_id=account.id, amount_micros=usd("1"))
    held = services.ledger.reserve(account_id=account.id, operation="phone_find", units=2)
    with pytest.raises(InsufficientFunds):
        services.ledger.charge(account_id=account.id, operation="phone_find", units=1)

    cancelled = services.ledger.cancel(account_id=account.id, reservation_id=held.transaction.id)

    assert cancelled.transaction.status == "error" and cancelled.charged_micros == 0
    assert cancelled.available_micros == usd("1")
    with pytest.raises(ReservationClosed):
        services.ledger.settle(account_id=account.id, reservation_id=held.transaction.id, units=1)
    assert services.ledger.cancel(
        account_id=account.id, reservation_id=held.transaction.id
    ).replayed
    assert_verified(services)


def test_a_reservation_past_its_ttl_is_released_and_cannot_be_settled(
    services: Services, clock: ManualClock
) -> None:
    account = open_account(services)
    services.ledger.grant(account_id=account.id, amount_micros=usd("1"))
    held = services.ledger.reserve(
        account_id=account.id, operation="search_database", units=10, ttl_s=60
    )
    clock.advance(59 * US_PER_S)
    assert services.ledger.expire_reservations(account_id=account.id) == []
    clock.advance(1 * US_PER_S)

    with pytest.raises(ReservationClosed):
        services.ledger.settle(account_id=account.id, reservation_id=held.transaction.id, units=1)
    released = services.ledger.expire_reservations(account_id=account.id)

    assert [t.id for t in released] == [held.transaction.id]
    assert released[0].status == "error" and released[0].note == "expired"
    assert services.accounts.get(account_id=account.id).reserved_micros == 0
    assert services.ledger.expire_reservations(account_id=account.id) == []
    assert_verified(services)


def test_expired_grants_are_not_spent_and_their_remainder_is_written_off(
    services: Services, clock: ManualClock
) -> None:
    account = open_account(services)
    expires = clock.now_us() + 7 * US_PER_DAY
    promo = services.ledger.grant(
        account_id=account.id, amount_micros=usd("3"), kind="promotional", expires_at_us=expires
    )
    services.ledger.grant(account_id=account.id, amount_micros=usd("1"), kind="purchase")
    services.ledger.charge(account_id=account.id, operation="search_database", units=50)
    clock.set(expires)

    with pytest.raises(InsufficientFunds):
        services.ledger.charge(account_id=account.id, operation="search_database", units=51)
    written = services.ledger.expire_grants(account_id=account.id)

    assert len(written) == 1
    assert written[0].type == "expiration" and written[0].grant_id == promo.transaction.grant_id
    assert written[0].credits_micros == -usd("2")
    assert services.accounts.get(account_id=account.id).balance_micros == usd("1")
    assert services.ledger.expire_grants(account_id=account.id) == []
    assert_verified(services)


def test_a_refund_reverses_a_charge_in_a_new_transaction_and_never_edits_it(
    services: Services,
) -> None:
    account = open_account(services)
    services.ledger.grant(account_id=account.id, amount_micros=usd("10"))
    charge = services.ledger.charge(account_id=account.id, operation="enrich_realtime", units=50)
    rows_before = {t["id"]: t for t in account_transactions(services.store.engine, account.id)}

    partial = services.ledger.refund(
        account_id=account.id,
        transaction_id=charge.transaction.id,
        amount_micros=usd("0.5"),
        reason="bad rows",
    )
    rest = services.ledger.refund(account_id=account.id, transaction_id=charge.transaction.id)

    assert partial.transaction.credits_micros == usd(
        "0.5"
    ) and rest.transaction.credits_micros == usd("1.5")
    assert rest.transaction.reverses_id == charge.transaction.id
    assert rest.balance_micros == usd("10")
    rows_after = {t["id"]: t for t in account_transactions(services.store.engine, account.id)}
    assert rows_after[charge.transaction.id] == rows_before[charge.transaction.id]
    with pytest.raises(NothingToRefund):
        services.ledger.refund(account_id=account.id, transaction_id=charge.transaction.id)
    with pytest.raises(NothingToRefund):
        services.ledger.refund(account_id=account.id, transaction_id=rest.transaction.id)
    assert services.accounts.get(account_id=account.id).lifetime_spend_micros == 0
    assert_verified(services)


def test_a_refund_gives_back_to_grants_that_were_used_up(services: Services) -> None:
    account = open_account(services)
    first = services.ledger.grant(account_id=account.id, amount_micros=usd("1"), priority=1)
    services.ledger.grant(account_id=account.id, amount_micros=usd("1"), priority=2)
    charge = services.ledger.charge(account_id=account.id, operation="search_database", units=75)
    assert first.transaction.grant_id not in remaining_by_grant(services, account.id)

    services.ledger.refund(account_id=account.id, transaction_id=charge.transaction.id)

    remaining = remaining_by_grant(services, account.id)
    assert remaining[first.transaction.grant_id] == usd("1")
    assert sum(remaining.values()) == usd("2")
    assert_verified(services)


def test_operator_adjustments_move_the_balance_both_ways_with_their_reason(
    services: Services,
) -> None:
    account = open_account(services)
    up = services.ledger.adjust(account_id=account.id, amount_micros=usd("5"), reason="goodwill")
    down = services.ledger.adjust(
        account_id=account.id, amount_micros=-usd("2"), reason="dup top-up"
    )

    assert up.transaction.type == down.transaction.type == "adjustment"
    assert (up.transaction.note, down.transaction.note) == ("goodwill", "dup top-up")
    assert down.balance_micros == usd("3")
    with pytest.raises(InsufficientFunds):
        services.ledger.adjust(account_id=account.id, amount_micros=-usd("4"), reason="too much")
    with pytest.raises(InvalidInput):
        services.ledger.adjust(account_id=account.id, amount_micros=usd("1"), reason="  ")
    assert_verified(services)


def test_a_price_change_applies_from_its_moment_and_leaves_past_charges_alone(
    services: Services, clock: ManualClock
) -> None:
    account = open_account(services)
    services.ledger.grant(account_id=account.id, amount_micros=usd("100"))
    before = services.ledger.charge(account_id=account.id, operation="search_database", units=10)
    starts = clock.now_us() + US_PER_DAY
    services.prices.change(prices=[Price("search_database", 30_000, 0)], effective_from_us=starts)

    still_old = services.ledger.charge(account_id=account.id, operation="search_database", units=10)
    clock.set(starts)
    new = services.ledger.charge(account_id=account.id, operation="search_database", units=10)

    assert (before.charged_micros, still_old.charged_micros, new.charged_micros) == (
        usd("0.2"),
        usd("0.2"),
        usd("0.3"),
    )
    stored = {t["id"]: t for t in account_transactions(services.store.engine, account.id)}
    assert stored[before.transaction.id]["credits_micros"] == -usd("0.2")
    assert stored[before.transaction.id]["unit_price_micros"] == 20_000
    with pytest.raises(InvalidInput):
        services.prices.change(
            prices=[Price("search_database", 1, 0)], effective_from_us=starts - 1
        )
    assert_verified(services)


def test_spend_tiers_multiply_prices_once_lifetime_spend_reaches_them(services: Services) -> None:
    account = open_account(services)
    services.ledger.grant(account_id=account.id, amount_micros=usd("1000"))
    services.prices.change(
        tiers=[SpendTier("standard", 0, 1_000_000, 0), SpendTier("growth", usd("100"), 800_000, 0)]
    )
    services.ledger.charge(account_id=account.id, operation="search_realtime", units=2_500)
    assert services.accounts.summary(account_id=account.id).tier.name == "growth"

    discounted = services.ledger.charge(account_id=account.id, operation="email_validate", units=3)

    assert discounted.charged_micros == 12_000  # 3 × 0.005 × 0.8
    assert discounted.transaction.multiplier_ppm == 800_000
    assert_verified(services)


def test_preview_is_free_from_2000_usd_spent_this_month_until_the_first_utc(
    services: Services, clock: ManualClock
) -> None:
    account = open_account(services)
    services.ledger.grant(account_id=account.id, amount_micros=usd("5000"))
    services.ledger.charge(account_id=account.id, operation="phone_find", units=4_999)  # 1999.6
    assert not services.accounts.summary(account_id=account.id).preview_tier
    assert services.ledger.charge(
        account_id=account.id, operation="preview", units=100
    ).charged_micros == usd("0.2")
    services.ledger.charge(account_id=account.id, operation="preview", units=100)  # reaches 2000
    assert services.accounts.summary(account_id=account.id).preview_tier

    free = services.ledger.charge(account_id=account.id, operation="preview", units=1_000)
    assert free.charged_micros == 0 and free.transaction.units == 1_000

    next_month = month_start_us(clock.now_us() + 31 * US_PER_DAY)
    clock.set(next_month - 1)
    assert (
        services.ledger.charge(account_id=account.id, operation="preview", units=1).charged_micros
        == 0
    )
    clock.set(next_month)
    assert not services.accounts.summary(account_id=account.id).preview_tier
    assert (
        services.ledger.charge(account_id=account.id, operation="preview", units=1).charged_micros
        == 2_000
    )
    assert services.accounts.summary(account_id=account.id).used_this_month_micros == 2_000
    assert_verified(services)


def test_a_test_key_gets_the_live_answer_and_nothing_is_written(services: Services) -> None:
    account = open_account(services)
    services.ledger.grant(account_id=account.id, amount_micros=usd("1"))
    key = services.accounts.create_key(account_id=account.id, test=True)
    assert key.secret.startswith("test_")
    before = table_counts(services.store.engine)

    receipt = services.ledger.charge(
        account_id=account.id,
        operation="search_database",
        units=10,
        api_key_id=key.key.id,
        test=True,
    )
    many = services.ledger.charge_many(
        [
            charge_command(account_id=account.id, operation="phone_find", units=units)
            for units in (1, 100)
        ],
        test=True,
    )

    assert receipt.test and receipt.charged_micros == usd("0.2")
    assert receipt.balance_micros == usd("0.8")  # what a live key would have seen
    assert many[0].test and isinstance(many[1], InsufficientFunds)  # type: ignore[union-attr]
    assert table_counts(services.store.engine) == before
    assert services.accounts.get(account_id=account.id).balance_micros == usd("1")


def test_monthly_limit_refuses_charges_past_the_cap(services: Services) -> None:
    account = open_account(services, monthly_limit_micros=usd("1"))
    services.ledger.grant(account_id=account.id, amount_micros=usd("10"))
    services.ledger.charge(account_id=account.id, operation="search_database", units=40)
    before = table_counts(services.store.engine)
    with pytest.raises(MonthlyLimitReached):
        services.ledger.charge(account_id=account.id, operation="search_database", units=11)
    assert table_counts(services.store.engine) == before
    services.ledger.charge(account_id=account.id, operation="search_database", units=10)


def test_a_suspended_account_cannot_spend_but_can_be_read(services: Services) -> None:
    account = open_account(services)
    services.ledger.grant(account_id=account.id, amount_micros=usd("1"))
    services.accounts.update(account_id=account.id, status="suspended")
    with pytest.raises(AccountSuspended):
        services.ledger.charge(account_id=account.id, operation="preview", units=1)
    assert services.accounts.summary(account_id=account.id).account.balance_micros == usd("1")


def test_bad_input_is_refused_naming_the_field(services: Services) -> None:
    account = open_account(services)
    charge = services.ledger.charge
    cases = [
        ({"units": 0}, "units"),
        ({"units": -5}, "units"),
        ({"units": True}, "units"),
        ({"units": 10**9}, "units"),
        ({"operation": "Search DB"}, "operation"),
        ({"idempotency_key": "x" * 300}, "idempotency_key"),
        ({"idempotency_key": "has space"}, "idempotency_key"),
        ({"details": ["not", "an", "object"]}, "details"),
    ]
    for change, field in cases:
        arguments: dict[str, object] = {
            "account_id": account.id,
            "operation": "preview",
            "units": 1,
        }
        arguments.update(change)
        with pytest.raises(InvalidInput) as refused:
            charge(**arguments)  # type: ignore[arg-type]
        assert refused.value.field == field, change
    with pytest.raises(UnknownOperation) as unknown:
        charge(account_id=account.id, operation="teleport", units=1)
    assert "search_database" in unknown.value.message
    with pytest.raises(NotFound):
        charge(account_id="no-such-account", operation="preview", units=1)
