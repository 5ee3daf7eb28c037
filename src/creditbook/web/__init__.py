"""The dashboard: server-rendered pages at `/` for customers (API key) and the operator
(admin token), on the same services as the HTTP API. `install(app, settings)` mounts it."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from creditbook.config import Settings
from creditbook.web import history, manage, operator, overview, signin
from creditbook.web import session as sessions
from creditbook.web.core import HERE, SECURITY_HEADERS, FormRefused, SignInRequired, page


async def _sign_in_required(request: Request, _: Exception) -> Response:
    had_session = sessions.COOKIE in request.cookies
    target = "/sign-in?notice=expired" if had_session else "/sign-in"
    response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
    if had_session:
        sessions.forget(response)
    return response


async def _form_refused(request: Request, _: Exception) -> Response:
    return page(request, "refused.html", 403)


def install(app: FastAPI, settings: Settings) -> None:
    secret = settings.session_secret
    app.state.web_signer = sessions.Signer(
        secret.get_secret_value().encode() if secret is not None else None
    )
    for module in (signin, overview, history, manage, operator):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(FormRefused, _form_refused)
