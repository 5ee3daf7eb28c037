"""Stopping the server (SIGTERM) while charges are in flight loses none that were answered."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from creditbook.bootstrap import build
from creditbook.domain.history import HistoryFilter
from tests.conftest import make_settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cli(url: str, *args: str) -> dict[str, object]:
    env = {**os.environ, "CREDITBOOK_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "creditbook", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    value: dict[str, object] = json.loads(done.stdout)
    return value


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not become ready")


def test_sigterm_during_a_burst_of_charges_keeps_every_answered_charge(
    db_url: str, tmp_path: Path
) -> None:
    account = str(_cli(db_url, "accounts", "create", "--email", "burst@example.com")["id"])
    _cli(db_url, "credits", "grant", account, "1000000")
    key = str(_cli(db_url, "keys", "create", account)["key"])
    port = _free_port()
    env = {**os.environ, "CREDITBOOK_DATABASE_URL": db_url, "CREDITBOOK_LOG_LEVEL": "info"}
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "creditbook", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    _wait_ready(base, server)
    answered: list[str] = []
    failures: list[int] = []
    stop = threading.Event()

    def charge_until_stopped(worker: int) -> None:
        headers = {"Authorization": f"Token {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            n = 0
            while not stop.is_set():
                n += 1
                body = {"operation": "email_find", "units": 1, "idempotency_key": f"w{worker}-{n}"}
                try:
                    response = client.post("/api/v1/charges/", json=body)
                except httpx.TransportError:
                    return  # the server is going away: this one was never answered
                if response.status_code == 201:
                    answered.append(response.json()["data"]["id"])
                else:
                    failures.append(response.status_code)

    workers = [threading.Thread(target=charge_until_stopped, args=(i,)) for i in range(8)]
    for worker in workers:
        worker.start()
    time.sleep(1.5)
    server.send_signal(signal.SIGTERM)
    exit_code = server.wait(timeout=60)
    stop.set()
    for worker in workers:
        worker.join(timeout=60)

    # uvicorn finishes the requests in flight, runs the shutdown (the writer drains), and
    # then re-raises the signal, so the exit status is the signal's.
    assert exit_code in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in log_path.read_text()
    assert answered, "no charge was answered before the signal"
    assert set(failures) <= {503}, failures  # refused while shutting down, never a 500
    services = build(make_settings(db_url))
    try:
        stored = {
            t.id
            for chunk in services.history.export(account_id=account, wanted=HistoryFilter())
            for t in chunk
        }
        assert set(answered) <= stored
        assert services.verifier.verify().ok
    finally:
        services.close()
