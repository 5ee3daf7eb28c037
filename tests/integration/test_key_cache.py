"""Authenticated keys are remembered for a short while: revoking through the same process
takes effect at once, revoking through another process within the cache's TTL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from creditbook.bootstrap import Services
from creditbook.clock import ManualClock
from creditbook.domain.accounts import NewKey
from creditbook.errors import AuthenticationFailed
from creditbook.services.key_cache import KeyCache
from tests.conftest import built_services

US_PER_S = 1_000_000


@pytest.fixture
def other(db_url: str, clock: ManualClock) -> Iterator[Services]:
    """A second process on the same database, with its own cache."""
    with built_services(db_url, clock) as built:
        yield built


def new_key(services: Services) -> NewKey:
    account = services.accounts.create(email="cache@example.com")
    return services.accounts.create_key(account_id=account.id)


def test_a_key_revoked_in_this_process_is_refused_at_once_though_it_was_cached(
    services: Services,
) -> None:
    key = new_key(services)
    assert services.accounts.authenticate(secret=key.secret).id == key.key.id
    services.accounts.revoke_key(account_id=key.key.account_id, key_id=key.key.id)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        services.accounts.authenticate(secret=key.secret)


def test_a_key_revoked_by_another_process_is_refused_once_the_ttl_has_passed(
    services: Services, other: Services, clock: ManualClock
) -> None:
    ttl_s = services.settings.key_cache_ttl_s
    assert ttl_s > 0
    key = new_key(services)
    services.accounts.authenticate(secret=key.secret)
    other.accounts.revoke_key(account_id=key.key.account_id, key_id=key.key.id)
    clock.advance(ttl_s * US_PER_S - 1)
    assert services.accounts.authenticate(secret=key.secret).id == key.key.id
    clock.advance(1)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        services.accounts.authenticate(secret=key.secret)


def test_with_a_ttl_of_zero_every_request_reads_the_key_table(
    db_url: str, services: Services, clock: ManualClock
) -> None:
    with built_services(db_url, clock, key_cache_ttl_s=0) as uncached:
        key = new_key(uncached)
        uncached.accounts.authenticate(secret=key.secret)
        services.accounts.revoke_key(account_id=key.key.account_id, key_id=key.key.id)
        with pytest.raises(AuthenticationFailed, match="revoked"):
            uncached.accounts.authenticate(secret=key.secret)


def test_a_lookup_that_started_before_a_revocation_does_not_store_the_key(
    services: Services,
) -> None:
    key = new_key(services).key
    cache = KeyCache(ttl_us=10 * US_PER_S, size_max=8)
    seen = cache.generation
    cache.forget(key.id)  # a revocation lands while the lookup reads the table
    cache.put("hash", key, now_us=0, generation=seen)
    assert cache.get("hash", 1) is None
    cache.put("hash", key, now_us=0, generation=cache.generation)
    assert cache.get("hash", 1) == key


def test_the_cache_holds_at_most_its_size_forgetting_the_least_recent_key(
    services: Services,
) -> None:
    key = new_key(services).key
    cache = KeyCache(ttl_us=10 * US_PER_S, size_max=2)
    for name in ("a", "b", "c"):
        cache.put(name, key, now_us=0, generation=cache.generation)
    assert [cache.get(name, 1) for name in ("a", "b", "c")] == [None, key, key]
