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
from creditbook.domain.alerts import parse_specs
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
    route_threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description="Threads that run the plain (non-async) routes: reads, exports, the admin "
        "API, the dashboard; at most `db_pool_size`. Unset: on SQLite, whose reads are CPU work, "
        "the number of CPUs (at least 2), since more threads only contend for the GIL; on "
        "PostgreSQL, `db_pool_size`, so reads can wait on the server side by side.",
    )
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
    session_secret: SecretStr | None = Field(
        None,
        description="Key that signs dashboard session cookies. Unset: a random key per process "
        "(sessions end when it restarts); set it when several processes serve one dashboard.",
    )
    host: str = Field("127.0.0.1", description="Address `creditbook serve` listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port `creditbook serve` listens on.")
    auth_failures_max: int = Field(
        20,
        ge=1,
        le=limits.auth_failures_setting_max,
        description="Failed authentications (unknown, malformed or revoked key, wrong admin "
        "token) one client address may make within `auth_failure_window_s`; after that its "
        "requests get 429 with `Retry-After` until the window ends. Counted per process.",
    )
    auth_failure_window_s: int = Field(
        60,
        ge=1,
        le=limits.auth_failure_window_s_max,
        description="The window of `auth_failures_max`, in seconds.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least severe log level written."
    )
    webhook_allow_http: bool = Field(
        False,
        description="Accept plain `http://` webhook URLs (local development only); otherwise "
        "every webhook URL must be `https://`.",
    )
    webhook_allow_private_networks: bool = Field(
        False,
        description="Deliver webhooks to loopback, private (RFC 1918, fc00::/7), link-local "
        "(169.254.0.0/16, fe80::/10), multicast and reserved addresses (local development "
        "only). Otherwise such URLs are refused when registered, and a delivery whose host "
        "resolves to one fails without retry.",
    )
    webhook_timeout_s: float = Field(
        10.0, gt=0, le=60, description="How long one webhook delivery may take, in seconds."
    )
    webhook_attempts_max: int = Field(
        10,
        ge=1,
        le=limits.webhook_attempts_max,
        description="Attempts per delivery before it is marked failed (the first try included).",
    )
    webhook_backoff_base_s: float = Field(
        30.0,
        gt=0,
        le=86_400,
        description="Wait before the first retry; each further retry waits twice as long, "
        "within ±20% jitter.",
    )
    webhook_backoff_max_s: float = Field(
        21_600.0, gt=0, le=7 * 86_400, description="Longest wait between two retries."
    )
    webhook_disable_after_failures: int = Field(
        20,
        ge=1,
        le=10_000,
        description="Failed attempts in a row (any delivery) after which an endpoint is "
        "disabled and a `webhook.disabled` event is written.",
    )
    webhook_lease_s: float = Field(
        60.0,
        gt=0,
        le=3_600,
        description="How long a dispatcher holds a delivery it claimed; must exceed "
        "`webhook_timeout_s`. Another dispatcher may retry it after the lease.",
    )
    dispatch_interval_s: float = Field(
        1.0,
        gt=0,
        le=3_600,
        description="How long the webhook dispatcher sleeps when nothing is due.",
    )

    default_alerts: str = Field(
        "balance:10,monthly_percent:80,monthly_percent:100,forecast:7:7",
        description="Alert thresholds every new account gets, comma-separated: "
        "`balance:USD` (balance below), `monthly_percent:P` (P% of the monthly limit spent), "
        "`forecast:N:D` (at the burn rate of the last N days the balance runs out within D "
        "days). Empty for none.",
    )
    alert_margin_percent: int = Field(
        10,
        ge=0,
        le=100,
        description="Dead band of balance and monthly alerts, in percent of the line: an alarm "
        "resolves only once the figure is back past the line by this much, so a balance "
        "hovering near the line raises one alarm, not a storm.",
    )
    credits_expiring_window_days: int = Field(
        7,
        ge=1,
        le=365,
        description="`credits.expiring` is sent once per grant when it will expire within "
        "this many days and still holds credit.",
    )
    run_clock: bool = Field(
        True,
        description="Run the clock (renewals, expiry, notices, forecasts) and webhook delivery "
        "inside `creditbook serve`. Set false when `creditbook worker` runs them separately.",
    )
    clock_interval_s: float = Field(
        30.0, gt=0, le=3600, description="Seconds between two rounds of the clock."
    )
    forecast_interval_s: float = Field(
        300.0,
        gt=0,
        le=86_400,
        description="Seconds between two judgings of the forecast alerts: the clock's first "
        "round after this long judges them all (each reads its account's usage). The other "
        "jobs run every round.",
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
        parse_specs(self.default_alerts)  # refuse a bad list at start-up
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_delivery(self) -> Settings:
        # A dispatcher must finish a delivery while it holds the lease, or another may send
        # the same delivery at the same time.
        if self.webhook_lease_s <= self.webhook_timeout_s + 1:
            raise ValueError("webhook_lease_s must exceed webhook_timeout_s by more than 1 s")
        if self.webhook_backoff_max_s < self.webhook_backoff_base_s:
            raise ValueError("webhook_backoff_max_s must be at least webhook_backoff_base_s")
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
