"""`creditbook webhooks ...` and `creditbook dispatch --once`, run as real processes on both
databases, delivering to a real receiver on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.receiver import Receiver


def run(url: str, *args: str, allow_http: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITBOOK_")}
    env["CREDITBOOK_DATABASE_URL"] = url
    env["CREDITBOOK_WEBHOOK_ALLOW_HTTP"] = "true" if allow_http else "false"
    env["CREDITBOOK_WEBHOOK_ALLOW_PRIVATE_NETWORKS"] = "true"  # the receiver is on loopback
    return subprocess.run(
        [sys.executable, "-m", "creditbook", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_webhooks_add_list_remove_and_dispatch_once_deliver_a_top_up(db_url: str) -> None:
    made = run(db_url, "accounts", "create", "--email", "cli-hooks@example.com", "--json")
    assert made.returncode == 0, made.stderr
    account_id = json.loads(made.stdout)["id"]
    with Receiver() as receiver:
        refused = run(db_url, "webhooks", "add", account_id, receiver.url, "-e", "credits.added",
                      allow_http=False)  # fmt: skip
        assert refused.returncode == 2 and "url:" in refused.stderr
        added = run(db_url, "webhooks", "add", account_id, receiver.url, "-e", "credits.added",
                    "--json")  # fmt: skip
        assert added.returncode == 0, added.stderr
        hook = json.loads(added.stdout)
        assert hook["secret"].startswith("whsec_") and len(hook["secret"]) == 38

        listed = run(db_url, "webhooks", "list", account_id, "--json")
        assert [w["id"] for w in json.loads(listed.stdout)] == [hook["id"]]
        assert json.loads(listed.stdout)[0]["secret"].startswith("whsec_...")

        assert run(db_url, "credits", "grant", account_id, "3").returncode == 0
        sent = run(db_url, "dispatch", "--once")
        assert sent.returncode == 0, sent.stderr
        assert "1 delivery attempt(s) made." in sent.stdout
        [got] = receiver.wait_for(1)
        assert got.json["type"] == "credits.added" and got.json["data"]["amount"] == 3

    removed = run(db_url, "webhooks", "remove", account_id, hook["id"])
    assert removed.returncode == 0, removed.stderr
    assert json.loads(run(db_url, "webhooks", "list", account_id, "--json").stdout) == []
    unknown = run(db_url, "webhooks", "remove", account_id, hook["id"])
    assert unknown.returncode == 2 and "Webhook not found." in unknown.stderr
