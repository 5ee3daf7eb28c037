"""Alert thresholds of an account: add, list, remove; the defaults new accounts get.

A threshold added through the API is judged at once against the account as it stands, so one
added below the current balance triggers straight away; the defaults of a new account start
`ok` (an account is created empty: being below a balance line before the first top-up is not
news). Every change moves the alerts revision, so the writer's cache reloads.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, insert, select

from creditbook import ids, limits
from creditbook.domain.alerts import OK, Alert, AlertSpec, judge_account
from creditbook.errors import InvalidInput, NotFound
from creditbook.storage.repositories import outbox
from creditbook.storage.repositories.accounts import AccountRepository
from creditbook.storage.store import Store
from creditbook.storage.tables import alerts


class Alerts:
    def __init__(self, store: Store, *, defaults: list[AlertSpec], margin_percent: int) -> None:
        self._store = store
        self._defaults = defaults
        self._margin_percent = margin_percent

    def list(self, *, account_id: str) -> list[Alert]:
        with self._store.read() as uow:
            AccountRepository(uow.connection).require(account_id)
            return outbox.load_alerts(outbox.CoreRunner(uow.connection), [account_id])

    def add(self, *, account_id: str, spec: AlertSpec) -> Alert:
        spec.check()
        now = self._store.clock.now_us()
        with self._store.write() as uow:
            connection = uow.connection
            account = AccountRepository(connection).require(account_id)
            _check_room(connection, account_id)
            alert = _new_alert(account_id, spec, now)
            runner = outbox.CoreRunner(connection)
            moved = judge_account([alert], account.state(now), now, self._margin_percent)
            _insert(connection, [alert])
            outbox.bump_alerts_revision(runner)
            outbox.write_events(runner, [event for _, event in moved], now)
            uow.commit()
        return alert

    def remove(self, *, account_id: str, alert_id: str) -> None:
        with self._store.write() as uow:
            removed = uow.connection.execute(
                delete(alerts).where(alerts.c.account_id == account_id, alerts.c.id == alert_id)
            ).rowcount
            if not removed:
                raise NotFound("Alert not found.")
            outbox.bump_alerts_revision(outbox.CoreRunner(uow.connection))
            uow.commit()

    def add_defaults(self, connection: Connection, *, account_id: str, now_us: int) -> None:
        """The configured thresholds of a new account, in the transaction creating it."""
        if self._defaults:
            _insert(connection, [_new_alert(account_id, s, now_us) for s in self._defaults])
            outbox.bump_alerts_revision(outbox.CoreRunner(connection))


def _check_room(connection: Connection, account_id: str) -> None:
    count = connection.execute(
        select(func.count()).select_from(alerts).where(alerts.c.account_id == account_id)
    ).scalar_one()
    if count >= limits.alerts_per_account_max:
        raise InvalidInput("kind", f"At most {limits.alerts_per_account_max} alerts per account.")


def _new_alert(account_id: str, spec: AlertSpec, now_us: int) -> Alert:
    return Alert(
        account_id,
        ids.new_id("alr", now_us),
        spec.kind,
        spec.threshold_micros,
        spec.percent,
        spec.window_days,
        spec.horizon_days,
        OK,
        None,
        now_us,
    )


def _insert(connection: Connection, new: list[Alert]) -> None:
    connection.execute(
        insert(alerts),
        [{c.name: getattr(a, c.name) for c in alerts.c} for a in new],
    )
