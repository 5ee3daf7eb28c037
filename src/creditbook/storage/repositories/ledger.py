"""What the writer reads and writes for a batch of ledger commands.

Statements are built once per dialect (`LedgerStatements`) and executed with bound parameters:
building a SQLAlchemy construct costs several times more than executing a cached one. Every
statement filters by `account_id`. Writes go out as `executemany`, one statement per table per
batch, whatever the number of commands in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Insert, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Select, Update

from creditbook.domain.book import AccountState, Entry
from creditbook.domain.commands import IdempotencyRecord, UsageKey
from creditbook.domain.grants import Grant
from creditbook.domain.transactions import Transaction
from creditbook.storage.tables import (
    accounts,
    grants,
    idempotency_records,
    journal_entries,
    price_book_meta,
    transactions,
    usage_buckets,
)

ACCOUNT_STATE_COLUMNS = (
    accounts.c.id,
    accounts.c.status,
    accounts.c.overdraft_limit_micros,
    accounts.c.monthly_limit_micros,
    accounts.c.balance_micros,
    accounts.c.reserved_micros,
    accounts.c.lifetime_spend_micros,
    accounts.c.month_start_us,
    accounts.c.month_spend_micros,
    accounts.c.entry_seq,
)
GRANT_COLUMNS = tuple(grants.c)
TRANSACTION_COLUMNS = tuple(transactions.c)
ENTRY_COLUMNS = tuple(journal_entries.c)


def _ids(name: str) -> Any:
    return bindparam(name, expanding=True)


class LedgerStatements:
    """Every statement the writer runs, built once for one dialect."""

    def __init__(self, dialect: str) -> None:
        revision = select(price_book_meta.c.revision).where(price_book_meta.c.id == 1)
        # SQLite renders no FOR UPDATE: there BEGIN IMMEDIATE has already taken the lock.
        self.lock_accounts: Select[Any] = (
            select(*ACCOUNT_STATE_COLUMNS, revision.scalar_subquery().label("price_revision"))
            .where(accounts.c.id.in_(_ids("account_ids")))
            .order_by(accounts.c.id)
            .with_for_update(of=accounts)
        )
        self.open_grants = select(*GRANT_COLUMNS).where(
            grants.c.account_id.in_(_ids("account_ids")),
            (grants.c.remaining_micros != 0) | (grants.c.held_micros != 0),
        )
        self.grants_by_id = select(*GRANT_COLUMNS).where(
            grants.c.account_id.in_(_ids("account_ids")), grants.c.id.in_(_ids("grant_ids"))
        )
        self.idempotency = select(*idempotency_records.c).where(
            idempotency_records.c.account_id.in_(_ids("account_ids")),
            idempotency_records.c.key.in_(_ids("keys")),
        )
        self.transactions_by_id = select(*TRANSACTION_COLUMNS).where(
            transactions.c.account_id.in_(_ids("account_ids")),
            transactions.c.id.in_(_ids("transaction_ids")),
        )
        self.pending_due = select(*TRANSACTION_COLUMNS).where(
            transactions.c.status == "pending",
            transactions.c.expires_at_us <= bindparam("now_us"),
            transactions.c.account_id.in_(_ids("account_ids")),
        )
        self.entries_of = (
            select(*ENTRY_COLUMNS)
            .where(
                journal_entries.c.account_id.in_(_ids("account_ids")),
                journal_entries.c.transaction_id.in_(_ids("transaction_ids")),
            )
            .order_by(journal_entries.c.account_id, journal_entries.c.seq)
        )
        self.refunded = (
            select(transactions.c.reverses_id, func.sum(transactions.c.credits_micros))
            .where(
                transactions.c.account_id.in_(_ids("account_ids")),
                transactions.c.reverses_id.in_(_ids("transaction_ids")),
            )
            .group_by(transactions.c.reverses_id)
        )
        self.update_account = self._update_account()
        self.update_grant = (
            update(grants)
            .where(
                grants.c.account_id == bindparam("b_account_id"), grants.c.id == bindparam("b_id")
            )
            .values(remaining_micros=bindparam("b_remaining"), held_micros=bindparam("b_held"))
        )
        self.update_transaction = self._update_transaction()
        self.insert_grant = grants.insert()
        self.insert_transaction = transactions.insert()
        self.insert_entry = journal_entries.insert()
        self.insert_idempotency = idempotency_records.insert()
        self.upsert_usage = _usage_upsert(dialect)

    @staticmethod
    def _update_account() -> Update:
        return (
            update(accounts)
            .where(accounts.c.id == bindparam("b_id"))
            .values(
                balance_micros=bindparam("b_balance"),
                reserved_micros=bindparam("b_reserved"),
                lifetime_spend_micros=bindparam("b_lifetime"),
                month_start_us=bindparam("b_month_start"),
                month_spend_micros=bindparam("b_month_spend"),
                entry_seq=bindparam("b_entry_seq"),
                updated_at_us=bindparam("b_now"),
            )
        )

    @staticmethod
    def _update_transaction() -> Update:
        return (
            update(transactions)
            .where(
                transactions.c.account_id == bindparam("b_account_id"),
                transactions.c.id == bindparam("b_id"),
            )
            .values(
                status=bindparam("b_status"),
                credits_micros=bindparam("b_credits"),
                units=bindparam("b_units"),
                settled_at_us=bindparam("b_settled_at"),
                balance_after_micros=bindparam("b_balance_after"),
                note=bindparam("b_note"),
            )
        )


def _usage_upsert(dialect: str) -> Insert:
    module: Any = sqlite if dialect == "sqlite" else postgresql
    statement = module.insert(usage_buckets)
    excluded = statement.excluded
    result: Insert = statement.on_conflict_do_update(
        index_elements=["account_id", "bucket_start_us", "operation", "api_key_id"],
        set_={
            "spend_micros": usage_buckets.c.spend_micros + excluded.spend_micros,
            "units": usage_buckets.c.units + excluded.units,
            "charges": usage_buckets.c.charges + excluded.charges,
        },
    )
    return result


def grant_from_row(row: Sequence[Any]) -> Grant:
    return Grant(*row)


def transaction_from_row(row: Any) -> Transaction:
    values = row._mapping
    details = values["details"]
    fields = {name: values[name] for name in TRANSACTION_FIELDS}
    return Transaction(**fields, details=json.loads(details) if details else None)


TRANSACTION_FIELDS = tuple(c.name for c in transactions.c if c.name != "details")


def entry_from_row(row: Sequence[Any]) -> Entry:
    return Entry(*row)


class LedgerRepository:
    """Reads and writes of one writer transaction; every call is one statement."""

    def __init__(self, connection: Connection, statements: LedgerStatements) -> None:
        self.connection = connection
        self.s = statements

    # Reads

    def lock_accounts(self, account_ids: list[str]) -> tuple[dict[str, AccountState], int]:
        rows = self.connection.execute(self.s.lock_accounts, {"account_ids": account_ids}).all()
        states = {row[0]: AccountState(*row[:10]) for row in rows}
        revision = rows[0][10] if rows else 0
        return states, revision

    def open_grants(self, account_ids: list[str]) -> list[Grant]:
        rows = self.connection.execute(self.s.open_grants, {"account_ids": account_ids})
        return [grant_from_row(row) for row in rows]

    def grants_by_id(self, account_ids: list[str], grant_ids: list[str]) -> list[Grant]:
        params = {"account_ids": account_ids, "grant_ids": grant_ids}
        return [grant_from_row(row) for row in self.connection.execute(self.s.grants_by_id, params)]

    def idempotency(self, account_ids: list[str], keys: list[str]) -> list[IdempotencyRecord]:
        params = {"account_ids": account_ids, "keys": keys}
        rows = self.connection.execute(self.s.idempotency, params)
        return [IdempotencyRecord(*row) for row in rows]

    def transactions(self, account_ids: list[str], transaction_ids: list[str]) -> list[Transaction]:
        params = {"account_ids": account_ids, "transaction_ids": transaction_ids}
        rows = self.connection.execute(self.s.transactions_by_id, params)
        return [transaction_from_row(row) for row in rows]

    def pending_due(self, account_ids: list[str], now_us: int) -> list[Transaction]:
        params = {"account_ids": account_ids, "now_us": now_us}
        rows = self.connection.execute(self.s.pending_due, params)
        return [transaction_from_row(row) for row in rows]

    def entries_of(self, account_ids: list[str], transaction_ids: list[str]) -> list[Entry]:
        params = {"account_ids": account_ids, "transaction_ids": transaction_ids}
        return [entry_from_row(row) for row in self.connection.execute(self.s.entries_of, params)]

    def refunded(self, account_ids: list[str], transaction_ids: list[str]) -> dict[str, int]:
        params = {"account_ids": account_ids, "transaction_ids": transaction_ids}
        rows = self.connection.execute(self.s.refunded, params)
        return {row[0]: int(row[1]) for row in rows}

    # Writes

    def update_accounts(self, states: Iterable[AccountState], now_us: int) -> None:
        params = [
            {
                "b_id": a.id,
                "b_balance": a.balance_micros,
                "b_reserved": a.reserved_micros,
                "b_lifetime": a.lifetime_spend_micros,
                "b_month_start": a.month_start_us,
                "b_month_spend": a.month_spend_micros,
                "b_entry_seq": a.entry_seq,
                "b_now": now_us,
            }
            for a in states
        ]
        self._many(self.s.update_account, params)

    def insert_grants(self, new: Iterable[Grant]) -> None:
        self._many(self.s.insert_grant, [_grant_values(g) for g in new])

    def update_grants(self, changed: Iterable[Grant]) -> None:
        params = [
            {
                "b_account_id": g.account_id,
                "b_id": g.id,
                "b_remaining": g.remaining_micros,
                "b_held": g.held_micros,
            }
            for g in changed
        ]
        self._many(self.s.update_grant, params)

    def insert_transactions(self, new: Iterable[Transaction]) -> None:
        self._many(self.s.insert_transaction, [transaction_values(t) for t in new])

    def update_transactions(self, changed: Iterable[Transaction]) -> None:
        params = [
            {
                "b_account_id": t.account_id,
                "b_id": t.id,
                "b_status": t.status,
                "b_credits": t.credits_micros,
                "b_units": t.units,
                "b_settled_at": t.settled_at_us,
                "b_balance_after": t.balance_after_micros,
                "b_note": t.note,
            }
            for t in changed
        ]
        self._many(self.s.update_transaction, params)

    def insert_entries(self, entries: Iterable[Entry]) -> None:
        params = [
            {
                "account_id": e.account_id,
                "seq": e.seq,
                "transaction_id": e.transaction_id,
                "grant_id": e.grant_id,
                "kind": e.kind,
                "amount_micros": e.amount_micros,
                "hold_micros": e.hold_micros,
                "balance_after_micros": e.balance_after_micros,
                "reserved_after_micros": e.reserved_after_micros,
                "at_us": e.at_us,
            }
            for e in entries
        ]
        self._many(self.s.insert_entry, params)

    def upsert_usage(self, usage: dict[UsageKey, list[int]]) -> None:
        params = [
            {
                "account_id": key[0],
                "bucket_start_us": key[1],
                "operation": key[2],
                "api_key_id": key[3],
                "spend_micros": totals[0],
                "units": totals[1],
                "charges": totals[2],
            }
            for key, totals in usage.items()
        ]
        self._many(self.s.upsert_usage, params)

    def insert_idempotency(self, records: Iterable[IdempotencyRecord]) -> None:
        params = [
            {
                "account_id": r.account_id,
                "key": r.key,
                "fingerprint": r.fingerprint,
                "transaction_id": r.transaction_id,
                "created_at_us": r.created_at_us,
            }
            for r in records
        ]
        self._many(self.s.insert_idempotency, params)

    def _many(self, statement: Any, params: list[dict[str, Any]]) -> None:
        if params:
            self.connection.execute(statement, params)


def _grant_values(g: Grant) -> dict[str, Any]:
    return {
        "account_id": g.account_id,
        "id": g.id,
        "kind": str(g.kind),
        "priority": g.priority,
        "effective_at_us": g.effective_at_us,
        "expires_at_us": g.expires_at_us,
        "created_at_us": g.created_at_us,
        "amount_micros": g.amount_micros,
        "remaining_micros": g.remaining_micros,
        "held_micros": g.held_micros,
    }


def transaction_values(t: Transaction) -> dict[str, Any]:
    return {
        "account_id": t.account_id,
        "id": t.id,
        "created_at_us": t.created_at_us,
        "settled_at_us": t.settled_at_us,
        "type": t.type,
        "operation": t.operation,
        "status": str(t.status),
        "credits_micros": t.credits_micros,
        "balance_after_micros": t.balance_after_micros,
        "units": t.units,
        "reserved_units": t.reserved_units,
        "reserved_micros": t.reserved_micros,
        "unit_price_micros": t.unit_price_micros,
        "multiplier_ppm": t.multiplier_ppm,
        "expires_at_us": t.expires_at_us,
        "api_key_id": t.api_key_id,
        "idempotency_key": t.idempotency_key,
        "request_id": t.request_id,
        "reverses_id": t.reverses_id,
        "grant_id": t.grant_id,
        "note": t.note,
        "details": json.dumps(t.details, separators=(",", ":")) if t.details else None,
    }
