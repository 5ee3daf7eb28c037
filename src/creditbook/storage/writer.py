"""The single writer per database, with group commit.

Callers hand in ledger commands from any thread. One caller at a time is the leader: it takes
every command waiting (up to `size_max`), runs them all in one database transaction, gives
each caller its own outcome, and hands the lead to the next waiting caller. While a leader
waits for its commit to reach the disk, new commands queue up and go in the next transaction,
so the cost of a durable commit is shared by everyone who arrived during the previous one.
A caller that must not block (an event loop, `enqueue`) gives a callback instead of waiting;
when no waiting caller is there to lead, the writer's own thread leads.

A command the ledger refuses (insufficient funds, a conflict) changes nothing in the batch; its
batch-mates are unaffected. If the database itself fails before the commit, each command is
retried alone so that one bad command cannot sink the others.

Correctness does not rest on this writer being the only one: every transaction locks the
account rows it changes (`BEGIN IMMEDIATE` on SQLite, `SELECT ... FOR UPDATE` on PostgreSQL)
before reading balances and grants, so several processes can share one database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import PoolProxiedConnection

from creditbook import limits
from creditbook.clock import Clock
from creditbook.domain import events as ev
from creditbook.domain.alerts import Alert, judge_account
from creditbook.domain.book import AccountState, Book
from creditbook.domain.commands import (
    AddGrant,
    Adjust,
    AnyCommand,
    Batch,
    Cancel,
    Charge,
    ExpireReservations,
    Outcome,
    Refund,
    Renew,
    Reserve,
    Settle,
)
from creditbook.domain.grants import Grant
from creditbook.domain.pricing import PriceBook
from creditbook.domain.transactions import Transaction
from creditbook.errors import CreditbookError, InsufficientFunds, StorageError
from creditbook.storage.engine import is_sqlite
from creditbook.storage.repositories import outbox
from creditbook.storage.repositories.ledger import LedgerRepository, LedgerStatements
from creditbook.storage.repositories.prices import PriceBookCache
from creditbook.storage.unit_of_work import DriverUnitOfWork

log = logging.getLogger("creditbook.writer")

Result = Outcome | CreditbookError
CommitObserver = Callable[[float, int], object]  # (seconds the COMMIT took, commands)
KEYED = (Charge, Reserve, AddGrant, Adjust, Refund, Renew)
DEPLETED = "depleted"  # the notice that marks an account as told it ran out


class _Job:
    """One caller's commands. A waiting caller's `done` is a lock held until the outcomes are in
    (a lock is the cheapest one-shot signal between threads); a caller that does not wait (an
    event loop) gives `notify` instead, called with the outcomes from the writer's thread."""

    __slots__ = ("commands", "done", "lead", "notify", "outcomes")

    def __init__(
        self,
        commands: Sequence[AnyCommand],
        notify: Callable[[list[Result]], object] | None = None,
    ) -> None:
        self.commands = commands
        self.notify = notify
        self.done = threading.Lock()
        self.done.acquire()
        self.outcomes: list[Result] | None = None
        self.lead = False  # set when the previous leader hands over

    def wait(self) -> None:
        self.done.acquire()

    def wake(self) -> None:
        if self.notify is None or self.outcomes is None:
            if self.done.locked():
                self.done.release()
            return
        try:
            self.notify(self.outcomes)
        except Exception:  # the caller's problem must not stop the writer answering the rest
            log.exception("could not hand outcomes back to a caller")


class GrantCache:
    """Open grants per account, valid while the account's entry sequence has not moved.

    Every change of a grant appends a journal entry and so moves the sequence; a cached copy
    whose sequence matches the locked account row is therefore exactly what the table holds,
    whichever process last wrote it. The cache keeps the very `Grant` objects the last
    committed batch left behind; a batch that fails throws the whole cache away
    (`Writer._reset`), so objects changed by an uncommitted batch are never served again.
    Only the leader uses it.
    """

    def __init__(self, size_max: int) -> None:
        self._size_max = size_max
        self._items: OrderedDict[str, tuple[int, list[Grant]]] = OrderedDict()

    def load(
        self, repo: LedgerRepository, states: dict[str, AccountState]
    ) -> dict[str, list[Grant]]:
        found: dict[str, list[Grant]] = {}
        missing: list[str] = []
        for account_id, state in states.items():
            hit = self._items.get(account_id)
            if hit is not None and hit[0] == state.entry_seq:
                found[account_id] = list(hit[1])
                self._items.move_to_end(account_id)
            else:
                found[account_id] = []
                missing.append(account_id)
        if missing:
            for grant in repo.open_grants(missing):
                found[grant.account_id].append(grant)
        return found

    def remember(self, books: dict[str, Book]) -> None:
        for account_id, book in books.items():
            open_grants = [
                g for g in book.grants if g.remaining_micros or g.held_micros or g.is_overdraft
            ]
            self._items[account_id] = (book.account.entry_seq, open_grants)
            self._items.move_to_end(account_id)
        while len(self._items) > self._size_max:
            self._items.popitem(last=False)


class AlertCache:
    """Alert thresholds and states per account, valid while the alerts revision has not moved.

    Anything that changes an alert (its definition through the API, its state here or in the
    clock) moves the revision in the same transaction, so a copy loaded under the current
    revision is what the table holds. Only the leader uses it; a failed batch throws it away.
    """

    def __init__(self, size_max: int) -> None:
        self._size_max = size_max
        self._revision: int | None = None
        self._items: OrderedDict[str, list[Alert]] = OrderedDict()

    def load(
        self, repo: LedgerRepository, revision: int, account_ids: list[str]
    ) -> dict[str, list[Alert]]:
        if revision != self._revision:
            self._items.clear()
            self._revision = revision
        missing = [a for a in account_ids if a not in self._items]
        if missing:
            for account_id in missing:
                self._items[account_id] = []
            for alert in outbox.load_alerts(repo, missing):
                self._items[alert.account_id].append(alert)
        while len(self._items) > self._size_max:
            self._items.popitem(last=False)
        return {a: self._items.get(a, []) for a in account_ids}


class Writer:
    """Serialises ledger writes for one database and commits them in groups."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock,
        prices: PriceBookCache,
        size_max: int,
        wait_us: int,
        alert_margin_percent: int = 10,
    ) -> None:
        if not 1 <= size_max <= limits.group_commit_size_max:
            raise ValueError(f"size_max must be in 1..{limits.group_commit_size_max}")
        if not 0 <= wait_us <= limits.group_commit_wait_us_max:
            raise ValueError(f"wait_us must be in 0..{limits.group_commit_wait_us_max}")
        self._engine = engine
        self._clock = clock
        self._prices = prices
        self._size_max = size_max
        self._wait_s = wait_us / 1_000_000
        self._statements = LedgerStatements(engine.dialect.name)
        self._pipeline = not is_sqlite(engine)
        # The writer runs statements on the DBAPI connection, so it sees the driver's errors.
        self._driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._mutex = threading.Lock()
        self._idle = threading.Condition(self._mutex)
        self._arrivals = threading.Condition(self._mutex)
        self._expected = 1  # callers served by the last batch: how many to wait for
        self._queue: deque[_Job] = deque()
        self._leading = False
        self._closed = False
        self._connection: PoolProxiedConnection | None = None
        self._grants = GrantCache(limits.grant_cache_accounts_max)
        self._alerts = AlertCache(limits.grant_cache_accounts_max)
        self._alert_margin_percent = alert_margin_percent
        self._pump: threading.Thread | None = None  # leads for callers that do not wait
        self._pump_wanted = threading.Condition(self._mutex)
        self._pump_due = False
        self.transactions_committed = 0
        self._observers: tuple[CommitObserver, ...] = ()

    def observe(self, observer: CommitObserver) -> None:
        """Have `observer(commit_s, commands)` called after every committed transaction, from
        the thread that led it: how long the COMMIT took (the durable write: SQLite's fsync
        with synchronous=FULL, PostgreSQL's WAL flush) and how many commands it carried."""
        with self._mutex:
            self._observers = (*self._observers, observer)

    def submit(self, commands: Sequence[AnyCommand]) -> list[Result]:
        """Run the commands; one outcome (a receipt or the error) per command, in order."""
        outcomes: list[Result] = []
        for start in range(0, len(commands), self._size_max):
            outcomes.extend(self._submit_chunk(commands[start : start + self._size_max]))
        return outcomes

    def enqueue(
        self, commands: Sequence[AnyCommand], notify: Callable[[list[Result]], object]
    ) -> None:
        """Hand commands in without waiting (at most `size_max`): `notify` gets their outcomes,
        called from the writer's thread. The writer's own thread leads when no caller does."""
        if not 1 <= len(commands) <= self._size_max:
            raise ValueError(f"enqueue takes 1..{self._size_max} commands")
        with self._mutex:
            if self._closed:
                raise StorageError("The ledger is shutting down; try again shortly.")
            self._queue.append(_Job(commands, notify))
            if not self._leading:
                self._leading = True
                self._call_pump()
            elif len(self._queue) >= self._expected:
                self._arrivals.notify()

    def close(self) -> None:
        """Refuse new commands, let those already handed in finish, then disconnect."""
        with self._mutex:
            self._closed = True
            while self._leading or self._queue:
                self._idle.wait()
            pump, self._pump = self._pump, None
            self._pump_wanted.notify()
        if pump is not None:
            pump.join()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _submit_chunk(self, commands: Sequence[AnyCommand]) -> list[Result]:
        job = _Job(commands)
        with self._mutex:
            if self._closed:
                raise StorageError("The ledger is shutting down; try again shortly.")
            self._queue.append(job)
            lead = not self._leading
            self._leading = True
            if len(self._queue) >= self._expected:
                self._arrivals.notify()
        if not lead:
            job.wait()
        if job.outcomes is None:
            self._lead(job)
        assert job.outcomes is not None
        return job.outcomes

    def _lead(self, own: _Job | None) -> None:
        """Run batches until `own` is answered (the pump: until the queue is empty), then hand
        the lead to the next caller in the queue, or to the pump if that caller does not wait."""
        while own is None or own.outcomes is None:
            self._gather()
            jobs = self._take()
            if not jobs:
                break
            self._expected = len(jobs)
            self._run(jobs)
        with self._mutex:
            if not self._queue:
                self._leading = False
                self._idle.notify_all()
            elif self._queue[0].notify is None:
                successor = self._queue[0]
                successor.lead = True
                successor.wake()
            else:
                self._call_pump()

    def _call_pump(self) -> None:
        """(Holding the mutex.) Have the writer's own thread lead."""
        self._pump_due = True
        if self._pump is None:
            self._pump = threading.Thread(target=self._run_pump, name="creditbook-writer")
            self._pump.daemon = True
            self._pump.start()
        self._pump_wanted.notify()

    def _run_pump(self) -> None:
        while True:
            with self._mutex:
                while not self._pump_due and self._pump is not None:
                    self._pump_wanted.wait()
                if not self._pump_due:
                    return
                self._pump_due = False
            self._lead(None)

    def _gather(self) -> None:
        """Wait (at most `wait_us`) until as many callers are queued as the last batch served.

        Callers served by one batch come back together; without this, a leader starts as soon
        as the first of them arrives and the callers split into two alternating groups, each
        paying for its own commit.
        """
        if not self._wait_s or self._expected <= 1:
            return
        deadline = time.monotonic() + self._wait_s
        with self._mutex:
            while len(self._queue) < self._expected:
                left = deadline - time.monotonic()
                if left <= 0 or not self._arrivals.wait(left):
                    return

    def _take(self) -> list[_Job]:
        with self._mutex:
            if not self._queue:
                return []
            jobs = [self._queue.popleft()]
            count = len(jobs[0].commands)
            while self._queue and count + len(self._queue[0].commands) <= self._size_max:
                job = self._queue.popleft()
                count += len(job.commands)
                jobs.append(job)
        return jobs

    def _run(self, jobs: list[_Job]) -> None:
        commands = [command for job in jobs for command in job.commands]
        try:
            outcomes = self._execute(commands)
        except Exception:  # a bug must not leave callers waiting forever
            log.exception("ledger writer failed")
            self._reset()
            outcomes = [CreditbookError("Internal error in the ledger writer.")] * len(commands)
        start = 0
        for job in jobs:
            job.outcomes = outcomes[start : start + len(job.commands)]
            start += len(job.commands)
            job.wake()

    def _execute(self, commands: list[AnyCommand]) -> list[Result]:
        committing = [False]
        try:
            return self._transact(commands, committing)
        except (SQLAlchemyError, self._driver_error) as error:
            self._reset()
            if committing[0] or len(commands) == 1:
                log.error("ledger write failed: %s", error)
                return [_storage_error(error, committing[0])] * len(commands)
            return [self._execute([command])[0] for command in commands]

    def _transact(self, commands: list[AnyCommand], committing: list[bool]) -> list[Result]:
        driver = self._connect()
        with DriverUnitOfWork(driver, sqlite=not self._pipeline) as uow:
            repo = LedgerRepository(driver, self._statements)
            now = self._clock.now_us()
            batch = load_batch(repo, commands, now, self._price_book, self._grants)
            outcomes = [_apply(batch, command) for command in commands]
            self._watch(repo, batch)
            if self._pipeline:
                with driver.pipeline():  # PostgreSQL: every write in one round trip
                    write_batch(repo, batch)
            else:
                write_batch(repo, batch)
            committing[0] = True
            started = time.perf_counter()
            uow.commit()
            commit_s = time.perf_counter() - started
        self.transactions_committed += 1
        self._grants.remember(batch.books)
        self._tell_observers(commit_s, len(commands))
        return outcomes

    def _tell_observers(self, commit_s: float, commands: int) -> None:
        for observer in self._observers:
            try:
                observer(commit_s, commands)
            except Exception:  # a metric must never fail a committed write
                log.exception("a commit observer failed")

    def _price_book(self, revision: int) -> PriceBook:
        return self._prices.at_revision(self._engine, revision)

    def _watch(self, repo: LedgerRepository, batch: Batch) -> None:
        """Alerts, depletion notices and the events of the batch, in its transaction."""
        changed = [aid for aid, book in batch.books.items() if book.changed]
        if changed:
            found = self._alerts.load(repo, repo.alerts_revision(), changed)
            moved: list[Alert] = []
            for account_id in changed:
                book = batch.books[account_id]
                for alert, event in judge_account(
                    found[account_id], book.account, batch.now_us, self._alert_margin_percent
                ):
                    moved.append(alert)
                    batch.events.append(event)
            outbox.save_alert_states(repo, moved)
        if batch.depleted:
            _tell_depleted(repo, batch)
        if batch.events:
            credited = sorted({e.account_id for e in batch.events if e.type == ev.CREDITS_ADDED})
            outbox.drop_notices(repo, credited, DEPLETED)
            outbox.write_events(repo, batch.events, batch.now_us)

    def _connect(self) -> Any:
        """The writer's own DBAPI connection, from the engine's pool (pragmas applied)."""
        if self._connection is None:
            self._connection = self._engine.raw_connection()
        return self._connection.driver_connection

    def _reset(self) -> None:
        self._grants = GrantCache(limits.grant_cache_accounts_max)
        self._alerts = AlertCache(limits.grant_cache_accounts_max)
        if self._connection is not None:
            try:
                self._connection.invalidate()
            finally:
                self._connection = None


def _apply(batch: Batch, command: AnyCommand) -> Result:
    try:
        return batch.apply(command)
    except InsufficientFunds as error:
        batch.depleted.add(command.account_id)
        return error
    except CreditbookError as error:
        return error


def _tell_depleted(repo: LedgerRepository, batch: Batch) -> None:
    """`balance.depleted` once per depletion: the first refusal marks the account, and the
    mark goes when credits are added."""
    for account_id in sorted(batch.depleted):
        book = batch.books.get(account_id)
        if book is None or not outbox.add_notice(repo, account_id, DEPLETED, batch.now_us):
            continue
        data = {
            "balance": ev.usd(book.account.balance_micros),
            "available": ev.usd(book.available_micros()),
        }
        batch.events.append(ev.new_event(account_id, ev.DEPLETED, batch.now_us, data))


def _storage_error(error: Exception, committing: bool) -> StorageError:
    if committing:
        return StorageError(
            "The database failed while committing; the outcome is unknown. "
            "Retry with the same idempotency key."
        )
    cause = getattr(error, "orig", None) or error
    return StorageError(f"The database refused the write: {type(cause).__name__}.")


def load_batch(
    repo: LedgerRepository,
    commands: Sequence[AnyCommand],
    now_us: int,
    prices: Callable[[int], PriceBook],
    grant_cache: GrantCache,
) -> Batch:
    """Lock the accounts the commands touch and read everything the rules will need."""
    account_ids = sorted({command.account_id for command in commands})
    states, revision = repo.lock_accounts(account_ids)
    batch = Batch(now_us, prices(revision), books={})
    if not states:
        return batch
    locked = sorted(states)
    grants = grant_cache.load(repo, states)
    _load_references(repo, batch, commands, locked)
    _load_extra_grants(repo, batch, grants, locked)
    batch.books = {aid: Book(states[aid], grants[aid], now_us) for aid in locked}
    return batch


def _load_references(
    repo: LedgerRepository, batch: Batch, commands: Sequence[AnyCommand], locked: list[str]
) -> None:
    """Idempotency records, the transactions commands point to, and their journal entries."""
    keys = [c.idempotency_key for c in commands if isinstance(c, KEYED) and c.idempotency_key]
    if keys:
        for record in repo.idempotency(locked, keys):
            batch.idempotency[(record.account_id, record.key)] = record
    targets = {c.reservation_id for c in commands if isinstance(c, Settle | Cancel)}
    refunds = {c.transaction_id for c in commands if isinstance(c, Refund)}
    wanted = targets | refunds | {r.transaction_id for r in batch.idempotency.values()}
    if wanted:
        for txn in repo.transactions(locked, sorted(wanted)):
            batch.transactions[txn.id] = txn
    expiring = sorted({c.account_id for c in commands if isinstance(c, ExpireReservations)})
    if expiring:
        for txn in repo.pending_due(expiring, batch.now_us):
            batch.transactions[txn.id] = txn
            targets.add(txn.id)
    _load_entries(repo, batch, targets | refunds)
    if refunds:
        batch.refunded = repo.refunded(locked, sorted(refunds))


def _load_entries(repo: LedgerRepository, batch: Batch, transaction_ids: set[str]) -> None:
    ranges: list[tuple[str, int, int]] = []
    for txn_id in sorted(transaction_ids):
        txn = batch.transactions.get(txn_id)
        if txn is not None and txn.entry_first_seq is not None and txn.entry_last_seq is not None:
            ranges.append((txn.account_id, txn.entry_first_seq, txn.entry_last_seq))
    if ranges:
        for entry in repo.entries_in(ranges):
            batch.entries_of.setdefault(entry.transaction_id, []).append(entry)


def _load_extra_grants(
    repo: LedgerRepository, batch: Batch, grants: dict[str, list[Grant]], locked: list[str]
) -> None:
    """Grants that past entries point to but that are no longer open (a refund needs them)."""
    known = {g.id for found in grants.values() for g in found}
    needed = {e.grant_id for es in batch.entries_of.values() for e in es} - known
    if needed:
        for grant in repo.grants_by_id(locked, sorted(needed)):
            grants[grant.account_id].append(grant)


def write_batch(repo: LedgerRepository, batch: Batch) -> None:
    """Write what the batch produced; parents before children for the foreign keys."""
    books = batch.books.values()
    repo.insert_grants(g for b in books for g in b.new_grants.values())
    repo.update_grants(g for b in books for g in b.changed_grants.values())
    # In key order: consecutive rows land in the same B-tree leaf instead of hopping accounts.
    repo.insert_transactions(sorted(batch.new_transactions.values(), key=_transaction_key))
    repo.update_transactions(batch.changed_transactions.values())
    repo.insert_entries(batch.entries())
    repo.upsert_usage(batch.usage)
    repo.insert_idempotency(batch.new_idempotency)
    repo.update_accounts((b.account for b in books if b.changed), batch.now_us)


def _transaction_key(txn: Transaction) -> tuple[str, str]:
    return (txn.account_id, txn.id)
