"""The price book in the database: prices and spend tiers with their effective moments."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, select, update

from creditbook.domain.pricing import Price, PriceBook, SpendTier
from creditbook.storage.tables import price_book_meta, prices, spend_tiers


class PriceRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def revision(self) -> int:
        query = select(price_book_meta.c.revision).where(price_book_meta.c.id == 1)
        return int(self.connection.execute(query).scalar_one())

    def load(self, *, preview_threshold_micros: int) -> PriceBook:
        revision = self.revision()
        price_rows = self.connection.execute(
            select(
                prices.c.operation,
                prices.c.unit_price_micros,
                prices.c.effective_from_us,
                prices.c.unit,
                prices.c.description,
            )
        )
        tier_rows = self.connection.execute(
            select(
                spend_tiers.c.name,
                spend_tiers.c.min_lifetime_spend_micros,
                spend_tiers.c.multiplier_ppm,
                spend_tiers.c.effective_from_us,
            )
        )
        return PriceBook(
            [Price(*row) for row in price_rows],
            [SpendTier(*row) for row in tier_rows],
            preview_threshold_micros=preview_threshold_micros,
            revision=revision,
        )

    def add(self, entries: Sequence[Price], tiers: Sequence[SpendTier], *, now_us: int) -> int:
        """Add price entries and (optionally) a tier set; returns the new revision."""
        if entries:
            self.connection.execute(
                prices.insert(),
                [
                    {
                        "operation": p.operation,
                        "effective_from_us": p.effective_from_us,
                        "unit_price_micros": p.unit_price_micros,
                        "unit": p.unit,
                        "description": p.description,
                        "created_at_us": now_us,
                    }
                    for p in entries
                ],
            )
        if tiers:
            self.connection.execute(
                spend_tiers.insert(),
                [
                    {
                        "effective_from_us": t.effective_from_us,
                        "min_lifetime_spend_micros": t.min_lifetime_spend_micros,
                        "name": t.name,
                        "multiplier_ppm": t.multiplier_ppm,
                        "created_at_us": now_us,
                    }
                    for t in tiers
                ],
            )
        bump = update(price_book_meta).where(price_book_meta.c.id == 1)
        self.connection.execute(bump.values(revision=price_book_meta.c.revision + 1))
        return self.revision()


class PriceBookCache:
    """The current price book, reloaded only when its revision number moves.

    The writer learns the revision from its locking read and calls `at_revision`; a reload
    reads through a pooled connection of its own.
    """

    def __init__(self, *, preview_threshold_micros: int) -> None:
        self._threshold = preview_threshold_micros
        self._book: PriceBook | None = None
        self._lock = threading.Lock()

    def get(self, connection: Connection, revision: int | None = None) -> PriceBook:
        book = self._book
        if revision is None:
            revision = PriceRepository(connection).revision()
        if book is not None and book.revision == revision:
            return book
        loaded = PriceRepository(connection).load(preview_threshold_micros=self._threshold)
        with self._lock:
            self._book = loaded
        return loaded

    def at_revision(self, engine: Engine, revision: int) -> PriceBook:
        book = self._book
        if book is not None and book.revision >= revision:
            return book
        with engine.connect() as connection:
            return self.get(connection, revision)
