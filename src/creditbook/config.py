"""Settings: read once from the environment (prefix `CREDITBOOK_`) at the edge, then passed in.

Nothing in the package reads the environment anywhere else. Every setting has a default and a
description; `docs/configuration.md` lists them all and a test keeps the two in step.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from creditbook import limits
from creditbook.errors import InvalidInput
from creditbook.money import parse_usd


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CREDITBOOK_", extra="forbid", frozen=True, env_parse_none_str="none"
    )

    database_url: str = Field(
        "sqlite:///creditbook.db",
        description="Where the ledger lives: `sqlite:///path/to/file.db` (embedded, the "
        "default) or `postgresql://user:password@host:5432/dbname`.",
    )
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = Field(
        "FULL",
        description="SQLite durability. FULL: a commit survives power loss. NORMAL is faster "
        "and may lose the last commits on power loss (never corrupts).",
    )
    sqlite_busy_timeout_ms: int = Field(
        10_000, ge=0, le=600_000, description="How long SQLite waits for another writer's lock."
    )
    db_pool_size: int = Field(8, ge=1, le=256, description="Reader connections per process.")
    ledger_threads: int = Field(
        32,
        ge=1,
        le=limits.ledger_threads_max,
        description="Worker threads for HTTP reservations, settles and cancels, which wait on the "
        "ledger writer (calls beyond this queue on the event loop). Charges need none.",
    )
    group_commit_size_max: int = Field(
        1024,
        ge=1,
        le=limits.group_commit_size_max,
        description="Most commands one writer transaction carries (group commit).",
    )
    group_commit_wait_us: int = Field(
        500,
        ge=0,
        le=limits.group_commit_wait_us_max,
        description="Longest the writer waits, before starting a transaction, for as many "
        "callers as its last transaction served (it never waits for a lone caller). 0: no wait.",
    )
    key_cache_ttl_s: int = Field(
        5,
        ge=0,
        le=limits.key_cache_ttl_s_max,
        description="How long a process remembers an API key it authenticated, to spare a "
        "read per request. A key revoked through this process stops working at once; one "
        "revoked through another process (the CLI, another server) within this time. 0: off.",
    )
    preview_tier_threshold_usd: Decimal = Field(
        Decimal(2000),
        ge=0,
        description="Spend in the current UTC month from which `preview` costs nothing.",
    )
    reservation_ttl_s: int = Field(
        900,
        ge=limits.reservation_ttl_s_min,
        le=limits.reservation_ttl_s_max,
        description="How long a reservation holds credit when the caller names no TTL.",
    )
    default_monthly_limit_usd: Decimal | None = Field(
        Decimal(10_000),
        ge=0,
        description="Monthly spending cap given to new accounts; `none` for no cap.",
    )
    default_overdraft_limit_usd: Decimal = Field(
        Decimal(0), ge=0, description="How far below zero new accounts may go."
    )
    admin_token: SecretStr | None = Field(
        None, description="Operator token for the admin API; the admin API is off without it."
    )
    host: str = Field("127.0.0.1", description="Address `creditbook serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `creditbook serve` listens on.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least severe log level written."
    )

    @model_validator(mode="after")
    def _amounts_are_exact(self) -> Settings:
        # Money settings must convert to whole micro-USD; refuse them at start-up, not later.
        try:
            _ = (
                self.preview_threshold_micros,
                self.default_monthly_limit_micros,
                self.default_overdraft_limit_micros,
            )
        except InvalidInput as error:
            raise ValueError(f"{error.field}: {error.message}") from None
        return self

    @property
    def preview_threshold_micros(self) -> int:
        return parse_usd(self.preview_tier_threshold_usd, field="preview_tier_threshold_usd")

    @property
    def default_monthly_limit_micros(self) -> int | None:
        value = self.default_monthly_limit_usd
        return None if value is None else parse_usd(value, field="default_monthly_limit_usd")

    @property
    def default_overdraft_limit_micros(self) -> int:
        return parse_usd(self.default_overdraft_limit_usd, field="default_overdraft_limit_usd")
