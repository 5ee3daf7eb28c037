"""`creditbook verify`: every invariant of the ledger, checked against an independent
recomputation from the journal and the transactions.

1. balance = sum of the journal's amounts = sum of grant remainders
2. reserved = sum of open reservations = sum of grant holds = sum of the journal's holds
3. no account below its overdraft limit
4. each idempotency key charged at most once, and every key record points to its transaction
5. usage buckets = settled charges less refunds, bucket by bucket; each bucket's running totals
   = the sums of its series' buckets up to and including it
6. the journal's running balance and sequence numbers follow from one entry to the next;
   every transaction and every grant agrees with the entries under it
7. lifetime and month-to-date spend = what the transactions add up to
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from creditbook import limits
from creditbook.clock import from_us, to_us
from creditbook.domain.accounts import Account
from creditbook.storage.repositories.accounts import AccountRepository
from creditbook.storage.repositories.audit import AuditRepository, BucketRow
from creditbook.storage.store import Store


@dataclass(frozen=True, slots=True)
class Problem:
    account_id: str
    check: str
    detail: str


@dataclass(slots=True)
class VerifyReport:
    accounts_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    problems_total: int = 0

    @property
    def ok(self) -> bool:
        return self.problems_total == 0

    def add(self, problem: Problem) -> None:
        self.problems_total += 1
        if len(self.problems) < limits.verify_problems_max:
            self.problems.append(problem)


class Verifier:
    def __init__(self, store: Store) -> None:
        self._store = store

    def verify(self, *, account_id: str | None = None, page_size: int = 200) -> VerifyReport:
        report = VerifyReport()
        for account in self._accounts(account_id, page_size):
            with self._store.read(snapshot=True) as uow:
                audit = AuditRepository(uow.connection)
                for check, detail in account_problems(audit, account):
                    report.add(Problem(account.id, check, detail))
            report.accounts_checked += 1
        return report

    def _accounts(self, account_id: str | None, page_size: int) -> Iterator[Account]:
        if account_id is not None:
            with self._store.read() as uow:
                account = AccountRepository(uow.connection).require(account_id)
            yield account
            return
        after: str | None = None
        while True:
            with self._store.read() as uow:
                page = AccountRepository(uow.connection).page(after_id=after, limit=page_size)
            yield from page
            if len(page) < page_size:
                return
            after = page[-1].id


def account_problems(audit: AuditRepository, account: Account) -> Iterator[tuple[str, str]]:
    """Every broken invariant of one account; call it inside one database snapshot."""
    a = audit.account(account.id) or account
    amount, hold, count, last_seq = audit.journal_totals(a.id)
    remaining, held = audit.grant_totals(a.id)
    if not a.balance_micros == amount == remaining:
        yield "balance", f"account {a.balance_micros}, journal {amount}, grants {remaining}"
    pending = audit.open_reservations_total(a.id)
    if not a.reserved_micros == pending == held == hold:
        yield "reserved", f"account {a.reserved_micros}, open {pending}, holds {held}/{hold}"
    if a.balance_micros < -a.overdraft_limit_micros:
        yield "overdraft", f"balance {a.balance_micros} below -{a.overdraft_limit_micros}"
    if not count == last_seq == a.entry_seq:
        yield "journal", f"{count} entries, last seq {last_seq}, account seq {a.entry_seq}"
    broken = audit.broken_chain(a.id)
    if broken:
        yield "journal", f"{broken} entries do not follow from the one before"
    for grant_id in audit.grants_off_journal(a.id):
        yield "grant", f"grant {grant_id} differs from its journal entries"
    for txn_id in audit.transactions_off_journal(a.id):
        yield "transaction", f"transaction {txn_id} differs from its journal entries"
    for txn_id in audit.misplaced_ranges(a.id):
        yield "transaction", f"transaction {txn_id} points to entries of another transaction"
    for key in audit.keys_charged_twice(a.id):
        yield "idempotency", f"key {key!r} was charged more than once"
    for key in audit.keys_without_transaction(a.id):
        yield "idempotency", f"key {key!r} points to no transaction of its own"
    yield from _usage_problems(audit, a)


def _running_problems(buckets: Iterable[BucketRow]) -> Iterator[tuple[str, str]]:
    """The first bucket of each series whose running totals differ from the sums of the
    series' buckets up to it (a later bucket would differ by the same amount)."""
    series: tuple[str, str] | None = None
    summed, broken = (0, 0, 0), False
    for op, key, start, figures, cums in buckets:
        if (op, key) != series:
            series, summed, broken = (op, key), (0, 0, 0), False
        summed = (summed[0] + figures[0], summed[1] + figures[1], summed[2] + figures[2])
        if cums != summed and not broken:
            broken = True
            yield (
                "usage",
                f"series ({op!r}, key {key!r}) at bucket {start}: running totals kept {cums},"
                f" summed {summed}",
            )


def _usage_problems(audit: AuditRepository, a: Account) -> Iterator[tuple[str, str]]:
    kept = audit.usage_kept(a.id)
    recomputed = audit.usage_recomputed(a.id)
    for key in sorted(kept.keys() | recomputed.keys()):
        if kept.get(key) != recomputed.get(key):
            yield "usage", f"bucket {key}: kept {kept.get(key)}, recomputed {recomputed.get(key)}"
    yield from _running_problems(audit.usage_series(a.id))
    start = from_us(a.month_start_us)
    following = to_us(
        start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    )
    lifetime = sum(spend for spend, _units, _count in recomputed.values())
    month = sum(v[0] for k, v in recomputed.items() if a.month_start_us <= k[0] < following)
    if lifetime != a.lifetime_spend_micros:
        yield "spend", f"lifetime spend {a.lifetime_spend_micros}, recomputed {lifetime}"
    if month != a.month_spend_micros:
        yield "spend", f"month spend {a.month_spend_micros}, recomputed {month}"
