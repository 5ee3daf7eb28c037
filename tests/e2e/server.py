"""A real `creditbook serve` process on a free loopback port, for end-to-end HTTP tests.

The server runs as a subprocess (`python -m creditbook serve`), exactly as an operator starts
it, with `CREDITBOOK_ADMIN_TOKEN` set and every other `CREDITBOOK_*` variable of the test
environment removed, so that it runs with the documented defaults, but one: the limit of
failed authentications per client address is lifted (every test client is 127.0.0.1, and the
suites fail to authenticate on purpose); `extra_env` sets it back for the tests of the limit.
Its output goes to a log file (never a pipe that could fill up and stall it), shown when it
fails to start.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.conftest import fresh_pg

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
PORT_ATTEMPTS = 3
AUTH_FAILURES_MAX = 1_000_000  # the most a server accepts: no limit within a test run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """One `creditbook serve` subprocess bound to 127.0.0.1 on a port chosen at start."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.admin_token = secrets.token_urlsafe(24)
        self.log_path = workdir / "server.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.extra_env: dict[str, str] = {}  # CREDITBOOK_* settings for the next start

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITBOOK_")}
        env["CREDITBOOK_ADMIN_TOKEN"] = self.admin_token
        env["CREDITBOOK_LOG_LEVEL"] = "warning"
        env["CREDITBOOK_AUTH_FAILURES_MAX"] = str(AUTH_FAILURES_MAX)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            self._log = self.log_path.open("ab")
            command = [
                sys.executable,
                "-m",
                "creditbook",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--database-url",
                self.database_url,
            ]
            self._process = subprocess.Popen(
                command,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                cwd=self.workdir,
            )
            if self._wait_ready():
                return
            self.stop()  # most likely the port was taken meanwhile: try another one
        raise RuntimeError(f"creditbook serve did not start:\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    return False
                try:
                    if client.get("/readyz").status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no goodbye (a crash, or the power going)."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def peak_rss_kib(self) -> int:
        """The server's high-water mark of resident memory (VmHWM), in KiB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM line in /proc/<pid>/status")

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def database(backend: str, request: pytest.FixtureRequest, workdir: Path) -> Iterator[str]:
    """A freshly migrated database of the backend, made the way the `db_url` fixture makes
    its own (a copy of the migrated SQLite template, or a PostgreSQL database cloned from the
    migrated template), but living as long as the requesting (module-scoped) fixture."""
    if backend == "postgresql":
        databases = fresh_pg(request)
        url = next(databases)
        try:
            yield url
        finally:
            databases.close()  # drops the database
        return
    path = workdir / "ledger.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    yield f"sqlite:///{path}"


@contextmanager
def running_server(
    database_url: str, workdir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    server = ServerProcess(database_url, workdir)
    server.extra_env = dict(extra_env or {})
    server.start()
    try:
        yield server
    finally:
        server.stop()
