"""Account endpoints, compatible with Generect's account API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from creditbook.api.auth import api_key, services_of
from creditbook.api.responses import MoneyJSONResponse, usd
from creditbook.clock import from_us
from creditbook.domain.accounts import ApiKey
from creditbook.services.accounts import Summary

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])
Caller = Annotated[ApiKey, Depends(api_key)]


def render_summary(summary: Summary) -> dict[str, Any]:
    account = summary.account
    return {
        "id": account.id,
        "email": account.email,
        "name": account.name,
        "plan": account.plan,
        "credits": {
            "balance": usd(account.balance_micros),
            "used_this_month": usd(summary.used_this_month_micros),
            "monthly_limit": usd(account.monthly_limit_micros),
            "reserved": usd(account.reserved_micros),
            "available": usd(summary.available_micros),
        },
        "preview_tier": summary.preview_tier,
        "tier": summary.tier.name,
        "status": account.status,
        "timezone": account.timezone,
        "grants": [
            {
                "id": grant.id,
                "kind": grant.kind,
                "remaining": usd(grant.remaining_micros),
                "priority": grant.priority,
                "expires_at": None
                if grant.expires_at_us is None
                else from_us(grant.expires_at_us).isoformat(),
            }
            for grant in summary.grants
            if not grant.is_overdraft
        ],
    }


@router.get("/me/", response_class=MoneyJSONResponse)
@router.get("/me", response_class=MoneyJSONResponse, include_in_schema=False)
def me(request: Request, caller: Caller) -> MoneyJSONResponse:
    summary = services_of(request).accounts.summary(account_id=caller.account_id)
    return MoneyJSONResponse({"data": render_summary(summary)})
