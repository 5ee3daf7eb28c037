"""Metering over real HTTP: charges, idempotent replays, the batch form and reservations, with
every amount compared exactly (Decimal from the JSON text), on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from tests.e2e.api import Api, Customer, assert_error, decoded, usd

RESERVE = "/api/v1/reservations/"


def reserve(api: Api, who: Customer, operation: str = "search_database", units: int = 10) -> str:
    response = api.post(who, RESERVE, {"operation": operation, "units": units})
    assert response.status_code == 201, response.text
    reservation_id: str = decoded(response)["data"]["id"]
    return reservation_id


def test_a_charge_answers_201_with_its_transaction_and_exact_amount_and_balance(
    api: Api,
) -> None:
    who = api.customer(balance="10.000001")
    response = api.charge(who, "email_validate", 3, request_id="req-42", details={"q": "cto"})
    assert response.status_code == 201, response.text
    body = decoded(response)
    data, meta = body["data"], body["meta"]
    assert data["type"] == "email_validate"
    assert usd(data["credits"]) == Decimal("-0.015")
    assert data["details"]["status"] == "success"
    assert data["details"]["units"] == 3
    assert usd(data["details"]["unit_price"]) == Decimal("0.005")
    assert usd(data["details"]["balance_after"]) == Decimal("9.985001")
    assert data["details"]["request_id"] == "req-42"
    assert data["details"]["metadata"] == {"q": "cto"}
    assert data["details"]["api_key_id"] == who.key.id
    assert usd(meta["amount_charged"]) == Decimal("0.015")
    assert usd(meta["balance"]) == Decimal("9.985001")
    assert usd(meta["available"]) == Decimal("9.985001")
    assert meta["replayed"] is False and meta["test"] is False
    assert "x-creditbook-mode" not in response.headers
    assert api.balance(who) == Decimal("9.985001")
    assert api.transaction_ids(who, type="email_validate") == [data["id"]]


def test_a_replay_with_the_same_body_idempotency_key_returns_the_same_transaction(
    api: Api,
) -> None:
    who = api.customer(balance="1")
    first = api.charge(who, units=5, idempotency_key="order-17")
    again = api.charge(who, units=5, idempotency_key="order-17")
    assert first.status_code == again.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert decoded(again)["data"]["id"] == decoded(first)["data"]["id"]
    assert decoded(again)["meta"]["replayed"] is True
    assert usd(decoded(again)["meta"]["balance"]) == Decimal("0.9")
    assert api.balance(who) == Decimal("0.9")  # charged once
    assert len(api.transaction_ids(who, type="search_database")) == 1


def test_a_replay_with_the_idempotency_key_header_returns_the_same_transaction(
    api: Api,
) -> None:
    who = api.customer(balance="1")
    header = {"Idempotency-Key": "retry-9"}
    first = api.charge(who, units=2, headers=header)
    again = api.charge(who, units=2, headers=header)
    in_body = api.charge(who, units=2, idempotency_key="retry-9")  # one key, either way
    ids = {decoded(r)["data"]["id"] for r in (first, again, in_body)}
    assert len(ids) == 1
    assert decoded(first)["data"]["details"]["idempotency_key"] == "retry-9"
    assert api.balance(who) == Decimal("0.96")
    assert len(api.transaction_ids(who, type="search_database")) == 1


def test_one_idempotency_key_sent_by_twenty_clients_at_once_charges_once(api: Api) -> None:
    who = api.customer(balance="1")

    def send(_: int) -> tuple[int, str]:
        response = api.charge(who, units=1, idempotency_key="stampede")
        return response.status_code, decoded(response)["data"]["id"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(send, range(20)))
    assert {status for status, _ in answers} == {201}
    assert len({txn for _, txn in answers}) == 1
    assert api.balance(who) == Decimal("0.98")


def test_an_idempotency_key_reused_with_other_parameters_is_refused_with_409(api: Api) -> None:
    who = api.customer(balance="1")
    assert api.charge(who, units=1, idempotency_key="k-1").status_code == 201
    refused = api.charge(who, units=2, idempotency_key="k-1")
    assert_error(refused, 409, "This idempotency key was already used with different parameters.")
    assert api.balance(who) == Decimal("0.98")


def test_a_batch_answers_each_charge_and_charges_only_the_good_ones(api: Api) -> None:
    who = api.customer(balance="1")
    body = {
        "charges": [
            {"operation": "search_database", "units": 2},
            {"operation": "no_such_operation", "units": 1},
            {"operation": "email_find", "units": 3, "idempotency_key": "b-1"},
            {"operation": "search_database", "units": "2"},
            {"operation": "phone_find", "units": 100},  # 40 USD: more than the balance
        ]
    }
    response = api.post(who, "/api/v1/charges/batch/", body)
    assert response.status_code == 200, response.text
    data, meta = decoded(response)["data"], decoded(response)["meta"]
    assert [item["index"] for item in data] == [0, 1, 2, 3, 4]
    assert [item["status"] for item in data] == [201, 400, 201, 400, 402]
    assert "operation" in data[1]["detail"] and "units" in data[3]["detail"]
    assert data[4]["detail"] == "Insufficient funds in the account."
    assert usd(data[0]["amount_charged"]) == Decimal("0.04")
    assert usd(data[2]["amount_charged"]) == Decimal("0.06")
    assert usd(data[2]["balance"]) == Decimal("0.9")
    assert (meta["succeeded"], meta["failed"]) == (2, 3)
    assert usd(meta["amount_charged"]) == Decimal("0.1")
    assert api.balance(who) == Decimal("0.9")
    charged = {t["id"] for t in api.transactions(who, amount__lt="0")}
    assert charged == {data[0]["transaction_id"], data[2]["transaction_id"]}


def test_a_batch_replays_items_whose_idempotency_keys_were_charged_before(api: Api) -> None:
    who = api.customer(balance="1")
    single = api.charge(who, "email_find", 1, idempotency_key="same")
    body = {
        "charges": [
            {"operation": "email_find", "units": 1, "idempotency_key": "same"},
            {"operation": "email_find", "units": 1, "idempotency_key": "fresh"},
        ]
    }
    first = decoded(api.post(who, "/api/v1/charges/batch/", body))["data"]
    again = decoded(api.post(who, "/api/v1/charges/batch/", body))["data"]
    assert first[0]["transaction_id"] == decoded(single)["data"]["id"]
    assert [i["replayed"] for i in first] == [True, False]
    assert [i["replayed"] for i in again] == [True, True]
    assert [i["transaction_id"] for i in again] == [i["transaction_id"] for i in first]
    assert api.balance(who) == Decimal("0.96")  # two charges of 0.02, each once


def test_a_reservation_settled_below_its_hold_charges_the_used_part_and_frees_the_rest(
    api: Api,
) -> None:
    who = api.customer(balance="10")
    response = api.post(who, RESERVE, {"operation": "search_database", "units": 10, "ttl_s": 60})
    assert response.status_code == 201, response.text
    held = decoded(response)
    rid = held["data"]["id"]
    assert held["data"]["details"]["status"] == "pending"
    assert held["data"]["details"]["reserved_units"] == 10
    assert usd(held["meta"]["amount_charged"]) == 0
    assert usd(held["meta"]["reserved"]) == Decimal("0.2")
    assert usd(held["meta"]["balance"]) == Decimal(10)
    assert usd(held["meta"]["available"]) == Decimal("9.8")
    credits = api.me(who)["credits"]
    assert usd(credits["reserved"]) == Decimal("0.2")
    assert usd(credits["available"]) == Decimal("9.8")

    settled = api.post(who, f"{RESERVE}{rid}/settle/", {"units": 4})
    assert settled.status_code == 200, settled.text
    body = decoded(settled)
    assert body["data"]["id"] == rid
    assert body["data"]["details"]["status"] == "success"
    assert body["data"]["details"]["units"] == 4
    assert usd(body["data"]["credits"]) == Decimal("-0.08")
    assert usd(body["meta"]["amount_charged"]) == Decimal("0.08")
    assert usd(body["meta"]["reserved"]) == 0
    assert usd(body["meta"]["balance"]) == Decimal("9.92")
    credits = api.me(who)["credits"]
    assert usd(credits["balance"]) == Decimal("9.92")
    assert usd(credits["reserved"]) == 0 and usd(credits["available"]) == Decimal("9.92")


def test_cancelling_a_reservation_releases_all_of_it_and_marks_it_error(api: Api) -> None:
    who = api.customer(balance="10")
    rid = reserve(api, who, units=50)
    assert usd(api.me(who)["credits"]["available"]) == Decimal(9)
    cancelled = api.post(who, f"{RESERVE}{rid}/cancel/")
    assert cancelled.status_code == 200, cancelled.text
    body = decoded(cancelled)
    assert body["data"]["details"]["status"] == "error"
    assert usd(body["meta"]["amount_charged"]) == 0
    credits = api.me(who)["credits"]
    assert usd(credits["balance"]) == Decimal(10) and usd(credits["reserved"]) == 0
    assert usd(credits["available"]) == Decimal(10)
    again = api.post(who, f"{RESERVE}{rid}/cancel/")
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert_error(api.post(who, f"{RESERVE}{rid}/settle/", {"units": 1}), 409)
    assert api.balance(who) == Decimal(10)


def test_settling_twice_with_the_same_units_is_a_replay_and_other_units_a_conflict(
    api: Api,
) -> None:
    who = api.customer(balance="10")
    rid = reserve(api, who, units=10)
    first = api.post(who, f"{RESERVE}{rid}/settle/", {"units": 7})
    again = api.post(who, f"{RESERVE}{rid}/settle/", {"units": 7})
    assert first.status_code == again.status_code == 200
    assert again.headers.get("idempotent-replayed") == "true"
    assert decoded(again)["meta"]["replayed"] is True
    assert decoded(again)["data"] == decoded(first)["data"]
    assert api.balance(who) == Decimal("9.86")  # 7 units, once
    assert_error(api.post(who, f"{RESERVE}{rid}/settle/", {"units": 6}), 409)
    assert_error(api.post(who, f"{RESERVE}{rid}/cancel/"), 409)
    assert api.balance(who) == Decimal("9.86")


def test_settling_more_units_than_were_reserved_is_refused_and_keeps_the_hold(api: Api) -> None:
    who = api.customer(balance="10")
    rid = reserve(api, who, units=10)
    assert_error(api.post(who, f"{RESERVE}{rid}/settle/", {"units": 11}), 400, field="units")
    assert usd(api.me(who)["credits"]["reserved"]) == Decimal("0.2")
    assert api.post(who, f"{RESERVE}{rid}/settle/", {"units": 0}).status_code == 200
    assert api.balance(who) == Decimal(10)  # zero units delivered: nothing charged


def test_the_operator_token_meters_for_the_account_it_names(api: Api) -> None:
    who = api.customer(balance="1")
    body = {"operation": "search_database", "units": 5, "account_id": who.account_id}
    response = api.send("POST", "/api/v1/charges/", headers=api.admin_headers, body=body)
    assert response.status_code == 201, response.text
    assert decoded(response)["data"]["details"]["api_key_id"] is None
    assert api.balance(who) == Decimal("0.9")
    nameless = api.send(
        "POST",
        "/api/v1/charges/",
        headers=api.admin_headers,
        body={"operation": "search_database", "units": 1},
    )
    assert_error(nameless, 400, field="account_id")


def test_a_suspended_account_cannot_spend_but_can_still_read(api: Api) -> None:
    who = api.customer(balance="1")
    suspended = api.admin("PATCH", f"/accounts/{who.account_id}/", {"status": "suspended"})
    assert suspended.status_code == 200, suspended.text
    assert_error(api.charge(who), 403)
    assert api.me(who)["status"] == "suspended"
    assert api.balance(who) == Decimal(1)


def test_details_may_hold_any_json_including_decimal_numbers(api: Api) -> None:
    who = api.customer(balance="1")
    response = api.charge(who, details={"score": Decimal("0.5"), "page": 2})
    assert response.status_code == 201, response.text
    assert decoded(response)["data"]["details"]["metadata"] == {"score": Decimal("0.5"), "page": 2}


def test_a_batch_reports_as_charged_only_what_it_took_from_the_balance(api: Api) -> None:
    who = api.customer(balance="1")
    twice = {"operation": "email_find", "units": 1, "idempotency_key": "dup"}
    response = api.post(who, "/api/v1/charges/batch/", {"charges": [twice, twice]})
    items = decoded(response)["data"]
    assert [i["replayed"] for i in items] == [False, True]
    assert api.balance(who) == Decimal("0.98")  # charged once
    assert usd(decoded(response)["meta"]["amount_charged"]) == Decimal("0.02")
