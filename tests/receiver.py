"""A real HTTP receiver of webhooks on loopback, whose answers a test scripts.

`Receiver()` listens on a free port of 127.0.0.1 in a thread. `script(...)` queues answers
(status, optional delay, optional headers) used one per request, in order; once they are used
up, every request gets `default` (200). Every request is kept (headers, raw body), and for
each `webhook-id` the receiver counts requests and the most that were ever in flight at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply()
        self.received: list[Received] = []
        self.per_event: Counter[str] = Counter()
        self.most_in_flight: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.received)

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._replies.pop(0) if self._replies else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                event_id = self.headers.get("webhook-id", "")
                with receiver._lock:
                    receiver._in_flight[event_id] += 1
                    receiver.most_in_flight[event_id] = max(
                        receiver.most_in_flight[event_id], receiver._in_flight[event_id]
                    )
                reply = receiver._next_reply()
                try:
                    if reply.delay_s:
                        time.sleep(reply.delay_s)
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the dispatcher gave up waiting (a timeout test)
                finally:
                    with receiver._lock:
                        receiver._in_flight[event_id] -= 1
                        receiver.per_event[event_id] += 1
                        headers = {k.lower(): v for k, v in self.headers.items()}
                        receiver.received.append(Received(self.path, headers, body))

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        return Handler
