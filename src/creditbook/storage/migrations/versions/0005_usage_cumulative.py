"""Running totals on the usage buckets, keyed by series: any range of any zone is the
difference of two index seeks per (operation, API key), so a year by day reads a few hundred
rows instead of tens of thousands. The hourly rollup of 0004 is no longer needed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = "account_id, operation, api_key_id, bucket_start_us, spend_micros, units, charges"
SERIES = "PARTITION BY account_id, operation, api_key_id ORDER BY bucket_start_us"
BACKFILL = f"""
INSERT INTO usage_buckets
    ({COLUMNS}, cum_spend_micros, cum_units, cum_charges)
SELECT {COLUMNS},
    sum(spend_micros) OVER ({SERIES}),
    sum(units) OVER ({SERIES}),
    sum(charges) OVER ({SERIES})
FROM usage_buckets_old
ORDER BY account_id, operation, api_key_id, bucket_start_us
"""  # noqa: S608 (constants)
HOURS = """
INSERT INTO usage_hours
    (account_id, hour_start_us, operation, api_key_id, spend_micros, units, charges)
SELECT account_id, bucket_start_us - bucket_start_us % 3600000000, operation, api_key_id,
    sum(spend_micros), sum(units), sum(charges)
FROM usage_buckets
GROUP BY account_id, bucket_start_us - bucket_start_us % 3600000000, operation, api_key_id
"""


def _usage_columns(name: str, *, series_first: bool = False) -> list[sa.Column[Any]]:
    """The columns of 0004's usage tables; with `series_first`, 0005's order of the key."""
    time: sa.Column[Any] = sa.Column(name, sa.BigInteger, nullable=False)
    series: list[sa.Column[Any]] = [
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("api_key_id", sa.String(40), nullable=False),
    ]
    return [
        sa.Column("account_id", sa.String(40), nullable=False),
        *([*series, time] if series_first else [time, *series]),
        sa.Column("spend_micros", sa.BigInteger, nullable=False),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("charges", sa.BigInteger, nullable=False),
    ]


def _foreign_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"], ["accounts.id"], name=f"fk_{table}_account_id_accounts"
    )


def _set_aside_buckets() -> None:
    """Rename the current table out of the way, constraint names included (PostgreSQL keeps
    them per schema)."""
    op.rename_table("usage_buckets", "usage_buckets_old")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE usage_buckets_old RENAME CONSTRAINT pk_usage_buckets TO pk_ubo")


def _analyze(*tables: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in tables:  # statistics now, not at autovacuum's next pass
            op.execute(f"ANALYZE {table}")


def upgrade() -> None:
    _set_aside_buckets()
    op.create_table(
        "usage_buckets",
        *_usage_columns("bucket_start_us", series_first=True),
        sa.Column("cum_spend_micros", sa.BigInteger, nullable=False),
        sa.Column("cum_units", sa.BigInteger, nullable=False),
        sa.Column("cum_charges", sa.BigInteger, nullable=False),
        _foreign_key("usage_buckets"),
        sa.PrimaryKeyConstraint(
            "account_id", "operation", "api_key_id", "bucket_start_us", name="pk_usage_buckets"
        ),
        sqlite_with_rowid=False,
    )
    op.execute(BACKFILL)
    op.drop_table("usage_buckets_old")
    op.drop_table("usage_hours")
    _analyze("usage_buckets")


def downgrade() -> None:
    _set_aside_buckets()
    op.create_table(
        "usage_buckets",
        *_usage_columns("bucket_start_us"),
        _foreign_key("usage_buckets"),
        sa.PrimaryKeyConstraint(
            "account_id", "bucket_start_us", "operation", "api_key_id", name="pk_usage_buckets"
        ),
        sqlite_with_rowid=False,
    )
    op.execute(f"INSERT INTO usage_buckets ({COLUMNS}) SELECT {COLUMNS} FROM usage_buckets_old")  # noqa: S608
    op.drop_table("usage_buckets_old")
    op.create_table(
        "usage_hours",
        *_usage_columns("hour_start_us"),
        _foreign_key("usage_hours"),
        sa.PrimaryKeyConstraint(
            "account_id", "hour_start_us", "operation", "api_key_id", name="pk_usage_hours"
        ),
        sqlite_with_rowid=False,
    )
    op.execute(HOURS)
    _analyze("usage_buckets", "usage_hours")
