"""Checks of caller-sent values: good values pass through, bad ones name their field."""

from __future__ import annotations

import pytest

from creditbook import limits
from creditbook.domain.fields import (
    check_code,
    check_details,
    check_email,
    check_idempotency_key,
    check_int,
    check_request_id,
    check_text,
    check_token,
    check_units,
)
from creditbook.errors import InvalidInput

# check_int and check_units


@pytest.mark.parametrize("value", [1, 5, 10])
def test_check_int_accepts_whole_numbers_within_inclusive_bounds(value: int) -> None:
    assert check_int(value, field="ttl", low=1, high=10) == value


@pytest.mark.parametrize("value", [0, 11, -1, True, False, 5.0, "5", None])
def test_check_int_refuses_bools_non_ints_and_out_of_range(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_int(value, field="ttl", low=1, high=10)
    assert caught.value.field == "ttl"


def test_check_units_accepts_one_to_the_maximum() -> None:
    assert check_units(1) == 1
    assert check_units(limits.units_max) == limits.units_max
    assert check_units(0, low=0) == 0


@pytest.mark.parametrize("value", [0, -1, limits.units_max + 1, True, 1.5])
def test_check_units_refuses_outside_the_range_naming_units(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_units(value)
    assert caught.value.field == "units"


def test_check_units_names_the_field_it_is_given() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_units(0, field="settled_units")
    assert caught.value.field == "settled_units"


# check_code


@pytest.mark.parametrize("value", ["search_database", "a", "op_2", "x" * 64])
def test_check_code_accepts_lowercase_digits_and_underscores(value: str) -> None:
    assert check_code(value) == value


@pytest.mark.parametrize(
    "value", ["", None, 5, "Search", "a-b", "a b", "x" * 65, "é", "op\n", "ｏｐ"]
)
def test_check_code_refuses_anything_else_naming_operation(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_code(value)
    assert caught.value.field == "operation"


def test_check_code_names_the_field_it_is_given() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_code("Bad", field="code")
    assert caught.value.field == "code"


# Tokens: idempotency keys and request ids


@pytest.mark.parametrize("value", ["k", "order-42_retry.1~!", "x" * 20])
def test_check_token_accepts_printable_ascii_without_spaces(value: str) -> None:
    assert check_token(value, field="token", length_max=20) == value


def test_check_token_accepts_none_as_no_token() -> None:
    assert check_token(None, field="token", length_max=20) is None


@pytest.mark.parametrize("value", ["", "a b", "tab\there", "del\x7f", "é", "x" * 21, 42, b"k"])
def test_check_token_refuses_empty_long_or_unprintable_tokens(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_token(value, field="token", length_max=20)
    assert caught.value.field == "token"


def test_an_idempotency_key_may_be_255_characters_but_not_256() -> None:
    assert check_idempotency_key("k" * limits.idempotency_key_length_max) is not None
    assert check_idempotency_key(None) is None
    with pytest.raises(InvalidInput) as caught:
        check_idempotency_key("k" * (limits.idempotency_key_length_max + 1))
    assert caught.value.field == "idempotency_key"


def test_a_request_id_is_checked_as_a_token_naming_request_id() -> None:
    assert check_request_id("req-1") == "req-1"
    assert check_request_id(None) is None
    with pytest.raises(InvalidInput) as caught:
        check_request_id("has space")
    assert caught.value.field == "request_id"


# check_text


def test_check_text_accepts_text_with_tabs_and_newlines() -> None:
    assert check_text("line one\n\tline two", field="note", length_max=100) == (
        "line one\n\tline two"
    )
    assert check_text("x" * 10, field="note", length_max=10) == "x" * 10


def test_optional_text_may_be_missing_or_empty() -> None:
    assert check_text(None, field="note", length_max=10) == ""
    assert check_text("", field="note", length_max=10) == ""


@pytest.mark.parametrize("value", [None, "", "   ", "\n"])
def test_required_text_must_have_something_besides_spaces(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_text(value, field="reason", length_max=10, required=True)
    assert caught.value.field == "reason"


@pytest.mark.parametrize("value", ["x" * 11, "nul\x00", "cr\r", "esc\x1b", 5, ["a"]])
def test_check_text_refuses_long_text_control_characters_and_non_strings(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_text(value, field="note", length_max=10)
    assert caught.value.field == "note"


@pytest.mark.parametrize("value", ["del\x7f", "nel\x85"])
def test_check_text_refuses_del_and_c1_control_characters(value: str) -> None:
    with pytest.raises(InvalidInput):
        check_text(value, field="note", length_max=10)


# check_details


def test_check_details_accepts_none_and_plain_json_objects() -> None:
    assert check_details(None) is None
    details = {"query": "cto", "page": 2, "tags": ["a", None], "ok": True}
    checked = check_details(details)
    assert checked == details
    assert checked is not details  # a copy, detached from the caller's object


def test_check_details_accepts_exactly_the_byte_limit() -> None:
    # {"k":"…"} is 8 bytes of JSON around the value.
    limit = limits.details_bytes_max
    assert check_details({"k": "x" * (limit - 8)}) is not None
    with pytest.raises(InvalidInput) as caught:
        check_details({"k": "x" * (limit - 7)})
    assert caught.value.field == "details"


@pytest.mark.parametrize(
    "value",
    [
        ["a"],
        "text",
        5,
        {"x": float("nan")},
        {"x": float("inf")},
        {"x": object()},
        {"x": {1, 2}},
    ],
)
def test_check_details_refuses_non_objects_and_non_json_values(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_details(value)
    assert caught.value.field == "details"


# check_email


@pytest.mark.parametrize("value", ["ops@example.com", "a.b+c@mail.example.co.uk"])
def test_check_email_accepts_addresses(value: str) -> None:
    assert check_email(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "  ",
        "no-at.example.com",
        "@example.com",
        "ops@localhost",
        "ops@.example.com",
        "o ps@example.com",
        "ops@exa mple.com",
        "x" * 250 + "@example.com",
        "ops\x00@example.com",
    ],
)
def test_check_email_refuses_what_is_not_an_address_naming_email(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_email(value)
    assert caught.value.field == "email"


@pytest.mark.parametrize("value", ["ops@example.com\n", "ops\t@example.com"])
def test_check_email_refuses_addresses_with_tabs_or_newlines(value: str) -> None:
    with pytest.raises(InvalidInput):
        check_email(value)
