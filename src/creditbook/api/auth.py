"""Who is calling: `Authorization: Token <key>` (or `Bearer <key>`).

A customer key belongs to one account and has a scope (`read`: account endpoints only;
`full`: may also spend). The operator's admin token opens the admin API and may meter on
behalf of any account (naming it). Secrets are compared as SHA-256 digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import partial
from typing import Annotated

from anyio import to_thread
from fastapi import Depends, Request

from creditbook.api.guard import limited
from creditbook.bootstrap import Services
from creditbook.domain.accounts import TEST_KEY_PREFIX, ApiKey, Scope
from creditbook.errors import AuthenticationFailed, PermissionDenied

SCHEMES = ("token", "bearer")
SECRET_LENGTH_MAX = 200
MISSING = "Authentication credentials were not provided."
MALFORMED = "Invalid token header. Use: Authorization: Token <key>."


@dataclass(frozen=True, slots=True)
class Caller:
    key: ApiKey | None  # None for the operator
    operator: bool = False

    @property
    def account_id(self) -> str:
        assert self.key is not None
        return self.key.account_id

    @property
    def test(self) -> bool:
        return self.key is not None and self.key.is_test

    @property
    def may_spend(self) -> bool:
        return self.operator or (self.key is not None and self.key.scope == Scope.FULL)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def bearer_secret(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header or not header.strip():
        raise AuthenticationFailed(MISSING)
    scheme, _, secret = header.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() not in SCHEMES or not secret or len(secret) > SECRET_LENGTH_MAX:
        raise AuthenticationFailed(MALFORMED)
    return secret


def is_admin(services: Services, secret: str) -> bool:
    token = services.settings.admin_token
    if token is None:
        return False
    wanted = hashlib.sha256(token.get_secret_value().encode()).digest()
    return hmac.compare_digest(hashlib.sha256(secret.encode()).digest(), wanted)


@limited
async def identify(request: Request) -> Caller:
    """The caller, whichever kind; stored on the request for logs and analytics.

    Runs on the event loop: a remembered key costs no thread; any other is looked up in the
    database from a worker thread."""
    services = services_of(request)
    secret = bearer_secret(request)
    if is_admin(services, secret):
        caller = Caller(None, operator=True)
    else:
        accounts = services.accounts
        key = accounts.remembered(secret=secret)
        if key is None:
            key = await to_thread.run_sync(partial(accounts.authenticate, secret=secret))
        caller = Caller(key)
    request.state.caller = caller
    return caller


async def customer(request: Request) -> Caller:
    """A customer's key, any scope: the account endpoints."""
    caller = await identify(request)
    if caller.operator:
        raise PermissionDenied("The operator token works on /api/v1/admin/ and for metering.")
    return caller


async def operator(request: Request) -> Caller:
    services = services_of(request)
    if services.settings.admin_token is None:
        raise PermissionDenied("The admin API is off: set CREDITBOOK_ADMIN_TOKEN to enable it.")
    caller = await identify(request)
    if not caller.operator:
        raise PermissionDenied("You do not have permission to perform this action.")
    return caller


def is_test_secret(secret: str) -> bool:
    return secret.startswith(TEST_KEY_PREFIX)


CustomerCaller = Annotated[Caller, Depends(customer)]
OperatorCaller = Annotated[Caller, Depends(operator)]
AnyCaller = Annotated[Caller, Depends(identify)]
