"""Grants: the order charges draw on them, what each can still give, and grant kinds."""

from __future__ import annotations

import random

import pytest

from creditbook import limits
from creditbook.domain.grants import (
    Grant,
    GrantKind,
    available_micros,
    check_priority,
    parse_kind,
)
from creditbook.errors import InvalidInput
from tests.unit.domain.builders import NOW, make_grant


def ordered(grants: list[Grant]) -> list[str]:
    return [g.id for g in sorted(grants, key=Grant.order_key)]


# Order


def test_a_lower_priority_number_comes_first_whatever_the_expiry_and_age() -> None:
    first = make_grant("first", priority=1, expires_at_us=None, created_at_us=99)
    second = make_grant("second", priority=2, expires_at_us=NOW + 1, created_at_us=1)
    assert ordered([second, first]) == ["first", "second"]


def test_the_soonest_expiry_comes_first_within_a_priority() -> None:
    soon = make_grant("soon", priority=5, expires_at_us=NOW + 100, created_at_us=9)
    later = make_grant("later", priority=5, expires_at_us=NOW + 200, created_at_us=1)
    assert ordered([later, soon]) == ["soon", "later"]


def test_a_grant_that_never_expires_comes_after_every_grant_that_does() -> None:
    never = make_grant("never", priority=5, expires_at_us=None, created_at_us=0)
    far = make_grant("far", priority=5, expires_at_us=2**62, created_at_us=5)
    epoch = make_grant("epoch", priority=5, expires_at_us=0, created_at_us=5)
    assert ordered([never, far, epoch]) == ["epoch", "far", "never"]


def test_the_oldest_comes_first_among_equal_priority_and_expiry() -> None:
    new = make_grant("new", priority=5, created_at_us=NOW)
    old = make_grant("old", priority=5, created_at_us=NOW - 1)
    assert ordered([new, old]) == ["old", "new"]
    new_exp = make_grant("new_exp", priority=5, expires_at_us=NOW + 9, created_at_us=NOW)
    old_exp = make_grant("old_exp", priority=5, expires_at_us=NOW + 9, created_at_us=NOW - 1)
    assert ordered([new_exp, old_exp]) == ["old_exp", "new_exp"]


def test_the_overdraft_grant_always_comes_last() -> None:
    debt = make_grant("debt", kind=GrantKind.OVERDRAFT, priority=0, remaining=-5, created_at_us=0)
    paid = make_grant("paid", priority=limits.priority_max - 1, created_at_us=NOW)
    assert ordered([debt, paid]) == ["paid", "debt"]


def test_the_full_order_of_a_mixed_set_of_grants() -> None:
    grants = [
        make_grant("p1_never", priority=1, created_at_us=9),
        make_grant("p5_exp100", priority=5, expires_at_us=100, created_at_us=4),
        make_grant("p5_exp200", priority=5, expires_at_us=200, created_at_us=3),
        make_grant("p5_never_old", priority=5, created_at_us=1),
        make_grant("p5_never_new", priority=5, created_at_us=2),
        make_grant("p50_exp50", priority=50, expires_at_us=50),
        make_grant("debt", kind=GrantKind.OVERDRAFT, priority=0),
    ]
    expected = [g.id for g in grants]
    shuffled = grants[:]
    random.Random(7).shuffle(shuffled)
    assert ordered(shuffled) == expected


# What a grant can give


def test_a_live_grant_gives_what_it_holds_minus_what_is_reserved() -> None:
    grant = make_grant("g", remaining=500, held=200, effective_at_us=NOW - 1)
    assert grant.free_micros(NOW, overdraft_limit_micros=1_000) == 300


def test_a_grant_becomes_spendable_at_its_effective_moment_not_before() -> None:
    grant = make_grant("g", remaining=500, effective_at_us=NOW)
    assert grant.free_micros(NOW - 1, 0) == 0
    assert grant.free_micros(NOW, 0) == 500


def test_a_grant_gives_nothing_from_its_expiry_moment_on() -> None:
    grant = make_grant("g", remaining=500, expires_at_us=NOW)
    assert grant.free_micros(NOW - 1, 0) == 500
    assert grant.free_micros(NOW, 0) == 0
    assert grant.free_micros(NOW + 1, 0) == 0
    assert grant.is_expired(NOW) and not grant.is_expired(NOW - 1)


def test_a_fully_reserved_grant_gives_nothing() -> None:
    assert make_grant("g", remaining=500, held=500).free_micros(NOW, 0) == 0


def test_the_overdraft_grant_gives_the_room_left_under_the_limit() -> None:
    debt = make_grant("debt", kind=GrantKind.OVERDRAFT, remaining=-300, held=100)
    assert debt.free_micros(NOW, overdraft_limit_micros=1_000) == 600


def test_an_overdraft_beyond_a_lowered_limit_gives_nothing_rather_than_a_negative() -> None:
    debt = make_grant("debt", kind=GrantKind.OVERDRAFT, remaining=-300)
    assert debt.free_micros(NOW, overdraft_limit_micros=100) == 0


def test_the_overdraft_grant_ignores_effective_and_expiry_times() -> None:
    debt = make_grant(
        "debt", kind=GrantKind.OVERDRAFT, remaining=0, effective_at_us=NOW + 1, expires_at_us=NOW
    )
    assert debt.free_micros(NOW, overdraft_limit_micros=250) == 250


def test_available_adds_the_overdraft_limit_when_there_is_no_debt_grant() -> None:
    grants = [
        make_grant("live", remaining=700, held=200),
        make_grant("future", remaining=1_000, effective_at_us=NOW + 1),
        make_grant("expired", remaining=1_000, expires_at_us=NOW),
    ]
    assert available_micros(grants, NOW, 50) == 500 + 50
    assert available_micros([], NOW, 50) == 50


def test_available_counts_the_overdraft_room_once_when_a_debt_grant_exists() -> None:
    grants = [
        make_grant("live", remaining=0),
        make_grant("debt", kind=GrantKind.OVERDRAFT, remaining=-30, held=0),
    ]
    assert available_micros(grants, NOW, 100) == 70


# Kinds and priorities


@pytest.mark.parametrize("kind", ["purchase", "promotional", "plan", "adjustment"])
def test_parse_kind_accepts_every_kind_that_may_be_granted(kind: str) -> None:
    assert parse_kind(kind) is GrantKind(kind)


@pytest.mark.parametrize("value", ["overdraft", "gift", "", "Purchase"])
def test_parse_kind_refuses_unknown_kinds_and_overdraft(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_kind(value)
    assert caught.value.field == "kind"
    allowed = caught.value.message.split("allowed:")[1]
    assert "purchase" in allowed and "overdraft" not in allowed


@pytest.mark.parametrize("priority", [0, 40, limits.priority_max - 1])
def test_check_priority_accepts_the_range(priority: int) -> None:
    assert check_priority(priority) == priority


@pytest.mark.parametrize("priority", [-1, limits.priority_max])
def test_check_priority_refuses_outside_the_range(priority: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_priority(priority)
    assert caught.value.field == "priority"
