"""The webhooks API over real HTTP, on SQLite and PostgreSQL: Generect's shapes field for field,
secrets shown once, who may do what, and a test event that reaches a real receiver on loopback
(sent by a dispatcher in the test process, on the server's database)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from creditbook.bootstrap import build
from creditbook.domain.events import SUBSCRIBABLE
from tests.conftest import BACKENDS, make_settings
from tests.e2e.api import (
    BOOLEAN,
    DATE_TIME,
    STRING,
    Api,
    Customer,
    array,
    assert_error,
    decoded,
    obj,
    shape_problems,
)
from tests.e2e.server import ServerProcess, database, running_server
from tests.receiver import Receiver

# The reference's Webhook and WebhookTestResponse schemas, field for field.
REFERENCE_WEBHOOK = obj(
    id=STRING,
    url=STRING,
    events=array(STRING),
    secret=STRING,
    is_active=BOOLEAN,
    created_at=DATE_TIME,
    updated_at=DATE_TIME,
)
REFERENCE_TEST = obj(data=obj(delivery_id=STRING, status=STRING), meta=obj(event=STRING))
HTTPS = "https://hooks.example.com/creditbook"
# The receiver listens on 127.0.0.1: plain http to a private address, both off by default.
# The tests deliver with a dispatcher of their own (`run_once`); the server's, polling every
# second, would race it for the delivery (and did: `run_once` found nothing left to send).
LOOPBACK_ENV = {
    "CREDITBOOK_WEBHOOK_ALLOW_HTTP": "true",
    "CREDITBOOK_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
    "CREDITBOOK_RUN_CLOCK": "false",
}


class AllowingHttp(ServerProcess):
    """A server that accepts http:// endpoints on private addresses, so a loopback receiver
    can be registered and delivered to."""

    def _environment(self) -> dict[str, str]:
        return {**super()._environment(), **LOOPBACK_ENV}


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp(f"hooks-{request.param}")
    with database(request.param, request, workdir) as url:
        served = AllowingHttp(url, workdir)
        served.start()
        try:
            yield served
        finally:
            served.stop()


def send(api: Api, who: Customer, method: str, path: str, body: Any = None) -> Any:
    return api.send(method, f"/api/v1/webhooks{path}", headers=who.headers, body=body)


def created(api: Api, who: Customer, **body: Any) -> dict[str, Any]:
    response = send(api, who, "POST", "/", {"url": HTTPS, "events": ["credits.added"], **body})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = decoded(response)
    return data


def test_create_list_get_put_patch_and_delete_answer_the_reference_shapes(api: Api) -> None:
    who = api.customer()
    made = created(api, who, events=["credits.added", "balance.depleted"])
    assert shape_problems(made, REFERENCE_WEBHOOK) == []
    assert made["secret"].startswith("whsec_") and len(made["secret"]) == 38
    assert made["is_active"] is True and made["events"] == ["credits.added", "balance.depleted"]
    masked = f"whsec_...{made['secret'][-4:]}"

    listed = send(api, who, "GET", "/")
    assert listed.status_code == 200
    assert decoded(listed) == [{**made, "secret": masked}]
    one = send(api, who, "GET", f"/{made['id']}")  # no trailing slash: the same answer
    assert decoded(one) == {**made, "secret": masked}

    body = {"url": f"{HTTPS}/v2", "events": ["balance.alert.triggered"]}
    replaced = send(api, who, "PUT", f"/{made['id']}/", body)
    assert replaced.status_code == 200, replaced.text
    after_put = decoded(replaced)
    assert shape_problems(after_put, REFERENCE_WEBHOOK) == []
    assert after_put["url"] == body["url"] and after_put["events"] == body["events"]
    assert after_put["secret"] == masked  # kept, and not shown again

    paused = decoded(send(api, who, "PATCH", f"/{made['id']}/", {"is_active": False}))
    assert paused["is_active"] is False and paused["disabled_reason"] == "Disabled by the account."
    assert paused["url"] == body["url"]
    resumed = decoded(send(api, who, "PATCH", f"/{made['id']}/", {"is_active": True}))
    assert resumed["is_active"] is True and resumed["disabled_reason"] is None

    removed = send(api, who, "DELETE", f"/{made['id']}/")
    assert removed.status_code == 204 and removed.content == b""
    assert_error(send(api, who, "GET", f"/{made['id']}/"), 404)
    assert decoded(send(api, who, "GET", "/")) == []


def test_a_secret_the_caller_sets_is_shown_in_that_answer_only(api: Api) -> None:
    who = api.customer()
    made = created(api, who, secret="your-secret-for-signature")
    assert made["secret"] == "your-secret-for-signature"
    patched = decoded(send(api, who, "PATCH", f"/{made['id']}/", {"secret": "another-secret-1"}))
    assert patched["secret"] == "another-secret-1"
    assert decoded(send(api, who, "GET", f"/{made['id']}/"))["secret"] == "...et-1"


def test_unknown_events_are_a_400_that_lists_every_allowed_event_sorted(api: Api) -> None:
    who = api.customer()
    response = send(api, who, "POST", "/", {"url": HTTPS, "events": ["email.find.completed"]})
    allowed = sorted(SUBSCRIBABLE)
    assert_error(
        response,
        400,
        {"events": [f"Unsupported events: ['email.find.completed']. Allowed: {allowed!r}"]},
    )
    made = created(api, who)
    bad_put = send(api, who, "PUT", f"/{made['id']}/", {"url": HTTPS, "events": ["nope"]})
    assert_error(bad_put, 400, field="events")
    for body in ({"url": HTTPS, "events": []}, {"url": HTTPS}, {"url": "ftp://x.example/"}):
        assert_error(send(api, who, "POST", "/", body), 400)


def test_a_plain_http_url_is_refused_unless_the_server_allows_it(
    api: Api, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    who = api.customer()
    assert created(api, who, url="http://127.0.0.1:9/hook")["url"] == "http://127.0.0.1:9/hook"
    with (
        database("sqlite", request, tmp_path) as url,
        running_server(url, tmp_path) as default_server,
        httpx.Client(base_url=default_server.base_url, timeout=30) as client,
    ):
        strict = Api(client, default_server.admin_token)
        body = {"url": "http://hooks.example.com/hook", "events": ["credits.added"]}
        response = send(strict, strict.customer(), "POST", "/", body)
        assert_error(response, 400, field="url")


def test_another_accounts_webhook_is_not_found_whatever_the_method(api: Api) -> None:
    owner, other = api.customer(), api.customer()
    made = created(api, owner)
    path = f"/{made['id']}/"
    for method, suffix, body in (
        ("GET", "", None),
        ("PUT", "", {"url": HTTPS, "events": ["credits.added"]}),
        ("PATCH", "", {"is_active": False}),
        ("DELETE", "", None),
        ("POST", "test/", None),
        ("GET", "deliveries/", None),
    ):
        assert_error(send(api, other, method, path + suffix, body), 404)
    assert decoded(send(api, owner, "GET", path))["is_active"] is True


def test_a_read_key_may_list_webhooks_but_not_change_them(api: Api) -> None:
    who = api.customer()
    made = created(api, who)
    reader = Customer(who.account_id, who.email, api.create_key(who.account_id, scope="read"))
    assert [w["id"] for w in decoded(send(api, reader, "GET", "/"))] == [made["id"]]
    assert send(api, reader, "GET", f"/{made['id']}/deliveries/").status_code == 200
    for method, path, body in (
        ("POST", "/", {"url": HTTPS, "events": ["credits.added"]}),
        ("PATCH", f"/{made['id']}/", {"is_active": False}),
        ("DELETE", f"/{made['id']}/", None),
        ("POST", f"/{made['id']}/test/", None),
    ):
        assert_error(send(api, reader, method, path, body), 403)


def test_the_test_endpoint_queues_a_webhook_test_that_a_real_receiver_gets_and_can_get_again(
    api: Api, server: ServerProcess
) -> None:
    who = api.customer()
    with Receiver() as receiver:
        made = created(api, who, url=receiver.url)
        response = send(api, who, "POST", f"/{made['id']}/test/")
        assert response.status_code == 202, response.text
        queued = decoded(response)
        assert shape_problems(queued, REFERENCE_TEST) == []
        assert queued["data"]["status"] == "pending" and queued["meta"]["event"] == "webhook.test"

        services = build(
            make_settings(
                server.database_url, webhook_allow_http=True, webhook_allow_private_networks=True
            )
        )
        try:
            assert services.dispatcher.run_once() == 1
            [got] = receiver.wait_for(1)
            assert (
                got.json["type"] == "webhook.test" and got.json["data"]["webhook_id"] == made["id"]
            )

            log = decoded(send(api, who, "GET", f"/{made['id']}/deliveries/"))["data"]
            [delivery] = log["deliveries"]
            assert delivery["id"] == queued["data"]["delivery_id"]
            assert delivery["status"] == "delivered" and delivery["next_attempt_at"] is None
            assert [a["status_code"] for a in delivery["attempt_log"]] == [200]

            again = send(api, who, "POST", f"/{made['id']}/deliveries/{delivery['id']}/redeliver/")
            assert again.status_code == 202, again.text
            assert services.dispatcher.run_once() == 1
            first, second = receiver.wait_for(2)
            assert first.headers["webhook-id"] == second.headers["webhook-id"] == got.json["id"]
        finally:
            services.close()


def test_the_delivery_log_refuses_unknown_parameters_and_bad_cursors(api: Api) -> None:
    who = api.customer()
    made = created(api, who)
    path = f"/api/v1/webhooks/{made['id']}/deliveries/"
    assert_error(api.get(who, path, page="2"), 400, field="page")
    assert_error(api.get(who, path, cursor="nope"), 400, field="cursor")
    assert_error(api.get(who, path, limit="0"), 400, field="limit")
    missing = f"/{made['id']}/deliveries/dlv_nope/redeliver/"
    assert_error(send(api, who, "POST", missing), 404)
