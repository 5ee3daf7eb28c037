"""Failed authentications, counted per client address, so keys cannot be guessed at speed.

A client address (the ASGI `client` host) that fails to authenticate `failures_max` times
(an unknown, malformed or revoked key, a wrong admin token) within `window_s` seconds gets
429 with `Retry-After` on every request that needs a caller, until that window ends. A request
without credentials is not a guess and is not counted; a success is not counted and does not
reset the count (one valid key must not buy unlimited guesses).

The window is fixed: it starts at an address's first failure and lasts `window_s`. Counts live
in memory, per process: N processes (or a restart) allow N times as many guesses. At most
`limits.auth_failure_addresses_max` addresses are tracked; beyond that the one whose window
started longest ago is dropped first. Behind a reverse proxy every caller has the proxy's
address unless the server is told to trust its forwarding headers (see docs/security.md).
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import FastAPI, Request

from creditbook import limits
from creditbook.config import Settings
from creditbook.errors import AuthenticationFailed, TooManyFailures

T = TypeVar("T")
UNKNOWN_ADDRESS = "unknown"


@dataclass(slots=True)
class _Window:
    started_s: float
    failures: int


class FailureLimiter:
    """Thread-safe counts of failed authentications per address, in fixed windows."""

    def __init__(
        self,
        *,
        failures_max: int,
        window_s: float,
        addresses_max: int = limits.auth_failure_addresses_max,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures_max < 1 or window_s <= 0 or addresses_max < 1:
            raise ValueError("failures_max, window_s and addresses_max must be positive")
        self._failures_max = failures_max
        self._window_s = window_s
        self._addresses_max = addresses_max
        self._clock = clock
        self._windows: OrderedDict[str, _Window] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> FailureLimiter:
        return cls(failures_max=settings.auth_failures_max, window_s=settings.auth_failure_window_s)

    def __len__(self) -> int:
        return len(self._windows)

    def retry_after_s(self, address: str) -> int | None:
        """Whole seconds until `address` may try again, or None when it may try now."""
        with self._lock:
            window = self._current(address, self._clock())
            if window is None or window.failures < self._failures_max:
                return None
            left = window.started_s + self._window_s - self._clock()
            return max(1, math.ceil(left))

    def failed(self, address: str) -> None:
        """Count one failed authentication of `address`."""
        with self._lock:
            now = self._clock()
            window = self._current(address, now)
            if window is None:
                self._windows[address] = _Window(now, 1)
                self._evict()
            else:
                window.failures += 1

    def _current(self, address: str, now: float) -> _Window | None:
        window = self._windows.get(address)
        if window is not None and now - window.started_s >= self._window_s:
            del self._windows[address]
            return None
        return window

    def _evict(self) -> None:
        while len(self._windows) > self._addresses_max:
            self._windows.popitem(last=False)


def client_address(request: Request) -> str:
    return request.client.host if request.client else UNKNOWN_ADDRESS


def limiter_of(request: Request) -> FailureLimiter | None:
    limiter: FailureLimiter | None = getattr(request.app.state, "auth_guard", None)
    return limiter


def limited(
    identify: Callable[[Request], Awaitable[T]],
) -> Callable[[Request], Awaitable[T]]:
    """Wrap `identify`: refuse an address over its limit; count its failed authentications."""

    @functools.wraps(identify)
    async def guarded(request: Request) -> T:
        limiter = limiter_of(request)
        if limiter is None:
            return await identify(request)
        address = client_address(request)
        wait_s = limiter.retry_after_s(address)
        if wait_s is not None:
            raise TooManyFailures(wait_s)
        try:
            return await identify(request)
        except AuthenticationFailed:
            if request.headers.get("authorization", "").strip():
                limiter.failed(address)
            raise

    return guarded


def install(app: FastAPI, settings: Settings) -> None:
    """Give the app its limiter (`app.state.auth_guard`), one per process."""
    app.state.auth_guard = FailureLimiter.from_settings(settings)
