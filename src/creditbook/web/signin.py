"""Signing in with an API key (or the admin token) and out again."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from creditbook.api.auth import SECRET_LENGTH_MAX, is_admin, services_of
from creditbook.api.guard import client_address, limiter_of
from creditbook.web import session as sessions
from creditbook.web.core import (
    Form,
    SignInRequired,
    authenticated,
    customer,
    now_s,
    operator,
    page,
    redirect,
    signer_of,
)
from creditbook.web.session import Session

router = APIRouter(include_in_schema=False)
WRONG_KEY = (
    "That key was not accepted: it is unknown, revoked or mistyped. Paste the whole key "
    "(it starts with cb_ or test_), or ask your operator for a new one."
)
TOO_MANY = "Too many keys were refused from your address. Try again in {seconds} s."


def _signed_in_home(request: Request) -> str | None:
    for check, home in ((customer, "/"), (operator, "/operator")):
        try:
            check(request)
        except SignInRequired:
            continue
        return home
    return None


@router.get("/sign-in")
def sign_in_form(request: Request) -> Response:
    home = _signed_in_home(request)
    return redirect(home) if home else page(request, "sign_in.html", nav="sign-in")


def _opened(request: Request, secret: str) -> tuple[Session, str] | None:
    """The session this secret opens and its home page; None when it opens none."""
    services = services_of(request)
    now = now_s(services)
    if not 0 < len(secret) <= SECRET_LENGTH_MAX:
        return None
    token = services.settings.admin_token
    if token is not None and is_admin(services, secret):
        mac = signer_of(request).operator_mac(token.get_secret_value())
        return sessions.new_session(now, kind=sessions.OPERATOR, operator_mac=mac), "/operator"
    key = authenticated(services, secret)
    if key is None:
        return None
    fields = {"account_id": key.account_id, "key_id": key.id}
    return sessions.new_session(now, kind=sessions.CUSTOMER, **fields), "/"


@router.post("/sign-in")
def sign_in(request: Request, form: Form) -> Response:
    # The API's limiter of failed authentications counts the form's wrong keys too: one count
    # per address, whichever door the guesses come through.
    limiter, address = limiter_of(request), client_address(request)
    wait_s = limiter.retry_after_s(address) if limiter else None
    if wait_s is not None:
        refused = page(
            request, "sign_in.html", 429, nav="sign-in", error=TOO_MANY.format(seconds=wait_s)
        )
        refused.headers["Retry-After"] = str(wait_s)
        return refused
    secret = form.get("key", "").strip()
    opened = _opened(request, secret)
    if opened is None:
        if limiter is not None and secret:
            limiter.failed(address)
        return page(request, "sign_in.html", 401, nav="sign-in", error=WRONG_KEY)
    fresh, home = opened
    response = redirect(home)
    sessions.store(response, request, signer_of(request), fresh)
    return response


@router.post("/sign-out")
def sign_out(_: Form) -> Response:
    response = redirect("/sign-in", notice="signed-out")
    sessions.forget(response)
    return response
