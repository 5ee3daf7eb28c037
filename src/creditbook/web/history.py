"""Transactions: a filtered, cursor-paged table, and the CSV of exactly that filter, through
the history service and the API's own filter reader (`api.queries.history_filter`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from creditbook.api.queries import history_filter
from creditbook.domain.history import HistoryFilter, check_page
from creditbook.domain.transactions import NON_CHARGE_TYPES
from creditbook.domain.usage import parse_zone
from creditbook.errors import CreditbookError
from creditbook.web.core import SECURITY_HEADERS, CustomerVisitor, Visitor, page
from creditbook.web.forms import attempt, describe, given, local_midnight
from creditbook.web.overview import visitor_zone

router = APIRouter(include_in_schema=False)
FIELDS = ("from", "to", "type", "status", "min_amount", "max_amount")
PAGE_SIZE = 50
STATUSES = ("success", "pending", "error")


def types(visitor: Visitor) -> list[str]:
    operations = [p.operation for p in visitor.services.prices.book().all_prices()]
    return sorted({*operations, *NON_CHARGE_TYPES})


def api_query(values: dict[str, str], zone_name: str) -> dict[str, str]:
    """The form's fields as the API's query parameters (local dates become UTC instants)."""
    zone = parse_zone(zone_name)
    query: dict[str, str] = {}
    if "from" in values:
        query["created_at__gte"] = local_midnight("created_at__gte", values["from"], zone)
    if "to" in values:
        query["created_at__lt"] = local_midnight("created_at__lt", values["to"], zone, days=1)
    for name, api_name in (("min_amount", "amount__gte"), ("max_amount", "amount__lte")):
        if name in values:
            query[api_name] = values[name].replace(",", "").removeprefix("$")
    for name in ("type", "status"):
        if name in values:
            query[name] = values[name]
    return query


def wanted(visitor: Visitor, values: dict[str, str], zone: str) -> HistoryFilter:
    return history_filter(api_query(values, zone), lambda: types(visitor))


def _table(request: Request, visitor: Visitor, values: dict[str, str], zone: str) -> Response:
    cursor = request.query_params.get("cursor") or None
    rows, next_cursor = visitor.services.history.page(
        account_id=visitor.account_id,
        wanted=wanted(visitor, values, zone),
        page=check_page(PAGE_SIZE, 0, cursor),
    )
    following = urlencode({**values, "cursor": next_cursor}) if next_cursor else None
    return _render(
        request, visitor, values, zone, rows=rows, following=following, paged=cursor is not None
    )


def _render(
    request: Request,
    visitor: Visitor,
    values: dict[str, str],
    zone: str,
    status: int = 200,
    **context: Any,
) -> Response:
    return page(
        request,
        "transactions.html",
        status,
        nav="transactions",
        values=values,
        zone=zone,
        types=types(visitor),
        statuses=STATUSES,
        csv_query=urlencode(values),
        **context,
    )


@router.get("/transactions")
def transactions(request: Request, visitor: CustomerVisitor) -> Response:
    values = given(request.query_params, FIELDS)
    zone = visitor_zone(visitor)

    def failed(error: CreditbookError) -> Response:
        return _render(request, visitor, values, zone, error.status_code, error=describe(error))

    return attempt(lambda: _table(request, visitor, values, zone), failed)


@router.get("/transactions.csv")
def transactions_csv(request: Request, visitor: CustomerVisitor) -> Response:
    values = given(request.query_params, FIELDS)
    zone = visitor_zone(visitor)

    def export() -> Response:
        chosen = wanted(visitor, values, zone)
        name = f"transactions-{visitor.account_id}.csv"
        return StreamingResponse(
            visitor.services.history.csv(account_id=visitor.account_id, wanted=chosen),
            media_type="text/csv; charset=utf-8",
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": f'attachment; filename="{name}"',
            },
        )

    def failed(error: CreditbookError) -> Response:
        return _render(request, visitor, values, zone, error.status_code, error=describe(error))

    return attempt(export, failed)
