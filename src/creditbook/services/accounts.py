"""Accounts and their API keys: create, read, change, authenticate; and the balance summary."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from creditbook import ids, limits
from creditbook.clock import month_start_us
from creditbook.domain.accounts import (
    LIVE_KEY_PREFIX,
    TEST_KEY_PREFIX,
    Account,
    AccountStatus,
    ApiKey,
    NewKey,
    Scope,
)
from creditbook.domain.alerts import Alert
from creditbook.domain.fields import check_email, check_text
from creditbook.domain.grants import Grant, available_micros
from creditbook.domain.pricing import SpendTier
from creditbook.domain.usage import parse_zone
from creditbook.errors import AuthenticationFailed, InvalidInput, NotFound
from creditbook.money import check_amount
from creditbook.services.alerts import Alerts
from creditbook.services.key_cache import KeyCache
from creditbook.storage.repositories.accounts import AccountRepository, KeyRepository
from creditbook.storage.store import Store

UNSET: Any = object()
DEFAULT_PLAN = "Pay as you go"


@dataclass(frozen=True, slots=True)
class Summary:
    """An account's money as of now: what `GET /accounts/me/` shows."""

    account: Account
    used_this_month_micros: int
    available_micros: int
    preview_tier: bool
    tier: SpendTier
    grants: list[Grant]  # open grants, in consumption order
    alerts: list[Alert]


def hash_key(secret: str) -> str:
    # The secret carries 256 random bits, so a fast hash is as strong as a slow one here.
    return hashlib.sha256(secret.encode()).hexdigest()


class Accounts:
    def __init__(
        self,
        store: Store,
        *,
        default_monthly_limit_micros: int | None,
        default_overdraft_limit_micros: int,
        alerts: Alerts | None = None,
        key_cache_ttl_s: int = 0,
    ) -> None:
        self._store = store
        self._alerts = alerts
        self._monthly_default = default_monthly_limit_micros
        self._overdraft_default = default_overdraft_limit_micros
        self._keys = KeyCache(
            ttl_us=key_cache_ttl_s * 1_000_000, size_max=limits.key_cache_keys_max
        )

    def create(
        self,
        *,
        email: str,
        name: str = "",
        plan: str = DEFAULT_PLAN,
        timezone: str = "UTC",
        monthly_limit_micros: int | None = UNSET,
        overdraft_limit_micros: int | None = None,
    ) -> Account:
        now = self._store.clock.now_us()
        monthly = self._monthly_default if monthly_limit_micros is UNSET else monthly_limit_micros
        overdraft = (
            self._overdraft_default if overdraft_limit_micros is None else overdraft_limit_micros
        )
        values = {
            "id": ids.account_id(now),
            "email": check_email(email),
            "name": check_text(name, field="name", length_max=limits.name_length_max),
            "plan": check_text(plan, field="plan", length_max=64, required=True),
            "timezone": parse_zone(timezone).key,
            "status": AccountStatus.ACTIVE.value,
            "monthly_limit_micros": _limit(monthly, "monthly_limit"),
            "overdraft_limit_micros": check_amount(overdraft, field="overdraft_limit"),
            "balance_micros": 0,
            "reserved_micros": 0,
            "lifetime_spend_micros": 0,
            "month_start_us": month_start_us(now),
            "month_spend_micros": 0,
            "entry_seq": 0,
            "created_at_us": now,
            "updated_at_us": now,
        }
        with self._store.write() as uow:
            AccountRepository(uow.connection).add(values)
            if self._alerts is not None:
                self._alerts.add_defaults(uow.connection, account_id=str(values["id"]), now_us=now)
            uow.commit()
        return self.get(account_id=str(values["id"]))

    def get(self, *, account_id: str) -> Account:
        with self._store.read() as uow:
            return AccountRepository(uow.connection).require(account_id)

    def page(
        self, *, after_id: str | None = None, limit: int = limits.page_size_default
    ) -> list[Account]:
        if not 1 <= limit <= limits.page_size_max:
            raise InvalidInput("limit", f"Must be between 1 and {limits.page_size_max}.")
        with self._store.read() as uow:
            return AccountRepository(uow.connection).page(after_id=after_id, limit=limit)

    def update(
        self,
        *,
        account_id: str,
        email: str = UNSET,
        name: str = UNSET,
        plan: str = UNSET,
        timezone: str = UNSET,
        status: str = UNSET,
        monthly_limit_micros: int | None = UNSET,
        overdraft_limit_micros: int = UNSET,
    ) -> Account:
        values = _profile_changes(
            email=email,
            name=name,
            plan=plan,
            timezone=timezone,
            status=status,
            monthly_limit_micros=monthly_limit_micros,
        )
        with self._store.write() as uow:
            repo = AccountRepository(uow.connection)
            current = repo.require(account_id)
            if overdraft_limit_micros is not UNSET:
                limit = check_amount(overdraft_limit_micros, field="overdraft_limit")
                if current.balance_micros + limit < 0:
                    raise InvalidInput(
                        "overdraft_limit", "The account is deeper in debt than this limit."
                    )
                values["overdraft_limit_micros"] = limit
            values["updated_at_us"] = self._store.clock.now_us()
            repo.change(account_id, values)
            uow.commit()
        return self.get(account_id=account_id)

    def summary(self, *, account_id: str) -> Summary:
        now = self._store.clock.now_us()
        with self._store.read(transaction=False) as uow:
            standing = AccountRepository(uow.connection).standing(account_id)
            if standing is None:
                raise NotFound("Account not found.")
            account, grants, revision, found = standing
            book = self._store.prices.get(uow.connection, revision)
        grants.sort(key=Grant.order_key)
        used = account.spent_this_month_micros(now)
        return Summary(
            account,
            used,
            available_micros(grants, now, account.overdraft_limit_micros),
            book.is_preview_tier(used),
            book.tier(account.lifetime_spend_micros, now),
            grants,
            found,
        )

    # Keys

    def create_key(
        self,
        *,
        account_id: str,
        name: str | None = None,
        client_id: str | None = None,
        scope: str = Scope.FULL,
        test: bool = False,
    ) -> NewKey:
        self.get(account_id=account_id)
        if scope not in (Scope.READ, Scope.FULL):
            raise InvalidInput("scope", "Must be one of: read, full.")
        secret = (TEST_KEY_PREFIX if test else LIVE_KEY_PREFIX) + secrets.token_urlsafe(32)
        now = self._store.clock.now_us()
        values = {
            "id": ids.key_id(now),
            "account_id": account_id,
            "key_hash": hash_key(secret),
            "prefix": secret[:12],
            "name": check_text(name, field="name", length_max=limits.name_length_max) or None,
            "client_id": check_text(client_id, field="client_id", length_max=200) or None,
            "scope": str(scope),
            "is_test": test,
            "is_active": True,
            "created_at_us": now,
            "last_used_at_us": None,
            "revoked_at_us": None,
        }
        with self._store.write() as uow:
            KeyRepository(uow.connection).add(values)
            uow.commit()
        return NewKey(self.key(account_id=account_id, key_id=str(values["id"])), secret)

    def key(self, *, account_id: str, key_id: str) -> ApiKey:
        with self._store.read() as uow:
            key = KeyRepository(uow.connection).get(account_id, key_id)
        if key is None:
            raise NotFound("Key not found.")
        return key

    def keys(self, *, account_id: str) -> list[ApiKey]:
        with self._store.read() as uow:
            return KeyRepository(uow.connection).of_account(account_id)

    def revoke_key(self, *, account_id: str, key_id: str) -> ApiKey:
        with self._store.write() as uow:
            KeyRepository(uow.connection).revoke(
                account_id, key_id, now_us=self._store.clock.now_us()
            )
            uow.commit()
        self._keys.forget(key_id)
        return self.key(account_id=account_id, key_id=key_id)

    def remembered(self, *, secret: str) -> ApiKey | None:
        """The active key of this secret if it is in the cache: no database, no waiting."""
        return self._keys.get(hash_key(secret), self._store.clock.now_us())

    def authenticate(self, *, secret: str) -> ApiKey:
        """The active key this secret belongs to; the hashes are compared in constant time.

        Active keys are remembered for `key_cache_ttl_s` (see `KeyCache`): a key revoked by
        another process is refused here within that time, one revoked here at once.
        """
        cached = self.remembered(secret=secret)
        if cached is not None:
            return cached
        wanted = hash_key(secret)
        now = self._store.clock.now_us()
        generation = self._keys.generation
        with self._store.read() as uow:
            found = KeyRepository(uow.connection).by_hash(wanted)
        if found is None or not hmac.compare_digest(found[1], wanted):
            raise AuthenticationFailed("Invalid token.")
        key = found[0]
        if not key.is_active:
            raise AuthenticationFailed("This token has been revoked.")
        self._keys.put(wanted, key, now_us=now, generation=generation)
        return key


def _limit(value: int | None, field: str) -> int | None:
    return None if value is None else check_amount(value, field=field)


def _profile_changes(
    *,
    email: str,
    name: str,
    plan: str,
    timezone: str,
    status: str,
    monthly_limit_micros: int | None,
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if email is not UNSET:
        values["email"] = check_email(email)
    if name is not UNSET:
        values["name"] = check_text(name, field="name", length_max=limits.name_length_max)
    if plan is not UNSET:
        values["plan"] = check_text(plan, field="plan", length_max=64, required=True)
    if timezone is not UNSET:
        values["timezone"] = parse_zone(timezone).key
    if status is not UNSET:
        if status not in (AccountStatus.ACTIVE, AccountStatus.SUSPENDED):
            raise InvalidInput("status", "Must be one of: active, suspended.")
        values["status"] = str(status)
    if monthly_limit_micros is not UNSET:
        values["monthly_limit_micros"] = _limit(monthly_limit_micros, "monthly_limit")
    return values
