"""Where webhooks may go (domain.destinations, services.egress): URLs naming loopback,
private, link-local, unspecified, multicast or reserved addresses are refused when registered,
and a host name is resolved once, at connection time, and refused when any of its addresses
is not public: the check and the connection use the same addresses, so DNS rebinding between
the two is not possible."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpcore
import pytest

from creditbook.domain.destinations import is_public, literal_address
from creditbook.domain.history import csv_text
from creditbook.domain.webhooks import check_url
from creditbook.errors import InvalidInput
from creditbook.services.egress import AddressRefused, PublicOnlyBackend, public_addresses

REFUSED_URLS = [
    "https://127.0.0.1/hook",
    "https://127.1/hook",  # the old IPv4 spellings resolvers still accept
    "https://2130706433/hook",
    "https://0x7f000001/hook",
    "https://localhost/hook",
    "https://LOCALHOST./hook",
    "https://api.localhost/hook",
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
    "https://100.64.0.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://240.0.0.1/hook",
    "https://255.255.255.255/hook",
    "https://[::1]/hook",
    "https://[::]/hook",
    "https://[fe80::1]/hook",
    "https://[fc00::1]/hook",
    "https://[fd12:3456::1]/hook",
    "https://[ff02::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:169.254.169.254]/hook",
]
PUBLIC_URLS = [
    "https://hooks.example.com/hook",
    "https://93.184.216.34/hook",
    "https://[2606:4700::1111]/hook",
    "https://[::ffff:8.8.8.8]/hook",
    "https://localhost.example.com/hook",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_urls_naming_a_non_public_address_are_refused_at_registration(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_url(url, allow_http=False)
    assert refused.value.field == "url"
    assert "public address" in refused.value.message
    assert "private networks are off" in refused.value.message


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_the_operator_setting_allows_them(url: str) -> None:
    assert check_url(url, allow_http=False, allow_private=True) == url


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_public_addresses_and_names_are_accepted(url: str) -> None:
    assert check_url(url, allow_http=False) == url


def test_names_are_not_resolved_at_registration() -> None:
    # A name is judged by its addresses when a delivery connects; only literals and the
    # loopback names are judged here.
    assert literal_address("hooks.example.com") is None
    assert literal_address("cafe.be") is None


def fixed(*addresses: str) -> Any:
    def resolver(_host: str, _port: int) -> list[Any]:
        return [ipaddress.ip_address(a) for a in addresses]

    return resolver


@pytest.mark.parametrize(
    "addresses",
    [("127.0.0.1",), ("93.184.216.34", "10.0.0.5"), ("::1",), ("169.254.169.254",)],
)
def test_a_host_is_refused_when_any_address_it_resolves_to_is_not_public(
    addresses: tuple[str, ...],
) -> None:
    with pytest.raises(AddressRefused, match="not a public internet address"):
        public_addresses("rebind.example", 443, fixed(*addresses))


def test_a_host_whose_addresses_are_all_public_is_let_through() -> None:
    found = public_addresses("hooks.example", 443, fixed("93.184.216.34", "2606:4700::1111"))
    assert [str(a) for a in found] == ["93.184.216.34", "2606:4700::1111"]
    assert all(is_public(a) for a in found)


def test_a_name_that_does_not_resolve_is_a_connection_error_that_may_be_retried() -> None:
    def failing(_host: str, _port: int) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(httpcore.ConnectError, match="Could not resolve"):
        public_addresses("nowhere.invalid", 443, failing)


def test_the_backend_connects_only_to_the_addresses_it_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connected: list[str] = []

    def connect(_self: Any, host: str, port: int, *_args: Any) -> Any:
        connected.append(f"{host}:{port}")
        return object()

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect)
    backend = PublicOnlyBackend(fixed("93.184.216.34"))
    backend.connect_tcp("hooks.example", 443)
    assert connected == ["93.184.216.34:443"]  # the checked address, not the name again
    with pytest.raises(AddressRefused):
        PublicOnlyBackend(fixed("127.0.0.1")).connect_tcp("hooks.example", 443)
    assert connected == ["93.184.216.34:443"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_csv_text_cell_that_starts_like_a_formula_is_quoted(start: str) -> None:
    assert csv_text(f"{start}1+1") == f"'{start}1+1"
    assert csv_text("plain") == "plain" and csv_text(None) == ""
