"""The dashboard in headless Chromium against a real `creditbook serve`, on SQLite and
PostgreSQL: what a person sees is checked against what the API answers.

Chromium is Debian's (`/usr/bin/chromium`), driven by Playwright's Python package. Without it
the tests skip with a message, except in CI (`CI=true`), where they fail. Every page is
screenshot into `test-artifacts/dashboard/`; with `CREDITBOOK_DOCS_SCREENSHOTS=1` the SQLite
run also refreshes `docs/screenshots/`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import shutil
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.e2e.api import Api, Customer, Key, decoded, usd
from tests.e2e.server import ServerProcess, database, running_server
from tests.receiver import Receiver

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
DOCS_SHOTS = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1200, "height": 800}
PHONE = {"width": 390, "height": 844}
# http:// for the loopback receiver; the dispatcher looks for due deliveries every 0.2 s.
SERVER_ENV = {
    "CREDITBOOK_WEBHOOK_ALLOW_HTTP": "true",
    "CREDITBOOK_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",  # the receiver is on loopback
    "CREDITBOOK_DISPATCH_INTERVAL_S": "0.2",
}


def _unavailable(reason: str) -> None:
    message = f"dashboard browser tests need {reason}: apt-get install -y chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (required in CI)")
    pytest.skip(message)


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The e2e `server` fixture's server, with `SERVER_ENV`."""
    workdir = tmp_path_factory.mktemp(f"dashboard-{request.param}")
    with (
        database(request.param, request, workdir) as url,
        running_server(url, workdir, SERVER_ENV) as served,
    ):
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError:
        _unavailable("Playwright's Python package (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        _unavailable(f"Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, server: ServerProcess) -> Iterator[Any]:
    context = browser.new_context(base_url=server.base_url, viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.node.callspec.params["server"]
    return name


def shot(page: Any, backend: str, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}-{backend}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if os.environ.get("CREDITBOOK_DOCS_SCREENSHOTS") == "1" and backend == "sqlite":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SHOTS / f"{name}.png")


def dollars(text: str) -> Decimal:
    """`-$1,234.50` as an exact Decimal."""
    cleaned = text.strip().replace(",", "").replace("$", "")
    assert re.fullmatch(r"-?[0-9]+\.[0-9]{2,6}", cleaned), text
    return Decimal(cleaned)


def sign_in(page: Any, secret: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("API key").fill(secret)
    page.get_by_role("button", name="Sign in").click()


def figure(page: Any, name: str) -> str:
    text: str = page.locator(f'[data-figure="{name}"]').first.inner_text()
    return text


def batch(api: Api, who: Customer, operation: str, count: int, units: int = 1) -> None:
    body = {"charges": [{"operation": operation, "units": units} for _ in range(count)]}
    response = api.post(who, "/api/v1/charges/batch/", body)
    assert response.status_code == 200, response.text


# Signing in and out


def test_sign_in_shows_the_overview_with_the_apis_figures(
    api: Api, page: Any, backend: str
) -> None:
    who = api.customer(balance="1234.5", monthly_limit="5000")
    batch(api, who, "search_realtime", 3, units=10)
    sign_in(page, who.key.secret)
    page.wait_for_url("**/")
    me = api.me(who)
    credits = me["credits"]
    for name in ("balance", "reserved", "available", "used_this_month", "monthly_limit"):
        assert dollars(figure(page, name)) == usd(credits[name]), name
    assert figure(page, "preview_tier") == ("Yes" if me["preview_tier"] else "No")
    assert figure(page, "tier").startswith(me["tier"]["name"])
    assert "$1,233.30" in figure(page, "balance")  # thousands separator, exact decimals
    assert "days" in figure(page, "forecast")  # spend today: a run-out forecast
    states = page.locator(".states li")
    assert states.count() == len(me["alerts"])
    shot(page, backend, "overview")
    page.set_viewport_size(PHONE)
    assert page.get_by_role("button", name="Sign out").is_visible()
    shot(page, backend, "overview-phone")


def test_a_wrong_key_is_refused_with_a_clear_message(
    api: Api, page: Any, server: ServerProcess, backend: str
) -> None:
    sign_in(page, "cb_this-is-not-a-key")
    assert page.get_by_role("alert").inner_text().startswith("That key was not accepted")
    assert page.url.endswith("/sign-in")
    shot(page, backend, "sign-in-refused")
    for path in ("/", "/usage", "/transactions", "/keys", "/alerts", "/webhooks", "/operator"):
        answer = httpx.get(server.base_url + path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/sign-in", path


def test_a_session_names_the_key_and_ends_on_sign_out_or_revocation(api: Api, page: Any) -> None:
    who = api.customer()
    sign_in(page, who.key.secret)
    page.wait_for_url("**/")
    cookie = next(c for c in page.context.cookies() if c["name"] == "creditbook_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert who.key.secret not in cookie["value"]
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in?notice=signed-out")
    page.goto("/")
    assert page.url.endswith("/sign-in")
    sign_in(page, who.key.secret)
    page.wait_for_url("**/")
    api.send("DELETE", f"/api/v1/accounts/keys/{who.key.id}/", headers=who.headers)
    page.goto("/usage")
    assert "/sign-in" in page.url and "Sign in again" in page.inner_text("main")


# Usage


def _bar_starts(page: Any) -> list[str]:
    starts: list[str] = page.locator("g.bar").evaluate_all(
        "bars => bars.filter(b => b.dataset.total !== '0').map(b => b.dataset.start)"
    )
    return starts


def _show_usage(page: Any, *, period: str, zone: str) -> None:
    page.get_by_label("Bars by").select_option(period)
    page.get_by_label("Time zone").fill(zone)
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r".*/usage\?.*"))
    assert page.locator("svg[data-period]").get_attribute("data-period") == period
    assert page.locator("svg[data-timezone]").get_attribute("data-timezone") == zone


def test_usage_chart_follows_period_and_time_zone(api: Api, page: Any, backend: str) -> None:
    who = api.customer(balance="500")
    batch(api, who, "search_realtime", 4, units=25)
    batch(api, who, "search_database", 2, units=10)
    sign_in(page, who.key.secret)
    page.goto("/usage")
    _show_usage(page, period="day", zone="Pacific/Kiritimati")  # UTC+14
    days = page.locator("g.bar").count()
    east = _bar_starts(page)
    _show_usage(page, period="day", zone="Pacific/Pago_Pago")  # UTC-11: always another date
    west = _bar_starts(page)
    assert len(east) == len(west) == 1 and east != west
    _show_usage(page, period="week", zone="Pacific/Pago_Pago")
    assert page.locator("g.bar").count() < days
    total = decoded(
        api.get(who, "/api/v1/accounts/usage/", timezone="Pacific/Pago_Pago", period="week")
    )["data"]["total_credits"]
    assert dollars(figure(page, "usage_total")) == usd(total)
    top = page.locator("#operations tbody tr").first
    assert top.get_attribute("data-op") == "search_realtime" and "costly" in (
        top.get_attribute("class") or ""
    )
    hint = page.locator('[data-hint="search_realtime"]')
    assert "search_database" in hint.inner_text() and "saving $2.00" in hint.inner_text()
    shot(page, backend, "usage")


def test_usage_refuses_bad_input_with_a_message(api: Api, page: Any) -> None:
    who = api.customer()
    sign_in(page, who.key.secret)
    response = page.goto("/usage?timezone=Mars/Olympus&period=day")
    assert response.status == 400
    assert "Time zone: Unknown time zone" in page.get_by_role("alert").inner_text()
    response = page.goto("/usage?start_date=2026-02-30")
    assert response.status == 400 and "From:" in page.get_by_role("alert").inner_text()


# Transactions


def _table_ids(page: Any) -> list[str]:
    ids: list[str] = page.locator("#transactions tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    )
    return ids


def test_transactions_filter_pages_and_csv_match_the_api(api: Api, page: Any, backend: str) -> None:
    who = api.customer(balance="300")
    batch(api, who, "search_database", 55, units=2)
    batch(api, who, "email_find", 3)
    sign_in(page, who.key.secret)
    page.goto("/transactions")
    page.get_by_label("Type").select_option("search_database")
    page.get_by_label("Largest amount (USD)").fill("-0.01")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*type=search_database.*"))
    first = _table_ids(page)
    page.get_by_role("link", name="Next page").click()
    page.wait_for_url(re.compile(r".*cursor=.*"))
    second = _table_ids(page)
    params = {"type": "search_database", "amount__lte": "-0.01"}
    assert first + second == api.transaction_ids(who, limit="1000", **params)
    assert len(first) == 50 and len(second) == 5
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    csv_text = Path(download.value.path()).read_bytes().decode()
    expected = api.get(who, "/api/v1/accounts/transactions/", format="csv", **params)
    assert csv_text == expected.text and csv_text.count("\r\n") == 56
    page.get_by_role("link", name="First page").click()
    shot(page, backend, "transactions", full_page=False)


def test_transactions_date_filter_and_bad_amount(api: Api, page: Any) -> None:
    who = api.customer(balance="50")
    batch(api, who, "email_find", 2)
    sign_in(page, who.key.secret)
    today = api.transactions(who)[0]["timestamp"][:10]
    page.goto(f"/transactions?from={today}&to={today}&status=success")
    ids = api.transaction_ids(
        who,
        created_at__gte=f"{today}T00:00:00Z",
        created_at__lt=f"{_next_day(today)}T00:00:00Z",
        status="success",
    )
    assert _table_ids(page) == ids and len(ids) == 3  # the grant and the two charges
    page.goto("/transactions?from=2020-01-01&to=2020-01-02")
    assert "No transactions match" in page.inner_text("#empty")
    response = page.goto("/transactions?min_amount=lots")
    assert response.status == 400
    assert "Smallest amount:" in page.get_by_role("alert").inner_text()
    response = page.goto("/transactions.csv?to=not-a-date")
    assert response.status == 400 and "To:" in page.get_by_role("alert").inner_text()


def _next_day(text: str) -> str:
    return date.fromordinal(date.fromisoformat(text).toordinal() + 1).isoformat()


# Keys and alerts


def test_keys_are_created_once_shown_and_revoked(api: Api, page: Any, backend: str) -> None:
    who = api.customer()
    sign_in(page, who.key.secret)
    page.goto("/keys")
    page.get_by_label("Name").fill("Nightly export")
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("New key").input_value()
    assert secret.startswith("cb_")
    made = [k for k in decoded(api.get(who, "/api/v1/accounts/keys/"))["data"] if k["name"]]
    assert [(k["name"], k["scope"]) for k in made] == [("Nightly export", "read")]
    new_key = Key(made[0]["id"], secret)
    assert api.me(new_key)["id"] == who.account_id
    shot(page, backend, "keys")
    page.goto("/keys")
    assert page.get_by_label("New key").count() == 0  # shown once
    page.get_by_role("button", name="Revoke Nightly export").click()
    page.wait_for_url("**/keys?notice=key-revoked")
    assert api.get(new_key, "/api/v1/accounts/me/").status_code == 401


def test_alerts_are_added_listed_and_removed(api: Api, page: Any, backend: str) -> None:
    who = api.customer(balance="20")
    sign_in(page, who.key.secret)
    page.goto("/alerts")
    page.get_by_label("Kind").select_option("balance")
    page.get_by_label("Threshold in USD (balance)").fill("25")
    page.get_by_role("button", name="Add alert").click()
    page.wait_for_url("**/alerts?notice=alert-added")
    listed = decoded(api.get(who, "/api/v1/alerts/"))["data"]
    added = next(a for a in listed if a["kind"] == "balance" and usd(a["threshold"]) == 25)
    row = page.locator(f'tr[data-alert="{added["id"]}"]')
    assert "In alarm" in row.inner_text()  # 20 < 25: judged at once
    shot(page, backend, "alerts")
    page.get_by_label("Kind").select_option("monthly_percent")
    page.get_by_label("Percent of the monthly limit (monthly_percent)").fill("lots")
    page.get_by_role("button", name="Add alert").click()
    assert "Percent: Must be a whole number" in page.get_by_role("alert").inner_text()
    page.goto("/alerts")
    row.get_by_role("button", name="Remove").click()
    page.wait_for_url("**/alerts?notice=alert-removed")
    assert added["id"] not in [a["id"] for a in decoded(api.get(who, "/api/v1/alerts/"))["data"]]


# Webhooks


def _webhooks(api: Api, who: Customer) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = decoded(api.get(who, "/api/v1/webhooks/"))
    return found


def _delivery_row(page: Any, event_type: str, status: str, attempts: int) -> Any:
    """The newest delivery of `event_type` once it has `status` after `attempts` tries,
    reloading the log meanwhile: the server's dispatcher sends in the background."""
    row = page.locator(f'#deliveries tr[data-event-type="{event_type}"]').first
    deadline = time.monotonic() + 20
    while _delivery_state(row) != (status, str(attempts)):
        assert time.monotonic() < deadline, page.inner_text("main")
        time.sleep(0.2)
        page.reload()
    return row


def _delivery_state(row: Any) -> tuple[str, str] | None:
    if row.count() == 0:
        return None
    return row.get_attribute("data-status"), row.locator("[data-attempts]").inner_text()


def test_webhooks_are_added_tested_redelivered_disabled_and_removed(
    api: Api, page: Any, backend: str
) -> None:
    who = api.customer()
    with Receiver() as receiver:
        sign_in(page, who.key.secret)
        page.goto("/webhooks")
        assert "No endpoints yet. Add one below" in page.inner_text("#empty")
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_role("button", name="Add endpoint").click()
        assert "Events: Must be a non-empty list" in page.get_by_role("alert").inner_text()
        assert page.get_by_label("URL").input_value() == receiver.url  # kept for the retry
        page.get_by_label("credits.added", exact=True).check()
        page.get_by_label("balance.depleted", exact=True).check()
        page.get_by_role("button", name="Add endpoint").click()
        secret = page.get_by_label(f"Signing secret of {receiver.url}").input_value()
        [made] = _webhooks(api, who)
        assert made["url"] == receiver.url and made["events"] == [
            "balance.depleted",
            "credits.added",
        ]
        assert secret.startswith("whsec_") and made["secret"] == f"whsec_...{secret[-4:]}"
        row = page.locator(f'tr[data-webhook="{made["id"]}"]')
        assert "Active" in row.inner_text() and made["secret"] in row.inner_text()
        shot(page, backend, "webhooks")
        page.goto("/webhooks")
        assert page.locator("#new-secret").count() == 0  # shown once

        row.get_by_role("button", name="Send a test event").click()
        page.wait_for_url(f"**/webhooks/{made['id']}?notice=webhook-test-sent")
        [got] = receiver.wait_for(1)
        assert got.json["type"] == "webhook.test" and got.json["data"]["webhook_id"] == made["id"]
        mac = hmac.new(secret.encode(), got.body, hashlib.sha256).digest()
        assert got.headers["x-webhook-signature"] == base64.b64encode(mac).decode()
        delivered = _delivery_row(page, "webhook.test", "delivered", 1)
        assert got.json["id"] in delivered.inner_text()
        assert delivered.locator("[data-attempt]").count() == 1
        assert "200" in delivered.locator('[data-attempt="1"]').inner_text()
        assert "ms" in delivered.locator('[data-attempt="1"]').inner_text()
        shot(page, backend, "webhook-deliveries")

        delivered.get_by_role("button", name="Redeliver").click()
        page.wait_for_url(f"**/webhooks/{made['id']}?notice=redelivered")
        first, second = receiver.wait_for(2)
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == got.json["id"]
        again = _delivery_row(page, "webhook.test", "delivered", 2)
        assert again.locator("[data-attempt]").count() == 2

        page.get_by_role("button", name="Disable").click()
        page.wait_for_url(f"**/webhooks/{made['id']}?notice=webhook-disabled")
        assert "Disabled by the account." in page.inner_text("main")
        assert page.get_by_role("button", name="Send a test event").count() == 0
        assert page.get_by_role("button", name="Redeliver").count() == 0
        assert _webhooks(api, who)[0]["is_active"] is False
        token = page.locator('input[name="csrf_token"]').first.input_value()
        refused = page.request.post(f"/webhooks/{made['id']}/test", form={"csrf_token": token})
        assert refused.status == 409 and "The webhook is disabled" in refused.text()

        page.goto("/webhooks")
        row.get_by_role("button", name="Enable").click()
        page.wait_for_url("**/webhooks?notice=webhook-enabled")
        assert _webhooks(api, who)[0]["is_active"] is True
        row.get_by_role("button", name="Remove").click()
        page.wait_for_url("**/webhooks?notice=webhook-removed")
        assert _webhooks(api, who) == [] and page.locator("#empty").is_visible()
        response = page.goto(f"/webhooks/{made['id']}")
        assert response.status == 404 and "Webhook not found." in page.inner_text("#page-error")
        assert len(receiver.received) == 2


def test_a_read_key_sees_webhooks_and_their_log_without_change_buttons(api: Api, page: Any) -> None:
    who = api.customer()
    body = {"url": "https://hooks.example.com/creditbook", "events": ["credits.added"]}
    made = decoded(api.post(who, "/api/v1/webhooks/", body))
    reader = api.create_key(who.account_id, scope="read")
    sign_in(page, reader.secret)
    page.goto("/webhooks")
    assert body["url"] in page.locator(f'tr[data-webhook="{made["id"]}"]').inner_text()
    assert page.locator("#read-only").is_visible()
    assert page.locator("main form, main button").count() == 0
    page.get_by_role("link", name=f"Delivery log of {body['url']}").click()
    page.wait_for_url(f"**/webhooks/{made['id']}")
    assert "No deliveries yet" in page.inner_text("#empty")
    assert page.locator("main form, main button").count() == 0
    response = page.goto(f"/webhooks/{made['id']}?cursor=nope")
    assert response.status == 400
    assert "Cursor: Not a cursor" in page.inner_text("#page-error")
    token = page.locator('input[name="csrf_token"]').first.input_value()  # the sign-out form's
    for action in ("remove", "disable", "test"):
        answer = page.request.post(f"/webhooks/{made['id']}/{action}", form={"csrf_token": token})
        assert answer.status == 403, action
        assert "A read key cannot change webhooks" in answer.text(), action
    assert [w["is_active"] for w in _webhooks(api, who)] == [True]


# CSRF


def test_a_post_without_the_sessions_csrf_token_is_refused(api: Api, page: Any) -> None:
    who = api.customer()
    sign_in(page, who.key.secret)
    page.goto("/keys")
    before = decoded(api.get(who, "/api/v1/accounts/keys/"))["data"]
    for form in ({"name": "forged"}, {"name": "forged", "csrf_token": "guessed"}):
        answer = page.request.post("/keys", form=form, max_redirects=0)
        assert answer.status == 403 and "This form was refused" in answer.text()
    token = page.locator('input[name="csrf_token"]').first.input_value()
    accepted = page.request.post("/keys", form={"name": "real", "csrf_token": token})
    assert accepted.status == 200
    after = decoded(api.get(who, "/api/v1/accounts/keys/"))["data"]
    assert [k["name"] for k in after if k["name"]] == ["real"] and len(after) == len(before) + 1


# The operator


def test_the_operator_grants_credit_and_refunds_a_charge(
    api: Api, page: Any, server: ServerProcess, backend: str
) -> None:
    who = api.customer(balance="10")
    charge = api.charged(who, "phone_find", 1)
    sign_in(page, server.admin_token)
    page.wait_for_url("**/operator")
    row = page.locator(f'tr[data-account="{who.account_id}"]')
    assert dollars(row.locator('[data-figure="balance"]').inner_text()) == api.balance(who)
    page.get_by_label("Account id").fill(who.account_id)
    page.get_by_label("Amount (USD)", exact=True).fill("1,250.125")
    page.get_by_role("button", name="Grant").click()
    page.wait_for_url("**/operator?notice=granted")
    assert api.balance(who) == Decimal("10") - Decimal("0.4") + Decimal("1250.125")
    page.get_by_label("Transaction id").fill(charge["id"])
    page.get_by_label("Reason").fill("wrong number")
    page.get_by_role("button", name="Refund").click()
    page.wait_for_url("**/operator?notice=refunded")
    assert api.balance(who) == Decimal("1260.125")
    shot(page, backend, "operator")
    page.get_by_label("Account id").fill(who.account_id)
    page.get_by_label("Amount (USD)", exact=True).fill("0.0000001")
    page.get_by_role("button", name="Grant").click()
    assert "Amount: At most 6 decimals" in page.locator("#grant-error").inner_text()
    assert api.balance(who) == Decimal("1260.125")
