"""Money as integer micro-USD: exact parsing, exact text, and ppm scaling."""

from __future__ import annotations

from decimal import Decimal

import pytest

from creditbook import limits
from creditbook.errors import InvalidInput
from creditbook.money import (
    check_amount,
    format_usd,
    format_usd_fixed,
    parse_usd,
    scale_by_ppm,
    to_decimal,
)

# parse_usd


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        ("12.345678", 12_345_678),
        ("0.000001", 1),
        ("0.1", 100_000),
        ("7", 7_000_000),
        ("0", 0),
        ("1e3", 1_000 * 1_000_000),  # exponent form is exact, so accepted
        ("1.5E-3", 1_500),
        (5, 5_000_000),
        (Decimal("0.25"), 250_000),
        (Decimal("0.000001"), 1),
    ],
)
def test_parse_usd_reads_text_ints_and_decimals_exactly(value: object, micros: int) -> None:
    assert parse_usd(value, field="amount") == micros


def test_trailing_zeros_beyond_six_decimals_lose_nothing_and_are_accepted() -> None:
    assert parse_usd("1.50000000", field="amount") == 1_500_000


@pytest.mark.parametrize("value", ["0.0000001", "1.1234567", "0.0000015", "1e-7", "-0.0000001"])
def test_parse_usd_refuses_more_than_six_decimals_rather_than_rounding(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_usd(value, field="amount", allow_negative=True)
    assert caught.value.field == "amount"
    assert "6 decimals" in caught.value.message


@pytest.mark.parametrize(
    "value",
    ["1.0000000000000000000000000001", Decimal("1.0000000000000000000000000001")],
)
def test_parse_usd_refuses_a_long_fraction_beyond_decimal_precision(value: object) -> None:
    with pytest.raises(InvalidInput):
        parse_usd(value, field="amount")


def test_parse_usd_refuses_a_tiny_value_that_would_underflow() -> None:
    with pytest.raises(InvalidInput):
        parse_usd("1e-2000000", field="amount")


def test_parse_usd_refuses_a_huge_exponent_as_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        parse_usd("1e1000000", field="amount")


@pytest.mark.parametrize("value", ["NaN", "nan", "sNaN", "Infinity", "-inf", Decimal("NaN")])
def test_parse_usd_refuses_nan_and_infinity(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_usd(value, field="amount", allow_negative=True)
    assert caught.value.field == "amount"
    assert "finite" in caught.value.message or "number" in caught.value.message


@pytest.mark.parametrize("value", [True, False])
def test_parse_usd_refuses_bools_although_they_are_ints(value: bool) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_usd(value, field="amount")
    assert caught.value.field == "amount"


@pytest.mark.parametrize("value", [0.1, 1.0, None, [1], b"1", "", "abc", "1,5", "0x10"])
def test_parse_usd_refuses_floats_and_anything_that_is_not_decimal_text(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_usd(value, field="price")
    assert caught.value.field == "price"


@pytest.mark.parametrize("value", ["-0.5", -1, Decimal("-0.000001")])
def test_parse_usd_refuses_negatives_unless_allowed(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_usd(value, field="amount")
    assert caught.value.message == "Must not be negative."


def test_parse_usd_reads_a_negative_when_allowed() -> None:
    assert parse_usd("-0.5", field="amount", allow_negative=True) == -500_000
    assert parse_usd(-2, field="amount", allow_negative=True) == -2_000_000


def test_negative_zero_is_zero_and_not_refused() -> None:
    assert parse_usd("-0", field="amount") == 0


def test_parse_usd_accepts_the_largest_single_amount_and_refuses_one_micro_more() -> None:
    assert parse_usd("1000000000", field="amount") == limits.amount_micros_max
    with pytest.raises(InvalidInput) as caught:
        parse_usd("1000000000.000001", field="amount")
    assert caught.value.field == "amount"
    with pytest.raises(InvalidInput):
        parse_usd("-1000000000.000001", field="amount", allow_negative=True)


def test_check_amount_returns_the_amount_unchanged_within_limits() -> None:
    assert check_amount(123, field="amount") == 123
    assert check_amount(-123, field="amount", allow_negative=True) == -123
    with pytest.raises(InvalidInput):
        check_amount(-1, field="amount")
    with pytest.raises(InvalidInput):
        check_amount(limits.amount_micros_max + 1, field="amount")


# format_usd and format_usd_fixed


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "0"),
        (1, "0.000001"),
        (-1, "-0.000001"),
        (10, "0.00001"),
        (500_000, "0.5"),
        (-500_000, "-0.5"),
        (1_500_000, "1.5"),
        (1_234_567, "1.234567"),
        (12_000_000, "12"),
        (120_000_000, "120"),  # not 1.2E+2
        (-120_000_000, "-120"),
        (limits.amount_micros_max, "1000000000"),
        (limits.balance_micros_max, "1000000000000"),
    ],
)
def test_format_usd_gives_exact_text_without_trailing_zeros_or_exponent(
    micros: int, text: str
) -> None:
    assert format_usd(micros) == text


@pytest.mark.parametrize("micros", [0, 1, -1, 999_999, 1_000_001, -123_456_789, 10**15])
def test_format_usd_reads_back_to_the_same_micros(micros: int) -> None:
    assert parse_usd(format_usd(micros), field="amount", allow_negative=True) == micros


def test_to_decimal_is_the_exact_value() -> None:
    assert to_decimal(1_234_567) == Decimal("1.234567")
    assert to_decimal(-1) == Decimal("-0.000001")


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "0.000000"),
        (1, "0.000001"),
        (-1, "-0.000001"),
        (500_000, "0.500000"),
        (-500_000, "-0.500000"),
        (12_000_000, "12.000000"),
        (-12_345_678, "-12.345678"),
        (limits.amount_micros_max, "1000000000.000000"),
    ],
)
def test_format_usd_fixed_always_shows_six_decimals(micros: int, text: str) -> None:
    assert format_usd_fixed(micros) == text


# scale_by_ppm


@pytest.mark.parametrize(
    ("micros", "ppm", "scaled"),
    [
        (1_234_567, 1_000_000, 1_234_567),  # × 1
        (4, 500_000, 2),  # exact
        (5, 500_000, 3),  # 2.5 → 3
        (-5, 500_000, -3),  # -2.5 → -3, away from zero
        (5, -500_000, -3),
        (-5, -500_000, 3),
        (1, 499_999, 0),  # 0.499999 → 0
        (1, 500_001, 1),  # 0.500001 → 1
        (-1, 499_999, 0),
        (-1, 500_001, -1),
        (7, 1_100_000, 8),  # 7.7 → 8
        (-7, 1_100_000, -8),
        (3, 1_500_000, 5),  # 4.5 → 5, not banker's 4
        (-3, 1_500_000, -5),
        (0, 1_234_567, 0),
        (10**15, 10_000_000, 10**16),
    ],
)
def test_scale_by_ppm_rounds_half_away_from_zero(micros: int, ppm: int, scaled: int) -> None:
    assert scale_by_ppm(micros, ppm) == scaled
