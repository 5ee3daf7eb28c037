"""Who is calling: `Authorization: Token <key>` (or `Bearer <key>`), resolved to an API key."""

from __future__ import annotations

from fastapi import Request

from creditbook.bootstrap import Services
from creditbook.domain.accounts import ApiKey
from creditbook.errors import AuthenticationFailed

SCHEMES = ("token", "bearer")
KEY_LENGTH_MAX = 200


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def api_key(request: Request) -> ApiKey:
    header = request.headers.get("authorization")
    if not header:
        raise AuthenticationFailed("Authentication credentials were not provided.")
    scheme, _, secret = header.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() not in SCHEMES or not secret or len(secret) > KEY_LENGTH_MAX:
        raise AuthenticationFailed("Invalid token header. Use: Authorization: Token <key>.")
    return services_of(request).accounts.authenticate(secret=secret)
