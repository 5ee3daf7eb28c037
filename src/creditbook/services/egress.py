"""Outgoing webhook connections that only reach public addresses.

The check happens where the connection is made: the host is resolved once, every address it
resolves to must be public (`domain.destinations.is_public`), and the socket connects to one
of exactly those addresses. A name that resolves to a public address when it is registered and
to 127.0.0.1 at delivery (DNS rebinding) is therefore refused at delivery; there is no second
lookup to race. TLS still verifies the certificate against the URL's host name.

A refusal raises `AddressRefused`, which is not an httpx error: the dispatcher records the
attempt as failed for good (no retry; sending again would meet the same answer).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

from creditbook.domain.destinations import IpAddress, is_public

Resolver = Callable[[str, int], list[IpAddress]]


class AddressRefused(Exception):
    """The destination resolves to an address webhooks may not reach."""


def resolve(host: str, port: int) -> list[IpAddress]:
    """Every address `host` resolves to for TCP, in the resolver's order, once each."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    return list(dict.fromkeys(addresses))


def public_addresses(host: str, port: int, resolver: Resolver | None) -> list[IpAddress]:
    """The addresses to connect to; `AddressRefused` when any of them is not public."""
    try:
        addresses = (resolver or resolve)(host, port)
    except OSError as error:
        raise httpcore.ConnectError(f"Could not resolve {host}: {error}") from error
    refused = [str(a) for a in addresses if not is_public(a)]
    if refused:
        raise AddressRefused(
            f"Refused: {host} resolves to {', '.join(refused)}, not a public internet address "
            "(webhooks to private networks are off on this server)."
        )
    return addresses


class PublicOnlyBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend, connecting only to checked public addresses."""

    def __init__(self, resolver: Resolver | None = None) -> None:
        self._inner = httpcore.SyncBackend()
        self._resolver = resolver

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = public_addresses(host, port, self._resolver)
        last: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last = error
        raise last

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class PublicOnlyTransport(httpx.HTTPTransport):
    """An httpx transport whose every connection goes through `PublicOnlyBackend`."""

    def __init__(self, resolver: Resolver | None = None) -> None:
        super().__init__(trust_env=False)
        # httpx has no public way to choose the network backend of its own connection pool.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=PublicOnlyBackend(resolver),
        )
