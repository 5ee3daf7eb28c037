"""Request counts per API key, endpoint and status class, for /accounts/tokens/analytics/.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_counts",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("bucket_start_us", sa.BigInteger, nullable=False),
        sa.Column("api_key_id", sa.String(40), nullable=False),
        sa.Column("endpoint", sa.String(200), nullable=False),
        sa.Column("status_class", sa.String(3), nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_request_counts_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint(
            "account_id",
            "bucket_start_us",
            "api_key_id",
            "endpoint",
            "status_class",
            name="pk_request_counts",
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("request_counts")
