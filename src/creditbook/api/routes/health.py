"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text
from starlette.responses import Response

from creditbook.api.auth import services_of
from creditbook.api.responses import MoneyJSONResponse
from creditbook.errors import StorageError

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_class=MoneyJSONResponse)
def healthz() -> MoneyJSONResponse:
    return MoneyJSONResponse({"status": "ok"})


@router.get("/readyz", response_class=MoneyJSONResponse)
def readyz(request: Request) -> MoneyJSONResponse:
    try:
        with services_of(request).store.read() as uow:
            uow.connection.execute(text("SELECT 1"))
    except Exception as error:
        raise StorageError("The database is not reachable.") from error
    return MoneyJSONResponse({"status": "ok", "database": "reachable"})


@router.get("/metrics", response_class=Response, include_in_schema=True)
def metrics(request: Request) -> Response:
    """Prometheus exposition: request latency by route, charges by operation and outcome."""
    body = request.app.state.metrics.exposition()
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
