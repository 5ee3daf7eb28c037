"""The customer's overview (balance, limits, tier, alerts, expiring credit, forecast) and the
usage page (chart, tables, hints), from the same services as `/accounts/me/` and
`/accounts/usage/`."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from creditbook.api import render
from creditbook.api.routes.accounts import usage_window
from creditbook.clock import from_us
from creditbook.domain.usage import parse_zone
from creditbook.errors import CreditbookError
from creditbook.web import chart, figures
from creditbook.web.core import CustomerVisitor, Visitor, page
from creditbook.web.forms import attempt, describe, given

router = APIRouter(include_in_schema=False)
USAGE_FIELDS = ("period", "start_date", "end_date", "timezone")
PERIODS = ("day", "week", "month")


def _today(visitor: Visitor, zone_name: str) -> date:
    now = visitor.services.store.clock.now_us()
    return from_us(now).astimezone(parse_zone(zone_name)).date()


def _forecast(visitor: Visitor, balance_micros: int, zone: str) -> figures.Forecast:
    today = _today(visitor, zone)
    window = figures.FORECAST_WINDOW_DAYS
    report = visitor.services.usage.report(
        account_id=visitor.account_id,
        start=today - timedelta(days=window - 1),
        end=today + timedelta(days=1),
        timezone=zone,
    )
    return figures.forecast(balance_micros, report.total.total.spend_micros, today, window)


@router.get("/")
def overview(request: Request, visitor: CustomerVisitor) -> Response:
    services = visitor.services
    summary = services.accounts.summary(account_id=visitor.account_id)
    account = summary.account
    window_days = services.settings.credits_expiring_window_days
    now = services.store.clock.now_us()
    return page(
        request,
        "overview.html",
        nav="overview",
        summary=summary,
        account=account,
        multiplier=render.multiplier(summary.tier.multiplier_ppm),
        expiring=figures.expiring(summary.grants, now, window_days),
        expiring_days=window_days,
        forecast=_forecast(visitor, account.balance_micros, account.timezone),
        key=visitor.key,
    )


def _usage_page(request: Request, visitor: Visitor, values: dict[str, str]) -> Response:
    zone = parse_zone(values.get("timezone", visitor_zone(visitor)))
    start, end, label = usage_window(values, _today(visitor, zone.key))
    report = visitor.services.usage.report(
        account_id=visitor.account_id,
        start=start,
        end=end,
        timezone=zone.key,
        period=values.get("period", "day"),
    )
    book = visitor.services.prices.book()
    now = visitor.services.store.clock.now_us()
    return _render_usage(
        request,
        values,
        report=report,
        label=label,
        last_day=end - timedelta(days=1),
        chart=chart.build(report.series, report.period.value),
        operations=figures.operation_rows(report.total.breakdown),
        hints=figures.realtime_hints(report.total.breakdown, book, now),
    )


def visitor_zone(visitor: Visitor) -> str:
    return visitor.services.accounts.get(account_id=visitor.account_id).timezone


def _render_usage(
    request: Request, values: dict[str, str], status: int = 200, **context: Any
) -> Response:
    return page(
        request,
        "usage.html",
        status,
        nav="usage",
        values=values,
        periods=PERIODS,
        zones=zone_names(),
        **context,
    )


@router.get("/usage")
def usage(request: Request, visitor: CustomerVisitor) -> Response:
    values = given(request.query_params, USAGE_FIELDS)

    def failed(error: CreditbookError) -> Response:
        return _render_usage(request, values, error.status_code, error=describe(error))

    return attempt(lambda: _usage_page(request, visitor, values), failed)


_ZONES: list[str] = []


def zone_names() -> list[str]:
    if not _ZONES:
        import zoneinfo  # noqa: PLC0415 - read once, on the first usage page

        _ZONES.extend(sorted(zoneinfo.available_timezones()))
    return _ZONES
