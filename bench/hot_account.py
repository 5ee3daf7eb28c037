"""One hot account on PostgreSQL, several creditbook server processes: no overspend, and the
throughput next to a plain-SQL baseline measured on the same server in the same run.

    .venv/bin/python bench/hot_account.py [--servers 3] [--clients 64] [--seconds 8]
                                          [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]

Needs wrk (`apt-get install -y wrk`); requests come from bench/http_wrk.lua (charge mode), one
wrk per server with clients/servers connections each, all on the same account's key.

1. Baseline, no framework: `--clients` threads, each with its own psycopg connection, run
   "transfers" against one row until the time is up:
       UPDATE bench_hot SET balance = balance - 20000 WHERE id = 1 AND balance >= 20000
       INSERT INTO bench_transfers (amount) VALUES (20000)
       COMMIT
   The row lock serialises them exactly as the hot account serialises creditbook's writers.
2. Throughput: `--servers` `creditbook serve` processes (run_clock off) on one fresh database;
   all clients charge one account (`search_database`, 1 unit = 0.02 USD, a fresh
   Idempotency-Key per request) for `--seconds`. Charges/s counts 201s over wrk's window.
3. No overspend: a second account holding exactly `--exact` charges' worth; the same load
   until every client is refused. Exactly `--exact` charges must succeed, the balance must end
   at 0 (never below: the database refuses it), and `creditbook verify` must pass.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds http.py: drop the folder from the import path before anything imports the
# standard library's `http` package (httpx does).
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import importlib.util
import secrets
import shutil
import tempfile
import threading
import time
from decimal import Decimal
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("bench_http", HERE / "http.py")
assert _spec is not None and _spec.loader is not None
bench_http: Any = importlib.util.module_from_spec(_spec)
sys.modules["bench_http"] = bench_http  # its dataclasses look their module up
_spec.loader.exec_module(bench_http)

PRICE = Decimal("0.02")


def baseline(url: str, clients: int, seconds: float) -> float:
    """Plain-SQL transfers per second on one row, `clients` threads."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_hot, bench_transfers")
        conn.execute("CREATE TABLE bench_hot (id int PRIMARY KEY, balance bigint NOT NULL)")
        conn.execute(
            "CREATE TABLE bench_transfers (id bigserial PRIMARY KEY, amount bigint NOT NULL,"
            " at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute("INSERT INTO bench_hot VALUES (1, 9000000000000000)")
    done = [0] * clients
    deadline = time.monotonic() + seconds

    def transfer(i: int) -> None:
        with psycopg.connect(url) as conn:
            while time.monotonic() < deadline:
                moved = conn.execute(
                    "UPDATE bench_hot SET balance = balance - 20000"
                    " WHERE id = 1 AND balance >= 20000"
                ).rowcount
                conn.execute("INSERT INTO bench_transfers (amount) VALUES (20000)")
                conn.commit()
                done[i] += moved

    started = time.monotonic()
    threads = [threading.Thread(target=transfer, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def start_servers(url: str, count: int, token: str, workdir: Path) -> list[tuple[Any, str]]:
    env = {**bench_http.server_env(token), "CREDITBOOK_RUN_CLOCK": "false"}
    started = []
    for i in range(count):
        port = bench_http.free_port()
        argv = [bench_http.creditbook_bin(), "serve", "--port", str(port), "--database-url", url]
        server = bench_http.Server(f"creditbook-{i}", argv, env, workdir / f"server{i}.log")
        base = f"http://127.0.0.1:{port}"
        server.wait_ready(f"{base}/readyz")
        started.append((server, base))
    return started


def account_with(base: str, token: str, amount: Decimal) -> tuple[str, str]:
    headers = {"Authorization": f"Token {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        body = {"email": f"hot-{secrets.token_hex(4)}@bench.example", "monthly_limit": None}
        account = client.post("/api/v1/admin/accounts/", json=body).json()["data"]["id"]
        key = client.post(f"/api/v1/admin/accounts/{account}/keys/", json={"scope": "full"})
        client.post(
            f"/api/v1/admin/accounts/{account}/grants/", json={"amount": str(amount)}
        ).raise_for_status()
    return account, key.json()["data"]["key"]


def load(servers: list[tuple[Any, str]], key: str, clients: int, seconds: float) -> Any:
    """One wrk per server at once; the runs' totals and the widest window."""
    per = max(1, clients // len(servers))
    runs: list[Any] = [None] * len(servers)

    def drive(i: int, server: Any, base: str) -> None:
        runs[i] = bench_http.run_wrk(
            shutil.which("wrk") or "wrk",
            base,
            mode="charge",
            seconds=seconds,
            connections=per,
            threads=min(per, 2),
            keys=[key],
            server_pid=server.pid,
        )

    threads = [threading.Thread(target=drive, args=(i, s, b)) for i, (s, b) in enumerate(servers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return runs


def totals(runs: list[Any]) -> tuple[int, float, float]:
    ok = sum(r.ok for r in runs)
    window = max(r.window_s for r in runs)
    p99 = max(r.p99_ms for r in runs)
    return ok, window, p99


def balance_of(base: str, token: str, account: str) -> Decimal:
    headers = {"Authorization": f"Token {token}"}
    found = httpx.get(f"{base}/api/v1/admin/accounts/{account}/", headers=headers, timeout=30)
    return Decimal(str(found.json()["data"]["credits"]["balance"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--exact", type=int, default=3000, help="charges the 2nd account covers")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    target = bench_http.PostgresTarget(args.pg_url)
    target.create()
    workdir = Path(tempfile.mkdtemp(prefix="creditbook_bench_hot_"))
    servers: list[tuple[Any, str]] = []
    try:
        run = bench_http.run_cli("db", "upgrade", "--database-url", target.url)
        assert run.returncode == 0, run.stderr
        raw = baseline(target.url, args.clients, args.seconds)
        token = secrets.token_urlsafe(24)
        servers = start_servers(target.url, args.servers, token, workdir)
        base = servers[0][1]
        _, hot_key = account_with(base, token, Decimal(10**9))
        ok, window, p99 = totals(load(servers, hot_key, args.clients, args.seconds))
        rate = ok / window if window else 0.0
        exact_account, exact_key = account_with(base, token, PRICE * args.exact)
        charged, _, _ = totals(load(servers, exact_key, args.clients, args.seconds))
        left = balance_of(base, token, exact_account)
    finally:
        for server, _ in servers:
            server.stop()
    verified = bench_http.run_cli("verify", "--database-url", target.url).returncode == 0
    target.drop()
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"PostgreSQL: {bench_http.postgres_version(args.pg_url)}")
    print(f"{args.clients} clients, {args.servers} creditbook processes, one account")
    print(f"  plain-SQL transfers on one row (baseline)  {raw:10,.0f} /s")
    print(f"  creditbook charges over HTTP               {rate:10,.0f} /s  ({rate / raw:.2f}x)")
    print(f"  creditbook p99 (worst server)              {p99:10.1f} ms")
    exact = charged == args.exact and left == 0
    verdict = "PASS" if exact and verified else "FAIL"
    print(
        f"  no overspend: {charged} of {args.exact} charges succeeded, balance left {left} USD,"
        f" verify {'passed' if verified else 'FAILED'} -> {verdict}"
    )
    return 0 if exact and verified else 1


if __name__ == "__main__":
    sys.exit(main())
