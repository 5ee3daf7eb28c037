"""Where webhooks may go: public internet addresses only, unless the operator allows private
networks (`webhook_allow_private_networks`). Pure rules; `services.egress` applies them to
the addresses a host name resolves to, at the moment of connecting.

Refused: loopback (127.0.0.0/8, ::1), private (RFC 1918, 100.64.0.0/10, fc00::/7), link-local
(169.254.0.0/16 with the cloud metadata address, fe80::/10), unspecified (0.0.0.0, ::),
multicast, and the reserved and documentation ranges: whatever Python's `ipaddress` does not
call global. An IPv4 address written in IPv6 (`::ffff:127.0.0.1`) is judged as IPv4.
"""

from __future__ import annotations

import ipaddress
import socket

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def is_public(address: IpAddress) -> bool:
    """Whether a webhook may be sent to `address` when private networks are not allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def literal_address(host: str) -> IpAddress | None:
    """The address a URL host names by itself (no DNS): `10.0.0.1`, `::1`, and the old
    IPv4 spellings resolvers still accept (`127.1`, `2130706433`, `0x7f000001`)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def is_local_name(host: str) -> bool:
    """`localhost` and its relatives, which always resolve to loopback (RFC 6761)."""
    name = host.lower().rstrip(".")
    return name in LOCAL_NAMES or name.endswith(".localhost")


def refusal(host: str) -> str | None:
    """Why a URL host is refused when private networks are not allowed, or None."""
    if is_local_name(host):
        return f"{host} is a loopback name"
    address = literal_address(host)
    if address is not None and not is_public(address):
        return f"{address} is not a public internet address"
    return None
