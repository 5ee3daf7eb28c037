"""JSON responses in which money is an exact number: Decimal values are written as JSON
numbers with their exact digits (at most six decimals), never through a float."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import simplejson
from starlette.responses import JSONResponse

from creditbook.money import to_decimal


class MoneyJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        text = simplejson.dumps(
            content, use_decimal=True, ensure_ascii=False, separators=(",", ":")
        )
        return text.encode("utf-8")


def usd(micros: int | None) -> Decimal | None:
    """Micro-USD as the exact Decimal the wire shows."""
    return None if micros is None else to_decimal(micros)
