"""What the sync and async clients share: each API call described as data (method, path,
query, exact-JSON body, how to read the answer, whether retrying it is safe), the retry policy,
and reading answers and errors. The two clients only send."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Generic, TypeVar

import httpx
import simplejson

from creditbook import __version__
from creditbook.client.errors import ConnectionFailed, error_for
from creditbook.client.models import Json, TransactionPage

T = TypeVar("T")
API = "/api/v1"
USER_AGENT = f"creditbook-client/{__version__}"
RETRY_STATUSES = frozenset({502, 503, 504})
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
PAGE_SIZE = 100


class Safety(Enum):
    """When a call may be sent again: reads and metering (which always carries an
    idempotency key) after any transport failure or 502/503/504; other writes only when the
    request certainly never left."""

    RETRY = "retry"
    UNSENT_ONLY = "unsent-only"


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[Any], T]
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    safety: Safety = Safety.RETRY

    def request_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"params": self.params}
        if self.body is not None:
            kwargs["content"] = simplejson.dumps(self.body, use_decimal=True).encode()
            kwargs["headers"] = {"Content-Type": "application/json"}
        return kwargs


@dataclass(frozen=True, slots=True)
class Retries:
    """Up to `attempts` tries, waiting `backoff_s` × 2ⁿ (at most `max_backoff_s`, with
    jitter) between them."""

    attempts: int = 4
    backoff_s: float = 0.2
    max_backoff_s: float = 5.0

    def verdict(
        self, call: Call[Any], attempt: int, outcome: httpx.Response | httpx.TransportError
    ) -> float | None:
        """Seconds to wait before trying again, or None when `outcome` (a response) is the
        answer; a transport failure that may not be retried any more is raised."""
        if isinstance(outcome, httpx.TransportError):
            may = call.safety is Safety.RETRY or isinstance(outcome, NEVER_SENT)
            if not may or attempt >= self.attempts:
                raise ConnectionFailed(f"{call.method} {call.path}: {outcome!r}") from outcome
            return self._delay(attempt)
        if outcome.status_code in RETRY_STATUSES and call.safety is Safety.RETRY:
            return self._delay(attempt) if attempt < self.attempts else None
        return None

    def _delay(self, attempt: int) -> float:
        nominal = min(self.max_backoff_s, self.backoff_s * 2.0 ** (attempt - 1))
        jitter = 0.5 + random.random() / 2  # noqa: S311 - jitter, not a secret
        return nominal * jitter


def base_url(url: str) -> str:
    """The server's root; an `/api/v1` suffix is accepted and dropped."""
    root = url.rstrip("/")
    return root.removesuffix(API)


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Token {key}", "User-Agent": USER_AGENT, "Accept": "application/json"}


def check(response: httpx.Response) -> None:
    """An error answer raised as its exception."""
    if response.status_code >= 400:
        raise _error(response)


def decoded(response: httpx.Response) -> Any:
    """The JSON answer with exact decimals; an error answer raised as its exception."""
    check(response)
    if response.status_code == 204 or not response.content:
        return None
    return json.loads(response.text, parse_float=Decimal)


def _error(response: httpx.Response) -> Exception:
    try:
        body = json.loads(response.text, parse_float=Decimal)
        detail = body["detail"] if isinstance(body, dict) and "detail" in body else body
    except ValueError:
        detail = response.text[:500] or response.reason_phrase
    return error_for(response.status_code, detail, response.headers.get("x-request-id"))


def text(value: Any) -> str:
    """A query parameter: dates and times in ISO 8601, decimals exactly."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def query(**values: Any) -> dict[str, str]:
    """The parameters that were given (None means not given: nothing is sent)."""
    return {name: text(value) for name, value in values.items() if value is not None}


def new_key() -> str:
    return f"cbc-{uuid.uuid4()}"


def data(body: Json) -> Any:
    return body["data"]


def following(params: Mapping[str, str], page: TransactionPage) -> dict[str, str] | None:
    """The query of the next page, or None after the last: by `next_cursor` when the server
    gives one (creditbook), else by offset until a short page (Generect's documented paging)."""
    if page.has_cursor:
        if not page.next_cursor:
            return None
        rest = {k: v for k, v in params.items() if k not in ("cursor", "offset")}
        return {**rest, "cursor": page.next_cursor}
    size = int(params.get("limit", PAGE_SIZE))
    if len(page.transactions) < size:
        return None
    return {**params, "offset": str(int(params.get("offset", "0")) + len(page.transactions))}
