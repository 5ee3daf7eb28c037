"""A small client of the creditbook HTTP API for end-to-end tests.

Money never passes through a float: responses are parsed with `parse_float=Decimal`, and
request bodies are written with exact decimal numbers (simplejson's Decimal support).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import simplejson

ENVELOPE_KEYS = {"status", "status_code", "detail"}
T = TypeVar("T")


def decoded(response: httpx.Response) -> Any:
    """The JSON body with every non-integer number as an exact Decimal."""
    return json.loads(response.text, parse_float=Decimal)


def exact_json(body: Any) -> bytes:
    """JSON text of `body` with Decimal values written as exact JSON numbers."""
    return simplejson.dumps(body, use_decimal=True).encode()


def usd(value: Any) -> Decimal:
    """A money figure from a response: a JSON number (int or exact Decimal), never a float,
    never a boolean, never a string."""
    assert type(value) in (int, Decimal), f"not a JSON number of USD: {value!r}"
    return Decimal(value)


def instant(text: str) -> datetime:
    """An ISO 8601 time with an offset (`Z` allowed), as an aware datetime."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, f"no UTC offset in {text!r}"
    return parsed


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def assert_error(
    response: httpx.Response,
    status: int,
    detail: Any = None,
    *,
    field: str | None = None,
) -> Any:
    """The response is the error envelope with this status and a request id; returns detail.

    `detail` checks the detail exactly; `field` checks that a validation map names the field.
    """
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("content-type", "").startswith("application/json")
    assert response.headers.get("x-request-id"), "error without X-Request-Id"
    body = decoded(response)
    assert set(body) == ENVELOPE_KEYS, body
    assert body["status"] == "error"
    assert body["status_code"] == status
    assert type(body["status_code"]) is int
    if detail is not None:
        assert body["detail"] == detail, body["detail"]
    if field is not None:
        problems = body["detail"]
        assert isinstance(problems, dict), problems
        assert field in problems, problems
        messages = problems[field]
        assert isinstance(messages, list) and messages, problems
        assert all(isinstance(m, str) and m for m in messages), problems
    return body["detail"]


def eventually(probe: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 10.0) -> T:
    """Call `probe` until `done(result)` or the time is up; return the last result."""
    deadline = time.monotonic() + timeout_s
    result = probe()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(0.05)
        result = probe()
    return result


# Shapes: a few JSON Schema words, enough to write the reference's response schemas down.

STRING: dict[str, Any] = {"type": "string"}
DATE_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
NUMBER: dict[str, Any] = {"type": "number"}
INTEGER: dict[str, Any] = {"type": "integer"}
BOOLEAN: dict[str, Any] = {"type": "boolean"}


def obj(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def mapping(values: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": values}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def _type_ok(value: Any, kind: str) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str),
        "number": lambda v: type(v) in (int, Decimal),
        "integer": lambda v: type(v) is int,
        "boolean": lambda v: type(v) is bool,
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
    }
    return checks[kind](value)


def shape_problems(value: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """Where `value` does not have `schema`'s shape: every listed property must be present
    with its JSON type (extra properties are allowed)."""
    if value is None:
        return [] if schema.get("nullable") else [f"{path}: null, expected {schema['type']}"]
    if not _type_ok(value, schema["type"]):
        return [f"{path}: {type(value).__name__} {value!r:.60}, expected {schema['type']}"]
    problems: list[str] = []
    if schema.get("format") == "date-time":
        try:
            instant(value)
        except (ValueError, AssertionError):
            problems.append(f"{path}: {value!r} is not an ISO 8601 date-time with an offset")
    for name, sub in schema.get("properties", {}).items():
        if name not in value:
            problems.append(f"{path}.{name}: missing")
        else:
            problems += shape_problems(value[name], sub, f"{path}.{name}")
    if "additionalProperties" in schema:
        for name, item in value.items():
            problems += shape_problems(item, schema["additionalProperties"], f"{path}.{name}")
    if "items" in schema:
        for index, item in enumerate(value):
            problems += shape_problems(item, schema["items"], f"{path}[{index}]")
    return problems


@dataclass(frozen=True, slots=True)
class Key:
    id: str
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.secret}"}


@dataclass(frozen=True, slots=True)
class Customer:
    account_id: str
    email: str
    key: Key

    @property
    def headers(self) -> dict[str, str]:
        return self.key.headers


Caller = Customer | Key


class Api:
    """The server as an operator and its customers see it."""

    def __init__(self, client: httpx.Client, admin_token: str) -> None:
        self.client = client
        self.admin_token = admin_token

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.admin_token}"}

    # Raw requests

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """A request with an exact-JSON body (when `body` is given)."""
        all_headers = dict(headers or {})
        content = None
        if body is not None:
            content = exact_json(body)
            all_headers.setdefault("Content-Type", "application/json")
        return self.client.request(
            method, path, headers=all_headers, content=content, params=params
        )

    def admin(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.send(
            method, f"/api/v1/admin{path}", headers=self.admin_headers, body=body, **kw
        )

    def get(self, who: Caller, path: str, **params: str) -> httpx.Response:
        return self.client.get(path, headers=who.headers, params=params)

    def post(
        self, who: Caller, path: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return self.send("POST", path, headers={**who.headers, **(headers or {})}, body=body)

    # The operator's side

    def create_account(self, **fields: Any) -> dict[str, Any]:
        body = {"email": f"e2e-{uuid.uuid4().hex[:12]}@example.com", **fields}
        response = self.admin("POST", "/accounts/", body)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = decoded(response)["data"]
        return data

    def create_key(self, account_id: str, **fields: Any) -> Key:
        response = self.admin("POST", f"/accounts/{account_id}/keys/", fields)
        assert response.status_code == 201, response.text
        data = decoded(response)["data"]
        return Key(data["id"], data["key"])

    def grant(self, account_id: str, amount: str | Decimal, **fields: Any) -> dict[str, Any]:
        body = {"amount": Decimal(amount), **fields}
        response = self.admin("POST", f"/accounts/{account_id}/grants/", body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = decoded(response)
        return result

    def customer(
        self,
        *,
        balance: str | None = "100",
        monthly_limit: str | None = "10000",
        **key_fields: Any,
    ) -> Customer:
        """A new account with a full live key (unless `key_fields` say otherwise) and,
        when `balance` is given, that much credit."""
        limit = None if monthly_limit is None else Decimal(monthly_limit)
        account = self.create_account(monthly_limit=limit)
        key = self.create_key(account["id"], **key_fields)
        if balance is not None:
            self.grant(account["id"], balance)
        return Customer(account["id"], account["email"], key)

    # The customer's side

    def charge(
        self,
        who: Caller,
        operation: str = "search_database",
        units: int = 1,
        headers: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> httpx.Response:
        body = {"operation": operation, "units": units, **fields}
        return self.post(who, "/api/v1/charges/", body, headers)

    def charged(self, who: Caller, operation: str = "search_database", units: int = 1) -> Any:
        """A charge that must succeed; its transaction."""
        response = self.charge(who, operation, units)
        assert response.status_code == 201, response.text
        return decoded(response)["data"]

    def me(self, who: Caller) -> dict[str, Any]:
        response = self.get(who, "/api/v1/accounts/me/")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = decoded(response)["data"]
        return data

    def balance(self, who: Caller) -> Decimal:
        return usd(self.me(who)["credits"]["balance"])

    def transactions(self, who: Caller, **params: str) -> list[dict[str, Any]]:
        response = self.get(who, "/api/v1/accounts/transactions/", **params)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = decoded(response)["data"]["transactions"]
        return rows

    def transaction_ids(self, who: Caller, **params: str) -> list[str]:
        return [t["id"] for t in self.transactions(who, **params)]

    def analytics(self, who: Caller, **params: str) -> dict[str, Any]:
        response = self.get(who, "/api/v1/accounts/tokens/analytics/", **params)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = decoded(response)["data"]
        return data
