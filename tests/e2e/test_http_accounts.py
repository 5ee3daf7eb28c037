"""The Generect-compatible account endpoints over real HTTP: response shapes field for field
against the published reference, every reference parameter and its documented effect, and
creditbook's additive extras (series, cursor paging, `type`), on SQLite and PostgreSQL."""

from __future__ import annotations

import calendar
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.api import (
    BOOLEAN,
    DATE_TIME,
    INTEGER,
    NUMBER,
    STRING,
    Api,
    Customer,
    array,
    decoded,
    eventually,
    instant,
    mapping,
    nullable,
    obj,
    shape_problems,
    usd,
)

# The response schemas of generect-accounts-openapi.yaml, written down field for field.
REFERENCE_ME = obj(
    data=obj(
        id=STRING,
        email=STRING,
        name=STRING,
        plan=STRING,
        credits=obj(balance=NUMBER, used_this_month=NUMBER, monthly_limit=NUMBER),
        preview_tier=BOOLEAN,
    )
)
REFERENCE_USAGE = obj(data=obj(period=STRING, total_credits=NUMBER, breakdown=mapping(NUMBER)))
REFERENCE_TRANSACTIONS = obj(
    data=obj(
        transactions=array(
            obj(
                id=STRING,
                timestamp=DATE_TIME,
                type=STRING,
                credits=NUMBER,
                details=obj(balance_type=STRING, status=STRING),
            )
        )
    )
)
REFERENCE_TOKEN_ANALYTICS = obj(
    data=obj(
        period=obj(start=STRING, end=STRING),
        total_requests=INTEGER,
        tokens=array(
            obj(
                token=STRING,
                name=nullable(STRING),
                client_id=nullable(STRING),
                is_active=BOOLEAN,
                created_at=nullable(STRING),
                total_requests=INTEGER,
                by_endpoint=mapping(INTEGER),
                by_status=mapping(INTEGER),
            )
        ),
    )
)

SEARCH_DATABASE_PRICE = Decimal("0.02")  # USD per result, creditbook's default price book


def utc_day(transaction: dict[str, Any]) -> date:
    return instant(transaction["timestamp"]).astimezone(UTC).date()


def usage(api: Api, who: Customer, **params: str) -> dict[str, Any]:
    response = api.get(who, "/api/v1/accounts/usage/", **params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = decoded(response)["data"]
    return data


def ledger_of_four(api: Api) -> tuple[Customer, dict[str, Any]]:
    """An account with a 10 USD top-up then charges of 0.02, 0.4 and 2 USD, in that order.

    Balances after: 10, 9.98, 9.58, 7.58."""
    who = api.customer(balance="10")
    top_up = api.transactions(who)[0]
    small = api.charged(who, units=1)
    medium = api.charged(who, units=20)
    large = api.charged(who, units=100)
    return who, {"top_up": top_up, "small": small, "medium": medium, "large": large}


# Shapes


def test_the_profile_has_every_field_of_the_reference_with_its_json_type(api: Api) -> None:
    who = api.customer(balance="5000", monthly_limit="10000")
    api.charged(who, units=3)
    body = decoded(api.get(who, "/api/v1/accounts/me/"))
    assert shape_problems(body, REFERENCE_ME) == []
    data = body["data"]
    assert data["id"] == who.account_id and data["email"] == who.email
    assert usd(data["credits"]["balance"]) == Decimal("4999.94")
    assert usd(data["credits"]["used_this_month"]) == Decimal("0.06")
    assert usd(data["credits"]["monthly_limit"]) == Decimal(10000)
    assert data["preview_tier"] is False


def test_usage_has_every_field_of_the_reference_with_its_json_type(api: Api) -> None:
    who = api.customer()
    api.charged(who, "search_database", 5)
    api.charged(who, "email_validate", 3)
    body = decoded(api.get(who, "/api/v1/accounts/usage/"))
    assert shape_problems(body, REFERENCE_USAGE) == []
    data = body["data"]
    assert usd(data["total_credits"]) == Decimal("0.115")
    assert {k: usd(v) for k, v in data["breakdown"].items()} == {
        "search_database": Decimal("0.1"),
        "email_validate": Decimal("0.015"),
    }


def test_transactions_have_every_field_of_the_reference_with_its_json_type(api: Api) -> None:
    who = api.customer(balance="10")
    api.charged(who, units=2)
    body = decoded(api.get(who, "/api/v1/accounts/transactions/"))
    assert shape_problems(body, REFERENCE_TRANSACTIONS) == []
    charge, top_up = body["data"]["transactions"]
    assert charge["type"] == "search_database" and usd(charge["credits"]) == Decimal("-0.04")
    assert charge["details"] == {**charge["details"], "balance_type": "usage", "status": "success"}
    assert top_up["type"] == "top_up" and usd(top_up["credits"]) == Decimal(10)
    assert top_up["details"]["balance_type"] == "purchase"


def test_token_analytics_has_every_field_of_the_reference_with_its_json_type(api: Api) -> None:
    who = api.customer(name="Acme Corp", client_id="acme-corp")
    unnamed = api.create_key(who.account_id)  # no name, no client id: both null
    api.charged(who)
    body = decoded(api.get(unnamed, "/api/v1/accounts/tokens/analytics/"))
    assert shape_problems(body, REFERENCE_TOKEN_ANALYTICS) == []
    tokens = body["data"]["tokens"]
    assert [t["id"] for t in tokens] == [unnamed.id, who.key.id]  # newest token first
    assert tokens[0]["name"] is None and tokens[0]["client_id"] is None
    assert tokens[1]["name"] == "Acme Corp" and tokens[1]["client_id"] == "acme-corp"


# Usage: timezone, period, start_date, end_date, period_month


def test_usage_without_parameters_is_the_current_utc_month_by_day(api: Api) -> None:
    who = api.customer()
    charge = api.charged(who, units=7)
    today = utc_day(charge)
    data = usage(api, who)
    days = calendar.monthrange(today.year, today.month)[1]
    assert data["period"] == today.strftime("%Y-%m")
    assert data["timezone"] == "UTC" and data["granularity"] == "day"
    assert data["start_date"] == today.replace(day=1).isoformat()
    assert data["end_date"] == today.replace(day=days).isoformat()
    assert len(data["series"]) == days
    assert usd(data["total_credits"]) == Decimal("0.14")
    assert data["total_units"] == 7 and data["total_requests"] == 1
    [bucket] = [b for b in data["series"] if b["start"] == today.isoformat()]
    assert usd(bucket["total_credits"]) == Decimal("0.14")
    assert sum(usd(b["total_credits"]) for b in data["series"]) == Decimal("0.14")


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("day", [(f"2026-05-{d:02d}", f"2026-05-{d:02d}") for d in range(1, 32)]),
        (
            "week",  # weeks start on Monday; the first and last are clipped to the month
            [
                ("2026-05-01", "2026-05-03"),
                ("2026-05-04", "2026-05-10"),
                ("2026-05-11", "2026-05-17"),
                ("2026-05-18", "2026-05-24"),
                ("2026-05-25", "2026-05-31"),
            ],
        ),
        ("month", [("2026-05-01", "2026-05-31")]),
    ],
)
def test_usage_period_sets_the_granularity_of_the_series(
    api: Api, period: str, expected: list[tuple[str, str]]
) -> None:
    who = api.customer()
    data = usage(api, who, period=period, period_month="2026-05")
    assert data["granularity"] == period
    assert [(b["start"], b["end"]) for b in data["series"]] == expected
    assert all(usd(b["total_credits"]) == 0 for b in data["series"])


def test_usage_period_month_reports_that_month_under_its_label(api: Api) -> None:
    who = api.customer()
    today = utc_day(api.charged(who, units=2))
    this_month = today.strftime("%Y-%m")
    last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")

    current = usage(api, who, period_month=this_month)
    assert current["period"] == this_month
    assert current["start_date"] == today.replace(day=1).isoformat()
    assert usd(current["total_credits"]) == Decimal("0.04")

    previous = usage(api, who, period_month=last_month)
    assert previous["period"] == last_month
    assert previous["start_date"] == f"{last_month}-01"
    assert usd(previous["total_credits"]) == 0 and previous["breakdown"] == {}


def test_usage_start_and_end_dates_bound_the_report_inclusively(api: Api) -> None:
    who = api.customer()
    today = utc_day(api.charged(who, units=3))
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)

    only_today = usage(api, who, start_date=today.isoformat(), end_date=today.isoformat())
    assert only_today["period"] == f"{today.isoformat()}..{today.isoformat()}"
    assert (only_today["start_date"], only_today["end_date"]) == (today.isoformat(),) * 2
    assert usd(only_today["total_credits"]) == Decimal("0.06")
    assert len(only_today["series"]) == 1

    before = usage(api, who, start_date=yesterday.isoformat(), end_date=yesterday.isoformat())
    assert usd(before["total_credits"]) == 0
    after = usage(api, who, start_date=tomorrow.isoformat(), end_date=tomorrow.isoformat())
    assert usd(after["total_credits"]) == 0

    first = today.replace(day=1)
    last = today.replace(day=calendar.monthrange(today.year, today.month)[1])
    whole = usage(api, who, start_date=first.isoformat(), end_date=last.isoformat())
    assert whole["period"] == today.strftime("%Y-%m")  # a whole month is labelled as one
    assert usd(whole["total_credits"]) == Decimal("0.06")


def test_usage_timezone_decides_on_which_local_day_a_charge_falls(api: Api) -> None:
    who = api.customer()
    moment = instant(api.charged(who, units=4)["timestamp"])
    # UTC+14 and UTC-12 are 26 hours apart: one moment is never the same date in both.
    east, west = "Pacific/Kiritimati", "Etc/GMT+12"
    east_day = moment.astimezone(ZoneInfo(east)).date().isoformat()
    west_day = moment.astimezone(ZoneInfo(west)).date().isoformat()
    assert east_day != west_day

    seen_east = usage(api, who, timezone=east, start_date=east_day, end_date=east_day)
    assert seen_east["timezone"] == east
    assert usd(seen_east["total_credits"]) == Decimal("0.08")
    unseen = usage(api, who, timezone=west, start_date=east_day, end_date=east_day)
    assert unseen["timezone"] == west
    assert usd(unseen["total_credits"]) == 0
    seen_west = usage(api, who, timezone=west, start_date=west_day, end_date=west_day)
    assert usd(seen_west["total_credits"]) == Decimal("0.08")


# Transactions: limit, offset, created_at__*, status, amount__* / credits__*, after_balance__*


def test_limit_and_offset_page_through_the_history_newest_first(api: Api) -> None:
    who, rows = ledger_of_four(api)
    newest_first = [rows[k]["id"] for k in ("large", "medium", "small", "top_up")]
    assert api.transaction_ids(who) == newest_first

    first = decoded(api.get(who, "/api/v1/accounts/transactions/", limit="2"))["data"]
    assert [t["id"] for t in first["transactions"]] == newest_first[:2]
    assert (first["limit"], first["offset"]) == (2, 0)
    assert first["next_cursor"] is not None
    assert api.transaction_ids(who, limit="2", offset="1") == newest_first[1:3]
    assert api.transaction_ids(who, offset="3") == newest_first[3:]
    last = decoded(api.get(who, "/api/v1/accounts/transactions/", limit="2", offset="2"))["data"]
    assert [t["id"] for t in last["transactions"]] == newest_first[2:]
    assert last["next_cursor"] is None
    assert api.transaction_ids(who, offset="4") == []


def test_created_at_bounds_include_or_exclude_the_boundary_itself(api: Api) -> None:
    who, rows = ledger_of_four(api)
    boundary = rows["medium"]["timestamp"]
    large, medium, small, top_up = (rows[k]["id"] for k in ("large", "medium", "small", "top_up"))
    assert api.transaction_ids(who, created_at__gte=boundary) == [large, medium]
    assert api.transaction_ids(who, created_at__gt=boundary) == [large]
    assert api.transaction_ids(who, created_at__lte=boundary) == [medium, small, top_up]
    assert api.transaction_ids(who, created_at__lt=boundary) == [small, top_up]
    window = {"created_at__gt": rows["small"]["timestamp"], "created_at__lt": boundary}
    assert api.transaction_ids(who, **window) == []
    # A time with an explicit offset is the same instant as its UTC spelling.
    kyiv = instant(boundary).astimezone(ZoneInfo("Europe/Kyiv")).isoformat()
    assert api.transaction_ids(who, created_at__gte=kyiv) == [large, medium]


def test_a_bare_date_in_created_at_bounds_means_midnight_utc(api: Api) -> None:
    who, rows = ledger_of_four(api)
    today = utc_day(rows["large"])
    tomorrow = today + timedelta(days=1)
    assert api.transaction_ids(who, created_at__lte=today.isoformat()) == []
    assert len(api.transaction_ids(who, created_at__lte=tomorrow.isoformat())) == 4
    assert len(api.transaction_ids(who, created_at__gte=today.isoformat())) == 4


def test_status_filter_tells_pending_success_and_error_apart(api: Api) -> None:
    who = api.customer(balance="10")
    charge = api.charged(who)
    held = api.post(who, "/api/v1/reservations/", {"operation": "search_database", "units": 5})
    assert held.status_code == 201, held.text
    cancelled = api.post(who, "/api/v1/reservations/", {"operation": "email_find", "units": 1})
    cancelled_id = decoded(cancelled)["data"]["id"]
    assert api.post(who, f"/api/v1/reservations/{cancelled_id}/cancel/").status_code == 200

    pending = api.transactions(who, status="pending")
    assert [t["id"] for t in pending] == [decoded(held)["data"]["id"]]
    assert pending[0]["details"]["status"] == "pending"
    errors = api.transactions(who, status="error")
    assert [t["id"] for t in errors] == [cancelled_id]
    success = api.transaction_ids(who, status="success")
    assert charge["id"] in success and len(success) == 2  # the charge and the top-up


def test_amount_and_credits_are_one_filter_under_two_names(api: Api) -> None:
    who, rows = ledger_of_four(api)
    large, medium, small, top_up = (rows[k]["id"] for k in ("large", "medium", "small", "top_up"))
    # "Charges are negative, so amount__lte=-0.4 finds everything that cost 0.4 or more."
    assert api.transaction_ids(who, amount__lte="-0.4") == [large, medium]
    assert api.transaction_ids(who, credits__lte="-0.4") == [large, medium]
    assert api.transaction_ids(who, amount__lt="-0.4") == [large]
    assert api.transaction_ids(who, credits__lt="-0.4") == [large]
    assert api.transaction_ids(who, amount__gte="0") == [top_up]  # only top-ups
    assert api.transaction_ids(who, credits__gte="0") == [top_up]
    assert api.transaction_ids(who, amount__gt="-0.4") == [small, top_up]
    assert api.transaction_ids(who, credits__gt="-0.4") == [small, top_up]
    band = {"amount__gte": "-0.4", "credits__lte": "-0.02"}  # the aliases mix
    assert api.transaction_ids(who, **band) == [medium, small]


def test_after_balance_bounds_find_where_the_balance_ran_low(api: Api) -> None:
    who, rows = ledger_of_four(api)
    large, medium, small, top_up = (rows[k]["id"] for k in ("large", "medium", "small", "top_up"))
    assert api.transaction_ids(who, after_balance__lte="9.58") == [large, medium]
    assert api.transaction_ids(who, after_balance__lt="9.58") == [large]
    assert api.transaction_ids(who, after_balance__gte="9.98") == [small, top_up]
    assert api.transaction_ids(who, after_balance__gt="9.98") == [top_up]
    assert api.transaction_ids(who, after_balance__gte="7.580001", after_balance__lte="9.58") == [
        medium
    ]


def test_filters_combine_with_and(api: Api) -> None:
    who, rows = ledger_of_four(api)
    both = {"type": "search_database", "after_balance__lte": "9.58", "amount__gte": "-1"}
    assert api.transaction_ids(who, **both) == [rows["medium"]["id"]]
    none = {"status": "success", "amount__gte": "0", "after_balance__lt": "10"}
    assert api.transaction_ids(who, **none) == []


def test_type_filter_returns_only_that_operation_or_movement(api: Api) -> None:
    who, rows = ledger_of_four(api)
    email = api.charged(who, "email_find", 1)
    assert api.transaction_ids(who, type="top_up") == [rows["top_up"]["id"]]
    assert api.transaction_ids(who, type="email_find") == [email["id"]]
    searches = api.transaction_ids(who, type="search_database")
    assert searches == [rows[k]["id"] for k in ("large", "medium", "small")]
    assert api.transaction_ids(who, type="phone_find") == []  # known, but none of them


def test_cursor_paging_walks_to_the_end_and_ignores_rows_added_meanwhile(api: Api) -> None:
    who = api.customer(balance="10")
    for units in range(1, 8):
        api.charged(who, units=units)
    before = api.transaction_ids(who)
    assert len(before) == 8

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "3"} if cursor is None else {"limit": "3", "cursor": cursor}
        page = decoded(api.get(who, "/api/v1/accounts/transactions/", **params))["data"]
        seen += [t["id"] for t in page["transactions"]]
        cursor = page["next_cursor"]
        pages += 1
        if cursor is None:
            break
        api.charged(who, "email_validate", 1)  # a newer row arrives between pages
        assert pages < 10, "the cursor never reached the end"
    assert pages == 3
    assert seen == before  # no row twice, none skipped, newest first
    assert len(api.transaction_ids(who)) == 10


def test_cursor_paging_is_stable_while_another_client_charges_concurrently(api: Api) -> None:
    who = api.customer(balance="10")
    batch = {"charges": [{"operation": "email_validate", "units": 1}] * 19}
    assert api.post(who, "/api/v1/charges/batch/", batch).status_code == 200
    before = api.transaction_ids(who)
    assert len(before) == 20
    added = [0]
    stop = threading.Event()

    def keep_charging() -> None:
        while not stop.is_set():
            api.charged(who, "email_validate", 1)
            added[0] += 1

    seen: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        charging = pool.submit(keep_charging)
        try:
            cursor: str | None = None
            for _ in range(20):
                params = {"limit": "2"} if cursor is None else {"limit": "2", "cursor": cursor}
                page = decoded(api.get(who, "/api/v1/accounts/transactions/", **params))["data"]
                seen += [t["id"] for t in page["transactions"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
                arrived = added[0]
                eventually(lambda: added[0], lambda n, a=arrived: n > a)  # one more, meanwhile
        finally:
            stop.set()
        charging.result()
    assert cursor is None, "the cursor never reached the end"
    assert added[0] >= 9  # rows really arrived between the pages
    assert len(set(seen)) == len(seen)  # no row twice
    newer, older = seen[: len(seen) - len(before)], seen[len(seen) - len(before) :]
    assert older == before  # every row that existed, once, newest first, none skipped
    assert all(txn > before[0] for txn in newer)  # only rows newer than the walk's start


def test_one_transaction_is_served_by_its_id(api: Api) -> None:
    who, rows = ledger_of_four(api)
    listed = {t["id"]: t for t in api.transactions(who)}
    for row in rows.values():
        response = api.get(who, f"/api/v1/accounts/transactions/{row['id']}/")
        assert response.status_code == 200
        assert decoded(response)["data"] == listed[row["id"]]


# Token analytics: client_id, token, start_date, end_date, timezone


def counted(api: Api, observer: Customer, key_id: str, requests: int) -> dict[str, Any]:
    """The analytics entry of `key_id`, once it shows `requests` requests (counts are written
    after each response is sent, so the last one may need a moment)."""

    def entry() -> dict[str, Any]:
        tokens = api.analytics(observer)["tokens"]
        found: dict[str, Any] = next(t for t in tokens if t["id"] == key_id)
        return found

    return eventually(entry, lambda e: e["total_requests"] >= requests)


def test_token_analytics_counts_each_keys_requests_by_endpoint_and_status(api: Api) -> None:
    who = api.customer(client_id="acme")
    observer = Customer(who.account_id, who.email, api.create_key(who.account_id, scope="read"))
    api.charged(who, units=3)
    assert api.charge(who, "no_such_operation", 1).status_code == 400
    api.me(who)
    api.me(who)

    entry = counted(api, observer, who.key.id, 4)
    assert entry["total_requests"] == 4
    assert entry["by_endpoint"] == {"/api/v1/charges/": 2, "/api/v1/accounts/me/": 2}
    assert entry["by_status"] == {"2xx": 3, "4xx": 1}
    assert usd(entry["total_credits"]) == Decimal("0.06")
    assert entry["is_active"] is True and entry["client_id"] == "acme"
    report = api.analytics(observer)
    assert report["total_requests"] == sum(t["total_requests"] for t in report["tokens"])


def test_token_analytics_client_id_and_token_restrict_the_report_to_one_key(api: Api) -> None:
    who = api.customer(client_id="acme")
    other = api.create_key(who.account_id, client_id="globex")
    api.charged(who)

    by_client = api.analytics(who, client_id="globex")["tokens"]
    assert [t["id"] for t in by_client] == [other.id]
    by_token = api.analytics(who, token=who.key.secret)["tokens"]
    assert [t["id"] for t in by_token] == [who.key.id]
    assert api.analytics(who, client_id="nobody")["tokens"] == []
    assert api.analytics(who, token="cb_not-a-key")["tokens"] == []
    both = api.analytics(who, client_id="acme", token=other.secret)
    assert both["tokens"] == [] and both["total_requests"] == 0


def test_token_analytics_dates_bound_the_window_and_a_bare_date_means_midnight(
    api: Api,
) -> None:
    who = api.customer()
    observer = Customer(who.account_id, who.email, api.create_key(who.account_id, scope="read"))
    today = utc_day(api.charged(who))
    counted(api, observer, who.key.id, 1)

    past = api.analytics(observer, start_date="2026-01-01", end_date="2026-01-31T23:59:59")
    assert past["period"] == {
        "start": "2026-01-01T00:00:00+00:00",
        "end": "2026-01-31T23:59:59+00:00",
    }
    assert past["total_requests"] == 0
    idle = {t["id"]: t for t in past["tokens"]}  # keys with no traffic are still listed
    assert idle[who.key.id]["total_requests"] == 0 and idle[who.key.id]["by_endpoint"] == {}

    yesterday = (today - timedelta(days=1)).isoformat()
    ended = api.analytics(observer, end_date=yesterday)
    assert ended["period"]["end"] == f"{yesterday}T00:00:00+00:00"
    assert {t["id"]: t["total_requests"] for t in ended["tokens"]}[who.key.id] == 0

    tomorrow = (today + timedelta(days=1)).isoformat()
    until_tomorrow = api.analytics(observer, start_date=today.isoformat(), end_date=tomorrow)
    entry = {t["id"]: t for t in until_tomorrow["tokens"]}[who.key.id]
    assert entry["total_requests"] == 1 and usd(entry["total_credits"]) == SEARCH_DATABASE_PRICE


def test_token_analytics_timezone_only_changes_how_the_period_is_written(api: Api) -> None:
    who = api.customer()
    api.charged(who)
    window = {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-01-02T00:00:00Z"}
    utc = api.analytics(who, **window)
    kyiv = api.analytics(who, timezone="Europe/Kyiv", **window)
    assert kyiv["period"] == {
        "start": "2026-01-01T02:00:00+02:00",
        "end": "2026-01-02T02:00:00+02:00",
    }
    assert instant(kyiv["period"]["start"]) == instant(utc["period"]["start"])
    assert instant(kyiv["period"]["end"]) == instant(utc["period"]["end"])
    assert kyiv["total_requests"] == utc["total_requests"]

    default_utc = api.analytics(who)
    default_kyiv = api.analytics(who, timezone="Europe/Kyiv")
    kyiv_end = instant(default_kyiv["period"]["end"])
    assert kyiv_end.utcoffset() == kyiv_end.astimezone(ZoneInfo("Europe/Kyiv")).utcoffset()
    drift = kyiv_end - instant(default_utc["period"]["end"])
    assert timedelta(0) <= drift < timedelta(minutes=1)  # the same "now", written in Kyiv


def test_token_analytics_covers_the_last_30_days_by_default(api: Api) -> None:
    who = api.customer()
    moment = instant(api.charged(who)["timestamp"])
    period = api.analytics(who)["period"]
    start, end = instant(period["start"]), instant(period["end"])
    assert end - start == timedelta(days=30)
    assert timedelta(0) <= end - moment < timedelta(minutes=1)


def test_token_analytics_lists_a_revoked_key_as_inactive_with_its_counts(api: Api) -> None:
    who = api.customer()
    spare = api.create_key(who.account_id)
    api.charged(Customer(who.account_id, who.email, spare))
    revoked = api.admin("DELETE", f"/accounts/{who.account_id}/keys/{spare.id}/")
    assert revoked.status_code == 200
    entry = counted(api, who, spare.id, 1)
    assert entry["is_active"] is False
    assert entry["by_endpoint"] == {"/api/v1/charges/": 1}


def test_token_analytics_does_not_count_requests_made_after_the_end_of_the_window(
    api: Api,
) -> None:
    who = api.customer()
    observer = Customer(who.account_id, who.email, api.create_key(who.account_id, scope="read"))
    charge = api.charged(who)  # its request is recorded after this moment
    moment = instant(charge["timestamp"])
    quarter = moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)
    counted(api, observer, who.key.id, 1)
    report = api.analytics(observer, end_date=quarter.isoformat())
    entry = {t["id"]: t for t in report["tokens"]}[who.key.id]
    assert entry["total_requests"] == 0


# Paths with and without the trailing slash


def comparable(body: Any) -> Any:
    """A body without the one field that moves between two identical reads (a key's
    `last_used_at` is stamped by the read itself)."""
    if isinstance(body, dict):
        return {k: comparable(v) for k, v in body.items() if k != "last_used_at"}
    if isinstance(body, list):
        return [comparable(v) for v in body]
    return body


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/accounts/me/", {}),
        ("/api/v1/accounts/usage/", {"period_month": "2026-05", "period": "week"}),
        ("/api/v1/accounts/transactions/", {"limit": "5"}),
        (
            "/api/v1/accounts/tokens/analytics/",
            {"start_date": "2026-01-01", "end_date": "2026-02-01"},
        ),
        ("/api/v1/accounts/keys/", {}),
        ("/api/v1/accounts/transactions/{txn}/", {}),
    ],
)
def test_account_paths_answer_the_same_with_and_without_the_trailing_slash(
    api: Api, path: str, params: dict[str, str]
) -> None:
    who = api.customer()
    txn = api.charged(who)["id"]
    slashed = path.format(txn=txn)
    with_slash = api.get(who, slashed, **params)
    without = api.get(who, slashed.rstrip("/"), **params)
    assert with_slash.status_code == without.status_code == 200
    assert "location" not in without.headers
    assert comparable(decoded(with_slash)) == comparable(decoded(without))


def test_metering_paths_work_without_the_trailing_slash_and_charge_once(api: Api) -> None:
    who = api.customer(balance="10")
    charge = api.post(who, "/api/v1/charges", {"operation": "search_database", "units": 1})
    assert charge.status_code == 201, charge.text
    batch = api.post(who, "/api/v1/charges/batch", {"charges": [{"operation": "preview"}]})
    assert batch.status_code == 200 and decoded(batch)["data"][0]["status"] == 400
    held = api.post(who, "/api/v1/reservations", {"operation": "search_database", "units": 5})
    assert held.status_code == 201, held.text
    rid = decoded(held)["data"]["id"]
    settled = api.post(who, f"/api/v1/reservations/{rid}/settle", {"units": 2})
    assert settled.status_code == 200, settled.text
    held = api.post(who, "/api/v1/reservations", {"operation": "search_database", "units": 5})
    cancel = api.post(who, f"/api/v1/reservations/{decoded(held)['data']['id']}/cancel")
    assert cancel.status_code == 200, cancel.text
    assert api.balance(who) == Decimal("9.94")  # 1 unit + 2 units, each charged once
    admin = api.admin("GET", f"/accounts/{who.account_id}")
    assert admin.status_code == 200 and decoded(admin)["data"]["id"] == who.account_id
