"""`GET /metrics` of a real server, read with prometheus_client's own parser, on SQLite and
PostgreSQL. The server is shared by the module, so each test compares two readings."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.api import Api

Labels = tuple[tuple[str, str], ...]
Reading = dict[tuple[str, Labels], float]


def read_metrics(api: Api) -> Reading:
    response = api.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    reading: Reading = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            reading[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return reading


def grew(before: Reading, after: Reading, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_charges_and_refusals_are_counted_by_operation_and_outcome(api: Api) -> None:
    who = api.customer(balance="0.05")  # two charges of 0.02, then too little
    before = read_metrics(api)
    statuses = [api.charge(who, "search_database", 1).status_code for _ in range(3)]
    after = read_metrics(api)
    assert statuses == [201, 201, 402]
    charges = "creditbook_charges_total"
    ok = grew(before, after, charges, kind="charge", operation="search_database", outcome="ok")
    refused = grew(
        before, after, charges, kind="charge", operation="-", outcome="insufficient_funds"
    )
    assert (ok, refused) == (2.0, 1.0)
    assert grew(before, after, "creditbook_refusals_total", reason="insufficient_funds") == 1.0
    latency = "creditbook_ledger_write_duration_seconds_count"
    assert grew(before, after, latency, kind="charge") == 3.0


def test_every_request_lands_in_the_latency_histogram_of_its_route(api: Api) -> None:
    who = api.customer(balance="1")
    before = read_metrics(api)
    for _ in range(2):
        assert api.client.get("/api/v1/accounts/me/", headers=who.headers).status_code == 200
    after = read_metrics(api)
    name = "creditbook_http_request_duration_seconds_count"
    route = "/api/v1/accounts/me/"
    assert grew(before, after, name, route=route, method="GET", status="2xx") == 2.0
    total = "creditbook_http_request_duration_seconds_bucket"
    assert grew(before, after, total, route=route, method="GET", status="2xx", le="+Inf") == 2.0


def test_each_ledger_commit_is_timed_and_counts_the_commands_it_carried(api: Api) -> None:
    who = api.customer(balance="10")
    before = read_metrics(api)
    for _ in range(3):
        assert api.charge(who).status_code == 201
    batch = [{"operation": "search_database", "units": 1} for _ in range(5)]
    response = api.post(who, "/api/v1/charges/batch/", {"charges": batch})
    assert response.status_code == 200, response.text
    after = read_metrics(api)
    commits = grew(before, after, "creditbook_ledger_commit_duration_seconds_count")
    commands = grew(before, after, "creditbook_ledger_batch_commands_sum")
    # Three charges one after the other, then a batch of five in one transaction; the
    # server's own clock work (expiries) may commit more, never fewer.
    assert commits >= 4
    assert commands >= 8
    assert commands >= commits
    assert grew(before, after, "creditbook_ledger_batch_commands_count") == commits
    seconds = grew(before, after, "creditbook_ledger_commit_duration_seconds_sum")
    assert 0 < seconds < 30
    assert grew(before, after, "creditbook_ledger_commit_duration_seconds_bucket", le="+Inf") == (
        commits
    )


def test_metrics_need_no_key_and_name_no_account_key_or_email(api: Api) -> None:
    who = api.customer(balance="1")
    assert api.charge(who).status_code == 201
    response = httpx.get(str(api.client.base_url.join("/metrics")))  # no Authorization
    assert response.status_code == 200
    assert "creditbook_charges_total" in response.text
    for private in (who.account_id, who.key.id, who.key.secret, who.email):
        assert private not in response.text
