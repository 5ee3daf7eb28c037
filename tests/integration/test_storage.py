"""The schema: migrations match the Core tables on both databases, an un-migrated database is
refused with the command to run, the database itself enforces what it can, and `verify`
reports a ledger that was tampered with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text, update
from sqlalchemy.exc import DBAPIError

from creditbook.bootstrap import Services, build
from creditbook.domain.commands import (
    AddGrant,
    Adjust,
    AnyCommand,
    Cancel,
    Charge,
    Refund,
    Reserve,
    Settle,
)
from creditbook.domain.grants import GrantKind
from creditbook.domain.transactions import Receipt
from creditbook.errors import SchemaNotMigrated
from creditbook.services.ledger import charge_command
from creditbook.storage.engine import is_sqlite
from creditbook.storage.migrate import downgrade, upgrade
from creditbook.storage.repositories.ledger import LedgerRepository
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


def test_a_batch_writes_its_transactions_in_one_statement_on_postgresql(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL takes one array per column, whatever the batch's size; SQLite a VALUES list
    per power-of-two chunk (40 rows: 32 + 8)."""
    owners = [services.accounts.create(email=f"b{i}@example.com").id for i in range(5)]
    for owner in owners:
        services.ledger.grant(account_id=owner, amount_micros=100_000_000)
    inserts: list[str] = []
    original = LedgerRepository._rows

    class Counting:
        def __init__(self, cursor: Any) -> None:
            self.cursor = cursor

        def execute(self, sql: str, params: object = None) -> object:
            if sql.startswith("INSERT INTO transactions"):
                inserts.append(sql)
            return self.cursor.execute(sql, params)

    def counting(repo: LedgerRepository, kind: str, rows: Sequence[Sequence[object]]) -> None:
        real = repo.cursor
        repo.cursor = Counting(real)
        try:
            original(repo, kind, rows)
        finally:
            repo.cursor = real

    monkeypatch.setattr(LedgerRepository, "_rows", counting)
    commands = [
        charge_command(account_id=owners[i % 5], operation="search_database", units=1)
        for i in range(40)
    ]
    outcomes = services.ledger.charge_many(commands)
    assert all(isinstance(outcome, Receipt) for outcome in outcomes)
    assert len(inserts) == (2 if is_sqlite(services.store.engine) else 1)
    assert services.verifier.verify().ok


def test_text_with_quotes_commas_braces_and_backslashes_is_stored_exactly(
    services: Services,
) -> None:
    """What a caller sends is written byte for byte, through PostgreSQL's arrays too."""
    account = services.accounts.create(email="q@example.com")
    services.ledger.grant(account_id=account.id, amount_micros=10_000_000)
    awkward = 'a,"b"{c}\\d\'e;NULL'
    details = {"note": 'x,"y"}{\\ z', "empty": "", "null": None, "nested": ["{", "}"]}
    receipts = [
        services.ledger.charge(
            account_id=account.id,
            operation="search_database",
            units=1,
            idempotency_key=f"{awkward}-{n}",
            request_id=awkward,
            details=details,
        )
        for n in range(2)
    ]
    for receipt in receipts:
        stored = services.history.get(account_id=account.id, transaction_id=receipt.transaction.id)
        assert stored.idempotency_key == receipt.transaction.idempotency_key
        assert stored.request_id == awkward
        assert stored.details == details
        assert stored.note is None and stored.reverses_id is None


def test_awkward_text_and_missing_values_in_one_batch_are_stored_exactly(
    services: Services,
) -> None:
    """Eight charges in one call: on PostgreSQL one array per column, sent in binary, with
    NULLs, empty strings, quotes, braces, backslashes and non-ASCII text among the values."""
    account = services.accounts.create(email="arrays@example.com")
    services.ledger.grant(account_id=account.id, amount_micros=10_000_000)
    texts = ['a,"b"{c}\\d\'e;NULL', "", "NULL", "é ü ✓", "{}", '"', "\\", "x y"]
    keys = ['a,"b"{c}\\d\'e', "NULL", "{}", '"', "\\", "{a,b}", "'", ","]  # printable ASCII
    commands = [
        charge_command(
            account_id=account.id,
            operation="search_database",
            units=1 + n,
            idempotency_key=None if n % 3 == 0 else f"k{n}{keys[n]}",
            request_id=None if n % 2 else keys[n],
            details=None if n == 5 else {"text": text, "n": n},
        )
        for n, text in enumerate(texts)
    ]
    outcomes = services.ledger.charge_many(commands)
    for n, (command, outcome) in enumerate(zip(commands, outcomes, strict=True)):
        assert isinstance(outcome, Receipt)
        stored = services.history.get(account_id=account.id, transaction_id=outcome.transaction.id)
        assert stored.units == 1 + n
        assert stored.idempotency_key == command.idempotency_key
        assert stored.request_id == (None if n % 2 else keys[n])
        assert stored.details == (None if n == 5 else {"text": texts[n], "n": n})
    assert services.verifier.verify(account_id=account.id).ok


def test_batches_of_every_kind_of_command_keep_every_invariant(services: Services) -> None:
    """Several rows per table in each write (PostgreSQL's array path from four rows on):
    grants, reservations, settlements and cancellations, charges, refunds and adjustments."""
    owners = [services.accounts.create(email=f"m{i}@example.com").id for i in range(6)]

    def run(commands: Sequence[AnyCommand]) -> list[Receipt]:
        outcomes = services.store.submit(commands)
        assert all(isinstance(o, Receipt) for o in outcomes), outcomes
        return [o for o in outcomes if isinstance(o, Receipt)]

    run([AddGrant(a, 50_000_000, GrantKind.PURCHASE, idempotency_key=f"g-{a}") for a in owners])
    held = run(
        [
            Reserve(a, "search_database", 10, 600, idempotency_key=f"r-{a}-{k}", details={"k": k})
            for a in owners
            for k in range(2)
        ]
    )
    run(
        [
            Settle(r.transaction.account_id, r.transaction.id, 7)
            if n % 2 == 0
            else Cancel(r.transaction.account_id, r.transaction.id)
            for n, r in enumerate(held)
        ]
    )
    charged = run([Charge(a, "enrich_database", 3, request_id=f"q-{a}") for a in owners * 3])
    run([Refund(c.transaction.account_id, c.transaction.id, None, "oops") for c in charged[::2]])
    run([Adjust(a, amount, "fix") for a in owners for amount in (-1_000_000, 2_000_000)])
    report = services.verifier.verify()
    assert report.ok, report.problems
    assert report.accounts_checked == len(owners)
