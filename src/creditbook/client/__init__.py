"""A Python client of creditbook's HTTP API, sync (`Client`) and async (`AsyncClient`).

Money is exact (`Decimal`, never a float). Metering calls always carry an idempotency key, so
their retries (after a dropped connection, a timeout, 502/503/504) charge once; reads retry
too; other errors are raised as `CreditbookAPIError` subclasses by status code. For Generect's
documented account endpoints only the documented fields are read, so the same client works
against Generect's own API. See docs/client.md."""

from creditbook.client.aio import AsyncClient
from creditbook.client.core import Retries
from creditbook.client.errors import (
    AuthenticationError,
    ConflictError,
    ConnectionFailed,
    CreditbookAPIError,
    CreditbookClientError,
    InsufficientFundsError,
    LimitReached,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ValidationError,
)
from creditbook.client.models import (
    Alert,
    ApiKey,
    BatchItem,
    BatchResult,
    ChargeResult,
    Credits,
    Delivery,
    DeliveryAttempt,
    DeliveryPage,
    Event,
    EventPage,
    Me,
    Queued,
    Receipt,
    Reservation,
    TokenAnalytics,
    TokenUsage,
    Transaction,
    TransactionPage,
    Usage,
    Webhook,
)
from creditbook.client.sync import Client

__all__ = [
    "Alert",
    "ApiKey",
    "AsyncClient",
    "AuthenticationError",
    "BatchItem",
    "BatchResult",
    "ChargeResult",
    "Client",
    "ConflictError",
    "ConnectionFailed",
    "CreditbookAPIError",
    "CreditbookClientError",
    "Credits",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryPage",
    "Event",
    "EventPage",
    "InsufficientFundsError",
    "LimitReached",
    "Me",
    "NotFoundError",
    "PermissionDeniedError",
    "Queued",
    "RateLimitedError",
    "Receipt",
    "Reservation",
    "Retries",
    "ServerError",
    "TokenAnalytics",
    "TokenUsage",
    "Transaction",
    "TransactionPage",
    "Usage",
    "ValidationError",
    "Webhook",
]
