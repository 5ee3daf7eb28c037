"""Money as integers of micro-USD: parsing from what callers send, formatting for what they read.

No float ever holds money here. Input is read from its decimal text; a value with more than six
decimals is refused rather than rounded, because a ledger that silently rounds what it was told
cannot be reconciled.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from creditbook import limits
from creditbook.errors import InvalidInput

_SCALE = Decimal(limits.MICROS_PER_USD)


def parse_usd(value: object, *, field: str, allow_negative: bool = False) -> int:
    """Read an amount in USD (text, int or Decimal) into micro-USD, exactly."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidInput(field, "Must be a number of USD with at most 6 decimals.")
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise InvalidInput(field, "Must be a number of USD with at most 6 decimals.") from None
    if not amount.is_finite():
        raise InvalidInput(field, "Must be a finite number.")
    micros = amount * _SCALE
    if micros != micros.to_integral_value():
        raise InvalidInput(field, "At most 6 decimals (one micro-USD) are allowed.")
    return check_amount(int(micros), field=field, allow_negative=allow_negative)


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
    """Exact decimal text of an amount, e.g. `-0.5`, `12`, `0.000001`; never exponent form."""
    return format(to_decimal(micros), "f")


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
