"""Transactions are written as JSON text for speed (pages, and every charge's answer); the text
must be the very bytes the general JSON rendering gives for the same transaction."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from creditbook import limits
from creditbook.api import render
from creditbook.api.responses import dumps
from creditbook.domain.transactions import Status, Transaction

AMOUNTS = st.integers(-limits.balance_micros_max, limits.balance_micros_max)
TEXT = st.none() | st.text(max_size=30)  # any text: quotes, backslashes, control characters
OPERATIONS = st.sampled_from(["search_database", "email_find", "phone_find"])
KINDS = st.sampled_from(["top_up", "grant", "refund", "expiration", "adjustment", 'odd "kind"'])
METADATA = st.none() | st.dictionaries(
    st.text(max_size=8),
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    max_size=3,
)


@st.composite
def transactions(draw: st.DrawFn) -> Transaction:
    operation = draw(st.none() | OPERATIONS)
    charge = operation is not None and draw(st.booleans())
    return Transaction(
        "acc_1",
        draw(st.text(min_size=1, max_size=40)),
        draw(st.integers(0, 2**53)),
        operation if charge and operation else draw(KINDS),
        draw(st.sampled_from(list(Status))),
        draw(AMOUNTS),
        draw(AMOUNTS),
        operation=operation,
        units=draw(st.integers(0, limits.units_max)),
        reserved_units=draw(st.integers(0, limits.units_max)),
        reserved_micros=draw(AMOUNTS),
        unit_price_micros=draw(st.integers(0, limits.unit_price_micros_max)),
        multiplier_ppm=draw(st.integers(0, limits.multiplier_ppm_max)),
        settled_at_us=draw(st.none() | st.integers(0, 2**53)),
        expires_at_us=draw(st.none() | st.integers(0, 2**53)),
        api_key_id=draw(TEXT),
        idempotency_key=draw(TEXT),
        request_id=draw(TEXT),
        reverses_id=draw(TEXT),
        grant_id=draw(TEXT),
        note=draw(TEXT),
        details=draw(METADATA),
    )


def general(t: Transaction) -> dict[str, Any]:
    """The transaction as a dict of exact Decimals, the way any JSON rendering would see it."""
    balance_type = "usage" if t.is_charge else render.BALANCE_TYPES.get(t.type, t.type)
    return {
        "id": t.id,
        "timestamp": render.when(t.created_at_us),
        "type": t.type,
        "credits": render.usd(t.credits_micros),
        "details": {
            "balance_type": balance_type,
            "status": t.status,
            "balance_after": render.usd(t.balance_after_micros),
            "operation": t.operation,
            "units": t.units,
            "unit_price": render.usd(t.unit_price_micros),
            "multiplier": render.multiplier(t.multiplier_ppm),
            "reserved": render.usd(t.reserved_micros),
            "reserved_units": t.reserved_units,
            "settled_at": render.when(t.settled_at_us),
            "expires_at": render.when(t.expires_at_us),
            "api_key_id": t.api_key_id,
            "idempotency_key": t.idempotency_key,
            "request_id": t.request_id,
            "reverses": t.reverses_id,
            "grant_id": t.grant_id,
            "note": t.note,
            "metadata": t.details,
        },
    }


@given(transactions())
def test_a_transaction_is_written_as_the_general_json_would_write_it(t: Transaction) -> None:
    text = render.transaction_json(t)
    assert text == dumps(general(t))
    parsed = json.loads(text, parse_float=Decimal)
    assert parsed["details"]["multiplier"] == Decimal(t.multiplier_ppm) / 1_000_000
    assert parsed["details"]["note"] == t.note


def test_a_top_up_shows_its_balance_type_and_a_charge_shows_usage() -> None:
    top_up = Transaction("acc_1", "txn_1", 0, "top_up", Status.SUCCESS, 5_000_000, 5_000_000)
    charge = Transaction(
        "acc_1", "txn_2", 1, "email_find", Status.SUCCESS, -20_000, 4_980_000, "email_find", 1
    )
    assert json.loads(render.transaction_json(top_up))["details"]["balance_type"] == "purchase"
    assert json.loads(render.transaction_json(charge))["details"]["balance_type"] == "usage"
    assert json.loads(render.transaction_json(charge))["credits"] == -0.02
