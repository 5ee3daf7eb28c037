"""A bound on request bodies (pure ASGI): a declared length beyond the limit is answered 413
before the body is read; a body of undeclared length (chunked) is read here up to the limit,
answered 413 past it, and otherwise handed on as it came."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditbook.errors import RequestTooLarge


def _too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(f"The request body is larger than {limit} bytes.")


class BodyLimit:
    def __init__(self, app: ASGIApp, *, bytes_max: int) -> None:
        self.app = app
        self.bytes_max = bytes_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.bytes_max:
                await _refuse(send, _too_large(self.bytes_max))
                return
            await self.app(scope, receive, send)
            return
        # No declared length (chunked): read it here, up to the limit, then hand it on.
        buffered = await _read_at_most(receive, self.bytes_max)
        if buffered is None:
            await _refuse(send, _too_large(self.bytes_max))
            return
        await self.app(scope, _replay(buffered, receive), send)


async def _read_at_most(receive: Receive, limit: int) -> list[Message] | None:
    messages: list[Message] = []
    seen = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages
        seen += len(message.get("body", b""))
        if seen > limit:
            return None
        if not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, error: RequestTooLarge) -> None:
    body = json.dumps(
        {"status": "error", "status_code": error.status_code, "detail": error.detail}
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
