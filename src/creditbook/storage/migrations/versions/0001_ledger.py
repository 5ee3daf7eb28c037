"""The ledger: accounts, keys, grants, transactions, journal, usage, idempotency, price book.

A frozen copy of the schema as it was first released; `tests/integration` checks that the
migrated database matches `creditbook.storage.tables` on SQLite and PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = 40
OPEN_GRANTS = "(remaining_micros <> 0 OR held_micros <> 0 OR kind = 'overdraft')"
MONEY = sa.BigInteger
TIME = sa.BigInteger

DEFAULT_PRICES = [
    ("search_realtime", 40_000, "result", "Lead search in real time, per result"),
    ("enrich_realtime", 40_000, "result", "Enrichment in real time, per result"),
    ("search_database", 20_000, "result", "Lead search in the database, per result"),
    ("enrich_database", 20_000, "result", "Enrichment from the database, per result"),
    ("email_find", 20_000, "valid email", "Email finding, per valid email"),
    ("email_validate", 5_000, "email", "Email validation, per email"),
    ("preview", 2_000, "row", "Masked preview rows, per row"),
    ("phone_find", 400_000, "found phone", "Phone finding, per found phone"),
    ("count_realtime", 40_000, "request", "Real-time count, per request"),
]

SQLITE_IMMUTABLE = """
CREATE TRIGGER journal_entries_no_{verb} BEFORE {event} ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal entries are immutable'); END
"""

PG_FUNCTION = """
CREATE FUNCTION creditbook_journal_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'journal entries are immutable'; END $$
"""

PG_TRIGGER = """
CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries
FOR EACH ROW EXECUTE FUNCTION creditbook_journal_immutable()
"""


def upgrade() -> None:
    _accounts()
    _api_keys()
    _grants()
    _transactions()
    _journal_entries()
    _usage_and_idempotency()
    _price_book()
    _immutable_journal()


def _accounts() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("plan", sa.String(64), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("monthly_limit_micros", MONEY, nullable=True),
        sa.Column("overdraft_limit_micros", MONEY, nullable=False),
        sa.Column("balance_micros", MONEY, nullable=False),
        sa.Column("reserved_micros", MONEY, nullable=False),
        sa.Column("lifetime_spend_micros", MONEY, nullable=False),
        sa.Column("month_start_us", TIME, nullable=False),
        sa.Column("month_spend_micros", MONEY, nullable=False),
        sa.Column("entry_seq", sa.BigInteger, nullable=False),
        sa.Column("created_at_us", TIME, nullable=False),
        sa.Column("updated_at_us", TIME, nullable=False),
        sa.CheckConstraint("balance_micros + overdraft_limit_micros >= 0", name="overdraft"),
        sa.CheckConstraint("reserved_micros >= 0", name="reserved"),
        sa.CheckConstraint("overdraft_limit_micros >= 0", name="overdraft_limit"),
        sa.CheckConstraint("status IN ('active', 'suspended')", name="status"),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
    )


def _api_keys() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("client_id", sa.String(200), nullable=True),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("is_test", sa.Boolean, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("created_at_us", TIME, nullable=False),
        sa.Column("last_used_at_us", TIME, nullable=True),
        sa.Column("revoked_at_us", TIME, nullable=True),
        sa.CheckConstraint("scope IN ('read', 'full')", name="scope"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_api_keys_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_account_id", "api_keys", ["account_id"])


def _grants() -> None:
    op.create_table(
        "grants",
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("effective_at_us", TIME, nullable=False),
        sa.Column("expires_at_us", TIME, nullable=True),
        sa.Column("created_at_us", TIME, nullable=False),
        sa.Column("amount_micros", MONEY, nullable=False),
        sa.Column("remaining_micros", MONEY, nullable=False),
        sa.Column("held_micros", MONEY, nullable=False),
        sa.CheckConstraint("held_micros >= 0", name="held"),
        sa.CheckConstraint(
            "(kind <> 'overdraft' AND remaining_micros >= held_micros"
            " AND remaining_micros <= amount_micros)"
            " OR (kind = 'overdraft' AND remaining_micros <= 0)",
            name="remaining",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_grants_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", "id", name="pk_grants"),
    )
    op.create_index(
        "ix_grants_open",
        "grants",
        ["account_id"],
        sqlite_where=sa.text(OPEN_GRANTS),
        postgresql_where=sa.text(OPEN_GRANTS),
    )


def _transactions() -> None:
    op.create_table(
        "transactions",
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("created_at_us", TIME, nullable=False),
        sa.Column("settled_at_us", TIME, nullable=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(64), nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("credits_micros", MONEY, nullable=False),
        sa.Column("balance_after_micros", MONEY, nullable=False),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("reserved_units", sa.BigInteger, nullable=False),
        sa.Column("reserved_micros", MONEY, nullable=False),
        sa.Column("unit_price_micros", MONEY, nullable=False),
        sa.Column("multiplier_ppm", sa.BigInteger, nullable=False),
        sa.Column("expires_at_us", TIME, nullable=True),
        sa.Column("api_key_id", sa.String(ID), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_id", sa.String(255), nullable=True),
        sa.Column("reverses_id", sa.String(ID), nullable=True),
        sa.Column("grant_id", sa.String(ID), nullable=True),
        sa.Column("note", sa.String(1000), nullable=True),
        sa.Column("details", sa.Text, nullable=True),
        sa.Column("entry_first_seq", sa.BigInteger, nullable=True),
        sa.Column("entry_last_seq", sa.BigInteger, nullable=True),
        sa.CheckConstraint("status IN ('pending', 'success', 'error')", name="status"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_transactions_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", "id", name="pk_transactions"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_transactions_reverses",
        "transactions",
        ["account_id", "reverses_id"],
        sqlite_where=sa.text("reverses_id IS NOT NULL"),
        postgresql_where=sa.text("reverses_id IS NOT NULL"),
    )
    op.create_index(
        "ix_transactions_pending",
        "transactions",
        ["expires_at_us", "account_id"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def _journal_entries() -> None:
    op.create_table(
        "journal_entries",
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("transaction_id", sa.String(ID), nullable=False),
        sa.Column("grant_id", sa.String(ID), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("amount_micros", MONEY, nullable=False),
        sa.Column("hold_micros", MONEY, nullable=False),
        sa.Column("balance_after_micros", MONEY, nullable=False),
        sa.Column("reserved_after_micros", MONEY, nullable=False),
        sa.Column("at_us", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_journal_entries_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "transaction_id"],
            ["transactions.account_id", "transactions.id"],
            name="fk_journal_entries_account_id_transaction_id_transactions",
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "grant_id"],
            ["grants.account_id", "grants.id"],
            name="fk_journal_entries_account_id_grant_id_grants",
        ),
        sa.PrimaryKeyConstraint("account_id", "seq", name="pk_journal_entries"),
        sqlite_with_rowid=False,
    )


def _usage_and_idempotency() -> None:
    op.create_table(
        "usage_buckets",
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("bucket_start_us", TIME, nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("api_key_id", sa.String(ID), nullable=False),
        sa.Column("spend_micros", MONEY, nullable=False),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("charges", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_usage_buckets_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "bucket_start_us", "operation", "api_key_id", name="pk_usage_buckets"
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "idempotency_records",
        sa.Column("account_id", sa.String(ID), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("transaction_id", sa.String(ID), nullable=False),
        sa.Column("created_at_us", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_idempotency_records_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", "key", name="pk_idempotency_records"),
        sqlite_with_rowid=False,
    )


def _price_book() -> None:
    prices = op.create_table(
        "prices",
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("effective_from_us", TIME, nullable=False),
        sa.Column("unit_price_micros", MONEY, nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("created_at_us", TIME, nullable=False),
        sa.PrimaryKeyConstraint("operation", "effective_from_us", name="pk_prices"),
    )
    op.create_table(
        "spend_tiers",
        sa.Column("effective_from_us", TIME, nullable=False),
        sa.Column("min_lifetime_spend_micros", MONEY, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("multiplier_ppm", sa.BigInteger, nullable=False),
        sa.Column("created_at_us", TIME, nullable=False),
        sa.PrimaryKeyConstraint(
            "effective_from_us", "min_lifetime_spend_micros", name="pk_spend_tiers"
        ),
    )
    meta = op.create_table(
        "price_book_meta",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_price_book_meta"),
    )
    op.bulk_insert(
        prices,
        [
            {
                "operation": op_code,
                "effective_from_us": 0,
                "unit_price_micros": price,
                "unit": unit,
                "description": description,
                "created_at_us": 0,
            }
            for op_code, price, unit, description in DEFAULT_PRICES
        ],
    )
    op.bulk_insert(meta, [{"id": 1, "revision": 1}])


def _immutable_journal() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(SQLITE_IMMUTABLE.format(verb="update", event="UPDATE"))
        op.execute(SQLITE_IMMUTABLE.format(verb="delete", event="DELETE"))
    else:
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER journal_entries_immutable ON journal_entries")
        op.execute("DROP FUNCTION creditbook_journal_immutable()")
    for table in (
        "price_book_meta",
        "spend_tiers",
        "prices",
        "idempotency_records",
        "usage_buckets",
        "journal_entries",
        "transactions",
        "grants",
        "api_keys",
        "accounts",
    ):
        op.drop_table(table)
