"""What every dashboard page shares: templates, money and time formatting, the visitor's session,
forms checked against CSRF, and the answers for a missing session or a refused form."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from creditbook import limits
from creditbook.api.auth import Caller, services_of
from creditbook.bootstrap import Services
from creditbook.clock import from_us
from creditbook.domain.accounts import ApiKey
from creditbook.domain.webhooks import mask_secret
from creditbook.errors import AuthenticationFailed, NotFound
from creditbook.web import session as sessions
from creditbook.web.session import Session, Signer

HERE = Path(__file__).parent
FORM_BYTES_MAX = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NOTICES = {
    "signed-out": "You are signed out.",
    "key-revoked": "The key is revoked: it no longer authenticates.",
    "alert-added": "The alert is added.",
    "alert-removed": "The alert is removed.",
    "granted": "The credit is granted.",
    "refunded": "The refund is written.",
    "webhook-enabled": "The endpoint is enabled: events are delivered to it again.",
    "webhook-disabled": "The endpoint is disabled: nothing is sent to it until it is enabled.",
    "webhook-removed": "The endpoint is removed, with its delivery log.",
    "webhook-test-sent": "A webhook.test event is queued for this endpoint; reload to see it "
    "delivered.",
    "redelivered": "The delivery is queued to be sent again now; reload to see the attempt.",
    "expired": "Your session ended (it expires after 12 hours, or its key was revoked). "
    "Sign in again.",
}


class SignInRequired(Exception):
    """No valid session for a page that needs one: answered with a redirect to sign in."""


class FormRefused(Exception):
    """A POST without the session's CSRF token: answered 403 with a page saying what to do."""


def money(micros: int) -> str:
    """Exact USD with thousands separators and 2 to 6 decimals: `-$1,234.50`, `$0.000001`."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), limits.MICROS_PER_USD)
    decimals = f"{frac:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}${whole:,}.{decimals}"


def local_time(at_us: int | None, zone: str = "UTC") -> str:
    if at_us is None:
        return "—"
    return from_us(at_us).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def milliseconds(micros: int) -> str:
    return f"{micros / 1000:,.1f} ms"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(("html", "svg")),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["local_time"] = local_time
    env.filters["ms"] = milliseconds
    env.filters["masked"] = mask_secret
    return env


TEMPLATES = _environment()


def signer_of(request: Request) -> Signer:
    signer: Signer = request.app.state.web_signer
    return signer


def now_s(services: Services) -> int:
    return services.store.clock.now_us() // 1_000_000


def current_session(request: Request) -> Session | None:
    services = services_of(request)
    cookie = request.cookies.get(sessions.COOKIE)
    return signer_of(request).open(cookie, now_s(services))


def page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """A rendered page; a visitor without a session gets a guest one (for the CSRF token)."""
    found: Session | None = getattr(request.state, "session", None) or current_session(request)
    fresh = found is None
    chosen = found or sessions.new_session(now_s(services_of(request)))
    notice = NOTICES.get(request.query_params.get("notice", ""))
    html = TEMPLATES.get_template(template).render(
        session=chosen,
        csrf=chosen.csrf,
        notice=notice,
        has_webhooks=hasattr(services_of(request), "webhooks"),
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if fresh:
        sessions.store(response, request, signer_of(request), chosen)
    return response


def redirect(path: str, **query: str) -> RedirectResponse:
    target = f"{path}?{urlencode(query)}" if query else path
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)


@dataclass(frozen=True, slots=True)
class Visitor:
    """A signed-in customer: the session, the key it signed in with, and the API's caller."""

    session: Session
    key: ApiKey
    services: Services

    @property
    def account_id(self) -> str:
        return self.key.account_id

    @property
    def caller(self) -> Caller:
        return Caller(self.key)


def customer(request: Request) -> Visitor:
    found = current_session(request)
    if found is None or found.kind != sessions.CUSTOMER:
        raise SignInRequired
    services = services_of(request)
    try:
        key = services.accounts.key(account_id=found.account_id, key_id=found.key_id)
    except NotFound:
        raise SignInRequired from None
    if not key.is_active:
        raise SignInRequired
    request.state.session = found
    return Visitor(found, key, services)


def operator(request: Request) -> Session:
    found = current_session(request)
    token = services_of(request).settings.admin_token
    if found is None or found.kind != sessions.OPERATOR or token is None:
        raise SignInRequired
    wanted = signer_of(request).operator_mac(token.get_secret_value())
    if not hmac.compare_digest(wanted, found.operator_mac):
        raise SignInRequired
    request.state.session = found
    return found


class Fields(dict[str, str]):
    """A form's fields, the last value of each name; `every(name)` gives all of a name's values
    (a group of checkboxes sends one pair per box ticked)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self._pairs = pairs

    def every(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]


async def checked_form(request: Request) -> Fields:
    """The urlencoded body of a POST, once its CSRF token matches the session's."""
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    pairs: list[tuple[str, str]] = []
    if kind == "application/x-www-form-urlencoded" and len(body) <= FORM_BYTES_MAX:
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    fields = Fields(pairs)
    if not sessions.csrf_ok(current_session(request), fields.get("csrf_token")):
        raise FormRefused
    return fields


def authenticated(services: Services, secret: str) -> ApiKey | None:
    try:
        return services.accounts.authenticate(secret=secret)
    except AuthenticationFailed:
        return None


CustomerVisitor = Annotated[Visitor, Depends(customer)]
OperatorSession = Annotated[Session, Depends(operator)]
Form = Annotated[Fields, Depends(checked_form)]
