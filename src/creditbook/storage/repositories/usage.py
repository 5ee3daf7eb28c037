"""Usage summed by local day, one SELECT per segment of constant UTC offset: from the hourly
rollup when the segment's local midnights fall on the hour, else from the 15-minute buckets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, func, literal_column, select, union_all

from creditbook.clock import US_PER_DAY
from creditbook.domain.usage import EPOCH, HOUR_US, DayRow, Segment
from creditbook.storage.tables import usage_buckets, usage_hours


def _source(segment: Segment) -> tuple[Any, Any]:
    """The table to read, and its time column."""
    if segment.lo_us % HOUR_US == 0 and segment.hi_us % HOUR_US == 0:
        return usage_hours, usage_hours.c.hour_start_us
    return usage_buckets, usage_buckets.c.bucket_start_us


def _day_expression(segment: Segment, start: Any) -> Any:
    # Integers rendered inline (never caller text): PostgreSQL must see the same expression in
    # SELECT and GROUP BY, which two separate bound parameters would not be.
    if segment.offset_us is None:
        assert segment.day is not None
        return literal_column(str(int((segment.day - EPOCH).days)))
    offset: Any = literal_column(str(int(segment.offset_us)))
    return (start + offset) // literal_column(str(US_PER_DAY))


class UsageRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def day_rows(
        self, account_id: str, segments: list[Segment], *, api_key_id: str | None = None
    ) -> list[DayRow]:
        parts: list[Select[Any]] = [
            _segment_query(account_id, segment, api_key_id) for segment in segments
        ]
        if not parts:
            return []
        statement: Any = parts[0] if len(parts) == 1 else union_all(*parts)
        return [
            (int(day), op, int(spend), int(units), int(charges))
            for day, op, spend, units, charges in self.connection.execute(statement)
        ]


def _segment_query(account_id: str, segment: Segment, api_key_id: str | None) -> Select[Any]:
    table, start = _source(segment)
    u = table.c
    day = _day_expression(segment, start).label("day")
    query = select(
        day, u.operation, func.sum(u.spend_micros), func.sum(u.units), func.sum(u.charges)
    ).where(u.account_id == account_id, start >= segment.lo_us, start < segment.hi_us)
    if api_key_id is not None:
        query = query.where(u.api_key_id == api_key_id)
    return query.group_by(literal_column("1"), u.operation)
