"""The account's events, newest first: what was (or will be) sent to its webhooks."""

from __future__ import annotations

from sqlalchemy import select

from creditbook import limits
from creditbook.domain.events import Event
from creditbook.domain.fields import load_json
from creditbook.errors import InvalidInput
from creditbook.storage.store import Store
from creditbook.storage.tables import events


class Events:
    def __init__(self, store: Store) -> None:
        self._store = store

    def page(
        self,
        *,
        account_id: str,
        limit: int = limits.page_size_default,
        before_id: str | None = None,
        type_: str | None = None,
    ) -> list[Event]:
        if not 1 <= limit <= limits.page_size_max:
            raise InvalidInput("limit", f"Must be between 1 and {limits.page_size_max}.")
        e = events.c
        query = select(*events.c).where(e.account_id == account_id)
        if before_id is not None:
            query = query.where(e.id < before_id)
        if type_ is not None:
            query = query.where(e.type == type_)
        query = query.order_by(e.id.desc()).limit(limit)
        with self._store.read() as uow:
            rows = uow.connection.execute(query).all()
        return [Event(r.account_id, r.id, r.type, r.created_at_us, load_json(r.data)) for r in rows]
