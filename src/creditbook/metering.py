"""Metering for FastAPI services, in process: reserve before a route runs, settle by the units
the route reports after it succeeds, cancel when it fails, and put the receipt on the response.

    client = AsyncClient(base_url=..., key=...)
    router = APIRouter(route_class=MeteredRoute)

    @router.get("/search")
    async def search(q: str, meter: Annotated[Meter, Depends(metered(
            client, operation="search_database", units=lambda request: 25))]) -> Any:
        results = find(q)
        meter.units = len(results)        # settled by these (default: the reserved units)
        return {"results": results}

A refused reservation answers 402 (429 for a spending cap) and the route does not run. An
exception or a 5xx answer cancels the reservation. The response carries `X-Creditbook-Charged`,
`X-Creditbook-Balance` and `X-Creditbook-Transaction`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from creditbook.client import (
    AsyncClient,
    CreditbookClientError,
    InsufficientFundsError,
    RateLimitedError,
    Receipt,
    Reservation,
)

log = logging.getLogger("creditbook.metering")
STATE = "creditbook_meters"
Units = int | Callable[[Request], int]


@dataclass
class Meter:
    """A route's reservation; set `units` to what was used (at most `reservation.units`)."""

    client: AsyncClient
    reservation: Reservation
    units: int | None = None
    receipt: Receipt | None = None

    def settle_units(self) -> int:
        held = self.reservation.units
        if self.units is None:
            return held
        if self.units > held:
            log.warning(
                "used %s units, more than the %s reserved; settling %s", self.units, held, held
            )
        return max(0, min(self.units, held))


def metered(
    client: AsyncClient, *, operation: str, units: Units, ttl_s: int | None = None
) -> Callable[[Request], Awaitable[Meter]]:
    """A dependency that reserves `units` (a number, or computed from the request) of
    `operation` before the route runs and gives the route its `Meter`."""

    async def reserve(request: Request) -> Meter:
        if not isinstance(request.scope.get("route"), MeteredRoute):
            raise RuntimeError("metered() needs the route to use route_class=MeteredRoute")
        wanted = units(request) if callable(units) else units
        request_id = request.headers.get("x-request-id")
        try:
            held = await client.reserve(
                operation=operation, units=wanted, ttl_s=ttl_s, request_id=request_id
            )
        except (InsufficientFundsError, RateLimitedError) as refused:
            raise HTTPException(status_code=refused.status_code, detail=refused.detail) from None
        meter = Meter(client, held)
        _meters(request).append(meter)
        return meter

    return reserve


def _meters(request: Request) -> list[Meter]:
    """The request's meters (a route may depend on several)."""
    if not hasattr(request.state, STATE):
        setattr(request.state, STATE, [])
    meters: list[Meter] = getattr(request.state, STATE)
    return meters


async def _cancel(meters: list[Meter]) -> None:
    for meter in meters:
        try:
            await meter.client.cancel(reservation_id=meter.reservation.id)
        except CreditbookClientError:
            log.warning("could not cancel reservation %s", meter.reservation.id, exc_info=True)


async def _settle(meters: list[Meter], response: Response) -> None:
    for meter in meters:
        try:
            units = meter.settle_units()
            meter.receipt = await meter.client.settle(
                reservation_id=meter.reservation.id, units=units
            )
        except CreditbookClientError:
            log.warning("could not settle reservation %s", meter.reservation.id, exc_info=True)
            continue
        response.headers["X-Creditbook-Charged"] = format(meter.receipt.amount_charged, "f")
        response.headers["X-Creditbook-Balance"] = format(meter.receipt.balance, "f")
        response.headers["X-Creditbook-Transaction"] = meter.receipt.transaction.id


class MeteredRoute(APIRoute):
    """A route class that closes the reservations of `metered` dependencies: settled after
    a success, cancelled after an exception or a 5xx answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def metered_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except BaseException:
                await _cancel(_meters(request))
                raise
            meters = _meters(request)
            if response.status_code >= 500:
                await _cancel(meters)
            else:
                await _settle(meters, response)
            return response

        return metered_handler
