"""The example service of examples/metered_service, metered by `creditbook.metering` against a
real creditbook server: settled by the units used, cancelled on failure, refused without funds."""

from __future__ import annotations

import asyncio
import importlib.util
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import httpx

from tests.e2e.api import Api, Customer
from tests.e2e.server import ServerProcess

EXAMPLE = Path(__file__).parents[2] / "examples" / "metered_service" / "app.py"


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("metered_service_app", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call(server: ServerProcess, who: Customer, path: str) -> httpx.Response:
    app = example().create_app(base_url=server.base_url, key=who.key.secret)

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.get(path)

    return asyncio.run(run())


def test_a_metered_route_is_settled_by_the_units_it_used_and_answers_with_the_receipt(
    api: Api, server: ServerProcess
) -> None:
    who = api.customer(balance="10")
    response = call(server, who, "/search?q=lead-1&limit=50")
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]) == 11  # lead-1, lead-10 … lead-19
    assert response.headers["x-creditbook-charged"] == "0.22"
    assert response.headers["x-creditbook-balance"] == "9.78"
    settled = api.transactions(who, type="search_database")
    assert [t["id"] for t in settled] == [response.headers["x-creditbook-transaction"]]
    assert settled[0]["details"]["reserved_units"] == 50 and settled[0]["details"]["units"] == 11
    assert api.balance(who) == Decimal("9.78")


def test_a_failing_metered_route_cancels_its_reservation_and_charges_nothing(
    api: Api, server: ServerProcess
) -> None:
    who = api.customer(balance="10")
    response = call(server, who, "/email?name=boom")
    assert response.status_code == 503
    assert "x-creditbook-charged" not in response.headers
    assert api.balance(who) == Decimal(10)
    assert api.me(who)["credits"]["reserved"] == 0
    assert [t["details"]["status"] for t in api.transactions(who, type="email_find")] == ["error"]
    nothing = call(server, who, "/email")
    assert nothing.status_code == 200 and nothing.headers["x-creditbook-charged"] == "0"
    found = call(server, who, "/email?name=jo")
    assert found.json() == {"email": "jo@example.com"}
    assert found.headers["x-creditbook-charged"] == "0.02"


def test_a_refused_reservation_answers_402_and_the_route_does_not_run(
    api: Api, server: ServerProcess
) -> None:
    who = api.customer(balance="0.5")
    response = call(server, who, "/search?q=lead&limit=30")  # 0.60 of worst case
    assert response.status_code == 402
    assert response.json()["detail"] == "Insufficient funds in the account."
    assert api.balance(who) == Decimal("0.5")
    assert api.transactions(who, type="search_database") == []
