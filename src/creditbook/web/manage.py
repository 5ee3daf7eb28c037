"""Keys (list, create with the secret shown once, revoke) and alerts (list, add, remove), with
the API's own permission rules (`may_manage_keys`, `may_change_alerts`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from creditbook.api.routes.accounts import may_manage_keys
from creditbook.api.routes.alerts import may_change_alerts
from creditbook.domain.accounts import Scope
from creditbook.domain.alerts import KINDS, AlertSpec
from creditbook.errors import CreditbookError
from creditbook.web.core import CustomerVisitor, Form, Visitor, page, redirect
from creditbook.web.forms import attempt, describe, usd, whole

router = APIRouter(include_in_schema=False)


def _keys_page(request: Request, visitor: Visitor, status: int = 200, **context: Any) -> Response:
    found = visitor.services.accounts.keys(account_id=visitor.account_id)
    return page(
        request,
        "keys.html",
        status,
        nav="keys",
        keys=found,
        this_key=visitor.key.id,
        scopes=(Scope.FULL.value, Scope.READ.value),
        **context,
    )


@router.get("/keys")
def keys(request: Request, visitor: CustomerVisitor) -> Response:
    return _keys_page(request, visitor)


@router.post("/keys")
def create_key(request: Request, visitor: CustomerVisitor, form: Form) -> Response:
    test = form.get("test") == "on"

    def create() -> Response:
        may_manage_keys(visitor.caller, test)
        made = visitor.services.accounts.create_key(
            account_id=visitor.account_id,
            name=form.get("name", ""),
            client_id=form.get("client_id", ""),
            scope=form.get("scope", Scope.FULL.value),
            test=test,
        )
        return _keys_page(request, visitor, created=made)

    def failed(error: CreditbookError) -> Response:
        return _keys_page(request, visitor, error.status_code, error=describe(error), form=form)

    return attempt(create, failed)


@router.post("/keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: str, visitor: CustomerVisitor, _: Form) -> Response:
    accounts = visitor.services.accounts

    def revoke() -> Response:
        target = accounts.key(account_id=visitor.account_id, key_id=key_id)
        may_manage_keys(visitor.caller, test=target.is_test)
        accounts.revoke_key(account_id=visitor.account_id, key_id=key_id)
        return redirect("/keys", notice="key-revoked")

    def failed(error: CreditbookError) -> Response:
        return _keys_page(request, visitor, error.status_code, error=describe(error))

    return attempt(revoke, failed)


def _alerts_page(request: Request, visitor: Visitor, status: int = 200, **context: Any) -> Response:
    found = visitor.services.alerts.list(account_id=visitor.account_id)
    return page(request, "alerts.html", status, nav="alerts", alerts=found, kinds=KINDS, **context)


@router.get("/alerts")
def alerts(request: Request, visitor: CustomerVisitor) -> Response:
    return _alerts_page(request, visitor)


def alert_spec(form: dict[str, str]) -> AlertSpec:
    return AlertSpec(
        form.get("kind", ""),
        usd(form, "threshold"),
        whole(form, "percent"),
        whole(form, "window_days"),
        whole(form, "horizon_days"),
    )


@router.post("/alerts")
def add_alert(request: Request, visitor: CustomerVisitor, form: Form) -> Response:
    def add() -> Response:
        may_change_alerts(visitor.caller)
        visitor.services.alerts.add(account_id=visitor.account_id, spec=alert_spec(form))
        return redirect("/alerts", notice="alert-added")

    def failed(error: CreditbookError) -> Response:
        return _alerts_page(request, visitor, error.status_code, error=describe(error), form=form)

    return attempt(add, failed)


@router.post("/alerts/{alert_id}/remove")
def remove_alert(request: Request, alert_id: str, visitor: CustomerVisitor, _: Form) -> Response:
    def remove() -> Response:
        may_change_alerts(visitor.caller)
        visitor.services.alerts.remove(account_id=visitor.account_id, alert_id=alert_id)
        return redirect("/alerts", notice="alert-removed")

    def failed(error: CreditbookError) -> Response:
        return _alerts_page(request, visitor, error.status_code, error=describe(error))

    return attempt(remove, failed)
