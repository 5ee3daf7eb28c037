"""Request size limits over real HTTP: an oversized body is refused with 413 in the envelope,
whether its length is declared or it arrives chunked; the server stays up."""

from __future__ import annotations

from collections.abc import Iterator

from creditbook import limits
from tests.e2e.api import Api, assert_error


def _chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    yield b'{"charges": ["'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"]}'


def test_a_body_declared_larger_than_the_limit_is_refused_with_413(api: Api) -> None:
    who = api.customer()
    body = b"{" + b" " * (limits.request_body_bytes_max + 1) + b"}"
    response = api.client.post(
        "/api/v1/charges/batch/",
        content=body,
        headers={**who.headers, "Content-Type": "application/json"},
    )
    detail = assert_error(response, 413)
    assert str(limits.request_body_bytes_max) in detail


def test_a_chunked_body_beyond_the_limit_is_stopped_with_413(api: Api) -> None:
    who = api.customer()
    response = api.client.post(
        "/api/v1/charges/batch/",
        content=_chunks(limits.request_body_bytes_max + 1),
        headers={**who.headers, "Content-Type": "application/json"},
    )
    assert_error(response, 413)
    assert api.get(who, "/api/v1/accounts/me/").status_code == 200
