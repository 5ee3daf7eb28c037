"""Plan subscriptions: a monthly allotment granted on the account's cycle day by the clock."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from creditbook.domain.plans import CAPPED, CYCLE_DAY_MAX, ROLLOVERS, Subscription, cycle_start_us
from creditbook.domain.usage import parse_zone
from creditbook.errors import InvalidInput, NotFound
from creditbook.money import check_amount
from creditbook.storage.repositories.accounts import AccountRepository
from creditbook.storage.store import Store
from creditbook.storage.tables import subscriptions


class Plans:
    def __init__(self, store: Store) -> None:
        self._store = store

    def subscribe(
        self,
        *,
        account_id: str,
        allotment_micros: int,
        cycle_day: int,
        rollover: str = "none",
        rollover_cap_micros: int | None = None,
    ) -> Subscription:
        """Start (or change) the account's plan. The current cycle's allotment is granted at
        the clock's next round; a change applies from the next renewal."""
        _check(allotment_micros, cycle_day, rollover, rollover_cap_micros)
        now = self._store.clock.now_us()
        with self._store.write() as uow:
            account = AccountRepository(uow.connection).require(account_id)
            current = _get(uow.connection, account_id)
            first = cycle_start_us(now, cycle_day, parse_zone(account.timezone))
            values = {
                "account_id": account_id,
                "allotment_micros": allotment_micros,
                "cycle_day": cycle_day,
                "rollover": rollover,
                "rollover_cap_micros": rollover_cap_micros if rollover == CAPPED else None,
                "next_renewal_at_us": current.next_renewal_at_us if current else first,
                "created_at_us": current.created_at_us if current else now,
                "updated_at_us": now,
            }
            if current is None:
                uow.connection.execute(insert(subscriptions).values(values))
            else:
                uow.connection.execute(
                    update(subscriptions)
                    .where(subscriptions.c.account_id == account_id)
                    .values(values)
                )
            uow.commit()
        return Subscription(**values)  # type: ignore[arg-type]

    def get(self, *, account_id: str) -> Subscription | None:
        with self._store.read() as uow:
            return _get(uow.connection, account_id)

    def cancel(self, *, account_id: str) -> None:
        """No more renewals; grants already made run to their expiry."""
        with self._store.write() as uow:
            gone = uow.connection.execute(
                delete(subscriptions).where(subscriptions.c.account_id == account_id)
            ).rowcount
            if not gone:
                raise NotFound("The account has no plan subscription.")
            uow.commit()


def _get(connection: Connection, account_id: str) -> Subscription | None:
    row = connection.execute(
        select(*subscriptions.c).where(subscriptions.c.account_id == account_id)
    ).first()
    return Subscription(*row) if row is not None else None


def _check(allotment: int, cycle_day: int, rollover: str, cap: int | None) -> None:
    check_amount(allotment, field="allotment")
    if allotment <= 0:
        raise InvalidInput("allotment", "Must be more than 0.")
    if not 1 <= cycle_day <= CYCLE_DAY_MAX:
        raise InvalidInput("cycle_day", f"Must be between 1 and {CYCLE_DAY_MAX}.")
    if rollover not in ROLLOVERS:
        raise InvalidInput("rollover", f"One of {', '.join(ROLLOVERS)}.")
    if rollover == CAPPED:
        if cap is None:
            raise InvalidInput("rollover_cap", "A capped rollover needs rollover_cap.")
        check_amount(cap, field="rollover_cap")
    elif cap is not None:
        raise InvalidInput("rollover_cap", "Only a capped rollover takes rollover_cap.")
