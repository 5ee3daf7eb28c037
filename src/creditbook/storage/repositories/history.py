"""Reading an account's transactions: pages newest first, and a keyset scan for exports."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Row, Select, select

from creditbook import ids, limits
from creditbook.domain.history import Bounds, HistoryFilter, Page
from creditbook.domain.transactions import Transaction
from creditbook.storage.repositories.ledger import TRANSACTION_COLUMNS, transaction_from_row
from creditbook.storage.tables import transactions

t = transactions.c
# What a CSV export shows, in its column order: read as plain rows, no Transaction objects.
CSV_SOURCE = (
    t.id,
    t.created_at_us,
    t.settled_at_us,
    t.type,
    t.status,
    t.credits_micros,
    t.balance_after_micros,
    t.operation,
    t.units,
    t.unit_price_micros,
    t.api_key_id,
    t.idempotency_key,
    t.request_id,
    t.reverses_id,
    t.note,
)


def _bounded(query: Select[Any], column: Any, bounds: Bounds) -> Select[Any]:
    low, high = bounds.low(), bounds.high()
    if low is not None:
        query = query.where(column >= low)
    if high is not None:
        query = query.where(column <= high)
    return query


def _filtered(
    account_id: str, wanted: HistoryFilter, columns: Sequence[Any] = TRANSACTION_COLUMNS
) -> Select[Any]:
    query = select(*columns).where(t.account_id == account_id)
    created = wanted.created
    low, high = created.low(), created.high()
    # The id carries the creation millisecond: bound the primary-key range first.
    if low is not None:
        query = query.where(t.id >= ids.lowest_id("txn", low))
    if high is not None:
        query = query.where(t.id < ids.lowest_id("txn", (high // 1_000 + 1) * 1_000))
    query = _bounded(query, t.created_at_us, created)
    query = _bounded(query, t.credits_micros, wanted.credits)
    query = _bounded(query, t.balance_after_micros, wanted.balance_after)
    if wanted.status is not None:
        query = query.where(t.status == wanted.status)
    if wanted.type is not None:
        query = query.where(t.type == wanted.type)
    return query


class HistoryRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def page(self, account_id: str, wanted: HistoryFilter, page: Page) -> list[Transaction]:
        """Newest first; one row more than asked, to tell whether another page follows."""
        query = _filtered(account_id, wanted)
        if page.before_id is not None:
            query = query.where(t.id < page.before_id)
        query = query.order_by(t.id.desc()).limit(page.limit + 1).offset(page.offset)
        return [transaction_from_row(row) for row in self.connection.execute(query)]

    def get(self, account_id: str, transaction_id: str) -> Transaction | None:
        query = select(*TRANSACTION_COLUMNS).where(
            t.account_id == account_id, t.id == transaction_id
        )
        row = self.connection.execute(query).first()
        return transaction_from_row(row) if row is not None else None

    def newest_id(self, account_id: str) -> str | None:
        query = select(t.id).where(t.account_id == account_id).order_by(t.id.desc()).limit(1)
        return self.connection.execute(query).scalar()

    def chunk(
        self,
        account_id: str,
        wanted: HistoryFilter,
        *,
        after_id: str | None,
        up_to_id: str,
        columns: Sequence[Any] = TRANSACTION_COLUMNS,
    ) -> list[Row[Any]]:
        """The next rows of an oldest-first export, by primary key, at most `up_to_id`."""
        query = _filtered(account_id, wanted, columns).where(t.id <= up_to_id)
        if after_id is not None:
            query = query.where(t.id > after_id)
        query = query.order_by(t.id).limit(limits.export_chunk_rows)
        return list(self.connection.execute(query).all())


def export_rows(
    open_connection: Any, account_id: str, wanted: HistoryFilter
) -> Iterator[list[Transaction]]:
    """Chunks of an export as transactions (see `export_chunks`)."""
    for rows in export_chunks(open_connection, account_id, wanted, TRANSACTION_COLUMNS):
        yield [transaction_from_row(row) for row in rows]


def export_chunks(
    open_connection: Any, account_id: str, wanted: HistoryFilter, columns: Sequence[Any]
) -> Iterator[list[Row[Any]]]:
    """Chunks of an export, oldest first, each read in a short transaction of its own;
    the export ends at the newest transaction that existed when it started."""
    with open_connection() as connection:
        newest = HistoryRepository(connection).newest_id(account_id)
    if newest is None:
        return
    after: str | None = None
    while True:
        with open_connection() as connection:
            rows = HistoryRepository(connection).chunk(
                account_id, wanted, after_id=after, up_to_id=newest, columns=columns
            )
        if not rows:
            return
        yield rows
        after = rows[-1].id
