"""Usage at given instants: for each (operation, API key) series of an account, the running
totals of its latest bucket that starts before each instant (`usage_buckets`' cum columns).

Two parts in one statement: the account's series, found by skipping through the primary key
(account, operation, API key, bucket) one series at a time, and one index seek per series and
instant: a max() seek on SQLite, a LATERAL `ORDER BY ... DESC LIMIT 1` on PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import Connection, text

from creditbook.domain.usage import SeriesTotals

_NEXT = """(SELECT u.{column} FROM usage_buckets u
    WHERE u.account_id = :account_id AND (u.operation, u.api_key_id) > (s.operation, s.api_key_id)
    ORDER BY u.operation, u.api_key_id LIMIT 1)"""
_FIRST = """(SELECT u.{column} FROM usage_buckets u WHERE u.account_id = :account_id
    ORDER BY u.operation, u.api_key_id LIMIT 1)"""
# The statements are put together from constant fragments only; every value is a parameter.
SERIES = f"""WITH RECURSIVE s(operation, api_key_id) AS (
    SELECT {_FIRST.format(column="operation")}, {_FIRST.format(column="api_key_id")}
    UNION ALL
    SELECT {_NEXT.format(column="operation")}, {_NEXT.format(column="api_key_id")}
    FROM s WHERE s.operation IS NOT NULL
), series AS (SELECT operation, api_key_id FROM s WHERE operation IS NOT NULL {{key}})
"""  # noqa: S608
SAME_SERIES = """u.account_id = :account_id AND u.operation = series.operation
    AND u.api_key_id = series.api_key_id"""
SQLITE = f"""{SERIES}
SELECT b.key, series.operation, series.api_key_id,
    u.cum_spend_micros, u.cum_units, u.cum_charges
FROM series CROSS JOIN json_each(:instants) AS b
LEFT JOIN usage_buckets u ON {SAME_SERIES} AND u.bucket_start_us = (
    SELECT max(m.bucket_start_us) FROM usage_buckets m
    WHERE m.account_id = :account_id AND m.operation = series.operation
        AND m.api_key_id = series.api_key_id AND m.bucket_start_us < b.value)
"""  # noqa: S608
POSTGRESQL = f"""{SERIES}
SELECT b.i - 1, series.operation, series.api_key_id,
    c.cum_spend_micros, c.cum_units, c.cum_charges
FROM series CROSS JOIN unnest(CAST(:instants AS BIGINT[])) WITH ORDINALITY AS b(at_us, i)
LEFT JOIN LATERAL (
    SELECT u.cum_spend_micros, u.cum_units, u.cum_charges FROM usage_buckets u
    WHERE {SAME_SERIES} AND u.bucket_start_us < b.at_us
    ORDER BY u.bucket_start_us DESC LIMIT 1
) AS c ON true
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
        """(instant index, operation, key, cum spend, cum units, cum charges) for each series
        of the account (or of one API key) and each instant; zeros before a series' first."""
        dialect = self.connection.dialect.name
        params: dict[str, object] = {
            "account_id": account_id,
            "instants": json.dumps(instants) if dialect == "sqlite" else instants,
        }
        if api_key_id is not None:
            params["api_key_id"] = api_key_id
        statement = STATEMENTS[(dialect, api_key_id is not None)]
        return [
            (int(i), op, key, int(spend or 0), int(units or 0), int(charges or 0))
            for i, op, key, spend, units, charges in self.connection.execute(statement, params)
        ]
