"""Ledger use cases: charge, reserve, settle, cancel, grant, adjust, refund, expire.

Every argument is keyword-only and checked here, before anything reaches the writer. Methods
for one command raise the ledger's error; `charge_many` returns one outcome per charge.
Test keys (`test=True`) get the answer a live key would, computed from the real account, and
nothing is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from creditbook import ids, limits
from creditbook.domain.commands import (
    AddGrant,
    Adjust,
    AnyCommand,
    Cancel,
    Charge,
    ExpireGrants,
    ExpireReservations,
    Refund,
    Reserve,
    Settle,
)
from creditbook.domain.fields import (
    check_code,
    check_details,
    check_idempotency_key,
    check_int,
    check_request_id,
    check_text,
    check_units,
)
from creditbook.domain.grants import GrantKind, check_priority, parse_kind
from creditbook.domain.transactions import Receipt, Status, Transaction
from creditbook.errors import CreditbookError, InvalidInput, NotFound
from creditbook.money import check_amount
from creditbook.storage.repositories.schedule import ScheduleRepository
from creditbook.storage.store import Store
from creditbook.storage.writer import Result

ChargeOutcome = Receipt | CreditbookError
TEST_RESERVATION = "txn_test"


class Ledger:
    def __init__(self, store: Store, *, reservation_ttl_s: int) -> None:
        self._store = store
        self._ttl_s = reservation_ttl_s

    # Metering

    def charge(
        self,
        *,
        account_id: str,
        operation: str,
        units: int,
        api_key_id: str | None = None,
        idempotency_key: str | None = None,
        request_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        test: bool = False,
    ) -> Receipt:
        command = charge_command(
            account_id=account_id,
            operation=operation,
            units=units,
            api_key_id=api_key_id,
            idempotency_key=idempotency_key,
            request_id=request_id,
            details=details,
        )
        return self._receipt(command, test=test)

    async def charge_async(self, command: Charge, *, test: bool = False) -> Receipt:
        """`charge` for an event loop, given a command from `charge_command`: a live charge
        waits for its commit without holding a thread; a test key's answer is read from the
        database in the loop's default executor."""
        if test:
            return await asyncio.to_thread(self._receipt, command, test=True)
        results = await self._store.submit_async([command])
        return _receipt_of(results[0], test=False)

    def charge_many(self, charges: Sequence[Charge], *, test: bool = False) -> list[ChargeOutcome]:
        """Charge each of `charges` (built with `charge_command`); one outcome each, in order."""
        if len(charges) > limits.batch_charges_max:
            raise InvalidInput("charges", f"At most {limits.batch_charges_max} per batch.")
        if not charges:
            return []
        run = self._store.simulate if test else self._store.submit
        return [_as_charge_outcome(result, test) for result in run(charges)]

    def reserve(
        self,
        *,
        account_id: str,
        operation: str,
        units: int,
        ttl_s: int | None = None,
        api_key_id: str | None = None,
        idempotency_key: str | None = None,
        request_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        test: bool = False,
    ) -> Receipt:
        ttl = self._ttl_s if ttl_s is None else ttl_s
        command = Reserve(
            account_id=account_id,
            operation=check_code(operation),
            units=check_units(units),
            ttl_s=check_int(
                ttl,
                field="ttl_s",
                low=limits.reservation_ttl_s_min,
                high=limits.reservation_ttl_s_max,
            ),
            api_key_id=api_key_id,
            idempotency_key=check_idempotency_key(idempotency_key),
            request_id=check_request_id(request_id),
            details=check_details(details),
        )
        receipt = self._receipt(command, test=test)
        if not test:
            return receipt
        # Nothing was stored: the id itself carries what a test settle needs.
        simulated = f"{TEST_RESERVATION}.{command.operation}.{command.units}.{ids.new_id('')[-12:]}"
        receipt.transaction.id = simulated
        return receipt

    def settle(
        self, *, account_id: str, reservation_id: str, units: int, test: bool = False
    ) -> Receipt:
        units = check_units(units, low=0)
        if test:
            return self._test_close(account_id, reservation_id, units)
        return self._receipt(
            Settle(account_id=account_id, reservation_id=reservation_id, units=units)
        )

    def cancel(self, *, account_id: str, reservation_id: str, test: bool = False) -> Receipt:
        if test:
            return self._test_close(account_id, reservation_id, None)
        return self._receipt(Cancel(account_id=account_id, reservation_id=reservation_id))

    def _test_close(self, account_id: str, reservation_id: str, units: int | None) -> Receipt:
        """Settle (units) or cancel (None) a reservation a test key made: answered as a live
        key would be, from what the reservation's id records; nothing is written."""
        parts = reservation_id.split(".")
        if len(parts) != 4 or parts[0] != TEST_RESERVATION or not parts[2].isdigit():
            raise NotFound("Reservation not found.")
        operation, reserved = parts[1], int(parts[2])
        if units is not None and units > reserved:
            raise InvalidInput("units", f"Cannot settle {units} units; {reserved} were reserved.")
        probe = Charge(account_id=account_id, operation=operation, units=units or 0)
        receipt = self._receipt(probe, test=True)
        txn = receipt.transaction
        txn.id, txn.reserved_units = reservation_id, reserved
        if units is None:
            txn.status, txn.note, txn.credits_micros = Status.ERROR, "cancelled", 0
            return receipt._replace(charged_micros=0)
        return receipt

    # Crediting and corrections

    def grant(
        self,
        *,
        account_id: str,
        amount_micros: int,
        kind: str = GrantKind.PURCHASE,
        priority: int | None = None,
        effective_at_us: int | None = None,
        expires_at_us: int | None = None,
        idempotency_key: str | None = None,
        note: str | None = None,
    ) -> Receipt:
        amount = check_amount(amount_micros, field="amount")
        if amount == 0:
            raise InvalidInput("amount", "Must be above zero.")
        now = self._store.clock.now_us()
        starts = now if effective_at_us is None else effective_at_us
        if expires_at_us is not None and expires_at_us <= max(starts, now):
            raise InvalidInput("expires_at", "Must be in the future and after effective_at.")
        command = AddGrant(
            account_id=account_id,
            amount_micros=amount,
            kind=parse_kind(kind),
            priority=None if priority is None else check_priority(priority),
            effective_at_us=effective_at_us,
            expires_at_us=expires_at_us,
            idempotency_key=check_idempotency_key(idempotency_key),
            note=check_text(note, field="note", length_max=limits.reason_length_max) or None,
        )
        return self._receipt(command)

    def adjust(
        self,
        *,
        account_id: str,
        amount_micros: int,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Receipt:
        amount = check_amount(amount_micros, field="amount", allow_negative=True)
        if amount == 0:
            raise InvalidInput("amount", "Must not be zero.")
        command = Adjust(
            account_id=account_id,
            amount_micros=amount,
            reason=check_text(
                reason, field="reason", length_max=limits.reason_length_max, required=True
            ),
            idempotency_key=check_idempotency_key(idempotency_key),
        )
        return self._receipt(command)

    def refund(
        self,
        *,
        account_id: str,
        transaction_id: str,
        amount_micros: int | None = None,
        reason: str = "",
        idempotency_key: str | None = None,
    ) -> Receipt:
        if amount_micros is not None and check_amount(amount_micros, field="amount") == 0:
            raise InvalidInput("amount", "Must be above zero.")
        command = Refund(
            account_id=account_id,
            transaction_id=transaction_id,
            amount_micros=amount_micros,
            reason=check_text(reason, field="reason", length_max=limits.reason_length_max),
            idempotency_key=check_idempotency_key(idempotency_key),
        )
        return self._receipt(command)

    # Housekeeping

    def expire_grants(self, *, account_id: str) -> list[Transaction]:
        return self._transactions(ExpireGrants(account_id=account_id))

    def expire_reservations(self, *, account_id: str) -> list[Transaction]:
        return self._transactions(ExpireReservations(account_id=account_id))

    def expire_all(self, *, page_size: int = 500) -> int:
        """Expire reservations past their TTL and write off expired grants, on the accounts
        that have any; returns the transactions written."""
        written = 0
        after: str | None = None
        while True:
            now = self._store.clock.now_us()
            with self._store.read() as uow:
                due = ScheduleRepository(uow.connection).accounts_due(
                    now, after=after, limit=page_size
                )
            if not due:
                return written
            commands: list[AnyCommand] = []
            for account_id in due:
                commands += [ExpireReservations(account_id), ExpireGrants(account_id)]
            for result in self._store.submit(commands):
                if isinstance(result, CreditbookError):
                    raise result
                assert isinstance(result, list)
                written += len(result)
            after = due[-1]

    # Internals

    def _receipt(self, command: AnyCommand, *, test: bool = False) -> Receipt:
        run = self._store.simulate if test else self._store.submit
        return _receipt_of(run([command])[0], test=test)

    def _transactions(self, command: AnyCommand) -> list[Transaction]:
        result = self._store.submit([command])[0]
        if isinstance(result, CreditbookError):
            raise result
        assert isinstance(result, list)
        return result


def charge_command(
    *,
    account_id: str,
    operation: str,
    units: int,
    api_key_id: str | None = None,
    idempotency_key: str | None = None,
    request_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> Charge:
    """A checked one-step charge, for `Ledger.charge_many`."""
    return Charge(
        account_id=account_id,
        operation=check_code(operation),
        units=check_units(units),
        api_key_id=api_key_id,
        idempotency_key=check_idempotency_key(idempotency_key),
        request_id=check_request_id(request_id),
        details=check_details(details),
    )


def _receipt_of(result: Result, *, test: bool) -> Receipt:
    if isinstance(result, CreditbookError):
        raise result
    assert isinstance(result, Receipt)
    return result._replace(test=True) if test else result


def _as_charge_outcome(result: Result, test: bool) -> ChargeOutcome:
    if isinstance(result, CreditbookError):
        return result
    assert isinstance(result, Receipt)
    return result._replace(test=True) if test else result
