"""Every setting is documented, and settings are checked when they are read."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from creditbook.config import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented_with_its_default(name: str) -> None:
    text = DOCS.read_text()
    row = next((line for line in text.splitlines() if f"`CREDITBOOK_{name.upper()}`" in line), None)
    assert row is not None, f"CREDITBOOK_{name.upper()} is missing from docs/configuration.md"
    default = Settings.model_fields[name].default
    assert ("(none)" if default is None else f"`{default}`") in row


def test_a_money_setting_finer_than_a_micro_dollar_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError):
        Settings(preview_tier_threshold_usd="0.0000001")  # type: ignore[arg-type]


def test_none_turns_the_default_monthly_limit_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITBOOK_DEFAULT_MONTHLY_LIMIT_USD", "none")
    assert Settings().default_monthly_limit_micros is None
