"""The dashboard: server-rendered pages at `/` for customers (API key) and the operator
(admin token), on the same services as the HTTP API. `install(app, settings)` mounts it."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from creditbook.config import Settings
from creditbook.web import history, manage, operator, overview, signin, webhooks
from creditbook.web import session as sessions
from creditbook.web.core import (
    HERE,
    SECURITY_HEADERS,
    FormRefused,
    SignInRequired,
    current_session,
    page,
)


async def _sign_in_required(request: Request, _: Exception) -> Response:
    """To the sign-in page; saying the session ended when there was one (not a guest's)."""
    found = current_session(request)
    ended = sessions.COOKIE in request.cookies and (found is None or found.kind != sessions.GUEST)
    target = "/sign-in?notice=expired" if ended else "/sign-in"
    response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
    if ended:
        sessions.forget(response)
    return response


async def _form_refused(request: Request, _: Exception) -> Response:
    return page(request, "refused.html", 403)


def install(app: FastAPI, settings: Settings) -> None:
    secret = settings.session_secret
    app.state.web_signer = sessions.Signer(
        secret.get_secret_value().encode() if secret is not None else None
    )
    for module in (signin, overview, history, manage, operator, webhooks):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(FormRefused, _form_refused)
