"""The limiter of failed authentications (api.guard), on a fake clock: a fixed window per
client address, Retry-After in whole seconds, bounded memory, and safety across threads."""

from __future__ import annotations

import threading

import pytest

from creditbook.api.guard import FailureLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: FakeClock, failures_max: int = 3, **kw: int) -> FailureLimiter:
    return FailureLimiter(failures_max=failures_max, window_s=60, clock=clock, **kw)


def test_an_address_may_fail_up_to_the_limit_then_waits_for_the_window_to_end() -> None:
    clock = FakeClock()
    guard = limiter(clock)
    for _ in range(2):
        guard.failed("10.0.0.1")
        assert guard.retry_after_s("10.0.0.1") is None
    guard.failed("10.0.0.1")
    assert guard.retry_after_s("10.0.0.1") == 60
    clock.now += 59.2
    assert guard.retry_after_s("10.0.0.1") == 1  # rounded up, never 0
    clock.now += 0.8
    assert guard.retry_after_s("10.0.0.1") is None


def test_the_window_starts_at_the_first_failure_and_old_failures_expire() -> None:
    clock = FakeClock()
    guard = limiter(clock)
    guard.failed("a")
    clock.now += 30
    guard.failed("a")
    clock.now += 31  # the first failure's window is over: the count starts again
    guard.failed("a")
    guard.failed("a")
    assert guard.retry_after_s("a") is None
    guard.failed("a")
    assert guard.retry_after_s("a") == 60


def test_addresses_are_counted_apart() -> None:
    clock = FakeClock()
    guard = limiter(clock, failures_max=1)
    guard.failed("a")
    assert guard.retry_after_s("a") == 60
    assert guard.retry_after_s("b") is None


def test_memory_is_bounded_by_dropping_the_oldest_address() -> None:
    clock = FakeClock()
    guard = limiter(clock, failures_max=1, addresses_max=100)
    for n in range(1_000):
        clock.now += 0.001
        guard.failed(f"198.51.100.{n}")
    assert len(guard) == 100
    assert guard.retry_after_s("198.51.100.0") is None  # forgotten
    assert guard.retry_after_s("198.51.100.999") == 60


def test_an_expired_window_is_forgotten_when_looked_at() -> None:
    clock = FakeClock()
    guard = limiter(clock)
    guard.failed("a")
    clock.now += 60
    assert guard.retry_after_s("a") is None
    assert len(guard) == 0


def test_failures_counted_from_many_threads_are_all_counted() -> None:
    clock = FakeClock()
    guard = limiter(clock, failures_max=8 * 500)
    threads = [
        threading.Thread(target=lambda: [guard.failed("a") for _ in range(500)]) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert guard.retry_after_s("a") == 60


@pytest.mark.parametrize(
    "options",
    [{"failures_max": 0, "window_s": 60}, {"failures_max": 1, "window_s": 0}],
)
def test_limits_that_mean_nothing_are_refused(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        FailureLimiter(**options)
