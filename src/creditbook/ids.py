"""Identifiers: UUIDv7 strings with a short prefix naming the kind of thing.

The 48-bit millisecond part comes from the moment the thing is created *by the ledger's clock*
(`at_us`), so ids sort in creation order: transactions are stored and paged in id order, and a
time range maps onto an id range (`lowest_id`). Ids only need to be unique, not secret (every
read is scoped to its account): a 12-bit counter keeps those made in the same millisecond in
order, and 62 random bits keep ids from different processes apart.
"""

from __future__ import annotations

import os
import random
import threading
import time

_lock = threading.Lock()
_last_ms = -1
_sequence = 0
_random = random.Random()  # noqa: S311 - ids need uniqueness, not secrecy
# A forked child must not replay its parent's random sequence (two processes, one id).
os.register_at_fork(after_in_child=_random.seed)

_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)


def _uuid7(ms: int) -> int:
    global _last_ms, _sequence  # noqa: PLW0603 - per-process counter, guarded by _lock
    with _lock:
        if ms == _last_ms:
            _sequence = (_sequence + 1) & 0xFFF  # after 4096 in one ms, the random part decides
        else:
            _last_ms, _sequence = ms, 0
        sequence = _sequence
    return (ms << 80) | _VERSION_AND_VARIANT | (sequence << 64) | _random.getrandbits(62)


def _text(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_id(prefix: str, at_us: int | None = None) -> str:
    """A new id such as `txn_0192f1c4-...`, made at `at_us` (now by default)."""
    ms = (time.time_ns() // 1_000_000) if at_us is None else at_us // 1_000
    text = _text(_uuid7(ms))
    return f"{prefix}_{text}" if prefix else text


def lowest_id(prefix: str, at_us: int) -> str:
    """The smallest id that `new_id(prefix, t)` can return for any t in the same millisecond
    as `at_us`: every id made at or after `at_us` sorts at or above it."""
    text = _text(((at_us // 1_000) << 80) | _VERSION_AND_VARIANT)
    return f"{prefix}_{text}" if prefix else text


def account_id(at_us: int | None = None) -> str:
    return new_id("", at_us)


def transaction_id(at_us: int | None = None) -> str:
    return new_id("txn", at_us)


def grant_id(at_us: int | None = None) -> str:
    return new_id("grt", at_us)


def key_id(at_us: int | None = None) -> str:
    return new_id("key", at_us)
