"""Reading the dashboard's forms and query strings into what the services take, and turning
the services' errors back into sentences a person can act on."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from starlette.datastructures import QueryParams
from starlette.responses import Response

from creditbook.api.routes.accounts import local_date
from creditbook.errors import CreditbookError, InvalidInput
from creditbook.money import parse_usd

LABELS = {
    "created_at__gte": "From",
    "created_at__lt": "To",
    "amount__gte": "Smallest amount",
    "amount__lte": "Largest amount",
    "start_date": "From",
    "end_date": "To",
    "timezone": "Time zone",
    "period_month": "Month",
    "csrf_token": "Form",
    "url": "URL",
}
_WHOLE = re.compile(r"[0-9]{1,9}")


def describe(error: CreditbookError) -> str:
    """`Field: what is wrong.` for bad input; the service's own sentence otherwise."""
    if isinstance(error.detail, str):
        return error.detail
    parts = []
    for field, messages in error.detail.items():
        label = LABELS.get(field, field.replace("_", " ").capitalize())
        parts.append(f"{label}: {' '.join(messages)}")
    return " ".join(parts)


def attempt(
    action: Callable[[], Response], fail: Callable[[CreditbookError], Response]
) -> Response:
    """The action's page, or the failure's page when a service refuses."""
    try:
        return action()
    except CreditbookError as error:
        return fail(error)


def given(params: QueryParams | Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """The named fields that were filled in (a GET form also sends the empty ones)."""
    found = {name: params.get(name) or "" for name in names}
    return {name: value.strip() for name, value in found.items() if value.strip()}


def whole(fields: Mapping[str, str], name: str) -> int | None:
    text = fields.get(name, "").strip()
    if not text:
        return None
    if not _WHOLE.fullmatch(text):
        raise InvalidInput(name, "Must be a whole number, e.g. 7.")
    return int(text)


def usd(fields: Mapping[str, str], name: str) -> int | None:
    text = fields.get(name, "").strip().replace(",", "").removeprefix("$")
    return None if not text else parse_usd(text, field=name)


def local_midnight(name: str, text: str, zone: ZoneInfo, *, days: int = 0) -> str:
    """ISO 8601 of the local midnight beginning the date `text` (plus `days`) in `zone`."""
    day: date = local_date(name, text) + timedelta(days=days)
    return datetime.combine(day, time(0), tzinfo=zone).isoformat()
