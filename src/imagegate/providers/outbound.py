"""Outbound URL policy: which hosts and addresses the gateway may call on someone else's say-so.

Provider result and polling URLs, webhook endpoints and remote input images are URLs the gateway did
not choose. Following one blindly lets a caller (or a compromised upstream) make the gateway reach
its own network (SSRF). Two checks, used together:

- ``host_allowed``: the URL's host is on an allow-list (an exact host, or ``*.domain`` for a domain
  and its subdomains) — for URLs that must belong to one provider;
- ``check_addresses``: every address the host resolves to is public, unless it falls in a CIDR the
  operator allowed (``127.0.0.0/8`` for a local receiver, say). Resolution happens here, and the
  caller should connect to one of the returned addresses (or re-check on each redirect), so a DNS
  answer cannot change between the check and the call.

Errors::

    OutboundBlocked            the URL may not be called (scheme, host or address refused)
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class OutboundBlocked(Exception):
    """An outbound URL refused by policy; the message names the URL's host, never credentials."""


def parse_cidrs(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Operator-configured CIDRs (``"127.0.0.0/8"``, ``"::1/128"``); a bad one raises ``ValueError``."""
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def is_public(address: IPAddress) -> bool:
    """Whether an address is globally routable (not private, loopback, link-local, reserved, ...)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


def address_allowed(address: IPAddress, allow: Sequence[IPNetwork] = ()) -> bool:
    """Public, or inside one of the operator's allowed networks."""
    return is_public(address) or any(address in network for network in allow)


def host_allowed(url: str, allowed_hosts: Iterable[str]) -> bool:
    """Whether ``url``'s host is one of ``allowed_hosts`` (``*.example.com`` also matches example.com)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "":
        return False
    for pattern in allowed_hosts:
        pattern = pattern.rstrip(".").lower()
        if pattern.startswith("*."):
            domain = pattern[2:]
            if host == domain or host.endswith("." + domain):
                return True
        elif host == pattern:
            return True
    return False


def require_http_url(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL; ``OutboundBlocked`` for any other scheme or a missing host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise OutboundBlocked(f"only http and https URLs may be called, not {parts.scheme or 'none'!r}")
    if parts.hostname is None or parts.hostname == "":
        raise OutboundBlocked("the URL has no host")
    try:
        port = parts.port
    except ValueError as error:
        raise OutboundBlocked(f"the URL's port is not valid: {error}") from None
    return parts.hostname, port if port is not None else (443 if parts.scheme == "https" else 80)


async def check_addresses(url: str, allow: Sequence[IPNetwork] = ()) -> list[IPAddress]:
    """Resolve ``url``'s host and return its addresses, if every one of them is allowed.

    A host that resolves to any refused address is refused as a whole (a name with one public and
    one private answer is the classic rebinding set-up).
    """
    host, port = require_http_url(url)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise OutboundBlocked(f"the host {host!r} does not resolve ({error.strerror})") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    refused = [address for address in addresses if not address_allowed(address, allow)]
    if refused or not addresses:
        raise OutboundBlocked(
            f"the host {host!r} resolves to a private or reserved address ({refused[0] if refused else 'none'});"
            " allow its network in the configuration to call it"
        )
    return addresses
