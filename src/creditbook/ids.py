"""Identifiers: time-ordered UUIDv7 strings with a short prefix naming the kind of thing.

Time-ordered ids keep B-tree inserts at the right edge of the index; random UUIDs would
scatter them and cost most of the write throughput (see docs/design.md).
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_sequence = 0


def _uuid7() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48 bits of Unix ms, a 12-bit counter within the ms, 62 random bits.

    The counter keeps ids from one process strictly increasing even within one millisecond.
    """
    global _last_ms, _sequence  # noqa: PLW0603 - process-wide monotonic state, guarded by _lock
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            _sequence += 1
            if _sequence > 0xFFF:
                _last_ms += 1
                _sequence = 0
            now_ms = _last_ms
        else:
            _last_ms = now_ms
            _sequence = 0
        sequence = _sequence
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (now_ms << 80) | (0x7 << 76) | (sequence << 64) | (0b10 << 62) | rand_b
    return uuid.UUID(int=value)


def new_id(prefix: str) -> str:
    """A new id such as `txn_0192f1c4-...`; an empty prefix gives a bare UUID."""
    return f"{prefix}_{_uuid7()}" if prefix else str(_uuid7())


def account_id() -> str:
    return new_id("")


def transaction_id() -> str:
    return new_id("txn")


def grant_id() -> str:
    return new_id("grt")


def key_id() -> str:
    return new_id("key")
