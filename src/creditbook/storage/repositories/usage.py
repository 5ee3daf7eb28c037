"""Usage buckets summed by local day, one SELECT per segment of constant UTC offset."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, literal_column, select, union_all

from creditbook.clock import US_PER_DAY
from creditbook.domain.usage import EPOCH, DayRow, Segment
from creditbook.storage.tables import usage_buckets

u = usage_buckets.c


def _day_expression(segment: Segment) -> Any:
    # Integers rendered inline (never caller text): PostgreSQL must see the same expression in
    # SELECT and GROUP BY, which two separate bound parameters would not be.
    if segment.offset_us is None:
        assert segment.day is not None
        return literal_column(str(int((segment.day - EPOCH).days)))
    offset: Any = literal_column(str(int(segment.offset_us)))
    return (u.bucket_start_us + offset) // literal_column(str(US_PER_DAY))


class UsageRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def day_rows(
        self, account_id: str, segments: list[Segment], *, api_key_id: str | None = None
    ) -> list[DayRow]:
        parts = []
        for segment in segments:
            day = _day_expression(segment).label("day")
            query = select(
                day,
                u.operation,
                func.sum(u.spend_micros),
                func.sum(u.units),
                func.sum(u.charges),
            ).where(
                u.account_id == account_id,
                u.bucket_start_us >= segment.lo_us,
                u.bucket_start_us < segment.hi_us,
            )
            if api_key_id is not None:
                query = query.where(u.api_key_id == api_key_id)
            parts.append(query.group_by(literal_column("1"), u.operation))
        if not parts:
            return []
        statement = parts[0] if len(parts) == 1 else union_all(*parts)
        return [
            (int(day), op, int(spend), int(units), int(charges))
            for day, op, spend, units, charges in self.connection.execute(statement)
        ]
