"""Schemathesis against creditbook's own /openapi.json, on a real uvicorn server.

For each database (SQLite always; PostgreSQL as the rest of the suite has it), `creditbook db
upgrade` and `creditbook serve` run as real processes with an admin token, and an account with
credit, a full key, a read key and a test key are made through the admin API. The schema is
read from the running server and every operation is called by each kind of caller: a full key,
a read key, a test key, an unknown key, no key, and the operator token. On every answer: no 5xx,
and every 4xx/5xx body is the envelope `{"status": "error", "status_code": N, "detail": ...}`
with N the HTTP status.

The OpenAPI document declares none of the query parameters that the GET handlers read, so
schemathesis cannot reach them; a second, derandomized Hypothesis test sends those parameters
(the names the handlers accept, with awkward values) and holds the same two checks.

Both runs are bounded (`MAX_EXAMPLES`, `QUERY_EXAMPLES`) and deterministic: a fixed seed,
derandomized Hypothesis, no example database. Each request carries its own `X-Request-Id`, so a
500 is matched to the traceback the server logged for it: a 500 whose traceback is one of
`KNOWN_500S` is let through (each has a strict-xfail regression test below, a plain httpx
request); any other 500 fails with its traceback in the message. When a known bug is fixed its
regression test XPASSes and fails strictly: then drop its `xfail` mark and its `KNOWN_500S` line.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

ADMIN_TOKEN = "fuzz-admin-token-0123456789"
UNKNOWN_KEY = "cb_0000000000000000000000000000000000000000"
CREDENTIALS = ["full", "read", "test", "unknown", "none", "admin"]
# Fuzzed cases per operation and caller, on top of the examples and coverage phases; raise it
# for a deeper run, e.g. FUZZ_MAX_EXAMPLES=200 (the default keeps the file near two minutes).
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
QUERY_EXAMPLES = 300
SEED = 20260305
START_TIMEOUT_S = 60.0
ENVELOPE_KEYS = {"status", "status_code", "detail"}

# Known causes of a 500, by what the server's logged traceback contains. Each has a strict
# xfail regression test below; remove the line together with that test's xfail mark.
KNOWN_500S: dict[str, tuple[str, ...]] = {}

CONFIG = {
    "seed": SEED,
    "generation": {
        "mode": "all",
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        "database": "none",
    },
}

request_ids = itertools.count(1)


# The server


@dataclass
class Live:
    """A running `creditbook serve` and what was made in it for the callers."""

    base_url: str
    log_path: Path
    account_id: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    http: httpx.Client | None = None

    def headers(self, credential: str) -> dict[str, str]:
        """`Authorization` for a kind of caller, and a request id to find the server's log."""
        headers = {"X-Request-Id": f"fuzz-{credential}-{next(request_ids)}"}
        if credential == "admin":
            headers["Authorization"] = f"Token {ADMIN_TOKEN}"
        elif credential == "unknown":
            headers["Authorization"] = f"Token {UNKNOWN_KEY}"
        elif credential != "none":
            headers["Authorization"] = f"Token {self.secrets[credential]}"
        return headers

    def client(self, credential: str) -> httpx.Client:
        headers = self.headers(credential)
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def get(self, credential: str, path: str, params: dict[str, str]) -> httpx.Response:
        """One GET on a connection kept for the whole test (a new client costs ~30 ms)."""
        if self.http is None:
            self.http = httpx.Client(base_url=self.base_url, timeout=30)
        return self.http.get(path, params=params, headers=self.headers(credential))

    def traceback_of(self, request_id: str) -> str | None:
        """What the server logged for an unhandled error in this request, if anything."""
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("request_id") == request_id and record.get("level") == "error":
                return str(record.get("error", record.get("message", "")))
        return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _creditbook() -> list[str]:
    script = Path(sys.executable).with_name("creditbook")
    return [str(script)] if script.exists() else [sys.executable, "-m", "creditbook"]


def _ready(process: subprocess.Popen[bytes], base_url: str) -> bool:
    """Whether the server answers /readyz; False if it exited (say, the port was taken)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _made(response: httpx.Response) -> Any:
    assert response.status_code == 201, response.text
    return response.json()["data"]


def _populate(live: Live) -> None:
    """An account with credit, its three keys, a spare key, a charge and a reservation."""
    with live.client("admin") as admin:
        made = _made(admin.post("/api/v1/admin/accounts/", json={"email": "fuzz@example.com"}))
        live.account_id = made["id"]
        account = f"/api/v1/admin/accounts/{live.account_id}"
        _made(admin.post(f"{account}/grants/", json={"amount": 1000}))
        for name, body in (
            ("full", {"name": "full", "scope": "full"}),
            ("read", {"name": "read", "scope": "read"}),
            ("test", {"name": "test", "scope": "full", "test": True}),
            ("spare", {"name": "spare", "scope": "full"}),
        ):
            key = _made(admin.post(f"{account}/keys/", json=body))
            live.secrets[name] = key["key"]
            live.ids[f"{name}_key"] = key["id"]
    with live.client("full") as full:
        charge = {"operation": "search_database", "units": 5}
        live.ids["transaction"] = _made(full.post("/api/v1/charges/", json=charge))["id"]
        hold = {**charge, "ttl_s": 3600}
        live.ids["reservation"] = _made(full.post("/api/v1/reservations/", json=hold))["id"]


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[Live]:
    """`creditbook db upgrade`, then `creditbook serve` on a free port, with the callers made."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITBOOK_")}
    env.update(
        CREDITBOOK_ADMIN_TOKEN=ADMIN_TOKEN, CREDITBOOK_LOG_LEVEL="warning", PYTHONUNBUFFERED="1"
    )
    upgraded = subprocess.run(
        [*_creditbook(), "db", "upgrade", "--database-url", db_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    log_path = tmp_path / "server.log"
    for _attempt in range(3):  # a free port can be taken before the server binds it
        port = _free_port()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [*_creditbook(), "serve", "--port", str(port), "--database-url", db_url],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        served = Live(base_url=f"http://127.0.0.1:{port}", log_path=log_path)
        if _ready(process, served.base_url):
            break
        _stop(process)
    else:
        pytest.fail(f"creditbook serve did not start:\n{log_path.read_text(errors='replace')}")
    try:
        _populate(served)
        yield served
    finally:
        if served.http is not None:
            served.http.close()
        _stop(process)
        # Shown by pytest only when the test failed: the server's own account of any 500.
        print(log_path.read_text(errors="replace")[-10_000:])


# The checks, shared by the schemathesis run, the query-parameter run and the regressions


def envelope_problem(status: int, content: bytes) -> str | None:
    """Why a 4xx/5xx body is not {"status": "error", "status_code": N, "detail": ...}."""
    if status < 400:
        return None
    try:
        body = json.loads(content)
    except ValueError:
        return f"the {status} answer is not JSON: {content[:300]!r}"
    if not isinstance(body, dict) or set(body) != ENVELOPE_KEYS:
        return f"the {status} answer is not the error envelope: {body!r}"
    code, detail = body["status_code"], body["detail"]
    problems = [
        (body["status"] != "error", f"status is {body['status']!r}, not 'error'"),
        (type(code) is not int or code != status, f"status_code is {code!r}, HTTP {status}"),
        (not isinstance(detail, str | dict) or not detail, f"detail is odd: {detail!r}"),
    ]
    return next((message for failed, message in problems if failed), None)


def known_cause(live: Live, request_id: str) -> str | None:
    """Which of `KNOWN_500S` the server's traceback for this request shows, if any."""
    logged = live.traceback_of(request_id) or ""
    for cause, marks in KNOWN_500S.items():
        if all(mark in logged for mark in marks):
            return cause
    return None


def server_error_problem(live: Live, status: int, request_id: str) -> str | None:
    if status < 500 or known_cause(live, request_id) is not None:
        return None
    logged = (live.traceback_of(request_id) or "(nothing logged for this request)").splitlines()
    # creditbook's own frames and the exception: enough to tell the cause
    ours = [
        n for n, line in enumerate(logged) if "/creditbook/" in line and "site-packages" not in line
    ]
    shown = [line for n in ours for line in logged[n : n + 2]] + logged[-1:]
    return f"{status} for request {request_id}; the server logged:\n" + "\n".join(shown)


def error_envelope(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Any
) -> None:
    """Every 4xx/5xx body is {"status": "error", "status_code": N, "detail": ...}, N the status."""
    problem = envelope_problem(response.status_code, response.content)
    if problem is not None:
        raise AssertionError(problem)


def checks_for(live: Live) -> list[schemathesis.CheckFunction]:
    def not_a_server_error_unless_known(
        ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Any
    ) -> None:
        """schemathesis' `not_a_server_error`, except for a 500 of a known cause."""
        request_id = str(response.request.headers.get("X-Request-Id", ""))
        problem = server_error_problem(live, response.status_code, request_id)
        if response.status_code >= 500 and problem is None:
            return  # a known cause
        if problem is not None:
            print(problem)  # the traceback, shown with the failure
        not_a_server_error(ctx, response, case)

    return [not_a_server_error_unless_known, error_envelope]


# The schemathesis run


@pytest.fixture(params=CREDENTIALS)
def credential(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32.5's `from_fixture` reads and writes `request.node._nodeid`, which
    pytest 9.2 no longer has (node ids became `_id`); give it the attribute it expects."""
    node = request.node
    if not hasattr(node, "_nodeid"):
        node._nodeid = node.nodeid


@pytest.fixture
def api_schema(live: Live) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict(CONFIG)
    return schemathesis.openapi.from_url(f"{live.base_url}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


def _aim_at_real_objects(case: schemathesis.Case, live: Live) -> None:
    """Half the generated ids (chosen by value, so runs repeat) become ids that exist."""
    real = {
        "account_id": live.account_id,
        "key_id": live.ids["spare_key"],
        "transaction_id": live.ids["transaction"],
        "reservation_id": live.ids["reservation"],
    }

    def swap(value: object) -> bool:
        return zlib.crc32(repr(value).encode()) % 2 == 0

    for name, value in list((case.path_parameters or {}).items()):
        if name in real and swap(value):
            case.path_parameters[name] = real[name]
    if isinstance(case.body, dict) and "account_id" in case.body and swap(case.body):
        case.body["account_id"] = live.account_id


@pytest.mark.slow
@pytest.mark.usefixtures("credential", "node_id_for_schemathesis")
@schema.parametrize()
def test_every_operation_answers_each_caller_without_a_5xx_and_errors_in_the_envelope(
    case: schemathesis.Case, live: Live, credential: str
) -> None:
    _aim_at_real_objects(case, live)
    headers = live.headers(credential)
    response = case.call(headers=headers, timeout=30)
    case.validate_response(response, checks=checks_for(live), headers=headers)


# The query parameters the OpenAPI document does not declare

SIDES = ("gte", "gt", "lte", "lt")
HISTORY = ["limit", "offset", "cursor", "format", "status", "type"] + [
    f"{base}__{side}"
    for base in ("created_at", "amount", "credits", "after_balance")
    for side in SIDES
]
QUERIES = [
    ("full", "/api/v1/accounts/usage/", ["timezone", "period", "start_date", "end_date"]),
    ("full", "/api/v1/accounts/usage/", ["period_month", "timezone", "period"]),
    ("full", "/api/v1/accounts/transactions/", HISTORY),
    ("test", "/api/v1/accounts/transactions/", HISTORY),
    (
        "full",
        "/api/v1/accounts/tokens/analytics/",
        ["client_id", "token", "start_date", "end_date", "timezone"],
    ),
    ("admin", "/api/v1/admin/accounts/", ["limit", "after"]),
]
OFFSETS = ["", "Z", "z", "+00:00", "+14:00", "-12:00", "+23:59", "-23:59"]
WORDS = [
    *("UTC", "Europe/Kyiv", "Pacific/Kiritimati", "Etc/GMT+12", "Etc/GMT-14", "Nowhere/Else"),
    *("day", "week", "month", "year", "json", "csv", "pending", "success", "error"),
    *("search_database", "top_up", "adjustment", "refund", "../etc", "\x00", "é", "%", "a" * 300),
]
EDGES = {
    "date": ["0001-01-01", "1970-01-02", "2028-02-29", "2999-12-31", "3000-01-01", "9999-12-31"],
    "month": ["0000-01", "0001-01", "1970-01", "2026-00", "2026-13", "2999-12", "9999-12"],
    "moment": [
        "0001-01-01T00:00:00+23:59",
        "1971-01-01T00:00:00+14:00",
        "2999-12-31T23:59:59-23:59",
        "9999-12-31T23:59:59-23:59",
    ],
    "amount": ["-0", "0.000001", "0.0000001", "1e400", "1E-400", "NaN", "-Infinity", "1000000001"],
    "integer": ["-1", "0", "1000", "1001", "999999999999999999", "9999999999999999999"],
}
instants = st.builds(
    lambda moment, offset: moment.isoformat() + offset, st.datetimes(), st.sampled_from(OFFSETS)
)
dates = st.dates().map(date.isoformat)
VALUES = {
    "date": st.one_of(dates, instants),
    "month": st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}"),
    "moment": st.one_of(instants, dates),
    "amount": st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True).map(str), st.integers().map(str)
    ),
    "integer": st.integers().map(str),
}
KIND = {
    **dict.fromkeys(("start_date", "end_date"), "date"),
    "period_month": "month",
    **{f"created_at__{side}": "moment" for side in SIDES},
    **{
        f"{base}__{side}": "amount"
        for base in ("amount", "credits", "after_balance")
        for side in SIDES
    },
    **dict.fromkeys(("limit", "offset"), "integer"),
}


def query_value(name: str) -> st.SearchStrategy[str]:
    """A value of the kind the parameter takes (often an edge), or else any word or text."""
    junk = st.one_of(st.sampled_from(WORDS), st.text(max_size=12))
    if name not in KIND:
        return junk
    kind = KIND[name]
    return st.one_of(st.sampled_from(EDGES[kind]), VALUES[kind], junk)


queries = st.sampled_from(QUERIES).flatmap(
    lambda q: st.tuples(
        st.just(q[0]),
        st.just(q[1]),
        st.lists(st.sampled_from(q[2]), max_size=3, unique=True).flatmap(
            lambda names: st.fixed_dictionaries({name: query_value(name) for name in names})
        ),
    )
)


@pytest.mark.slow
@settings(
    max_examples=QUERY_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(query=queries)
def test_query_parameters_the_document_omits_never_cause_a_5xx_and_errors_are_enveloped(
    live: Live, query: tuple[str, str, dict[str, str]]
) -> None:
    credential, path, params = query
    response = live.get(credential, path, params)
    request_id = response.request.headers["X-Request-Id"]
    problem = server_error_problem(live, response.status_code, request_id)
    problem = problem or envelope_problem(response.status_code, response.content)
    assert problem is None, f"GET {response.request.url} as {credential}: {problem}"


# Regressions: what the runs above (and probing beyond them) found. Each asserts the behaviour
# we want and xfails strictly until the bug is fixed; a fixed one stays as a plain test.


def _no_server_error(response: httpx.Response) -> None:
    request = response.request
    shown = f"{request.method} {request.url} {request.content[:200]!r}"
    assert response.status_code < 500, f"{shown} -> {response.status_code} {response.text}"
    problem = envelope_problem(response.status_code, response.content)
    assert problem is None, f"{shown} -> {problem}"


def test_a_test_key_batch_with_no_valid_charge_is_answered_like_a_live_key_batch(
    live: Live,
) -> None:
    with live.client("test") as test:
        for body in ({"charges": [{}]}, {"charges": []}):
            answer = test.post("/api/v1/charges/batch/", json=body)
            _no_server_error(answer)
            assert answer.status_code == 200
            assert answer.json()["meta"]["succeeded"] == 0


def test_dates_at_the_end_of_the_calendar_are_refused_and_leave_the_account_readable(
    live: Live,
) -> None:
    """Found by this file, fixed in 86feac5 (dates now 1970-2999): `period_month=9999-12`
    (ValueError in month_range) and `end_date=9999-12-31` (OverflowError in usage_window) were
    500s, and a grant dated past 9999-12-31 in UTC was taken with 201, after which every read
    of the account (me, transactions, the admin's account and list) was a 500."""
    with live.client("full") as full:
        for params in ({"period_month": "9999-12"}, {"end_date": "9999-12-31"}):
            _no_server_error(full.get("/api/v1/accounts/usage/", params=params))
    with live.client("admin") as admin:
        for moment in (
            {"expires_at": "9999-12-31T23:59:59-23:59"},
            {"effective_at": "9999-12-31T23:59:59.999999-12:00"},
        ):
            grant = {"amount": 10, **moment}
            _no_server_error(
                admin.post(f"/api/v1/admin/accounts/{live.account_id}/grants/", json=grant)
            )
        _no_server_error(admin.get(f"/api/v1/admin/accounts/{live.account_id}/"))
        _no_server_error(admin.get("/api/v1/admin/accounts/"))
    with live.client("full") as full:
        _no_server_error(full.get("/api/v1/accounts/me/"))
        _no_server_error(full.get("/api/v1/accounts/transactions/"))


SURROGATE = "LONE-SURROGATE"  # becomes the JSON escape \ud800 wherever it is in a string


def with_lone_surrogate(body: dict[str, Any]) -> bytes:
    """JSON text with a lone surrogate: valid JSON, read by Python, not encodable as UTF-8."""
    return json.dumps(body).replace(SURROGATE, "\\ud800").encode()


def test_a_charge_with_a_lone_surrogate_in_its_details_is_refused_and_writes_nothing(
    live: Live,
) -> None:
    body = with_lone_surrogate(
        {"operation": "search_database", "units": 1, "details": {"x": SURROGATE}}
    )
    json_type = {"Content-Type": "application/json"}
    with live.client("full") as full:
        before = full.get("/api/v1/accounts/me/").json()["data"]["credits"]["balance"]
        charged = full.post("/api/v1/charges/", content=body, headers=json_type)
        _no_server_error(charged)
        _no_server_error(full.get("/api/v1/accounts/transactions/"))
        after = full.get("/api/v1/accounts/me/").json()["data"]["credits"]["balance"]
    assert charged.status_code == 400
    assert after == before


def test_lone_surrogates_in_any_stored_text_are_refused_with_a_400(live: Live) -> None:
    account = f"/api/v1/admin/accounts/{live.account_id}"
    usage = {"operation": "search_database", "units": 1, "details": {"x": SURROGATE}}
    writes: list[tuple[str, str, str, dict[str, Any]]] = [
        ("admin", "POST", "/api/v1/admin/accounts/", {"email": "a@x.io", "name": SURROGATE}),
        ("admin", "POST", "/api/v1/admin/accounts/", {"email": f"{SURROGATE}@x.io"}),
        ("admin", "PATCH", f"{account}/", {"plan": SURROGATE}),
        ("admin", "POST", f"{account}/keys/", {"client_id": SURROGATE}),
        ("admin", "POST", f"{account}/grants/", {"amount": 1, "note": SURROGATE}),
        ("admin", "POST", f"{account}/adjustments/", {"amount": 1, "reason": SURROGATE}),
        ("full", "POST", "/api/v1/accounts/keys/", {"name": SURROGATE}),
        ("full", "POST", "/api/v1/reservations/", usage),
        ("full", "POST", "/api/v1/charges/batch/", {"charges": [usage]}),
    ]
    failures = []
    for credential, method, path, body in writes:
        with live.client(credential) as client:
            answer = client.request(
                method,
                path,
                content=with_lone_surrogate(body),
                headers={"Content-Type": "application/json"},
            )
        if path.endswith("/batch/") and answer.status_code == 200:
            refused = answer.json()["data"][0]["status"] == 400
        else:
            refused = answer.status_code == 400
        if not refused:
            failures.append(f"{method} {path} {body}: {answer.status_code} {answer.text[:100]}")
    with live.client("full") as full:
        failures += [
            f"then GET {path}: {answer.status_code}"
            for path in ("/api/v1/accounts/me/", "/api/v1/accounts/transactions/")
            if (answer := full.get(path)).status_code != 200
        ]
    assert not failures, "\n".join(failures)
