"""The batch answer is written as text for speed; it must be the very bytes the general JSON
rendering gives, and amounts the exact digits of `to_decimal`."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from creditbook import limits
from creditbook.api import render
from creditbook.api.responses import dumps
from creditbook.api.routes.metering import batch_item
from creditbook.domain.transactions import Receipt, Transaction
from creditbook.errors import InsufficientFunds, InvalidInput
from creditbook.money import format_usd, to_decimal

AMOUNTS = st.integers(-limits.balance_micros_max, limits.balance_micros_max)


@given(AMOUNTS)
def test_format_usd_gives_the_digits_of_to_decimal(micros: int) -> None:
    assert format_usd(micros) == format(to_decimal(micros), "f")


def receipt(charged: int, balance: int, *, replayed: bool) -> Receipt:
    txn = Transaction("acc_1", "txn_01JX\u00e9", 0, "search_database", "settled", -charged, balance)
    return Receipt(txn, charged, 0, balance, balance, replayed=replayed)


@given(st.integers(0, limits.batch_charges_max), AMOUNTS, AMOUNTS, st.booleans())
def test_a_charged_item_is_rendered_as_the_general_json_would_render_it(
    index: int, charged: int, balance: int, replayed: bool
) -> None:
    outcome = receipt(charged, balance, replayed=replayed)
    general = {
        "index": index,
        "status": 201,
        "transaction_id": outcome.transaction.id,
        "amount_charged": render.usd(charged),
        "balance": render.usd(balance),
        "replayed": replayed,
    }
    assert batch_item(index, outcome) == dumps(general)


def test_a_refused_item_carries_its_status_and_detail() -> None:
    for error in (InsufficientFunds(), InvalidInput("units", 'Bad "units" \u00e9.')):
        expected = {"index": 3, "status": error.status_code, "detail": error.detail}
        assert batch_item(3, error) == dumps(expected)
