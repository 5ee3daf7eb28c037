"""`creditbook watch` and `creditbook report`, run as real processes against a running server."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from creditbook.domain.webhooks import signing_key
from tests.e2e.api import Api, Customer, decoded, eventually, usd
from tests.e2e.server import ServerProcess

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()


def tool(server: ServerProcess, who: Customer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "creditbook", *args, "--base-url", server.base_url,
         "--key", who.key.secret],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Handler", (Receiver,), {"received": received})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", received
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_watch_once_prints_the_balance_and_exits_non_zero_only_below_the_line(
    api: Api, server: ServerProcess
) -> None:
    who = api.customer(balance="12.5")
    above = tool(server, who, "watch", "--below", "10", "--once")
    assert above.returncode == 0, above.stderr
    assert "balance 12.5 USD" in above.stdout and "ALERT" not in above.stdout
    below = tool(server, who, "watch", "--below", "20", "--once")
    assert below.returncode == 1, below.stderr
    assert "ALERT below 20 USD: balance 12.5 USD" in below.stdout


def verified(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(signing_key(SECRET)).verify(body, headers)
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    assert headers["X-Webhook-Signature"] == base64.b64encode(digest).decode()
    return payload


def test_watch_alerts_once_per_crossing_and_once_on_recovery_with_signed_notifications(
    api: Api, server: ServerProcess, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    who = api.customer(balance="12")
    command = [sys.executable, "-m", "creditbook", "watch", "--base-url", server.base_url,
               "--key", who.key.secret, "--below", "10", "--every", "0.2s",
               "--notify-url", url, "--notify-secret", SECRET]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as watcher:
        try:
            steps = [("search_database", 150), ("search_database", 10), (None, "20"),
                     ("search_database", 1000)]  # fmt: skip
            for index, (operation, amount) in enumerate(steps):
                if operation is None:
                    api.grant(who.account_id, str(amount))
                else:
                    api.charged(who, operation, int(amount))
                expected = {0: 1, 1: 1, 2: 2, 3: 3}[index]
                eventually(lambda: len(received), lambda n, e=expected: n >= e)  # type: ignore[misc]
                assert len(received) == expected, (index, received)
        finally:
            watcher.terminate()
            output, _ = watcher.communicate(timeout=30)
    payloads = [verified(h, b) for h, b in received]
    kinds = [p["type"] for p in payloads]
    assert kinds == ["balance.watch.below", "balance.watch.recovered", "balance.watch.below"]
    assert [json.loads(b, parse_float=Decimal)["balance"] for _, b in received] == [
        Decimal("9"),
        Decimal("28.8"),
        Decimal("8.8"),
    ]
    assert payloads[0]["account_id"] == who.account_id
    assert output.count("ALERT below 10 USD") == 2 and output.count("RECOVERED") == 1


def test_report_writes_usage_and_transactions_csv_whose_totals_match_the_api(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    who = api.customer(balance="50")
    for operation, units in [("search_database", 7), ("email_find", 3), ("search_database", 2)]:
        api.charged(who, operation, units)
    today = datetime.now(UTC).date().isoformat()
    done = tool(server, who, "report", "--from", today, "--to", today, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    with (tmp_path / "usage.csv").open(newline="") as f:
        usage_rows = {r["operation"]: Decimal(r["credits"]) for r in csv.DictReader(f)}
    spend = decoded(api.get(who, "/api/v1/accounts/usage/", start_date=today, end_date=today))
    assert usage_rows.pop("total") == usd(spend["data"]["total_credits"]) == Decimal("0.24")
    assert usage_rows == {k: usd(v) for k, v in spend["data"]["breakdown"].items()}
    with (tmp_path / "transactions.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    listed = api.transactions(who, limit="1000")
    assert [r["id"] for r in rows] == [t["id"] for t in listed]
    assert sum(Decimal(r["credits"]) for r in rows) == Decimal("49.76")
    assert set(rows[0]) == {"id", "timestamp", "type", "credits", "balance_type", "status"}
    assert "4 transactions" in done.stdout
