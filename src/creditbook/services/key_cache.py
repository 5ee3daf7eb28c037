"""Recently authenticated API keys, so that a request does not read the key table each time.

An entry lives `ttl_us` on the store's clock. Revoking a key through this process forgets it
at once; a key revoked by another process (the CLI, a second server) keeps working here until
its entry expires, at most `ttl_us` later. A revocation that races with a lookup cannot be
undone by it: a lookup started before the last revocation does not store what it read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from creditbook.domain.accounts import ApiKey


class KeyCache:
    def __init__(self, *, ttl_us: int, size_max: int) -> None:
        self._ttl_us = ttl_us
        self._size_max = size_max
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[int, ApiKey]] = OrderedDict()
        self.generation = 0  # moves on every revocation

    def get(self, key_hash: str, now_us: int) -> ApiKey | None:
        hit = self._items.get(key_hash)
        if hit is None or hit[0] <= now_us:
            return None
        return hit[1]

    def put(self, key_hash: str, key: ApiKey, *, now_us: int, generation: int) -> None:
        """Remember an active key read at `generation` (see the module's docstring)."""
        if self._ttl_us <= 0 or not key.is_active:
            return
        with self._lock:
            if generation != self.generation:
                return
            self._items[key_hash] = (now_us + self._ttl_us, key)
            self._items.move_to_end(key_hash)
            while len(self._items) > self._size_max:
                self._items.popitem(last=False)

    def forget(self, key_id: str) -> None:
        with self._lock:
            self.generation += 1
            for key_hash in [h for h, (_, key) in self._items.items() if key.id == key_id]:
                del self._items[key_hash]
