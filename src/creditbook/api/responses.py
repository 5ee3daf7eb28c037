"""JSON responses in which money is an exact number: Decimal values are written as JSON
numbers with their exact digits (at most six decimals), never through a float."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import simplejson
from starlette.responses import JSONResponse, Response

from creditbook.money import to_decimal


def dumps(content: Any) -> str:
    """Compact JSON in which Decimal values are exact numbers."""
    return simplejson.dumps(content, use_decimal=True, ensure_ascii=False, separators=(",", ":"))


class MoneyJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


class RenderedJSONResponse(Response):
    """A body already rendered as JSON text (by `dumps` or by code that a test holds to it)."""

    media_type = "application/json"


def usd(micros: int | None) -> Decimal | None:
    """Micro-USD as the exact Decimal the wire shows."""
    return None if micros is None else to_decimal(micros)
