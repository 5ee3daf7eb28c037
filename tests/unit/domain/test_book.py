"""Book: one account's grants and journal while a write is in progress."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from creditbook.clock import month_start_us, to_us
from creditbook.domain.book import Book, EntryKind
from creditbook.domain.grants import GrantKind
from creditbook.errors import InsufficientFunds
from tests.unit.domain.builders import (
    ACCOUNT_ID,
    HOUR_US,
    NOW,
    book_state,
    make_book,
    make_grant,
)


def two_grant_book(**account: object) -> Book:
    """promo (priority 10) holds 300, paid (priority 40) holds 1000; entry_seq starts at 10."""
    paid = make_grant("paid", kind=GrantKind.PURCHASE, remaining=1_000)
    promo = make_grant("promo", kind=GrantKind.PROMOTIONAL, remaining=300)
    return make_book([paid, promo], **account)


def summary(book: Book) -> list[tuple[int, str, str, int, int, int, int]]:
    return [
        (
            e.seq,
            e.grant_id,
            e.kind,
            e.amount_micros,
            e.hold_micros,
            e.balance_after_micros,
            e.reserved_after_micros,
        )
        for e in book.entries
    ]


def test_a_book_keeps_its_grants_in_consumption_order() -> None:
    book = two_grant_book()
    assert [g.id for g in book.grants] == ["promo", "paid"]
    assert book.grant("paid").remaining_micros == 1_000


# Charging


def test_a_charge_draws_in_order_and_appends_one_entry_per_grant_touched() -> None:
    book = two_grant_book()

    draws = book.charge(500, txn_id="t1")

    assert draws == [("promo", 300), ("paid", 200)]
    assert summary(book) == [
        (11, "promo", EntryKind.CHARGE, -300, 0, 1_000, 0),
        (12, "paid", EntryKind.CHARGE, -200, 0, 800, 0),
    ]
    assert all(e.transaction_id == "t1" and e.at_us == NOW for e in book.entries)
    assert all(e.account_id == ACCOUNT_ID for e in book.entries)
    assert book.grant("promo").remaining_micros == 0
    assert book.grant("paid").remaining_micros == 800
    assert book.account.balance_micros == 800
    assert book.account.entry_seq == 12
    assert set(book.changed_grants) == {"promo", "paid"}
    assert book.new_grants == {}
    assert book.changed


def test_a_charge_that_fits_in_the_first_grant_touches_only_that_grant() -> None:
    book = two_grant_book()
    assert book.charge(120, txn_id="t1") == [("promo", 120)]
    assert summary(book) == [(11, "promo", EntryKind.CHARGE, -120, 0, 1_180, 0)]
    assert set(book.changed_grants) == {"promo"}


def test_a_charge_skips_grants_not_yet_effective_or_expired() -> None:
    expired = make_grant("expired", priority=1, remaining=100, expires_at_us=NOW)
    future = make_grant("future", priority=2, remaining=100, effective_at_us=NOW + 1)
    live = make_grant("live", priority=3, remaining=100)
    book = make_book([live, future, expired])
    assert book.available_micros() == 100
    assert book.charge(60, txn_id="t1") == [("live", 60)]


def test_a_charge_can_use_the_whole_balance() -> None:
    book = two_grant_book()
    book.charge(1_300, txn_id="t1")
    assert book.account.balance_micros == 0
    assert book.available_micros() == 0


def test_a_refused_charge_changes_nothing() -> None:
    book = two_grant_book(overdraft_limit=100)
    before = book_state(book)

    with pytest.raises(InsufficientFunds):
        book.charge(1_401, txn_id="t1")

    assert book_state(book) == before
    assert book.entries == [] and book.new_grants == {} and not book.changed
    assert [g.id for g in book.grants] == ["promo", "paid"]  # no debt grant was opened


def test_a_refused_charge_after_an_accepted_one_leaves_the_first_one_alone() -> None:
    book = two_grant_book()
    book.charge(100, txn_id="t1")
    before = book_state(book)
    with pytest.raises(InsufficientFunds):
        book.charge(1_201, txn_id="t2")
    assert book_state(book) == before


def test_a_charge_past_the_balance_opens_an_overdraft_grant_within_the_limit() -> None:
    book = two_grant_book(overdraft_limit=500)

    draws = book.charge(1_450, txn_id="t1")

    debt = book.grants[-1]
    assert debt.kind == GrantKind.OVERDRAFT and debt.remaining_micros == -150
    assert draws == [("promo", 300), ("paid", 1_000), (debt.id, 150)]
    assert set(book.new_grants) == {debt.id}
    assert debt.id not in book.changed_grants
    assert book.account.balance_micros == -150
    assert book.available_micros() == 350
    assert summary(book)[-1] == (13, debt.id, EntryKind.CHARGE, -150, 0, -150, 0)


def test_a_second_overdraft_charge_reuses_the_debt_grant() -> None:
    book = two_grant_book(overdraft_limit=500)
    book.charge(1_400, txn_id="t1")
    debt = book.grants[-1]
    assert book.charge(50, txn_id="t2") == [(debt.id, 50)]
    assert debt.remaining_micros == -150
    assert sum(g.is_overdraft for g in book.grants) == 1
    with pytest.raises(InsufficientFunds):
        book.charge(351, txn_id="t3")


def test_a_charge_records_its_kind_on_the_entries() -> None:
    book = two_grant_book()
    book.charge(10, txn_id="t1", kind=EntryKind.ADJUST)
    assert [e.kind for e in book.entries] == [EntryKind.ADJUST]


# Reservations


def test_a_hold_reserves_across_grants_without_moving_the_balance() -> None:
    book = two_grant_book()

    holds = book.hold(400, txn_id="r1")

    assert holds == [("promo", 300), ("paid", 100)]
    assert summary(book) == [
        (11, "promo", EntryKind.HOLD, 0, 300, 1_300, 300),
        (12, "paid", EntryKind.HOLD, 0, 100, 1_300, 400),
    ]
    assert book.grant("promo").held_micros == 300
    assert book.account.reserved_micros == 400
    assert book.available_micros() == 900


def test_a_hold_that_does_not_fit_is_refused_and_changes_nothing() -> None:
    book = two_grant_book()
    before = book_state(book)
    with pytest.raises(InsufficientFunds):
        book.hold(1_301, txn_id="r1")
    assert book_state(book) == before


def test_a_held_amount_cannot_be_charged_again() -> None:
    book = two_grant_book()
    book.hold(1_000, txn_id="r1")
    with pytest.raises(InsufficientFunds):
        book.charge(301, txn_id="t1")
    assert book.charge(300, txn_id="t2") == [("paid", 300)]


def test_settle_consumes_the_holds_in_order_and_releases_the_rest() -> None:
    book = two_grant_book()
    holds = book.hold(400, txn_id="r1")

    taken = book.settle(holds, 350, txn_id="r1")

    assert taken == [("promo", 300), ("paid", 50)]
    assert summary(book)[2:] == [
        (13, "promo", EntryKind.SETTLE, -300, -300, 1_000, 100),
        (14, "paid", EntryKind.SETTLE, -50, -100, 950, 0),
    ]
    assert book.grant("paid").remaining_micros == 950
    assert book.grant("paid").held_micros == 0
    assert book.account.reserved_micros == 0
    assert book.available_micros() == 950


def test_settling_nothing_releases_every_hold() -> None:
    book = two_grant_book()
    holds = book.hold(400, txn_id="r1")
    assert book.settle(holds, 0, txn_id="r1") == []
    assert book.account.balance_micros == 1_300
    assert book.account.reserved_micros == 0
    assert [(e.kind, e.amount_micros, e.hold_micros) for e in book.entries[2:]] == [
        (EntryKind.SETTLE, 0, -300),
        (EntryKind.SETTLE, 0, -100),
    ]


def test_release_gives_the_holds_back_without_spending() -> None:
    book = two_grant_book()
    holds = book.hold(400, txn_id="r1")

    book.release(holds, txn_id="r1")

    assert summary(book)[2:] == [
        (13, "promo", EntryKind.RELEASE, 0, -300, 1_300, 100),
        (14, "paid", EntryKind.RELEASE, 0, -100, 1_300, 0),
    ]
    assert book.available_micros() == 1_300


def test_record_spend_adds_to_lifetime_and_month_spend() -> None:
    book = two_grant_book(lifetime_spend=1_000, month_spend=100)
    book.record_spend(50)
    assert book.account.lifetime_spend_micros == 1_050
    assert book.account.month_spend_micros == 150
    assert book.changed


def test_the_preview_month_starts_at_the_threshold() -> None:
    book = two_grant_book(month_spend=100)
    assert book.is_preview_month(100)
    assert not book.is_preview_month(101)


# Crediting


def test_credit_adds_a_new_grant_in_order_with_one_grant_entry() -> None:
    book = two_grant_book()
    new = make_grant("new", kind=GrantKind.PLAN, amount=700, created_at_us=NOW)

    book.credit(new, txn_id="g1")

    assert [g.id for g in book.grants] == ["promo", "new", "paid"]
    assert new.remaining_micros == 700
    assert summary(book) == [(11, "new", EntryKind.GRANT, 700, 0, 2_000, 0)]
    assert set(book.new_grants) == {"new"}
    assert book.changed_grants == {}
    assert book.grant("new") is new


def test_credit_spendable_now_repays_the_overdraft_debt_first() -> None:
    paid = make_grant("paid", remaining=0)
    debt = make_grant("debt", kind=GrantKind.OVERDRAFT, remaining=-150)
    book = make_book([paid, debt], overdraft_limit=500)
    new = make_grant("new", amount=1_000, created_at_us=NOW)

    book.credit(new, txn_id="g1")

    assert summary(book) == [
        (11, "new", EntryKind.GRANT, 1_000, 0, 850, 0),
        (12, "new", EntryKind.REPAY, -150, 0, 700, 0),
        (13, "debt", EntryKind.REPAY, 150, 0, 850, 0),
    ]
    assert new.remaining_micros == 850
    assert debt.remaining_micros == 0
    assert book.account.balance_micros == 850
    assert set(book.new_grants) == {"new"}
    assert set(book.changed_grants) == {"debt"}
    assert book.available_micros() == 850 + 500


def test_credit_smaller_than_the_debt_repays_what_it_can() -> None:
    debt = make_grant("debt", kind=GrantKind.OVERDRAFT, remaining=-1_000)
    book = make_book([debt], overdraft_limit=1_000)
    new = make_grant("new", amount=300, created_at_us=NOW)

    book.credit(new, txn_id="g1")

    assert new.remaining_micros == 0
    assert debt.remaining_micros == -700
    assert book.account.balance_micros == -700


def test_credit_not_yet_effective_does_not_repay_the_debt() -> None:
    debt = make_grant("debt", kind=GrantKind.OVERDRAFT, remaining=-150)
    book = make_book([debt], overdraft_limit=500)
    later = make_grant("later", amount=1_000, effective_at_us=NOW + HOUR_US, created_at_us=NOW)

    book.credit(later, txn_id="g1")

    assert later.remaining_micros == 1_000
    assert debt.remaining_micros == -150
    assert [e.kind for e in book.entries] == [EntryKind.GRANT]


def test_credit_repays_nothing_when_there_is_no_debt() -> None:
    debt = make_grant("debt", kind=GrantKind.OVERDRAFT, remaining=0)
    book = make_book([debt], overdraft_limit=500)
    book.credit(make_grant("new", amount=100, created_at_us=NOW), txn_id="g1")
    assert [e.kind for e in book.entries] == [EntryKind.GRANT]


# Refunds


def test_restore_gives_back_to_the_last_drawn_grant_first() -> None:
    book = two_grant_book()
    draws = book.charge(500, txn_id="t1")  # promo 300, paid 200

    book.restore(draws, 0, 250, txn_id="r1")

    refunds = [(e.grant_id, e.kind, e.amount_micros) for e in book.entries[2:]]
    assert refunds == [("paid", EntryKind.REFUND, 200), ("promo", EntryKind.REFUND, 50)]
    assert book.grant("paid").remaining_micros == 1_000
    assert book.grant("promo").remaining_micros == 50
    assert book.account.balance_micros == 1_050
    assert [e.seq for e in book.entries] == [11, 12, 13, 14]


def test_restore_skips_what_earlier_refunds_already_gave_back() -> None:
    book = two_grant_book()
    draws = book.charge(500, txn_id="t1")  # promo 300, paid 200
    book.restore(draws, 0, 100, txn_id="r1")  # paid +100

    book.restore(draws, 100, 150, txn_id="r2")  # paid +100 (its rest), promo +50

    second = [(e.grant_id, e.amount_micros) for e in book.entries if e.transaction_id == "r2"]
    assert second == [("paid", 100), ("promo", 50)]
    assert book.grant("paid").remaining_micros == 1_000
    assert book.grant("promo").remaining_micros == 50


def test_restore_of_the_whole_charge_brings_every_grant_back() -> None:
    book = two_grant_book()
    draws = book.charge(500, txn_id="t1")
    book.restore(draws, 0, 500, txn_id="r1")
    assert book.grant("promo").remaining_micros == 300
    assert book.grant("paid").remaining_micros == 1_000
    assert book.account.balance_micros == 1_300


def test_unrecord_spend_lowers_the_month_only_for_spend_of_this_month() -> None:
    book = two_grant_book(lifetime_spend=1_000, month_spend=400)
    book.unrecord_spend(100, spent_at_us=NOW - HOUR_US)
    assert (book.account.lifetime_spend_micros, book.account.month_spend_micros) == (900, 300)

    last_month = to_us(datetime(2026, 2, 27, tzinfo=UTC))
    book.unrecord_spend(50, spent_at_us=last_month)
    assert (book.account.lifetime_spend_micros, book.account.month_spend_micros) == (850, 300)


# Expiry


def test_write_off_takes_what_an_expired_grant_holds_beyond_its_reservations() -> None:
    old = make_grant("old", remaining=500, held=100, expires_at_us=NOW)
    paid = make_grant("paid", remaining=1_000)
    book = make_book([paid, old])

    assert book.expired_grants() == [old]
    assert book.write_off(old, txn_id="x1") == 400

    assert old.remaining_micros == 100 and old.held_micros == 100
    assert summary(book) == [(11, "old", EntryKind.EXPIRE, -400, 0, 1_100, 100)]
    assert book.expired_grants() == []


def test_grants_not_yet_expired_or_fully_reserved_are_not_listed_as_expired() -> None:
    book = make_book(
        [
            make_grant("live", remaining=500, expires_at_us=NOW + 1),
            make_grant("reserved", remaining=500, held=500, expires_at_us=NOW),
            make_grant("empty", remaining=0, expires_at_us=NOW),
        ]
    )
    assert book.expired_grants() == []


# Month roll-over


def test_a_book_opened_in_a_new_month_starts_the_month_spend_from_zero() -> None:
    february = to_us(datetime(2026, 2, 1, tzinfo=UTC))
    book = two_grant_book(month_start=february, month_spend=999, lifetime_spend=5_000)

    assert book.account.month_start_us == to_us(datetime(2026, 3, 1, tzinfo=UTC))
    assert book.account.month_spend_micros == 0
    assert book.account.lifetime_spend_micros == 5_000


def test_a_book_opened_in_the_same_month_keeps_the_month_spend() -> None:
    book = two_grant_book(month_start=month_start_us(NOW), month_spend=999)
    assert book.account.month_spend_micros == 999


def test_the_month_rolls_over_at_the_first_microsecond_of_the_month() -> None:
    april = to_us(datetime(2026, 4, 1, tzinfo=UTC))
    march = to_us(datetime(2026, 3, 1, tzinfo=UTC))
    before = two_grant_book(now_us=april - 1, month_start=march, month_spend=7)
    after = two_grant_book(now_us=april, month_start=march, month_spend=7)
    assert before.account.month_spend_micros == 7
    assert after.account.month_spend_micros == 0
    assert after.account.month_start_us == april
