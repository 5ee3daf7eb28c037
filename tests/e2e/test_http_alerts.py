"""Alerts and the event log over real HTTP, on SQLite and PostgreSQL: thresholds managed by a
customer's key, their state in /accounts/me/, and the events a balance crossing writes."""

from __future__ import annotations

from decimal import Decimal

from tests.e2e.api import Api, assert_error, decoded, usd


def test_an_alert_added_through_the_api_shows_in_me_and_fires_once_when_crossed(
    api: Api,
) -> None:
    who = api.customer(balance="1")
    made = api.post(who, "/api/v1/alerts/", {"kind": "balance", "threshold": Decimal("0.9")})
    assert made.status_code == 201, made.text
    alert = decoded(made)["data"]
    assert alert["state"] == "ok" and usd(alert["threshold"]) == Decimal("0.9")
    for _ in range(8):  # $0.02 each: 1.00 -> 0.84, crossing 0.90 once
        assert api.charge(who, units=1).status_code == 201
    me = decoded(api.get(who, "/api/v1/accounts/me/"))["data"]
    mine = [a for a in me["alerts"] if a["id"] == alert["id"]]
    assert mine and mine[0]["state"] == "in_alarm" and mine[0]["changed_at"]
    found = decoded(api.get(who, "/api/v1/events/", type="balance.alert.triggered"))
    triggered = [e for e in found["data"] if e["data"]["alert_id"] == alert["id"]]
    assert len(triggered) == 1
    event = triggered[0]
    assert event["id"].startswith("evt_") and event["account_id"] == who.account_id
    assert usd(event["data"]["balance"]) < Decimal("0.9")


def test_alerts_list_and_remove_and_refuse_what_a_key_may_not_do(api: Api) -> None:
    who = api.customer()
    reader = api.create_key(who.account_id, scope="read")
    body = {"kind": "monthly_percent", "percent": 50}
    assert_error(api.post(reader, "/api/v1/alerts/", body), 403)
    made = decoded(api.post(who, "/api/v1/alerts/", body))["data"]
    listed = decoded(api.get(reader, "/api/v1/alerts/"))["data"]
    assert made["id"] in [a["id"] for a in listed]
    other = api.customer()
    gone = api.send("DELETE", f"/api/v1/alerts/{made['id']}/", headers=other.headers)
    assert_error(gone, 404)
    removed = api.send("DELETE", f"/api/v1/alerts/{made['id']}/", headers=who.headers)
    assert removed.status_code == 204
    assert made["id"] not in [a["id"] for a in decoded(api.get(who, "/api/v1/alerts/"))["data"]]


def test_bad_alerts_and_event_queries_get_a_400_naming_the_problem(api: Api) -> None:
    who = api.customer()
    cases = [
        ({"kind": "weather"}, "kind"),
        ({"kind": "balance"}, "threshold"),
        ({"kind": "forecast", "window_days": 7}, "horizon_days"),
        ({"kind": "monthly_percent", "percent": 0}, "percent"),
        ({"kind": "balance", "threshold": Decimal("0.0000001")}, "threshold"),
        ({"kind": "balance", "threshold": 5, "extra": 1}, "extra"),
    ]
    for body, field in cases:
        assert_error(api.post(who, "/api/v1/alerts/", body), 400, field=field)
    assert_error(api.get(who, "/api/v1/events/", type="nope"), 400, field="type")
    assert_error(api.get(who, "/api/v1/events/", limit="0"), 400, field="limit")
    assert_error(api.get(who, "/api/v1/events/", colour="red"), 400)


def test_the_event_log_pages_newest_first_and_reports_credits_added(api: Api) -> None:
    who = api.customer(balance=None)
    for amount in ("1", "2", "3"):
        api.grant(who.account_id, amount)
    first = decoded(api.get(who, "/api/v1/events/", limit="2", type="credits.added"))
    amounts = [usd(e["data"]["amount"]) for e in first["data"]]
    assert amounts == [Decimal(3), Decimal(2)]
    following = first["meta"]["next_before"]
    rest = decoded(
        api.get(who, "/api/v1/events/", limit="2", type="credits.added", before=following)
    )
    assert [usd(e["data"]["amount"]) for e in rest["data"]] == [Decimal(1)]
    assert rest["meta"]["next_before"] is None
