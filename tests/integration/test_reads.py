"""Reads that stand alone: a unit of work without a transaction (autocommit on PostgreSQL, no
BEGIN / ROLLBACK round trips) and the one-statement account summary behind /accounts/me/."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from creditbook.bootstrap import Services
from creditbook.domain.alerts import AlertSpec
from creditbook.storage.repositories.accounts import AccountRepository
from creditbook.storage.unit_of_work import UnitOfWork


def _autocommit(uow: UnitOfWork) -> bool:
    driver = uow.connection.connection.driver_connection
    return bool(getattr(driver, "autocommit", False))


def test_a_read_without_a_transaction_autocommits_on_postgresql_and_pools_back_transactional(
    services: Services,
) -> None:
    postgres = services.store.engine.dialect.name == "postgresql"
    for _ in range(3):  # the pool hands the same connections out again
        with services.store.read(transaction=False) as uow:
            assert uow.connection.execute(text("SELECT 1")).scalar() == 1
            assert _autocommit(uow) is postgres
        with services.store.read() as uow:
            assert not _autocommit(uow)
            assert uow.connection.execute(text("SELECT 2")).scalar() == 2


def test_a_write_or_a_snapshot_without_a_transaction_is_refused(services: Services) -> None:
    for options in ({"writer": True}, {"snapshot": True}):
        with pytest.raises(ValueError, match="need a transaction"):
            UnitOfWork(services.store.engine, transaction=False, **options)


def test_the_standing_of_an_account_without_grants_has_none_and_the_price_revision(
    services: Services,
) -> None:
    account = services.accounts.create(email="bare@example.com")
    with services.store.read(transaction=False) as uow:
        standing = AccountRepository(uow.connection).standing(account.id)
        revision = uow.connection.execute(text("SELECT revision FROM price_book_meta")).scalar()
    assert standing is not None
    assert (standing.account.id, standing.grants, standing.price_revision) == (
        account.id,
        [],
        revision,
    )


def test_the_standing_lists_open_grants_only_and_the_summary_agrees_with_the_ledger(
    services: Services,
) -> None:
    account = services.accounts.create(email="grants@example.com")
    spent = services.ledger.grant(account_id=account.id, amount_micros=20_000, priority=1)
    kept = services.ledger.grant(account_id=account.id, amount_micros=5_000_000, priority=9)
    services.ledger.charge(account_id=account.id, operation="search_database", units=1)
    with services.store.read(transaction=False) as uow:
        standing = AccountRepository(uow.connection).standing(account.id)
    assert standing is not None
    grants = standing.grants
    spent_id = spent.transaction.grant_id
    kept_id = kept.transaction.grant_id
    assert [g.id for g in grants] == [kept_id]
    summary = services.accounts.summary(account_id=account.id)
    assert [g.id for g in summary.grants] == [kept_id]
    assert spent_id not in {g.id for g in summary.grants}
    assert summary.account.balance_micros == 5_000_000
    assert summary.available_micros == 5_000_000


def test_the_standing_of_an_unknown_account_is_none(services: Services) -> None:
    with services.store.read(transaction=False) as uow:
        assert AccountRepository(uow.connection).standing("no-such-account") is None


def test_the_standing_carries_the_accounts_own_alerts_only(services: Services) -> None:
    mine = services.accounts.create(email="mine@example.com")
    other = services.accounts.create(email="other@example.com")
    services.alerts.add(account_id=mine.id, spec=AlertSpec("balance", threshold_micros=5_000_000))
    services.alerts.add(account_id=other.id, spec=AlertSpec("balance", threshold_micros=7_000_000))
    with services.store.read(transaction=False) as uow:
        standing = AccountRepository(uow.connection).standing(mine.id)
    assert standing is not None
    expected = services.alerts.list(account_id=mine.id)
    assert [a.id for a in standing.alerts] == [a.id for a in expected]
    assert {a.account_id for a in standing.alerts} == {mine.id}
    assert 5_000_000 in {a.threshold_micros for a in standing.alerts}
