"""Reads at scale: 10 million transactions, measured over HTTP against `creditbook serve`.

    nice -n 10 .venv/bin/python bench/scale.py [--reuse /work/scale.db] [--reuse creditbook_scale_x]

For each database (SQLite file with WAL and synchronous=FULL; PostgreSQL at --pg-url):

1. Load --transactions rows (10M) over --accounts accounts (1,000), one of them (the large
   account) holding --large rows (3M), spread over --days days (400) ending now. Rows are
   written by a bulk path, not the ledger API (which would take hours): per account one
   purchase grant and its top-up transaction, then charges of four operations, each a
   settled transaction with one journal entry, the 15-minute usage buckets they add up to,
   and the account's balance, sequence and spend figures. SQLite: executemany in key order in
   transactions of 100k charges; PostgreSQL: COPY, triggers (foreign keys) off for the load
   session, then VACUUM ANALYZE. Accounts are made with the library (`accounts.create`).
2. `creditbook verify` of the large account and of --verify-small small ones (--verify all:
   every account), so the bulk path is shown to give a ledger the ledger accepts.
3. `creditbook db upgrade` (a reused database gets the newer migrations), then a real
   `creditbook serve` process; for each figure one request on its own (timed and shown: the
   first after a load or a restart reads from disk), a 1-second warm-up, then wrk with one
   connection (sequential requests) measures p50/p99 of `GET /api/v1/accounts/me/` (large
   account), `/accounts/usage/` for the last 365 days by day in America/New_York, the first
   transactions page (limit=100) and a page 100,000 rows deep by cursor and by offset.
4. CSV export (`format=csv`), read with curl: rows/s of the large account's whole history, and
   the server's peak memory (VmHWM from /proc) after a small export (a small account) and after
   the large one, in a server started for the exports alone: flat means the large export
   raised the peak by less than --flat-mib.

--reuse PATH (a path: SQLite) or NAME (PostgreSQL database) loads into it when it does not
exist yet and keeps it; when it exists it is measured as it stands. Without --reuse the
database is temporary (creditbook_scale_<pid>), dropped at the end unless --keep.
The load average is printed at the start of each measurement: figures taken with a load above
the core count mean the server shared its CPU with other work.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's `http` (which httpx imports).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from creditbook.bootstrap import build
from creditbook.clock import US_PER_DAY, month_start_us
from creditbook.config import Settings
from creditbook.domain.history import encode_cursor
from creditbook.domain.usage import bucket_start_us

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = (  # operation, seeded unit price
    ("search_database", 20_000),
    ("enrich_database", 20_000),
    ("email_find", 20_000),
    ("email_validate", 5_000),
)
CHUNK = 100_000  # charges per load transaction
SPARE_MICROS = 1_000 * 1_000_000  # left on each account after its charges
DEEP_ROWS = 100_000
BAR_ME_P99_MS = 5.0
BAR_USAGE_P99_MS = 25.0
BAR_FIRST_P99_MS = 10.0
BAR_DEEP_RATIO = 2.0
BAR_CSV_ROWS_S = 100_000

TRANSACTION_COLUMNS = (
    "account_id, id, created_at_us, settled_at_us, type, operation, status, credits_micros,"
    " balance_after_micros, units, reserved_units, reserved_micros, unit_price_micros,"
    " multiplier_ppm, expires_at_us, api_key_id, idempotency_key, request_id, reverses_id,"
    " grant_id, note, details, entry_first_seq, entry_last_seq"
)
JOURNAL_COLUMNS = (
    "account_id, seq, transaction_id, grant_id, kind, amount_micros, hold_micros,"
    " balance_after_micros, reserved_after_micros, at_us"
)
GRANT_COLUMNS = (
    "account_id, id, kind, priority, effective_at_us, expires_at_us, created_at_us,"
    " amount_micros, remaining_micros, held_micros"
)
USAGE_COLUMNS = (
    "account_id, bucket_start_us, operation, api_key_id, spend_micros, units, charges,"
    " cum_spend_micros, cum_units, cum_charges"
)
ACCOUNT_UPDATE = (
    "UPDATE accounts SET balance_micros = ?, lifetime_spend_micros = ?, month_start_us = ?,"
    " month_spend_micros = ?, entry_seq = ?, updated_at_us = ? WHERE id = ?"
)
NULLS_8 = (None,) * 8
GRANT_UPDATE = "UPDATE grants SET remaining_micros = ? WHERE account_id = ? AND id = ?"


# Generating one account's ledger


def row_id(prefix: str, at_us: int, rng: random.Random) -> str:
    """A time-ordered id as `ids.new_id` makes it (one per millisecond here)."""
    value = ((at_us // 1_000) << 80) | (0x7 << 76) | (0b10 << 62) | rng.getrandbits(62)
    h = f"{value:032x}"
    return f"{prefix}_{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass
class AccountLedger:
    """What the bulk path wrote for one account, to finish its account row."""

    account_id: str
    charges: int
    start_us: int
    end_us: int
    grant_id: str = ""
    amount_micros: int = 0
    spent_micros: int = 0
    month_spent_micros: int = 0
    seq: int = 0
    usage: dict[tuple[int, str], list[int]] = field(default_factory=dict)

    @property
    def balance_micros(self) -> int:
        return self.amount_micros - self.spent_micros


Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]  # transactions, journal entries


def planned(n: int, rng: random.Random) -> list[tuple[int, int]]:
    """(operation index, units) per charge, so the funding grant can be sized first."""
    return [(rng.randrange(len(OPERATIONS)), rng.randint(1, 10)) for _ in range(n)]


def opening(led: AccountLedger, total: int, rng: random.Random) -> tuple[Rows, tuple[Any, ...]]:
    """The purchase grant that funds every charge, and its top-up transaction and entry."""
    at = led.start_us
    led.grant_id = row_id("grt", at, rng)
    led.amount_micros = total + SPARE_MICROS
    led.seq = 1
    txn_id = row_id("txn", at, rng)
    amount = led.amount_micros
    grant = (led.account_id, led.grant_id, "purchase", 40, at, None, at, amount, 0, 0)
    txn = (led.account_id, txn_id, at, at, "top_up", None, "success", amount, amount)
    txn += (0, 0, 0, 0, 1_000_000, None, None, None, None, None, led.grant_id, None, None, 1, 1)
    entry = (led.account_id, 1, txn_id, led.grant_id, "grant", amount, 0, amount, 0, at)
    return ([txn], [entry]), grant


def charges(
    led: AccountLedger, plan: list[tuple[int, int]], month_us: int, rng: random.Random
) -> Iterator[Rows]:
    """The charges, oldest first, CHUNK at a time; usage and spend are added up on the way."""
    step = (led.end_us - led.start_us) // (len(plan) + 1)
    balance = led.amount_micros
    txns: list[tuple[Any, ...]] = []
    entries: list[tuple[Any, ...]] = []
    for i, (op_index, units) in enumerate(plan, start=1):
        at = led.start_us + i * step + rng.randrange(max(1, step // 2))
        operation, price = OPERATIONS[op_index]
        cost = price * units
        balance -= cost
        led.seq += 1
        txn_id = row_id("txn", at, rng)
        txns.append(
            (
                led.account_id,
                txn_id,
                at,
                at,
                operation,
                operation,
                "success",
                -cost,
                balance,
                units,
                0,
                0,
                price,
                1_000_000,
                *NULLS_8,
                led.seq,
                led.seq,
            )
        )
        entries.append(
            (led.account_id, led.seq, txn_id, led.grant_id, "charge", -cost, 0, balance, 0, at)
        )
        bucket = led.usage.setdefault((bucket_start_us(at), operation), [0, 0, 0])
        bucket[0] += cost
        bucket[1] += units
        bucket[2] += 1
        led.spent_micros += cost
        led.month_spent_micros += cost if at >= month_us else 0
        if len(txns) == CHUNK:
            yield txns, entries
            txns, entries = [], []
    if txns:
        yield txns, entries


def usage_rows(led: AccountLedger) -> list[tuple[Any, ...]]:
    """The buckets with their series' running totals (one series per operation, no API key),
    in key order: account, operation, key, bucket."""
    rows: list[tuple[Any, ...]] = []
    running: dict[str, tuple[int, int, int]] = {}
    for (bucket, op), (spend, units, count) in sorted(led.usage.items(), key=_series_order):
        cum_spend, cum_units, cum_count = running.get(op, (0, 0, 0))
        cums = (cum_spend + spend, cum_units + units, cum_count + count)
        running[op] = cums
        rows.append((led.account_id, bucket, op, "", spend, units, count, *cums))
    return rows


def _series_order(item: tuple[tuple[int, str], list[int]]) -> tuple[str, int]:
    (bucket, op), _totals = item
    return op, bucket


def account_values(led: AccountLedger, month_us: int) -> tuple[Any, ...]:
    return (
        led.balance_micros,
        led.spent_micros,
        month_us,
        led.month_spent_micros,
        led.seq,
        led.end_us,
        led.account_id,
    )


# Databases


class Target:
    """A database to load and measure: SQLite file or PostgreSQL database."""

    name = ""
    url = ""

    def exists(self) -> bool:
        raise NotImplementedError

    def create(self) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError

    def loader(self) -> Loader:
        raise NotImplementedError

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def size(self) -> str:
        raise NotImplementedError


class Loader:
    def insert(self, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def execute(self, sql: str, values: tuple[Any, ...]) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError


class SqliteTarget(Target):
    name = "SQLite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"

    def exists(self) -> bool:
        return self.path.exists()

    def create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def drop(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def loader(self) -> Loader:
        return SqliteLoader(self.path)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as conn:
            return conn.execute(sql, params).fetchall()

    def size(self) -> str:
        return f"{self.path.stat().st_size / 2**30:.1f} GiB file {self.path}"


class SqliteLoader(Loader):
    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        # A bulk load of a throwaway file: no rollback journal, no fsync until the end.
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "foreign_keys=OFF"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute("PRAGMA cache_size=-262144")
        self.conn.execute("BEGIN")

    def insert(self, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" * (columns.count(",") + 1))
        self.conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)

    def execute(self, sql: str, values: tuple[Any, ...]) -> None:
        self.conn.execute(sql, values)

    def commit(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN")

    def finish(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.close()


class PostgresTarget(Target):
    name = "PostgreSQL"

    def __init__(self, admin_url: str, database: str) -> None:
        self.admin = make_url(admin_url).set(drivername="postgresql")
        self.database = database
        self.url = self.admin.set(database=database).render_as_string(hide_password=False)

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin.render_as_string(hide_password=False), autocommit=True)

    def exists(self) -> bool:
        with self._admin() as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,))
            return found.fetchone() is not None

    def create(self) -> None:
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def drop(self) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def loader(self) -> Loader:
        return PostgresLoader(self.url)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()

    def size(self) -> str:
        rows = self.query("SELECT pg_size_pretty(pg_database_size(current_database()))")
        return f"{rows[0][0]} database {self.database}"


class PostgresLoader(Loader):
    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = psycopg.connect(url)
        # Foreign-key triggers off for this session only: the rows are consistent by
        # construction, and `creditbook verify` checks them afterwards.
        self.conn.execute("SET session_replication_role = replica")
        self.conn.execute("SET synchronous_commit = off")

    def insert(self, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        with self.conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def execute(self, sql: str, values: tuple[Any, ...]) -> None:
        self.conn.execute(sql.replace("?", "%s"), values)

    def commit(self) -> None:
        self.conn.commit()

    def finish(self) -> None:
        self.conn.commit()
        self.conn.close()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


# Loading


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).with_name("creditbook")
    return subprocess.run(
        [str(binary), *argv], env=clean_env(), capture_output=True, text=True, check=False
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITBOOK_")}
    return env | {"CREDITBOOK_DEFAULT_MONTHLY_LIMIT_USD": "none"} | extra


def upgrade(target: Target) -> None:
    done = cli("db", "upgrade", "--database-url", target.url)
    if done.returncode != 0:
        raise RuntimeError(f"db upgrade failed:\n{done.stdout}{done.stderr}")


def sizes(args: argparse.Namespace) -> list[int]:
    """Transactions per account (charges + the top-up): the large one first."""
    small = args.accounts - 1
    rest = args.transactions - args.large
    return [args.large] + [rest // small + (i < rest % small) for i in range(small)]


def make_accounts(target: Target, count: int) -> list[str]:
    services = build(Settings(database_url=target.url, default_monthly_limit_usd=None))
    try:
        return [services.accounts.create(email=f"scale{i}@bench.example").id for i in range(count)]
    finally:
        services.close()


def load_account(
    loader: Loader, account_id: str, n: int, span: tuple[int, int], rng: random.Random
) -> None:
    now_us = span[1]
    month_us = month_start_us(now_us)
    led = AccountLedger(account_id, n - 1, span[0], now_us)
    plan = planned(n - 1, rng)
    total = sum(OPERATIONS[op][1] * units for op, units in plan)
    (txns, entries), grant = opening(led, total, rng)
    loader.insert("grants", GRANT_COLUMNS, [grant])
    loader.insert("transactions", TRANSACTION_COLUMNS, txns)
    loader.insert("journal_entries", JOURNAL_COLUMNS, entries)
    for txns, entries in charges(led, plan, month_us, rng):
        loader.insert("transactions", TRANSACTION_COLUMNS, txns)
        loader.insert("journal_entries", JOURNAL_COLUMNS, entries)
        if len(txns) == CHUNK:
            loader.commit()
    loader.insert("usage_buckets", USAGE_COLUMNS, usage_rows(led))
    # The grant's remainder is what its entries add up to.
    loader.execute(GRANT_UPDATE, (led.balance_micros, account_id, led.grant_id))
    loader.execute(ACCOUNT_UPDATE, account_values(led, month_us))


def load(target: Target, args: argparse.Namespace) -> float:
    """Create, migrate and fill the database; the seconds it took."""
    started = time.perf_counter()
    target.create()
    upgrade(target)
    counts = sizes(args)
    accounts = make_accounts(target, len(counts))
    accounts.sort()  # rows go in in key order
    large_index = len(accounts) // 2
    counts[0], counts[large_index] = counts[large_index], counts[0]
    now_us = time.time_ns() // 1000 - 60 * 1_000_000
    span = (now_us - args.days * US_PER_DAY, now_us)
    rng = random.Random(6)
    loader = target.loader()
    done = 0
    for account_id, n in zip(accounts, counts, strict=True):
        load_account(loader, account_id, n, span, rng)
        loader.commit()
        done += n
        if n >= CHUNK or done % 500_000 < n:
            elapsed = time.perf_counter() - started
            print(f"    {done:>12,} transactions loaded, {elapsed:6.0f} s", flush=True)
    loader.finish()
    return time.perf_counter() - started


# What was loaded


@dataclass(frozen=True)
class Loaded:
    transactions: int
    accounts: int
    large: str
    large_rows: int
    small: str
    small_rows: int


def inspect(target: Target) -> Loaded:
    """Counts from the account rows (one journal entry per transaction here): no scan."""
    rows = target.query("SELECT id, entry_seq FROM accounts ORDER BY entry_seq DESC, id")
    large, small = rows[0], rows[-1]
    total = sum(int(r[1]) for r in rows)
    return Loaded(total, len(rows), large[0], int(large[1]), small[0], int(small[1]))


def verify(target: Target, loaded: Loaded, args: argparse.Namespace) -> bool:
    chosen = [loaded.large] if args.verify != "all" else [None]
    if args.verify == "large+small":
        rows = target.query("SELECT id FROM accounts ORDER BY id")
        step = max(1, len(rows) // max(1, args.verify_small))
        chosen += [r[0] for r in rows[::step][: args.verify_small] if r[0] != loaded.large]
    ok = True
    for account in chosen:
        started = time.perf_counter()
        argv = ["verify", "--database-url", target.url]
        argv += [] if account is None else ["--account", account]
        done = cli(*argv)
        last = (done.stdout.strip().splitlines() or [done.stderr.strip()])[-1]
        which = "every account" if account is None else account
        seconds = time.perf_counter() - started
        if account in (None, loaded.large) or done.returncode != 0:
            print(f"    verify {which}: exit {done.returncode} in {seconds:.0f} s: {last!r}")
        ok = ok and done.returncode == 0
    if len(chosen) > 1:
        print(f"    verify of {len(chosen) - 1} small accounts: {'all passed' if ok else 'FAILED'}")
    return ok


# The server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """`creditbook serve` on a free port, its log in a file."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = (workdir / "server.log").open("ab")
        binary = Path(sys.executable).with_name("creditbook")
        argv = [str(binary), "serve", "--port", str(self.port), "--database-url", url]
        env = clean_env(
            CREDITBOOK_ADMIN_TOKEN=secrets.token_urlsafe(24), CREDITBOOK_LOG_LEVEL="warning"
        )
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"creditbook serve exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("creditbook serve did not become ready")

    def peak_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def make_key(target: Target, account_id: str) -> str:
    services = build(Settings(database_url=target.url, default_monthly_limit_usd=None))
    try:
        return services.accounts.create_key(account_id=account_id, scope="read").secret
    finally:
        services.close()


# Measuring


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    first_ms: float  # the very first request, before any warm-up: caches cold


def first_request_ms(url: str, key: str) -> float:
    started = time.perf_counter()
    httpx.get(url, headers={"Authorization": f"Token {key}"}, timeout=120).raise_for_status()
    return (time.perf_counter() - started) * 1000


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk_latency(url: str, key: str, seconds: float) -> Latency:
    """One connection, one request at a time, for `seconds` after one request on its own (timed:
    on a database just loaded or a server just started, it reads from disk) and a 1-second
    warm-up."""
    first = first_request_ms(url, key)
    header = f"Authorization: Token {key}"
    base = ["wrk", "-t1", "-c1", "--latency", "-H", header, url]
    subprocess.run([*base[:3], "-d1s", *base[3:]], capture_output=True, check=True)
    out = subprocess.run(
        [*base[:3], f"-d{seconds:g}s", *base[3:]], capture_output=True, text=True, check=True
    ).stdout
    found = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.MULTILINE))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Latency(
        ms(found["50"]), ms(found["99"]), requests, int(errors.group(1)) if errors else 0, first
    )


def ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(number) * UNITS_MS[unit]


@dataclass(frozen=True)
class Export:
    rows: int
    seconds: float
    peak_mib: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def export_csv(server: Server, key: str, query: str = "") -> Export:
    """The whole CSV through curl; rows counted as lines, less the header."""
    url = f"{server.base}/api/v1/accounts/transactions/?format=csv{query}"
    argv = ["curl", "-sS", "--fail", "-H", f"Authorization: Token {key}", url]
    started = time.perf_counter()
    with subprocess.Popen(argv, stdout=subprocess.PIPE) as curl:
        assert curl.stdout is not None
        lines = sum(block.count(b"\n") for block in iter(lambda: curl.stdout.read(1 << 20), b""))
    seconds = time.perf_counter() - started
    if curl.returncode != 0:
        raise RuntimeError(f"curl exited with {curl.returncode}")
    return Export(lines - 1, seconds, server.peak_mib())


def deep_cursor(target: Target, account_id: str, depth: int) -> str:
    """The cursor the API returns at the end of row `depth` (newest first)."""
    rows = target.query(
        "SELECT id FROM transactions WHERE account_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
        (account_id, depth - 1),
    )
    return encode_cursor(rows[0][0])


def load_note() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def show(label: str, m: Latency, bar: str, ok: bool) -> None:
    extra = f", {m.errors} non-2xx" if m.errors else ""
    print(
        f"    {label:<44} p50 {m.p50_ms:7.2f} ms  p99 {m.p99_ms:7.2f} ms"
        f"  ({m.requests:,} requests{extra})  bar: {bar}  {verdict(ok and not m.errors)}"
        f"  (first request {m.first_ms:.1f} ms)"
    )


def latencies(
    target: Target, loaded: Loaded, args: argparse.Namespace, workdir: Path
) -> list[bool]:
    key = make_key(target, loaded.large)
    depth = min(DEEP_ROWS, loaded.large_rows // 2)
    cursor = deep_cursor(target, loaded.large, depth)
    today = time.gmtime()
    end = f"{today.tm_year:04d}-{today.tm_mon:02d}-{today.tm_mday:02d}"
    start = f"{today.tm_year - 1:04d}-{today.tm_mon:02d}-{min(today.tm_mday, 28):02d}"
    usage_query = f"timezone=America/New_York&period=day&start_date={start}&end_date={end}"
    server = Server(target.url, workdir)
    try:
        print(f"  latency, one connection, wrk {args.seconds:g} s per figure ({load_note()}):")
        api = f"{server.base}/api/v1/accounts"
        me = wrk_latency(f"{api}/me/", key, args.seconds)
        usage = wrk_latency(f"{api}/usage/?{usage_query}", key, args.seconds)
        first = wrk_latency(f"{api}/transactions/?limit=100", key, args.seconds)
        deep = wrk_latency(f"{api}/transactions/?limit=100&cursor={cursor}", key, args.seconds)
        offset = wrk_latency(f"{api}/transactions/?limit=100&offset={depth}", key, args.seconds)
    finally:
        server.stop()
    checks = [
        me.p99_ms < BAR_ME_P99_MS,
        usage.p99_ms < BAR_USAGE_P99_MS,
        first.p99_ms < BAR_FIRST_P99_MS,
        deep.p99_ms <= BAR_DEEP_RATIO * first.p99_ms,
    ]
    show("GET /accounts/me/ (large account)", me, "p99 < 5 ms", checks[0])
    show(f"GET /accounts/usage/ {start}..{end} NY by day", usage, "p99 < 25 ms", checks[1])
    show("GET /transactions/?limit=100 (first page)", first, "p99 < 10 ms", checks[2])
    show(f"  page {depth:,} rows deep by cursor", deep, "p99 <= 2x first page", checks[3])
    ratio = offset.p99_ms / first.p99_ms if first.p99_ms else 0.0
    print(
        f"    {'  page ' + format(depth, ',') + ' rows deep by offset':<44} p50 "
        f"{offset.p50_ms:7.2f} ms  p99 {offset.p99_ms:7.2f} ms  ({ratio:.1f}x the first page; info)"
    )
    return checks


def exports(target: Target, loaded: Loaded, args: argparse.Namespace, workdir: Path) -> list[bool]:
    large_key = make_key(target, loaded.large)
    small_key = make_key(target, loaded.small)
    server = Server(target.url, workdir)
    try:
        print(f"  CSV export, a server started for it ({load_note()}):")
        httpx.get(f"{server.base}/readyz")
        started_mib = server.peak_mib()
        small = export_csv(server, small_key)
        large = export_csv(server, large_key)
    finally:
        server.stop()
    growth = large.peak_mib - small.peak_mib
    rate_ok = large.rate >= BAR_CSV_ROWS_S
    flat_ok = growth < args.flat_mib and large.rows == loaded.large_rows
    if large.rows != loaded.large_rows:
        print(f"    WARNING: the large export had {large.rows:,} rows, not {loaded.large_rows:,}")
    print(f"    peak memory after start-up: {started_mib:.0f} MiB")
    print(
        f"    small account: {small.rows:,} rows in {small.seconds:.2f} s "
        f"({small.rate:,.0f} rows/s), peak {small.peak_mib:.0f} MiB"
    )
    print(
        f"    large account: {large.rows:,} rows in {large.seconds:.1f} s, peak "
        f"{large.peak_mib:.0f} MiB"
    )
    print(
        f"    CSV rows/s (large account): {large.rate:,.0f}  bar: >= {BAR_CSV_ROWS_S:,}  "
        f"{verdict(rate_ok)}"
    )
    print(
        f"    peak memory, {large.rows:,} rows against {small.rows:,}: +{growth:.1f} MiB"
        f"  bar: flat (< +{args.flat_mib:g} MiB)  {verdict(flat_ok)}"
    )
    return [rate_ok, flat_ok]


# One database


def run_target(target: Target, args: argparse.Namespace, keep: bool) -> list[bool]:
    print(f"\n== {target.name} ==", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="creditbook_scale_"))
    try:
        if target.exists():
            print(f"  reusing {target.url} (loaded by an earlier run)")
            upgrade(target)
        else:
            print(f"  loading {args.transactions:,} transactions ({load_note()}):", flush=True)
            seconds = load(target, args)
            print(f"  load time: {seconds:,.0f} s ({args.transactions / seconds:,.0f} rows/s)")
        loaded = inspect(target)
        print(
            f"  {loaded.transactions:,} transactions over {loaded.accounts:,} accounts; large "
            f"account {loaded.large}: {loaded.large_rows:,}; {target.size()}"
        )
        checks = [verify(target, loaded, args)] if args.verify != "none" else []
        checks += latencies(target, loaded, args, workdir)
        checks += exports(target, loaded, args, workdir)
        return checks
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if not keep:
            target.drop()
            print(f"  dropped {target.url}")


def targets(args: argparse.Namespace) -> list[tuple[Target, bool]]:
    """Each target and whether to keep it afterwards."""
    reused = {("pg" if "/" not in r and not r.endswith(".db") else "sqlite"): r for r in args.reuse}
    chosen: list[tuple[Target, bool]] = []
    if not args.skip_sqlite:
        path = reused.get("sqlite")
        temp = Path(args.dir or tempfile.gettempdir()) / f"creditbook_scale_{os.getpid()}.db"
        chosen.append((SqliteTarget(Path(path) if path else temp), args.keep or path is not None))
    if not args.skip_postgres:
        name = reused.get("pg") or f"creditbook_scale_{os.getpid()}"
        chosen.append((PostgresTarget(args.pg_url, name), args.keep or "pg" in reused))
    return chosen


def source_version() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        check=False,
    )
    changes = " + uncommitted changes in src/" if dirty.stdout.strip() else ""
    return f"creditbook at {done.stdout.strip() or '?'}{changes}"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--transactions", type=int, default=10_000_000)
    p.add_argument("--large", type=int, default=3_000_000, help="rows of the large account")
    p.add_argument("--accounts", type=int, default=1_000)
    p.add_argument("--days", type=int, default=400, help="days of history, ending now")
    p.add_argument("--reuse", action="append", default=[], metavar="PATH|DB")
    p.add_argument("--keep", action="store_true", help="keep temporary databases")
    p.add_argument("--dir", help="where a temporary SQLite file goes (default: $TMPDIR)")
    p.add_argument("--skip-sqlite", action="store_true")
    p.add_argument("--skip-postgres", action="store_true")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--seconds", type=float, default=5.0, help="wrk seconds per latency figure")
    p.add_argument(
        "--verify", choices=("large+small", "large", "all", "none"), default="large+small"
    )
    p.add_argument("--verify-small", type=int, default=20, help="small accounts verified")
    p.add_argument("--flat-mib", type=float, default=16.0, help="peak growth allowed for 'flat'")
    p.add_argument("--load-only", action="store_true", help="load (and keep), measure nothing")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    print("creditbook scale benchmark")
    print(f"  command: {' '.join([sys.executable, *sys.argv])}")
    print(
        f"  machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    print(f"  code: {source_version()}")
    print(f"  at start: {load_note()}")
    results: list[tuple[str, list[bool]]] = []
    for target, keep in targets(args):
        if args.load_only:
            if not target.exists():
                print(f"  load time: {load(target, args):,.0f} s", flush=True)
            continue
        results.append((target.name, run_target(target, args, keep)))
    for name, checks in results:
        print(f"{name}: {sum(checks)} of {len(checks)} checks passed")
    return 0 if all(all(c) for _, c in results) else 1


if __name__ == "__main__":
    sys.exit(main())
