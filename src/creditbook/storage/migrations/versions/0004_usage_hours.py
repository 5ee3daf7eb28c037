"""Usage added up by UTC hour, filled from the 15-minute buckets: a year's usage report reads
a quarter of the rows (docs/benchmarks.md, "Scale").

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BACKFILL = """
INSERT INTO usage_hours
    (account_id, hour_start_us, operation, api_key_id, spend_micros, units, charges)
SELECT account_id, bucket_start_us - bucket_start_us % 3600000000, operation, api_key_id,
    sum(spend_micros), sum(units), sum(charges)
FROM usage_buckets
GROUP BY account_id, bucket_start_us - bucket_start_us % 3600000000, operation, api_key_id
ORDER BY account_id, bucket_start_us - bucket_start_us % 3600000000, operation, api_key_id
"""


def upgrade() -> None:
    op.create_table(
        "usage_hours",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("hour_start_us", sa.BigInteger, nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("api_key_id", sa.String(40), nullable=False),
        sa.Column("spend_micros", sa.BigInteger, nullable=False),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("charges", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_usage_hours_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "hour_start_us", "operation", "api_key_id", name="pk_usage_hours"
        ),
        sqlite_with_rowid=False,
    )
    op.execute(BACKFILL)
    if op.get_bind().dialect.name == "postgresql":
        # Statistics now, not at autovacuum's next pass: without them the planner expects a
        # handful of rows and sorts a year of hours instead of hashing them.
        op.execute("ANALYZE usage_hours")


def downgrade() -> None:
    op.drop_table("usage_hours")
