"""Examples for the OpenAPI document: what each endpoint answers, and its errors."""

from __future__ import annotations

from typing import Any

ERRORS: dict[int, tuple[str, Any]] = {
    400: ("Bad input, naming the field.", {"units": ["Must be between 1 and 1000000."]}),
    401: ("Missing or unknown key.", "Authentication credentials were not provided."),
    402: ("The charge does not fit.", "Insufficient funds in the account."),
    403: ("Not allowed for this key.", "You do not have permission to perform this action."),
    404: ("Nothing with that id belongs to the caller.", "Not found."),
    409: (
        "Contradicts what is recorded.",
        "This idempotency key was already used with different parameters.",
    ),
    429: ("A configured limit says no.", "Monthly spending limit reached."),
}

TRANSACTION = {
    "id": "txn_01a1f3c2-9b7e-7000-8a31-5c2d9e4f6a7b",
    "timestamp": "2026-05-15T10:30:00Z",
    "type": "search_database",
    "credits": -0.5,
    "details": {
        "balance_type": "usage",
        "status": "success",
        "balance_after": 99.5,
        "operation": "search_database",
        "units": 25,
        "unit_price": 0.02,
        "multiplier": 1,
        "reserved": 0,
        "reserved_units": 0,
        "settled_at": "2026-05-15T10:30:00Z",
        "expires_at": None,
        "api_key_id": "key_01a1f3c2-0000-7000-8000-000000000001",
        "idempotency_key": "req-7f3a",
        "request_id": "3c4d5e6f-1111-4222-8333-944455566677",
        "reverses": None,
        "grant_id": None,
        "note": None,
        "metadata": None,
    },
}

RECEIPT = {
    "data": TRANSACTION,
    "meta": {
        "amount_charged": 0.5,
        "reserved": 0,
        "balance": 99.5,
        "available": 99.5,
        "replayed": False,
        "test": False,
    },
}

ME = {
    "data": {
        "id": "a1b2c3d4-e5f6-4789-a0b1-c2d3e4f5a6b7",
        "email": "jordan.ellis@example.com",
        "name": "Jordan Ellis",
        "plan": "Pro",
        "credits": {
            "balance": 5000,
            "used_this_month": 1234,
            "monthly_limit": 10000,
            "reserved": 12.5,
            "available": 4987.5,
            "overdraft_limit": 0,
            "lifetime_spend": 20480.75,
        },
        "preview_tier": False,
        "tier": {"name": "standard", "multiplier": 1},
        "status": "active",
        "timezone": "Europe/Kyiv",
        "grants": [],
        "created_at": "2026-01-02T09:15:00Z",
    }
}

USAGE = {
    "data": {
        "period": "2026-05",
        "total_credits": 1234,
        "breakdown": {"search_database": 500, "search_realtime": 200, "email_find": 534},
        "timezone": "Europe/Kyiv",
        "start_date": "2026-05-01",
        "end_date": "2026-05-31",
        "granularity": "month",
        "total_units": 52700,
        "total_requests": 3100,
        "units": {"search_database": 25000, "search_realtime": 5000, "email_find": 22700},
        "requests": {"search_database": 1000, "search_realtime": 400, "email_find": 1700},
        "series": [],
    }
}

TRANSACTIONS = {
    "data": {
        "transactions": [TRANSACTION],
        "next_cursor": "djE6dHhuXzAxYTFmM2MyLTliN2UtNzAwMC04YTMxLTVjMmQ5ZTRmNmE3Yg",
        "limit": 100,
        "offset": 0,
    }
}

ANALYTICS = {
    "data": {
        "period": {"start": "2026-05-01T00:00:00+03:00", "end": "2026-05-31T23:59:59+03:00"},
        "total_requests": 1840,
        "total_credits": 912.5,
        "tokens": [
            {
                "token": "cb_8f14e45fce…",
                "id": "key_01a1f3c2-0000-7000-8000-000000000001",
                "name": "Acme Corp",
                "client_id": "acme-corp",
                "total_requests": 1200,
                "by_endpoint": {"/api/v1/charges/": 1200},
                "by_status": {"2xx": 1180, "4xx": 20},
                "total_credits": 600,
                "by_operation": {
                    "search_database": {"credits": 600, "units": 30000, "charges": 1180}
                },
            }
        ],
    }
}

BATCH = {
    "data": [
        {
            "index": 0,
            "status": 201,
            "transaction_id": "txn_01a1f3c2-9b7e-7000-8a31-5c2d9e4f6a7b",
            "amount_charged": 0.02,
            "balance": 99.48,
            "replayed": False,
        },
        {"index": 1, "status": 402, "detail": "Insufficient funds in the account."},
    ],
    "meta": {"succeeded": 1, "failed": 1, "amount_charged": 0.02, "test": False},
}


WEBHOOK = {
    "id": "wh_019a2b3c-4d5e-7f60-8a1b-2c3d4e5f6a7b",
    "url": "https://your-app.example/webhook",
    "events": ["balance.alert.triggered", "credits.added"],
    "secret": "whsec_...k3Zq",
    "is_active": True,
    "created_at": "2026-05-15T10:30:00Z",
    "updated_at": "2026-05-15T10:30:00Z",
    "disabled_reason": None,
    "failure_run": 0,
}

WEBHOOK_CREATED = {**WEBHOOK, "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}

QUEUED = {
    "data": {
        "delivery_id": "dlv_019a2b3c-5e6f-7a80-9b1c-2d3e4f5a6b7c",
        "status": "pending",
        "event_id": "evt_019a2b3c-5e6f-7a80-9b1c-000000000001",
    },
    "meta": {"event": "webhook.test"},
}

DELIVERIES = {
    "data": {
        "deliveries": [
            {
                "id": "dlv_019a2b3c-5e6f-7a80-9b1c-2d3e4f5a6b7c",
                "event_id": "evt_019a2b3c-5e6f-7a80-9b1c-000000000001",
                "event_type": "credits.added",
                "status": "pending",
                "attempts": 1,
                "next_attempt_at": "2026-05-15T10:30:30Z",
                "last_status_code": 503,
                "last_error": "HTTP 503: upstream unavailable",
                "created_at": "2026-05-15T10:30:00Z",
                "updated_at": "2026-05-15T10:30:01Z",
                "attempt_log": [
                    {
                        "attempt": 1,
                        "at": "2026-05-15T10:30:00Z",
                        "status_code": 503,
                        "latency_ms": 41.207,
                        "error": "HTTP 503: upstream unavailable",
                    }
                ],
            }
        ],
        "next_cursor": None,
        "limit": 100,
    }
}


def documented(status: int, example: Any, *errors: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for an endpoint: its success with an example, and its errors."""
    responses: dict[int | str, dict[str, Any]] = {
        status: {"content": {"application/json": {"example": example}}}
    }
    for code in errors:
        description, detail = ERRORS[code]
        body = {"status": "error", "status_code": code, "detail": detail}
        responses[code] = {
            "description": description,
            "content": {"application/json": {"example": body}},
        }
    return responses
