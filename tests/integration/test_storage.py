"""The schema: migrations match the Core tables on both databases, an un-migrated database is
refused with the command to run, the database itself enforces what it can, and `verify`
reports a ledger that was tampered with."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text, update
from sqlalchemy.exc import DBAPIError

from creditbook.bootstrap import Services, build
from creditbook.errors import SchemaNotMigrated
from creditbook.storage.migrate import downgrade, upgrade
from creditbook.storage.tables import accounts, metadata
from tests.conftest import engine_at, make_settings


def test_the_migrated_schema_matches_the_core_tables(db_url: str) -> None:
    with engine_at(db_url) as engine, engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_an_unmigrated_database_is_refused_with_the_command_to_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(SchemaNotMigrated) as refused:
        build(make_settings(url))
    assert "creditbook db upgrade" in str(refused.value.detail)
    with engine_at(url) as engine:
        upgrade(engine)
    build(make_settings(url)).close()


def test_journal_entries_cannot_be_updated_or_deleted(services: Services) -> None:
    account = services.accounts.create(email="j@example.com")
    services.ledger.grant(account_id=account.id, amount_micros=1_000_000)
    for statement in (
        "UPDATE journal_entries SET amount_micros = 0",
        "DELETE FROM journal_entries",
    ):
        with pytest.raises(DBAPIError, match="immutable"), services.store.engine.begin() as c:
            c.execute(text(statement))


def test_the_database_refuses_a_balance_below_the_overdraft_limit(services: Services) -> None:
    account = services.accounts.create(email="o@example.com")
    with pytest.raises(DBAPIError), services.store.engine.begin() as connection:
        connection.execute(
            update(accounts).where(accounts.c.id == account.id).values(balance_micros=-1)
        )


def test_verify_reports_a_tampered_balance_and_an_untouched_account_passes(
    services: Services,
) -> None:
    honest = services.accounts.create(email="honest@example.com")
    tampered = services.accounts.create(email="tampered@example.com")
    for account in (honest, tampered):
        services.ledger.grant(account_id=account.id, amount_micros=5_000_000)
        services.ledger.charge(account_id=account.id, operation="email_find", units=3)
    with services.store.engine.begin() as connection:
        connection.execute(
            update(accounts)
            .where(accounts.c.id == tampered.id)
            .values(balance_micros=accounts.c.balance_micros + 1)
        )

    report = services.verifier.verify()

    assert report.accounts_checked == 2 and not report.ok
    assert {p.account_id for p in report.problems} == {tampered.id}
    assert "balance" in {p.check for p in report.problems}
    assert services.verifier.verify(account_id=honest.id).ok


def test_migration_0004_fills_the_hourly_rollup_from_existing_buckets(tmp_path: Path) -> None:
    with engine_at(f"sqlite:///{tmp_path / 'old.db'}") as engine:
        upgrade(engine, "0003")
        hour = 3_600_000_000
        buckets = [  # (start, spend): two buckets of one hour, one of the next
            (500 * hour, 10),
            (500 * hour + hour // 4 * 3, 5),
            (501 * hour, 7),
        ]
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO accounts VALUES ('a', 'a@example.com', '', 'p', 'UTC', 'active',"
                    " NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0)"
                )
            )
            for start, spend in buckets:
                connection.execute(
                    text(
                        "INSERT INTO usage_buckets"
                        " VALUES ('a', :start, 'email_find', '', :spend, 1, 1)"
                    ),
                    {"start": start, "spend": spend},
                )

        upgrade(engine, "0004")

        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT hour_start_us, spend_micros, units, charges FROM usage_hours ORDER BY 1"
                )
            ).all()
    assert [tuple(r) for r in rows] == [(500 * hour, 15, 2, 2), (501 * hour, 7, 1, 1)]


def _grant_indexes(engine: Engine) -> set[str]:
    return {index["name"] or "" for index in inspect(engine).get_indexes("grants")}


def test_migration_0006_drops_the_open_grants_index_and_its_downgrade_restores_it(
    db_url: str,
) -> None:
    with engine_at(db_url) as engine:
        assert "ix_grants_open" not in _grant_indexes(engine)
        assert downgrade(engine, "0005") == "0005"
        assert "ix_grants_open" in _grant_indexes(engine)
        assert upgrade(engine, "0006") == "0006"
        assert "ix_grants_open" not in _grant_indexes(engine)
        assert "ix_grants_expiry" in _grant_indexes(engine)
