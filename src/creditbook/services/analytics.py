"""Requests per API key: counted in memory as they are answered, written to the database every
few seconds (`flush`), reported per key with the spend the key caused.

These are traffic statistics, not money: a crash loses at most the counts since the last
flush. Spend per key comes from the usage buckets, which are written with each charge. Both
are kept per 15 minutes, so a window [start, end] counts the quarter hours that begin in
[start rounded down, end): an end at a quarter hour (a bare date is its midnight) excludes what
follows it, as Generect documents for `end_date`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import Connection, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from creditbook.domain.accounts import ApiKey
from creditbook.domain.usage import BUCKET_US, Figures
from creditbook.services.accounts import hash_key
from creditbook.storage.repositories.accounts import KeyRepository
from creditbook.storage.repositories.usage import UsageRepository
from creditbook.storage.store import Store
from creditbook.storage.tables import api_keys, request_counts

CountKey = tuple[str, int, str, str, str]  # account, bucket, key id, endpoint, status class


@dataclass(slots=True)
class KeyTraffic:
    key: ApiKey
    requests: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    spend: Figures = field(default_factory=Figures)
    by_operation: dict[str, Figures] = field(default_factory=dict)


class RequestLog:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._counts: dict[CountKey, int] = {}
        self._last_used: dict[str, int] = {}

    def record(
        self, *, account_id: str, key_id: str, endpoint: str, status_code: int, at_us: int
    ) -> None:
        item = (account_id, at_us - at_us % BUCKET_US, key_id, endpoint, f"{status_code // 100}xx")
        with self._lock:
            self._counts[item] = self._counts.get(item, 0) + 1
            self._last_used[key_id] = max(at_us, self._last_used.get(key_id, 0))

    def flush(self) -> int:
        """Write what was counted since the last flush; returns the rows written."""
        with self._lock:
            counts, self._counts = self._counts, {}
            last_used, self._last_used = self._last_used, {}
        if not counts and not last_used:
            return 0
        try:
            self._write(counts, last_used)
        except Exception:
            with self._lock:  # keep them for the next flush rather than lose them
                for item, n in counts.items():
                    self._counts[item] = self._counts.get(item, 0) + n
                for key_id, at in last_used.items():
                    self._last_used[key_id] = max(at, self._last_used.get(key_id, 0))
            raise
        return len(counts)

    def _write(self, counts: dict[CountKey, int], last_used: dict[str, int]) -> None:
        module = sqlite if self._store.engine.dialect.name == "sqlite" else postgresql
        names = ("account_id", "bucket_start_us", "api_key_id", "endpoint", "status_class")
        rows = [
            {**dict(zip(names, item, strict=True)), "requests": n} for item, n in counts.items()
        ]
        insert = module.insert(request_counts)
        upsert = insert.on_conflict_do_update(
            index_elements=list(names),
            set_={"requests": request_counts.c.requests + insert.excluded.requests},
        )
        with self._store.write() as uow:
            if rows:
                uow.connection.execute(upsert, rows)
            used = api_keys.c.last_used_at_us
            for key_id, at_us in last_used.items():
                later = case((used.is_(None) | (used < at_us), at_us), else_=used)
                uow.connection.execute(
                    update(api_keys).where(api_keys.c.id == key_id).values(last_used_at_us=later)
                )
            uow.commit()

    def report(
        self,
        *,
        account_id: str,
        start_us: int,
        end_us: int,
        client_id: str | None = None,
        secret: str | None = None,
    ) -> list[KeyTraffic]:
        """Every key of the account (newest first, idle ones included), for [start, end]."""
        self.flush()
        with self._store.read() as uow:
            keys = KeyRepository(uow.connection).of_account(account_id)
            if client_id is not None:
                keys = [k for k in keys if k.client_id == client_id]
            if secret is not None:
                found = KeyRepository(uow.connection).by_hash(hash_key(secret))
                keys = [k for k in keys if found is not None and k.id == found[0].id]
            traffic = {k.id: KeyTraffic(k) for k in keys}
            self._add_requests(uow.connection, account_id, start_us, end_us, traffic)
            self._add_spend(uow.connection, account_id, start_us, end_us, traffic)
        return list(traffic.values())

    @staticmethod
    def _add_requests(
        connection: Connection,
        account_id: str,
        start_us: int,
        end_us: int,
        traffic: dict[str, KeyTraffic],
    ) -> None:
        r = request_counts.c
        query = (
            select(r.api_key_id, r.endpoint, r.status_class, func.sum(r.requests))
            .where(
                r.account_id == account_id,
                r.bucket_start_us >= start_us - start_us % BUCKET_US,
                r.bucket_start_us < end_us,
            )
            .group_by(r.api_key_id, r.endpoint, r.status_class)
        )
        for key_id, endpoint, status_class, n in connection.execute(query):
            item = traffic.get(key_id)
            if item is not None:
                item.requests += int(n)
                item.by_endpoint[endpoint] = item.by_endpoint.get(endpoint, 0) + int(n)
                item.by_status[status_class] = item.by_status.get(status_class, 0) + int(n)

    @staticmethod
    def _add_spend(
        connection: Connection,
        account_id: str,
        start_us: int,
        end_us: int,
        traffic: dict[str, KeyTraffic],
    ) -> None:
        start = start_us - start_us % BUCKET_US
        spent = UsageRepository(connection).totals_between(account_id, start, end_us)
        for operation, key_id, spend, units, charges in spent:
            item = traffic.get(key_id)
            if item is not None:
                item.spend.add(int(spend), int(units), int(charges))
                item.by_operation.setdefault(operation, Figures()).add(
                    int(spend), int(units), int(charges)
                )
