"""Which transactions a history query asks for: filters, paging, and the CSV columns.

Transactions are listed newest first by id. Ids are made from the ledger clock's millisecond,
so a creation-time range is also an id range: the database answers it from the primary key,
and the exact microsecond bound is applied on top.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from creditbook import limits
from creditbook.errors import InvalidInput

STATUSES = ("pending", "success", "error")


@dataclass(frozen=True, slots=True)
class Bounds:
    """An integer range; each side inclusive or exclusive, or open."""

    gte: int | None = None
    gt: int | None = None
    lte: int | None = None
    lt: int | None = None

    def low(self) -> int | None:
        """The smallest value allowed, or None."""
        candidates = [
            v for v in (self.gte, None if self.gt is None else self.gt + 1) if v is not None
        ]
        return max(candidates) if candidates else None

    def high(self) -> int | None:
        """The largest value allowed, or None."""
        candidates = [
            v for v in (self.lte, None if self.lt is None else self.lt - 1) if v is not None
        ]
        return min(candidates) if candidates else None

    @property
    def empty(self) -> bool:
        low, high = self.low(), self.high()
        return low is not None and high is not None and low > high


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    created: Bounds = Bounds()
    credits: Bounds = Bounds()
    balance_after: Bounds = Bounds()
    status: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    limit: int = limits.page_size_default
    offset: int = 0
    before_id: str | None = None  # from a cursor: continue with ids below this one


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        text = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    version, _, last_id = text.partition(":")
    if version != "v1" or not last_id or len(last_id) > 64:
        raise InvalidInput("cursor", "Not a cursor this API returned.")
    return last_id


def check_page(limit: int, offset: int, cursor: str | None) -> Page:
    if not 1 <= limit <= limits.page_size_max:
        raise InvalidInput("limit", f"Must be between 1 and {limits.page_size_max}.")
    if offset < 0:
        raise InvalidInput("offset", "Must not be negative.")
    if cursor is not None and offset:
        raise InvalidInput("cursor", "Use either cursor or offset, not both.")
    return Page(limit, offset, decode_cursor(cursor) if cursor is not None else None)


CSV_COLUMNS = (
    "id",
    "created_at",
    "settled_at",
    "type",
    "status",
    "credits",
    "balance_after",
    "operation",
    "units",
    "unit_price",
    "api_key_id",
    "idempotency_key",
    "request_id",
    "reverses",
    "note",
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str | None) -> str:
    """A free-text cell that a spreadsheet will not run as a formula."""
    if not value:
        return ""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value
