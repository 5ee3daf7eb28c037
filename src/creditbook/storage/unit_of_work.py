"""A unit of work: one database transaction that rolls back unless `commit()` is called."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, Engine, RootTransaction

from creditbook.storage.engine import writer_connection


class UnitOfWork:
    """`with UnitOfWork(engine) as uow: ...; uow.commit()` — leaving without commit undoes all.

    Given a `connection` instead of an engine it uses that connection (the writer's own) and
    leaves it open afterwards. `writer=True` takes SQLite's write lock at BEGIN, so a read
    followed by a write cannot deadlock against another writer. `snapshot=True` makes every
    read see the same moment, for checks that compare several figures. `transaction=False`
    is for reads whose statements each stand alone: on PostgreSQL they run in autocommit,
    which saves the BEGIN and ROLLBACK round trips (SQLite's are in-process and stay).
    """

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        connection: Connection | None = None,
        writer: bool = False,
        snapshot: bool = False,
        transaction: bool = True,
    ) -> None:
        if (engine is None) == (connection is None):
            raise ValueError("pass either an engine or a connection")
        if not transaction and (writer or snapshot):
            raise ValueError("writes and snapshots need a transaction")
        self._engine = engine
        self._writer = writer
        self._snapshot = snapshot
        self._transactional = transaction
        self._borrowed = connection
        self._transaction: RootTransaction | None = None
        self._connection: Connection | None = None
        self.committed = False

    @property
    def connection(self) -> Connection:
        assert self._connection is not None, "use the unit of work in a with block"
        return self._connection

    def __enter__(self) -> Self:
        if self._borrowed is not None:
            self._connection = self._borrowed
        else:
            assert self._engine is not None
            self._connection = (
                writer_connection(self._engine) if self._writer else self._engine.connect()
            )
            if self._connection.dialect.name != "sqlite":
                if self._snapshot:
                    # Every statement sees the same snapshot (SQLite's read transactions do).
                    self._connection.execution_options(isolation_level="REPEATABLE READ")
                elif not self._transactional:
                    self._connection.execution_options(isolation_level="AUTOCOMMIT")
        self._transaction = self._connection.begin()
        self.committed = False
        return self

    def commit(self) -> None:
        assert self._transaction is not None
        self._transaction.commit()
        self.committed = True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if self._transaction is not None and self._transaction.is_active:
                self._transaction.rollback()
        finally:
            if self._borrowed is None and self._connection is not None:
                self._connection.close()
            self._transaction = None
            self._connection = None


class DriverUnitOfWork:
    """The same contract on a bare DBAPI connection, for the writer's hot path.

    SQLite connections run with `isolation_level=None` (see engine.py), so the transaction is
    begun here, with `BEGIN IMMEDIATE` to take the write lock before anything is read.
    psycopg begins a transaction by itself on the first statement.
    """

    def __init__(self, driver: Any, *, sqlite: bool) -> None:
        self.driver = driver
        self._sqlite = sqlite
        self.committed = False

    def __enter__(self) -> Self:
        self.committed = False
        if self._sqlite:
            self.driver.execute("BEGIN IMMEDIATE")
        return self

    def commit(self) -> None:
        if self._sqlite:
            self.driver.execute("COMMIT")
        else:
            self.driver.commit()
        self.committed = True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.committed:
            return
        if self._sqlite:
            if self.driver.in_transaction:
                self.driver.execute("ROLLBACK")
        else:
            self.driver.rollback()
