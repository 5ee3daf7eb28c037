"""The price book: unit prices over time, spend tiers, and the Preview-tier rule.

A price takes effect from a moment; a charge is priced by the entries in force when it is
accepted, and stores what it was charged, so a later change never alters a past charge.
Spend tiers multiply the unit price by a factor chosen by the account's lifetime spend; a tier
set replaces the previous set from its effective moment. While an account's spend in the
current UTC calendar month has reached the Preview threshold, `preview` costs nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from creditbook import limits
from creditbook.errors import InvalidInput, UnknownOperation
from creditbook.money import scale_by_ppm

PREVIEW_OPERATION = "preview"
_END_OF_TIME = 2**62
PPM_ONE = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    operation: str
    unit_price_micros: int
    effective_from_us: int
    unit: str = "unit"
    description: str = ""


@dataclass(frozen=True, slots=True)
class SpendTier:
    name: str
    min_lifetime_spend_micros: int
    multiplier_ppm: int
    effective_from_us: int


class Quote(NamedTuple):
    """What a charge of `units` costs now, and why."""

    operation: str
    units: int
    unit_price_micros: int
    multiplier_ppm: int
    amount_micros: int
    tier: str
    preview_free: bool


STANDARD_TIER = SpendTier("standard", 0, PPM_ONE, 0)

# Generect's standard tier, in micro-USD per unit.
DEFAULT_PRICES = (
    Price("search_realtime", 40_000, 0, "result", "Lead search in real time, per result"),
    Price("enrich_realtime", 40_000, 0, "result", "Enrichment in real time, per result"),
    Price("search_database", 20_000, 0, "result", "Lead search in the database, per result"),
    Price("enrich_database", 20_000, 0, "result", "Enrichment from the database, per result"),
    Price("email_find", 20_000, 0, "valid email", "Email finding, per valid email"),
    Price("email_validate", 5_000, 0, "email", "Email validation, per email"),
    Price(PREVIEW_OPERATION, 2_000, 0, "row", "Masked preview rows, per row"),
    Price("phone_find", 400_000, 0, "found phone", "Phone finding, per found phone"),
    Price("count_realtime", 40_000, 0, "request", "Real-time count, per request"),
)


class PriceBook:
    """Prices and tiers as of any moment; immutable once built."""

    def __init__(
        self,
        prices: Iterable[Price],
        tiers: Iterable[SpendTier],
        *,
        preview_threshold_micros: int,
        revision: int = 0,
    ) -> None:
        self.revision = revision
        self.preview_threshold_micros = preview_threshold_micros
        self._prices: dict[str, list[Price]] = {}
        for price in sorted(prices, key=lambda p: (p.operation, p.effective_from_us)):
            self._prices.setdefault(price.operation, []).append(price)
        self._starts = {op: [p.effective_from_us for p in ps] for op, ps in self._prices.items()}
        # The entry in force per operation and the interval it covers: most lookups are "now".
        self._last: dict[str, tuple[int, int, Price]] = {}
        tier_sets: dict[int, list[SpendTier]] = {}
        for tier in tiers:
            tier_sets.setdefault(tier.effective_from_us, []).append(tier)
        self._tier_starts = sorted(tier_sets)
        self._tier_sets = [
            sorted(tier_sets[at], key=lambda t: t.min_lifetime_spend_micros)
            for at in self._tier_starts
        ]

    def operations(self, at_us: int) -> list[Price]:
        """Every operation priced at `at_us`, by code."""
        found = (self._in_force(op, at_us) for op in sorted(self._prices))
        return [price for price in found if price is not None]

    def all_prices(self) -> list[Price]:
        return [price for prices in self._prices.values() for price in prices]

    def all_tiers(self) -> list[SpendTier]:
        return [tier for tiers in self._tier_sets for tier in tiers]

    def price(self, operation: str, at_us: int) -> Price:
        price = self._in_force(operation, at_us)
        if price is None:
            known = ", ".join(p.operation for p in self.operations(at_us))
            raise UnknownOperation("operation", f"Unknown operation {operation!r}; known: {known}.")
        return price

    def tier(self, lifetime_spend_micros: int, at_us: int) -> SpendTier:
        if not self._tier_starts:
            return STANDARD_TIER
        index = bisect.bisect_right(self._tier_starts, at_us) - 1
        if index < 0:
            return STANDARD_TIER
        chosen = STANDARD_TIER
        for tier in self._tier_sets[index]:
            if tier.min_lifetime_spend_micros <= lifetime_spend_micros:
                chosen = tier
        return chosen

    def is_preview_tier(self, month_spend_micros: int) -> bool:
        return month_spend_micros >= self.preview_threshold_micros

    def quote(
        self, *, operation: str, units: int, at_us: int, lifetime_micros: int, month_micros: int
    ) -> Quote:
        price = self.price(operation, at_us)
        tier = self.tier(lifetime_micros, at_us)
        free = operation == PREVIEW_OPERATION and self.is_preview_tier(month_micros)
        ppm = tier.multiplier_ppm
        base = price.unit_price_micros * units
        amount = 0 if free else base if ppm == PPM_ONE else scale_by_ppm(base, ppm)
        return Quote(operation, units, price.unit_price_micros, ppm, amount, tier.name, free)

    def _in_force(self, operation: str, at_us: int) -> Price | None:
        cached = self._last.get(operation)
        if cached is not None and cached[0] <= at_us < cached[1]:
            return cached[2]
        starts = self._starts.get(operation)
        if not starts:
            return None
        index = bisect.bisect_right(starts, at_us) - 1
        if index < 0:
            return None
        until = starts[index + 1] if index + 1 < len(starts) else _END_OF_TIME
        price = self._prices[operation][index]
        self._last[operation] = (starts[index], until, price)
        return price


def check_price(price: Price) -> Price:
    """Refuse a price entry that the book could not honour."""
    code = price.operation
    if not code or len(code) > limits.operation_code_length_max or not _is_code(code):
        raise InvalidInput("operation", "Use 1-64 characters of a-z, 0-9 and underscore.")
    if not 0 <= price.unit_price_micros <= limits.unit_price_micros_max:
        raise InvalidInput("unit_price", "Must be between 0 and 1000 USD.")
    return price


def check_tier(tier: SpendTier) -> SpendTier:
    if not 0 < tier.multiplier_ppm <= limits.multiplier_ppm_max:
        raise InvalidInput("multiplier", "Must be above 0 and at most 10.")
    if not 0 <= tier.min_lifetime_spend_micros <= limits.balance_micros_max:
        raise InvalidInput("min_lifetime_spend", "Must be between 0 and the balance limit.")
    return tier


def _is_code(code: str) -> bool:
    return all(ch.isascii() and (ch.islower() or ch.isdigit() or ch == "_") for ch in code)
