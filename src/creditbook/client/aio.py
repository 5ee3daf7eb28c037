"""The asynchronous client (httpx.AsyncClient): the same methods as `Client`, awaited."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from creditbook.client import calls, core
from creditbook.client import models as m
from creditbook.client.calls import When

T = TypeVar("T")


class AsyncClient:
    """`AsyncClient(base_url="http://127.0.0.1:8000", key="cb_...")`; use it as an async
    context manager or await `aclose()`."""

    def __init__(
        self,
        *,
        base_url: str,
        key: str,
        timeout: float = 30.0,
        retries: core.Retries | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retries = retries or core.Retries()
        self._http = httpx.AsyncClient(
            base_url=core.base_url(base_url),
            headers=core.headers(key),
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, *_: type[BaseException] | BaseException | TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # Sending

    async def send(self, call: core.Call[T]) -> T:
        """Send one call (with its retries) and read the answer."""
        response = await self._retrying(
            call, lambda: self._http.request(call.method, call.path, **call.request_kwargs())
        )
        return call.read(core.decoded(response))

    async def _retrying(
        self, call: core.Call[Any], once: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                outcome: httpx.Response | httpx.TransportError = await once()
            except httpx.TransportError as error:
                outcome = error
            delay = self.retries.verdict(call, attempt, outcome)
            if delay is None:
                assert isinstance(outcome, httpx.Response)
                return outcome
            await asyncio.sleep(delay)

    # The account (Generect's documented endpoints)

    async def me(self) -> m.Me:
        return await self.send(calls.me())

    async def usage(
        self,
        *,
        start: When | None = None,
        end: When | None = None,
        timezone: str | None = None,
        period: str | None = None,
        period_month: str | None = None,
    ) -> m.Usage:
        return await self.send(
            calls.usage(
                start=start, end=end, timezone=timezone, period=period, period_month=period_month
            )
        )

    async def transactions(self, **filters: Any) -> m.TransactionPage:
        """One page: `limit`, `offset`, `cursor` and any filter of the API."""
        return await self.send(calls.transactions(calls.transactions_query(filters)))

    async def iter_transactions(self, **filters: Any) -> AsyncIterator[m.Transaction]:
        """Every matching transaction, newest first, page after page to the end."""
        params: dict[str, str] | None = calls.transactions_query(filters)
        while params is not None:
            page = await self.send(calls.transactions(params))
            for row in page.transactions:
                yield row
            params = core.following(params, page)

    async def transaction(self, *, transaction_id: str) -> m.Transaction:
        return await self.send(calls.transaction(transaction_id))

    async def export_csv(self, *, path: str | Path, **filters: Any) -> int:
        """Stream the filtered history as CSV into `path` (replaced only when complete);
        returns the bytes written."""
        call = calls.export(filters)
        target = Path(path)
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(fd)
        try:
            response = await self._retrying(call, lambda: self._download(call, Path(partial)))
            core.check(response)
            os.replace(partial, target)
        finally:
            Path(partial).unlink(missing_ok=True)
        return target.stat().st_size

    async def _download(self, call: core.Call[None], into: Path) -> httpx.Response:
        async with self._http.stream(call.method, call.path, params=call.params) as response:
            if response.status_code >= 400:
                await response.aread()
                return response
            with into.open("wb") as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
        return response

    async def token_analytics(
        self,
        *,
        start: When | None = None,
        end: When | None = None,
        timezone: str | None = None,
        client_id: str | None = None,
        token: str | None = None,
    ) -> m.TokenAnalytics:
        return await self.send(
            calls.token_analytics(
                start=start, end=end, timezone=timezone, client_id=client_id, token=token
            )
        )

    # Keys

    async def keys(self) -> list[m.ApiKey]:
        return await self.send(calls.keys())

    async def create_key(
        self,
        *,
        name: str | None = None,
        client_id: str | None = None,
        scope: str = "full",
        test: bool = False,
    ) -> m.ApiKey:
        return await self.send(
            calls.create_key(name=name, client_id=client_id, scope=scope, test=test)
        )

    async def revoke_key(self, *, key_id: str) -> m.ApiKey:
        return await self.send(calls.revoke_key(key_id))

    # Metering

    async def charge(
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
        return await self.send(
            calls.charge(
                operation=operation, units=units, idempotency_key=idempotency_key, extra=extra
            )
        )

    async def charge_batch(
        self, *, charges: Sequence[Mapping[str, Any]], account_id: str | None = None
    ) -> m.BatchResult:
        return await self.send(calls.charge_batch(charges=charges, account_id=account_id))

    async def reserve(
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
        return await self.send(
            calls.reserve(
                operation=operation, units=units, idempotency_key=idempotency_key, extra=extra
            )
        )

    async def settle(
        self, *, reservation_id: str, units: int, account_id: str | None = None
    ) -> m.Receipt:
        return await self.send(
            calls.settle(reservation_id=reservation_id, units=units, account_id=account_id)
        )

    async def cancel(self, *, reservation_id: str, account_id: str | None = None) -> m.Receipt:
        return await self.send(calls.cancel(reservation_id=reservation_id, account_id=account_id))

    # Alerts and events

    async def alerts(self) -> list[m.Alert]:
        return await self.send(calls.alerts())

    async def add_alert(
        self,
        *,
        kind: str,
        threshold: Decimal | None = None,
        percent: int | None = None,
        window_days: int | None = None,
        horizon_days: int | None = None,
    ) -> m.Alert:
        return await self.send(
            calls.add_alert(
                kind=kind,
                threshold=threshold,
                percent=percent,
                window_days=window_days,
                horizon_days=horizon_days,
            )
        )

    async def remove_alert(self, *, alert_id: str) -> None:
        await self.send(calls.remove_alert(alert_id))

    async def events(
        self, *, limit: int | None = None, before: str | None = None, type: str | None = None
    ) -> m.EventPage:
        return await self.send(calls.events(limit=limit, before=before, type_=type))

    # Webhooks

    async def webhooks(self) -> list[m.Webhook]:
        return await self.send(calls.webhooks())

    async def webhook(self, *, webhook_id: str) -> m.Webhook:
        return await self.send(calls.webhook(webhook_id))

    async def create_webhook(
        self, *, url: str, events: Sequence[str], secret: str | None = None
    ) -> m.Webhook:
        """Register an endpoint; the answer carries the whole secret, this once."""
        return await self.send(calls.create_webhook(url=url, events=events, secret=secret))

    async def replace_webhook(
        self, *, webhook_id: str, url: str, events: Sequence[str], secret: str | None = None
    ) -> m.Webhook:
        call = calls.replace_webhook(webhook_id, url=url, events=events, secret=secret)
        return await self.send(call)

    async def update_webhook(self, *, webhook_id: str, **fields: Any) -> m.Webhook:
        """Change what is given: url, events, secret, is_active."""
        return await self.send(calls.update_webhook(webhook_id, fields))

    async def delete_webhook(self, *, webhook_id: str) -> None:
        await self.send(calls.delete_webhook(webhook_id))

    async def test_webhook(self, *, webhook_id: str) -> m.Queued:
        """Queue a `webhook.test` delivery to this endpoint."""
        return await self.send(calls.send_test(webhook_id))

    async def webhook_deliveries(
        self, *, webhook_id: str, limit: int | None = None, cursor: str | None = None
    ) -> m.DeliveryPage:
        return await self.send(calls.webhook_deliveries(webhook_id, limit=limit, cursor=cursor))

    async def redeliver(self, *, webhook_id: str, delivery_id: str) -> m.Queued:
        return await self.send(calls.redeliver(webhook_id, delivery_id))
