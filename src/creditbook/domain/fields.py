"""Checks for the values callers send, each raising `InvalidInput` naming the field."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import simplejson

from creditbook import limits
from creditbook.errors import InvalidInput

_CODE = re.compile(f"[a-z0-9_]{{1,{limits.operation_code_length_max}}}")


def check_int(value: object, *, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, "Must be a whole number.")
    if not low <= value <= high:
        raise InvalidInput(field, f"Must be between {low} and {high}.")
    return value


def check_units(value: object, *, field: str = "units", low: int = 1) -> int:
    return check_int(value, field=field, low=low, high=limits.units_max)


def check_code(value: object, *, field: str = "operation") -> str:
    """An operation code: 1-64 characters of a-z, 0-9 and underscore."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "Must be a non-empty string.")
    if not _CODE.fullmatch(value):
        raise InvalidInput(field, "Use 1-64 characters of a-z, 0-9 and underscore.")
    return value


def check_token(value: object, *, field: str, length_max: int) -> str | None:
    """An opaque caller-chosen token (idempotency key, request id): printable ASCII."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "Must be a non-empty string.")
    if len(value) > length_max:
        raise InvalidInput(field, f"At most {length_max} characters.")
    if not all(" " < ch < "\x7f" for ch in value):
        raise InvalidInput(field, "Use printable ASCII characters without spaces.")
    return value


def check_idempotency_key(value: object) -> str | None:
    return check_token(value, field="idempotency_key", length_max=limits.idempotency_key_length_max)


def check_request_id(value: object) -> str | None:
    return check_token(value, field="request_id", length_max=limits.request_id_length_max)


def check_text(value: object, *, field: str, length_max: int, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(
            field, "Must be a non-empty string." if required else "Must be a string."
        )
    if len(value) > length_max:
        raise InvalidInput(field, f"At most {length_max} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\n" for ch in value):
        raise InvalidInput(field, "Control characters and unpaired surrogates are not allowed.")
    return value


def check_details(value: object) -> dict[str, Any] | None:
    """Free-form details: a JSON object of at most `details_bytes_max` bytes."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput("details", "Must be a JSON object.")
    try:
        encoded = dump_json(value)
    except (TypeError, ValueError):
        raise InvalidInput("details", "Must be plain JSON (no NaN or infinity).") from None
    if len(encoded.encode()) > limits.details_bytes_max:
        raise InvalidInput("details", f"At most {limits.details_bytes_max} bytes as JSON.")
    result: dict[str, Any] = load_json(encoded)
    return result


def dump_json(value: object) -> str:
    """Compact JSON in which decimal numbers keep every digit (never through a float)."""
    return simplejson.dumps(value, separators=(",", ":"), use_decimal=True, allow_nan=False)


def load_json(text: str) -> Any:
    return simplejson.loads(text, use_decimal=True)


def check_email(value: object) -> str:
    email = check_text(value, field="email", length_max=limits.email_length_max, required=True)
    local, _, domain = email.partition("@")
    spaced = any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in email)
    if not local or "." not in domain or spaced or domain.startswith("."):
        raise InvalidInput("email", "Must be an email address.")
    return email
