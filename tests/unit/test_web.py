"""The dashboard's pure parts: money as people read it, session cookies that cannot be forged,
the run-out forecast, the real-time hints, and forms with checkbox groups."""

from __future__ import annotations

from datetime import date

from creditbook.domain.pricing import DEFAULT_PRICES, PriceBook
from creditbook.domain.usage import Figures
from creditbook.web import figures
from creditbook.web.core import Fields, milliseconds, money
from creditbook.web.session import CUSTOMER, Signer, csrf_ok, new_session


def test_money_is_exact_with_thousands_separators() -> None:
    assert money(1_234_567_890_000) == "$1,234,567.89"
    assert money(-500_000) == "-$0.50"
    assert money(1) == "$0.000001"
    assert money(12_000_000) == "$12.00"
    assert money(1_459_248_000) == "$1,459.248"


def test_form_fields_keep_every_ticked_checkbox_and_the_last_value_of_the_rest() -> None:
    fields = Fields([("events", "a"), ("url", "u1"), ("events", "b"), ("url", "u2")])
    assert fields.every("events") == ["a", "b"] and fields.every("secret") == []
    assert fields["url"] == "u2" and fields.get("events") == "b"
    assert milliseconds(15_700) == "15.7 ms" and milliseconds(1_234_000) == "1,234.0 ms"


def test_a_session_cookie_opens_only_unchanged_unexpired_and_under_its_own_key() -> None:
    signer = Signer(b"one")
    session = new_session(1_000, kind=CUSTOMER, account_id="acc", key_id="key")
    sealed = signer.seal(session)
    assert signer.open(sealed, 1_001) == session
    assert signer.open(sealed, session.expires_s) is None  # expired
    assert Signer(b"two").open(sealed, 1_001) is None  # another secret
    body, _, mac = sealed.partition(".")
    assert signer.open(f"{body}x.{mac}", 1_001) is None
    assert signer.open("garbage", 1_001) is None and signer.open(None, 1_001) is None
    assert csrf_ok(session, session.csrf) and not csrf_ok(session, "nope")
    assert not csrf_ok(None, session.csrf) and not csrf_ok(session, None)


def test_the_forecast_divides_the_balance_by_the_average_daily_spend() -> None:
    today = date(2026, 3, 5)
    found = figures.forecast(100_000_000, 14 * 5_000_000, today, 14)
    assert (found.daily_micros, found.days_left, found.runs_out) == (
        5_000_000,
        20,
        date(2026, 3, 25),
    )
    assert figures.forecast(100_000_000, 0, today, 14).days_left is None
    assert figures.forecast(-1, 5_000_000, today, 14).days_left == 0


def test_realtime_spend_is_compared_with_the_database_price() -> None:
    book = PriceBook(DEFAULT_PRICES, [], preview_threshold_micros=0)
    breakdown = {
        "search_realtime": Figures(4_000_000, 100, 4),
        "search_database": Figures(400_000, 20, 2),
    }
    (hint,) = figures.realtime_hints(breakdown, book, 0)
    assert (hint.operation, hint.instead, hint.would_cost_micros, hint.saving_micros) == (
        "search_realtime",
        "search_database",
        2_000_000,
        2_000_000,
    )
    rows = figures.operation_rows(breakdown)
    assert [r.operation for r in rows if r.top] == ["search_realtime", "search_database"]
