"""Loops that run beside the server (or in `creditbook worker`): the clock and webhook
delivery. Each runs in its own thread until `stop()`, which waits for the round in progress."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from creditbook.bootstrap import Services

log = logging.getLogger("creditbook.background")

Loop = Callable[[threading.Event], None]


class Background:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def stopping(self) -> threading.Event:
        return self._stop

    def start(self, name: str, loop: Loop) -> None:
        thread = threading.Thread(target=self._guard, args=(name, loop), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _guard(self, name: str, loop: Loop) -> None:
        while not self._stop.is_set():
            try:
                loop(self._stop)
            except Exception:  # a crashed loop restarts after a pause instead of dying
                log.exception("%s failed; restarting", name)
                self._stop.wait(1.0)

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout_s)


def start_background(services: Services, *, wanted: bool = True) -> Background:
    """The clock and webhook delivery, each in a thread of this process (when `wanted`: the
    server runs them unless `run_clock` is off because a `creditbook worker` does)."""
    background = Background()
    if wanted:
        interval = services.settings.clock_interval_s
        background.start(
            "creditbook-clock", lambda stop: services.clockwork.run(stop, interval_s=interval)
        )
        background.start("creditbook-dispatch", services.dispatcher.run)
    return background
