"""The operator's API (admin token): accounts, keys, grants, adjustments, refunds, prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import Request
from sqlalchemy import select

from creditbook.api import examples, render
from creditbook.api.auth import OperatorCaller, services_of
from creditbook.api.examples import documented
from creditbook.api.queries import ACCOUNTS_PARAMETERS, integer, moment, single
from creditbook.api.responses import MoneyJSONResponse, RenderedJSONResponse
from creditbook.api.routes.metering import receipt_response
from creditbook.api.routing import Router
from creditbook.api.schemas import (
    AccountIn,
    AccountPatch,
    AdjustmentIn,
    GrantIn,
    KeyIn,
    PricesIn,
    RefundIn,
)
from creditbook.bootstrap import Services
from creditbook.domain.pricing import Price, PriceBook, SpendTier
from creditbook.errors import NotFound
from creditbook.money import parse_usd
from creditbook.services.accounts import UNSET
from creditbook.storage.tables import transactions

router = Router(prefix="/api/v1/admin", tags=["admin"])


def _usd(value: Decimal | None, field: str, *, negative: bool = False) -> int | None:
    return None if value is None else parse_usd(value, field=field, allow_negative=negative)


def _account(services: Services, account_id: str) -> dict[str, Any]:
    return render.summary(services.accounts.summary(account_id=account_id))


@router.endpoint(
    "/accounts/",
    methods=["POST"],
    status_code=201,
    summary="Create an account",
    responses=documented(201, examples.ME, 400, 401, 403),
)
def create_account(request: Request, body: AccountIn, _: OperatorCaller) -> MoneyJSONResponse:
    services = services_of(request)
    fields = body.model_fields_set
    extra: dict[str, Any] = {}
    if "monthly_limit" in fields:
        extra["monthly_limit_micros"] = _usd(body.monthly_limit, "monthly_limit")
    if body.overdraft_limit is not None:
        extra["overdraft_limit_micros"] = _usd(body.overdraft_limit, "overdraft_limit")
    account = services.accounts.create(
        email=body.email, name=body.name, plan=body.plan, timezone=body.timezone, **extra
    )
    return MoneyJSONResponse({"data": _account(services, account.id)}, status_code=201)


@router.endpoint(
    "/accounts/",
    methods=["GET"],
    summary="Accounts with their balances",
    openapi_extra=ACCOUNTS_PARAMETERS,
)
def list_accounts(request: Request, _: OperatorCaller) -> MoneyJSONResponse:
    values = single(request.query_params, ("limit", "after"))
    services = services_of(request)
    page = services.accounts.page(after_id=values.get("after"), limit=integer(values, "limit", 100))
    data = [_account(services, a.id) for a in page]
    after = page[-1].id if page else None
    return MoneyJSONResponse({"data": data, "meta": {"next_after": after}})


@router.endpoint("/accounts/{account_id}/", methods=["GET"], summary="One account")
def get_account(request: Request, account_id: str, _: OperatorCaller) -> MoneyJSONResponse:
    single(request.query_params, ())
    return MoneyJSONResponse({"data": _account(services_of(request), account_id)})


@router.endpoint("/accounts/{account_id}/", methods=["PATCH"], summary="Change an account")
def patch_account(
    request: Request, account_id: str, body: AccountPatch, _: OperatorCaller
) -> MoneyJSONResponse:
    services = services_of(request)
    changes: dict[str, Any] = {}
    for name in ("email", "name", "plan", "timezone", "status"):
        if name in body.model_fields_set:
            changes[name] = getattr(body, name)
    if "monthly_limit" in body.model_fields_set:
        changes["monthly_limit_micros"] = _usd(body.monthly_limit, "monthly_limit")
    if "overdraft_limit" in body.model_fields_set:
        limit = _usd(body.overdraft_limit, "overdraft_limit")
        changes["overdraft_limit_micros"] = 0 if limit is None else limit
    services.accounts.update(
        account_id=account_id, **{k: v for k, v in changes.items() if v is not UNSET}
    )
    return MoneyJSONResponse({"data": _account(services, account_id)})


@router.endpoint(
    "/accounts/{account_id}/keys/", methods=["POST"], status_code=201, summary="Create a key"
)
def create_key(
    request: Request, account_id: str, body: KeyIn, _: OperatorCaller
) -> MoneyJSONResponse:
    made = services_of(request).accounts.create_key(
        account_id=account_id,
        name=body.name,
        client_id=body.client_id,
        scope=body.scope,
        test=body.test,
    )
    return MoneyJSONResponse(
        {"data": {**render.key(made.key), "key": made.secret}}, status_code=201
    )


@router.endpoint("/accounts/{account_id}/keys/", methods=["GET"], summary="An account's keys")
def list_keys(request: Request, account_id: str, _: OperatorCaller) -> MoneyJSONResponse:
    single(request.query_params, ())
    services = services_of(request)
    services.accounts.get(account_id=account_id)
    found = services.accounts.keys(account_id=account_id)
    return MoneyJSONResponse({"data": [render.key(k) for k in found]})


@router.endpoint(
    "/accounts/{account_id}/keys/{key_id}/", methods=["DELETE"], summary="Revoke a key"
)
def revoke_key(
    request: Request, account_id: str, key_id: str, _: OperatorCaller
) -> MoneyJSONResponse:
    accounts = services_of(request).accounts
    accounts.key(account_id=account_id, key_id=key_id)
    return MoneyJSONResponse(
        {"data": render.key(accounts.revoke_key(account_id=account_id, key_id=key_id))}
    )


@router.endpoint(
    "/accounts/{account_id}/grants/",
    methods=["POST"],
    status_code=201,
    summary="Add credit",
    responses=documented(201, examples.RECEIPT, 400, 401, 403, 404, 409),
)
def grant(
    request: Request, account_id: str, body: GrantIn, _: OperatorCaller
) -> RenderedJSONResponse:
    receipt = services_of(request).ledger.grant(
        account_id=account_id,
        amount_micros=parse_usd(body.amount, field="amount"),
        kind=body.kind,
        priority=body.priority,
        effective_at_us=None
        if body.effective_at is None
        else moment("effective_at", body.effective_at),
        expires_at_us=None if body.expires_at is None else moment("expires_at", body.expires_at),
        idempotency_key=body.idempotency_key,
        note=body.note,
    )
    return receipt_response(receipt, 201)


@router.endpoint(
    "/accounts/{account_id}/adjustments/",
    methods=["POST"],
    status_code=201,
    summary="Correct a balance, with a reason",
    responses=documented(201, examples.RECEIPT, 400, 401, 402, 403, 404, 409),
)
def adjust(
    request: Request, account_id: str, body: AdjustmentIn, _: OperatorCaller
) -> RenderedJSONResponse:
    receipt = services_of(request).ledger.adjust(
        account_id=account_id,
        amount_micros=parse_usd(body.amount, field="amount", allow_negative=True),
        reason=body.reason,
        idempotency_key=body.idempotency_key,
    )
    return receipt_response(receipt, 201)


def transaction_owner(services: Services, transaction_id: str) -> str:
    """The account a transaction belongs to: the one cross-account lookup, operator only."""
    query = select(transactions.c.account_id).where(transactions.c.id == transaction_id)
    with services.store.read() as uow:
        owner = uow.connection.execute(query.limit(1)).scalar()
    if owner is None:
        raise NotFound("Transaction not found.")
    return str(owner)


@router.endpoint(
    "/transactions/{transaction_id}/refund/",
    methods=["POST"],
    status_code=201,
    summary="Refund a settled charge",
    responses=documented(201, examples.RECEIPT, 400, 401, 403, 404, 409),
)
def refund(
    request: Request, transaction_id: str, _: OperatorCaller, body: RefundIn | None = None
) -> RenderedJSONResponse:
    services = services_of(request)
    body = body or RefundIn()
    receipt = services.ledger.refund(
        account_id=transaction_owner(services, transaction_id),
        transaction_id=transaction_id,
        amount_micros=_usd(body.amount, "amount"),
        reason=body.reason,
        idempotency_key=body.idempotency_key,
    )
    return receipt_response(receipt, 201)


def _price_book(book: PriceBook, now_us: int) -> dict[str, Any]:
    return {
        "prices": [
            {
                "operation": p.operation,
                "unit_price": render.usd(p.unit_price_micros),
                "unit": p.unit,
                "description": p.description,
                "effective_from": render.when(p.effective_from_us),
                "in_force": p in book.operations(now_us),
            }
            for p in sorted(book.all_prices(), key=lambda p: (p.operation, p.effective_from_us))
        ],
        "tiers": [
            {
                "name": t.name,
                "min_lifetime_spend": render.usd(t.min_lifetime_spend_micros),
                "multiplier": render.multiplier(t.multiplier_ppm),
                "effective_from": render.when(t.effective_from_us),
            }
            for t in book.all_tiers()
        ],
        "preview_tier_threshold": render.usd(book.preview_threshold_micros),
    }


@router.endpoint("/prices/", methods=["GET"], summary="The price book")
def get_prices(request: Request, _: OperatorCaller) -> MoneyJSONResponse:
    single(request.query_params, ())
    services = services_of(request)
    now = services.store.clock.now_us()
    return MoneyJSONResponse({"data": _price_book(services.prices.book(), now)})


@router.endpoint("/prices/", methods=["PUT"], summary="Add prices and tiers from a moment on")
def put_prices(request: Request, body: PricesIn, _: OperatorCaller) -> MoneyJSONResponse:
    services = services_of(request)
    start = None if body.effective_from is None else moment("effective_from", body.effective_from)
    prices = [
        Price(p.operation, parse_usd(p.unit_price, field="unit_price"), 0, p.unit, p.description)
        for p in body.prices
    ]
    tiers = None
    if body.tiers is not None:
        tiers = [
            SpendTier(
                t.name,
                parse_usd(t.min_lifetime_spend, field="min_lifetime_spend"),
                parse_usd(t.multiplier, field="multiplier"),  # millionths, like micro-USD
                0,
            )
            for t in body.tiers
        ]
    book = services.prices.change(prices=prices, tiers=tiers, effective_from_us=start)
    return MoneyJSONResponse({"data": _price_book(book, services.store.clock.now_us())})


@router.endpoint("/expire/", methods=["POST"], summary="Release expired holds and credit now")
def expire(request: Request, _: OperatorCaller) -> MoneyJSONResponse:
    written = services_of(request).ledger.expire_all()
    return MoneyJSONResponse({"data": {"transactions_written": written}})
