"""The crash loop: 16 clients charge with idempotency keys while the server is SIGKILLed at
random moments 20 times and restarted; clients retry whatever was not answered. In the end
every answered charge is stored exactly once, none is applied twice, and `verify` passes —
on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from creditbook.bootstrap import build
from creditbook.storage.tables import transactions
from tests.conftest import BACKENDS, make_settings
from tests.e2e.api import Api
from tests.e2e.server import ServerProcess, database

CLIENTS = 16
KILLS = 20


@dataclass
class Ledgerbook:
    """What the clients saw: the transaction id answered for each idempotency key."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: dict[str, str] = field(default_factory=dict)
    attempts: int = 0


def _charge_until_answered(server: ServerProcess, secret: str, key: str, book: Ledgerbook) -> None:
    body = {"operation": "search_database", "units": 1, "idempotency_key": key}
    headers = {"Authorization": f"Token {secret}"}
    while True:
        with book.lock:
            book.attempts += 1
        try:
            response = httpx.post(
                f"{server.base_url}/api/v1/charges/", json=body, headers=headers, timeout=10
            )
        except httpx.TransportError:
            time.sleep(0.05)  # the server is down or restarting: retry the same key
            continue
        if response.status_code >= 500:
            time.sleep(0.05)
            continue
        assert response.status_code == 201, response.text
        with book.lock:
            book.answered[key] = response.json()["data"]["id"]
        return


def _client(
    server: ServerProcess, secret: str, name: str, book: Ledgerbook, done: threading.Event
) -> None:
    n = 0
    while not done.is_set():
        _charge_until_answered(server, secret, f"{name}-{n}", book)
        n += 1


def _kill_and_restart(server: ServerProcess, rng: random.Random) -> None:
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.05, 0.6))
        server.kill()
        server.start()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_twenty_times_under_load_keeps_every_answered_charge_exactly_once(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with database(backend, request, tmp_path) as url:
        server = ServerProcess(url, tmp_path)
        server.start()
        try:
            with httpx.Client(base_url=server.base_url, timeout=30) as http:
                who = Api(http, server.admin_token).customer(balance="1000000", monthly_limit=None)
            book, done = Ledgerbook(), threading.Event()
            clients = [
                threading.Thread(target=_client, args=(server, who.key.secret, f"c{i}", book, done))
                for i in range(CLIENTS)
            ]
            for thread in clients:
                thread.start()
            _kill_and_restart(server, random.Random(backend))
            time.sleep(0.5)
            done.set()
            for thread in clients:
                thread.join(timeout=120)
        finally:
            server.stop()
        _check(url, who.account_id, book)


def _check(url: str, account_id: str, book: Ledgerbook) -> None:
    assert len(book.answered) > 100 and book.attempts > len(book.answered)
    services = build(make_settings(url))
    try:
        t = transactions.c
        query = select(t.idempotency_key, t.id).where(
            t.account_id == account_id, t.type == "search_database"
        )
        with services.store.engine.connect() as connection:
            stored = connection.execute(query).all()
            total = connection.execute(
                select(func.sum(t.credits_micros)).where(t.account_id == account_id)
            ).scalar_one()
        keys = [row[0] for row in stored]
        assert len(keys) == len(set(keys)), "a charge was applied twice"
        assert {row[0]: row[1] for row in stored if row[0] in book.answered} == book.answered
        # At most one unanswered charge per client may have been stored (killed mid-answer).
        assert len(keys) - len(book.answered) <= CLIENTS
        balance = services.accounts.get(account_id=account_id).balance_micros
        assert balance == total  # every stored charge, and only those, moved the balance
        assert services.verifier.verify().ok
    finally:
        services.close()
