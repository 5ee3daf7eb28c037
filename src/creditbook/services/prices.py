"""The operator's price book: read it, add prices and spend tiers from a moment on."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError

from creditbook.domain.pricing import Price, PriceBook, SpendTier, check_price, check_tier
from creditbook.errors import Conflict, InvalidInput
from creditbook.storage.repositories.prices import PriceRepository
from creditbook.storage.store import Store


class Prices:
    def __init__(self, store: Store) -> None:
        self._store = store

    def book(self) -> PriceBook:
        return self._store.price_book()

    def current(self) -> list[Price]:
        return self.book().operations(self._store.clock.now_us())

    def change(
        self,
        *,
        prices: Sequence[Price] = (),
        tiers: Sequence[SpendTier] | None = None,
        effective_from_us: int | None = None,
    ) -> PriceBook:
        """Add prices (and a replacement tier set) in force from `effective_from_us` (now by
        default). Past moments are refused: a charge already made keeps its price."""
        now = self._store.clock.now_us()
        start = now if effective_from_us is None else effective_from_us
        if start < now:
            raise InvalidInput("effective_from", "Must not be in the past.")
        entries = [
            check_price(Price(p.operation, p.unit_price_micros, start, p.unit, p.description))
            for p in prices
        ]
        if len({p.operation for p in entries}) != len(entries):
            raise InvalidInput("prices", "Each operation may appear once.")
        tier_set = [
            check_tier(SpendTier(t.name, t.min_lifetime_spend_micros, t.multiplier_ppm, start))
            for t in tiers or ()
        ]
        if not entries and not tier_set:
            raise InvalidInput("prices", "Nothing to change.")
        try:
            with self._store.write() as uow:
                PriceRepository(uow.connection).add(entries, tier_set, now_us=now)
                uow.commit()
        except IntegrityError:
            raise Conflict("A price for this operation already starts at that moment.") from None
        return self.book()
