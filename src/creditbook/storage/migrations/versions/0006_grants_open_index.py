"""Drop the partial index of open grants: every charge changes `remaining_micros`, which its
condition reads, so every charge rewrote the index entry (one more page per commit on SQLite,
no heap-only update on PostgreSQL). Open grants are found through the primary key
(account_id, id) instead, and the writer keeps them cached between batches.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN_GRANTS = "(remaining_micros <> 0 OR held_micros <> 0 OR kind = 'overdraft')"


def upgrade() -> None:
    op.drop_index("ix_grants_open", table_name="grants")


def downgrade() -> None:
    op.create_index(
        "ix_grants_open",
        "grants",
        ["account_id"],
        sqlite_where=sa.text(OPEN_GRANTS),
        postgresql_where=sa.text(OPEN_GRANTS),
    )
