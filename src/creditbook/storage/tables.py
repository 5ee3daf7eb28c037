"""The schema, as SQLAlchemy Core tables; identical on SQLite and PostgreSQL.

Money is BIGINT micro-USD, time is BIGINT microseconds since the epoch (UTC); names end in their
unit. Every table that grows with use carries `account_id` first in its primary key, and every
query of it filters by `account_id`, so the schema can be distributed by account (Citus) as it
stands: `accounts`, `api_keys`, `prices`, `spend_tiers` and `price_book_meta` stay small and
would be reference tables.

The database enforces what it can of the ledger's invariants a second time (the code checks
first): an account never below its overdraft limit, holds never above what a grant has left,
journal entries never updated or deleted (triggers, in the migration).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

ID = 40  # "txn_" + a UUID
# Grants a write may touch: those with money left or held, and the account's overdraft grant
# (kept even at zero, so an account never has two).
OPEN_GRANTS = "(remaining_micros <> 0 OR held_micros <> 0 OR kind = 'overdraft')"
EXPIRING = "(expires_at_us IS NOT NULL AND remaining_micros > 0)"
MONEY = BigInteger
TIME = BigInteger

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("name", String(200), nullable=False),
    Column("plan", String(64), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("monthly_limit_micros", MONEY, nullable=True),
    Column("overdraft_limit_micros", MONEY, nullable=False),
    Column("balance_micros", MONEY, nullable=False),
    Column("reserved_micros", MONEY, nullable=False),
    Column("lifetime_spend_micros", MONEY, nullable=False),
    Column("month_start_us", TIME, nullable=False),
    Column("month_spend_micros", MONEY, nullable=False),
    Column("entry_seq", BigInteger, nullable=False),
    Column("created_at_us", TIME, nullable=False),
    Column("updated_at_us", TIME, nullable=False),
    CheckConstraint("balance_micros + overdraft_limit_micros >= 0", name="overdraft"),
    CheckConstraint("reserved_micros >= 0", name="reserved"),
    CheckConstraint("overdraft_limit_micros >= 0", name="overdraft_limit"),
    CheckConstraint("status IN ('active', 'suspended')", name="status"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("account_id", String(ID), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("name", String(200), nullable=True),
    Column("client_id", String(200), nullable=True),
    Column("scope", String(8), nullable=False),
    Column("is_test", Boolean, nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("created_at_us", TIME, nullable=False),
    Column("last_used_at_us", TIME, nullable=True),
    Column("revoked_at_us", TIME, nullable=True),
    CheckConstraint("scope IN ('read', 'full')", name="scope"),
)

grants = Table(
    "grants",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("id", String(ID), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("effective_at_us", TIME, nullable=False),
    Column("expires_at_us", TIME, nullable=True),
    Column("created_at_us", TIME, nullable=False),
    Column("amount_micros", MONEY, nullable=False),
    Column("remaining_micros", MONEY, nullable=False),
    Column("held_micros", MONEY, nullable=False),
    CheckConstraint("held_micros >= 0", name="held"),
    CheckConstraint(
        "(kind <> 'overdraft' AND remaining_micros >= held_micros"
        " AND remaining_micros <= amount_micros)"
        " OR (kind = 'overdraft' AND remaining_micros <= 0)",
        name="remaining",
    ),
    # No index of open grants: every charge changes remaining_micros, which such an index's
    # condition reads, so it would be rewritten on every charge (migration 0006). The key
    # (account_id, id) finds an account's grants; the writer caches the open ones.
    # For the clock: grants with money left, by expiry (notices and write-offs).
    Index(
        "ix_grants_expiry",
        "expires_at_us",
        sqlite_where=text(EXPIRING),
        postgresql_where=text(EXPIRING),
    ),
)

transactions = Table(
    "transactions",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("id", String(ID), primary_key=True),
    Column("created_at_us", TIME, nullable=False),
    Column("settled_at_us", TIME, nullable=True),
    Column("type", String(64), nullable=False),
    Column("operation", String(64), nullable=True),
    Column("status", String(8), nullable=False),
    Column("credits_micros", MONEY, nullable=False),
    Column("balance_after_micros", MONEY, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("reserved_units", BigInteger, nullable=False),
    Column("reserved_micros", MONEY, nullable=False),
    Column("unit_price_micros", MONEY, nullable=False),
    Column("multiplier_ppm", BigInteger, nullable=False),
    Column("expires_at_us", TIME, nullable=True),
    Column("api_key_id", String(ID), nullable=True),
    Column("idempotency_key", String(255), nullable=True),
    Column("request_id", String(255), nullable=True),
    Column("reverses_id", String(ID), nullable=True),
    Column("grant_id", String(ID), nullable=True),
    Column("note", String(1000), nullable=True),
    Column("details", Text, nullable=True),
    # The journal entries of the transaction's latest posting (holds while pending, then the
    # settlement): a primary-key range, so the journal needs no index by transaction.
    Column("entry_first_seq", BigInteger, nullable=True),
    Column("entry_last_seq", BigInteger, nullable=True),
    CheckConstraint("status IN ('pending', 'success', 'error')", name="status"),
    Index(
        "ix_transactions_reverses",
        "account_id",
        "reverses_id",
        sqlite_where=text("reverses_id IS NOT NULL"),
        postgresql_where=text("reverses_id IS NOT NULL"),
    ),
    Index(
        "ix_transactions_pending",
        "expires_at_us",
        "account_id",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    # Clustered by (account_id, id): ids are time-ordered, so one account's history is one
    # contiguous range in creation order, and a page of it is one range scan.
    sqlite_with_rowid=False,
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("account_id", String(ID), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("transaction_id", String(ID), nullable=False),
    Column("grant_id", String(ID), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("amount_micros", MONEY, nullable=False),
    Column("hold_micros", MONEY, nullable=False),
    Column("balance_after_micros", MONEY, nullable=False),
    Column("reserved_after_micros", MONEY, nullable=False),
    Column("at_us", TIME, nullable=False),
    ForeignKeyConstraint(["account_id"], ["accounts.id"]),
    ForeignKeyConstraint(
        ["account_id", "transaction_id"], ["transactions.account_id", "transactions.id"]
    ),
    ForeignKeyConstraint(["account_id", "grant_id"], ["grants.account_id", "grants.id"]),
    sqlite_with_rowid=False,
)

# Settled usage by 15-minute UTC bucket, one series per (account, operation, API key), with
# the series' running totals up to and including each bucket (migration 0005): the usage of
# [a, b) is the cum of the last bucket before b less the cum of the last bucket before a.
usage_buckets = Table(
    "usage_buckets",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("operation", String(64), primary_key=True),
    Column("api_key_id", String(ID), primary_key=True),  # '' when no key was involved
    Column("bucket_start_us", TIME, primary_key=True),
    Column("spend_micros", MONEY, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("charges", BigInteger, nullable=False),
    Column("cum_spend_micros", MONEY, nullable=False),
    Column("cum_units", BigInteger, nullable=False),
    Column("cum_charges", BigInteger, nullable=False),
    # By time (migration 0007): the rows of every series in one bucket are one seek, so the
    # bucket just before a day's midnight gives all of a busy account's series at once.
    Index("ix_usage_buckets_time", "account_id", "bucket_start_us"),
    sqlite_with_rowid=False,
)

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("transaction_id", String(ID), nullable=False),
    Column("created_at_us", TIME, nullable=False),
    sqlite_with_rowid=False,
)

request_counts = Table(
    "request_counts",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("bucket_start_us", TIME, primary_key=True),
    Column("api_key_id", String(ID), primary_key=True),
    Column("endpoint", String(200), primary_key=True),
    Column("status_class", String(3), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

prices = Table(
    "prices",
    metadata,
    Column("operation", String(64), primary_key=True),
    Column("effective_from_us", TIME, primary_key=True),
    Column("unit_price_micros", MONEY, nullable=False),
    Column("unit", String(32), nullable=False),
    Column("description", String(200), nullable=False),
    Column("created_at_us", TIME, nullable=False),
)

spend_tiers = Table(
    "spend_tiers",
    metadata,
    Column("effective_from_us", TIME, primary_key=True),
    Column("min_lifetime_spend_micros", MONEY, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("multiplier_ppm", BigInteger, nullable=False),
    Column("created_at_us", TIME, nullable=False),
)

price_book_meta = Table(
    "price_book_meta",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", BigInteger, nullable=False),
)

# Alerts, the outbox and webhooks (migration 0003).

revisions = Table(
    "revisions",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("revision", BigInteger, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("id", String(ID), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("threshold_micros", MONEY, nullable=True),
    Column("percent", Integer, nullable=True),
    Column("window_days", Integer, nullable=True),
    Column("horizon_days", Integer, nullable=True),
    Column("state", String(8), nullable=False),
    Column("changed_at_us", TIME, nullable=True),
    Column("created_at_us", TIME, nullable=False),
    CheckConstraint("kind IN ('balance', 'monthly_percent', 'forecast')", name="kind"),
    CheckConstraint("state IN ('ok', 'in_alarm')", name="state"),
    sqlite_with_rowid=False,
)

events = Table(
    "events",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("id", String(ID), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("created_at_us", TIME, nullable=False),
    Column("data", Text, nullable=False),
    sqlite_with_rowid=False,
)

notices = Table(
    "notices",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("key", String(120), primary_key=True),
    Column("created_at_us", TIME, nullable=False),
    sqlite_with_rowid=False,
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("allotment_micros", MONEY, nullable=False),
    Column("cycle_day", Integer, nullable=False),
    Column("rollover", String(8), nullable=False),
    Column("rollover_cap_micros", MONEY, nullable=True),
    Column("next_renewal_at_us", TIME, nullable=False),
    Column("created_at_us", TIME, nullable=False),
    Column("updated_at_us", TIME, nullable=False),
    CheckConstraint("rollover IN ('none', 'capped')", name="rollover"),
    CheckConstraint("cycle_day BETWEEN 1 AND 28", name="cycle_day"),
    Index("ix_subscriptions_due", "next_renewal_at_us"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("id", String(ID), primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("events", Text, nullable=False),  # a JSON list of event types
    Column("secret", String(255), nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("failure_run", Integer, nullable=False),
    Column("disabled_reason", String(500), nullable=True),
    Column("created_at_us", TIME, nullable=False),
    Column("updated_at_us", TIME, nullable=False),
    sqlite_with_rowid=False,
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("id", String(ID), primary_key=True),
    Column("webhook_id", String(ID), nullable=False),
    Column("event_id", String(ID), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at_us", TIME, nullable=False),
    Column("lease_until_us", TIME, nullable=False),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at_us", TIME, nullable=False),
    Column("updated_at_us", TIME, nullable=False),
    CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
    Index(
        "ix_deliveries_due",
        "next_attempt_at_us",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    Index("ix_deliveries_webhook", "account_id", "webhook_id", "created_at_us"),
    sqlite_with_rowid=False,
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("account_id", String(ID), ForeignKey("accounts.id"), primary_key=True),
    Column("delivery_id", String(ID), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("webhook_id", String(ID), nullable=False),
    Column("at_us", TIME, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_us", BigInteger, nullable=False),
    Column("error", String(500), nullable=True),
    sqlite_with_rowid=False,
)
