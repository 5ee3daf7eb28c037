"""The writer tells observers (the server's metrics) how each commit went, on both databases."""

from __future__ import annotations

import pytest

from creditbook.bootstrap import Services
from creditbook.domain.transactions import Receipt
from creditbook.services.ledger import charge_command


def funded(services: Services, usd: int = 10) -> str:
    account_id = services.accounts.create(email="observed@example.com").id
    services.ledger.grant(account_id=account_id, amount_micros=usd * 1_000_000)
    return account_id


def test_every_commit_is_reported_with_its_duration_and_its_number_of_commands(
    services: Services,
) -> None:
    account_id = funded(services)
    seen: list[tuple[float, int]] = []
    services.store.writer.observe(lambda seconds, commands: seen.append((seconds, commands)))
    services.ledger.charge(account_id=account_id, operation="search_database", units=1)
    batch = [
        charge_command(account_id=account_id, operation="search_database", units=1)
        for _ in range(7)
    ]
    outcomes = services.ledger.charge_many(batch)
    assert all(isinstance(outcome, Receipt) for outcome in outcomes)
    assert [commands for _, commands in seen] == [1, 7]
    assert all(0 < seconds < 30 for seconds, _ in seen)


def test_an_observer_that_fails_does_not_fail_the_committed_charge(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    account_id = funded(services)
    calls: list[int] = []

    def broken(_seconds: float, commands: int) -> None:
        calls.append(commands)
        raise RuntimeError("metrics backend down")

    services.store.writer.observe(broken)
    services.store.writer.observe(lambda _seconds, commands: calls.append(-commands))
    receipt = services.ledger.charge(account_id=account_id, operation="search_database", units=2)
    assert receipt.transaction.units == 2
    assert calls == [1, -1]  # the second observer still heard of the commit
    assert "a commit observer failed" in caplog.text
    assert services.verifier.verify(account_id=account_id).ok
