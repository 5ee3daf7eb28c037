"""Independent recomputations for `creditbook verify`: each figure the ledger keeps, derived
again from the journal and the transactions, for one account at a time."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection, and_, func, literal_column, select
from sqlalchemy.orm import aliased

from creditbook.domain.accounts import Account
from creditbook.domain.usage import BUCKET_US
from creditbook.storage.repositories.accounts import AccountRepository
from creditbook.storage.tables import (
    grants,
    idempotency_records,
    journal_entries,
    transactions,
    usage_buckets,
)

j = journal_entries.c
t = transactions.c
UsageTotals = dict[tuple[int, str, str], tuple[int, int, int]]
# operation, API key, bucket start, (spend, units, charges), (their running totals as kept)
BucketRow = tuple[str, str, int, tuple[int, int, int], tuple[int, int, int]]


class AuditRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def account(self, account_id: str) -> Account | None:
        """The account row as this snapshot sees it."""
        return AccountRepository(self.connection).get(account_id)

    def journal_totals(self, account_id: str) -> tuple[int, int, int, int]:
        """Sum of amounts, sum of holds, number of entries, highest sequence number."""
        row = self.connection.execute(
            select(
                func.coalesce(func.sum(j.amount_micros), 0),
                func.coalesce(func.sum(j.hold_micros), 0),
                func.count(),
                func.coalesce(func.max(j.seq), 0),
            ).where(j.account_id == account_id)
        ).one()
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    def broken_chain(self, account_id: str) -> int:
        """Entries whose balance or reserved figure does not follow from the one before."""
        previous_balance = func.lag(j.balance_after_micros, 1, 0).over(order_by=j.seq)
        previous_reserved = func.lag(j.reserved_after_micros, 1, 0).over(order_by=j.seq)
        steps = (
            select(
                (j.balance_after_micros - j.amount_micros - previous_balance).label("db"),
                (j.reserved_after_micros - j.hold_micros - previous_reserved).label("dr"),
            )
            .where(j.account_id == account_id)
            .subquery()
        )
        query = select(func.count()).where((steps.c.db != 0) | (steps.c.dr != 0))
        return int(self.connection.execute(query).scalar_one())

    def grant_totals(self, account_id: str) -> tuple[int, int]:
        row = self.connection.execute(
            select(
                func.coalesce(func.sum(grants.c.remaining_micros), 0),
                func.coalesce(func.sum(grants.c.held_micros), 0),
            ).where(grants.c.account_id == account_id)
        ).one()
        return int(row[0]), int(row[1])

    def grants_off_journal(self, account_id: str) -> list[str]:
        """Grants whose remaining or held amount is not the sum of their journal entries."""
        sums = (
            select(
                j.grant_id,
                func.sum(j.amount_micros).label("amount"),
                func.sum(j.hold_micros).label("hold"),
            )
            .where(j.account_id == account_id)
            .group_by(j.grant_id)
            .subquery()
        )
        query = (
            select(grants.c.id)
            .select_from(grants.outerjoin(sums, sums.c.grant_id == grants.c.id))
            .where(
                grants.c.account_id == account_id,
                (func.coalesce(sums.c.amount, 0) != grants.c.remaining_micros)
                | (func.coalesce(sums.c.hold, 0) != grants.c.held_micros),
            )
        )
        return list(self.connection.execute(query).scalars())

    def open_reservations_total(self, account_id: str) -> int:
        query = select(func.coalesce(func.sum(t.reserved_micros), 0)).where(
            t.account_id == account_id, t.status == "pending"
        )
        return int(self.connection.execute(query).scalar_one())

    def transactions_off_journal(self, account_id: str) -> list[str]:
        """Transactions whose credits (or hold) differ from what their entries moved."""
        sums = (
            select(
                j.transaction_id,
                func.sum(j.amount_micros).label("amount"),
                func.sum(j.hold_micros).label("hold"),
            )
            .where(j.account_id == account_id)
            .group_by(j.transaction_id)
            .subquery()
        )
        amount = func.coalesce(sums.c.amount, 0)
        hold = func.coalesce(sums.c.hold, 0)
        settled_wrong = and_(t.status == "success", amount != t.credits_micros)
        pending_wrong = and_(t.status == "pending", (amount != 0) | (hold != t.reserved_micros))
        error_wrong = and_(t.status == "error", (amount != 0) | (hold != 0))
        query = (
            select(t.id)
            .select_from(transactions.outerjoin(sums, sums.c.transaction_id == t.id))
            .where(t.account_id == account_id, settled_wrong | pending_wrong | error_wrong)
        )
        return list(self.connection.execute(query).scalars())

    def misplaced_ranges(self, account_id: str) -> list[str]:
        """Transactions whose journal range holds another transaction's entries, or whose
        latest posting's entries are not all inside their range."""
        inside = and_(
            j.account_id == t.account_id, j.seq >= t.entry_first_seq, j.seq <= t.entry_last_seq
        )
        foreign = (
            select(t.id)
            .select_from(transactions.join(journal_entries, inside))
            .where(t.account_id == account_id, j.transaction_id != t.id)
        )
        return list(self.connection.execute(foreign.distinct()).scalars())

    def keys_charged_twice(self, account_id: str) -> list[str]:
        query = (
            select(t.idempotency_key)
            .where(t.account_id == account_id, t.idempotency_key.is_not(None))
            .group_by(t.idempotency_key)
            .having(func.count() > 1)
        )
        return list(self.connection.execute(query).scalars())

    def keys_without_transaction(self, account_id: str) -> list[str]:
        r = idempotency_records.c
        query = (
            select(r.key)
            .select_from(
                idempotency_records.outerjoin(
                    transactions,
                    and_(t.account_id == r.account_id, t.id == r.transaction_id),
                )
            )
            .where(r.account_id == account_id, (t.id.is_(None)) | (t.idempotency_key != r.key))
        )
        return list(self.connection.execute(query).scalars())

    def usage_kept(self, account_id: str) -> UsageTotals:
        """(start, operation, key) -> (spend, units, charges), rows of zeros left out."""
        u = usage_buckets.c
        query = select(
            u.bucket_start_us, u.operation, u.api_key_id, u.spend_micros, u.units, u.charges
        ).where(u.account_id == account_id)
        return {
            (int(b), op, key): (int(s), int(n), int(c))
            for b, op, key, s, n, c in self.connection.execute(query)
            if (s, n, c) != (0, 0, 0)
        }

    def usage_series(self, account_id: str) -> Iterator[BucketRow]:
        """Every bucket of the account, series by series, oldest first (the primary key)."""
        u = usage_buckets.c
        query = (
            select(
                u.operation,
                u.api_key_id,
                u.bucket_start_us,
                u.spend_micros,
                u.units,
                u.charges,
                u.cum_spend_micros,
                u.cum_units,
                u.cum_charges,
            )
            .where(u.account_id == account_id)
            .order_by(u.operation, u.api_key_id, u.bucket_start_us)
        )
        for op, key, start, *figures in self.connection.execute(query):
            spend, units, count, cum_spend, cum_units, cum_count = (int(f) for f in figures)
            yield op, key, int(start), (spend, units, count), (cum_spend, cum_units, cum_count)

    def usage_recomputed(self, account_id: str) -> UsageTotals:
        """Settled charges by bucket of settlement, less refunds booked to the same bucket."""
        totals: dict[tuple[int, str, str], list[int]] = {}
        for bucket, op, key, spend, units, count in self._settled_charges(account_id):
            totals[(bucket, op, key)] = [spend, units, count]
        for bucket, op, key, refunded in self._refunds(account_id):
            totals.setdefault((bucket, op, key), [0, 0, 0])[0] -= refunded
        return {k: (v[0], v[1], v[2]) for k, v in totals.items() if v != [0, 0, 0]}

    def _settled_charges(self, account_id: str) -> Iterator[tuple[int, str, str, int, int, int]]:
        bucket = (t.settled_at_us - t.settled_at_us % literal_column(str(BUCKET_US))).label("b")
        key = func.coalesce(t.api_key_id, "").label("k")
        query = (
            select(
                bucket,
                t.operation,
                key,
                -func.sum(t.credits_micros),
                func.sum(t.units),
                func.count(),
            )
            .where(t.account_id == account_id, t.status == "success", t.type == t.operation)
            .group_by(literal_column("1"), t.operation, literal_column("3"))
        )
        for row in self.connection.execute(query):
            yield int(row[0]), row[1], row[2], int(row[3]), int(row[4]), int(row[5])

    def _refunds(self, account_id: str) -> Iterator[tuple[int, str, str, int]]:
        original = aliased(transactions)
        o = original.c
        bucket = o.settled_at_us - o.settled_at_us % literal_column(str(BUCKET_US))
        query = (
            select(bucket, o.operation, func.coalesce(o.api_key_id, ""), t.credits_micros)
            .select_from(
                transactions.join(
                    original, and_(o.account_id == t.account_id, o.id == t.reverses_id)
                )
            )
            .where(t.account_id == account_id, t.reverses_id.is_not(None))
        )
        for row in self.connection.execute(query):
            yield int(row[0]), row[1], row[2], int(row[3])
