"""The HTTP application: `create_app(settings)` wires services, routes and error handling."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.responses import Response

from creditbook import __version__
from creditbook.api import errors
from creditbook.api.responses import MoneyJSONResponse
from creditbook.api.routes import accounts, health
from creditbook.bootstrap import Services, build, tune_runtime
from creditbook.clock import Clock
from creditbook.config import Settings

REQUEST_ID_HEADER = "X-Request-Id"


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    """The app; services are built when it starts and closed (writer drained) when it stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services: Services = build(settings, clock=clock)
        app.state.services = services
        tune_runtime()
        try:
            yield
        finally:
            services.close()

    app = FastAPI(
        title="creditbook",
        version=__version__,
        description="Account and credit ledger; Generect-compatible account API.",
        lifespan=lifespan,
        default_response_class=MoneyJSONResponse,
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(accounts.router)

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        rid = (
            given
            if 0 < len(given) <= 128 and given.isascii() and given.isprintable()
            else str(uuid.uuid4())
        )
        request.state.request_id = rid
        response = await call_next(request)
        response.headers[REQUEST_ID_HEADER] = rid
        return response

    return app
