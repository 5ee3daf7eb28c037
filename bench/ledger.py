"""Ledger write throughput: a raw DBAPI baseline against creditbook, on SQLite and PostgreSQL.

    .venv/bin/python bench/ledger.py [--seconds 3] [--skip-postgres] [--profile]

For each database, in one run:

1. Raw baseline, no framework: per charge, the three writes a charge cannot do without, issued
   with the driver itself (sqlite3 / psycopg) on a freshly migrated creditbook schema:
     UPDATE accounts SET balance_micros = balance_micros - ? WHERE id = ?
     INSERT INTO journal_entries ...  (one row: next seq, a fixed grant and transaction row of
                                       the account created at setup, so the foreign keys hold)
     INSERT INTO usage_buckets ... ON CONFLICT DO UPDATE  (the account's 15-minute bucket and
                                                           its running totals)
   (a) one commit per charge, (b) 100 charges per commit (--raw-txn-size). It keeps no
   invariant beyond that (no transaction row per charge, grants untouched), so it runs on a
   database of its own.
2. One-step charges from one caller: `Ledger.charge` in a loop.
3. 32 caller threads (--threads) on `Ledger.charge` at once (group commit), over 32 accounts
   (--accounts), then all on one hot account.
4. The batch API: `Ledger.charge_many` with lists of 1000 (--batch-size) `charge_command`s.

Accounts are charged in turn (round robin), by the raw baseline too. Every rate counts only
charges that returned a receipt; p50/p99 are per call. Each figure is warmed up, then measured
in `--rounds` rounds that take turns with the other figures (a slow spell of the disk hits all
of them alike); the median rate is shown with the [slowest-fastest] round. After the
library's runs the ledger is verified (`Verifier.verify`) and the charges written are counted
against the receipts.
SQLite runs with WAL and synchronous=FULL on a temporary file on disk; PostgreSQL on a fresh
database (created as `creditbook_bench_*` and dropped afterwards) under the server's settings.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds http.py: drop the folder from the import path before anything imports the
# standard library's `http` package (httpx, which creditbook imports, does).
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import contextlib
import cProfile
import os
import platform
import pstats
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy
from sqlalchemy.engine import make_url

from creditbook import ids
from creditbook.bootstrap import Services, build, tune_runtime
from creditbook.clock import month_start_us
from creditbook.config import Settings
from creditbook.domain.transactions import Receipt
from creditbook.domain.usage import bucket_start_us
from creditbook.services.ledger import charge_command
from creditbook.storage.engine import create_engine
from creditbook.storage.migrate import upgrade

OPERATION = "search_database"
UNIT_PRICE_MICROS = 20_000  # the seeded price of search_database, charged by the raw baseline
FUNDING_MICROS = 10**15 // 10  # per account: 100M USD, 5 billion charges of 1 unit
BAR_ONE_STEP = 0.5  # one-step >= 0.5x raw per-commit
BAR_CONCURRENT = 3.0  # 32 callers >= 3x raw per-commit
BAR_BATCH_SQLITE = 50_000  # batch API charges/s on SQLite
AIM_BATCH_SQLITE = 100_000


# Measuring


@dataclass
class Measure:
    charges: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    commits: int = 0
    calls: int = 0
    rates: list[float] = field(default_factory=list)  # one per round, when combined

    @property
    def rate(self) -> float:
        """Charges per second; the median over the rounds when there were several."""
        if self.rates:
            return statistics.median(self.rates)
        return self.charges / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def combine(rounds: list[Measure]) -> Measure:
    return Measure(
        charges=sum(m.charges for m in rounds),
        seconds=sum(m.seconds for m in rounds),
        latencies=[x for m in rounds for x in m.latencies],
        errors=sum(m.errors for m in rounds),
        commits=sum(m.commits for m in rounds),
        calls=sum(m.calls for m in rounds),
        rates=[m.rate for m in rounds],
    )


@dataclass(frozen=True)
class Budget:
    seconds: float
    charges: int | None  # when set, stop after this many charges instead

    def more(self, done: int, started: float) -> bool:
        if self.charges is not None:
            return done < self.charges
        return time.perf_counter() - started < self.seconds


def serial(step: Callable[[int], int], budget: Budget) -> Measure:
    """Call `step(i)` (which returns the charges it made) until the budget is spent."""
    m = Measure()
    started = time.perf_counter()
    i = 0
    while budget.more(m.charges, started):
        t0 = time.perf_counter()
        m.charges += step(i)
        m.latencies.append(time.perf_counter() - t0)
        i += 1
    m.seconds = time.perf_counter() - started
    m.calls = i
    return m


def threaded(step: Callable[[int, int], bool], threads: int, budget: Budget) -> Measure:
    """`threads` callers each calling `step(thread, i)` (True on success) until told to stop."""
    stop = threading.Event()
    gate = threading.Barrier(threads + 1)
    counts = [0] * threads
    failures = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    per_thread = None if budget.charges is None else max(1, budget.charges // threads)

    def work(t: int) -> None:
        gate.wait()
        i = 0
        while not stop.is_set() and (per_thread is None or i < per_thread):
            t0 = time.perf_counter()
            try:
                ok = step(t, i)
            except Exception:
                ok = False
            latencies[t].append(time.perf_counter() - t0)
            counts[t] += ok
            failures[t] += not ok
            i += 1

    workers = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
    for worker in workers:
        worker.start()
    gate.wait()
    started = time.perf_counter()
    if per_thread is None:
        time.sleep(budget.seconds)
        stop.set()
    for worker in workers:
        worker.join()
    m = Measure(sum(counts), time.perf_counter() - started, errors=sum(failures))
    m.latencies = [x for lat in latencies for x in lat]
    m.calls = len(m.latencies)
    return m


# Databases


class Target:
    """One kind of database: hands out fresh, migrated databases and cleans them up."""

    name = ""

    def fresh(self, label: str) -> str:
        raise NotImplementedError

    def raw_connect(self, url: str) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SqliteTarget(Target):
    name = "SQLite"

    def __init__(self, directory: str | None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="creditbook_bench_", dir=directory))

    def fresh(self, label: str) -> str:
        url = f"sqlite:///{self.dir / f'{label}.db'}"
        migrate(url)
        return url

    def raw_connect(self, url: str) -> Any:
        conn = sqlite3.connect(make_url(url).database or "", isolation_level=None)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL"):
            conn.execute(f"PRAGMA {pragma}")
        return conn

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresTarget(Target):
    name = "PostgreSQL"

    def __init__(self, admin_url: str) -> None:
        self.admin = make_url(admin_url).set(drivername="postgresql")
        self.created: list[str] = []

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin.render_as_string(hide_password=False), autocommit=True)

    def fresh(self, label: str) -> str:
        name = f"creditbook_bench_{label}_{os.getpid()}"
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        url = self.admin.set(database=name).render_as_string(hide_password=False)
        migrate(url)
        return url

    def raw_connect(self, url: str) -> Any:
        return psycopg.connect(url)

    def close(self) -> None:
        with self._admin() as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


# Raw baseline

RAW_UPDATE = "UPDATE accounts SET balance_micros = balance_micros - ? WHERE id = ?"
RAW_JOURNAL = (
    "INSERT INTO journal_entries (account_id, seq, transaction_id, grant_id, kind,"
    " amount_micros, hold_micros, balance_after_micros, reserved_after_micros, at_us)"
    " VALUES (?, ?, ?, ?, 'charge', ?, 0, ?, 0, ?)"
)
# The bucket and its series' running totals: an existing bucket adds to both, a new one starts
# its totals at its own figures. That is the cost of the write, not the ledger's exact values (a
# new bucket's totals would carry the previous bucket's): the baseline keeps no invariant.
RAW_USAGE = (
    "INSERT INTO usage_buckets (account_id, bucket_start_us, operation, api_key_id,"
    " spend_micros, units, charges, cum_spend_micros, cum_units, cum_charges)"
    " VALUES (?, ?, ?, '', ?, 1, 1, ?, 1, 1)"
    " ON CONFLICT (account_id, operation, api_key_id, bucket_start_us) DO UPDATE SET"
    " spend_micros = usage_buckets.spend_micros + excluded.spend_micros,"
    " units = usage_buckets.units + excluded.units,"
    " charges = usage_buckets.charges + excluded.charges,"
    " cum_spend_micros = usage_buckets.cum_spend_micros + excluded.spend_micros,"
    " cum_units = usage_buckets.cum_units + excluded.units,"
    " cum_charges = usage_buckets.cum_charges + excluded.charges"
)
RAW_ACCOUNT = (
    "INSERT INTO accounts (id, email, name, plan, timezone, status, monthly_limit_micros,"
    " overdraft_limit_micros, balance_micros, reserved_micros, lifetime_spend_micros,"
    " month_start_us, month_spend_micros, entry_seq, created_at_us, updated_at_us)"
    " VALUES (?, ?, '', 'Pay as you go', 'UTC', 'active', NULL, 0, ?, 0, 0, ?, 0, 0, ?, ?)"
)
RAW_GRANT = (
    "INSERT INTO grants (account_id, id, kind, priority, effective_at_us, expires_at_us,"
    " created_at_us, amount_micros, remaining_micros, held_micros)"
    " VALUES (?, ?, 'purchase', 40, ?, NULL, ?, ?, ?, 0)"
)
RAW_TRANSACTION = (
    "INSERT INTO transactions (account_id, id, created_at_us, settled_at_us, type, operation,"
    " status, credits_micros, balance_after_micros, units, reserved_units, reserved_micros,"
    " unit_price_micros, multiplier_ppm) VALUES (?, ?, ?, ?, ?, ?, 'success', 0, ?, 0, 0, 0,"
    " ?, 1000000)"
)


@dataclass
class RawAccount:
    id: str
    grant_id: str
    txn_id: str
    seq: int = 0
    balance: int = FUNDING_MICROS


class RawLedger:
    """The three writes of a charge, straight through the driver."""

    def __init__(self, target: Target, url: str, accounts: int) -> None:
        self.sqlite = isinstance(target, SqliteTarget)
        self.conn = target.raw_connect(url)
        self.cur = self.conn.cursor()
        self.sql = {k: self._sql(v) for k, v in (("u", RAW_UPDATE), ("j", RAW_JOURNAL))}
        self.sql["b"] = self._sql(RAW_USAGE)
        self.accounts = [
            RawAccount(ids.account_id(), ids.grant_id(), ids.transaction_id())
            for _ in range(accounts)
        ]
        self.committed = 0
        self._pending = 0
        self._setup()

    def _sql(self, text: str) -> str:
        return text if self.sqlite else text.replace("?", "%s")

    def _setup(self) -> None:
        now = time.time_ns() // 1000
        self.begin()
        for i, a in enumerate(self.accounts):
            email = f"raw{i}@bench.example"
            self.cur.execute(
                self._sql(RAW_ACCOUNT),
                (a.id, email, FUNDING_MICROS, month_start_us(now), now, now),
            )
            grant = (a.id, a.grant_id, now, now, FUNDING_MICROS, FUNDING_MICROS)
            self.cur.execute(self._sql(RAW_GRANT), grant)
            txn = (a.id, a.txn_id, now, now, "top_up", None, FUNDING_MICROS, 0)
            self.cur.execute(self._sql(RAW_TRANSACTION), txn)
        self.commit()

    def begin(self) -> None:
        if self.sqlite:  # as the library's writer: take the write lock first
            self.cur.execute("BEGIN IMMEDIATE")
        # psycopg opens the transaction itself with the first statement

    def commit(self) -> None:
        if self.sqlite:
            self.cur.execute("COMMIT")
        else:
            self.conn.commit()
        self.committed += self._pending
        self._pending = 0

    def charge(self, i: int) -> None:
        a = self.accounts[i % len(self.accounts)]
        now = time.time_ns() // 1000
        a.seq += 1
        a.balance -= UNIT_PRICE_MICROS
        cur, sql = self.cur, self.sql
        cur.execute(sql["u"], (UNIT_PRICE_MICROS, a.id))
        journal = (a.id, a.seq, a.txn_id, a.grant_id, -UNIT_PRICE_MICROS, a.balance, now)
        cur.execute(sql["j"], journal)
        cur.execute(
            sql["b"],
            (a.id, bucket_start_us(now), OPERATION, UNIT_PRICE_MICROS, UNIT_PRICE_MICROS),
        )
        self._pending += 1

    def one_per_commit(self, i: int) -> int:
        self.begin()
        self.charge(i)
        self.commit()
        return 1

    def batch_of(self, size: int) -> Callable[[int], int]:
        def step(i: int) -> int:
            self.begin()
            for k in range(size):
                self.charge(i * size + k)
            self.commit()
            return size

        return step

    def rows(self) -> tuple[int, int]:
        """Journal rows and usage charges in the database, to check against what was sent."""
        self.cur.execute("SELECT count(*) FROM journal_entries")
        entries = self.cur.fetchone()[0]
        self.cur.execute("SELECT coalesce(sum(charges), 0) FROM usage_buckets")
        charges = self.cur.fetchone()[0]
        if not self.sqlite:
            self.conn.rollback()
        return int(entries), int(charges)

    def close(self) -> None:
        self.conn.close()


# The library


@dataclass
class Library:
    services: Services
    accounts: list[str]
    hot: str
    receipts: int = 0  # every successful charge, warm-ups included, to check against the DB

    @property
    def commits(self) -> int:
        return self.services.store.writer.transactions_committed


def open_library(url: str, args: argparse.Namespace) -> Library:
    settings = Settings(
        database_url=url,
        sqlite_synchronous="FULL",
        default_monthly_limit_usd=None,
        group_commit_size_max=args.group_commit_size_max,
        group_commit_wait_us=args.group_commit_wait_us,
    )
    services = build(settings)
    created = [
        services.accounts.create(email=f"bench{i}@bench.example").id
        for i in range(args.accounts + 1)
    ]
    for account_id in created:
        services.ledger.grant(account_id=account_id, amount_micros=FUNDING_MICROS)
    tune_runtime()  # what `creditbook serve` does once it has started
    return Library(services, created[:-1], created[-1])


def one_step(lib: Library) -> Callable[[int], int]:
    charge, accounts = lib.services.ledger.charge, lib.accounts

    def step(i: int) -> int:
        charge(account_id=accounts[i % len(accounts)], operation=OPERATION, units=1)
        lib.receipts += 1
        return 1

    return step


def concurrent(lib: Library, *, hot: bool) -> Callable[[int, int], bool]:
    charge, accounts = lib.services.ledger.charge, lib.accounts

    def step(t: int, _i: int) -> bool:
        account = lib.hot if hot else accounts[t % len(accounts)]
        charge(account_id=account, operation=OPERATION, units=1)
        return True

    return step


def batch_api(lib: Library, size: int, errors: list[int]) -> Callable[[int], int]:
    charge_many, accounts = lib.services.ledger.charge_many, lib.accounts

    def step(i: int) -> int:
        base = i * size
        commands = [
            charge_command(
                account_id=accounts[(base + k) % len(accounts)], operation=OPERATION, units=1
            )
            for k in range(size)
        ]
        ok = sum(isinstance(r, Receipt) for r in charge_many(commands))
        errors[0] += size - ok
        lib.receipts += ok
        return ok

    return step


def measure_library_serial(lib: Library, step: Callable[[int], int], budget: Budget) -> Measure:
    before = lib.commits
    m = serial(step, budget)
    m.commits = lib.commits - before
    return m


def measure_library_threads(
    lib: Library, step: Callable[[int, int], bool], threads: int, budget: Budget
) -> Measure:
    before = lib.commits
    m = threaded(step, threads, budget)
    m.commits = lib.commits - before
    lib.receipts += m.charges
    return m


def check_library(lib: Library) -> tuple[bool, list[str]]:
    """Verify every invariant, and that exactly the receipted charges reached the database."""
    report = lib.services.verifier.verify()
    lines = [f"verify(): {report.accounts_checked} accounts checked, ok={report.ok}"]
    lines += [f"  problem: {p.account_id} {p.check}: {p.detail}" for p in report.problems[:10]]
    with lib.services.store.read() as uow:
        count = uow.connection.exec_driver_sql(
            f"SELECT count(*) FROM transactions WHERE type = '{OPERATION}'"
        ).scalar_one()
        usage = uow.connection.exec_driver_sql(
            "SELECT coalesce(sum(charges), 0) FROM usage_buckets"
        ).scalar_one()
    same = count == usage == lib.receipts
    lines.append(
        f"charges written: {count} transactions, {usage} in usage buckets, "
        f"{lib.receipts} receipts returned -> {'match' if same else 'MISMATCH'}"
    )
    return report.ok and same, lines


# Running one database


@dataclass
class DbResult:
    name: str
    rows: dict[str, Measure] = field(default_factory=dict)
    healthy: bool = True
    bars: list[tuple[str, bool]] = field(default_factory=list)


def fmt_row(label: str, m: Measure, extra: str = "") -> str:
    line = f"  {label:<42} {m.rate:>8,.0f}/s"
    if len(m.rates) > 1:
        line += f" [{min(m.rates):>7,.0f}-{max(m.rates):<7,.0f}]"
    line += f" p50 {m.percentile_ms(0.5):6.2f} ms p99 {m.percentile_ms(0.99):6.2f} ms"
    line += f" ({m.charges:,} in {m.seconds:.1f}s)"
    return line + (f" {extra}" if extra else "")


@dataclass
class Figure:
    key: str
    label: str
    run: Callable[[Budget], Measure]
    note: Callable[[Measure], str] = lambda _m: ""
    rounds: list[Measure] = field(default_factory=list)


def library_figures(lib: Library, args: argparse.Namespace, errors: list[int]) -> list[Figure]:
    n = args.threads

    def threads_note(m: Measure) -> str:
        avg = m.charges / m.commits if m.commits else 0.0
        return f"{m.commits:,} commits, avg {avg:.1f}/commit, {m.errors} errors"

    def batch_note(m: Measure) -> str:
        per_call = m.commits / m.calls if m.calls else 0.0
        return f"{per_call:.1f} commits/call, {errors[0]} refused (latency per call)"

    def threads(hot: bool) -> Callable[[Budget], Measure]:
        work = concurrent(lib, hot=hot)
        return lambda b: measure_library_threads(lib, work, n, b)

    charge_one = one_step(lib)
    charge_batch = batch_api(lib, args.batch_size, errors)
    return [
        Figure(
            "one_step",
            "creditbook Ledger.charge, 1 caller",
            lambda b: measure_library_serial(lib, charge_one, b),
            lambda m: f"{m.commits:,} commits",
        ),
        Figure(
            "concurrent",
            f"creditbook Ledger.charge, {n} thr/{args.accounts} acc",
            threads(hot=False),
            threads_note,
        ),
        Figure(
            "hot", f"creditbook Ledger.charge, {n} thr/1 hot acc", threads(hot=True), threads_note
        ),
        Figure(
            "batch",
            f"creditbook charge_many x{args.batch_size}",
            lambda b: measure_library_serial(lib, charge_batch, b),
            batch_note,
        ),
    ]


def raw_figures(raw: RawLedger, args: argparse.Namespace) -> list[Figure]:
    size = args.raw_txn_size
    per_txn = raw.batch_of(size)
    return [
        Figure(
            "raw_commit", "raw DBAPI, 1 commit per charge", lambda b: serial(raw.one_per_commit, b)
        ),
        Figure(
            "raw_txn",
            f"raw DBAPI, {size} charges per commit",
            lambda b: serial(per_txn, b),
            lambda _m: "(latency per commit)",
        ),
    ]


def run_rounds(figures: list[Figure], args: argparse.Namespace) -> None:
    """Warm each figure up, then measure them all in turn, round after round (interleaved, so
    that drift of the disk or the machine hits every figure alike)."""
    rounds = max(1, args.rounds)
    charges = None if args.charges is None else max(1, args.charges // rounds)
    budget = Budget(args.seconds / rounds, charges)
    for figure in figures:
        figure.run(Budget(args.warmup, None))
    for r in range(rounds):
        for figure in figures:
            figure.rounds.append(figure.run(budget))
        print(f"  round {r + 1}/{rounds} done", flush=True)


def run_target(target: Target, args: argparse.Namespace) -> DbResult:
    res = DbResult(target.name)
    print(f"\n== {target.name} ==", flush=True)
    with contextlib.ExitStack() as stack:
        raw = RawLedger(target, target.fresh("raw"), args.accounts)
        stack.callback(raw.close)
        lib = open_library(target.fresh("lib"), args)
        stack.callback(lib.services.close)
        measure_target(target, raw, lib, args, res)
    judge(res, isinstance(target, SqliteTarget), args.threads)
    return res


def measure_target(
    target: Target, raw: RawLedger, lib: Library, args: argparse.Namespace, res: DbResult
) -> None:
    errors = [0]
    figures = raw_figures(raw, args) + library_figures(lib, args, errors)
    run_rounds(figures, args)
    for figure in figures:
        m = res.rows[figure.key] = combine(figure.rounds)
        res.healthy &= m.errors == 0
        print(fmt_row(figure.label, m, figure.note(m)), flush=True)
    res.healthy &= errors[0] == 0
    entries, usage = raw.rows()
    ok = entries == usage == raw.committed
    res.healthy &= ok
    print(
        f"  raw rows check: {entries:,} journal rows, {usage:,} usage charges, "
        f"{raw.committed:,} charges committed -> {'match' if ok else 'MISMATCH'}"
    )
    if args.profile and isinstance(target, SqliteTarget):
        profile_library(lib, args)
    ok, lines = check_library(lib)
    res.healthy &= ok
    for line in lines:
        print("  " + line)


def judge(res: DbResult, sqlite: bool, threads: int) -> None:
    rows = res.rows
    base = rows["raw_commit"].rate
    if not base:
        return

    def bar(text: str, ratio: float, need: float) -> None:
        passed = ratio >= need
        res.bars.append((text, passed))
        print(f"  {text:<52} {ratio:8.2f}x  (need {need}x)  {'PASS' if passed else 'FAIL'}")

    print("  bars:")
    bar("one-step / raw per-commit", rows["one_step"].rate / base, BAR_ONE_STEP)
    concurrent_rate = rows["concurrent"].rate / base
    bar(f"{threads} concurrent callers / raw per-commit", concurrent_rate, BAR_CONCURRENT)
    print(
        f"  {f'(info) 1 hot account, {threads} callers / raw per-commit':<52} "
        f"{rows['hot'].rate / base:8.2f}x"
    )
    print(
        f"  {'(info) batch API / raw N-per-commit (--raw-txn-size)':<52} "
        f"{rows['batch'].rate / rows['raw_txn'].rate:8.2f}x"
    )
    rate = rows["batch"].rate
    if sqlite:
        passed = rate >= BAR_BATCH_SQLITE
        res.bars.append(("batch API >= 50k charges/s", passed))
        aim = "met" if rate >= AIM_BATCH_SQLITE else "not met"
        print(
            f"  {'batch API charges/s':<52} {rate:>9,.0f}  (need {BAR_BATCH_SQLITE:,}; "
            f"aim {AIM_BATCH_SQLITE:,} {aim})  {'PASS' if passed else 'FAIL'}"
        )
    else:
        print(f"  {'(info) batch API charges/s (bar is SQLite only)':<52} {rate:>9,.0f}")


# Profiling


def profile_library(lib: Library, args: argparse.Namespace) -> None:
    budget = Budget(args.profile_seconds, None)
    errors = [0]
    for title, step in (
        ("one-step Ledger.charge", one_step(lib)),
        (f"charge_many x{args.batch_size}", batch_api(lib, args.batch_size, errors)),
    ):
        profiler = cProfile.Profile()
        profiler.enable()
        m = serial(step, budget)
        profiler.disable()
        print(f"\n  -- profile: {title} on SQLite ({m.rate:,.0f} charges/s under cProfile) --")
        print_hotspots(pstats.Stats(profiler), m.seconds, args.profile_top)
    print()


def print_hotspots(stats: pstats.Stats, wall_s: float, top: int) -> None:
    """Percentages are of the wall time of the profiled loop (the caller's thread)."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = max(wall_s, 1e-9)

    def where(key: tuple[str, int, str]) -> str:
        filename, line, name = key
        marker = "/creditbook/"
        if marker in filename:
            filename = "creditbook/" + filename.split(marker, 1)[1]
        else:
            filename = Path(filename).name if filename != "~" else ""
        return f"{filename}:{line} {name}" if filename else name

    own = [(k, v) for k, v in table.items() if "/creditbook/" in k[0]]
    own.sort(key=lambda kv: kv[1][3], reverse=True)
    print("  creditbook functions by cumulative time (% of the profiled loop's wall time):")
    for key, (_cc, calls, _tt, ct, _callers) in own[:top]:
        print(f"    {100 * ct / total:5.1f}%  {calls:>9,} calls  {where(key)}")
    print("  all functions by own time:")
    ranked = sorted(table.items(), key=lambda kv: kv[1][2], reverse=True)
    for key, (_cc, calls, tt, _ct, _callers) in ranked[:top]:
        print(f"    {100 * tt / total:5.1f}%  {calls:>9,} calls  {where(key)}")


# Machine


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def filesystem_of(path: str) -> str:
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount, fstype = parts[1], parts[2]
            if path.startswith(mount) and len(mount) > len(best):
                best, kind = mount, f"{fstype} on {parts[0]}"
    return kind


def load_average() -> str:
    if not hasattr(os, "getloadavg"):
        return "unknown"
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def postgres_info(url: str) -> str:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        settings = {}
        for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method"):
            row = conn.execute(f"SHOW {name}").fetchone()
            settings[name] = row[0] if row else "?"
    version = settings.pop("server_version")
    return f"{version} ({', '.join(f'{k}={v}' for k, v in settings.items())})"


def print_machine(args: argparse.Namespace, sqlite_dir: str) -> None:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print("creditbook ledger benchmark")
    print(f"  CPU:        {cpu_model()}, {cores} cores ({usable} usable)")
    print(f"  OS:         {platform.platform()}")
    print(f"  Python:     {platform.python_implementation()} {platform.python_version()}")
    print(
        f"  SQLite:     {sqlite3.sqlite_version} (WAL, synchronous=FULL, {sqlite_dir}:"
        f" {filesystem_of(sqlite_dir)})"
    )
    if not args.skip_postgres:
        print(f"  PostgreSQL: {postgres_info(args.pg_url)}")
    print(f"  drivers:    psycopg {psycopg.__version__}, SQLAlchemy {sqlalchemy.__version__}")
    print(f"  load:       {load_average()} (other work on the machine skews every figure)")
    size = f"{args.charges:,} charges" if args.charges else f"{args.seconds:g}s"
    print(
        f"  run:        {size} per figure in {args.rounds} interleaved rounds (median shown,"
        f" [min-max]) after {args.warmup:g}s warm-up; {args.accounts} "
        f"accounts; {args.threads} threads; batch {args.batch_size}; raw txn {args.raw_txn_size};"
        f" group_commit_size_max={args.group_commit_size_max},"
        f" group_commit_wait_us={args.group_commit_wait_us}"
    )


# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure")
    p.add_argument("--charges", type=int, default=None, help="charges per figure, not seconds")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; median reported")
    p.add_argument("--warmup", type=float, default=0.5, help="warm-up seconds before each figure")
    p.add_argument("--accounts", type=int, default=32, help="accounts the charges spread over")
    p.add_argument("--threads", type=int, default=32, help="concurrent caller threads")
    p.add_argument("--batch-size", type=int, default=1000, help="charges per charge_many call")
    p.add_argument("--raw-txn-size", type=int, default=100, help="raw charges per commit")
    p.add_argument("--group-commit-size-max", type=int, default=1024, help="library setting")
    p.add_argument("--group-commit-wait-us", type=int, default=500, help="library setting")
    p.add_argument("--skip-postgres", action="store_true")
    p.add_argument("--skip-sqlite", action="store_true")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--sqlite-dir", default=None, help="where the temporary SQLite files go")
    p.add_argument("--profile", action="store_true", help="cProfile one-step and batch (SQLite)")
    p.add_argument("--profile-seconds", type=float, default=3.0)
    p.add_argument("--profile-top", type=int, default=15)
    p.add_argument("--strict", action="store_true", help="exit 1 when a bar fails")
    return p.parse_args(argv)


@contextlib.contextmanager
def targets(args: argparse.Namespace) -> Iterator[list[Target]]:
    made: list[Target] = []
    try:
        if not args.skip_sqlite:
            made.append(SqliteTarget(args.sqlite_dir))
        if not args.skip_postgres:
            made.append(PostgresTarget(args.pg_url))
        yield made
    finally:
        for target in made:
            target.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    sqlite_dir = args.sqlite_dir or tempfile.gettempdir()
    try:
        print_machine(args, sqlite_dir)
    except psycopg.OperationalError as error:
        print(f"PostgreSQL unreachable at {args.pg_url}: {error}\nUse --skip-postgres.")
        return 2
    results: list[DbResult] = []
    with targets(args) as made:
        for target in made:
            results.append(run_target(target, args))
    print("\n== summary ==")
    for res in results:
        marks = ", ".join(f"{text}: {'PASS' if ok else 'FAIL'}" for text, ok in res.bars)
        print(f"  {res.name}: data {'OK' if res.healthy else 'BROKEN'}; {marks}")
    print(f"  total time {time.perf_counter() - started:.0f}s; {load_average()} at the end")
    if not all(res.healthy for res in results):
        return 1
    if args.strict and not all(ok for res in results for _, ok in res.bars):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
