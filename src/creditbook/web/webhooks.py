"""Webhook endpoints (list, add with the secret shown once, enable, disable, remove) and each
endpoint's delivery log (send a test, redeliver), through `services.webhooks` with the API's
own permission rule (`may_change_webhooks`): any key may look, only a full key may change."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from creditbook.api.auth import Caller
from creditbook.api.routes.webhooks import may_change_webhooks
from creditbook.domain.events import SUBSCRIBABLE
from creditbook.errors import CreditbookError, NotFound, PermissionDenied
from creditbook.services.webhooks import Webhooks
from creditbook.web.core import CustomerVisitor, Fields, Form, Visitor, page, redirect
from creditbook.web.forms import attempt, describe

router = APIRouter(include_in_schema=False)
LOG_PAGE_SIZE = 20
Change = Callable[[Webhooks], object]


def may_change(caller: Caller) -> bool:
    """Whether the page offers the forms that change anything (the API decides, not the page)."""
    try:
        may_change_webhooks(caller)
    except PermissionDenied:
        return False
    return True


def _list_page(request: Request, visitor: Visitor, status: int = 200, **context: Any) -> Response:
    found = visitor.services.webhooks.of_account(account_id=visitor.account_id)
    return page(
        request,
        "webhooks.html",
        status,
        nav="webhooks",
        webhooks=found,
        subscribable=SUBSCRIBABLE,
        may_change=may_change(visitor.caller),
        **context,
    )


def _log_page(
    request: Request,
    visitor: Visitor,
    webhook_id: str,
    status: int = 200,
    cursor: str | None = None,
    **context: Any,
) -> Response:
    hooks = visitor.services.webhooks
    webhook = hooks.get(account_id=visitor.account_id, webhook_id=webhook_id)
    log = hooks.deliveries(
        account_id=visitor.account_id, webhook_id=webhook_id, limit=LOG_PAGE_SIZE, cursor=cursor
    )
    return page(
        request,
        "webhook.html",
        status,
        nav="webhooks",
        webhook=webhook,
        log=log,
        first_page=cursor is None,
        may_change=may_change(visitor.caller),
        **context,
    )


def _refused(
    request: Request, visitor: Visitor, error: CreditbookError, webhook_id: str | None = None
) -> Response:
    """The page the form came from, saying why; the list when that endpoint is not there."""
    if webhook_id is not None:
        with suppress(NotFound):
            return _log_page(request, visitor, webhook_id, error.status_code, error=describe(error))
    return _list_page(request, visitor, error.status_code, error=describe(error))


def _change(
    request: Request,
    visitor: Visitor,
    change: Change,
    target: str,
    notice: str,
    *,
    webhook_id: str | None = None,
) -> Response:
    """Check the key may change webhooks, make the change, and go to `target` with a notice."""

    def run() -> Response:
        may_change_webhooks(visitor.caller)
        change(visitor.services.webhooks)
        return redirect(target, notice=notice)

    return attempt(run, lambda error: _refused(request, visitor, error, webhook_id))


@router.get("/webhooks")
def webhooks(request: Request, visitor: CustomerVisitor) -> Response:
    return _list_page(request, visitor)


def _chosen_secret(form: Fields) -> str | None:
    """None (the service makes one) when the field is left empty."""
    return form.get("secret", "").strip() or None


@router.post("/webhooks")
def add_webhook(request: Request, visitor: CustomerVisitor, form: Form) -> Response:
    chosen = form.every("events")

    def add() -> Response:
        may_change_webhooks(visitor.caller)
        saved = visitor.services.webhooks.create(
            account_id=visitor.account_id,
            url=form.get("url", "").strip(),
            events=chosen,
            secret=_chosen_secret(form),
        )
        return _list_page(request, visitor, created=saved.webhook)

    def failed(error: CreditbookError) -> Response:
        return _list_page(
            request, visitor, error.status_code, error=describe(error), form=form, chosen=chosen
        )

    return attempt(add, failed)


def _set_active(
    request: Request, visitor: Visitor, webhook_id: str, form: Fields, active: bool
) -> Response:
    """Enable or disable, then back to the page the button was on (the list or the log)."""

    def change(hooks: Webhooks) -> object:
        return hooks.update(account_id=visitor.account_id, webhook_id=webhook_id, is_active=active)

    from_log = form.get("back") == "log"
    target = f"/webhooks/{webhook_id}" if from_log else "/webhooks"
    notice = "webhook-enabled" if active else "webhook-disabled"
    log_of = webhook_id if from_log else None
    return _change(request, visitor, change, target, notice, webhook_id=log_of)


@router.post("/webhooks/{webhook_id}/enable")
def enable_webhook(
    request: Request, webhook_id: str, visitor: CustomerVisitor, form: Form
) -> Response:
    return _set_active(request, visitor, webhook_id, form, True)


@router.post("/webhooks/{webhook_id}/disable")
def disable_webhook(
    request: Request, webhook_id: str, visitor: CustomerVisitor, form: Form
) -> Response:
    return _set_active(request, visitor, webhook_id, form, False)


@router.post("/webhooks/{webhook_id}/remove")
def remove_webhook(
    request: Request, webhook_id: str, visitor: CustomerVisitor, _: Form
) -> Response:
    def change(hooks: Webhooks) -> object:
        hooks.remove(account_id=visitor.account_id, webhook_id=webhook_id)
        return None

    return _change(request, visitor, change, "/webhooks", "webhook-removed")


@router.get("/webhooks/{webhook_id}")
def delivery_log(request: Request, webhook_id: str, visitor: CustomerVisitor) -> Response:
    cursor = request.query_params.get("cursor") or None

    def show() -> Response:
        return _log_page(request, visitor, webhook_id, cursor=cursor)

    return attempt(show, lambda error: _refused(request, visitor, error, webhook_id))


@router.post("/webhooks/{webhook_id}/test")
def send_test(request: Request, webhook_id: str, visitor: CustomerVisitor, _: Form) -> Response:
    def change(hooks: Webhooks) -> object:
        return hooks.send_test(account_id=visitor.account_id, webhook_id=webhook_id)

    target = f"/webhooks/{webhook_id}"
    return _change(request, visitor, change, target, "webhook-test-sent", webhook_id=webhook_id)


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
def redeliver(
    request: Request, webhook_id: str, delivery_id: str, visitor: CustomerVisitor, _: Form
) -> Response:
    def change(hooks: Webhooks) -> object:
        return hooks.redeliver(
            account_id=visitor.account_id, webhook_id=webhook_id, delivery_id=delivery_id
        )

    target = f"/webhooks/{webhook_id}"
    return _change(request, visitor, change, target, "redelivered", webhook_id=webhook_id)
