"""Accounts and API keys in the database."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, literal_column, select, text, update

from creditbook.domain.accounts import Account, ApiKey
from creditbook.domain.alerts import Alert
from creditbook.domain.grants import Grant
from creditbook.errors import NotFound
from creditbook.storage.repositories.ledger import GRANT_COLUMNS, Sql, positional_dialect
from creditbook.storage.repositories.outbox import alerts_query
from creditbook.storage.tables import (
    OPEN_GRANTS,
    accounts,
    alerts,
    api_keys,
    grants,
    price_book_meta,
)

KEY_COLUMNS = (
    api_keys.c.id,
    api_keys.c.account_id,
    api_keys.c.prefix,
    api_keys.c.name,
    api_keys.c.client_id,
    api_keys.c.scope,
    api_keys.c.is_test,
    api_keys.c.is_active,
    api_keys.c.created_at_us,
    api_keys.c.last_used_at_us,
    api_keys.c.revoked_at_us,
)


class Standing(NamedTuple):
    account: Account
    grants: list[Grant]  # open grants, in no particular order
    price_revision: int
    alerts: list[Alert]


@functools.cache
def _standing_sql(dialect_name: str) -> Sql:
    one: Any = literal_column("1")
    revision = select(price_book_meta.c.revision).where(price_book_meta.c.id == one)
    is_open = and_(grants.c.account_id == accounts.c.id, text(OPEN_GRANTS))
    query = (
        select(*accounts.c, revision.scalar_subquery(), *GRANT_COLUMNS)
        .select_from(accounts.outerjoin(grants, is_open))
        .where(accounts.c.id == bindparam("account_id"))
    )
    return Sql(query, positional_dialect(dialect_name)).check("account_id")


@functools.cache
def _alerts_sql(dialect_name: str) -> Sql:
    query = alerts_query(alerts.c.account_id == bindparam("account_id"))
    return Sql(query, positional_dialect(dialect_name)).check("account_id")


class AccountRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, values: dict[str, Any]) -> None:
        self.connection.execute(accounts.insert(), values)

    def get(self, account_id: str) -> Account | None:
        row = self.connection.execute(
            select(*accounts.c).where(accounts.c.id == account_id)
        ).first()
        return Account(*row) if row is not None else None

    def require(self, account_id: str) -> Account:
        """The account, or NotFound (a 404) when there is none."""
        account = self.get(account_id)
        if account is None:
            raise NotFound("Account not found.")
        return account

    def page(self, *, after_id: str | None, limit: int) -> list[Account]:
        query = select(*accounts.c).order_by(accounts.c.id).limit(limit)
        if after_id is not None:
            query = query.where(accounts.c.id > after_id)
        return [Account(*row) for row in self.connection.execute(query)]

    def ids(self, *, after_id: str | None, limit: int) -> list[str]:
        query = select(accounts.c.id).order_by(accounts.c.id).limit(limit)
        if after_id is not None:
            query = query.where(accounts.c.id > after_id)
        return list(self.connection.execute(query).scalars())

    def change(self, account_id: str, values: dict[str, Any]) -> bool:
        result = self.connection.execute(
            update(accounts).where(accounts.c.id == account_id).values(**values)
        )
        return result.rowcount == 1

    def standing(self, account_id: str) -> Standing | None:
        """The account, its open grants, the price book's revision and the alerts: what
        /accounts/me/ shows. The first three come from one statement, so they agree without a
        transaction. Both statements are compiled once and run on the driver's cursor: for a
        request this small, building and caching a Core statement costs more than the query."""
        dialect = self.connection.dialect.name
        driver: Any = self.connection.connection.driver_connection
        cursor = driver.cursor()
        try:
            cursor.execute(_standing_sql(dialect).text, (account_id,))
            rows = cursor.fetchall()
            if not rows:
                return None
            cursor.execute(_alerts_sql(dialect).text, (account_id,))
            found = [Alert(*row) for row in cursor.fetchall()]
        finally:
            cursor.close()
        width = len(accounts.c)
        open_grants = [Grant(*row[width + 1 :]) for row in rows if row[width + 1] is not None]
        return Standing(Account(*rows[0][:width]), open_grants, int(rows[0][width]), found)


class KeyRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, values: dict[str, Any]) -> None:
        self.connection.execute(api_keys.insert(), values)

    def by_hash(self, key_hash: str) -> tuple[ApiKey, str] | None:
        """The key with this hash, and the hash as stored (for a constant-time comparison)."""
        row = self.connection.execute(
            select(*KEY_COLUMNS, api_keys.c.key_hash).where(api_keys.c.key_hash == key_hash)
        ).first()
        return (ApiKey(*row[:-1]), row[-1]) if row is not None else None

    def of_account(self, account_id: str) -> list[ApiKey]:
        query = (
            select(*KEY_COLUMNS)
            .where(api_keys.c.account_id == account_id)
            .order_by(api_keys.c.created_at_us.desc(), api_keys.c.id.desc())
        )
        return [ApiKey(*row) for row in self.connection.execute(query)]

    def get(self, account_id: str, key_id: str) -> ApiKey | None:
        row = self.connection.execute(
            select(*KEY_COLUMNS).where(api_keys.c.account_id == account_id, api_keys.c.id == key_id)
        ).first()
        return ApiKey(*row) if row is not None else None

    def revoke(self, account_id: str, key_id: str, *, now_us: int) -> bool:
        result = self.connection.execute(
            update(api_keys)
            .where(
                api_keys.c.account_id == account_id,
                api_keys.c.id == key_id,
                api_keys.c.is_active.is_(True),
            )
            .values(is_active=False, revoked_at_us=now_us)
        )
        return result.rowcount == 1

    def touch(self, key_id: str, *, now_us: int) -> None:
        self.connection.execute(
            update(api_keys).where(api_keys.c.id == key_id).values(last_used_at_us=now_us)
        )
