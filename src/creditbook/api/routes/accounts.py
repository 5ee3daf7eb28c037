"""Account endpoints for a customer's key, compatible with Generect's account API."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import Request
from starlette.responses import StreamingResponse

from creditbook.api import examples, render
from creditbook.api.auth import Caller, CustomerCaller, services_of
from creditbook.api.examples import documented
from creditbook.api.queries import (
    ANALYTICS_PARAMETERS,
    HISTORY_PARAMETERS,
    USAGE_PARAMETERS,
    history_filter,
    history_names,
    integer,
    moment,
    single,
)
from creditbook.api.responses import MoneyJSONResponse, RenderedJSONResponse, dumps
from creditbook.api.routing import Router
from creditbook.api.schemas import KeyIn
from creditbook.clock import US_PER_DAY, from_us
from creditbook.domain.history import check_page
from creditbook.domain.pricing import PriceBook
from creditbook.domain.transactions import NON_CHARGE_TYPES
from creditbook.domain.usage import check_date, month_range, parse_zone
from creditbook.errors import InvalidInput, PermissionDenied

router = Router(prefix="/api/v1/accounts", tags=["accounts"])


@router.endpoint(
    "/me/",
    methods=["GET"],
    summary="Account profile and balance",
    responses=documented(200, examples.ME, 401, 403),
)
def me(request: Request, caller: CustomerCaller) -> MoneyJSONResponse:
    single(request.query_params, ())
    summary = services_of(request).accounts.summary(account_id=caller.account_id)
    return MoneyJSONResponse({"data": render.summary(summary)})


def local_date(name: str, text: str) -> date:
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(name, "Use a date as YYYY-MM-DD.") from None
    return check_date(name, value)


def usage_window(values: dict[str, str], today: date) -> tuple[date, date, str]:
    """[start, end) in local dates and the label of the period, from the query."""
    month = values.get("period_month")
    start_text, end_text = values.get("start_date"), values.get("end_date")
    if month is not None:
        if start_text or end_text:
            raise InvalidInput("period_month", "Give either period_month or start/end dates.")
        first, following = month_range(month)
        return first, following, month
    if start_text is None and end_text is None:
        first, following = month_range(today.strftime("%Y-%m"))
        return first, following, today.strftime("%Y-%m")
    start = local_date("start_date", start_text) if start_text else None
    end = local_date("end_date", end_text) if end_text else today
    start = start or end.replace(day=1)
    if end < start:
        raise InvalidInput("end_date", "Must not be before start_date.")
    following = end + timedelta(days=1)
    whole_month = start.day == 1 and following.day == 1 and (following - start).days <= 31
    label = start.strftime("%Y-%m") if whole_month else f"{start.isoformat()}..{end.isoformat()}"
    return start, following, label


@router.endpoint(
    "/usage/",
    methods=["GET"],
    summary="Spend by operation over a period",
    responses=documented(200, examples.USAGE, 400, 401, 403),
    openapi_extra=USAGE_PARAMETERS,
)
def usage(request: Request, caller: CustomerCaller) -> RenderedJSONResponse:
    values = single(
        request.query_params, ("timezone", "period", "start_date", "end_date", "period_month")
    )
    services = services_of(request)
    zone = parse_zone(values.get("timezone", "UTC"))
    today = from_us(services.store.clock.now_us()).astimezone(zone).date()
    start, end, label = usage_window(values, today)
    report = services.usage.report(
        account_id=caller.account_id,
        start=start,
        end=end,
        timezone=zone.key,
        period=values.get("period", "day"),
    )
    return RenderedJSONResponse(f'{{"data":{render.usage_json(report, label)}}}')


def _wants_csv(request: Request, values: dict[str, str]) -> bool:
    chosen = values.get("format")
    if chosen is not None and chosen not in ("json", "csv"):
        raise InvalidInput("format", "Must be json or csv.")
    if chosen is not None:
        return chosen == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


@router.endpoint(
    "/transactions/",
    methods=["GET"],
    summary="Transaction history (JSON pages, or CSV with format=csv)",
    responses=documented(200, examples.TRANSACTIONS, 400, 401, 403),
    openapi_extra=HISTORY_PARAMETERS,
)
def transactions(request: Request, caller: CustomerCaller) -> Any:
    values = single(request.query_params, history_names())
    services = services_of(request)
    wanted = history_filter(values, lambda: _transaction_types(services.prices.book()))
    if _wants_csv(request, values):
        if {"limit", "offset", "cursor"} & values.keys():
            raise InvalidInput("format", "A CSV export is the whole filtered history; no paging.")
        name = f"transactions-{caller.account_id}.csv"
        return StreamingResponse(
            services.history.csv(account_id=caller.account_id, wanted=wanted),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    page = check_page(
        integer(values, "limit", 100), integer(values, "offset", 0), values.get("cursor")
    )
    rows, next_cursor = services.history.page(
        account_id=caller.account_id, wanted=wanted, page=page
    )
    listed = ",".join([render.transaction_json(t) for t in rows])
    return RenderedJSONResponse(
        f'{{"data":{{"transactions":[{listed}],"next_cursor":{dumps(next_cursor)},'
        f'"limit":{page.limit},"offset":{page.offset}}}}}'
    )


def _transaction_types(book: PriceBook) -> list[str]:
    return [*(p.operation for p in book.all_prices()), *NON_CHARGE_TYPES]


@router.endpoint("/transactions/{transaction_id}/", methods=["GET"], summary="One transaction")
def transaction(
    request: Request, transaction_id: str, caller: CustomerCaller
) -> RenderedJSONResponse:
    single(request.query_params, ())
    found = services_of(request).history.get(
        account_id=caller.account_id, transaction_id=transaction_id
    )
    return RenderedJSONResponse(f'{{"data":{render.transaction_json(found)}}}')


def may_manage_keys(caller: Caller, test: bool) -> None:
    if not caller.may_spend:
        raise PermissionDenied("A read key cannot manage keys; use a full key.")
    if caller.test and not test:
        raise PermissionDenied("A test key can only create test keys.")


@router.endpoint("/keys/", methods=["GET"], summary="The account's API keys")
def keys(request: Request, caller: CustomerCaller) -> MoneyJSONResponse:
    single(request.query_params, ())
    found = services_of(request).accounts.keys(account_id=caller.account_id)
    return MoneyJSONResponse({"data": [render.key(k) for k in found]})


@router.endpoint("/keys/", methods=["POST"], status_code=201, summary="Create an API key")
def create_key(request: Request, body: KeyIn, caller: CustomerCaller) -> MoneyJSONResponse:
    may_manage_keys(caller, body.test)
    made = services_of(request).accounts.create_key(
        account_id=caller.account_id,
        name=body.name,
        client_id=body.client_id,
        scope=body.scope,
        test=body.test,
    )
    data = {**render.key(made.key), "key": made.secret}
    return MoneyJSONResponse({"data": data}, status_code=201)


@router.endpoint("/keys/{key_id}/", methods=["DELETE"], summary="Revoke an API key")
def revoke_key(request: Request, key_id: str, caller: CustomerCaller) -> MoneyJSONResponse:
    accounts = services_of(request).accounts
    target = accounts.key(account_id=caller.account_id, key_id=key_id)  # 404 unless ours
    may_manage_keys(caller, test=target.is_test)
    revoked = accounts.revoke_key(account_id=caller.account_id, key_id=key_id)
    return MoneyJSONResponse({"data": render.key(revoked)})


def analytics_window(values: dict[str, str], now_us: int) -> tuple[int, int]:
    """[start, end] in microseconds. A bare date means its midnight, UTC, at either end
    (as Generect documents: `end_date=2026-05-31` stops at the start of the 31st)."""
    end = moment("end_date", values["end_date"]) if "end_date" in values else now_us
    start = (
        moment("start_date", values["start_date"])
        if "start_date" in values
        else end - 30 * US_PER_DAY
    )
    if end < start:
        raise InvalidInput("end_date", "Must not be before start_date.")
    return start, end


@router.endpoint(
    "/tokens/analytics/",
    methods=["GET"],
    summary="Usage split by API key",
    responses=documented(200, examples.ANALYTICS, 400, 401, 403),
    openapi_extra=ANALYTICS_PARAMETERS,
)
def token_analytics(request: Request, caller: CustomerCaller) -> MoneyJSONResponse:
    values = single(
        request.query_params, ("client_id", "token", "start_date", "end_date", "timezone")
    )
    zone = parse_zone(values.get("timezone", "UTC"))
    services = services_of(request)
    start, end = analytics_window(values, services.store.clock.now_us())
    traffic = request.app.state.requests.report(
        account_id=caller.account_id,
        start_us=start,
        end_us=end,
        client_id=values.get("client_id"),
        secret=values.get("token"),
    )
    tokens = [render.key_traffic(t) for t in traffic]
    body = {
        "period": {
            "start": from_us(start).astimezone(zone).isoformat(),
            "end": from_us(end).astimezone(zone).isoformat(),
        },
        "total_requests": sum(t.requests for t in traffic),
        "total_credits": render.usd(sum(t.spend.spend_micros for t in traffic)),
        "tokens": tokens,
    }
    return MoneyJSONResponse({"data": body})
