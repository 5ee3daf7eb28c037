"""What the client raises: the server's error envelope as typed exceptions by status code, and
a transport failure once the retries are spent."""

from __future__ import annotations

from typing import Any


class CreditbookClientError(Exception):
    """Anything the client raises on purpose."""


class ConnectionFailed(CreditbookClientError):
    """The server could not be reached (or kept failing) after every retry."""


class CreditbookAPIError(CreditbookClientError):
    """An error answer: `{"status": "error", "status_code": N, "detail": ...}`.

    `detail` is a sentence, or `{field: [messages]}` for bad input."""

    def __init__(self, status_code: int, detail: Any, *, request_id: str | None = None) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.request_id = request_id


class ValidationError(CreditbookAPIError):
    """400: bad input; `detail` names the fields."""


class AuthenticationError(CreditbookAPIError):
    """401: a missing, unknown or revoked key."""


class InsufficientFundsError(CreditbookAPIError):
    """402: the charge or reservation does not fit the balance."""


class PermissionDeniedError(CreditbookAPIError):
    """403: the key may not do this (a read key spending, another account's id)."""


class NotFoundError(CreditbookAPIError):
    """404: nothing with that id belongs to the caller."""


class ConflictError(CreditbookAPIError):
    """409: an idempotency key reused with other parameters, or a closed reservation."""


class RateLimitedError(CreditbookAPIError):
    """429: a configured limit (the monthly spending cap) says no."""


class ServerError(CreditbookAPIError):
    """5xx: the server failed; metering and reads were already retried."""


LimitReached = RateLimitedError

BY_STATUS: dict[int, type[CreditbookAPIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    402: InsufficientFundsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
}


def error_for(status_code: int, detail: Any, request_id: str | None) -> CreditbookAPIError:
    """The exception class for a status code (any other 5xx is a ServerError)."""
    kind = BY_STATUS.get(status_code)
    if kind is None:
        kind = ServerError if status_code >= 500 else CreditbookAPIError
    return kind(status_code, detail, request_id=request_id)
