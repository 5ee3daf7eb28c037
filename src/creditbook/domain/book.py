"""One account's money while a write is in progress: its grants and the journal it appends.

Every method either raises before it changes anything, or completes; so a refused command in a
batch leaves the book exactly as it found it. Every change of a grant appends one journal entry
for that grant, carrying the balance and reserved amount after it; the account's entry sequence
therefore doubles as its version.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import NamedTuple

from creditbook import ids
from creditbook.clock import month_start_us
from creditbook.domain.grants import (
    DEFAULT_PRIORITY,
    OVERDRAFT,
    OVERDRAFT_GRANT_ID,
    Grant,
    GrantKind,
    available_micros,
)
from creditbook.errors import InsufficientFunds


class EntryKind:
    GRANT = "grant"  # credit added as a new grant
    CHARGE = "charge"  # one-step charge drawn from a grant
    HOLD = "hold"  # part of a reservation held on a grant
    SETTLE = "settle"  # held part consumed (amount) and the rest released (hold)
    RELEASE = "release"  # held part released without spending
    EXPIRE = "expire"  # expired remainder written off
    REFUND = "refund"  # a settled charge given back to the grant it came from
    ADJUST = "adjust"  # operator correction drawn from a grant
    REPAY = "repay"  # new credit moved onto the overdraft debt


@dataclass(slots=True)
class AccountState:
    id: str
    status: str
    overdraft_limit_micros: int
    monthly_limit_micros: int | None
    balance_micros: int
    reserved_micros: int
    lifetime_spend_micros: int
    month_start_us: int
    month_spend_micros: int
    entry_seq: int


class Entry(NamedTuple):
    """One immutable journal line: what one command did to one grant."""

    account_id: str
    seq: int
    transaction_id: str
    grant_id: str
    kind: str
    amount_micros: int  # change of the balance (and of the grant's remaining)
    hold_micros: int  # change of the reserved amount (and of the grant's held)
    balance_after_micros: int
    reserved_after_micros: int
    at_us: int


Draw = tuple[str, int]  # (grant id, micro-USD)


@dataclass(slots=True)
class Book:
    account: AccountState
    grants: list[Grant]  # kept in consumption order
    now_us: int
    entries: list[Entry] = field(default_factory=list)
    changed_grants: dict[str, Grant] = field(default_factory=dict)
    new_grants: dict[str, Grant] = field(default_factory=dict)
    changed: bool = False
    _by_id: dict[str, Grant] = field(default_factory=dict, init=False, repr=False)
    _available: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.grants.sort(key=Grant.order_key)
        self._by_id = {grant.id: grant for grant in self.grants}
        self._roll_month()
        # Kept up to date by every posting, so refusing or planning a charge costs no sum.
        self._available = available_micros(
            self.grants, self.now_us, self.account.overdraft_limit_micros
        )

    # Reading

    def grant(self, grant_id: str) -> Grant:
        return self._by_id[grant_id]

    def available_micros(self) -> int:
        """What one more charge could take right now, overdraft included."""
        return self._available

    def mark(self) -> int:
        """The sequence number the next journal entry will carry."""
        return self.account.entry_seq + 1

    def since(self, mark: int) -> tuple[int | None, int | None]:
        """The seq range of the entries appended after `mark()`; (None, None) if none were."""
        last = self.account.entry_seq
        return (mark, last) if last >= mark else (None, None)

    def is_preview_month(self, threshold_micros: int) -> bool:
        return self.account.month_spend_micros >= threshold_micros

    # Spending

    def charge(self, amount: int, *, txn_id: str, kind: str = EntryKind.CHARGE) -> list[Draw]:
        """Take `amount` from the grants in order; refused whole when it does not fit."""
        plan = self._plan(amount)
        for grant, part in plan:
            self._post(grant, txn_id, kind, -part, 0)
        return [(grant.id, part) for grant, part in plan]

    def hold(self, amount: int, *, txn_id: str) -> list[Draw]:
        plan = self._plan(amount)
        for grant, part in plan:
            self._post(grant, txn_id, EntryKind.HOLD, 0, part)
        return [(grant.id, part) for grant, part in plan]

    def settle(self, holds: list[Draw], actual: int, *, txn_id: str) -> list[Draw]:
        """Consume `actual` (≤ the total held) from the holds in order; release the rest."""
        assert 0 <= actual <= sum(part for _, part in holds)
        taken: list[Draw] = []
        left = actual
        for grant_id, part in holds:
            take = min(part, left)
            left -= take
            self._post(self._by_id[grant_id], txn_id, EntryKind.SETTLE, -take, -part)
            if take:
                taken.append((grant_id, take))
        return taken

    def release(self, holds: list[Draw], *, txn_id: str) -> None:
        for grant_id, part in holds:
            self._post(self._by_id[grant_id], txn_id, EntryKind.RELEASE, 0, -part)

    def record_spend(self, amount: int) -> None:
        self.account.lifetime_spend_micros += amount
        self.account.month_spend_micros += amount
        self.changed = True

    # Crediting

    def credit(self, grant: Grant, *, txn_id: str) -> None:
        """Add a new grant (remaining 0 until its entry posts the amount); credit that is
        spendable now first pays off any overdraft debt."""
        assert grant.remaining_micros == 0 and grant.held_micros == 0
        self._insert(grant)
        self.new_grants[grant.id] = grant
        self._post(grant, txn_id, EntryKind.GRANT, grant.amount_micros, 0)
        debt = self._debt()
        if debt is not None and debt.remaining_micros < 0 and grant.is_live(self.now_us):
            repay = min(grant.remaining_micros, -debt.remaining_micros)
            self._post(grant, txn_id, EntryKind.REPAY, -repay, 0)
            self._post(debt, txn_id, EntryKind.REPAY, repay, 0)

    def restore(self, draws: list[Draw], already: int, amount: int, *, txn_id: str) -> str | None:
        """Give `amount` back to the grants a charge drew from, last drawn first.

        `already` is what earlier refunds of the same charge gave back; they came from the
        same end, so they are skipped first.
        """
        skip, left, surplus = already, amount, 0
        for grant_id, part in reversed(draws):
            room = part - min(part, skip)
            skip -= min(part, skip)
            give = min(room, left)
            left -= give
            grant = self._by_id[grant_id]
            if grant.is_overdraft:
                # Only what is still owed goes back to the debt; whatever a later top-up
                # already repaid comes back as credit of its own.
                owed = min(give, -grant.remaining_micros)
                surplus += give - owed
                give = owed
            if give:
                self._post(grant, txn_id, EntryKind.REFUND, give, 0)
        assert left == 0, "a refund larger than the charge reached the book"
        return self._refund_grant(surplus, txn_id=txn_id) if surplus else None

    def _refund_grant(self, amount: int, *, txn_id: str) -> str:
        """A new grant for refunded money whose overdraft debt was already repaid."""
        grant = Grant(
            self.account.id,
            ids.grant_id(self.now_us),
            GrantKind.ADJUSTMENT,
            DEFAULT_PRIORITY[GrantKind.ADJUSTMENT],
            self.now_us,
            None,
            self.now_us,
            amount,
            0,
        )
        self._insert(grant)
        self.new_grants[grant.id] = grant
        self._post(grant, txn_id, EntryKind.REFUND, amount, 0)
        return grant.id

    def unrecord_spend(self, amount: int, *, spent_at_us: int) -> None:
        self.account.lifetime_spend_micros -= amount
        if month_start_us(spent_at_us) == self.account.month_start_us:
            self.account.month_spend_micros -= amount
        self.changed = True

    def write_off(self, grant: Grant, *, txn_id: str, early: bool = False) -> int:
        """Write off what an expired grant (or, `early`, any grant) still holds that no
        reservation is using."""
        amount = grant.remaining_micros - grant.held_micros
        assert amount > 0 and (early or grant.is_expired(self.now_us))
        self._post(grant, txn_id, EntryKind.EXPIRE, -amount, 0)
        return amount

    def expired_grants(self) -> list[Grant]:
        return [
            g
            for g in self.grants
            if g.is_expired(self.now_us) and g.remaining_micros - g.held_micros > 0
        ]

    # Internals

    def _plan(self, amount: int) -> list[tuple[Grant, int]]:
        if amount > self._available:
            raise InsufficientFunds()
        plan: list[tuple[Grant, int]] = []
        left = amount
        now, limit = self.now_us, self.account.overdraft_limit_micros
        for grant in self.grants if left else ():
            take = grant.free_micros(now, limit)
            if take:
                take = min(take, left)
                plan.append((grant, take))
                left -= take
                if not left:
                    break
        if left:
            plan.append((self._open_debt(), left))
        return plan

    def _post(self, grant: Grant, txn_id: str, kind: str, amount: int, hold: int) -> None:
        account = self.account
        now = self.now_us
        if grant.kind == OVERDRAFT:  # its free amount is clamped at zero: recompute it
            limit = account.overdraft_limit_micros
            free_before = grant.free_micros(now, limit)
            grant.remaining_micros += amount
            grant.held_micros += hold
            self._available += grant.free_micros(now, limit) - free_before
        else:
            # Any other grant keeps remaining >= held, so its free amount moves exactly by
            # amount - hold while it is live, and stays 0 otherwise.
            grant.remaining_micros += amount
            grant.held_micros += hold
            expires = grant.expires_at_us
            if grant.effective_at_us <= now and (expires is None or now < expires):
                self._available += amount - hold
        account.balance_micros += amount
        account.reserved_micros += hold
        account.entry_seq += 1
        self.entries.append(
            Entry(
                account.id,
                account.entry_seq,
                txn_id,
                grant.id,
                kind,
                amount,
                hold,
                account.balance_micros,
                account.reserved_micros,
                self.now_us,
            )
        )
        if grant.id not in self.new_grants:
            self.changed_grants[grant.id] = grant
        self.changed = True

    def _debt(self) -> Grant | None:
        last = self.grants[-1] if self.grants else None
        return last if last is not None and last.is_overdraft else None

    def _open_debt(self) -> Grant:
        """The account's one overdraft grant, created the first time the account needs it.

        Storage always loads it once it exists (even at zero), so there is never a second.
        """
        debt = self._debt()
        if debt is None:
            debt = Grant(
                self.account.id,
                OVERDRAFT_GRANT_ID,
                GrantKind.OVERDRAFT,
                DEFAULT_PRIORITY[GrantKind.OVERDRAFT],
                self.now_us,
                None,
                self.now_us,
                0,
                0,
            )
            self._insert(debt)
            self.new_grants[debt.id] = debt
            # The overdraft room now lives in the debt grant's free amount, not beside it.
            self._available -= self.account.overdraft_limit_micros
        return debt

    def _insert(self, grant: Grant) -> None:
        keys = [g.order_key() for g in self.grants]
        self.grants.insert(bisect.bisect_right(keys, grant.order_key()), grant)
        self._by_id[grant.id] = grant
        self._available += grant.free_micros(self.now_us, self.account.overdraft_limit_micros)

    def _roll_month(self) -> None:
        month = month_start_us(self.now_us)
        if month != self.account.month_start_us:
            self.account.month_start_us = month
            self.account.month_spend_micros = 0
