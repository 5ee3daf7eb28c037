"""Money as integers of micro-USD: parsing from what callers send, formatting for what they read.

No float ever holds money here. Input is read from its decimal text; a value with more than six
decimals is refused rather than rounded, because a ledger that silently rounds what it was told
cannot be reconciled.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from creditbook import limits
from creditbook.errors import InvalidInput

_NOT_A_NUMBER = "Must be a number of USD with at most 6 decimals."
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DIGITS_MAX = 20  # integer digits beyond this exceed any limit; refuse before computing


def parse_usd(value: object, *, field: str, allow_negative: bool = False) -> int:
    """Read an amount in USD (text, int or Decimal) into micro-USD, exactly."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidInput(field, _NOT_A_NUMBER)
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
        raise InvalidInput(field, _NOT_A_NUMBER)
    try:
        amount = value if isinstance(value, Decimal) else Decimal(value)
    except InvalidOperation:
        raise InvalidInput(field, _NOT_A_NUMBER) from None
    if not amount.is_finite():
        raise InvalidInput(field, "Must be a finite number.")
    return check_amount(_exact_micros(amount, field), field=field, allow_negative=allow_negative)


def _exact_micros(amount: Decimal, field: str) -> int:
    """Micro-USD from the Decimal's own digits: no context rounding, however long or large."""
    sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)
    if any(digits) and len(digits) + exponent > _DIGITS_MAX:
        raise InvalidInput(field, f"Must be at most {format_usd(limits.amount_micros_max)} USD.")
    shift = exponent + limits.usd_decimals_max
    if shift >= 0:
        magnitude = int("".join(map(str, digits))) * 10**shift if any(digits) else 0
    else:
        kept, dropped = digits[:shift], digits[shift:]
        if any(dropped) or (-shift > len(digits) and any(digits)):
            raise InvalidInput(field, "At most 6 decimals (one micro-USD) are allowed.")
        magnitude = int("".join(map(str, kept))) if kept else 0
    return -magnitude if sign else magnitude


def check_amount(micros: int, *, field: str, allow_negative: bool = False) -> int:
    """Check an amount in micro-USD against the limits and sign; return it unchanged."""
    if micros < 0 and not allow_negative:
        raise InvalidInput(field, "Must not be negative.")
    if abs(micros) > limits.amount_micros_max:
        raise InvalidInput(field, f"Must be at most {format_usd(limits.amount_micros_max)} USD.")
    return micros


def to_decimal(micros: int) -> Decimal:
    """The exact USD value of an amount in micro-USD, with no trailing zeros."""
    value = Decimal(micros).scaleb(-6)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def format_usd(micros: int) -> str:
    """Exact decimal text of an amount, e.g. `-0.5`, `12`, `0.000001`; never exponent form:
    the digits `to_decimal` gives, from integer arithmetic (it is on the batch API's path)."""
    whole, frac = divmod(-micros if micros < 0 else micros, limits.MICROS_PER_USD)
    sign = "-" if micros < 0 else ""
    return f"{sign}{whole}.{frac:06d}".rstrip("0") if frac else f"{sign}{whole}"


def format_usd_fixed(micros: int) -> str:
    """Exact decimal text with all six decimals, e.g. `-0.500000`: for columns in CSV."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), limits.MICROS_PER_USD)
    return f"{sign}{whole}.{frac:06d}"


def scale_by_ppm(micros: int, ppm: int) -> int:
    """micros × ppm / 1e6, rounded half away from zero to the micro-USD."""
    product = micros * ppm
    quotient, rest = divmod(abs(product), 1_000_000)
    if rest * 2 >= 1_000_000:
        quotient += 1
    return quotient if product >= 0 else -quotient
