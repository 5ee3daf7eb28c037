"""Alerts, the event outbox, notices, plan subscriptions, webhooks and their deliveries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = 40
MONEY = sa.BigInteger
TIME = sa.BigInteger
PENDING = sa.text("status = 'pending'")
EXPIRING = sa.text("(expires_at_us IS NOT NULL AND remaining_micros > 0)")


def _account(table: str) -> list[Any]:
    return [
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=f"fk_{table}_account_id_accounts"
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "revisions",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_revisions"),
    )
    op.execute("INSERT INTO revisions (name, revision) VALUES ('alerts', 1)")
    op.create_index(
        "ix_grants_expiry",
        "grants",
        ["expires_at_us"],
        sqlite_where=EXPIRING,
        postgresql_where=EXPIRING,
    )
    _alerts()
    _events_and_notices()
    _subscriptions()
    _webhooks()
    _deliveries()


def _alerts() -> None:
    op.create_table(
        "alerts",
        *_account("alerts"),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("threshold_micros", MONEY, nullable=True),
        sa.Column("percent", sa.Integer, nullable=True),
        sa.Column("window_days", sa.Integer, nullable=True),
        sa.Column("horizon_days", sa.Integer, nullable=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("changed_at_us", TIME, nullable=True),
        sa.Column("created_at_us", TIME, nullable=False),
        sa.CheckConstraint(
            "kind IN ('balance', 'monthly_percent', 'forecast')", name="ck_alerts_kind"
        ),
        sa.CheckConstraint("state IN ('ok', 'in_alarm')", name="ck_alerts_state"),
        sa.PrimaryKeyConstraint("account_id", "id", name="pk_alerts"),
        sqlite_with_rowid=False,
    )


def _events_and_notices() -> None:
    op.create_table(
        "events",
        *_account("events"),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("created_at_us", TIME, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id", name="pk_events"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "notices",
        *_account("notices"),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("created_at_us", TIME, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "key", name="pk_notices"),
        sqlite_with_rowid=False,
    )


def _subscriptions() -> None:
    op.create_table(
        "subscriptions",
        *_account("subscriptions"),
        sa.Column("allotment_micros", MONEY, nullable=False),
        sa.Column("cycle_day", sa.Integer, nullable=False),
        sa.Column("rollover", sa.String(8), nullable=False),
        sa.Column("rollover_cap_micros", MONEY, nullable=True),
        sa.Column("next_renewal_at_us", TIME, nullable=False),
        sa.Column("created_at_us", TIME, nullable=False),
        sa.Column("updated_at_us", TIME, nullable=False),
        sa.CheckConstraint("rollover IN ('none', 'capped')", name="ck_subscriptions_rollover"),
        sa.CheckConstraint("cycle_day BETWEEN 1 AND 28", name="ck_subscriptions_cycle_day"),
        sa.PrimaryKeyConstraint("account_id", name="pk_subscriptions"),
    )
    op.create_index("ix_subscriptions_due", "subscriptions", ["next_renewal_at_us"])


def _webhooks() -> None:
    op.create_table(
        "webhooks",
        *_account("webhooks"),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("secret", sa.String(255), nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("failure_run", sa.Integer, nullable=False),
        sa.Column("disabled_reason", sa.String(500), nullable=True),
        sa.Column("created_at_us", TIME, nullable=False),
        sa.Column("updated_at_us", TIME, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "id", name="pk_webhooks"),
        sqlite_with_rowid=False,
    )


def _deliveries() -> None:
    op.create_table(
        "deliveries",
        *_account("deliveries"),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("webhook_id", sa.String(ID), nullable=False),
        sa.Column("event_id", sa.String(ID), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at_us", TIME, nullable=False),
        sa.Column("lease_until_us", TIME, nullable=False),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at_us", TIME, nullable=False),
        sa.Column("updated_at_us", TIME, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name="ck_deliveries_status"
        ),
        sa.PrimaryKeyConstraint("account_id", "id", name="pk_deliveries"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at_us"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index(
        "ix_deliveries_webhook", "deliveries", ["account_id", "webhook_id", "created_at_us"]
    )
    op.create_table(
        "delivery_attempts",
        *_account("delivery_attempts"),
        sa.Column("delivery_id", sa.String(ID), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("webhook_id", sa.String(ID), nullable=False),
        sa.Column("at_us", TIME, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("latency_us", sa.BigInteger, nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint(
            "account_id", "delivery_id", "attempt", name="pk_delivery_attempts"
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    for table in (
        "delivery_attempts",
        "deliveries",
        "webhooks",
        "subscriptions",
        "notices",
        "events",
        "alerts",
        "revisions",
    ):
        op.drop_table(table)
    op.drop_index("ix_grants_expiry", table_name="grants")
