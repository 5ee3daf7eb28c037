"""Independent recomputations for tests: figures derived straight from the stored rows with
plain Python (zoneinfo per transaction), never through the code under test."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from creditbook.storage.tables import journal_entries, metadata, transactions

Row = dict[str, object]


# What a refused charge may write: the `balance.depleted` event of the first refusal, and the
# notice that keeps the next refusals from repeating it. Nothing in the ledger.
OUTBOX_TABLES = frozenset({"events", "notices", "deliveries", "delivery_attempts"})


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows in every ledger table: to show that a refused command wrote nothing."""
    with engine.connect() as connection:
        return {
            name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in metadata.tables.items()
            if name not in OUTBOX_TABLES
        }


def account_transactions(engine: Engine, account_id: str) -> list[Row]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(transactions).where(transactions.c.account_id == account_id)
        ).mappings()
        return [dict(row) for row in rows]


def journal_balance(engine: Engine, account_id: str) -> int:
    with engine.connect() as connection:
        total = connection.execute(
            select(func.coalesce(func.sum(journal_entries.c.amount_micros), 0)).where(
                journal_entries.c.account_id == account_id
            )
        ).scalar_one()
        return int(total)


def local_date(at_us: int, zone: str) -> date:
    moment = datetime.fromtimestamp(at_us // 1_000_000, tz=UTC).replace(
        microsecond=at_us % 1_000_000
    )
    return moment.astimezone(ZoneInfo(zone)).date()


def spend_by_local_day(engine: Engine, account_id: str, zone: str) -> dict[date, dict[str, int]]:
    """Settled spend per local date and operation, refunds booked against their charge."""
    rows = account_transactions(engine, account_id)
    by_id = {row["id"]: row for row in rows}
    days: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        if row["status"] != "success":
            continue
        if row["type"] == row["operation"]:
            settled = row["settled_at_us"]
            assert isinstance(settled, int)
            days[local_date(settled, zone)][str(row["operation"])] += -int(row["credits_micros"])  # type: ignore[call-overload]
        elif row["reverses_id"] is not None:
            original = by_id[row["reverses_id"]]
            settled = original["settled_at_us"]
            assert isinstance(settled, int)
            days[local_date(settled, zone)][str(original["operation"])] -= int(
                row["credits_micros"]
            )  # type: ignore[call-overload]
    return {day: dict(ops) for day, ops in days.items()}
