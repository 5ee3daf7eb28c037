"""The error tree of creditbook. Every error the package raises on purpose is one of these.

    CreditbookError                      (500, never raised itself)
    ├── InvalidInput                     (400) a value the caller sent is not acceptable
    │   └── UnknownOperation             (400) an operation code the price book does not know
    ├── AuthenticationFailed             (401) no credentials, or credentials we do not know
    ├── PermissionDenied                 (403) known caller, not allowed to do this
    │   └── AccountSuspended             (403) the account may not spend
    ├── NotFound                         (404) nothing with that id belongs to the caller
    ├── InsufficientFunds                (402) the charge does not fit balance + overdraft
    ├── Conflict                         (409) the request contradicts what is recorded
    │   ├── IdempotencyConflict          (409) a key reused with other parameters
    │   ├── ReservationClosed            (409) settled, cancelled or expired already
    │   └── NothingToRefund              (409) the transaction is not refundable (any more)
    ├── RequestTooLarge                  (413) the request body exceeds its limit
    ├── LimitReached                     (429) a configured limit says no
    │   ├── MonthlyLimitReached          (429) the account's monthly spending cap
    │   └── TooManyFailures              (429) too many failed authentications from an address
    └── StorageError                     (503) the database cannot serve us
        └── SchemaNotMigrated            (503) run `creditbook db upgrade` first

Each class carries its HTTP status and a stable machine code, so the HTTP layer maps the whole
tree in one place. When several checks fail for one request, the ledger reports the first in
this order of precedence: input, permission, not found, conflict, limit, funds.
"""

from __future__ import annotations


class CreditbookError(Exception):
    """Root of every deliberate error; `detail` is what a caller may see."""

    status_code = 500
    code = "internal_error"

    def __init__(self, detail: str | dict[str, list[str]]) -> None:
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail: str | dict[str, list[str]] = detail


class InvalidInput(CreditbookError):
    """Raised before anything is read or written, when a value cannot be accepted."""

    status_code = 400
    code = "invalid_input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__({field: [message]})
        self.field = field
        self.message = message


class UnknownOperation(InvalidInput):
    """Raised when a charge names an operation that has no price."""

    code = "unknown_operation"


class AuthenticationFailed(CreditbookError):
    status_code = 401
    code = "authentication_failed"


class PermissionDenied(CreditbookError):
    status_code = 403
    code = "permission_denied"


class AccountSuspended(PermissionDenied):
    """Raised when a suspended account tries to spend."""

    code = "account_suspended"


class NotFound(CreditbookError):
    status_code = 404
    code = "not_found"


class InsufficientFunds(CreditbookError):
    """Raised when a charge does not fit; nothing has been written."""

    status_code = 402
    code = "insufficient_funds"

    def __init__(self) -> None:
        super().__init__("Insufficient funds in the account.")


class Conflict(CreditbookError):
    status_code = 409
    code = "conflict"


class IdempotencyConflict(Conflict):
    """Raised when an idempotency key comes back with different parameters."""

    code = "idempotency_conflict"


class ReservationClosed(Conflict):
    """Raised when a reservation is no longer open for settle or cancel."""

    code = "reservation_closed"


class NothingToRefund(Conflict):
    """Raised when a refund names a transaction that cannot be refunded (further)."""

    code = "nothing_to_refund"


class RequestTooLarge(CreditbookError):
    status_code = 413
    code = "request_too_large"


class LimitReached(CreditbookError):
    status_code = 429
    code = "limit_reached"


class MonthlyLimitReached(LimitReached):
    """Raised when a charge would take the month's spend past the account's cap."""

    code = "monthly_limit_reached"

    def __init__(self) -> None:
        super().__init__("Monthly spending limit reached.")


class TooManyFailures(LimitReached):
    """Raised before authenticating a client address that failed too often lately."""

    code = "too_many_failures"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"Too many failed authentications from your address; try again in {retry_after_s} s."
        )
        self.retry_after_s = retry_after_s


class StorageError(CreditbookError):
    status_code = 503
    code = "storage_unavailable"


class SchemaNotMigrated(StorageError):
    """Raised when the database schema is not at the revision this code expects."""

    code = "schema_not_migrated"
