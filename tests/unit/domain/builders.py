"""Hand-built domain state for unit tests: grants, accounts and books, no database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from creditbook.clock import month_start_us, to_us
from creditbook.domain.book import AccountState, Book
from creditbook.domain.grants import DEFAULT_PRIORITY, Grant, GrantKind

ACCOUNT_ID = "acct-1"
NOW = to_us(datetime(2026, 3, 5, 12, 0, tzinfo=UTC))
HOUR_US = 3_600 * 1_000_000


def make_grant(
    grant_id: str,
    *,
    kind: GrantKind = GrantKind.PURCHASE,
    priority: int | None = None,
    remaining: int = 0,
    held: int = 0,
    amount: int | None = None,
    effective_at_us: int = 0,
    expires_at_us: int | None = None,
    created_at_us: int = 0,
    account_id: str = ACCOUNT_ID,
) -> Grant:
    return Grant(
        account_id=account_id,
        id=grant_id,
        kind=kind,
        priority=DEFAULT_PRIORITY[kind] if priority is None else priority,
        effective_at_us=effective_at_us,
        expires_at_us=expires_at_us,
        created_at_us=created_at_us,
        amount_micros=max(remaining, 0) if amount is None else amount,
        remaining_micros=remaining,
        held_micros=held,
    )


def make_account(
    grants: list[Grant],
    *,
    account_id: str = ACCOUNT_ID,
    status: str = "active",
    overdraft_limit: int = 0,
    monthly_limit: int | None = None,
    lifetime_spend: int = 0,
    month_spend: int = 0,
    month_start: int | None = None,
    entry_seq: int = 10,
    now_us: int = NOW,
) -> AccountState:
    """An account whose balance and reserved amount agree with its grants."""
    return AccountState(
        id=account_id,
        status=status,
        overdraft_limit_micros=overdraft_limit,
        monthly_limit_micros=monthly_limit,
        balance_micros=sum(g.remaining_micros for g in grants),
        reserved_micros=sum(g.held_micros for g in grants),
        lifetime_spend_micros=lifetime_spend,
        month_start_us=month_start_us(now_us) if month_start is None else month_start,
        month_spend_micros=month_spend,
        entry_seq=entry_seq,
    )


def make_book(grants: list[Grant], *, now_us: int = NOW, **account: object) -> Book:
    state = make_account(grants, now_us=now_us, **account)  # type: ignore[arg-type]
    return Book(state, grants, now_us)


def book_state(book: Book) -> tuple[object, ...]:
    """Everything a book holds, as plain values, to compare before and after."""
    return (
        dataclasses.astuple(book.account),
        [dataclasses.astuple(g) for g in book.grants],
        list(book.entries),
        {gid: dataclasses.astuple(g) for gid, g in book.changed_grants.items()},
        {gid: dataclasses.astuple(g) for gid, g in book.new_grants.items()},
        book.changed,
    )
