"""The price book: prices in force over time, spend tiers, Preview, and quotes."""

from __future__ import annotations

import pytest

from creditbook import limits
from creditbook.domain.pricing import (
    DEFAULT_PRICES,
    PPM_ONE,
    PREVIEW_OPERATION,
    STANDARD_TIER,
    Price,
    PriceBook,
    SpendTier,
    check_price,
    check_tier,
)
from creditbook.errors import InvalidInput, UnknownOperation

T = 1_000_000_000  # an arbitrary moment; prices below change around it


def changing_book() -> PriceBook:
    """`lookup` costs 100 until T, 150 from T; `late` exists only from T + 500."""
    return PriceBook(
        [
            Price("lookup", 150, T),
            Price("late", 7, T + 500),
            Price("lookup", 100, 0),
        ],
        [],
        preview_threshold_micros=0,
    )


TIERS = [
    # The first set, from 0: by lifetime spend.
    SpendTier("gold", 1_000, 800_000, 0),
    SpendTier("standard", 0, PPM_ONE, 0),
    SpendTier("silver", 100, 900_000, 0),
    # A replacement set from T.
    SpendTier("basic", 0, PPM_ONE, T),
    SpendTier("pro", 50, 500_000, T),
]


def tier_book(tiers: list[SpendTier] = TIERS, *, threshold: int = 1_000) -> PriceBook:
    return PriceBook(DEFAULT_PRICES, tiers, preview_threshold_micros=threshold)


# Prices over time


def test_the_price_in_force_changes_exactly_at_its_effective_moment() -> None:
    book = changing_book()
    assert book.price("lookup", T - 1).unit_price_micros == 100
    assert book.price("lookup", T).unit_price_micros == 150
    assert book.price("lookup", T + 1).unit_price_micros == 150
    assert book.price("lookup", 0).unit_price_micros == 100


def test_an_operation_is_unknown_before_its_first_price() -> None:
    book = changing_book()
    with pytest.raises(UnknownOperation) as caught:
        book.price("late", T + 499)
    assert caught.value.field == "operation"
    assert book.price("late", T + 500).unit_price_micros == 7


def test_an_unknown_operation_is_refused_listing_the_operations_known_then() -> None:
    book = changing_book()
    with pytest.raises(UnknownOperation) as caught:
        book.price("nope", T)
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.field == "operation"
    assert "'nope'" in caught.value.message
    assert caught.value.message.endswith("known: lookup.")
    with pytest.raises(UnknownOperation) as later:
        book.price("nope", T + 500)
    assert later.value.message.endswith("known: late, lookup.")


def test_operations_lists_the_prices_in_force_by_code() -> None:
    book = changing_book()
    assert [(p.operation, p.unit_price_micros) for p in book.operations(T - 1)] == [("lookup", 100)]
    assert [(p.operation, p.unit_price_micros) for p in book.operations(T + 500)] == [
        ("late", 7),
        ("lookup", 150),
    ]
    assert len(book.all_prices()) == 3


def test_the_default_prices_cover_every_operation_with_one_price_each() -> None:
    book = tier_book()
    codes = [p.operation for p in book.operations(0)]
    assert codes == sorted({p.operation for p in DEFAULT_PRICES})
    assert book.price("search_database", 0).unit_price_micros == 20_000
    assert book.price(PREVIEW_OPERATION, 0).unit_price_micros == 2_000


# Tiers


@pytest.mark.parametrize(
    ("lifetime", "name"),
    [(0, "standard"), (99, "standard"), (100, "silver"), (999, "silver"), (1_000, "gold")],
)
def test_the_tier_is_the_highest_one_the_lifetime_spend_has_reached(
    lifetime: int, name: str
) -> None:
    assert tier_book().tier(lifetime, T - 1).name == name


@pytest.mark.parametrize(("lifetime", "name"), [(0, "basic"), (49, "basic"), (1_000, "pro")])
def test_a_tier_set_replaces_the_previous_one_from_its_effective_moment(
    lifetime: int, name: str
) -> None:
    book = tier_book()
    assert book.tier(lifetime, T).name == name
    assert book.tier(lifetime, T + 1).name == name


def test_before_any_tier_set_is_in_force_the_standard_tier_applies() -> None:
    book = tier_book([SpendTier("pro", 0, 500_000, T)])
    assert book.tier(10**9, T - 1) == STANDARD_TIER
    assert book.tier(10**9, T).name == "pro"


def test_no_tiers_at_all_means_the_standard_tier() -> None:
    assert tier_book([]).tier(10**12, T) == STANDARD_TIER
    assert STANDARD_TIER.multiplier_ppm == PPM_ONE


def test_all_tiers_lists_every_tier_of_every_set() -> None:
    assert {t.name for t in tier_book().all_tiers()} == {t.name for t in TIERS}


# Preview and quotes


def test_preview_is_free_from_the_threshold_on() -> None:
    book = tier_book(threshold=1_000)
    below = book.quote(
        operation=PREVIEW_OPERATION, units=10, at_us=0, lifetime_micros=0, month_micros=999
    )
    at = book.quote(
        operation=PREVIEW_OPERATION, units=10, at_us=0, lifetime_micros=0, month_micros=1_000
    )
    assert not below.preview_free and below.amount_micros == 10 * 2_000
    assert at.preview_free and at.amount_micros == 0
    assert at.unit_price_micros == 2_000  # the price is still reported
    assert book.is_preview_tier(1_000) and not book.is_preview_tier(999)


def test_only_preview_becomes_free_at_the_threshold() -> None:
    quote = tier_book(threshold=1_000).quote(
        operation="search_database", units=10, at_us=0, lifetime_micros=0, month_micros=10**9
    )
    assert not quote.preview_free
    assert quote.amount_micros == 10 * 20_000


def test_a_quote_is_unit_price_times_units_times_the_tier_multiplier() -> None:
    book = tier_book()
    quote = book.quote(
        operation="search_database", units=225, at_us=T - 1, lifetime_micros=100, month_micros=0
    )
    # 225 × 0.02 USD = 4.5 USD, × 0.9 for silver = 4.05 USD.
    assert quote.amount_micros == 4_050_000
    assert (quote.operation, quote.units, quote.tier) == ("search_database", 225, "silver")
    assert quote.unit_price_micros == 20_000
    assert quote.multiplier_ppm == 900_000


def test_a_quote_rounds_the_tier_discount_half_away_from_zero() -> None:
    book = PriceBook(
        [Price("odd", 3, 0)], [SpendTier("half", 0, 500_000, 0)], preview_threshold_micros=0
    )
    # 3 × 1 unit × 0.5 = 1.5 micro-USD → 2.
    assert (
        book.quote(
            operation="odd", units=1, at_us=0, lifetime_micros=0, month_micros=0
        ).amount_micros
        == 2
    )


def test_a_quote_of_an_unknown_operation_is_refused() -> None:
    with pytest.raises(UnknownOperation):
        tier_book().quote(operation="nope", units=1, at_us=0, lifetime_micros=0, month_micros=0)


# Checks


def test_check_price_accepts_a_good_price_and_refuses_bad_codes_and_amounts() -> None:
    good = Price("email_validate", limits.unit_price_micros_max, 0)
    assert check_price(good) is good
    for code in ["", "Upper", "with-dash", "x" * 65, "é"]:
        with pytest.raises(InvalidInput) as caught:
            check_price(Price(code, 1, 0))
        assert caught.value.field == "operation"
    for amount in [-1, limits.unit_price_micros_max + 1]:
        with pytest.raises(InvalidInput) as caught:
            check_price(Price("ok", amount, 0))
        assert caught.value.field == "unit_price"


def test_check_tier_accepts_a_good_tier_and_refuses_bad_multipliers_and_thresholds() -> None:
    good = SpendTier("max", limits.balance_micros_max, limits.multiplier_ppm_max, 0)
    assert check_tier(good) is good
    for ppm in [0, -1, limits.multiplier_ppm_max + 1]:
        with pytest.raises(InvalidInput) as caught:
            check_tier(SpendTier("t", 0, ppm, 0))
        assert caught.value.field == "multiplier"
    for spend in [-1, limits.balance_micros_max + 1]:
        with pytest.raises(InvalidInput) as caught:
            check_tier(SpendTier("t", spend, PPM_ONE, 0))
        assert caught.value.field == "min_lifetime_spend"
