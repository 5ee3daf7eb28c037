"""Routes that read JSON exactly and answer on paths with or without the trailing slash.

Request bodies are parsed with every non-integer number as a `Decimal` (FastAPI's default
goes through `float`, which cannot hold every amount of micro-USD), and `NaN` / `Infinity`
are refused. Each route is registered at `/path/` and `/path`, without a redirect, as the
Generect API does; only the slashed form appears in the OpenAPI document.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a number JSON allows here", name, 0)


def _check_unicode(value: Any) -> None:
    """Refuse text that cannot be stored: JSON may escape lone surrogates (`"\\ud800"`), which
    no database encoding can hold."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise json.JSONDecodeError("text holds an unpaired surrogate escape", "", 0) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_unicode(key)
            _check_unicode(item)
    elif isinstance(value, list):
        for item in value:
            _check_unicode(item)


class ExactRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            parsed = json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
            _check_unicode(parsed)
            self._json = parsed
        return self._json


class ExactRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact(request: Request) -> Response:
            return await handler(ExactRequest(request.scope, request.receive))

        return exact


class Router(APIRouter):
    """An APIRouter whose `route(path, ...)` registers `path/` and `path` alike."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(route_class=ExactRoute, **kwargs)

    def endpoint(
        self, path: str, *, methods: list[str], status_code: int = 200, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        slashed = path if path.endswith("/") else f"{path}/"

        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            self.add_api_route(
                slashed, function, methods=methods, status_code=status_code, **kwargs
            )
            self.add_api_route(
                slashed.rstrip("/"),
                function,
                methods=methods,
                status_code=status_code,
                include_in_schema=False,
                **{k: v for k, v in kwargs.items() if k not in ("summary", "description")},
            )
            return function

        return register
