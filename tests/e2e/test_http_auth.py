"""Who may do what, over real HTTP: missing, malformed, unknown and revoked keys; read, full
and test keys; another account's resources; the operator token and the admin API. Every refusal
is a 401 / 403 / 404 envelope that carries no data of the other account."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.e2e.api import Api, Customer, Key, assert_error, decoded, usd

CUSTOMER_READS = [
    "/api/v1/accounts/me/",
    "/api/v1/accounts/usage/",
    "/api/v1/accounts/transactions/",
    "/api/v1/accounts/tokens/analytics/",
    "/api/v1/accounts/keys/",
]
SPEND = {"operation": "search_database", "units": 1}


def snapshot(api: Api, who: Customer | Key) -> tuple[Any, list[dict[str, Any]], str]:
    """Everything a write would change: the money figures, the history, the CSV export."""
    credits = api.me(who)["credits"]
    csv = api.get(who, "/api/v1/accounts/transactions/", format="csv")
    assert csv.status_code == 200
    return credits, api.transactions(who), csv.text


def assert_reveals_nothing_of(response: httpx.Response, other: Customer) -> None:
    text = response.text
    assert other.account_id not in text and other.email not in text
    assert other.key.id not in text and other.key.secret not in text


# Credentials


@pytest.mark.parametrize("path", CUSTOMER_READS)
def test_a_request_without_credentials_is_401_with_a_token_challenge(api: Api, path: str) -> None:
    response = api.client.get(path)
    assert_error(response, 401, "Authentication credentials were not provided.")
    assert response.headers["www-authenticate"] == "Token"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Basic dXNlcjpwYXNz",
        "Digest username=x",
        "Token",
        "Bearer",
        "Tokenabc",
        "cb_abc",
        "Token " + "x" * 201,
        "Token a b",
    ],
)
def test_a_malformed_authorization_header_is_401(api: Api, header: str) -> None:
    response = api.client.get("/api/v1/accounts/me/", headers={"Authorization": header})
    assert_error(response, 401)
    assert response.headers["www-authenticate"] == "Token"


@pytest.mark.parametrize("secret", ["cb_not-a-real-key", "test_not-a-real-key", "x"])
def test_an_unknown_key_is_401_and_spends_nothing(api: Api, secret: str) -> None:
    response = api.charge(Key("key_none", secret))
    assert_error(response, 401, "Invalid token.")


def test_bearer_and_any_case_of_token_are_accepted_as_schemes(api: Api) -> None:
    who = api.customer()
    for scheme in ("Token", "token", "TOKEN", "Bearer", "bearer"):
        headers = {"Authorization": f"{scheme} {who.key.secret}"}
        response = api.client.get("/api/v1/accounts/me/", headers=headers)
        assert response.status_code == 200, (scheme, response.text)
        assert decoded(response)["data"]["id"] == who.account_id


def test_a_revoked_key_is_401_everywhere_while_the_other_keys_still_work(api: Api) -> None:
    who = api.customer()
    spare = api.create_key(who.account_id)
    revoked = api.send("DELETE", f"/api/v1/accounts/keys/{spare.id}/", headers=who.headers)
    assert revoked.status_code == 200, revoked.text
    assert decoded(revoked)["data"]["is_active"] is False
    for path in CUSTOMER_READS:
        assert_error(
            api.client.get(path, headers=spare.headers), 401, "This token has been revoked."
        )
    assert_error(api.charge(spare), 401)
    assert api.balance(who) == Decimal(100)
    keys = decoded(api.get(who, "/api/v1/accounts/keys/"))["data"]
    assert {k["id"]: k["is_active"] for k in keys} == {who.key.id: True, spare.id: False}


# Scopes: read, full, test


def test_a_read_key_may_read_but_not_spend_nor_manage_keys(api: Api) -> None:
    who = api.customer(balance="1")
    reader = api.create_key(who.account_id, scope="read")
    for path in CUSTOMER_READS:
        assert api.client.get(path, headers=reader.headers).status_code == 200, path
    before = snapshot(api, who)
    assert_error(api.post(reader, "/api/v1/charges/", SPEND), 403)
    assert_error(api.post(reader, "/api/v1/reservations/", SPEND), 403)
    batch = api.post(reader, "/api/v1/charges/batch/", {"charges": [SPEND, SPEND]})
    assert [item["status"] for item in decoded(batch)["data"]] == [403, 403]
    assert_error(api.post(reader, "/api/v1/accounts/keys/", {"name": "mine"}), 403)
    revoke = api.send("DELETE", f"/api/v1/accounts/keys/{who.key.id}/", headers=reader.headers)
    assert_error(revoke, 403)
    assert snapshot(api, who) == before
    assert api.me(who)["id"] == who.account_id  # the full key was not revoked


def test_a_test_key_gets_live_answers_in_test_mode_and_writes_nothing(api: Api) -> None:
    who = api.customer(balance="1")
    tester = api.create_key(who.account_id, test=True)
    assert tester.secret.startswith("test_")
    before = snapshot(api, who)

    charge = api.post(tester, "/api/v1/charges/", {**SPEND, "units": 5, "idempotency_key": "t"})
    assert charge.status_code == 201, charge.text
    assert charge.headers["x-creditbook-mode"] == "test"
    assert decoded(charge)["meta"]["test"] is True
    assert usd(decoded(charge)["meta"]["amount_charged"]) == Decimal("0.1")
    assert usd(decoded(charge)["meta"]["balance"]) == Decimal("0.9")  # the live answer
    batch = api.post(tester, "/api/v1/charges/batch/", {"charges": [SPEND, SPEND]})
    assert batch.headers["x-creditbook-mode"] == "test"
    assert decoded(batch)["meta"]["test"] is True
    held = api.post(tester, "/api/v1/reservations/", {**SPEND, "units": 10})
    assert held.status_code == 201 and held.headers["x-creditbook-mode"] == "test"
    rid = decoded(held)["data"]["id"]
    settled = api.post(tester, f"/api/v1/reservations/{rid}/settle/", {"units": 3})
    assert settled.status_code == 200 and settled.headers["x-creditbook-mode"] == "test"
    assert usd(decoded(settled)["meta"]["amount_charged"]) == Decimal("0.06")
    cancelled = api.post(tester, f"/api/v1/reservations/{rid}/cancel/")
    assert cancelled.status_code == 200 and cancelled.headers["x-creditbook-mode"] == "test"

    assert snapshot(api, who) == before  # balance, history and export unchanged
    assert api.transactions(who, type="search_database") == []
    # The same idempotency key is still free for a live charge.
    live = api.post(who, "/api/v1/charges/", {**SPEND, "units": 5, "idempotency_key": "t"})
    assert live.status_code == 201 and decoded(live)["meta"]["replayed"] is False
    assert api.balance(who) == Decimal("0.9")


def test_a_test_key_gets_the_live_refusals_too(api: Api) -> None:
    who = api.customer(balance="0.01")
    tester = api.create_key(who.account_id, test=True)
    refused = api.post(tester, "/api/v1/charges/", SPEND)
    assert_error(refused, 402, "Insufficient funds in the account.")
    assert api.balance(who) == Decimal("0.01")


def test_a_test_key_may_create_test_keys_only(api: Api) -> None:
    who = api.customer()
    tester = api.create_key(who.account_id, test=True)
    live = api.post(tester, "/api/v1/accounts/keys/", {"name": "sneaky"})
    assert_error(live, 403)
    made = api.post(tester, "/api/v1/accounts/keys/", {"name": "sandbox", "test": True})
    assert made.status_code == 201, made.text
    assert decoded(made)["data"]["key"].startswith("test_")
    assert decoded(made)["data"]["test"] is True


def test_a_test_key_cannot_revoke_a_live_key(api: Api) -> None:
    who = api.customer()
    tester = api.create_key(who.account_id, test=True)
    response = api.send("DELETE", f"/api/v1/accounts/keys/{who.key.id}/", headers=tester.headers)
    try:
        assert_error(response, 403)
    finally:
        assert api.client.get("/api/v1/accounts/me/", headers=who.headers).status_code == 200


# Another account's resources


def two_customers(api: Api) -> tuple[Customer, Customer]:
    return api.customer(balance="10"), api.customer(balance="10")


def test_another_accounts_transaction_is_not_found_with_my_key(api: Api) -> None:
    mine, theirs = two_customers(api)
    their_charge = api.charged(theirs)["id"]
    response = api.get(mine, f"/api/v1/accounts/transactions/{their_charge}/")
    assert_error(response, 404)
    assert_reveals_nothing_of(response, theirs)
    assert their_charge not in api.transaction_ids(mine)


def test_another_accounts_reservation_cannot_be_settled_or_cancelled_with_my_key(
    api: Api,
) -> None:
    mine, theirs = two_customers(api)
    held = api.post(theirs, "/api/v1/reservations/", {**SPEND, "units": 10})
    rid = decoded(held)["data"]["id"]
    for action, body in (("settle", {"units": 10}), ("cancel", None)):
        response = api.post(mine, f"/api/v1/reservations/{rid}/{action}/", body)
        assert_error(response, 404)
        assert_reveals_nothing_of(response, theirs)
    pending = api.transactions(theirs, status="pending")
    assert [t["id"] for t in pending] == [rid]
    assert api.balance(theirs) == api.balance(mine) == Decimal(10)


def test_another_accounts_key_cannot_be_revoked_with_my_key(api: Api) -> None:
    mine, theirs = two_customers(api)
    response = api.send("DELETE", f"/api/v1/accounts/keys/{theirs.key.id}/", headers=mine.headers)
    assert_error(response, 404)
    assert_reveals_nothing_of(response, theirs)
    assert api.me(theirs)["id"] == theirs.account_id


def test_charging_another_account_by_its_id_is_forbidden_and_charges_nobody(api: Api) -> None:
    mine, theirs = two_customers(api)
    other = {**SPEND, "account_id": theirs.account_id}
    assert_error(api.post(mine, "/api/v1/charges/", other), 403)
    assert_error(api.post(mine, "/api/v1/reservations/", other), 403)
    batch = api.post(mine, "/api/v1/charges/batch/", {"charges": [other]})
    assert [item["status"] for item in decoded(batch)["data"]] == [403]
    default = api.post(
        mine, "/api/v1/charges/batch/", {"charges": [SPEND], "account_id": theirs.account_id}
    )
    assert [item["status"] for item in decoded(default)["data"]] == [403]
    assert api.balance(theirs) == api.balance(mine) == Decimal(10)
    assert api.transactions(theirs, type="search_database") == []


def test_another_accounts_token_in_analytics_reveals_nothing(api: Api) -> None:
    mine, theirs = two_customers(api)
    api.charged(theirs)
    report = api.analytics(mine, token=theirs.key.secret)
    assert report["tokens"] == [] and report["total_requests"] == 0
    everything = api.get(mine, "/api/v1/accounts/tokens/analytics/")
    assert [t["id"] for t in decoded(everything)["data"]["tokens"]] == [mine.key.id]
    assert_reveals_nothing_of(everything, theirs)


def test_a_cursor_made_from_another_accounts_page_shows_only_my_rows(api: Api) -> None:
    mine, theirs = two_customers(api)
    for _ in range(3):
        api.charged(theirs)
    page = decoded(api.get(theirs, "/api/v1/accounts/transactions/", limit="1"))["data"]
    response = api.get(mine, "/api/v1/accounts/transactions/", cursor=page["next_cursor"])
    assert response.status_code == 200
    assert_reveals_nothing_of(response, theirs)
    assert {t["id"] for t in decoded(response)["data"]["transactions"]} <= set(
        api.transaction_ids(mine)
    )


# The operator token and the admin API


@pytest.mark.parametrize("path", CUSTOMER_READS)
def test_the_operator_token_is_refused_on_customer_endpoints(api: Api, path: str) -> None:
    response = api.client.get(path, headers=api.admin_headers)
    assert_error(response, 403)


ADMIN_CALLS = [
    ("GET", "/api/v1/admin/accounts/", None),
    ("POST", "/api/v1/admin/accounts/", {"email": "intruder@example.com"}),
    ("GET", "/api/v1/admin/accounts/{account}/", None),
    ("PATCH", "/api/v1/admin/accounts/{account}/", {"monthly_limit": None}),
    ("POST", "/api/v1/admin/accounts/{account}/grants/", {"amount": 1000}),
    ("POST", "/api/v1/admin/accounts/{account}/adjustments/", {"amount": 5, "reason": "gift"}),
    ("POST", "/api/v1/admin/accounts/{account}/keys/", {"name": "backdoor"}),
    ("GET", "/api/v1/admin/accounts/{account}/keys/", None),
    ("POST", "/api/v1/admin/transactions/{txn}/refund/", {}),
    ("GET", "/api/v1/admin/prices/", None),
    (
        "PUT",
        "/api/v1/admin/prices/",
        {"prices": [{"operation": "search_database", "unit_price": 0}]},
    ),
    ("POST", "/api/v1/admin/expire/", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_customer_keys_are_refused_on_the_admin_api_even_for_their_own_account(
    api: Api, method: str, path: str, body: Any
) -> None:
    who = api.customer(balance="1")
    txn = api.charged(who)["id"]
    before = snapshot(api, who)
    target = path.format(account=who.account_id, txn=txn)
    response = api.send(method, target, headers=who.headers, body=body)
    assert_error(response, 403, "You do not have permission to perform this action.")
    assert snapshot(api, who) == before
    assert len(decoded(api.get(who, "/api/v1/accounts/keys/"))["data"]) == 1


def test_a_wrong_operator_token_is_401_on_the_admin_api(api: Api) -> None:
    headers = {"Authorization": f"Token {api.admin_token}x"}
    assert_error(api.client.get("/api/v1/admin/accounts/", headers=headers), 401)
    assert_error(api.client.get("/api/v1/admin/accounts/"), 401)
