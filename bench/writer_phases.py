"""Where the ledger writer's time goes, commit by commit, on SQLite and PostgreSQL.

    .venv/bin/python bench/writer_phases.py [--seconds 3] [--skip-postgres]

`bench/ledger.py` says how fast the writer is; this script says why. For each database it
runs four loads on a fresh library (the same ones as bench/ledger.py):

  one-step    one caller, `Ledger.charge` in a loop (one charge per commit)
  32 acc      32 caller threads over 32 accounts (group commit)
  1 hot acc   32 caller threads on one account
  batch       `charge_many` with lists of 1000 charges over 32 accounts

and prints charges/s, charges per commit and, per commit, the time of each phase of the
writer's transaction, wall and CPU of the thread that leads it:

  begin    BEGIN IMMEDIATE (SQLite; PostgreSQL begins with the first statement)
  load     lock the accounts and read what the rules need (`load_batch`)
  rules    the ledger rules, charge by charge (`Batch.apply`, pure Python)
  watch    alerts and events of the batch
  write    the batch's INSERT / UPDATE statements (`write_batch`)
  commit   COMMIT (with SQLite's synchronous=FULL, the WAL's fsync)
  rest     the rest of the transaction (connection, bookkeeping); on PostgreSQL also the wait
           for the server to run the writes, which go out in one pipeline whose end is
           outside `write_batch` (so there "write" is building and sending them)
  gap      between two commits: callers queueing, the leader waiting for them

On SQLite it also counts the pages a commit writes (WAL frames), in a second pass with the
automatic checkpoint off: the WAL's frame count divided by the commits.

Baseline, same run: bench/ledger.py's raw DBAPI charge (three statements, one commit per
charge), its time per commit and its frames per commit.

CPU is `time.thread_time()` of the leading thread: user and system time, so a sleep or a wait
for the GIL shows as wall time without CPU. The wrappers that take the times cost about a
microsecond per phase.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds http.py: drop the folder from the import path before anything imports the
# standard library's `http` package.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import contextlib
import importlib.util
import os
import platform
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from creditbook.domain import commands
from creditbook.storage import unit_of_work, writer

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("bench_ledger", HERE / "ledger.py")
assert _spec is not None and _spec.loader is not None
bench_ledger: Any = importlib.util.module_from_spec(_spec)
sys.modules["bench_ledger"] = bench_ledger  # its dataclasses look their module up
_spec.loader.exec_module(bench_ledger)

PHASES = ("begin", "load", "rules", "watch", "write", "commit")
COLUMNS = (*PHASES, "rest", "gap")


@dataclass
class Clock:
    """Wall and CPU seconds per phase, summed over the commits of one load."""

    wall: Counter[str] = field(default_factory=Counter)
    cpu: Counter[str] = field(default_factory=Counter)
    on: bool = False

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()


CLOCK = Clock()


def timed(phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not CLOCK.on:
            return function(*args, **kwargs)
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            CLOCK.wall[phase] += time.perf_counter() - wall
            CLOCK.cpu[phase] += time.thread_time() - cpu

    return wrapper


@contextlib.contextmanager
def instrumented() -> Iterator[None]:
    """Wrap the writer's phases for the duration (and only then)."""
    uow = unit_of_work.DriverUnitOfWork
    places: list[tuple[Any, str, str]] = [
        (uow, "__enter__", "begin"),
        (uow, "commit", "commit"),
        (writer, "load_batch", "load"),
        (commands.Batch, "apply", "rules"),
        (writer.Writer, "_watch", "watch"),
        (writer, "write_batch", "write"),
        (writer.Writer, "_transact", "transaction"),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in places]
    for owner, name, phase in places:
        setattr(owner, name, timed(phase, getattr(owner, name)))
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


@dataclass
class Row:
    label: str
    rate: float
    commits: int
    charges: int
    seconds: float
    wall: dict[str, float]
    cpu: dict[str, float]
    frames: float | None = None


def run_load(lib: Any, label: str, run: Callable[[Any], Any], seconds: float, warmup: float) -> Row:
    run(bench_ledger.Budget(warmup, None))
    CLOCK.reset()
    before = lib.commits
    CLOCK.on = True
    try:
        m = run(bench_ledger.Budget(seconds, None))
    finally:
        CLOCK.on = False
    commits = max(1, lib.commits - before)
    wall = {k: v / commits for k, v in CLOCK.wall.items()}
    cpu = {k: v / commits for k, v in CLOCK.cpu.items()}
    inside = wall.pop("transaction", 0.0)
    cpu_inside = cpu.pop("transaction", 0.0)
    wall["rest"] = inside - sum(wall.get(p, 0.0) for p in PHASES)
    cpu["rest"] = cpu_inside - sum(cpu.get(p, 0.0) for p in PHASES)
    wall["gap"] = m.seconds / commits - inside
    return Row(label, m.charges / m.seconds, commits, m.charges, m.seconds, wall, cpu)


def loads(lib: Any, args: argparse.Namespace) -> list[tuple[str, Callable[[Any], Any]]]:
    errors = [0]
    one = bench_ledger.one_step(lib)
    spread = bench_ledger.concurrent(lib, hot=False)
    hot = bench_ledger.concurrent(lib, hot=True)
    batch = bench_ledger.batch_api(lib, args.batch_size, errors)
    n = args.threads
    return [
        ("one-step", lambda b: bench_ledger.serial(one, b)),
        (f"{n} acc", lambda b: bench_ledger.measure_library_threads(lib, spread, n, b)),
        ("1 hot acc", lambda b: bench_ledger.measure_library_threads(lib, hot, n, b)),
        (f"batch {args.batch_size}", lambda b: bench_ledger.serial(batch, b)),
    ]


def frames_per_commit(execute: Callable[[str], Any], run: Callable[[], int]) -> float:
    """Pages a commit writes: the WAL's frames after `run()` (which returns its commits) on
    the connection that `execute` speaks to, with the automatic checkpoint off meanwhile."""
    execute("PRAGMA wal_checkpoint(TRUNCATE)")
    execute("PRAGMA wal_autocheckpoint=0")
    try:
        commits = run()
        frames = execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
        return float(frames) / max(1, commits)
    finally:
        execute("PRAGMA wal_autocheckpoint=1000")
        execute("PRAGMA wal_checkpoint(TRUNCATE)")


def wal_frames(lib: Any, run: Callable[[Any], Any], seconds: float) -> float:
    connection = lib.services.store.writer._connect()  # a probe of the writer

    def commits() -> int:
        before = lib.commits
        run(bench_ledger.Budget(seconds, None))
        return int(lib.commits - before)

    return frames_per_commit(connection.execute, commits)


def raw_baseline(target: Any, args: argparse.Namespace) -> Row:
    raw = bench_ledger.RawLedger(target, target.fresh("raw"), args.accounts)
    try:
        bench_ledger.serial(raw.one_per_commit, bench_ledger.Budget(args.warmup, None))
        m = bench_ledger.serial(raw.one_per_commit, bench_ledger.Budget(args.seconds, None))
        row = Row("raw 1/commit", m.rate, m.charges, m.charges, m.seconds, {}, {})
        if raw.sqlite:
            once = bench_ledger.Budget(1.0, None)
            row.frames = frames_per_commit(
                raw.cur.execute, lambda: bench_ledger.serial(raw.one_per_commit, once).charges
            )
        return row
    finally:
        raw.close()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.3f}"


def print_rows(rows: list[Row]) -> None:
    head = " ".join(f"{c:>7}" for c in COLUMNS)
    print(f"  {'load':<11} {'charges/s':>10} {'per commit':>10} {'frames':>7}   wall ms: {head}")
    for row in rows:
        frames = f"{row.frames:7.1f}" if row.frames is not None else f"{'':7}"
        per = row.charges / row.commits
        if not row.wall:  # the baseline: a commit is the whole call
            whole = ms(row.seconds / row.charges)
            print(
                f"  {row.label:<11} {row.rate:>10,.0f} {per:>10.1f} {frames}   whole call {whole}"
            )
            continue
        walls = " ".join(ms(row.wall.get(c, 0.0)) for c in COLUMNS)
        print(f"  {row.label:<11} {row.rate:>10,.0f} {per:>10.1f} {frames}   wall ms: {walls}")
        cpus = " ".join(ms(row.cpu.get(c, 0.0)) for c in COLUMNS[:-1])
        print(f"  {'':<11} {'':>10} {'':>10} {'':>7}    cpu ms: {cpus}")
        per_charge = sum(row.wall.get(c, 0.0) for c in COLUMNS) / per * 1e6
        print(f"  {'':<11} {'':>10} {'':>10} {'':>7}   {per_charge:,.1f} us of wall per charge")


def run_target(target: Any, args: argparse.Namespace) -> None:
    print(f"\n== {target.name} ==", flush=True)
    rows = [raw_baseline(target, args)]
    lib = bench_ledger.open_library(target.fresh("lib"), args)
    try:
        with instrumented():
            for label, run in loads(lib, args):
                row = run_load(lib, label, run, args.seconds, args.warmup)
                if isinstance(target, bench_ledger.SqliteTarget):
                    row.frames = wal_frames(lib, run, min(1.0, args.seconds))
                rows.append(row)
                print(f"  {label} done", flush=True)
        print_rows(rows)
        ok, lines = bench_ledger.check_library(lib)
        for line in lines:
            print("  " + line)
        if not ok:
            raise SystemExit("the ledger does not verify after the run")
    finally:
        lib.services.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=3.0, help="measuring time per load")
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--accounts", type=int, default=32)
    p.add_argument("--threads", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--skip-postgres", action="store_true")
    p.add_argument("--skip-sqlite", action="store_true")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--sqlite-dir", default=None)
    args = p.parse_args(argv)
    # what bench/ledger.py's library needs from its own arguments
    args.group_commit_size_max, args.group_commit_wait_us = 1024, 500
    args.rounds, args.raw_txn_size, args.charges, args.strict = 1, 100, None, False
    args.profile = False
    return args


def print_machine(args: argparse.Namespace) -> None:
    where = args.sqlite_dir or tempfile.gettempdir()
    print("creditbook writer phases")
    print(f"  CPU:        {bench_ledger.cpu_model()}, {os.cpu_count()} cores")
    print(f"  Python:     {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    print(f"  SQLite dir: {where} ({bench_ledger.filesystem_of(where)}), synchronous=FULL")
    if not args.skip_postgres:
        print(f"  PostgreSQL: {bench_ledger.postgres_info(args.pg_url)}")
    print(f"  load:       {bench_ledger.load_average()}")
    print(f"  run:        {args.seconds:g}s per load after {args.warmup:g}s warm-up")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print_machine(args)
    with bench_ledger.targets(args) as made:
        for target in made:
            run_target(target, args)
    print(f"\n  {bench_ledger.load_average()} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
