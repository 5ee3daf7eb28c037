"""Transaction history: pages for the API, and CSV exports streamed in constant memory."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection

from creditbook.clock import iso_z
from creditbook.domain.history import CSV_COLUMNS, HistoryFilter, Page, csv_text, encode_cursor
from creditbook.domain.transactions import Transaction
from creditbook.errors import NotFound
from creditbook.money import format_usd_fixed
from creditbook.storage.repositories.history import (
    CSV_SOURCE,
    HistoryRepository,
    export_chunks,
    export_rows,
)
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
        with self._store.read(transaction=False) as uow:  # one statement
            rows = HistoryRepository(uow.connection).page(account_id, wanted, page)
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        return rows, encode_cursor(rows[-1].id) if more and rows else None

    def get(self, *, account_id: str, transaction_id: str) -> Transaction:
        with self._store.read(transaction=False) as uow:
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
        yield ",".join(CSV_COLUMNS) + "\r\n"
        for chunk in export_chunks(self._connect, account_id, wanted, CSV_SOURCE):
            yield "".join(map(csv_line, chunk))

    def _connect(self) -> AbstractContextManager[Connection]:
        return self._store.engine.connect()


def _iso(at_us: int | None) -> str:
    return "" if at_us is None else iso_z(at_us)


_SPECIAL = re.compile(r'[,"\r\n]')


def _cell(text: str) -> str:
    """Quoted as the csv module quotes (QUOTE_MINIMAL): only when it has to be."""
    return '"' + text.replace('"', '""') + '"' if _SPECIAL.search(text) else text


def _free(value: str | None) -> str:
    return "" if value is None else _cell(csv_text(value))


def csv_line(row: Sequence[Any]) -> str:
    """One CSV line, CRLF-terminated, from a row read with the columns of `CSV_SOURCE`.
    Written without the csv module (a third of the export's time): ids, times, statuses and
    amounts never need quoting; every other text cell goes through `_cell`."""
    (txn_id, created, settled, kind, status, credits, balance, operation, units, price) = row[:10]
    key_id, idempotency_key, request_id, reverses_id, note = row[10:]
    created_text = _iso(created)
    cells = (
        txn_id,
        created_text,
        created_text if settled == created else _iso(settled),
        _cell(kind),
        status,
        format_usd_fixed(credits),
        format_usd_fixed(balance),
        _cell(operation or ""),
        str(units),
        format_usd_fixed(price),
        key_id or "",
        _free(idempotency_key),
        _free(request_id),
        reverses_id or "",
        _free(note),
    )
    return ",".join(cells) + "\r\n"
