"""Accounts and API keys in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, literal_column, or_, select, text, update

from creditbook.domain.accounts import Account, ApiKey
from creditbook.domain.grants import Grant
from creditbook.storage.repositories.ledger import GRANT_COLUMNS
from creditbook.storage.tables import OPEN_GRANTS, accounts, api_keys, grants, price_book_meta

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

    def standing(self, account_id: str) -> tuple[Account, list[Grant], int] | None:
        """The account, its open grants and the price book's revision, read by one statement:
        one snapshot without a transaction, and one round trip."""
        g = grants.c
        is_open = or_(g.remaining_micros != 0, g.held_micros != 0, g.kind == "overdraft")
        one: Any = literal_column("1")
        revision = select(price_book_meta.c.revision).where(price_book_meta.c.id == one)
        query = (
            select(*accounts.c, revision.scalar_subquery(), *GRANT_COLUMNS)
            .select_from(accounts.outerjoin(grants, and_(g.account_id == accounts.c.id, is_open)))
            .where(accounts.c.id == account_id)
        )
        rows = self.connection.execute(query).all()
        if not rows:
            return None
        width = len(accounts.c)
        found = [Grant(*row[width + 1 :]) for row in rows if row[width + 1] is not None]
        return Account(*rows[0][:width]), found, int(rows[0][width])

    def grants(self, account_id: str, *, open_only: bool = True) -> list[Grant]:
        query = select(*GRANT_COLUMNS).where(grants.c.account_id == account_id)
        if open_only:
            query = query.where(text(OPEN_GRANTS))
        return [Grant(*row) for row in self.connection.execute(query)]


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
