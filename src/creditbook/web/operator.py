"""The operator's view (admin token): accounts with balances, grant credit, refund a charge,
through the ledger service as `/api/v1/admin/` does. Each form carries a fresh idempotency key,
so a form sent twice (a double click, a reload) grants or refunds once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from creditbook.api.queries import moment
from creditbook.api.routes.admin import transaction_owner
from creditbook.domain.grants import GrantKind
from creditbook.errors import CreditbookError
from creditbook.web.core import Form, OperatorSession, page, redirect
from creditbook.web.forms import attempt, describe, usd

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
Action = Callable[[Request, dict[str, str]], Response]
GRANT_KINDS = tuple(k.value for k in GrantKind if k is not GrantKind.OVERDRAFT)


def _page(request: Request, status: int = 200, **context: Any) -> Response:
    services = request.app.state.services
    after = request.query_params.get("after") or None
    found = services.accounts.page(after_id=after, limit=PAGE_SIZE)
    summaries = [services.accounts.summary(account_id=a.id) for a in found]
    return page(
        request,
        "operator.html",
        status,
        nav="operator",
        summaries=summaries,
        following=found[-1].id if len(found) == PAGE_SIZE else None,
        grant_kinds=GRANT_KINDS,
        grant_key=f"web-grant-{uuid.uuid4()}",
        refund_key=f"web-refund-{uuid.uuid4()}",
        **context,
    )


@router.get("/operator")
def operator_view(request: Request, _: OperatorSession) -> Response:
    return _page(request)


def _grant(request: Request, form: dict[str, str]) -> Response:
    expires = form.get("expires_at", "").strip()
    request.app.state.services.ledger.grant(
        account_id=form.get("account_id", "").strip(),
        amount_micros=usd(form, "amount") or 0,
        kind=form.get("kind", GrantKind.PURCHASE.value),
        expires_at_us=moment("expires_at", expires) if expires else None,
        idempotency_key=form.get("idempotency_key") or None,
        note=form.get("note", ""),
    )
    return redirect("/operator", notice="granted")


def _act(request: Request, form: dict[str, str], action: Action, error_name: str) -> Response:
    """Run a form's action; when the ledger refuses, the page again with its sentence."""

    def failed(error: CreditbookError) -> Response:
        return _page(request, error.status_code, form=form, **{error_name: describe(error)})

    return attempt(lambda: action(request, form), failed)


@router.post("/operator/grant")
def grant(request: Request, _: OperatorSession, form: Form) -> Response:
    return _act(request, form, _grant, "grant_error")


def _refund(request: Request, form: dict[str, str]) -> Response:
    services = request.app.state.services
    transaction_id = form.get("transaction_id", "").strip()
    services.ledger.refund(
        account_id=transaction_owner(services, transaction_id),
        transaction_id=transaction_id,
        amount_micros=usd(form, "amount"),
        reason=form.get("reason", ""),
        idempotency_key=form.get("idempotency_key") or None,
    )
    return redirect("/operator", notice="refunded")


@router.post("/operator/refund")
def refund(request: Request, _: OperatorSession, form: Form) -> Response:
    return _act(request, form, _refund, "refund_error")
