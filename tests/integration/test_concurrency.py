"""Many callers spending one account at once never overspend, on both databases; on
PostgreSQL also from several processes, each with its own writer (the way it scales out)."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections import Counter

from creditbook.bootstrap import Services, build
from creditbook.errors import CreditbookError, InsufficientFunds
from creditbook.services.ledger import charge_command
from tests.conftest import make_settings

PRICE_MICROS = 20_000  # search_database, one result
THREADS = 64
CHARGES_PER_THREAD = 8


def _spend(services: Services, account_id: str, attempts: int, results: list[str]) -> None:
    for _ in range(attempts):
        try:
            services.ledger.charge(account_id=account_id, operation="search_database", units=1)
            results.append("ok")
        except InsufficientFunds:
            results.append("refused")
        except CreditbookError as error:  # any other outcome is a failure of the test
            results.append(f"error: {error!r}")


def test_64_threads_on_one_account_succeed_exactly_as_often_as_the_balance_covers(
    services: Services,
) -> None:
    covered = 200  # fewer than the 512 attempts
    account = services.accounts.create(email="hot@example.com")
    services.ledger.grant(account_id=account.id, amount_micros=covered * PRICE_MICROS)
    results: list[str] = []
    threads = [
        threading.Thread(target=_spend, args=(services, account.id, CHARGES_PER_THREAD, results))
        for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Counter(results) == {"ok": covered, "refused": THREADS * CHARGES_PER_THREAD - covered}
    final = services.accounts.get(account_id=account.id)
    assert final.balance_micros == 0
    assert services.verifier.verify().ok
    # Group commit did coalesce: far fewer transactions than successful charges.
    assert services.store.writer.transactions_committed < THREADS * CHARGES_PER_THREAD


def _process_worker(url: str, account_id: str, attempts: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    services = build(make_settings(url))
    results: list[str] = []
    threads = [
        threading.Thread(target=_spend, args=(services, account_id, attempts, results))
        for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    services.close()
    queue.put(results)


def test_four_processes_on_one_postgresql_account_never_overspend(pg_url: str) -> None:
    services = build(make_settings(pg_url))
    covered = 300
    account = services.accounts.create(email="scale-out@example.com")
    services.ledger.grant(account_id=account.id, amount_micros=covered * PRICE_MICROS)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [
        context.Process(target=_process_worker, args=(pg_url, account.id, 8, queue))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    results = [outcome for _ in processes for outcome in queue.get(timeout=120)]
    for process in processes:
        process.join(timeout=60)

    assert Counter(results) == {"ok": covered, "refused": 4 * 16 * 8 - covered}
    assert services.accounts.get(account_id=account.id).balance_micros == 0
    assert services.verifier.verify().ok
    services.close()


async def _spend_async(services: Services, account_id: str, attempts: int) -> list[str]:
    results: list[str] = []
    for _ in range(attempts):
        command = charge_command(account_id=account_id, operation="search_database", units=1)
        try:
            await services.ledger.charge_async(command)
            results.append("ok")
        except InsufficientFunds:
            results.append("refused")
    return results


def test_event_loop_callers_and_threads_on_one_account_share_the_writer_without_overspending(
    services: Services,
) -> None:
    covered = 200
    account = services.accounts.create(email="mixed@example.com")
    services.ledger.grant(account_id=account.id, amount_micros=covered * PRICE_MICROS)
    results: list[str] = []
    threads = [
        threading.Thread(target=_spend, args=(services, account.id, CHARGES_PER_THREAD, results))
        for _ in range(THREADS // 2)
    ]

    async def tasks() -> list[list[str]]:
        for thread in threads:
            thread.start()
        spenders = [
            _spend_async(services, account.id, CHARGES_PER_THREAD) for _ in range(THREADS // 2)
        ]
        return await asyncio.gather(*spenders)

    for done in asyncio.run(tasks()):
        results.extend(done)
    for thread in threads:
        thread.join()

    assert Counter(results) == {"ok": covered, "refused": THREADS * CHARGES_PER_THREAD - covered}
    assert services.accounts.get(account_id=account.id).balance_micros == 0
    assert services.verifier.verify().ok
    services.store.writer.close()  # drains, then stops the writer's own thread
    assert not [t for t in threading.enumerate() if t.name == "creditbook-writer"]
