"""Dashboard sessions: a signed, HttpOnly, SameSite=Strict cookie, and a CSRF token per session.

The cookie never holds a secret the browser could replay elsewhere: it carries the *id* of the
API key that signed in (never the key), its account, a random CSRF token and an expiry, signed
with HMAC-SHA256 under `CREDITBOOK_SESSION_SECRET` (a random key per process when unset). Every
request re-reads the key, so revoking it ends its sessions at once. An operator session carries
a MAC of the admin token instead of an id, so changing the token ends operator sessions.

Anonymous visitors get a session too (kind `guest`, no account): it holds the CSRF token of the
sign-in form, so that form is protected like every other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "creditbook_session"
LIFETIME_S = 12 * 3600
GUEST, CUSTOMER, OPERATOR = "guest", "customer", "operator"


@dataclass(frozen=True, slots=True)
class Session:
    kind: str
    csrf: str
    expires_s: int
    account_id: str = ""
    key_id: str = ""
    operator_mac: str = ""

    def fields(self) -> dict[str, Any]:
        return {
            "k": self.kind,
            "c": self.csrf,
            "e": self.expires_s,
            "a": self.account_id,
            "i": self.key_id,
            "o": self.operator_mac,
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Seals sessions into cookie values and opens them again, refusing forged or stale ones."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = hashlib.sha256(b"creditbook-session:" + (secret or _random())).digest()

    def _mac(self, text: str) -> str:
        return _b64(hmac.new(self._secret, text.encode(), hashlib.sha256).digest())

    def seal(self, session: Session) -> str:
        body = _b64(json.dumps(session.fields(), separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}"

    def open(self, value: str | None, now_s: int) -> Session | None:
        if not value or len(value) > 2048 or "." not in value:
            return None
        body, _, mac = value.partition(".")
        if not hmac.compare_digest(self._mac(body), mac):
            return None
        try:
            f = json.loads(_unb64(body))
            found = Session(f["k"], f["c"], int(f["e"]), f["a"], f["i"], f["o"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            return None
        return found if found.expires_s > now_s else None

    def operator_mac(self, admin_token: str) -> str:
        return self._mac("operator:" + admin_token)


def _random() -> bytes:
    return secrets.token_bytes(32)


def new_session(now_s: int, **fields: str) -> Session:
    kind = fields.pop("kind", GUEST)
    return Session(kind, secrets.token_urlsafe(24), now_s + LIFETIME_S, **fields)


def store(response: Response, request: Request, signer: Signer, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        signer.seal(session),
        max_age=LIFETIME_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def forget(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def csrf_ok(session: Session | None, given: str | None) -> bool:
    if session is None or not given:
        return False
    return hmac.compare_digest(session.csrf.encode(), given.encode())
