"""`creditbook alerts`, `plans`, `events` and `worker --once`, run as real processes on both
databases."""

from __future__ import annotations

import json

from tests.e2e.test_cli import run


def _ok(url: str, *args: str) -> str:
    done = run(url, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_alerts_add_list_and_remove_from_the_command_line(db_url: str) -> None:
    account = json.loads(_ok(db_url, "accounts", "create", "--email", "cli@example.com", "--json"))
    made = json.loads(
        _ok(
            db_url,
            "alerts",
            "add",
            account["id"],
            "--kind",
            "balance",
            "--threshold",
            "25",
            "--json",
        )
    )
    assert made["state"] == "in_alarm"  # a new account holds nothing: below 25 at once
    listed = json.loads(_ok(db_url, "alerts", "list", account["id"], "--json"))
    assert made["id"] in [a["id"] for a in listed]
    _ok(db_url, "alerts", "remove", account["id"], made["id"])
    assert made["id"] not in _ok(db_url, "alerts", "list", account["id"])
    refused = run(
        db_url, "alerts", "add", account["id"], "--kind", "forecast", "--window-days", "3"
    )
    assert refused.returncode == 2 and "horizon_days" in refused.stderr


def test_a_plan_is_granted_by_one_worker_round_and_not_by_the_next(db_url: str) -> None:
    account = json.loads(_ok(db_url, "accounts", "create", "--email", "plan@example.com", "--json"))
    shown = _ok(db_url, "plans", "set", account["id"], "--allotment", "30", "--cycle-day", "1")
    assert "30 USD on day 1" in shown
    assert "renewed 1," in _ok(db_url, "worker", "--once")
    assert "renewed 0," in _ok(db_url, "worker", "--once")
    me = json.loads(_ok(db_url, "accounts", "show", account["id"], "--json"))
    assert me["balance"] == "30"
    added = json.loads(
        _ok(db_url, "events", "list", account["id"], "--type", "credits.added", "--json")
    )
    assert [e["data"]["kind"] for e in added] == ["plan"]
    _ok(db_url, "plans", "cancel", account["id"])
    assert "no plan" in _ok(db_url, "plans", "show", account["id"])
