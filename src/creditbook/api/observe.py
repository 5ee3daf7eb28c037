"""The outermost layer of the app (pure ASGI, no per-request task overhead): a request id on
every response, one JSON access-log line per request, latency metrics, per-key request counts,
and the last word on unexpected errors (an envelope 500, never a traceback)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditbook.api.metrics import Metrics

log = logging.getLogger("creditbook.access")
errors = logging.getLogger("creditbook.api")
REQUEST_ID = b"x-request-id"
UNEXPECTED = json.dumps(
    {"status": "error", "status_code": 500, "detail": "Internal server error."}
).encode()


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID:
            text: str = bytes(value).decode("latin-1")
            if 0 < len(text) <= 128 and text.isascii() and text.isprintable():
                return text
    return str(uuid.uuid4())


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return "unmatched"
    text: str = path
    return text if text.endswith("/") else f"{text}/"


class Observed:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, record: Any) -> None:
        self.app = app
        self.metrics = metrics
        self.record = record  # callable(scope, route, status) for per-key counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = [500, False]  # status code, response started

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0], status[1] = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REQUEST_ID, rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            errors.exception("unhandled error", extra={"request_id": rid})
            if status[1]:
                raise
            status[0] = 500
            await self._unexpected(send, rid)
        self._observe(scope, rid, int(status[0]), time.perf_counter() - started)

    @staticmethod
    async def _unexpected(send: Send, rid: str) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(UNEXPECTED)).encode()),
            (REQUEST_ID, rid.encode()),
        ]
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        await send({"type": "http.response.body", "body": UNEXPECTED})

    def _observe(self, scope: Scope, rid: str, status: int, seconds: float) -> None:
        route = route_of(scope)
        method = scope.get("method", "")
        self.metrics.requests.labels(route, method, f"{status // 100}xx").observe(seconds)
        self.record(scope, route, status)
        if log.isEnabledFor(logging.INFO):
            caller = scope.get("state", {}).get("caller")
            key = getattr(getattr(caller, "key", None), "id", None)
            log.info(
                "request",
                extra={
                    "request_id": rid,
                    "method": method,
                    "path": scope.get("path", ""),
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "api_key_id": key,
                    "operator": bool(getattr(caller, "operator", False)),
                },
            )
