"""The `creditbook` command, run as a real process against both databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from creditbook.storage.migrate import head_revision
from creditbook.storage.tables import accounts
from tests.conftest import engine_at


def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CREDITBOOK_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "creditbook", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_db_upgrade_migrates_a_new_database_and_commands_refuse_one_that_is_not(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    refused = run(url, "accounts", "list")
    assert refused.returncode != 0
    assert "creditbook db upgrade" in refused.stderr

    upgraded = run(url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"revision {head_revision()}" in upgraded.stdout
    assert run(url, "accounts", "list").returncode == 0


def test_verify_exits_zero_on_a_sound_ledger_and_one_with_a_report_when_broken(
    db_url: str,
) -> None:
    created = run(db_url, "accounts", "create", "--email", "cli@example.com", "--json")
    assert created.returncode == 0, created.stderr
    account_id = json.loads(created.stdout)["id"]
    granted = run(db_url, "credits", "grant", account_id, "12.5", "--json")
    assert json.loads(granted.stdout)["balance"] == "12.5"
    adjusted = run(db_url, "credits", "adjust", account_id, "--reason", "fee", "--", "-2.25")
    assert adjusted.returncode == 0, adjusted.stderr

    sound = run(db_url, "verify", "--json")
    assert sound.returncode == 0, sound.stdout + sound.stderr
    assert json.loads(sound.stdout)["ok"] is True

    with engine_at(db_url) as engine, engine.begin() as connection:
        connection.execute(
            update(accounts).where(accounts.c.id == account_id).values(reserved_micros=7)
        )
    broken = run(db_url, "verify")
    assert broken.returncode == 1
    assert f"{account_id}: reserved:" in broken.stdout
    assert "problem(s)" in broken.stdout


def test_bad_input_on_the_command_line_is_one_clear_line_and_a_non_zero_exit(
    db_url: str,
) -> None:
    result = run(db_url, "accounts", "create", "--email", "not-an-email")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: email: Must be an email address."
    missing = run(db_url, "accounts", "show", "no-such-account")
    assert missing.returncode == 2
    assert "Account not found." in missing.stderr


def test_keys_create_prints_the_secret_once_in_json(db_url: str) -> None:
    account_id = json.loads(
        run(db_url, "accounts", "create", "--email", "k@example.com", "--json").stdout
    )["id"]
    made = run(db_url, "keys", "create", account_id, "--test", "--json")
    assert made.returncode == 0, made.stderr
    secret = json.loads(made.stdout)["key"]
    assert secret.startswith("test_")
    listed = run(db_url, "keys", "list", account_id, "--json")
    assert secret not in listed.stdout
    assert json.loads(listed.stdout)[0]["test"] is True


def test_json_output_writes_timestamps_as_the_api_does_in_utc_with_z(db_url: str) -> None:
    account = json.loads(
        run(db_url, "accounts", "create", "--email", "t@example.com", "--json").stdout
    )
    run(db_url, "keys", "create", account["id"], "--json")
    key = json.loads(run(db_url, "keys", "list", account["id"], "--json").stdout)[0]
    for stamp in (account["created_at"], key["created_at"]):
        assert stamp.endswith("Z") and "+00:00" not in stamp, stamp
        assert datetime.fromisoformat(stamp.replace("Z", "+00:00")).utcoffset() == timedelta(0)
