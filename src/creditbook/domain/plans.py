"""Plan cycles: an account on a plan gets its allotment at local midnight of its cycle day
(1-28, so every month has it) in the account's time zone.

Pure date arithmetic; the clock decides when to run it, the ledger's `Renew` does the granting.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple
from zoneinfo import ZoneInfo

from creditbook.clock import from_us
from creditbook.domain.usage import local_midnight_us

NONE = "none"
CAPPED = "capped"
ROLLOVERS = (NONE, CAPPED)
CYCLE_DAY_MAX = 28
# A plan grant expires this long after the next renewal: the renewal normally writes it off
# first (carrying what the rollover allows); if the clock is down, expiry catches it later.
GRACE_US = 86_400_000_000


class Subscription(NamedTuple):
    account_id: str
    allotment_micros: int
    cycle_day: int
    rollover: str
    rollover_cap_micros: int | None
    next_renewal_at_us: int
    created_at_us: int
    updated_at_us: int


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def cycle_start_us(at_us: int, cycle_day: int, zone: ZoneInfo) -> int:
    """The latest start of a cycle at or before `at_us`."""
    local = from_us(at_us).astimezone(zone).date()
    year, month = local.year, local.month
    if local.day < cycle_day:
        year, month = _add_months(year, month, -1)
    start = local_midnight_us(date(year, month, cycle_day), zone)
    if start > at_us:  # the local day has begun but its midnight is ahead (a DST gap)
        year, month = _add_months(year, month, -1)
        start = local_midnight_us(date(year, month, cycle_day), zone)
    return start


def next_cycle_us(start_us: int, cycle_day: int, zone: ZoneInfo) -> int:
    """The start of the cycle after the one starting at `start_us`."""
    local = from_us(start_us).astimezone(zone).date()
    year, month = _add_months(local.year, local.month, 1)
    return local_midnight_us(date(year, month, cycle_day), zone)
