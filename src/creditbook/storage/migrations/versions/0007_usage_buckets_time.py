"""An index of the usage buckets by (account, bucket start). A report at day boundaries first
reads, with one seek per boundary, the bucket just before it for every series at once; only the
series with no bucket there need a seek of their own. On a busy account that is 366 seeks for a
year by day instead of 366 per series (PostgreSQL; SQLite's own seeks are cheap enough).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_usage_buckets_time", "usage_buckets", ["account_id", "bucket_start_us"])


def downgrade() -> None:
    op.drop_index("ix_usage_buckets_time", table_name="usage_buckets")
