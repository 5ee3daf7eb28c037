"""Query strings read strictly: an unknown parameter, a repeated one, or a value we cannot read
is a 400 naming it. (Generect's reference drops such values silently; a finance report that
quietly ignores a filter is wrong, so creditbook refuses them.)"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.datastructures import QueryParams

from creditbook.clock import to_us
from creditbook.domain.history import STATUSES, Bounds, HistoryFilter
from creditbook.errors import InvalidInput
from creditbook.money import parse_usd

SIDES = ("gte", "gt", "lte", "lt")
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def single(params: QueryParams, allowed: Iterable[str]) -> dict[str, str]:
    """The parameters as a plain dict, refusing unknown or repeated ones."""
    known = set(allowed)
    values: dict[str, str] = {}
    for name, value in params.multi_items():
        if name not in known:
            listed = ", ".join(sorted(known))
            raise InvalidInput(name, f"Unknown parameter. Allowed: {listed}.")
        if name in values:
            raise InvalidInput(name, "Give this parameter once.")
        values[name] = value
    return values


def integer(values: Mapping[str, str], name: str, default: int) -> int:
    text = values.get(name)
    if text is None:
        return default
    if not _INTEGER.fullmatch(text):
        raise InvalidInput(name, "Must be a whole number.")
    return int(text)


def moment(name: str, text: str) -> int:
    """An ISO 8601 time (or a date, meaning its midnight); without an offset it is UTC."""
    value = text.strip()
    try:
        if len(value) == 10:
            parsed = datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            name, "Use an ISO 8601 date or time, e.g. 2026-05-01T00:00:00Z."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 1971 <= parsed.year <= 2999:
        raise InvalidInput(name, "Must be between 1971 and 2999.")
    return to_us(parsed)


def amount(name: str, text: str) -> int:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInput(name, "Must be a number of USD.") from None
    return parse_usd(value, field=name, allow_negative=True)


def bounds(values: Mapping[str, str], *names: str, parse: object) -> Bounds:
    """`<name>__gte` etc.; several names are aliases of one another (amount / credits)."""
    found: dict[str, int] = {}
    for side in SIDES:
        given = [
            (f"{n}__{side}", values[f"{n}__{side}"]) for n in names if f"{n}__{side}" in values
        ]
        if len(given) > 1:
            raise InvalidInput(given[1][0], f"Give only one of {', '.join(k for k, _ in given)}.")
        if given:
            key, text = given[0]
            found[side] = parse(key, text)  # type: ignore[operator]
    return Bounds(**found)


def history_names() -> list[str]:
    names = ["limit", "offset", "cursor", "format", "status", "type"]
    for base in ("created_at", "amount", "credits", "after_balance"):
        names += [f"{base}__{side}" for side in SIDES]
    return names


def history_filter(values: Mapping[str, str], types: Callable[[], Iterable[str]]) -> HistoryFilter:
    """The filter of a history query; `types` (the known transaction types, which takes a
    price book read) is only asked for when the query filters by type."""
    status = values.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidInput("status", f"Must be one of: {', '.join(STATUSES)}.")
    kind = values.get("type")
    if kind is not None:
        allowed = sorted(set(types()))
        if kind not in allowed:
            raise InvalidInput("type", f"Unknown type. Allowed: {', '.join(allowed)}.")
    return HistoryFilter(
        created=bounds(values, "created_at", parse=moment),
        credits=bounds(values, "amount", "credits", parse=amount),
        balance_after=bounds(values, "after_balance", parse=amount),
        status=status,
        type=kind,
    )


def documented_parameters(*specs: tuple[str, str, str]) -> dict[str, Any]:
    """`openapi_extra` declaring query parameters (name, JSON type, description) that a
    handler reads itself through `single()`."""
    return {
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": kind},
                "description": text,
            }
            for name, kind, text in specs
        ]
    }


def _sides(base: str, kind: str, what: str) -> list[tuple[str, str, str]]:
    words = {"gte": "at least", "gt": "more than", "lte": "at most", "lt": "less than"}
    return [(f"{base}__{side}", kind, f"{what} {words[side]} this.") for side in SIDES]


HISTORY_PARAMETERS = documented_parameters(
    ("limit", "integer", "Page size, 1-1000 (default 100)."),
    ("offset", "integer", "Rows to skip (or use cursor)."),
    ("cursor", "string", "next_cursor of the previous page."),
    ("format", "string", "json (default) or csv: the whole filtered history, oldest first."),
    ("status", "string", "pending, success or error."),
    ("type", "string", "An operation code, or top_up, grant, refund, expiration, adjustment."),
    *_sides("created_at", "string", "Created (ISO 8601; no offset means UTC)"),
    *_sides("amount", "number", "Credits (USD; charges are negative)"),
    *_sides("credits", "number", "Alias of amount:"),
    *_sides("after_balance", "number", "Balance after the transaction"),
)

USAGE_PARAMETERS = documented_parameters(
    ("timezone", "string", "IANA time zone of the dates and the series (default UTC)."),
    ("period", "string", "Series granularity: day (default), week or month."),
    ("start_date", "string", "First local date, YYYY-MM-DD."),
    ("end_date", "string", "Last local date (included), YYYY-MM-DD."),
    ("period_month", "string", "A month as YYYY-MM (instead of start/end)."),
)

ANALYTICS_PARAMETERS = documented_parameters(
    ("client_id", "string", "Only the key with this client id."),
    ("token", "string", "Only this exact key."),
    ("start_date", "string", "Window start (date or ISO time; default 30 days ago)."),
    ("end_date", "string", "Window end, included (a bare date is its midnight)."),
    ("timezone", "string", "IANA zone in which the period bounds are written."),
)

ACCOUNTS_PARAMETERS = documented_parameters(
    ("limit", "integer", "Page size, 1-1000 (default 100)."),
    ("after", "string", "List accounts after this id (next_after of the previous page)."),
)
