"""The synchronous client (httpx.Client)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from creditbook.client import calls, core
from creditbook.client import models as m
from creditbook.client.calls import When

T = TypeVar("T")


class Client:
    """`Client(base_url="http://127.0.0.1:8000", key="cb_...")`; use it as a context manager
    or call `close()`."""

    def __init__(
        self,
        *,
        base_url: str,
        key: str,
        timeout: float = 30.0,
        retries: core.Retries | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retries = retries or core.Retries()
        self._http = httpx.Client(
            base_url=core.base_url(base_url),
            headers=core.headers(key),
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # Sending

    def send(self, call: core.Call[T]) -> T:
        """Send one call (with its retries) and read the answer."""
        response = self._retrying(
            call, lambda: self._http.request(call.method, call.path, **call.request_kwargs())
        )
        return call.read(core.decoded(response))

    def _retrying(self, call: core.Call[Any], once: Callable[[], httpx.Response]) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                outcome: httpx.Response | httpx.TransportError = once()
            except httpx.TransportError as error:
                outcome = error
            delay = self.retries.verdict(call, attempt, outcome)
            if delay is None:
                assert isinstance(outcome, httpx.Response)
                return outcome
            time.sleep(delay)

    # The account (Generect's documented endpoints)

    def me(self) -> m.Me:
        return self.send(calls.me())

    def usage(
        self,
        *,
        start: When | None = None,
        end: When | None = None,
        timezone: str | None = None,
        period: str | None = None,
        period_month: str | None = None,
    ) -> m.Usage:
        return self.send(
            calls.usage(
                start=start, end=end, timezone=timezone, period=period, period_month=period_month
            )
        )

    def transactions(self, **filters: Any) -> m.TransactionPage:
        """One page: `limit`, `offset`, `cursor` and any filter of the API."""
        return self.send(calls.transactions(calls.transactions_query(filters)))

    def iter_transactions(self, **filters: Any) -> Iterator[m.Transaction]:
        """Every matching transaction, newest first, page after page to the end."""
        params: dict[str, str] | None = calls.transactions_query(filters)
        while params is not None:
            page = self.send(calls.transactions(params))
            yield from page.transactions
            params = core.following(params, page)

    def transaction(self, *, transaction_id: str) -> m.Transaction:
        return self.send(calls.transaction(transaction_id))

    def export_csv(self, *, path: str | Path, **filters: Any) -> int:
        """Stream the filtered history as CSV into `path` (replaced only when complete);
        returns the bytes written."""
        call = calls.export(filters)
        target = Path(path)
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(fd)
        try:
            response = self._retrying(call, lambda: self._download(call, Path(partial)))
            core.check(response)
            os.replace(partial, target)
        finally:
            Path(partial).unlink(missing_ok=True)
        return target.stat().st_size

    def _download(self, call: core.Call[None], into: Path) -> httpx.Response:
        with self._http.stream(call.method, call.path, params=call.params) as response:
            if response.status_code >= 400:
                response.read()
                return response
            with into.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        return response

    def token_analytics(
        self,
        *,
        start: When | None = None,
        end: When | None = None,
        timezone: str | None = None,
        client_id: str | None = None,
        token: str | None = None,
    ) -> m.TokenAnalytics:
        return self.send(
            calls.token_analytics(
                start=start, end=end, timezone=timezone, client_id=client_id, token=token
            )
        )

    # Keys

    def keys(self) -> list[m.ApiKey]:
        return self.send(calls.keys())

    def create_key(
        self,
        *,
        name: str | None = None,
        client_id: str | None = None,
        scope: str = "full",
        test: bool = False,
    ) -> m.ApiKey:
        return self.send(calls.create_key(name=name, client_id=client_id, scope=scope, test=test))

    def revoke_key(self, *, key_id: str) -> m.ApiKey:
        return self.send(calls.revoke_key(key_id))

    # Metering

    def charge(
        self,
        *,
        operation: str,
        units: int,
        idempotency_key: str | None = None,
        request_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        account_id: str | None = None,
    ) -> m.Receipt:
        extra = {"request_id": request_id, "details": details, "account_id": account_id}
        return self.send(
            calls.charge(
                operation=operation, units=units, idempotency_key=idempotency_key, extra=extra
            )
        )

    def charge_batch(
        self, *, charges: Sequence[Mapping[str, Any]], account_id: str | None = None
    ) -> m.BatchResult:
        return self.send(calls.charge_batch(charges=charges, account_id=account_id))

    def reserve(
        self,
        *,
        operation: str,
        units: int,
        ttl_s: int | None = None,
        idempotency_key: str | None = None,
        request_id: str | None = None,
        account_id: str | None = None,
    ) -> m.Reservation:
        extra = {"ttl_s": ttl_s, "request_id": request_id, "account_id": account_id}
        return self.send(
            calls.reserve(
                operation=operation, units=units, idempotency_key=idempotency_key, extra=extra
            )
        )

    def settle(
        self, *, reservation_id: str, units: int, account_id: str | None = None
    ) -> m.Receipt:
        return self.send(
            calls.settle(reservation_id=reservation_id, units=units, account_id=account_id)
        )

    def cancel(self, *, reservation_id: str, account_id: str | None = None) -> m.Receipt:
        return self.send(calls.cancel(reservation_id=reservation_id, account_id=account_id))

    # Alerts and events

    def alerts(self) -> list[m.Alert]:
        return self.send(calls.alerts())

    def add_alert(
        self,
        *,
        kind: str,
        threshold: Decimal | None = None,
        percent: int | None = None,
        window_days: int | None = None,
        horizon_days: int | None = None,
    ) -> m.Alert:
        return self.send(
            calls.add_alert(
                kind=kind,
                threshold=threshold,
                percent=percent,
                window_days=window_days,
                horizon_days=horizon_days,
            )
        )

    def remove_alert(self, *, alert_id: str) -> None:
        self.send(calls.remove_alert(alert_id))

    def events(
        self, *, limit: int | None = None, before: str | None = None, type: str | None = None
    ) -> m.EventPage:
        return self.send(calls.events(limit=limit, before=before, type_=type))

    # Webhooks

    def webhooks(self) -> list[m.Webhook]:
        return self.send(calls.webhooks())

    def webhook(self, *, webhook_id: str) -> m.Webhook:
        return self.send(calls.webhook(webhook_id))

    def create_webhook(
        self, *, url: str, events: Sequence[str], secret: str | None = None
    ) -> m.Webhook:
        """Register an endpoint; the answer carries the whole secret, this once."""
        return self.send(calls.create_webhook(url=url, events=events, secret=secret))

    def replace_webhook(
        self, *, webhook_id: str, url: str, events: Sequence[str], secret: str | None = None
    ) -> m.Webhook:
        call = calls.replace_webhook(webhook_id, url=url, events=events, secret=secret)
        return self.send(call)

    def update_webhook(self, *, webhook_id: str, **fields: Any) -> m.Webhook:
        """Change what is given: url, events, secret, is_active."""
        return self.send(calls.update_webhook(webhook_id, fields))

    def delete_webhook(self, *, webhook_id: str) -> None:
        self.send(calls.delete_webhook(webhook_id))

    def test_webhook(self, *, webhook_id: str) -> m.Queued:
        """Queue a `webhook.test` delivery to this endpoint."""
        return self.send(calls.send_test(webhook_id))

    def webhook_deliveries(
        self, *, webhook_id: str, limit: int | None = None, cursor: str | None = None
    ) -> m.DeliveryPage:
        return self.send(calls.webhook_deliveries(webhook_id, limit=limit, cursor=cursor))

    def redeliver(self, *, webhook_id: str, delivery_id: str) -> m.Queued:
        return self.send(calls.redeliver(webhook_id, delivery_id))
