"""The HTTP application: `create_app(settings)` wires services, routes, errors and observation.

Services are built when the app starts (lifespan) and closed when it stops, after the server
has let in-flight requests finish: the writer drains every queued charge before the database
connection closes.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import Scope

from creditbook import __version__, limits
from creditbook.api import errors, guard
from creditbook.api.body import BodyLimit
from creditbook.api.examples import documented
from creditbook.api.metrics import Metrics
from creditbook.api.observe import Observed
from creditbook.api.responses import MoneyJSONResponse
from creditbook.api.routes import accounts, admin, alerts, health, metering, webhooks
from creditbook.background import start_background
from creditbook.bootstrap import build, tune_runtime
from creditbook.clock import Clock
from creditbook.config import Settings
from creditbook.services.analytics import RequestLog
from creditbook.web import install as install_dashboard

log = logging.getLogger("creditbook.api")
FLUSH_INTERVAL_S = 2.0

DESCRIPTION = """\
Account and credit ledger of a pay-as-you-go data API.

The account endpoints (`/api/v1/accounts/...`) are compatible with Generect's account API;
metering (`/api/v1/charges/`, `/api/v1/reservations/`) and the operator API
(`/api/v1/admin/...`) are creditbook's own. Webhooks (`/api/v1/webhooks/...`) follow Generect's
shapes, with creditbook's events, a delivery log and redelivery added. Authenticate with
`Authorization: Token <key>`.
Money is USD as exact decimal numbers (at most 6 decimals); times are ISO 8601 in UTC.
Every error is `{"status": "error", "status_code": N, "detail": ...}`.
"""


class Flusher:
    """Writes per-key request counts every few seconds, and once more at shutdown."""

    def __init__(self, requests: RequestLog) -> None:
        self._requests = requests
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="creditbook-flush", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL_S):
            self._flush()

    def _flush(self) -> None:
        try:
            self._requests.flush()
        except Exception:
            log.exception("could not write request counts; keeping them for the next try")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._flush()


def route_threads(settings: Settings, dialect_name: str) -> int:
    """How many plain `def` routes run at once. They read the database: never more than the
    pooled connections, so none waits for one or opens one beyond the pool. On SQLite a read
    is CPU work, and threads beyond the CPUs only contend for the GIL: with 32 clients on
    `/accounts/me/` on 2 cores, 2 threads served ~30% more requests than 8."""
    wanted = settings.route_threads
    if wanted is None:
        sqlite = dialect_name == "sqlite"
        wanted = max(2, os.cpu_count() or 2) if sqlite else settings.db_pool_size
    return min(wanted, settings.db_pool_size)


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build(settings, clock=clock)
        requests = RequestLog(services.store)
        app.state.services, app.state.requests = services, requests
        services.store.writer.observe(metrics.observe_commit)
        ledger_threads = ThreadPoolExecutor(settings.ledger_threads, "creditbook-ledger")
        app.state.ledger_executor = ledger_threads
        limiter = to_thread.current_default_thread_limiter()
        limiter.total_tokens = route_threads(settings, services.store.engine.dialect.name)
        flusher = Flusher(requests)
        flusher.start()
        background = start_background(services, wanted=services.settings.run_clock)
        tune_runtime()
        try:
            yield
        finally:
            background.stop()
            ledger_threads.shutdown(wait=True)  # the server has let requests finish first
            flusher.stop()
            services.close()

    app = FastAPI(
        title="creditbook",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=MoneyJSONResponse,
        redirect_slashes=False,
        # creditbook has its own metrics and logs (observe.py); FastAPI's OpenTelemetry hook
        # would otherwise look up the global providers, in the environment, on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.metrics = metrics
    errors.install(app)
    guard.install(app, settings)
    for router in (
        health.router,
        accounts.router,
        metering.router,
        alerts.router,
        webhooks.router,
        admin.router,
    ):
        app.include_router(router)
    install_dashboard(app, settings)

    def record(scope: Scope, route: str, status: int) -> None:
        caller = scope.get("state", {}).get("caller")
        key = getattr(caller, "key", None)
        requests = getattr(app.state, "requests", None)
        if key is None or requests is None:
            return
        now = app.state.services.store.clock.now_us()
        requests.record(
            account_id=key.account_id, key_id=key.id, endpoint=route, status_code=status, at_us=now
        )

    app.add_middleware(BodyLimit, bytes_max=limits.request_body_bytes_max)
    app.add_middleware(Observed, metrics=metrics, record=record)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    return app


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, told the truth: Token authentication, and bad input as 400 with
    the error envelope (FastAPI would list its own 422)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {})
    components["securitySchemes"] = {
        "token": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>` (or `Bearer <key>`): a customer key or the admin token.",
        }
    }
    bad_input = documented(200, None, 400)[400]
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault("400", bad_input)
            if not path.startswith(("/healthz", "/readyz", "/metrics")):
                operation["security"] = [{"token": []}]
    for name in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(name, None)
    app.openapi_schema = schema
    return schema
