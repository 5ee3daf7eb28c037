"""Usage at given instants: for each (operation, API key) series of an account, the running
totals of its latest bucket that starts before each instant (`usage_buckets`' cum columns).

Two parts in one statement: the account's series, found by skipping through the primary key
(account, operation, API key, bucket) one series at a time, and the latest bucket of each series
before each instant. SQLite: one max() seek per series and instant. PostgreSQL, where a seek
costs more: first the bucket just before each instant for all series at once (one seek per
instant by `ix_usage_buckets_time`), then a LATERAL `ORDER BY ... DESC LIMIT 1` only for the
series that had no bucket there."""

from __future__ import annotations

import json

from sqlalchemy import Connection, text

from creditbook.domain.usage import SeriesTotals, bucket_start_us

TIME_MAX_US = 2**62  # an instant after every bucket ("until now and beyond")

# The series after s: the next key of s's operation, else the first key of the next operation;
# each a min() seek on the primary key (a row-value `>` would make SQLite walk s's buckets).
_MIN = "(SELECT min(u.{column}) FROM usage_buckets u WHERE u.account_id = :account_id AND {where})"
_NEXT_OP = _MIN.format(column="operation", where="u.operation > s.operation")
_SAME_OP_KEY = _MIN.format(
    column="api_key_id", where="u.operation = s.operation AND u.api_key_id > s.api_key_id"
)
_FIRST_OP = _MIN.format(column="operation", where="1 = 1")


def _first_key(operation: str) -> str:
    return _MIN.format(column="api_key_id", where=f"u.operation = {operation}")


# The statements are put together from constant fragments only; every value is a parameter.
SERIES = f"""WITH RECURSIVE s(operation, api_key_id) AS (
    SELECT {_FIRST_OP}, {_first_key(_FIRST_OP)}
    UNION ALL
    SELECT CASE WHEN {_SAME_OP_KEY} IS NULL THEN {_NEXT_OP} ELSE s.operation END,
        coalesce({_SAME_OP_KEY}, {_first_key(_NEXT_OP)})
    FROM s WHERE s.operation IS NOT NULL
), series AS (SELECT operation, api_key_id FROM s WHERE operation IS NOT NULL {{key}})
"""  # noqa: S608
SAME_SERIES = """u.account_id = :account_id AND u.operation = series.operation
    AND u.api_key_id = series.api_key_id"""
# One row per series: its running totals at every instant, aggregated in the database so the
# driver hands over a few arrays rather than a row per series and instant.
# SQLite has no LATERAL, and joining usage_buckets on the key found by a max() seek makes its
# planner build a Bloom filter by scanning the whole table. So one max() seek per series and
# instant returns the row's running totals as "bare columns" (documented: they come from the row
# holding the max), packed with the instant's index in a JSON array (nulls before the series'
# first bucket).
SQLITE = f"""{SERIES}
SELECT operation, api_key_id, json_group_array(json(packed)) FROM (
    SELECT series.operation, series.api_key_id, (
        SELECT json_array(b.key, max(u.bucket_start_us),
            u.cum_spend_micros, u.cum_units, u.cum_charges)
        FROM usage_buckets u WHERE {SAME_SERIES} AND u.bucket_start_us < b.value) AS packed
    FROM series CROSS JOIN json_each(:instants) AS b
) GROUP BY operation, api_key_id
"""  # noqa: S608
# `near` is, for each instant, the start of the bucket just before it; its rows are read for all
# series in one index scan, and the LATERAL seek is skipped (a one-time filter) where one matched.
POSTGRESQL = f"""{SERIES}, b AS (
    SELECT * FROM unnest(CAST(:instants AS BIGINT[]), CAST(:near AS BIGINT[]))
        WITH ORDINALITY AS t(at_us, near_us, i)
), near AS (
    SELECT u.operation, u.api_key_id, u.bucket_start_us,
        u.cum_spend_micros, u.cum_units, u.cum_charges
    FROM usage_buckets u
    WHERE u.account_id = :account_id AND u.bucket_start_us = ANY(CAST(:near AS BIGINT[]))
)
SELECT series.operation, series.api_key_id,
    array_agg(coalesce(n.cum_spend_micros, c.cum_spend_micros, 0) ORDER BY b.i),
    array_agg(coalesce(n.cum_units, c.cum_units, 0) ORDER BY b.i),
    array_agg(coalesce(n.cum_charges, c.cum_charges, 0) ORDER BY b.i)
FROM series CROSS JOIN b
LEFT JOIN near n ON n.operation = series.operation AND n.api_key_id = series.api_key_id
    AND n.bucket_start_us = b.near_us
LEFT JOIN LATERAL (
    SELECT u.cum_spend_micros, u.cum_units, u.cum_charges FROM usage_buckets u
    WHERE n.operation IS NULL AND {SAME_SERIES} AND u.bucket_start_us < b.at_us
    ORDER BY u.bucket_start_us DESC LIMIT 1
) AS c ON true
GROUP BY series.operation, series.api_key_id
"""  # noqa: S608
KEY_FILTER = "AND api_key_id = :api_key_id"
STATEMENTS = {
    (dialect, keyed): text(sql.replace("{key}", KEY_FILTER if keyed else ""))
    for dialect, sql in (("sqlite", SQLITE), ("postgresql", POSTGRESQL))
    for keyed in (False, True)
}


class UsageRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def totals_before(
        self, account_id: str, instants: list[int], *, api_key_id: str | None = None
    ) -> list[SeriesTotals]:
        """For each series of the account (or of one API key): its running spend, units and
        charges at each instant, in order; zeros before the series' first bucket."""
        dialect = self.connection.dialect.name
        params: dict[str, object] = {"account_id": account_id}
        if dialect == "sqlite":
            params["instants"] = json.dumps(instants)
        else:
            params["instants"] = instants
            params["near"] = [bucket_start_us(at - 1) for at in instants]
        if api_key_id is not None:
            params["api_key_id"] = api_key_id
        rows = self.connection.execute(STATEMENTS[(dialect, api_key_id is not None)], params)
        if dialect == "sqlite":
            return [_unpacked(op, key, packed, len(instants)) for op, key, packed in rows]
        return [
            (op, key, list(spend), list(units), list(count))
            for op, key, spend, units, count in rows
        ]

    def totals_between(
        self, account_id: str, start_us: int, end_us: int
    ) -> list[tuple[str, str, int, int, int]]:
        """(operation, key, spend, units, charges) of the buckets starting in [start, end), per
        series with any: the running totals before `end` less those before `start`."""
        found = []
        for operation, key, spend, units, count in self.totals_before(
            account_id, [start_us, end_us]
        ):
            figures = (spend[1] - spend[0], units[1] - units[0], count[1] - count[0])
            if figures != (0, 0, 0):
                found.append((operation, key, *figures))
        return found


def _unpacked(operation: str, key: str, packed: str, size: int) -> SeriesTotals:
    """SQLite's [[index, bucket, spend, units, charges], ...] as three lists in instant order."""
    spend, units, count = [0] * size, [0] * size, [0] * size
    for index, bucket, s, u, c in json.loads(packed):
        if bucket is not None:
            spend[index], units[index], count[index] = s, u, c
    return operation, key, spend, units, count
