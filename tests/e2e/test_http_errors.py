"""Every error path over real HTTP answers the envelope
`{"status": "error", "status_code": N, "detail": ...}` with an X-Request-Id, and bad input is
a 4xx naming the problem, never a 500."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.api import Api, assert_error, decoded

SPEND = {"operation": "search_database", "units": 1}
CHARGES = "/api/v1/charges/"
TRANSACTIONS = "/api/v1/accounts/transactions/"
USAGE = "/api/v1/accounts/usage/"
ANALYTICS = "/api/v1/accounts/tokens/analytics/"


# The envelope for each status


@pytest.mark.parametrize(
    "path",
    ["/nope", "/api/v1/", "/api/v1/accounts/", "/api/v1/accounts/me/extra/", "/api/v2/me/"],
)
def test_an_unknown_path_is_a_404_envelope_with_or_without_credentials(api: Api, path: str) -> None:
    who = api.customer(balance=None)
    assert_error(api.client.get(path), 404, "Not found.")
    assert_error(api.client.get(path, headers=who.headers), 404, "Not found.")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/v1/accounts/me/"),
        ("POST", "/api/v1/accounts/me"),
        ("PUT", "/api/v1/accounts/usage/"),
        ("POST", "/api/v1/accounts/transactions/"),
        ("GET", "/api/v1/charges/"),
        ("PATCH", "/api/v1/charges"),
        ("GET", "/api/v1/reservations/"),
        ("DELETE", "/api/v1/admin/accounts/"),
    ],
)
def test_a_wrong_method_is_a_405_envelope(api: Api, method: str, path: str) -> None:
    who = api.customer(balance=None)
    response = api.send(method, path, headers=who.headers)
    assert_error(response, 405, "Method not allowed.")


def test_a_validation_error_is_a_400_envelope_with_a_map_of_fields_to_messages(api: Api) -> None:
    who = api.customer()
    detail = assert_error(api.post(who, CHARGES, {}), 400)
    assert set(detail) == {"operation", "units"}
    assert all(isinstance(m, list) and m for m in detail.values())


def test_an_insufficient_balance_is_a_402_envelope_with_the_reference_wording(api: Api) -> None:
    who = api.customer(balance="0.01")
    assert_error(api.post(who, CHARGES, SPEND), 402, "Insufficient funds in the account.")
    broke = api.customer(balance=None)
    assert_error(api.post(broke, CHARGES, SPEND), 402, "Insufficient funds in the account.")
    assert api.balance(who) == Decimal("0.01")
    assert api.transactions(broke) == []


def test_a_forbidden_action_is_a_403_envelope(api: Api) -> None:
    who = api.customer()
    reader = api.create_key(who.account_id, scope="read")
    assert_error(api.post(reader, CHARGES, SPEND), 403)


def test_a_reused_idempotency_key_with_other_parameters_is_a_409_envelope(api: Api) -> None:
    who = api.customer()
    assert api.post(who, CHARGES, {**SPEND, "idempotency_key": "x"}).status_code == 201
    reused = api.post(who, CHARGES, {**SPEND, "operation": "email_find", "idempotency_key": "x"})
    assert_error(reused, 409, "This idempotency key was already used with different parameters.")


def test_the_monthly_limit_is_a_429_envelope_and_charges_nothing(api: Api) -> None:
    who = api.customer(balance="10", monthly_limit="0.05")
    assert api.me(who)["credits"]["monthly_limit"] == Decimal("0.05")
    assert api.post(who, CHARGES, {**SPEND, "units": 2}).status_code == 201  # 0.04 of 0.05
    assert_error(api.post(who, CHARGES, SPEND), 429, "Monthly spending limit reached.")
    held = api.post(who, "/api/v1/reservations/", {**SPEND, "units": 2})
    assert_error(held, 429, "Monthly spending limit reached.")
    assert api.balance(who) == Decimal("9.96")
    assert api.post(who, CHARGES, {**SPEND, "operation": "email_validate"}).status_code == 201


def test_an_error_echoes_the_callers_request_id_or_makes_one(api: Api) -> None:
    who = api.customer(balance=None)
    mine = {"X-Request-Id": "trace-0042"}
    refused = api.post(who, CHARGES, SPEND, headers=mine)
    assert_error(refused, 402)
    assert refused.headers["x-request-id"] == "trace-0042"
    missing = api.client.get("/nope", headers=mine)
    assert missing.headers["x-request-id"] == "trace-0042"
    made = [api.client.get("/nope").headers["x-request-id"] for _ in range(2)]
    assert made[0] != made[1]
    weird = api.client.get("/nope", headers={"X-Request-Id": "x" * 500})
    assert weird.headers["x-request-id"] != "x" * 500  # too long: replaced, not echoed


# Bad input: a 4xx naming the problem


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{bad", "body"),
        (b'{"operation": "search_database", "units": NaN}', "body"),
        (b'{"operation": "search_database", "units": Infinity}', "body"),
        (b"", "body"),
        (b"[1, 2]", "body"),
        (b'"search_database"', "body"),
        (b"\xff\xfe", "body"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400_naming_the_body(
    api: Api, raw: bytes, field: str
) -> None:
    who = api.customer()
    headers = {**who.headers, "Content-Type": "application/json"}
    response = api.client.post(CHARGES, headers=headers, content=raw)
    assert_error(response, 400, field=field)
    assert api.balance(who) == Decimal(100)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"operation": "search_database", "units": "5"}, "units"),
        ({"operation": "search_database", "units": True}, "units"),
        ({"operation": "search_database", "units": Decimal("2.5")}, "units"),
        ({"operation": "search_database", "units": Decimal("3.0")}, "units"),
        ({"operation": "search_database", "units": None}, "units"),
        ({"operation": "search_database", "units": 0}, "units"),
        ({"operation": "search_database", "units": -1}, "units"),
        ({"operation": "search_database", "units": 1_000_001}, "units"),
        ({"operation": "search_database", "units": 10**30}, "units"),
        ({"operation": "no_such_operation", "units": 1}, "operation"),
        ({"operation": "Search_Database", "units": 1}, "operation"),
        ({"operation": "", "units": 1}, "operation"),
        ({"operation": 7, "units": 1}, "operation"),
        ({"units": 1}, "operation"),
        ({"operation": "search_database", "units": 1, "price": 0}, "price"),
        ({"operation": "search_database", "units": 1, "idempotency_key": "a b"}, "idempotency_key"),
        (
            {"operation": "search_database", "units": 1, "idempotency_key": "k" * 256},
            "idempotency_key",
        ),
        ({"operation": "search_database", "units": 1, "request_id": "r\tid"}, "request_id"),
        ({"operation": "search_database", "units": 1, "details": [1]}, "details"),
        ({"operation": "search_database", "units": 1, "details": {"a": "x" * 5000}}, "details"),
    ],
)
def test_a_charge_with_a_bad_field_is_a_400_naming_it_and_charges_nothing(
    api: Api, body: dict[str, Any], field: str
) -> None:
    who = api.customer()
    assert_error(api.post(who, CHARGES, body), 400, field=field)
    assert api.balance(who) == Decimal(100)


def test_a_reservation_with_a_bad_ttl_is_a_400_naming_it(api: Api) -> None:
    who = api.customer()
    for ttl in (0, -5, 7 * 24 * 3600 + 1, "60", Decimal("1.5")):
        response = api.post(who, "/api/v1/reservations/", {**SPEND, "ttl_s": ttl})
        assert_error(response, 400, field="ttl_s")
    assert api.me(who)["credits"]["reserved"] == 0


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (Decimal("0.0000001"), "At most 6 decimals (one micro-USD) are allowed."),
        ("12.3456789", "At most 6 decimals (one micro-USD) are allowed."),
        (Decimal("1000000000.000001"), "Must be at most 1000000000 USD."),
        (Decimal("1E+400"), "Must be at most 1000000000 USD."),
        (10**50, "Must be at most 1000000000 USD."),
        (-5, "Must not be negative."),
        (0, "Must be above zero."),
        ("abc", None),
        (True, None),
        (None, None),
        ("NaN", None),
        ("Infinity", None),
    ],
)
def test_an_admin_grant_with_a_bad_amount_is_a_400_naming_amount(
    api: Api, amount: Any, message: str | None
) -> None:
    who = api.customer(balance=None)
    response = api.admin("POST", f"/accounts/{who.account_id}/grants/", {"amount": amount})
    detail = assert_error(response, 400, field="amount")
    if message is not None:
        assert detail == {"amount": [message]}
    assert api.balance(who) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"monthly_limit": Decimal("1.1234567")}, "monthly_limit"),
        ({"monthly_limit": Decimal("1E+30")}, "monthly_limit"),
        ({"monthly_limit": -1}, "monthly_limit"),
        ({"overdraft_limit": Decimal("0.0000001")}, "overdraft_limit"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"email": "not-an-email"}, "email"),
        ({"plan": ""}, "plan"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_an_admin_account_with_a_bad_field_is_a_400_naming_it(
    api: Api, body: dict[str, Any], field: str
) -> None:
    response = api.admin("POST", "/accounts/", {"email": "ok@example.com", **body})
    assert_error(response, 400, field=field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 5, "expires_at": "soon"}, "expires_at"),
        ({"amount": 5, "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"amount": 5, "effective_at": "2026-02-30"}, "effective_at"),
        ({"amount": 5, "kind": "free"}, "kind"),
        ({"amount": 5, "priority": Decimal("2.5")}, "priority"),
    ],
)
def test_an_admin_grant_with_a_bad_date_or_kind_is_a_400_naming_it(
    api: Api, body: dict[str, Any], field: str
) -> None:
    who = api.customer(balance=None)
    response = api.admin("POST", f"/accounts/{who.account_id}/grants/", body)
    assert_error(response, 400, field=field)
    assert api.balance(who) == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "99999999999999999999"}, "offset"),
        ({"status": "done"}, "status"),
        ({"status": ""}, "status"),
        ({"type": "foo"}, "type"),
        ({"format": "xml"}, "format"),
        ({"format": "csv", "limit": "5"}, "format"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": ""}, "cursor"),
        ({"cursor": "djE6", "limit": "5"}, "cursor"),
        ({"cursor": "djE6eA", "offset": "1"}, "cursor"),
        ({"created_at__gte": "yesterday"}, "created_at__gte"),
        ({"created_at__lt": "2026-02-30"}, "created_at__lt"),
        ({"created_at__lte": "1969-12-31T23:59:59Z"}, "created_at__lte"),
        ({"created_at__gt": "2026-05-01T25:00:00Z"}, "created_at__gt"),
        ({"amount__lte": "ten"}, "amount__lte"),
        ({"amount__gte": "NaN"}, "amount__gte"),
        ({"credits__lt": "0.0000001"}, "credits__lt"),
        ({"amount__lte": "-1", "credits__lte": "-2"}, "credits__lte"),
        ({"after_balance__gte": "1e30"}, "after_balance__gte"),
        ({"after_balance__lt": "Infinity"}, "after_balance__lt"),
        ({"page": "2"}, "page"),
        ({"amount__eq": "1"}, "amount__eq"),
        ({"created_at": "2026-05-01"}, "created_at"),
    ],
)
def test_a_transactions_query_with_a_bad_parameter_is_a_400_naming_it(
    api: Api, params: dict[str, str], field: str
) -> None:
    who = api.customer()
    assert_error(api.get(who, TRANSACTIONS, **params), 400, field=field)


def test_a_repeated_query_parameter_is_a_400_naming_it(api: Api) -> None:
    who = api.customer()
    response = api.client.get(f"{TRANSACTIONS}?limit=1&limit=2", headers=who.headers)
    assert_error(response, 400, {"limit": ["Give this parameter once."]})


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": "America"}, "timezone"),
        ({"period": "year"}, "period"),
        ({"start_date": "2026-13-01"}, "start_date"),
        ({"start_date": "2026-05-01T00:00:00"}, "start_date"),
        ({"end_date": "31/05/2026"}, "end_date"),
        ({"start_date": "2026-05-31", "end_date": "2026-05-01"}, "end_date"),
        ({"start_date": "1900-01-01", "end_date": "1900-01-31"}, "start_date"),
        ({"start_date": "2000-01-01", "end_date": "2026-01-01"}, "end_date"),
        ({"period_month": "2026-13"}, "period_month"),
        ({"period_month": "May"}, "period_month"),
        ({"period_month": "2026-05", "start_date": "2026-05-01"}, "period_month"),
        ({"month": "2026-05"}, "month"),
    ],
)
def test_a_usage_query_with_a_bad_parameter_is_a_400_naming_it(
    api: Api, params: dict[str, str], field: str
) -> None:
    who = api.customer()
    assert_error(api.get(who, USAGE, **params), 400, field=field)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"timezone": "Nowhere/Special"}, "timezone"),
        ({"start_date": "last week"}, "start_date"),
        ({"end_date": "2026-05-32"}, "end_date"),
        ({"start_date": "0001-01-01"}, "start_date"),
        ({"start_date": "2026-06-01", "end_date": "2026-05-01"}, "end_date"),
        ({"key": "abc"}, "key"),
    ],
)
def test_a_token_analytics_query_with_a_bad_parameter_is_a_400_naming_it(
    api: Api, params: dict[str, str], field: str
) -> None:
    who = api.customer()
    assert_error(api.get(who, ANALYTICS, **params), 400, field=field)


@pytest.mark.parametrize("path", ["/api/v1/accounts/me/", "/api/v1/accounts/keys/", CHARGES])
def test_endpoints_without_parameters_refuse_any_query_parameter(api: Api, path: str) -> None:
    who = api.customer()
    if path == CHARGES:
        response = api.client.post(f"{path}?dry_run=1", headers=who.headers, json=SPEND)
    else:
        response = api.client.get(f"{path}?dry_run=1", headers=who.headers)
    assert_error(response, 400, field="dry_run")
    assert api.balance(who) == Decimal(100)


def test_a_batch_of_more_than_ten_thousand_charges_is_refused_whole(api: Api) -> None:
    who = api.customer()
    too_many = {"charges": [SPEND] * 10_001}
    assert_error(api.post(who, "/api/v1/charges/batch/", too_many), 400, field="charges")
    assert_error(api.post(who, "/api/v1/charges/batch/", {"charges": "all"}), 400, field="charges")
    assert api.balance(who) == Decimal(100)


def test_a_deeply_nested_body_is_a_400_not_a_crash(api: Api) -> None:
    who = api.customer()
    nested = b'{"operation": "search_database", "units": 1, "details": '
    nested += b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}"
    headers = {**who.headers, "Content-Type": "application/json"}
    response = api.client.post(CHARGES, headers=headers, content=nested)
    assert_error(response, 400)
    assert_error(api.client.post(CHARGES, headers=headers, content=b"[" * 100_000), 400)
    assert api.balance(who) == Decimal(100)


# Found bugs: valid-looking input that makes the server fail with a 500


@pytest.mark.parametrize(
    "params",
    [
        {"period_month": "9999-12"},
        {"end_date": "9999-12-31"},
        {"start_date": "9999-12-31", "end_date": "9999-12-31"},
    ],
)
def test_usage_for_the_last_representable_day_is_answered_not_a_500(
    api: Api, params: dict[str, str]
) -> None:
    who = api.customer()
    response = api.get(who, USAGE, **params)
    assert response.status_code < 500, response.text


@pytest.mark.parametrize(
    "params",
    [
        {"end_date": "9999-12-31T23:59:59", "timezone": "Pacific/Kiritimati"},
        {"end_date": "9999-12-31T23:59:59-23:59"},
    ],
)
def test_token_analytics_for_a_far_future_end_is_answered_not_a_500(
    api: Api, params: dict[str, str]
) -> None:
    who = api.customer()
    response = api.get(who, ANALYTICS, **params)
    assert response.status_code < 500, response.text


def test_a_reservation_or_transaction_id_that_does_not_exist_is_a_404(api: Api) -> None:
    who = api.customer()
    for response in (
        api.post(who, "/api/v1/reservations/txn_nope/settle/", {"units": 1}),
        api.post(who, "/api/v1/reservations/txn_nope/cancel/"),
        api.get(who, f"{TRANSACTIONS}txn_nope/"),
        api.send("DELETE", "/api/v1/accounts/keys/key_nope/", headers=who.headers),
        api.admin("GET", "/accounts/no-such-account/"),
        api.admin("POST", "/transactions/txn_nope/refund/"),
    ):
        assert_error(response, 404)
    assert decoded(api.get(who, TRANSACTIONS))["data"]["transactions"][0]["type"] == "top_up"
