"""Webhook endpoints and their deliveries: what a subscription may hold, how a secret signs,
what an answer means for a delivery, and how long to wait before the next try. Pure rules;
the service and the dispatcher load, call these, and write.

Secrets. A generated secret is `whsec_` + base64 of 24 random bytes, the Standard Webhooks
form. A caller may set their own: either that form (base64 of 24-64 bytes after `whsec_`) or
any printable ASCII text of 8-255 characters. The Standard Webhooks signature (`webhook-
signature`) is keyed with the decoded bytes of a `whsec_` secret and with the UTF-8 bytes of
any other; `X-Webhook-Signature` is always keyed with the secret's UTF-8 bytes exactly as shown.
"""

from __future__ import annotations

import base64
import binascii
import secrets as random_secrets
from dataclasses import dataclass
from enum import StrEnum
from random import Random
from urllib.parse import urlsplit

from creditbook import limits
from creditbook.clock import US_PER_S
from creditbook.domain import destinations, events
from creditbook.errors import InvalidInput

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
SECRET_BYTES = 24
WHSEC_BYTES_MIN = 24
WHSEC_BYTES_MAX = 64
JITTER = 0.2  # each wait is its nominal length ±20%
ERROR_LENGTH_MAX = 500  # the error column
SUBSCRIBABLE = events.SUBSCRIBABLE


@dataclass(frozen=True, slots=True)
class Webhook:
    account_id: str
    id: str
    url: str
    events: list[str]
    secret: str
    is_active: bool
    failure_run: int
    disabled_reason: str | None
    created_at_us: int
    updated_at_us: int


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    at_us: int
    status_code: int | None
    latency_us: int
    error: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    account_id: str
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at_us: int
    last_status_code: int | None
    last_error: str | None
    created_at_us: int
    updated_at_us: int


class Status(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Verdict(StrEnum):
    """What one answer (or its absence) means for the delivery."""

    DELIVERED = "delivered"  # 2xx
    REFUSED = "refused"  # 4xx other than 408 / 429: the receiver will not take it; no retry
    RETRY = "retry"  # 3xx, 408, 429, 5xx, timeout, connection error


# Checks of what a caller sends


PRIVATE_HINT = "webhooks to private networks are off on this server"


def check_url(value: object, *, allow_http: bool, allow_private: bool = False) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("url", "Must be a non-empty URL.")
    if len(value) > limits.webhook_url_length_max:
        raise InvalidInput("url", f"At most {limits.webhook_url_length_max} characters.")
    if not all(" " < ch < "\x7f" for ch in value):
        raise InvalidInput("url", "Use printable ASCII without spaces (percent-encode the rest).")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        raise InvalidInput("url", "Not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidInput("url", "Must be an https:// URL.")
    if scheme == "http" and not allow_http:
        raise InvalidInput("url", "Must be an https:// URL (plain http is off on this server).")
    if not parts.hostname:
        raise InvalidInput("url", "The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("url", "Credentials in the URL are not allowed; use the secret.")
    why = None if allow_private else destinations.refusal(parts.hostname)
    if why is not None:
        raise InvalidInput("url", f"Must be a public address: {why} ({PRIVATE_HINT}).")
    return value


def check_events(value: object) -> list[str]:
    """A non-empty list of known event types, each once, in the order given."""
    if not isinstance(value, list) or not value:
        raise InvalidInput("events", "Must be a non-empty list of event types.")
    if not all(isinstance(item, str) for item in value):
        raise InvalidInput("events", "Every event type must be a string.")
    unknown = [item for item in value if item not in SUBSCRIBABLE]
    if unknown:
        raise InvalidInput(
            "events", f"Unsupported events: {unknown!r}. Allowed: {sorted(SUBSCRIBABLE)!r}"
        )
    return list(dict.fromkeys(value))


def check_secret(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("secret", "Must be a string.")
    low, high = limits.webhook_secret_length_min, limits.webhook_secret_length_max
    if not low <= len(value) <= high:
        raise InvalidInput("secret", f"Must be {low} to {high} characters.")
    if not all(" " < ch < "\x7f" for ch in value):
        raise InvalidInput("secret", "Use printable ASCII characters without spaces.")
    if value.startswith(SECRET_PREFIX):
        key = _whsec_key(value)
        if key is None or not WHSEC_BYTES_MIN <= len(key) <= WHSEC_BYTES_MAX:
            raise InvalidInput(
                "secret",
                f"A {SECRET_PREFIX} secret is base64 of {WHSEC_BYTES_MIN}-{WHSEC_BYTES_MAX} bytes.",
            )
    return value


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(SECRET_BYTES)).decode()


def mask_secret(secret: str) -> str:
    """What lists and reads show: enough to recognise a secret, not to use it."""
    prefix = SECRET_PREFIX if secret.startswith(SECRET_PREFIX) else ""
    return f"{prefix}...{secret[-4:]}"


# Signing


def _whsec_key(secret: str) -> bytes | None:
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None


def signing_key(secret: str) -> bytes:
    """The key of the Standard Webhooks signature: a `whsec_` secret's decoded bytes, or the
    UTF-8 bytes of any other secret."""
    if secret.startswith(SECRET_PREFIX):
        key = _whsec_key(secret)
        if key:
            return key
    return secret.encode()


# Answers and retries


def verdict(status_code: int | None) -> Verdict:
    """`None`: no answer (timeout, connection refused, TLS error...)."""
    if status_code is not None and 200 <= status_code < 300:
        return Verdict.DELIVERED
    if status_code is not None and 400 <= status_code < 500 and status_code not in (408, 429):
        return Verdict.REFUSED
    return Verdict.RETRY


def backoff_us(attempt: int, *, base_s: float, max_s: float, random: Random) -> int:
    """How long to wait after failed attempt number `attempt` (1 = the first try):
    `base × 2^(attempt-1)`, capped at `max_s`, then ±`JITTER`, never beyond `max_s`."""
    nominal = min(base_s * 2 ** min(attempt - 1, 62), max_s)
    jittered = nominal * random.uniform(1 - JITTER, 1 + JITTER)
    return int(min(jittered, max_s) * US_PER_S)


def truncate_error(text: str) -> str:
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return cleaned[: ERROR_LENGTH_MAX - 1] + "…" if len(cleaned) > ERROR_LENGTH_MAX else cleaned
