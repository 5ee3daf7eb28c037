"""Ledger commands applied to a hand-built Batch: receipts, idempotency, refusals, usage."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from creditbook import limits
from creditbook.clock import to_us
from creditbook.domain.book import Book, Entry, EntryKind
from creditbook.domain.commands import (
    AddGrant,
    Adjust,
    AnyCommand,
    Batch,
    Cancel,
    Charge,
    IdempotencyRecord,
    Refund,
    Reserve,
    Settle,
)
from creditbook.domain.grants import GrantKind
from creditbook.domain.pricing import DEFAULT_PRICES, PPM_ONE, PREVIEW_OPERATION, PriceBook
from creditbook.domain.transactions import Receipt, Status, Transaction
from creditbook.errors import (
    AccountSuspended,
    CreditbookError,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidInput,
    MonthlyLimitReached,
    NotFound,
    NothingToRefund,
    ReservationClosed,
    UnknownOperation,
)
from tests.unit.domain.builders import ACCOUNT_ID, HOUR_US, book_state, make_book, make_grant

USD = 1_000_000
NOW = to_us(datetime(2026, 3, 5, 12, 7, 30, 123_456, tzinfo=UTC))
NOW_BUCKET = to_us(datetime(2026, 3, 5, 12, 0, tzinfo=UTC))
EARLIER = to_us(datetime(2026, 3, 5, 11, 50, tzinfo=UTC))
EARLIER_BUCKET = to_us(datetime(2026, 3, 5, 11, 45, tzinfo=UTC))
SEARCH = "search_database"  # 0.02 USD per result in DEFAULT_PRICES
SEARCH_PRICE = 20_000
PREVIEW_THRESHOLD = 100 * USD


def funded_book(account_id: str = ACCOUNT_ID, **account: object) -> Book:
    """1 USD of promotional credit (drawn first) and 10 USD of purchased credit."""
    promo = make_grant(
        f"{account_id}-promo", kind=GrantKind.PROMOTIONAL, remaining=USD, account_id=account_id
    )
    paid = make_grant(f"{account_id}-paid", remaining=10 * USD, account_id=account_id)
    return make_book([paid, promo], now_us=NOW, account_id=account_id, **account)


def make_batch(*books: Book) -> Batch:
    prices = PriceBook(DEFAULT_PRICES, [], preview_threshold_micros=PREVIEW_THRESHOLD)
    return Batch(NOW, prices, {book.account.id: book for book in books})


def receipt_of(batch: Batch, command: AnyCommand) -> Receipt:
    outcome = batch.apply(command)
    assert isinstance(outcome, Receipt)
    return outcome


def outputs(batch: Batch) -> tuple[object, ...]:
    """Everything the batch would write, and the state it works on, as plain values."""
    return (
        list(batch.new_transactions),
        {tid: dataclasses.astuple(t) for tid, t in batch.transactions.items()},
        list(batch.changed_transactions),
        batch.entries(),
        {key: list(totals) for key, totals in batch.usage.items()},
        list(batch.new_idempotency),
        dict(batch.idempotency),
        dict(batch.refunded),
        [book_state(book) for book in batch.books.values()],
    )


def charge(units: int = 60, **fields: object) -> Charge:
    values: dict[str, object] = {"account_id": ACCOUNT_ID, "operation": SEARCH, "units": units}
    values.update(fields)
    return Charge(**values)  # type: ignore[arg-type]


# Charges


def test_a_charge_takes_its_price_and_records_a_transaction_entries_and_usage() -> None:
    batch = make_batch(funded_book())

    receipt = receipt_of(batch, charge(60, api_key_id="key-1"))

    # 60 × 0.02 USD = 1.20 USD: the 1 USD promo first, then 0.20 USD of the purchase.
    txn = receipt.transaction
    assert receipt.charged_micros == 1_200_000
    assert receipt.balance_micros == 11 * USD - 1_200_000
    assert receipt.available_micros == 11 * USD - 1_200_000
    assert not receipt.replayed
    assert (txn.status, txn.credits_micros, txn.settled_at_us) == (Status.SUCCESS, -1_200_000, NOW)
    assert (txn.type, txn.operation, txn.units) == (SEARCH, SEARCH, 60)
    assert txn.balance_after_micros == 9_800_000
    assert list(batch.new_transactions) == [txn.id]
    assert [(e.grant_id, e.amount_micros) for e in batch.entries()] == [
        (f"{ACCOUNT_ID}-promo", -USD),
        (f"{ACCOUNT_ID}-paid", -200_000),
    ]
    assert all(e.transaction_id == txn.id for e in batch.entries())
    assert batch.usage == {(ACCOUNT_ID, NOW_BUCKET, SEARCH, "key-1"): [1_200_000, 60, 1]}
    account = batch.books[ACCOUNT_ID].account
    assert (account.lifetime_spend_micros, account.month_spend_micros) == (1_200_000, 1_200_000)


def test_a_preview_charge_is_free_once_the_month_reaches_the_threshold() -> None:
    batch = make_batch(funded_book(month_spend=PREVIEW_THRESHOLD))

    receipt = receipt_of(batch, charge(100, operation=PREVIEW_OPERATION))

    assert receipt.charged_micros == 0
    assert receipt.transaction.credits_micros == 0
    assert batch.entries() == []
    assert batch.usage == {(ACCOUNT_ID, NOW_BUCKET, PREVIEW_OPERATION, ""): [0, 100, 1]}


# Idempotency


def test_replaying_an_idempotency_key_returns_the_same_transaction_and_writes_nothing_new() -> None:
    batch = make_batch(funded_book())
    first = receipt_of(batch, charge(60, idempotency_key="k1"))
    before = outputs(batch)

    again = receipt_of(batch, charge(60, idempotency_key="k1"))

    assert again.replayed
    assert again.transaction is first.transaction
    assert again.charged_micros == first.charged_micros
    assert again.balance_micros == first.balance_micros
    assert outputs(batch) == before
    assert len(batch.new_transactions) == 1 and len(batch.new_idempotency) == 1


def test_a_key_recorded_by_an_earlier_batch_is_replayed_from_its_record() -> None:
    batch = make_batch(funded_book())
    command = charge(60, idempotency_key="k1")
    old = Transaction(
        ACCOUNT_ID,
        "txn-old",
        EARLIER,
        SEARCH,
        Status.SUCCESS,
        -1_200_000,
        9_800_000,
        operation=SEARCH,
        units=60,
        settled_at_us=EARLIER,
    )
    batch.transactions[old.id] = old
    batch.idempotency[(ACCOUNT_ID, "k1")] = IdempotencyRecord(
        ACCOUNT_ID, "k1", command.fingerprint(), old.id, EARLIER
    )
    before = outputs(batch)

    receipt = receipt_of(batch, command)

    assert receipt.replayed and receipt.transaction is old
    assert receipt.charged_micros == 1_200_000
    assert outputs(batch) == before
    assert batch.new_transactions == {} and batch.entries() == [] and batch.usage == {}


@pytest.mark.parametrize(
    "changed",
    [{"units": 61}, {"operation": "enrich_database"}, {"details": {"query": "cto"}}],
)
def test_reusing_a_key_with_other_parameters_is_a_conflict_and_changes_nothing(
    changed: dict[str, object],
) -> None:
    batch = make_batch(funded_book())
    receipt_of(batch, charge(60, idempotency_key="k1"))
    before = outputs(batch)

    with pytest.raises(IdempotencyConflict):
        batch.apply(charge(**{"units": 60, "idempotency_key": "k1", **changed}))  # type: ignore[arg-type]

    assert outputs(batch) == before


def test_the_same_key_with_another_request_id_or_api_key_is_still_a_replay() -> None:
    batch = make_batch(funded_book())
    first = receipt_of(batch, charge(60, idempotency_key="k1", request_id="a", api_key_id="x"))
    again = receipt_of(batch, charge(60, idempotency_key="k1", request_id="b", api_key_id="y"))
    assert again.replayed and again.transaction is first.transaction


def test_a_grant_key_reused_with_another_amount_is_a_conflict() -> None:
    batch = make_batch(funded_book())
    grant = AddGrant(
        account_id=ACCOUNT_ID, amount_micros=USD, kind=GrantKind.PURCHASE, idempotency_key="g"
    )
    first = receipt_of(batch, grant)
    assert receipt_of(batch, grant).transaction is first.transaction
    before = outputs(batch)
    with pytest.raises(IdempotencyConflict):
        batch.apply(grant._replace(amount_micros=2 * USD))
    assert outputs(batch) == before


def test_an_idempotency_key_belongs_to_one_account() -> None:
    batch = make_batch(funded_book(), funded_book("acct-2"))
    mine = receipt_of(batch, charge(60, idempotency_key="k1"))
    theirs = receipt_of(batch, charge(60, idempotency_key="k1", account_id="acct-2"))
    assert not theirs.replayed
    assert theirs.transaction.id != mine.transaction.id
    assert theirs.transaction.account_id == "acct-2"
    assert len(batch.new_transactions) == 2


def test_a_refused_keyed_command_does_not_use_up_its_key() -> None:
    batch = make_batch(funded_book())
    too_big = charge(600, idempotency_key="k1")  # 12 USD of an 11 USD balance
    with pytest.raises(InsufficientFunds):
        batch.apply(too_big)
    receipt_of(batch, AddGrant(account_id=ACCOUNT_ID, amount_micros=USD, kind=GrantKind.PURCHASE))

    receipt = receipt_of(batch, too_big)

    assert not receipt.replayed
    assert receipt.charged_micros == 12 * USD
    assert receipt.balance_micros == 0


# Refusals


def refusal_batch() -> Batch:
    return make_batch(
        funded_book(),
        funded_book("suspended", status="suspended"),
        funded_book("capped", monthly_limit=USD),
    )


REFUSALS: list[tuple[str, AnyCommand, type[CreditbookError]]] = [
    ("charge beyond the balance", charge(551), InsufficientFunds),
    ("unknown operation", charge(1, operation="teleport"), UnknownOperation),
    ("suspended account", charge(1, account_id="suspended"), AccountSuspended),
    ("past the monthly cap", charge(51, account_id="capped"), MonthlyLimitReached),
    ("unknown account", charge(1, account_id="nobody"), NotFound),
    (
        "reserve beyond the balance",
        Reserve(account_id=ACCOUNT_ID, operation=SEARCH, units=551, ttl_s=60),
        InsufficientFunds,
    ),
    (
        "reserve past the monthly cap",
        Reserve(account_id="capped", operation=SEARCH, units=51, ttl_s=60),
        MonthlyLimitReached,
    ),
    (
        "debit adjustment beyond the balance",
        Adjust(account_id=ACCOUNT_ID, amount_micros=-12 * USD, reason="fix"),
        InsufficientFunds,
    ),
    (
        "grant past the balance limit",
        AddGrant(
            account_id=ACCOUNT_ID,
            amount_micros=limits.balance_micros_max,
            kind=GrantKind.PURCHASE,
        ),
        InvalidInput,
    ),
    (
        "refund of an unknown transaction",
        Refund(account_id=ACCOUNT_ID, transaction_id="x"),
        NotFound,
    ),
    (
        "settle of an unknown reservation",
        Settle(account_id=ACCOUNT_ID, reservation_id="x", units=1),
        NotFound,
    ),
    (
        "cancel of an unknown reservation",
        Cancel(account_id=ACCOUNT_ID, reservation_id="x"),
        NotFound,
    ),
]


@pytest.mark.parametrize(
    ("command", "error"), [(c, e) for _, c, e in REFUSALS], ids=[n for n, _, _ in REFUSALS]
)
def test_a_refused_command_leaves_the_batch_outputs_unchanged(
    command: AnyCommand, error: type[CreditbookError]
) -> None:
    batch = refusal_batch()
    receipt_of(batch, charge(10, idempotency_key="earlier"))  # outputs are not empty
    receipt_of(batch, charge(10, account_id="capped"))
    before = outputs(batch)

    with pytest.raises(error):
        batch.apply(command)

    assert outputs(batch) == before


def test_the_monthly_cap_counts_spend_and_open_reservations() -> None:
    batch = make_batch(funded_book(monthly_limit=USD))
    receipt_of(batch, Reserve(account_id=ACCOUNT_ID, operation=SEARCH, units=30, ttl_s=60))
    receipt_of(batch, charge(20))  # 0.6 reserved + 0.4 spent = exactly the cap
    with pytest.raises(MonthlyLimitReached):
        batch.apply(charge(1))


# Reservations, settlement and usage buckets


def reserved_batch() -> tuple[Batch, Transaction]:
    """A reservation of 20 results (0.40 USD) made at 11:50 by an earlier batch."""
    paid = make_grant("paid", remaining=10 * USD, held=400_000)
    book = make_book([paid], now_us=NOW, entry_seq=10)
    reservation = Transaction(
        ACCOUNT_ID,
        "txn-res",
        EARLIER,
        SEARCH,
        Status.PENDING,
        -400_000,
        10 * USD,
        operation=SEARCH,
        reserved_units=20,
        reserved_micros=400_000,
        unit_price_micros=SEARCH_PRICE,
        multiplier_ppm=PPM_ONE,
        expires_at_us=EARLIER + HOUR_US,
        api_key_id="key-1",
        entry_first_seq=10,
        entry_last_seq=10,
    )
    hold = Entry(
        ACCOUNT_ID,
        10,
        reservation.id,
        "paid",
        EntryKind.HOLD,
        0,
        400_000,
        10 * USD,
        400_000,
        EARLIER,
    )
    batch = make_batch(book)
    batch.transactions[reservation.id] = reservation
    batch.entries_of[reservation.id] = [hold]
    return batch, reservation


def test_a_reservation_holds_its_price_until_it_expires() -> None:
    batch = make_batch(funded_book())

    receipt = receipt_of(
        batch, Reserve(account_id=ACCOUNT_ID, operation=SEARCH, units=20, ttl_s=90)
    )

    txn = receipt.transaction
    assert (txn.status, txn.reserved_units, txn.reserved_micros) == (Status.PENDING, 20, 400_000)
    assert txn.expires_at_us == NOW + 90 * 1_000_000
    assert receipt.reserved_micros == 400_000 and receipt.charged_micros == 0
    assert receipt.balance_micros == 11 * USD
    assert receipt.available_micros == 11 * USD - 400_000
    assert batch.usage == {}


def test_settling_counts_usage_in_the_settlements_15_minute_bucket() -> None:
    batch, reservation = reserved_batch()

    receipt = receipt_of(batch, Settle(account_id=ACCOUNT_ID, reservation_id="txn-res", units=15))

    # 15 × 0.02 USD = 0.30 USD spent; the other 0.10 USD is released.
    assert receipt.charged_micros == 300_000
    assert receipt.transaction is reservation
    assert (reservation.status, reservation.units, reservation.credits_micros) == (
        Status.SUCCESS,
        15,
        -300_000,
    )
    assert reservation.settled_at_us == NOW
    assert batch.usage == {(ACCOUNT_ID, NOW_BUCKET, SEARCH, "key-1"): [300_000, 15, 1]}
    assert (ACCOUNT_ID, EARLIER_BUCKET, SEARCH, "key-1") not in batch.usage
    assert list(batch.changed_transactions) == ["txn-res"] and batch.new_transactions == {}
    account = batch.books[ACCOUNT_ID].account
    assert (account.balance_micros, account.reserved_micros) == (10 * USD - 300_000, 0)
    assert [(e.kind, e.amount_micros, e.hold_micros) for e in batch.entries()] == [
        (EntryKind.SETTLE, -300_000, -400_000)
    ]


def test_settling_again_with_the_same_units_is_a_replay() -> None:
    batch, _ = reserved_batch()
    settle = Settle(account_id=ACCOUNT_ID, reservation_id="txn-res", units=15)
    first = receipt_of(batch, settle)
    before = outputs(batch)

    again = receipt_of(batch, settle)

    assert again.replayed and again.transaction is first.transaction
    assert outputs(batch) == before
    with pytest.raises(ReservationClosed):
        batch.apply(settle._replace(units=14))
    assert outputs(batch) == before


def test_settling_more_units_than_reserved_is_refused_and_changes_nothing() -> None:
    batch, _ = reserved_batch()
    before = outputs(batch)
    with pytest.raises(InvalidInput) as caught:
        batch.apply(Settle(account_id=ACCOUNT_ID, reservation_id="txn-res", units=21))
    assert caught.value.field == "units"
    assert outputs(batch) == before


def test_settling_an_expired_reservation_is_refused() -> None:
    batch, reservation = reserved_batch()
    reservation.expires_at_us = NOW
    before = outputs(batch)
    with pytest.raises(ReservationClosed):
        batch.apply(Settle(account_id=ACCOUNT_ID, reservation_id="txn-res", units=1))
    assert outputs(batch) == before


def test_cancelling_releases_the_hold_and_counts_no_usage() -> None:
    batch, reservation = reserved_batch()

    receipt = receipt_of(batch, Cancel(account_id=ACCOUNT_ID, reservation_id="txn-res"))

    assert (reservation.status, reservation.note) == (Status.ERROR, "cancelled")
    assert receipt.charged_micros == 0
    assert batch.books[ACCOUNT_ID].account.reserved_micros == 0
    assert batch.usage == {}
    assert receipt_of(batch, Cancel(account_id=ACCOUNT_ID, reservation_id="txn-res")).replayed


def test_charges_in_one_bucket_add_up_under_one_usage_key_per_api_key() -> None:
    batch = make_batch(funded_book())
    receipt_of(batch, charge(10, api_key_id="key-1"))
    receipt_of(batch, charge(5, api_key_id="key-1"))
    receipt_of(batch, charge(1))
    assert batch.usage == {
        (ACCOUNT_ID, NOW_BUCKET, SEARCH, "key-1"): [15 * SEARCH_PRICE, 15, 2],
        (ACCOUNT_ID, NOW_BUCKET, SEARCH, ""): [SEARCH_PRICE, 1, 1],
    }


# Refunds


def charged_batch() -> tuple[Batch, Transaction]:
    """A 0.50 USD charge settled at 11:50 that drew 0.20 USD promo, then 0.30 USD paid."""
    promo = make_grant("promo", kind=GrantKind.PROMOTIONAL, remaining=0, amount=200_000)
    paid = make_grant("paid", remaining=9_700_000, amount=10 * USD)
    book = make_book(
        [paid, promo], now_us=NOW, lifetime_spend=500_000, month_spend=500_000, entry_seq=12
    )
    original = Transaction(
        ACCOUNT_ID,
        "txn-chg",
        EARLIER,
        SEARCH,
        Status.SUCCESS,
        -500_000,
        9_700_000,
        operation=SEARCH,
        units=25,
        unit_price_micros=SEARCH_PRICE,
        settled_at_us=EARLIER,
        api_key_id="key-1",
        entry_first_seq=11,
        entry_last_seq=12,
    )
    draws = [("promo", -200_000, 9_800_000, 11), ("paid", -300_000, 9_700_000, 12)]
    batch = make_batch(book)
    batch.transactions[original.id] = original
    batch.entries_of[original.id] = [
        Entry(ACCOUNT_ID, seq, original.id, gid, EntryKind.CHARGE, amount, 0, after, 0, EARLIER)
        for gid, amount, after, seq in draws
    ]
    return batch, original


def test_a_refund_counts_negative_usage_in_the_original_charges_bucket() -> None:
    batch, original = charged_batch()

    receipt = receipt_of(
        batch, Refund(account_id=ACCOUNT_ID, transaction_id="txn-chg", amount_micros=350_000)
    )

    txn = receipt.transaction
    assert (txn.type, txn.credits_micros, txn.reverses_id) == ("refund", 350_000, original.id)
    assert batch.usage == {(ACCOUNT_ID, EARLIER_BUCKET, SEARCH, "key-1"): [-350_000, 0, 0]}
    # Last drawn first: all 0.30 USD back to the purchase, then 0.05 USD to the promo.
    assert [(e.grant_id, e.kind, e.amount_micros) for e in batch.entries()] == [
        ("paid", EntryKind.REFUND, 300_000),
        ("promo", EntryKind.REFUND, 50_000),
    ]
    account = batch.books[ACCOUNT_ID].account
    assert account.balance_micros == 9_700_000 + 350_000
    assert (account.lifetime_spend_micros, account.month_spend_micros) == (150_000, 150_000)
    assert batch.refunded == {"txn-chg": 350_000}


def test_refunds_stop_at_the_amount_charged() -> None:
    batch, _ = charged_batch()
    receipt_of(batch, Refund(account_id=ACCOUNT_ID, transaction_id="txn-chg", amount_micros=100))

    rest = receipt_of(batch, Refund(account_id=ACCOUNT_ID, transaction_id="txn-chg"))

    assert rest.transaction.credits_micros == 500_000 - 100
    before = outputs(batch)
    with pytest.raises(NothingToRefund):
        batch.apply(Refund(account_id=ACCOUNT_ID, transaction_id="txn-chg", amount_micros=1))
    assert outputs(batch) == before


def test_a_refund_larger_than_what_is_left_is_refused_and_changes_nothing() -> None:
    batch, _ = charged_batch()
    before = outputs(batch)
    with pytest.raises(NothingToRefund) as caught:
        batch.apply(Refund(account_id=ACCOUNT_ID, transaction_id="txn-chg", amount_micros=500_001))
    assert "0.5 USD" in str(caught.value)
    assert outputs(batch) == before


def test_a_refund_of_a_refund_is_refused() -> None:
    batch, _ = charged_batch()
    refund = receipt_of(batch, Refund(account_id=ACCOUNT_ID, transaction_id="txn-chg"))
    before = outputs(batch)
    with pytest.raises(NothingToRefund):
        batch.apply(Refund(account_id=ACCOUNT_ID, transaction_id=refund.transaction.id))
    assert outputs(batch) == before


def test_a_reservation_can_be_settled_and_refunded_in_the_batch_that_made_it() -> None:
    batch = make_batch(funded_book())
    before = batch.books[ACCOUNT_ID].account.balance_micros
    held = receipt_of(batch, Reserve(account_id=ACCOUNT_ID, operation=SEARCH, units=10, ttl_s=60))
    settled = receipt_of(
        batch, Settle(account_id=ACCOUNT_ID, reservation_id=held.transaction.id, units=4)
    )
    refunded = receipt_of(batch, Refund(account_id=ACCOUNT_ID, transaction_id=held.transaction.id))
    account = batch.books[ACCOUNT_ID].account
    assert settled.charged_micros == 4 * SEARCH_PRICE
    assert refunded.transaction.credits_micros == 4 * SEARCH_PRICE
    assert (account.balance_micros, account.reserved_micros) == (before, 0)
