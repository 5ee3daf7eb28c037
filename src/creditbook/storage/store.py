"""The store: one database, its engine, its single writer and its caches, wired once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy import Engine

from creditbook.clock import Clock
from creditbook.domain.commands import AnyCommand
from creditbook.domain.pricing import PriceBook
from creditbook.errors import CreditbookError
from creditbook.storage.engine import EngineOptions, create_engine, safe_url
from creditbook.storage.migrate import require_current
from creditbook.storage.repositories.ledger import LedgerRepository, LedgerStatements
from creditbook.storage.repositories.prices import PriceBookCache
from creditbook.storage.unit_of_work import UnitOfWork
from creditbook.storage.writer import GrantCache, Result, Writer, load_batch


class Store:
    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock,
        preview_threshold_micros: int,
        group_commit_size_max: int,
        group_commit_wait_us: int,
        alert_margin_percent: int = 10,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.prices = PriceBookCache(preview_threshold_micros=preview_threshold_micros)
        self.writer = Writer(
            engine,
            clock=clock,
            prices=self.prices,
            size_max=group_commit_size_max,
            wait_us=group_commit_wait_us,
            alert_margin_percent=alert_margin_percent,
        )
        self._statements = LedgerStatements(engine.dialect.name)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Clock,
        options: EngineOptions,
        preview_threshold_micros: int,
        group_commit_size_max: int,
        group_commit_wait_us: int,
        alert_margin_percent: int = 10,
    ) -> Store:
        """Connect and refuse to go on unless the schema is migrated."""
        engine = create_engine(url, options)
        try:
            require_current(engine, shown_url=safe_url(url))
        except Exception:
            engine.dispose()
            raise
        return cls(
            engine,
            clock=clock,
            preview_threshold_micros=preview_threshold_micros,
            group_commit_size_max=group_commit_size_max,
            group_commit_wait_us=group_commit_wait_us,
            alert_margin_percent=alert_margin_percent,
        )

    def submit(self, commands: Sequence[AnyCommand]) -> list[Result]:
        return self.writer.submit(commands)

    def submit_async(self, commands: Sequence[AnyCommand]) -> asyncio.Future[list[Result]]:
        """`submit` for an event loop: no thread waits; the writer answers through the loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Result]] = loop.create_future()

        def answer(outcomes: list[Result]) -> None:
            if not future.done():  # the request may have been cancelled meanwhile
                future.set_result(outcomes)

        self.writer.enqueue(commands, lambda outcomes: loop.call_soon_threadsafe(answer, outcomes))
        return future

    def simulate(self, commands: Sequence[AnyCommand]) -> list[Result]:
        """Answer the commands as the writer would, and write nothing (for test keys)."""
        with self.read() as uow:
            repo = LedgerRepository(uow.connection.connection.driver_connection, self._statements)
            now = self.clock.now_us()
            batch = load_batch(repo, commands, now, self._price_book, GrantCache(1))
            results: list[Result] = []
            for command in commands:
                try:
                    results.append(batch.apply(command))
                except CreditbookError as error:
                    results.append(error)
            return results

    def _price_book(self, revision: int) -> PriceBook:
        return self.prices.at_revision(self.engine, revision)

    def read(self, *, snapshot: bool = False, transaction: bool = True) -> UnitOfWork:
        """A read-only unit of work; `transaction=False` when each statement stands alone."""
        return UnitOfWork(self.engine, snapshot=snapshot, transaction=transaction)

    def write(self) -> UnitOfWork:
        return UnitOfWork(self.engine, writer=True)

    def price_book(self) -> PriceBook:
        with self.read() as uow:
            return self.prices.get(uow.connection)

    def close(self) -> None:
        self.writer.close()
        self.engine.dispose()
