"""Wiring: build every service from `Settings` once, at the edge (CLI, server, tests)."""

from __future__ import annotations

import gc
from dataclasses import dataclass

from creditbook.clock import Clock, SystemClock
from creditbook.config import Settings
from creditbook.domain.alerts import parse_specs
from creditbook.services.accounts import Accounts
from creditbook.services.alerts import Alerts
from creditbook.services.clock import Clockwork
from creditbook.services.dispatch import Dispatcher
from creditbook.services.events import Events
from creditbook.services.history import History
from creditbook.services.ledger import Ledger
from creditbook.services.plans import Plans
from creditbook.services.prices import Prices
from creditbook.services.usage import Usage
from creditbook.services.verify import Verifier
from creditbook.services.webhooks import Webhooks
from creditbook.storage.engine import EngineOptions
from creditbook.storage.store import Store


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    store: Store
    ledger: Ledger
    accounts: Accounts
    usage: Usage
    history: History
    prices: Prices
    verifier: Verifier
    alerts: Alerts
    plans: Plans
    clockwork: Clockwork
    events: Events
    webhooks: Webhooks
    dispatcher: Dispatcher  # one per thread: call `run(stop)` or `run_once()` from one thread

    def close(self) -> None:
        self.dispatcher.close()
        self.store.close()


def tune_runtime() -> None:
    """For long-running processes, once start-up is done: move every object that exists now
    (modules, compiled statements, caches) out of reach of the cyclic garbage collector.

    Each charge allocates a few objects; without this, every collection of the oldest
    generation walks the whole import graph, which costs about a third of the batch path.
    """
    gc.collect()
    gc.freeze()


def engine_options(settings: Settings) -> EngineOptions:
    return EngineOptions(
        sqlite_synchronous=settings.sqlite_synchronous,
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        pool_size=settings.db_pool_size,
    )


def build(settings: Settings, *, clock: Clock | None = None) -> Services:
    store = Store.open(
        settings.database_url,
        clock=clock or SystemClock(),
        options=engine_options(settings),
        preview_threshold_micros=settings.preview_threshold_micros,
        group_commit_size_max=settings.group_commit_size_max,
        group_commit_wait_us=settings.group_commit_wait_us,
        alert_margin_percent=settings.alert_margin_percent,
    )
    ledger = Ledger(store, reservation_ttl_s=settings.reservation_ttl_s)
    alerts = Alerts(
        store,
        defaults=parse_specs(settings.default_alerts),
        margin_percent=settings.alert_margin_percent,
    )
    return Services(
        settings=settings,
        store=store,
        ledger=ledger,
        accounts=Accounts(
            store,
            alerts=alerts,
            default_monthly_limit_micros=settings.default_monthly_limit_micros,
            default_overdraft_limit_micros=settings.default_overdraft_limit_micros,
            key_cache_ttl_s=settings.key_cache_ttl_s,
        ),
        usage=Usage(store),
        history=History(store),
        prices=Prices(store),
        verifier=Verifier(store),
        alerts=alerts,
        plans=Plans(store),
        clockwork=Clockwork(
            store,
            ledger,
            expiring_window_s=settings.credits_expiring_window_days * 86_400,
            forecast_interval_s=settings.forecast_interval_s,
        ),
        events=Events(store),
        webhooks=Webhooks(
            store,
            allow_http=settings.webhook_allow_http,
            allow_private=settings.webhook_allow_private_networks,
        ),
        dispatcher=Dispatcher.from_settings(store, settings),
    )
