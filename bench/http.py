"""HTTP throughput of creditbook against a bare FastAPI endpoint, on SQLite and PostgreSQL.

    .venv/bin/python bench/http.py [--seconds 5] [--connections 32] [--skip-postgres]
                                   [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]
                                   [--profile] [--server-cpu N]

Needs wrk (`apt-get install -y wrk`: Debian's wrk 4 with LuaJIT; the script stops with that
advice when wrk is missing); the requests are made by bench/http_wrk.lua. For each database,
in one run, every figure from the same load generator on loopback, keep-alive connections:

1. Baseline: a bare FastAPI app defined here (POST /bare/ parses a small JSON body into a
   pydantic model in a plain `def` endpoint, as creditbook's routes are, and returns JSON),
   served by one uvicorn process with the settings `creditbook serve` uses.
2. `POST /api/v1/charges/` with a customer `full` key and a fresh Idempotency-Key per request,
   body {"operation":"search_database","units":1}, over 32 accounts (keys in turn), then all
   on one hot account. Bar: >= 0.4x the bare endpoint's req/s, and p99 < 50 ms.
3. `GET /api/v1/accounts/me/` over the same keys: req/s, p50, p99, ratio to the bare endpoint.
4. `POST /api/v1/charges/batch/` with 1000 charges per request (no idempotency keys, as the
   ledger-level batch figure of bench/ledger.py) from a few connections. Bar: >= 50,000
   charges/s.

creditbook runs as a real server: `creditbook db upgrade`, then `creditbook serve` in a
subprocess on a fresh SQLite file (WAL, synchronous=FULL, the defaults) or a fresh PostgreSQL
database (`creditbook_bench_http_*`, dropped afterwards), with CREDITBOOK_LOG_LEVEL=warning and
CREDITBOOK_DEFAULT_MONTHLY_LIMIT_USD=none. Accounts, keys and grants are made through the
admin API (CREDITBOOK_ADMIN_TOKEN). Each figure is warmed up (--warmup seconds, same load),
then measured for --seconds; the rate counts only expected answers (201 for a charge, 200
otherwise) over the time from the first request to the last answer. The Lua script stops
sending at the deadline and lets every request in flight be answered, so no charge is left
unanswered. After the run the server is stopped, `creditbook verify` is run and the charge
transactions in the database are counted against the 201s (and the batch successes) seen.

The CPU of the server, of wrk and of the rest of the machine is shown for every figure: with
2 cores the generator must not be what limits the rate (a pure-Python client would be), and
another busy process on the machine shows up as `rest`. With --profile, py-spy (`pip install
py-spy`) samples the server during each measured figure and a table shows, per request, where
its Python time goes, layer by layer (the figures are then taken under the sampler).
--server-cpu N runs both servers on one CPU only: a diagnostic for the cost of the GIL moving
between cores (the servers run many threads; the default leaves them both cores).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named http.py: drop its folder from the import path before anything imports
# the standard library's `http` package (httpx and uvicorn do).
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import contextlib
import importlib.util
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA = HERE / "http_wrk.lua"
FUNDING_USD = 100_000_000  # per account: 5 billion charges of 1 unit at 0.02 USD
BAR_RATIO = 0.4  # POST /charges/ >= 0.4x the bare endpoint's req/s
BAR_P99_MS = 50.0
BAR_BATCH = 50_000  # charges/s through POST /charges/batch/
GRACE_S = 1.5  # after the deadline, for the requests in flight to be answered
WRK_TIMEOUT = "10s"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The settings `creditbook serve` passes to uvicorn.run (src/creditbook/cli.py), for the bare
# app; the log level is the server's CREDITBOOK_LOG_LEVEL set below.
UVICORN_SETTINGS: dict[str, Any] = {
    "log_level": "warning",
    "log_config": None,
    "access_log": False,
    "timeout_graceful_shutdown": 30,
}


# The bare endpoint


class ChargeBody(BaseModel):
    operation: str
    units: int


def serve_bare(port: int) -> None:
    """A tiny FastAPI app: parse a small JSON body, answer JSON. Runs until SIGTERM."""
    import uvicorn  # noqa: PLC0415
    from fastapi import FastAPI  # noqa: PLC0415

    app = FastAPI(redirect_slashes=False)

    @app.post("/bare/")
    def bare(body: ChargeBody) -> dict[str, Any]:
        return {"data": {"operation": body.operation, "units": body.units, "ok": True}}

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, **UVICORN_SETTINGS)


# Processes and CPU


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def backends_cpu_s(database: str | None) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving `database` (by its process title)."""
    if database is None:
        return {}
    found = {}
    needle = f" {database} ".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "cmdline").read_bytes():
                found[int(entry.name)] = proc_cpu_s(int(entry.name))
    return found


class Backends:
    """Watches the PostgreSQL backends of one database while a figure runs (every 50 ms, so
    that the CPU of backends that exit during the run is counted too)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.start = backends_cpu_s(database)
        self.last = dict(self.start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.last.update(backends_cpu_s(self.database))

    def stop(self) -> tuple[float, int]:
        """(CPU seconds used during the run, backends seen during the run)."""
        self._stop.set()
        self._thread.join()
        self.last.update(backends_cpu_s(self.database))
        used = sum(cpu - self.start.get(pid, 0.0) for pid, cpu in self.last.items())
        return used, len(self.last)


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    """`argv` run on one CPU only (taskset execs it: the pid stays the server's)."""
    return argv if cpu is None else ["taskset", "-c", str(cpu), *argv]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any CREDITBOOK_* setting of the caller's, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITBOOK_")}
    env.update(extra)
    return env


class Server:
    """A server subprocess, its log in a file; stopped with SIGTERM (graceful)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            argv, env=env, stdout=self._log_file, stderr=subprocess.STDOUT, cwd=ROOT
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, url: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        self._log_file.flush()
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        return int(self.process.returncode)


# Profiling the server (optional): py-spy, sampling only the thread that holds the GIL

PROFILE_HZ = 250
# Where a sample's time goes: the innermost frame whose file matches a prefix; frames of other
# files (the standard library's helpers) count for the code that called them.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("HTTP server (uvicorn, h11, asyncio)", ("uvicorn/", "h11/", "asyncio/", "selectors.py")),
    ("thread hand-offs (anyio, threading, queue)", ("anyio/", "threading.py", "queue.py")),
    ("FastAPI + Starlette", ("fastapi/", "starlette/")),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("JSON (json, simplejson)", ("json/", "simplejson/")),
    ("SQLAlchemy + DB driver", ("sqlalchemy/", "sqlite3/", "psycopg/")),
    ("metrics + logging", ("prometheus_client/", "logging/")),
    ("creditbook.api", ("creditbook/api/",)),
    ("creditbook.services", ("creditbook/services/",)),
    ("creditbook.storage (writer, repositories)", ("creditbook/storage/",)),
    ("creditbook.domain + other creditbook", ("creditbook/",)),
    ("the bare app (bench/http.py)", ("http.py",)),
]
OTHER_LAYER = "other"


def layer_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        where = frame.rsplit(" (", 1)[-1]
        for name, prefixes in LAYERS:
            if where.startswith(prefixes):
                return name
    return OTHER_LAYER


def read_profile(path: Path) -> dict[str, int]:
    """Samples per layer from py-spy's raw output (`frame;frame;... count` lines)."""
    counts: dict[str, int] = {}
    if not path.exists():
        return counts
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            name = layer_of(stack.split(";"))
            counts[name] = counts.get(name, 0) + int(count)
    return counts


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


# The load generator


COMMIT_METRIC = "creditbook_ledger_commit_duration_seconds"
SLOW_COMMIT_S = 0.05


@dataclass(frozen=True)
class Commits:
    """The server's ledger commits over one run, from two readings of its /metrics."""

    count: int
    commands: int
    slow: int  # commits that took longer than SLOW_COMMIT_S
    slowest_le_s: float  # the upper bound of the slowest histogram bucket reached


def commit_histogram(base: str) -> dict[str, float]:
    """Cumulative counts of the commit histogram by bound (`le`), and the commands' sum."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{COMMIT_METRIC}_bucket":
                found[sample.labels["le"]] = sample.value
            elif sample.name == "creditbook_ledger_batch_commands_sum":
                found["commands"] = sample.value
    return found


def commits_between(before: dict[str, float], after: dict[str, float]) -> Commits:
    grew = {le: after[le] - before.get(le, 0.0) for le in after}
    count = int(grew.get("+Inf", 0))
    bounds = sorted((float(le), n) for le, n in grew.items() if le not in ("+Inf", "commands"))
    fast = next((n for le, n in bounds if le >= SLOW_COMMIT_S), count)
    slowest = next((le for le, n in bounds if n >= count), math.inf)
    return Commits(count, int(grew.get("commands", 0)), count - int(fast), slowest)


def fsync_latency(directory: Path, seconds: float = 2.0) -> str:
    """The disk's own durable-write latency: 16 KiB written and fdatasync'd in a loop."""
    path = directory / "fsync.probe"
    times: list[float] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            os.write(fd, b"x" * 16384)
            started = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()
    times.sort()
    p50, p99 = times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]
    slow = sum(t > SLOW_COMMIT_S for t in times)
    return (
        f"{len(times):,} fdatasyncs of 16 KiB in {seconds:g} s: p50 {p50 * 1e3:.2f} ms, "
        f"p99 {p99 * 1e3:.2f} ms, max {times[-1] * 1e3:.1f} ms, {slow} over "
        f"{SLOW_COMMIT_S * 1e3:.0f} ms"
    )


@dataclass
class Run:
    """One wrk run: counts from the Lua script, CPU of the parties."""

    ok: int = 0  # answers with the expected status
    other: int = 0  # any other answer
    succeeded: int = 0  # batch mode: charges the answers said succeeded
    in_flight: int = 0  # requests sent but not answered when wrk stopped (should be 0)
    socket_errors: int = 0
    window_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    sample: str = ""
    wall_s: float = 0.0  # wrk's whole run, the grace period included
    wrk_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    db_cpu_s: float | None = None  # PostgreSQL backends of the server's database
    backends: int = 0  # how many such backends existed at some time during the run
    rest_cpu_s: float = 0.0  # every other process on the machine over the whole run
    profile: dict[str, int] = field(default_factory=dict)  # py-spy samples per layer
    profile_s: float = 0.0  # how long py-spy sampled
    commits: Commits | None = None  # the server's ledger commits during the run (/metrics)

    @property
    def rate(self) -> float:
        return self.ok / self.window_s if self.window_s else 0.0

    @property
    def charge_rate(self) -> float:
        return self.succeeded / self.window_s if self.window_s else 0.0

    def share(self, cpu_s: float) -> float:
        """CPU seconds as a share of one core over the measured window."""
        return cpu_s / self.window_s if self.window_s else 0.0

    @property
    def units(self) -> int:
        """What a rate counts: requests, or charges for the batch endpoint."""
        return self.succeeded if self.succeeded else self.ok

    @property
    def cpu_us_per_unit(self) -> float:
        return self.server_cpu_s / self.units * 1e6 if self.units else 0.0

    def gil_us_per_unit(self, samples: int) -> float:
        """Microseconds of GIL-held Python per request (per charge for the batch endpoint)."""
        done = self.units * min(1.0, self.profile_s / self.window_s) if self.window_s else 0
        return samples / PROFILE_HZ / done * 1e6 if done else 0.0

    @property
    def rest_share(self) -> float:
        """Other processes' CPU as a share of one core over wrk's whole run."""
        return self.rest_cpu_s / self.wall_s if self.wall_s else 0.0


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    first = (out.stdout + out.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk (unknown version)"


def run_wrk(
    wrk: str,
    url: str,
    *,
    mode: str,
    seconds: float,
    connections: int,
    threads: int,
    keys: list[str],
    server_pid: int,
    database: str | None = None,
    batch_size: int = 0,
    profile: Path | None = None,
) -> Run:
    tag = f"r{secrets.token_hex(4)}"
    extra = [str(batch_size)] if mode == "batch" else []
    argv = [
        wrk,
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{math.ceil(seconds + GRACE_S)}s",
        f"--timeout={WRK_TIMEOUT}",
        "-s",
        str(LUA),
        url,
        "--",
        mode,
        tag,
        f"{seconds:g}",
        *extra,
        *(keys or ["none"]),
    ]
    watch = Backends(database) if database else None
    server0, (busy0, _) = proc_cpu_s(server_pid), machine_cpu_s()
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sampler, profile_s = None, 0.0
    spy = py_spy()
    if profile is not None and spy is not None:
        profile_s = max(1, int(seconds) - 1)
        spy_argv = [
            *(spy, "record", "--pid", str(server_pid), "--duration", f"{profile_s:.0f}"),
            *("--rate", str(PROFILE_HZ), "--gil", "--nonblocking", "--format", "raw"),
            *("--output", str(profile)),
        ]
        sampler = subprocess.Popen(
            spy_argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    if sampler is not None:
        try:
            sampler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sampler.kill()
            sampler.wait()
    process.returncode = os.waitstatus_to_exitcode(status)
    stdout = process.stdout.read().decode() if process.stdout else ""
    stderr = process.stderr.read().decode() if process.stderr else ""
    if process.stdout:
        process.stdout.close()
    if process.stderr:
        process.stderr.close()
    server_cpu, (busy1, _) = proc_cpu_s(server_pid) - server0, machine_cpu_s()
    db_cpu, backends = watch.stop() if watch else (None, 0)
    found = re.search(r"^WRKJSON (\{.*\})$", stdout, re.MULTILINE)
    if process.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{stdout}\n{stderr}")
    data = json.loads(found.group(1))
    wrk_cpu = usage.ru_utime + usage.ru_stime
    connect, read, write, _status, timeout = data["errors"]
    return Run(
        ok=data["ok"],
        other=data["other"],
        succeeded=data["succeeded"],
        # wrk calls request() once in thread 0 to check the script; that request is never sent
        in_flight=data["sent"] - 1 - data["answered"],
        socket_errors=connect + read + write + timeout,
        window_s=data["window_s"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        sample=data["sample"],
        wall_s=wall,
        wrk_cpu_s=wrk_cpu,
        server_cpu_s=server_cpu,
        db_cpu_s=db_cpu,
        backends=backends,
        rest_cpu_s=max(0.0, (busy1 - busy0) - wrk_cpu - server_cpu - (db_cpu or 0.0)),
        profile=read_profile(profile) if profile is not None else {},
        profile_s=profile_s,
    )


@dataclass
class Scenario:
    label: str
    short: str  # column heading
    mode: str
    connections: int
    keys: list[str]
    creates_charges: bool = False
    batch_size: int = 0
    runs: list[Run] = field(default_factory=list)  # warm-up then measured

    @property
    def measured(self) -> Run:
        return self.runs[-1]


def measure(
    wrk: str,
    url: str,
    scenario: Scenario,
    args: argparse.Namespace,
    *,
    server_pid: int,
    database: str | None,
) -> Run:
    for seconds in (args.warmup, args.seconds):
        if seconds <= 0:
            continue
        profile = None
        if args.profile and seconds == args.seconds:
            profile = Path(tempfile.mkdtemp(prefix="creditbook_bench_http_spy_")) / "spy.raw"
        measured = seconds == args.seconds and scenario.mode != "bare"
        before = commit_histogram(url) if measured else {}
        scenario.runs.append(
            run_wrk(
                wrk,
                url,
                mode=scenario.mode,
                seconds=seconds,
                connections=scenario.connections,
                threads=args.threads,
                keys=scenario.keys,
                server_pid=server_pid,
                database=database,
                batch_size=scenario.batch_size,
                profile=profile,
            )
        )
        if measured:
            scenario.runs[-1].commits = commits_between(before, commit_histogram(url))
        if profile is not None:
            shutil.rmtree(profile.parent, ignore_errors=True)
    return scenario.measured


def print_commits(scenarios: list[Scenario]) -> None:
    """Per figure, the ledger's commits as the server's /metrics counted them."""
    print(f"  ledger commits during each figure (the server's {COMMIT_METRIC}):")
    for s in scenarios:
        c = s.measured.commits
        if c is None:
            continue
        if not c.count:
            print(f"    {s.short:<10} no commits")
            continue
        per = c.commands / c.count
        slowest = "over 2.5 s" if math.isinf(c.slowest_le_s) else f"<= {c.slowest_le_s:g} s"
        print(
            f"    {s.short:<10} {c.count:>7,} commits, {per:7.1f} commands each, "
            f"{c.slow:>4} over {SLOW_COMMIT_S * 1e3:.0f} ms, slowest {slowest}"
        )


# Databases


class Target:
    name: str
    url: str
    database: str | None = None  # PostgreSQL: the database, to find its backends

    def create(self) -> None: ...

    def drop(self) -> None: ...

    def describe(self) -> str:
        return ""


class SqliteTarget(Target):
    def __init__(self) -> None:
        self.name = "SQLite"
        self.workdir: Path | None = None  # made by create(), removed by drop()
        self.url = ""

    @property
    def path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "creditbook.db"

    def create(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="creditbook_bench_http_"))
        self.url = f"sqlite:///{self.path}"

    def drop(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def describe(self) -> str:
        return f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=FULL) at {self.path}"


class PostgresTarget(Target):
    def __init__(self, admin_url: str) -> None:
        from sqlalchemy.engine import make_url  # noqa: PLC0415

        self.name = "PostgreSQL"
        self.admin = make_url(admin_url).set(drivername="postgresql")
        self.database = f"creditbook_bench_http_{os.getpid()}"
        self.url = self.admin.set(database=self.database).render_as_string(hide_password=False)

    def _connect(self) -> Any:
        import psycopg  # noqa: PLC0415

        conninfo = self.admin.render_as_string(hide_password=False)
        return psycopg.connect(conninfo, autocommit=True)

    def create(self) -> None:
        with self._connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def drop(self) -> None:
        with self._connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def describe(self) -> str:
        return f"PostgreSQL, fresh database {self.database} on {self.admin.host}"


def postgres_version(url: str) -> str:
    import psycopg  # noqa: PLC0415
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        fsync = conn.execute("SHOW fsync").fetchone()
        sync = conn.execute("SHOW synchronous_commit").fetchone()
    version = row[0] if row else "?"
    return (
        f"{version} (fsync={fsync[0] if fsync else '?'}, "
        f"synchronous_commit={sync[0] if sync else '?'}), psycopg {psycopg.__version__}"
    )


def count_charges(url: str) -> int:
    """Charge transactions in the ledger: rows whose type is their operation code."""
    from sqlalchemy import text  # noqa: PLC0415

    from creditbook.storage.engine import create_engine  # noqa: PLC0415

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = (
                "SELECT count(*) FROM transactions WHERE operation IS NOT NULL AND type = operation"
            )
            return int(conn.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


# creditbook


def creditbook_bin() -> str:
    beside = Path(sys.executable).with_name("creditbook")
    if beside.exists():
        return str(beside)
    venv = ROOT / ".venv" / "bin" / "creditbook"
    return str(venv) if venv.exists() else "creditbook"


def server_env(admin_token: str) -> dict[str, str]:
    return clean_env(
        CREDITBOOK_ADMIN_TOKEN=admin_token,
        CREDITBOOK_DEFAULT_MONTHLY_LIMIT_USD="none",
        CREDITBOOK_LOG_LEVEL="warning",
    )


def make_accounts(base: str, admin_token: str, count: int, prefix: str) -> list[str]:
    """`count` funded accounts with no monthly cap, each with one `full` key; the secrets."""
    import httpx  # noqa: PLC0415

    secrets_made = []
    headers = {"Authorization": f"Token {admin_token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30.0) as client:
        for i in range(count):
            made = client.post(
                "/api/v1/admin/accounts/",
                json={"email": f"{prefix}{i}@bench.example", "name": f"{prefix} {i}"}
                | {"monthly_limit": None},
            )
            made.raise_for_status()
            account_id = made.json()["data"]["id"]
            key = client.post(f"/api/v1/admin/accounts/{account_id}/keys/", json={"scope": "full"})
            key.raise_for_status()
            grant = client.post(
                f"/api/v1/admin/accounts/{account_id}/grants/", json={"amount": FUNDING_USD}
            )
            grant.raise_for_status()
            secrets_made.append(key.json()["data"]["key"])
    return secrets_made


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [creditbook_bin(), *argv], env=clean_env(), capture_output=True, text=True, check=False
    )


# Reporting


def fmt_ms(value: float) -> str:
    return f"{value:8.1f}"


LABEL = 40


def row(s: Scenario, bare_rate: float) -> str:
    m = s.measured
    if s.mode == "batch":
        rate, unit = m.charge_rate, "charges/s"
        ratio = f"{'':>8}"
    else:
        rate, unit = m.rate, "req/s"
        ratio = f"{m.rate / bare_rate:7.2f}x" if bare_rate else f"{'':>8}"
    db = "    -" if m.db_cpu_s is None else f"{m.share(m.db_cpu_s):5.0%}"
    cpu = f"{m.share(m.server_cpu_s):6.0%} {db} {m.share(m.wrk_cpu_s):5.0%} {m.rest_share:5.0%}"
    return (
        f"  {s.label:<{LABEL}}{s.connections:>4} {rate:>8,.0f} {unit:<9}"
        f"{fmt_ms(m.p50_ms)}{fmt_ms(m.p99_ms)} {ratio} {m.cpu_us_per_unit:8,.0f}  {cpu}"
    )


HEADER = (
    f"  {'figure':<{LABEL}}{'conn':>4} {'rate':>8} {'':<9}{'p50 ms':>8}{'p99 ms':>8} {'vs bare':>8}"
    f" {'CPU us':>8}  {'server':>6} {'db':>5} {'wrk':>5} {'rest':>5}"
)
LEGEND = """\
  rate: expected answers (201 / 200) from the first request to the last answer; batch: charges.
  CPU us: server CPU per request (batch: per charge). server, db, wrk: CPU as a share of one
  core (2 cores = 200%) over the measured window, of the uvicorn process, of the PostgreSQL
  backends of its database, of wrk; rest: every other process on the machine."""


def print_profile(scenarios: list[Scenario]) -> None:
    """Per request, where the server's GIL-held Python time goes, layer by layer."""
    profiled = [s for s in scenarios if s.measured.profile]
    if not profiled:
        print("  (no profile: py-spy is not installed; `pip install py-spy`)")
        return
    print(
        "  where the server's time goes, us per request (batch: per charge). py-spy --gil samples\n"
        "  the thread holding the GIL, i.e. Python code running (a thread waiting on PostgreSQL\n"
        "  can be counted while no other thread takes the GIL); the last line is all CPU:"
    )
    print(f"    {'layer':<44}" + "".join(f"{s.short:>11}" for s in profiled))
    for name in [n for n, _ in LAYERS] + [OTHER_LAYER]:
        values = [s.measured.gil_us_per_unit(s.measured.profile.get(name, 0)) for s in profiled]
        if any(v >= 0.5 for v in values):
            print(f"    {name:<44}" + "".join(f"{v:11,.0f}" for v in values))
    totals = [s.measured.gil_us_per_unit(sum(s.measured.profile.values())) for s in profiled]
    print(f"    {'total with the GIL held':<44}" + "".join(f"{v:11,.0f}" for v in totals))
    cpu = [s.measured.cpu_us_per_unit for s in profiled]
    label = "server CPU (also kernel, C code without GIL)"
    print(f"    {label:<44}" + "".join(f"{v:11,.0f}" for v in cpu))


def problems_of(s: Scenario) -> list[str]:
    notes = []
    for i, m in enumerate(s.runs):
        which = "warm-up" if i < len(s.runs) - 1 else "measured"
        if m.other:
            notes.append(f"{s.label} ({which}): {m.other} unexpected answer(s), e.g. {m.sample}")
        if m.in_flight:
            notes.append(f"{s.label} ({which}): {m.in_flight} request(s) unanswered at wrk's end")
        if m.socket_errors:
            notes.append(f"{s.label} ({which}): {m.socket_errors} socket error(s)/time-out(s)")
    return notes


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


# One database


@dataclass
class Outcome:
    name: str
    passed: list[bool] = field(default_factory=list)


def run_target(
    target: Target, args: argparse.Namespace, wrk: str, bare_url: str, bare_pid: int
) -> Outcome:
    outcome = Outcome(target.name)
    target.create()
    print(f"\n== {target.name}: {target.describe()} ==", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="creditbook_bench_http_"))
    print(f"  disk at {workdir}: {fsync_latency(workdir)}", flush=True)
    server: Server | None = None
    try:
        upgraded = run_cli("db", "upgrade", "--database-url", target.url)
        if upgraded.returncode != 0:
            raise RuntimeError(f"db upgrade failed:\n{upgraded.stdout}{upgraded.stderr}")
        admin_token = secrets.token_urlsafe(24)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        argv = [creditbook_bin(), "serve", "--port", str(port), "--database-url", target.url]
        argv = pinned(argv, args.server_cpu)
        server = Server("creditbook", argv, server_env(admin_token), workdir / "server.log")
        server.wait_ready(f"{base}/readyz")
        keys = make_accounts(base, admin_token, args.accounts, "spread")
        hot = make_accounts(base, admin_token, 1, "hot")
        n = args.accounts
        c = args.connections
        scenarios = [
            Scenario("bare FastAPI POST /bare/ (baseline)", "bare", "bare", c, []),
            Scenario(f"POST /charges/, {n} accounts", "charges", "charge", c, keys, True),
            Scenario("POST /charges/, 1 hot account", "hot", "charge", c, hot, True),
            Scenario(f"GET /accounts/me/, {n} accounts", "me", "me", c, keys),
            Scenario(
                f"POST /charges/batch/ x{args.batch_size}, {n} accts",
                "batch/chg",
                "batch",
                args.batch_connections,
                keys,
                True,
                args.batch_size,
            ),
        ]
        bare, spread, hot_charges, me, batch = scenarios
        print(HEADER, flush=True)
        for s in scenarios:
            if s is bare:
                measure(wrk, bare_url, s, args, server_pid=bare_pid, database=None)
            else:
                measure(wrk, base, s, args, server_pid=server.pid, database=target.database)
            print(row(s, bare.measured.rate), flush=True)
        print(LEGEND)
        print_commits(scenarios[1:])
        if target.database is not None:
            seen = ", ".join(f"{s.short} {s.measured.backends}" for s in scenarios[1:])
            print(
                f"  PostgreSQL backends that served the database during each figure: {seen}\n"
                "  (processes; more than the server keeps open means connections were opened and\n"
                "  closed under load)"
            )
        if args.profile:
            print_profile(scenarios)

        b = bare.measured
        gen = b.share(b.wrk_cpu_s)
        srv = b.share(b.server_cpu_s)
        limited = gen < 0.5 and gen * 3 < srv
        print(
            f"  load generator on the bare endpoint: wrk {gen:.0%} of a core, server {srv:.0%}: "
            + ("the server is the limit, not wrk." if limited else "wrk MAY BE THE LIMIT.")
        )
        busy = max(s.measured.rest_share for s in scenarios)
        if busy > 0.25:
            print(
                f"  NOTE: other processes used up to {busy:.0%} of a core during a figure: "
                "the server competed for the CPU."
            )

        print("  bars:")
        ratio = spread.measured.rate / b.rate if b.rate else 0.0
        p99 = spread.measured.p99_ms
        rate_ok, p99_ok = ratio >= BAR_RATIO, p99 < BAR_P99_MS
        print(
            f"    POST /charges/ ({n} accounts) >= {BAR_RATIO}x bare req/s: "
            f"{ratio:.2f}x  {verdict(rate_ok)}"
        )
        print(
            f"    POST /charges/ ({n} accounts) p99 < {BAR_P99_MS:.0f} ms: {p99:.1f} ms  "
            f"{verdict(p99_ok)}"
        )
        hot_ratio = hot_charges.measured.rate / b.rate if b.rate else 0.0
        print(
            f"    (info) POST /charges/ (1 hot account): {hot_ratio:.2f}x bare, "
            f"p99 {hot_charges.measured.p99_ms:.1f} ms"
        )
        print(
            f"    (info) GET /accounts/me/: {me.measured.rate / b.rate if b.rate else 0:.2f}x bare"
        )
        batch_rate = batch.measured.charge_rate
        batch_ok = batch_rate >= BAR_BATCH
        print(
            f"    POST /charges/batch/ >= {BAR_BATCH:,} charges/s: {batch_rate:,.0f}/s  "
            f"{verdict(batch_ok)}"
        )
        outcome.passed += [rate_ok, p99_ok, batch_ok]

        # The ledger after the run
        code = server.stop()
        server = None
        answered = sum(m.ok for s in scenarios if s.mode == "charge" for m in s.runs)
        batched = sum(m.succeeded for m in batch.runs)
        unanswered = sum(m.in_flight for s in scenarios if s.creates_charges for m in s.runs)
        stored = count_charges(target.url)
        checked = run_cli("verify", "--database-url", target.url)
        last = (checked.stdout.strip().splitlines() or [checked.stderr.strip()])[-1]
        verified = checked.returncode == 0
        same = stored == answered + batched
        how = "SIGTERM, graceful" if code in (0, -signal.SIGTERM) else f"exit code {code}"
        print(f"  ledger after the run (server stopped: {how}):")
        print(f"    creditbook verify: exit {checked.returncode}, {last!r}  {verdict(verified)}")
        print(
            f"    charge transactions in the database: {stored:,}; 201 answers to POST /charges/ "
            f"(warm-ups included)\n    {answered:,} + charges answered 201 in batches "
            f"{batched:,} = {answered + batched:,}: {'equal' if same else 'DIFFERENT'}  "
            f"{verdict(same)}"
            + (f" ({unanswered} request(s) were unanswered)" if unanswered else "")
        )
        outcome.passed += [verified, same]
        notes = [note for s in scenarios for note in problems_of(s)]
        for note in notes:
            print(f"  WARNING: {note}")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        target.drop()
    return outcome


# Main


def source_version() -> str:
    """The commit the server's code comes from, and whether src/ has changes on top."""

    def git(*argv: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *argv], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "creditbook (not a git checkout)"
    dirty = git("status", "--porcelain", "--", "src")
    return f"creditbook at {commit}" + (" + uncommitted changes in src/" if dirty else "")


def machine(args: argparse.Namespace, wrk: str, pg_version: str | None) -> None:
    import fastapi  # noqa: PLC0415
    import h11  # noqa: PLC0415
    import starlette  # noqa: PLC0415
    import uvicorn  # noqa: PLC0415

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    loops = [name for name in ("uvloop", "httptools") if importlib.util.find_spec(name)]
    load = os.getloadavg()
    busy0, total0 = machine_cpu_s()
    time.sleep(1.0)
    busy1, total1 = machine_cpu_s()
    busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
    print("creditbook HTTP benchmark")
    print(f"  command:    {' '.join([sys.executable, *sys.argv])}")
    print(f"  code:       {source_version()}")
    print(f"  machine:    {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}")
    print(
        f"  at start:   load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"machine {busy:.0%} busy over 1 s before the run (other processes)"
    )
    print(f"  Python:     {platform.python_implementation()} {platform.python_version()}")
    print(
        f"  server:     uvicorn {uvicorn.__version__} (one process, "
        f"{'+'.join(loops) if loops else 'asyncio loop + h11 ' + h11.__version__}), "
        f"FastAPI {fastapi.__version__}, Starlette {starlette.__version__}"
    )
    print(f"  SQLite:     {sqlite3.sqlite_version}")
    if pg_version is not None:
        print(f"  PostgreSQL: {pg_version}")
    if args.server_cpu is not None:
        print(f"  pinned:     both servers on CPU {args.server_cpu} only (--server-cpu)")
    print(
        f"  load:       {wrk_version(wrk)}, {args.threads} threads, bench/http_wrk.lua, "
        f"keep-alive, 127.0.0.1; {args.warmup:g} s warm-up + {args.seconds:g} s per figure"
    )


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per figure")
    p.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per figure")
    p.add_argument("--connections", type=int, default=32, help="concurrent clients")
    p.add_argument("--batch-connections", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=1000, help="charges per batch request")
    p.add_argument("--accounts", type=int, default=32, help="accounts the charges spread over")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--skip-postgres", action="store_true")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument(
        "--profile",
        action="store_true",
        help="sample the servers with py-spy during each measured figure (pip install py-spy)",
    )
    p.add_argument(
        "--server-cpu",
        type=int,
        metavar="N",
        help="diagnostic: run both servers on CPU N only (taskset), wrk stays free",
    )
    p.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return p.parse_args()


@contextlib.contextmanager
def bare_server(workdir: Path, cpu: int | None) -> Iterator[tuple[str, int]]:
    port = free_port()
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port)]
    argv = pinned(argv, cpu)
    server = Server("bare FastAPI app", argv, clean_env(), workdir / "bare.log")
    try:
        server.wait_ready(f"http://127.0.0.1:{port}/readyz")
        yield f"http://127.0.0.1:{port}", server.pid
    finally:
        server.stop()


def main() -> int:
    args = parse_args()
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
        return 0
    wrk = shutil.which("wrk")
    if wrk is None:
        print(
            "error: wrk is not installed. This benchmark uses wrk (with LuaJIT) as the load\n"
            "generator, since a Python client cannot keep up with the server on 2 cores.\n"
            "Install it with:  apt-get install -y wrk   (Debian package), then run again.",
            file=sys.stderr,
        )
        return 2
    pg_version = None
    if not args.skip_postgres:
        try:
            pg_version = postgres_version(args.pg_url)
        except Exception as error:
            print(f"PostgreSQL unreachable at {args.pg_url}: {error}\nUse --skip-postgres.")
            return 2
    machine(args, wrk, pg_version)
    workdir = Path(tempfile.mkdtemp(prefix="creditbook_bench_http_bare_"))
    outcomes: list[Outcome] = []
    try:
        with bare_server(workdir, args.server_cpu) as (bare_url, bare_pid):
            targets: list[Target] = [SqliteTarget()]
            if not args.skip_postgres:
                targets.append(PostgresTarget(args.pg_url))
            for target in targets:
                outcomes.append(run_target(target, args, wrk, bare_url, bare_pid))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    for o in outcomes:
        print(f"{o.name}: {sum(o.passed)} of {len(o.passed)} checks passed")
    return 0 if all(all(o.passed) for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
