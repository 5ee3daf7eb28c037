"""Ledger commands, and the rules that turn one into journal entries and transactions.

A command is an immutable value (a named tuple: the batch API builds thousands per call).
`Batch.apply` runs one against the in-memory state of the accounts it touches (loaded and
locked by storage beforehand) and returns its receipt, or raises a `CreditbookError` having
changed nothing. The batch collects everything to be written; storage writes it all in one
database transaction. No I/O happens here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from creditbook import ids, limits
from creditbook.domain import events
from creditbook.domain.book import Book, Draw, Entry, EntryKind
from creditbook.domain.grants import DEFAULT_PRIORITY, TRANSACTION_TYPE, Grant, GrantKind
from creditbook.domain.pricing import PriceBook, Quote
from creditbook.domain.transactions import Receipt, Status, Transaction, TransactionType
from creditbook.domain.usage import BUCKET_US
from creditbook.errors import (
    AccountSuspended,
    IdempotencyConflict,
    InvalidInput,
    MonthlyLimitReached,
    NotFound,
    NothingToRefund,
    ReservationClosed,
)
from creditbook.money import format_usd, scale_by_ppm

ACTIVE = "active"


def _fingerprint(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Charge(NamedTuple):
    """A one-step charge: reserve and settle `units` of `operation` at once."""

    account_id: str
    operation: str
    units: int
    api_key_id: str | None = None
    idempotency_key: str | None = None
    request_id: str | None = None
    details: Mapping[str, Any] | None = None

    def fingerprint(self) -> str:
        return _fingerprint("charge", self.operation, self.units, self.details)


class Reserve(NamedTuple):
    """Hold the cost of at most `units` until settled, cancelled, or `ttl_s` passes."""

    account_id: str
    operation: str
    units: int
    ttl_s: int
    api_key_id: str | None = None
    idempotency_key: str | None = None
    request_id: str | None = None
    details: Mapping[str, Any] | None = None

    def fingerprint(self) -> str:
        return _fingerprint("reserve", self.operation, self.units, self.ttl_s, self.details)


class Settle(NamedTuple):
    account_id: str
    reservation_id: str
    units: int


class Cancel(NamedTuple):
    account_id: str
    reservation_id: str


class AddGrant(NamedTuple):
    account_id: str
    amount_micros: int
    kind: GrantKind
    priority: int | None = None
    effective_at_us: int | None = None
    expires_at_us: int | None = None
    idempotency_key: str | None = None
    note: str | None = None
    details: Mapping[str, Any] | None = None

    def fingerprint(self) -> str:
        return _fingerprint(
            "grant",
            self.amount_micros,
            self.kind,
            self.priority,
            self.effective_at_us,
            self.expires_at_us,
            self.details,
        )


class Adjust(NamedTuple):
    """An operator's correction, with the reason written into the history."""

    account_id: str
    amount_micros: int
    reason: str
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        return _fingerprint("adjust", self.amount_micros, self.reason)


class Refund(NamedTuple):
    """Give back all (or `amount_micros` of) a settled charge; a reversal, never an edit."""

    account_id: str
    transaction_id: str
    amount_micros: int | None = None
    reason: str = ""
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        return _fingerprint("refund", self.transaction_id, self.amount_micros, self.reason)


class ExpireGrants(NamedTuple):
    """Write off what expired grants of the account still hold."""

    account_id: str


class ExpireReservations(NamedTuple):
    """Release reservations of the account whose time to live has passed."""

    account_id: str


class Renew(NamedTuple):
    """A plan's allotment for the cycle starting at `period_start_us`: what is left of the
    previous allotment is written off, up to `rollover_cap_micros` of it carried into the new
    grant (None: nothing is carried), and the new grant expires at `expires_at_us`. Once per
    period: the idempotency key names the period, so running it again changes nothing."""

    account_id: str
    period_start_us: int
    allotment_micros: int
    rollover_cap_micros: int | None
    expires_at_us: int
    idempotency_key: str

    def fingerprint(self) -> str:
        return _fingerprint("renew", self.period_start_us)


Command = Charge | Reserve | Settle | Cancel | AddGrant | Adjust | Refund
Housekeeping = ExpireGrants | ExpireReservations | Renew
AnyCommand = Command | Housekeeping
Keyed = Charge | Reserve | AddGrant | Adjust | Refund | Renew
Outcome = Receipt | list[Transaction]


class IdempotencyRecord(NamedTuple):
    account_id: str
    key: str
    fingerprint: str
    transaction_id: str
    created_at_us: int


UsageKey = tuple[str, int, str, str]  # account, bucket start, operation, API key ('' if none)


@dataclass(slots=True)
class Batch:
    """The state one writer transaction works on, and everything it will write."""

    now_us: int
    prices: PriceBook
    books: dict[str, Book]
    idempotency: dict[tuple[str, str], IdempotencyRecord] = field(default_factory=dict)
    transactions: dict[str, Transaction] = field(default_factory=dict)
    entries_of: dict[str, list[Entry]] = field(default_factory=dict)
    refunded: dict[str, int] = field(default_factory=dict)
    new_transactions: dict[str, Transaction] = field(default_factory=dict)
    changed_transactions: dict[str, Transaction] = field(default_factory=dict)
    new_idempotency: list[IdempotencyRecord] = field(default_factory=list)
    usage: dict[UsageKey, list[int]] = field(default_factory=dict)
    events: list[events.Event] = field(default_factory=list)
    depleted: set[str] = field(default_factory=set)  # accounts refused a charge for funds

    def apply(self, command: AnyCommand) -> Outcome:
        handler = _HANDLERS[type(command)]
        return handler(self, command)

    def entries(self) -> list[Entry]:
        return [entry for book in self.books.values() for entry in book.entries]

    def entries_for(self, txn: Transaction) -> list[Entry]:
        """The entries of the transaction's latest posting (its seq range): loaded by storage,
        or appended earlier in this batch."""
        first, last = txn.entry_first_seq, txn.entry_last_seq
        if first is None or last is None:
            return []
        book = self.books.get(txn.account_id)
        fresh = [e for e in book.entries if first <= e.seq <= last] if book else []
        return fresh or [e for e in self.entries_of.get(txn.id, []) if first <= e.seq <= last]

    # Lookups

    def book(self, account_id: str) -> Book:
        book = self.books.get(account_id)
        if book is None:
            raise NotFound("Account not found.")
        return book

    def transaction(self, account_id: str, transaction_id: str) -> Transaction:
        txn = self.transactions.get(transaction_id)
        if txn is None or txn.account_id != account_id:
            raise NotFound("Transaction not found.")
        return txn

    def replay(self, command: Keyed, book: Book) -> Receipt | None:
        """The original outcome of an idempotency key seen before, or None."""
        key = command.idempotency_key
        record = self.idempotency.get((command.account_id, key)) if key else None
        if record is None:
            return None
        if record.fingerprint != command.fingerprint():
            raise IdempotencyConflict(
                "This idempotency key was already used with different parameters."
            )
        txn = self.transactions[record.transaction_id]
        return _receipt(txn, book, replayed=True)

    # Recording

    def record(self, txn: Transaction, command: Keyed | None = None) -> None:
        self.transactions[txn.id] = txn
        self.new_transactions[txn.id] = txn
        key = command.idempotency_key if command is not None else None
        if key and command is not None:
            record = IdempotencyRecord(
                txn.account_id, key, command.fingerprint(), txn.id, self.now_us
            )
            self.idempotency[(txn.account_id, key)] = record
            self.new_idempotency.append(record)

    def update(self, txn: Transaction) -> None:
        if txn.id not in self.new_transactions:
            self.changed_transactions[txn.id] = txn

    def add_usage(self, txn: Transaction, *, spend: int, units: int, charges: int) -> None:
        settled = txn.settled_at_us
        assert txn.operation is not None and settled is not None
        key = (txn.account_id, settled - settled % BUCKET_US, txn.operation, txn.api_key_id or "")
        totals = self.usage.get(key)
        if totals is None:
            self.usage[key] = [spend, units, charges]
        else:
            totals[0] += spend
            totals[1] += units
            totals[2] += charges


def _receipt(txn: Transaction, book: Book, *, replayed: bool = False) -> Receipt:
    charged = -txn.credits_micros if txn.status == Status.SUCCESS and txn.credits_micros < 0 else 0
    reserved = txn.reserved_micros if txn.status == Status.PENDING else 0
    return Receipt(
        txn, charged, reserved, txn.balance_after_micros, book.available_micros(), replayed
    )


def _check_can_spend(book: Book) -> None:
    if book.account.status != ACTIVE:
        raise AccountSuspended("The account is suspended and cannot spend.")


def _check_monthly_limit(book: Book, amount: int) -> None:
    account = book.account
    cap = account.monthly_limit_micros
    if (
        cap is not None
        and amount
        and account.month_spend_micros + account.reserved_micros + amount > cap
    ):
        raise MonthlyLimitReached()


def _quote(batch: Batch, book: Book, operation: str, units: int) -> Quote:
    account = book.account
    return batch.prices.quote(
        operation=operation,
        units=units,
        at_us=batch.now_us,
        lifetime_micros=account.lifetime_spend_micros,
        month_micros=account.month_spend_micros,
    )


def _metered(command: Charge | Reserve, quote: Quote, txn_id: str, now_us: int) -> Transaction:
    # Positional: keyword arguments cost more than the rest of the constructor.
    return Transaction(
        command.account_id,
        txn_id,
        now_us,
        command.operation,
        Status.SUCCESS,
        -quote.amount_micros,
        0,
        command.operation,  # operation
        command.units,  # units
        0,  # reserved_units
        0,  # reserved_micros
        quote.unit_price_micros,
        quote.multiplier_ppm,
        None,  # settled_at_us
        None,  # expires_at_us
        command.api_key_id,
        command.idempotency_key,
        command.request_id,
        None,  # reverses_id
        None,  # grant_id
        None,  # note
        dict(command.details) if command.details else None,
    )


def _charge(batch: Batch, command: Charge) -> Receipt:
    # The batch API runs this thousands of times per call: checks are inlined where a helper
    # would only add a function call.
    book = batch.book(command.account_id)
    if command.idempotency_key:
        replayed = batch.replay(command, book)
        if replayed is not None:
            return replayed
    if book.account.status != ACTIVE:
        raise AccountSuspended("The account is suspended and cannot spend.")
    quote = _quote(batch, book, command.operation, command.units)
    amount = quote.amount_micros
    if book.account.monthly_limit_micros is not None:
        _check_monthly_limit(book, amount)
    txn = _metered(command, quote, ids.transaction_id(batch.now_us), batch.now_us)
    mark = book.mark()
    book.charge(amount, txn_id=txn.id)
    txn.entry_first_seq, txn.entry_last_seq = book.since(mark)
    book.record_spend(amount)
    txn.settled_at_us = batch.now_us
    txn.balance_after_micros = book.account.balance_micros
    batch.record(txn, command)
    batch.add_usage(txn, spend=amount, units=command.units, charges=1)
    return Receipt(txn, amount, 0, txn.balance_after_micros, book.available_micros())


def _reserve(batch: Batch, command: Reserve) -> Receipt:
    book = batch.book(command.account_id)
    replayed = batch.replay(command, book)
    if replayed is not None:
        return replayed
    _check_can_spend(book)
    quote = _quote(batch, book, command.operation, command.units)
    _check_monthly_limit(book, quote.amount_micros)
    txn = _metered(command, quote, ids.transaction_id(batch.now_us), batch.now_us)
    mark = book.mark()
    book.hold(quote.amount_micros, txn_id=txn.id)
    txn.entry_first_seq, txn.entry_last_seq = book.since(mark)
    txn.status = Status.PENDING
    txn.units = 0
    txn.reserved_units = command.units
    txn.reserved_micros = quote.amount_micros
    txn.expires_at_us = batch.now_us + command.ttl_s * 1_000_000
    txn.balance_after_micros = book.account.balance_micros
    batch.record(txn, command)
    return _receipt(txn, book)


def _open_reservation(batch: Batch, account_id: str, reservation_id: str) -> Transaction:
    txn = batch.transaction(account_id, reservation_id)
    if not txn.is_reservation:
        raise NotFound("Reservation not found.")
    return txn


def _holds(batch: Batch, txn: Transaction) -> list[Draw]:
    entries = batch.entries_for(txn)
    return [(e.grant_id, e.hold_micros) for e in entries if e.kind == EntryKind.HOLD]


def _settle(batch: Batch, command: Settle) -> Receipt:
    book = batch.book(command.account_id)
    txn = _open_reservation(batch, command.account_id, command.reservation_id)
    if txn.status == Status.SUCCESS and txn.units == command.units:
        return _receipt(txn, book, replayed=True)
    _check_still_open(txn, batch.now_us)
    if command.units > txn.reserved_units:
        raise InvalidInput(
            "units", f"Cannot settle {command.units} units; {txn.reserved_units} were reserved."
        )
    actual = 0
    if txn.reserved_micros:
        cost = scale_by_ppm(txn.unit_price_micros * command.units, txn.multiplier_ppm)
        actual = min(cost, txn.reserved_micros)
    holds = _holds(batch, txn)
    mark = book.mark()
    book.settle(holds, actual, txn_id=txn.id)
    txn.entry_first_seq, txn.entry_last_seq = book.since(mark)
    book.record_spend(actual)
    txn.status = Status.SUCCESS
    txn.units = command.units
    txn.credits_micros = -actual
    txn.settled_at_us = batch.now_us
    txn.balance_after_micros = book.account.balance_micros
    batch.update(txn)
    batch.add_usage(txn, spend=actual, units=command.units, charges=1)
    return _receipt(txn, book)


def _check_still_open(txn: Transaction, now_us: int) -> None:
    if txn.status == Status.SUCCESS:
        raise ReservationClosed(f"The reservation was already settled with {txn.units} units.")
    if txn.status == Status.ERROR:
        raise ReservationClosed(f"The reservation was {txn.note or 'closed'}.")
    assert txn.expires_at_us is not None
    if now_us >= txn.expires_at_us:
        raise ReservationClosed("The reservation has expired.")


def _cancel(batch: Batch, command: Cancel) -> Receipt:
    book = batch.book(command.account_id)
    txn = _open_reservation(batch, command.account_id, command.reservation_id)
    if txn.status == Status.ERROR and txn.note == "cancelled":
        return _receipt(txn, book, replayed=True)
    _check_still_open(txn, batch.now_us)
    _close(batch, book, txn, note="cancelled")
    return _receipt(txn, book)


def _close(batch: Batch, book: Book, txn: Transaction, *, note: str) -> None:
    holds = _holds(batch, txn)
    mark = book.mark()
    book.release(holds, txn_id=txn.id)
    txn.entry_first_seq, txn.entry_last_seq = book.since(mark)
    txn.status = Status.ERROR
    txn.note = note
    txn.settled_at_us = batch.now_us
    txn.balance_after_micros = book.account.balance_micros
    batch.update(txn)


def _add_grant(batch: Batch, command: AddGrant) -> Receipt:
    book = batch.book(command.account_id)
    replayed = batch.replay(command, book)
    if replayed is not None:
        return replayed
    txn = _credit(batch, book, command, command.kind, command.note)
    return _receipt(txn, book)


def _credit(
    batch: Batch, book: Book, command: AddGrant | Adjust, kind: GrantKind, note: str | None
) -> Transaction:
    amount = command.amount_micros
    if book.account.balance_micros + amount > limits.balance_micros_max:
        raise InvalidInput("amount", "The account would hold more than the balance limit.")
    now = batch.now_us
    grant_args = command if isinstance(command, AddGrant) else None
    priority = grant_args.priority if grant_args and grant_args.priority is not None else None
    effective = grant_args.effective_at_us if grant_args else None
    grant = Grant(
        book.account.id,
        ids.grant_id(now),
        kind,
        DEFAULT_PRIORITY[kind] if priority is None else priority,
        now if effective is None else effective,
        grant_args.expires_at_us if grant_args else None,
        now,
        amount,
        0,  # the grant entry below brings it to `amount`
    )
    txn = Transaction(
        book.account.id,
        ids.transaction_id(batch.now_us),
        now,
        TRANSACTION_TYPE[kind],
        Status.SUCCESS,
        amount,
        0,
        settled_at_us=now,
        idempotency_key=command.idempotency_key,
        grant_id=grant.id,
        note=note,
        details=dict(grant_args.details) if grant_args and grant_args.details else None,
    )
    mark = book.mark()
    book.credit(grant, txn_id=txn.id)
    txn.entry_first_seq, txn.entry_last_seq = book.since(mark)
    txn.balance_after_micros = book.account.balance_micros
    batch.record(txn, command)
    batch.events.append(_credits_added(txn, grant, book))
    return txn


def _credits_added(txn: Transaction, grant: Grant, book: Book) -> events.Event:
    data = {
        "transaction_id": txn.id,
        "grant_id": grant.id,
        "kind": str(grant.kind),
        "amount": events.usd(grant.amount_micros),
        "expires_at": events.timestamp(grant.expires_at_us),
        "balance": events.usd(book.account.balance_micros),
    }
    return events.new_event(txn.account_id, events.CREDITS_ADDED, txn.created_at_us, data)


def _adjust(batch: Batch, command: Adjust) -> Receipt:
    book = batch.book(command.account_id)
    replayed = batch.replay(command, book)
    if replayed is not None:
        return replayed
    if command.amount_micros > 0:
        txn = _credit(batch, book, command, GrantKind.ADJUSTMENT, command.reason)
        return _receipt(txn, book)
    txn = Transaction(
        book.account.id,
        ids.transaction_id(batch.now_us),
        batch.now_us,
        TransactionType.ADJUSTMENT,
        Status.SUCCESS,
        command.amount_micros,
        0,
        settled_at_us=batch.now_us,
        idempotency_key=command.idempotency_key,
        note=command.reason,
    )
    mark = book.mark()
    book.charge(-command.amount_micros, txn_id=txn.id, kind=EntryKind.ADJUST)
    txn.entry_first_seq, txn.entry_last_seq = book.since(mark)
    txn.balance_after_micros = book.account.balance_micros
    batch.record(txn, command)
    return _receipt(txn, book)


def _refund(batch: Batch, command: Refund) -> Receipt:
    book = batch.book(command.account_id)
    replayed = batch.replay(command, book)
    if replayed is not None:
        return replayed
    original = batch.transaction(command.account_id, command.transaction_id)
    if not original.is_charge or original.status != Status.SUCCESS:
        raise NothingToRefund("Only settled charges can be refunded.")
    already = batch.refunded.get(original.id, 0)
    refundable = -original.credits_micros - already
    amount = refundable if command.amount_micros is None else command.amount_micros
    if refundable <= 0 or amount > refundable:
        left = format_usd(max(refundable, 0))
        raise NothingToRefund(f"At most {left} USD of this charge can still be refunded.")
    txn = _refund_transaction(batch, command, original, amount)
    entries = batch.entries_for(original)
    draws = [(e.grant_id, -e.amount_micros) for e in entries if e.amount_micros < 0]
    mark = book.mark()
    txn.grant_id = book.restore(draws, already, amount, txn_id=txn.id)
    txn.entry_first_seq, txn.entry_last_seq = book.since(mark)
    assert original.settled_at_us is not None
    book.unrecord_spend(amount, spent_at_us=original.settled_at_us)
    txn.balance_after_micros = book.account.balance_micros
    batch.refunded[original.id] = already + amount
    batch.record(txn, command)
    batch.add_usage(original, spend=-amount, units=0, charges=0)
    return _receipt(txn, book)


def _refund_transaction(
    batch: Batch, command: Refund, original: Transaction, amount: int
) -> Transaction:
    return Transaction(
        original.account_id,
        ids.transaction_id(batch.now_us),
        batch.now_us,
        TransactionType.REFUND,
        Status.SUCCESS,
        amount,
        0,
        operation=original.operation,
        settled_at_us=batch.now_us,
        api_key_id=original.api_key_id,
        idempotency_key=command.idempotency_key,
        reverses_id=original.id,
        note=command.reason or None,
    )


def _expire_grants(batch: Batch, command: ExpireGrants) -> list[Transaction]:
    book = batch.book(command.account_id)
    return [_write_off(batch, book, grant, early=False) for grant in book.expired_grants()]


def _write_off(batch: Batch, book: Book, grant: Grant, *, early: bool) -> Transaction:
    txn = Transaction(
        book.account.id,
        ids.transaction_id(batch.now_us),
        batch.now_us,
        TransactionType.EXPIRATION,
        Status.SUCCESS,
        0,
        0,
        settled_at_us=batch.now_us,
        grant_id=grant.id,
    )
    mark = book.mark()
    txn.credits_micros = -book.write_off(grant, txn_id=txn.id, early=early)
    txn.entry_first_seq, txn.entry_last_seq = book.since(mark)
    txn.balance_after_micros = book.account.balance_micros
    batch.record(txn)
    data = {
        "transaction_id": txn.id,
        "grant_id": grant.id,
        "kind": str(grant.kind),
        "amount": events.usd(-txn.credits_micros),
        "expired_at": events.timestamp(grant.expires_at_us),
        "balance": events.usd(book.account.balance_micros),
    }
    batch.events.append(
        events.new_event(txn.account_id, events.CREDITS_EXPIRED, batch.now_us, data)
    )
    return txn


def _renew(batch: Batch, command: Renew) -> Receipt:
    book = batch.book(command.account_id)
    replayed = batch.replay(command, book)
    if replayed is not None:
        return replayed
    left = [
        g for g in book.grants if g.kind == GrantKind.PLAN and g.remaining_micros > g.held_micros
    ]
    carried = sum(_write_off(batch, book, g, early=True).credits_micros for g in left)
    cap = command.rollover_cap_micros
    carry = 0 if cap is None else min(-carried, cap)
    add = AddGrant(
        command.account_id,
        command.allotment_micros + carry,
        GrantKind.PLAN,
        expires_at_us=command.expires_at_us,
        note="plan allotment" + (f" with {format_usd(carry)} USD carried over" if carry else ""),
        details={
            "period_start": events.timestamp(command.period_start_us),
            "carried": events.usd(carry),
        },
    )
    txn = _credit(batch, book, add, GrantKind.PLAN, add.note)
    batch.record(txn, command)
    return _receipt(txn, book)


def _expire_reservations(batch: Batch, command: ExpireReservations) -> list[Transaction]:
    book = batch.book(command.account_id)
    closed: list[Transaction] = []
    for txn in list(batch.transactions.values()):
        due = txn.expires_at_us is not None and txn.expires_at_us <= batch.now_us
        if txn.account_id == book.account.id and txn.status == Status.PENDING and due:
            _close(batch, book, txn, note="expired")
            closed.append(txn)
    return closed


_HANDLERS: dict[type, Callable[[Batch, Any], Outcome]] = {
    Charge: _charge,
    Reserve: _reserve,
    Settle: _settle,
    Cancel: _cancel,
    AddGrant: _add_grant,
    Adjust: _adjust,
    Refund: _refund,
    ExpireGrants: _expire_grants,
    ExpireReservations: _expire_reservations,
    Renew: _renew,
}
