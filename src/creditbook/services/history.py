"""Transaction history: pages for the API, and CSV exports streamed in constant memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import AbstractContextManager

from sqlalchemy import Connection

from creditbook.clock import from_us
from creditbook.domain.history import CSV_COLUMNS, HistoryFilter, Page, csv_text, encode_cursor
from creditbook.domain.transactions import Transaction
from creditbook.errors import NotFound
from creditbook.money import format_usd_fixed
from creditbook.storage.repositories.history import HistoryRepository, export_rows
from creditbook.storage.store import Store


class History:
    def __init__(self, store: Store) -> None:
        self._store = store

    def page(
        self, *, account_id: str, wanted: HistoryFilter, page: Page
    ) -> tuple[list[Transaction], str | None]:
        """One page, newest first, and the cursor of the next page (None at the end)."""
        if wanted.created.empty or wanted.credits.empty or wanted.balance_after.empty:
            return [], None
        with self._store.read() as uow:
            rows = HistoryRepository(uow.connection).page(account_id, wanted, page)
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        return rows, encode_cursor(rows[-1].id) if more and rows else None

    def get(self, *, account_id: str, transaction_id: str) -> Transaction:
        with self._store.read() as uow:
            found = HistoryRepository(uow.connection).get(account_id, transaction_id)
        if found is None:
            raise NotFound("Transaction not found.")
        return found

    def export(self, *, account_id: str, wanted: HistoryFilter) -> Iterator[list[Transaction]]:
        """The whole filtered history, oldest first, in chunks."""
        return export_rows(self._connect, account_id, wanted)

    def csv(self, *, account_id: str, wanted: HistoryFilter) -> Iterator[str]:
        """CSV text, a header line then one chunk of rows at a time: exact decimal amounts,
        a running balance column, free text neutralised against spreadsheet formulas."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        yield _drain(buffer)
        for chunk in self.export(account_id=account_id, wanted=wanted):
            writer.writerows(csv_row(t) for t in chunk)
            yield _drain(buffer)

    def _connect(self) -> AbstractContextManager[Connection]:
        return self._store.engine.connect()


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate(0)
    return text


def _iso(at_us: int | None) -> str:
    return "" if at_us is None else from_us(at_us).isoformat().replace("+00:00", "Z")


def csv_row(t: Transaction) -> list[str | int]:
    return [
        t.id,
        _iso(t.created_at_us),
        _iso(t.settled_at_us),
        t.type,
        t.status,
        format_usd_fixed(t.credits_micros),
        format_usd_fixed(t.balance_after_micros),
        t.operation or "",
        t.units,
        format_usd_fixed(t.unit_price_micros),
        t.api_key_id or "",
        csv_text(t.idempotency_key),
        csv_text(t.request_id),
        t.reverses_id or "",
        csv_text(t.note),
    ]
