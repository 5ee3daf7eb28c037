"""Metering: the data API's services charge here, with the customer's `full` key or the
operator token plus `account_id`. Every answer carries the amount charged and the balance."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from functools import partial
from typing import Annotated, Any

from fastapi import Header, Request
from pydantic import ValidationError
from simplejson.encoder import encode_basestring

from creditbook.api import examples, render
from creditbook.api.auth import AnyCaller, Caller, services_of
from creditbook.api.examples import documented
from creditbook.api.queries import single
from creditbook.api.responses import RenderedJSONResponse, dumps
from creditbook.api.routing import Router
from creditbook.api.schemas import CancelIn, ChargeBatchIn, ChargeIn, ReserveIn, SettleIn
from creditbook.domain.commands import Charge
from creditbook.domain.transactions import Receipt
from creditbook.errors import CreditbookError, InvalidInput, PermissionDenied
from creditbook.money import format_usd
from creditbook.services.ledger import Ledger, charge_command

router = Router(prefix="/api/v1", tags=["metering"])
IdempotencyHeader = Annotated[str | None, Header(alias="Idempotency-Key")]


def account_for(caller: Caller, account_id: str | None) -> str:
    """The account a metering call spends from, and whether the caller may."""
    if caller.operator:
        if not account_id:
            raise InvalidInput("account_id", "Required when metering with the operator token.")
        return account_id
    if not caller.may_spend:
        raise PermissionDenied("This key is read-only; spending needs a key with full scope.")
    if account_id is not None and account_id != caller.account_id:
        raise PermissionDenied("This key belongs to another account.")
    return caller.account_id


def idempotency_key(body_key: str | None, header_key: str | None) -> str | None:
    if body_key and header_key and body_key != header_key:
        raise InvalidInput("idempotency_key", "The body and the Idempotency-Key header differ.")
    return body_key or header_key


def receipt_response(receipt: Receipt, status_code: int) -> RenderedJSONResponse:
    headers = {}
    if receipt.test:
        headers["X-Creditbook-Mode"] = "test"
    if receipt.replayed:
        headers["Idempotent-Replayed"] = "true"
    data, meta = render.transaction_json(receipt.transaction), dumps(render.receipt_meta(receipt))
    return RenderedJSONResponse(
        f'{{"data":{data},"meta":{meta}}}', status_code=status_code, headers=headers
    )


def observed(request: Request, kind: str, call: Callable[[], Receipt]) -> Receipt:
    """Run a metering call, counting its outcome and timing it (operation labels come from
    the price book through the transaction, never straight from the request)."""
    started = time.perf_counter()
    try:
        receipt = call()
    except CreditbookError as error:
        _count(request, kind, started, error)
        raise
    _count(request, kind, started, receipt)
    return receipt


async def observed_async(request: Request, kind: str, call: Awaitable[Receipt]) -> Receipt:
    """`observed` for a call awaited on the event loop."""
    started = time.perf_counter()
    try:
        receipt = await call
    except CreditbookError as error:
        _count(request, kind, started, error)
        raise
    _count(request, kind, started, receipt)
    return receipt


def _count(request: Request, kind: str, started: float, result: Receipt | Exception) -> None:
    metrics = request.app.state.metrics
    metrics.charge_latency.labels(kind).observe(time.perf_counter() - started)
    if isinstance(result, CreditbookError):
        metrics.refusals.labels(result.code).inc()
        metrics.charges.labels(kind, "-", result.code).inc()
    elif isinstance(result, Receipt):
        outcome = "replayed" if result.replayed else "test" if result.test else "ok"
        metrics.charges.labels(kind, result.transaction.operation or "-", outcome).inc()


async def in_thread(request: Request, call: Callable[[], Receipt]) -> Receipt:
    """Run a ledger call on one of the `ledger_threads` worker threads (reservations, settles,
    cancels): the request itself is parsed and answered on the event loop, so worker threads
    only wait for the writer. A plain executor: anyio's hand-off costs twice the CPU."""
    executor: Executor = request.app.state.ledger_executor
    return await asyncio.get_running_loop().run_in_executor(executor, call)


def _key_id(caller: Caller) -> str | None:
    return None if caller.key is None else caller.key.id


def _metered(
    request: Request, body: ChargeIn, caller: Caller, header_key: str | None
) -> dict[str, Any]:
    """The arguments a charge and a reservation share."""
    single(request.query_params, ())
    return {
        "account_id": account_for(caller, body.account_id),
        "operation": body.operation,
        "units": body.units,
        "api_key_id": _key_id(caller),
        "idempotency_key": idempotency_key(body.idempotency_key, header_key),
        "request_id": body.request_id or request.state.request_id,
        "details": body.details,
        "test": caller.test,
    }


async def _charge(ledger: Ledger, arguments: dict[str, Any]) -> Receipt:
    """A charge on the event loop: checked here, then handed to the writer without a thread."""
    test = arguments.pop("test")
    return await ledger.charge_async(charge_command(**arguments), test=test)


@router.endpoint(
    "/charges/",
    methods=["POST"],
    status_code=201,
    summary="Charge an operation",
    responses=documented(201, examples.RECEIPT, 400, 401, 402, 403, 404, 409, 429),
)
async def charge(
    request: Request, body: ChargeIn, caller: AnyCaller, header_key: IdempotencyHeader = None
) -> RenderedJSONResponse:
    arguments = _metered(request, body, caller, header_key)
    ledger = services_of(request).ledger
    receipt = await observed_async(request, "charge", _charge(ledger, arguments))
    return receipt_response(receipt, 201)


def _batch_command(caller: Caller, raw: dict[str, Any], default_account: str | None) -> Charge:
    try:
        item = ChargeIn.model_validate(raw)
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(p) for p in problem.get("loc", ())) or "charge"
        raise InvalidInput(field, str(problem.get("msg", "Invalid value."))) from None
    return charge_command(
        account_id=account_for(caller, item.account_id or default_account),
        operation=item.operation,
        units=item.units,
        api_key_id=_key_id(caller),
        idempotency_key=item.idempotency_key,
        request_id=item.request_id,
        details=item.details,
    )


def _count_batch(request: Request, outcomes: list[Receipt | CreditbookError]) -> None:
    """The batch's outcomes in the metrics, one increment per (operation, outcome)."""
    counts = Counter(
        ("-", o.code) if isinstance(o, CreditbookError) else (o.transaction.operation or "-", "ok")
        for o in outcomes
    )
    metrics = request.app.state.metrics
    for (operation, outcome), count in counts.items():
        if operation == "-":
            metrics.refusals.labels(outcome).inc(count)
        metrics.charges.labels("batch", operation, outcome).inc(count)


def batch_item(index: int, outcome: Receipt | CreditbookError) -> str:
    """One item of the batch answer as JSON text: what `dumps` gives for the same item, written
    directly for the 1,000s of items of a batch (a test holds the two to the same bytes)."""
    if isinstance(outcome, CreditbookError):
        return dumps({"index": index, "status": outcome.status_code, "detail": outcome.detail})
    return (
        f'{{"index":{index},"status":201,'
        f'"transaction_id":{encode_basestring(outcome.transaction.id)},'
        f'"amount_charged":{format_usd(outcome.charged_micros)},'
        f'"balance":{format_usd(outcome.balance_micros)},'
        f'"replayed":{"true" if outcome.replayed else "false"}}}'
    )


@router.endpoint(
    "/charges/batch/",
    methods=["POST"],
    summary="Many charges in one call, each answered",
    responses=documented(200, examples.BATCH, 400, 401, 403),
)
def charge_batch(request: Request, body: ChargeBatchIn, caller: AnyCaller) -> RenderedJSONResponse:
    single(request.query_params, ())
    commands: list[Charge] = []
    positions: list[int] = []
    refused: list[tuple[int, Receipt | CreditbookError]] = []
    for index, raw in enumerate(body.charges):
        try:
            commands.append(_batch_command(caller, raw, body.account_id))
            positions.append(index)
        except CreditbookError as error:
            refused.append((index, error))
    outcomes = services_of(request).ledger.charge_many(commands, test=caller.test)
    _count_batch(request, outcomes)
    answered = sorted([*zip(positions, outcomes, strict=True), *refused], key=lambda p: p[0])
    # What this call took: a replayed item echoes an earlier charge and takes nothing now.
    receipts = [o for o in outcomes if isinstance(o, Receipt)]
    meta = {
        "succeeded": len(receipts),
        "failed": len(answered) - len(receipts),
        "amount_charged": render.usd(sum(r.charged_micros for r in receipts if not r.replayed)),
        "test": caller.test,
    }
    items = ",".join(batch_item(index, outcome) for index, outcome in answered)
    headers = {"X-Creditbook-Mode": "test"} if caller.test else None
    return RenderedJSONResponse(f'{{"data":[{items}],"meta":{dumps(meta)}}}', headers=headers)


@router.endpoint(
    "/reservations/",
    methods=["POST"],
    status_code=201,
    summary="Hold the worst-case cost",
    responses=documented(201, examples.RECEIPT, 400, 401, 402, 403, 404, 409, 429),
)
async def reserve(
    request: Request, body: ReserveIn, caller: AnyCaller, header_key: IdempotencyHeader = None
) -> RenderedJSONResponse:
    arguments = _metered(request, body, caller, header_key)
    ledger = services_of(request).ledger
    receipt = await in_thread(
        request,
        lambda: observed(request, "reserve", lambda: ledger.reserve(ttl_s=body.ttl_s, **arguments)),
    )
    return receipt_response(receipt, 201)


@router.endpoint(
    "/reservations/{reservation_id}/settle/",
    methods=["POST"],
    summary="Charge what was used",
    responses=documented(200, examples.RECEIPT, 400, 401, 403, 404, 409),
)
async def settle(
    request: Request,
    reservation_id: str,
    body: SettleIn,
    caller: AnyCaller,
    _header_key: IdempotencyHeader = None,
) -> RenderedJSONResponse:
    single(request.query_params, ())
    account_id = account_for(caller, body.account_id)
    ledger = services_of(request).ledger
    call = partial(
        ledger.settle,
        account_id=account_id,
        reservation_id=reservation_id,
        units=body.units,
        test=caller.test,
    )
    receipt = await in_thread(request, lambda: observed(request, "settle", call))
    return receipt_response(receipt, 200)


@router.endpoint(
    "/reservations/{reservation_id}/cancel/",
    methods=["POST"],
    summary="Release a reservation",
    responses=documented(200, examples.RECEIPT, 401, 403, 404, 409),
)
async def cancel(
    request: Request,
    reservation_id: str,
    caller: AnyCaller,
    body: CancelIn | None = None,
    _header_key: IdempotencyHeader = None,
) -> RenderedJSONResponse:
    single(request.query_params, ())
    account_id = account_for(caller, body.account_id if body else None)
    ledger = services_of(request).ledger
    call = partial(
        ledger.cancel, account_id=account_id, reservation_id=reservation_id, test=caller.test
    )
    receipt = await in_thread(request, lambda: observed(request, "cancel", call))
    return receipt_response(receipt, 200)
